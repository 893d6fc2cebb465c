"""The jobs API against a real `lockstep serve` process and real `lockstep worker` processes on
127.0.0.1, SQLite and PostgreSQL: submit, list, read, follow over SSE (resuming with
Last-Event-ID), gate decisions continued by a worker, cancel, isolation, limits, metrics, CORS."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lockstep.queue.store import EVENTS
from lockstep.server import create_app
from lockstep.server.jobs import STATUS_AFTER
from tests.conftest import CORPUS
from tests.servers import LiveServer, live_server, read_sse

pytestmark = pytest.mark.slow
USERS = {"ana": "submitter,approver", "bob": "submitter", "ops": "operator", "viv": "approver"}
LIMITS = """\
concurrency:
  workflows:
    steps: {limit: 3, behavior: reject}
rate_limits:
  brief_creation: {limit: 2, per: 1h, scope: user, applies_to: submit, workflow: steps}
"""


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(db_url, tmp_path, "", USERS) as live:
        yield live


def _stream(server: LiveServer, path: str, user: str, **headers: str) -> httpx.Response:
    client = httpx.Client(base_url=server.base, timeout=httpx.Timeout(60, read=60))
    request = client.build_request("GET", path, headers={**server.headers(user), **headers})
    return client.send(request, stream=True)


def test_every_event_kind_has_a_status() -> None:
    assert set(STATUS_AFTER) == set(EVENTS)


def test_submit_follow_decide_and_resume_the_stream(server: LiveServer) -> None:
    with server.http("ana") as ana:
        made = ana.post("/jobs", json={"workflow": "steps", "input": {"steps": 3, "gate": True}})
        assert made.status_code == 202, made.text
        job = made.json()
        assert job["status"] == "queued" and job["user_name"] == "ana" and job["priority"] == 50
        assert job["thread_id"] == f"job-{job['id']}" and job["input"]["steps"] == 3
        server.worker()
        response = _stream(server, f"/jobs/{job['id']}/events", "ana")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = []
        for message in read_sse(response):
            seen.append(message)
            if message["event"] == "waiting_human":  # not final: the stream stays open
                decided = ana.post(
                    f"/threads/{job['thread_id']}/decision", json={"decision": "approve"}
                )
                assert decided.status_code == 202, decided.text
                assert decided.json()["job"]["status"] == "queued"
                assert decided.json()["status"] == "review"  # the worker has not run yet
        response.close()  # the server ended it after the final event
    kinds = [m["event"] for m in seen]
    assert kinds[:2] == ["submitted", "started"] and kinds.count("checkpointed") >= 3
    assert kinds[-1] == "succeeded" and "waiting_human" in kinds and "continued" in kinds
    ids = [int(m["id"]) for m in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for m in seen:
        assert m["data"]["job_id"] == job["id"] and m["data"]["kind"] == m["event"]
        assert m["data"]["status"] == STATUS_AFTER[m["event"]] and m["data"]["at"]
    assert seen[-1]["data"]["status"] == "succeeded"
    assert seen[-1]["data"]["detail"] == {"outcome": "done"}

    # Resume after the third event: the rest is replayed, then the stream ends (job final).
    resumed = _stream(server, f"/jobs/{job['id']}/events", "ana", **{"Last-Event-ID": str(ids[2])})
    rest = list(read_sse(resumed))
    assert [int(m["id"]) for m in rest] == ids[3:]
    after = _stream(server, f"/jobs/{job['id']}/events?after={ids[-2]}", "ana")
    assert [m["event"] for m in read_sse(after)] == ["succeeded"]
    caught_up = _stream(
        server, f"/jobs/{job['id']}/events", "ana", **{"Last-Event-ID": str(ids[-1])}
    )
    assert list(read_sse(caught_up)) == []

    with server.http("ana") as ana:
        shown = ana.get(f"/jobs/{job['id']}").json()
        assert shown["status"] == "succeeded" and shown["outcome"] == "done"
        assert [e["kind"] for e in shown["events"]] == kinds
        assert ana.get(f"/threads/{job['thread_id']}").json()["status"] == "done"
        assert ana.get("/jobs/x/events", headers={"Last-Event-ID": "soon"}).status_code == 422


def test_list_filters_isolation_roles_and_cancel(server: LiveServer) -> None:
    with server.http("ana") as ana, server.http("bob") as bob, server.http("ops") as ops:
        first = ana.post("/jobs", json={"workflow": "steps", "priority": "urgent"}).json()
        second = ana.post(
            "/jobs", json={"workflow": "steps", "input": {"steps": 2}, "priority": 70}
        ).json()
        theirs = bob.post("/jobs", json={"workflow": "steps", "thread_id": "bob-1"}).json()
        assert first["priority"] == 0 and second["priority"] == 70
        assert theirs["thread_id"] == "bob-1"
        assert [j["id"] for j in ana.get("/jobs").json()] == [second["id"], first["id"]]
        assert [j["id"] for j in ana.get("/jobs", params={"limit": 1}).json()] == [second["id"]]
        assert [j["id"] for j in bob.get("/jobs").json()] == [theirs["id"]]
        everyone = [j["id"] for j in ops.get("/jobs").json()]
        assert everyone == [theirs["id"], second["id"], first["id"]]
        assert ops.get("/jobs", params={"status": "running"}).json() == []
        assert len(ops.get("/jobs", params={"workflow": "steps", "queue": "default"}).json()) == 3
        assert ops.get("/jobs", params={"workflow": "brief"}).json() == []
        bad_status = ops.get("/jobs", params={"status": "sleeping"})
        assert bad_status.status_code == 422 and "unknown job status" in bad_status.json()["detail"]

        # another user's job reads as unknown, whatever the route
        for path in (f"/jobs/{first['id']}", f"/jobs/{first['id']}/events"):
            assert bob.get(path).status_code == 404
        assert bob.post(f"/jobs/{first['id']}/cancel").status_code == 404
        assert ops.get(f"/jobs/{first['id']}").json()["user_name"] == "ana"

        # an idempotency key: a repeat returns the same job; another user's key is refused
        keyed = ana.post("/jobs", json={"workflow": "steps", "idempotency_key": "k-1"})
        again = ana.post("/jobs", json={"workflow": "steps", "idempotency_key": "k-1"})
        assert keyed.status_code == again.status_code == 202
        assert again.json()["id"] == keyed.json()["id"]
        stolen = bob.post("/jobs", json={"workflow": "steps", "idempotency_key": "k-1"})
        assert stolen.status_code == 409 and "another user's job" in stolen.json()["detail"]

        # cancel: the owner may, an operator may; the result is the job, cancelled
        cancelled = ana.post(f"/jobs/{first['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["events"][-1]["kind"] == "cancelled"
        by_ops = ops.post(f"/jobs/{theirs['id']}/cancel").json()
        assert by_ops["status"] == "cancelled" and by_ops["events"][-1]["detail"] == {"by": "ops"}
        ended = _stream(server, f"/jobs/{first['id']}/events", "ana")
        assert [m["event"] for m in read_sse(ended)] == ["submitted", "cancelled"]

    with server.http("viv") as viv:  # an approver without the submitter role
        assert viv.post("/jobs", json={"workflow": "steps"}).status_code == 403
        assert viv.get("/jobs").json() == []
    with server.http() as anonymous:
        assert anonymous.get("/jobs").status_code == 401
        assert anonymous.post("/jobs", json={"workflow": "steps"}).status_code == 401


def test_bad_submissions_are_refused_and_nothing_is_queued(server: LiveServer) -> None:
    with server.http("ana") as ana:
        cases = [
            ({"workflow": "nope"}, 422, "unknown workflow 'nope'"),
            ({"workflow": "steps", "input": {"steps": 0}}, 422, "steps must be a positive"),
            ({"workflow": "steps", "priority": "soon"}, 422, "priority"),
            ({"workflow": "steps", "priority": 101}, 422, "priority"),
            ({"workflow": "steps", "queue": "nightly"}, 422, "unknown queue 'nightly'"),
            ({"workflow": "steps", "inputs": {}}, 422, "inputs"),
            ({"workflow": "brief", "input": {"topic": "t"}}, 422, "no sources folder"),
            ({"workflow": "brief", "input": {"topic": 7, "sources": "x"}}, 422, "topic must be"),
            ({"workflow": "brief", "input": {"topic": "t", "sources": "missing"}}, 422, "missing"),
        ]
        for body, status, words in cases:
            refused = ana.post("/jobs", json=body)
            assert refused.status_code == status, (body, refused.text)
            assert words in str(refused.json()["detail"]), (body, refused.text)
        assert ana.post("/jobs", content=b"{nope").status_code == 422
        taken = ana.post("/jobs", json={"workflow": "steps", "thread_id": "t-1"})
        assert taken.status_code == 202
        again = ana.post("/jobs", json={"workflow": "steps", "thread_id": "t-1"})
        assert again.status_code == 409 and "already exists" in again.json()["detail"]
        assert len(ana.get("/jobs").json()) == 1
        assert ana.get("/jobs/nope").status_code == 404
        assert ana.post("/jobs/nope/cancel").status_code == 404
        brief = ana.post(
            "/jobs", json={"workflow": "brief", "input": {"topic": "t", "sources": str(CORPUS)}}
        )
        assert brief.status_code == 202 and brief.json()["input"]["sources"] == [str(CORPUS)]


def test_submit_limits_answer_429_and_409(db_url: str, tmp_path: Path) -> None:
    origin = "http://ui.example"
    with (
        live_server(db_url, tmp_path, LIMITS, USERS, "--cors-origin", origin) as server,
        server.http("ana") as ana,
        server.http("bob") as bob,
    ):
        for _ in range(2):
            assert ana.post("/jobs", json={"workflow": "steps"}).status_code == 202
        spent = ana.post("/jobs", json={"workflow": "steps"})
        assert spent.status_code == 429 and "brief_creation" in spent.json()["detail"]
        assert 3500 < int(spent.headers["Retry-After"]) <= 3600
        assert bob.post("/jobs", json={"workflow": "steps"}).status_code == 202
        full = bob.post("/jobs", json={"workflow": "steps"})  # 3 queued: reject
        assert full.status_code == 409 and "behavior is reject" in full.json()["detail"]
        assert len(server.http("ops").get("/jobs").json()) == 3
        # --cors-origin: a browser page from that origin may call the API
        preflight = ana.options(
            "/jobs",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        listed = ana.get("/jobs", headers={"Origin": origin})
        assert listed.headers["access-control-allow-origin"] == origin
        other = ana.get("/jobs", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_job_list_feed_follows_every_job_of_the_caller(server: LiveServer) -> None:
    with server.http("ana") as ana, server.http("bob") as bob:
        old = ana.post("/jobs", json={"workflow": "steps"}).json()
        feed = _stream(server, "/jobs/events", "ana")  # from now on
        ops_feed = _stream(server, "/jobs/events?after=0", "ops")  # everything
        mine = ana.post("/jobs", json={"workflow": "steps"}).json()
        bob.post("/jobs", json={"workflow": "steps"})
        ana.post(f"/jobs/{mine['id']}/cancel")
        got = []
        for message in read_sse(feed):
            got.append((message["data"]["job_id"], message["event"]))
            if message["event"] == "cancelled":
                break
        feed.close()
        assert got == [(mine["id"], "submitted"), (mine["id"], "cancelled")]
        kinds = []
        for message in read_sse(ops_feed):
            kinds.append(message["event"])
            if len(kinds) == 4:
                break
        ops_feed.close()
        assert kinds == ["submitted", "submitted", "submitted", "cancelled"]
        assert old["id"]  # submitted before the feed opened, so not in it


def test_metrics_read_the_database(server: LiveServer) -> None:
    with server.http("ana") as ana:
        steps = ana.post("/jobs", json={"workflow": "steps", "input": {"steps": 2}}).json()
        brief = ana.post(
            "/jobs",
            json={
                "workflow": "brief",
                "input": {"topic": "Short-term rentals", "sources": str(CORPUS)},
            },
        ).json()
        queued = ana.post("/jobs", json={"workflow": "steps", "queue": "default"}).json()
        ana.post(f"/jobs/{queued['id']}/cancel")
        assert ana.get("/metrics").status_code == 403  # operators and admins only
    server.worker()
    for job in (steps, brief):
        done = _stream(server, f"/jobs/{job['id']}/events", "ana")
        assert [m["event"] for m in read_sse(done)][-1] == "succeeded"
    with server.http("ops") as ops:
        scraped = ops.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("lockstep_queue_jobs", queue="default", status="succeeded") == 2
    assert value("lockstep_queue_jobs", queue="default", status="cancelled") == 1
    assert value("lockstep_queue_jobs", queue="default", status="queued") == 0
    assert value("lockstep_job_outcomes_total", workflow="steps", outcome="succeeded") == 1
    assert value("lockstep_job_outcomes_total", workflow="steps", outcome="cancelled") == 1
    assert value("lockstep_job_outcomes_total", workflow="brief", outcome="succeeded") == 1
    assert not [k for k in samples if k[0] == "lockstep_jobs_running"]
    assert value("lockstep_step_duration_seconds_count", workflow="steps", step="working") == 2
    inf = value(
        "lockstep_step_duration_seconds_bucket", workflow="steps", step="working", le="+Inf"
    )
    assert inf == 2
    assert value("lockstep_step_duration_seconds_count", workflow="brief", step="drafting") >= 1
    tokens_in = value("lockstep_llm_tokens_total", workflow="brief", step="drafting", kind="input")
    tokens_out = value(
        "lockstep_llm_tokens_total", workflow="brief", step="drafting", kind="output"
    )
    assert tokens_in > 0 and tokens_out > 0
    with server.http("ana") as ana:
        usage = ana.get(f"/threads/{brief['thread_id']}").json()["usage"]["drafting"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (tokens_in, tokens_out)
    assert value("lockstep_llm_calls_total", workflow="brief", step="drafting") == usage["calls"]
    assert math.isfinite(
        value("lockstep_step_duration_seconds_sum", workflow="steps", step="working")
    )


def test_cors_is_off_by_default_and_on_for_listed_origins(tmp_path: Path) -> None:
    preflight = {
        "Origin": "http://ui.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    plain = TestClient(create_app(f"sqlite:///{tmp_path / 'a.db'}"))
    refused = plain.options("/jobs", headers=preflight)
    assert refused.status_code == 405 and "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.get("/healthz", headers=preflight).headers
    allowed = TestClient(
        create_app(f"sqlite:///{tmp_path / 'b.db'}", cors_origins=["http://ui.example"])
    )
    answered = allowed.options("/jobs", headers=preflight)
    assert answered.status_code == 200
    assert answered.headers["access-control-allow-origin"] == "http://ui.example"
    assert "authorization" in answered.headers["access-control-allow-headers"].lower()
    assert allowed.get("/healthz", headers=preflight).headers["access-control-allow-origin"]
