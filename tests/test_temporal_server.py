"""The server, the triggers and the limits on the Temporal engine: a real `lockstep serve`
process, real `lockstep worker --engine temporal` processes, a Temporal dev server and
PostgreSQL, all on 127.0.0.1. `POST /jobs`, a webhook fire and a gate decision go through the
one submit seam (lockstep.triggers.engine) to Temporal; the queue's and the workflow's
concurrency limits and `timeouts.workflow_total` hold as on the built-in engine."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporal_env import FLOWS, TemporalEnv
from temporalio.api.enums.v1 import EventType

from lockstep.queue import Worker
from lockstep.temporal import DevServer
from tests.servers import LiveServer, live_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("temporal")]
USERS = {"ana": "submitter,approver", "ops": "operator"}


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(tmp_path_factory.mktemp("temporal") / "temporal.db") as server:
        yield server


def _until(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _engine_yaml(server: DevServer, prefix: str) -> str:
    return (
        f"engine: {{type: temporal, address: '{server.address}', task_queue_prefix: {prefix},"
        " heartbeat_timeout: 3s}\n"
    )


def _temporal_worker(live: LiveServer) -> subprocess.Popen[str]:
    """A `lockstep worker --engine temporal` process on the server's configuration."""
    log = live.cwd / f"tworker-{len(live.workers)}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockstep", "worker", "--engine", "temporal", "--db", live.db],
            cwd=live.cwd,
            env={**live.env, "LOCKSTEP_CONFIG": str(live.config)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    live.workers.append(proc)
    return proc


@pytest.fixture
def live(dev_server: DevServer, postgres_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    prefix = f"s{uuid.uuid4().hex[:8]}-"
    with live_server(postgres_url, tmp_path, _engine_yaml(dev_server, prefix), USERS) as server:
        yield server


def _job(live: LiveServer, job_id: str, user: str = "ana") -> dict[str, Any]:
    with live.http(user) as ana:
        got = ana.get(f"/jobs/{job_id}")
        assert got.status_code == 200, got.text
        doc: dict[str, Any] = got.json()
        return doc


def _history(live: LiveServer, postgres_url: str, thread_id: str) -> list[Any]:
    from lockstep import Lockstep
    from lockstep.queue import load_config
    from lockstep.temporal import engine_for

    if str(FLOWS) not in sys.path:
        sys.path.insert(0, str(FLOWS))
    config = load_config(live.config)
    with Lockstep(postgres_url, config=config) as client:
        engine = engine_for(client, config)

        async def fetch() -> list[Any]:
            handle = (await engine.temporal()).get_workflow_handle(thread_id)
            return list((await handle.fetch_history()).events)

        result: list[Any] = engine._sync(fetch)
        return result


def test_post_jobs_runs_on_a_temporal_worker_and_the_api_reads_it(
    live: LiveServer, postgres_url: str
) -> None:
    with live.http("ana") as ana:
        made = ana.post("/jobs", json={"workflow": "steps", "input": {"steps": 2}})
        assert made.status_code == 202, made.text
        job = made.json()
    assert job["status"] == "queued" and job["queue"].endswith("default")
    assert job["queue"] != "default"  # a task queue: lockstep's own workers never claim it
    _temporal_worker(live)
    done = _until("the job to succeed", lambda: _job(live, job["id"])["status"] == "succeeded")
    assert done
    doc = _job(live, job["id"])
    kinds = [e["kind"] for e in doc["events"]]
    assert kinds[0] == "submitted" and "started" in kinds and kinds[-1] == "succeeded"
    assert kinds.count("checkpointed") >= 2
    with live.http("ana") as ana:
        thread = ana.get(f"/threads/{job['thread_id']}").json()
    assert thread["final"] and thread["status"] == "done"
    history = _history(live, postgres_url, job["thread_id"])
    assert history[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


def test_gate_decision_over_rest_is_a_workflow_update(live: LiveServer, postgres_url: str) -> None:
    from lockstep import Lockstep

    with live.http("ana") as ana:
        job = ana.post(
            "/jobs", json={"workflow": "steps", "input": {"steps": 1, "gate": True}}
        ).json()
    _temporal_worker(live)
    _until("the gate", lambda: _job(live, job["id"])["status"] == "waiting_human")
    thread_id = job["thread_id"]
    with live.http("ana") as ana:
        gate = ana.get(f"/threads/{thread_id}").json()["gate"]
        refused = ana.post(f"/threads/{thread_id}/decision", json={"decision": "maybe"})
        assert 400 <= refused.status_code < 500, refused.text
        with Lockstep(postgres_url) as client:
            answers = client.db.query(
                "SELECT * FROM lockstep_gate_answers WHERE thread_id = ?", (thread_id,)
            )
        assert answers == []  # refused: nothing recorded
        decision = gate["decisions"][0]
        sent = ana.post(f"/threads/{thread_id}/decision", json={"decision": decision})
        assert sent.status_code == 202, sent.text
        assert sent.json()["job"]["id"] == job["id"]
    _until("the job to succeed", lambda: _job(live, job["id"])["status"] == "succeeded")
    with live.http("ana") as ana:
        assert ana.get(f"/threads/{thread_id}").json()["final"]
    kinds = [e.event_type for e in _history(live, postgres_url, thread_id)]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in kinds
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED in kinds


def test_cancel_over_rest_cancels_the_workflow_and_ends_the_job(
    live: LiveServer, postgres_url: str
) -> None:
    with live.http("ana") as ana:
        job = ana.post(
            "/jobs", json={"workflow": "steps", "input": {"steps": 200, "seconds": 0.2}}
        ).json()
    _temporal_worker(live)
    _until("a step", lambda: _job(live, job["id"])["status"] == "running")
    with live.http("ana") as ana:
        asked = ana.post(f"/jobs/{job['id']}/cancel")
        assert asked.status_code == 200, asked.text
    ended = _until("the cancel", lambda: _job(live, job["id"])["status"] == "cancelled")
    assert ended
    # the row ends in the partial-save activity, just before the workflow closes: wait for it
    cancelled = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED
    _until(
        "the workflow to end cancelled",
        lambda: _history(live, postgres_url, job["thread_id"])[-1].event_type == cancelled,
    )
    with live.http("ana") as ana:
        thread = ana.get(f"/threads/{job['thread_id']}").json()
    assert not thread["final"]  # stopped between steps, resumable


# -- limits ------------------------------------------------------------------------------------


@pytest.fixture
def tenv(dev_server: DevServer, postgres_url: str, tmp_path: Path) -> Iterator[TemporalEnv]:
    env = TemporalEnv(
        dev_server.address,
        postgres_url,
        tmp_path,
        "timeouts: {workflow_total: 2s}\n",
    )
    try:
        yield env
    finally:
        env.stop_all()


@pytest.mark.parametrize(
    "limit",
    [
        "queue_system: {queues: {default: {concurrency_limit: 1}}}\n",
        "concurrency: {workflows: {tflow: {limit: 1}}}\n",
    ],
    ids=["queue-concurrency_limit", "workflow-limit"],
)
def test_concurrency_limits_hold_across_two_temporal_workers(
    dev_server: DevServer, postgres_url: str, tmp_path: Path, limit: str
) -> None:
    """Two jobs, two worker processes, a limit of one: the recorded step spans never overlap,
    and both jobs end succeeded on their rows."""
    tenv = TemporalEnv(dev_server.address, postgres_url, tmp_path, limit)
    try:
        spans = tenv.tmp / "spans"
        flow = {"steps": 3, "seconds": 1.0, "spans": str(spans)}
        tenv.worker()
        tenv.worker()
        a = tenv.engine.submit("tflow", flow)
        b = tenv.engine.submit("tflow", flow)
        assert tenv.outcome(a.thread_id, 180) == "completed"
        assert tenv.outcome(b.thread_id, 180) == "completed"
        rows = [line.split() for line in spans.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == 12 and {r[0] for r in rows} == {a.thread_id, b.thread_id}
        running: set[str] = set()
        for thread, kind, _ in sorted(rows, key=lambda r: float(r[2])):
            if kind == "start":
                assert not running, f"{thread} started while {running} ran a step"
                running.add(thread)
            else:
                running.discard(thread)
        for job in (a, b):
            assert tenv.client.queue.get(str(job.job_id)).status == "succeeded"
    finally:
        tenv.stop_all()


TOTAL = re.compile(r"^the workflow ran \d+\.\d+s, over its 2s limit; saved incomplete: draft@\d+$")


def test_workflow_total_ends_a_temporal_job_as_the_builtin_engine_does(tenv: TemporalEnv) -> None:
    flow = {"steps": 20, "seconds": 0.3}
    on_temporal = tenv.engine.submit("tflow", flow)
    tenv.worker()
    assert tenv.outcome(on_temporal.thread_id, 180) == "failed"
    temporal_job = tenv.client.queue.get(str(on_temporal.job_id))
    builtin_job = tenv.client.queue.submit("tflow", flow)
    Worker(tenv.url, config=tenv.config).run(install_signals=False, idle_exit=1.0)
    builtin_job = tenv.client.queue.get(builtin_job.id)
    assert builtin_job.status == temporal_job.status == "timed_out"
    assert TOTAL.match(str(builtin_job.error)), builtin_job.error
    assert TOTAL.match(str(temporal_job.error)), temporal_job.error
    for job in (builtin_job, temporal_job):
        status = tenv.client.status(job.thread_id)
        assert not status.final and status.status == "working"


# -- triggers ----------------------------------------------------------------------------------

SECRET = "temporal-hook-secret"
HOOKS = """\
triggers:
  work:
    type: webhook
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
    action: {workflow: steps, input_mapping: {steps: "{{ event.steps }}", gate: true}}
  review:
    type: human_approval
    workflow: steps
    waiting_for: review
    on_approve: approve
    on_reject: reject
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
"""


def test_signed_webhook_starts_a_workflow_and_an_approval_webhook_signals_it(
    dev_server: DevServer, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import httpx

    from lockstep.triggers.signing import signature_headers

    monkeypatch.setenv("LOCKSTEP_TEST_HOOK_SECRET", SECRET)
    prefix = f"w{uuid.uuid4().hex[:8]}-"
    config = _engine_yaml(dev_server, prefix) + HOOKS

    def post(base: str, hook: str, payload: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(payload).encode()
        headers = signature_headers(SECRET, raw, int(time.time()), uuid.uuid4().hex)
        return httpx.post(f"{base}/hooks/{hook}", content=raw, headers=headers, timeout=60)

    with live_server(postgres_url, tmp_path, config, USERS, "--no-scheduler") as live:
        fired = post(live.base, "work", {"steps": 1})
        assert fired.status_code == 202, fired.text
        job_id = fired.json()["job_id"]
        job = _job(live, job_id, "ops")  # the trigger's job: an operator sees it
        assert job["queue"] == f"{prefix}default" and job["user_name"] == "trigger:work"
        kinds = [e.event_type for e in _history(live, postgres_url, job["thread_id"])]
        assert kinds[0] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        _temporal_worker(live)
        _until("the gate", lambda: _job(live, job_id, "ops")["status"] == "waiting_human")
        thread_id = job["thread_id"]
        wrong = post(live.base, "review", {"thread_id": thread_id, "decision": "maybe", "by": "a"})
        assert wrong.status_code == 409, wrong.text
        ok = post(live.base, "review", {"thread_id": thread_id, "decision": "approve", "by": "a"})
        assert ok.status_code == 202, ok.text
        assert ok.json()["job_id"] == job_id
        _until("the approval", lambda: _job(live, job_id, "ops")["status"] == "succeeded")
        from lockstep import Lockstep

        with Lockstep(postgres_url) as client:  # the thread is the trigger's: read it directly
            assert client.status(thread_id).status == "done"
            audit = client.audit(thread_id)
        assert [a["actor"] for a in audit if a["kind"] == "decision"] == ["a"]
        kinds = [e.event_type for e in _history(live, postgres_url, thread_id)]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in kinds
