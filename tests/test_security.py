"""Issue 14, probed as an attacker with a valid key would, against a real `lockstep serve` on
127.0.0.1: nobody reads what is not theirs (through any input), IDs have one syntax, hostile
bodies get a 4xx (never a 5xx, never an echo), the OpenAPI document tells every status, and
the defaults are safe (source roots and limits, quiet health checks, security headers, no
server paths in responses)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lockstep.client import Lockstep
from lockstep.errors import RequestError, SourcesError
from lockstep.ids import ID_MAX, check_artifact_spec, check_id, confined
from lockstep.server import create_app
from lockstep.triggers.signing import signature_headers
from tests.conftest import CORPUS, ROOT
from tests.servers import LiveServer, live_server

pytestmark = pytest.mark.slow
USERS = {"ana": "submitter,approver", "bob": "submitter", "ops": "operator", "adm": "admin"}
SECRET = "hook-secret-for-tests"
CONFIG = """\
triggers:
  digest_for_ana:
    type: webhook
    secret_env: LOCKSTEP_SECURITY_HOOK_SECRET
    action:
      workflow: brief_digest
      user: ana
      input_mapping: {brief: "{{ event.brief }}"}
"""
BAD_IDS = ["../x", "/etc/passwd", "a/b", "a\nb", "x" * 10_000, "[/]", "..", "a..b", "-x", ""]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("security")
    os.environ["LOCKSTEP_SECURITY_HOOK_SECRET"] = SECRET
    try:
        with live_server(f"sqlite:///{tmp / 'sec.db'}", tmp, CONFIG, USERS) as live:
            yield live
    finally:
        os.environ.pop("LOCKSTEP_SECURITY_HOOK_SECRET", None)


def _artifact(server: LiveServer, thread: str, owner: str, text: str) -> dict[str, Any]:
    """A `final` artifact of a thread `owner` created (as a finished brief would leave)."""
    with Lockstep(server.db) as client:
        client.db.register_thread(thread, "brief", "2026-01-01T00:00:00+00:00", {}, owner)
        ref = client.artifacts.put(thread, "final", text, step="drafting", created_by=owner)
    return dict(ref)


@pytest.fixture(scope="module")
def refs(server: LiveServer) -> dict[str, dict[str, Any]]:
    return {
        "ana": _artifact(server, "ana-brief-1", "ana", "Ana's confidential brief."),
        "bob": _artifact(server, "bob-brief-1", "bob", "Bob's brief."),
    }


def _unknown_ref() -> dict[str, Any]:
    return {"id": "final-0123456789ab", "version": 1, "sha256": "0" * 64}


def _same_refusal(refused: httpx.Response, unknown: httpx.Response, ref: dict[str, Any]) -> None:
    """Another user's artifact is refused exactly as one that does not exist."""
    assert refused.status_code == unknown.status_code == 404, (refused.text, unknown.text)
    a, b = refused.json(), unknown.json()
    assert set(a) == set(b) == {"detail", "error"} and a["error"] == b["error"]
    assert a["detail"] == f"unknown artifact {ref['id']}@{ref['version']}"
    assert b["detail"] == f"unknown artifact {_unknown_ref()['id']}@1"
    assert "ana-brief-1" not in refused.text


# -- 1. ownership of references in every input ----------------------------------------------


def test_another_users_artifact_ref_is_refused_in_rest_jobs_and_langserve(
    server: LiveServer, refs: dict[str, dict[str, Any]]
) -> None:
    ana_ref = refs["ana"]
    with server.http("bob") as bob:
        rest = [
            bob.post("/threads", json={"workflow": "brief_digest", "inputs": {"brief": ref}})
            for ref in (ana_ref, _unknown_ref())
        ]
        _same_refusal(*rest, ana_ref)
        jobs = [
            bob.post("/jobs", json={"workflow": "brief_digest", "input": {"brief": ref}})
            for ref in (ana_ref, _unknown_ref())
        ]
        _same_refusal(*jobs, ana_ref)
        for route in ("invoke", "stream", "batch"):
            bodies = [
                {"inputs": [{"inputs": {"brief": ref}}]}
                if route == "batch"
                else {"input": {"inputs": {"brief": ref}}}
                for ref in (ana_ref, _unknown_ref())
            ]
            served = [bob.post(f"/langserve/brief_digest/{route}", json=b) for b in bodies]
            _same_refusal(*served, ana_ref)
        # nested anywhere in the input, a ref is still a ref
        nested = {"workflow": "brief_digest", "input": {"brief": ana_ref, "x": [{"y": ana_ref}]}}
        assert bob.post("/jobs", json=nested).status_code == 404
        assert bob.get("/jobs").json() == []  # nothing was queued
    with server.http("ana") as ana:
        own = ana.post("/jobs", json={"workflow": "brief_digest", "input": {"brief": ana_ref}})
        assert own.status_code == 202, own.text


def test_a_direct_read_of_another_users_artifact_is_indistinguishable_from_unknown(
    server: LiveServer, refs: dict[str, dict[str, Any]]
) -> None:
    ana_id = refs["ana"]["id"]
    with server.http("bob") as bob:
        for suffix in ("", "@1"):
            theirs = bob.get(f"/artifacts/{ana_id}{suffix}")
            unknown = bob.get(f"/artifacts/final-0123456789ab{suffix}")
            assert theirs.status_code == unknown.status_code == 404
            assert theirs.json() == {
                "detail": f"unknown artifact {ana_id}{suffix}",
                "error": "ArtifactError",
            }
            assert unknown.json()["error"] == "ArtifactError"
            assert "ana-brief-1" not in theirs.text
        bobs = refs["bob"]["id"]
        diff = bob.get(f"/artifacts/{bobs}@1", params={"diff": f"{ana_id}@1"})
        assert diff.status_code == 404 and "ana-brief-1" not in diff.text
    with server.http("ana") as ana:
        assert ana.get(f"/artifacts/{ana_id}").json()["content"] == "Ana's confidential brief."


def test_operators_see_other_users_jobs_with_artifact_refs_redacted(
    server: LiveServer, refs: dict[str, dict[str, Any]]
) -> None:
    with server.http("ana") as ana:
        job = ana.post(
            "/jobs",
            json={"workflow": "brief_digest", "input": {"brief": refs["ana"], "topic": "t"}},
        ).json()
        assert ana.get(f"/jobs/{job['id']}").json()["input"]["brief"] == refs["ana"]
    with server.http("ops") as ops:
        seen = ops.get(f"/jobs/{job['id']}").json()
        assert seen["input"] == {"brief": {"redacted": "artifact"}, "topic": "t"}
        listed = [j for j in ops.get("/jobs").json() if j["id"] == job["id"]]
        assert listed[0]["input"]["brief"] == {"redacted": "artifact"}
        assert refs["ana"]["sha256"] not in ops.get("/jobs").text
    with server.http("adm") as adm:
        assert adm.get(f"/jobs/{job['id']}").json()["input"]["brief"] == refs["ana"]


def _hook(server: LiveServer, payload: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        **signature_headers(SECRET, body, int(time.time())),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{server.base}/hooks/digest_for_ana", content=body, headers=headers)


def test_webhook_inputs_are_read_with_the_triggers_user(
    server: LiveServer, refs: dict[str, dict[str, Any]]
) -> None:
    refused = _hook(server, {"brief": refs["bob"], "n": 1})
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == f"unknown artifact {refs['bob']['id']}@1"
    allowed = _hook(server, {"brief": refs["ana"], "n": 2})
    assert allowed.status_code == 202, allowed.text


def test_a_chain_does_not_pass_on_an_artifact_its_user_may_not_read(tmp_path: Path) -> None:
    from lockstep.queue.trigger_config import Action
    from lockstep.triggers.chains import _foreign_ref

    with Lockstep(f"sqlite:///{tmp_path / 'chain.db'}") as client:
        client.db.register_thread("ana-t", "brief", "2026-01-01T00:00:00+00:00", {}, "ana")
        ref = dict(client.artifacts.put("ana-t", "final", "secret", step="drafting"))
        bobs = client.queue.submit("brief_digest", {"brief": ref}, user="bob")
        anas = client.queue.submit("brief_digest", {"brief": ref}, user="ana")
        action = Action(workflow="brief_digest", input_mapping={"brief": "{{ previous.x }}"})
        context = {"previous": {"x": ref}}
        why = _foreign_ref(client.queue, bobs, "next", action, context)
        assert why is not None and f"unknown artifact {ref['id']}@1" in why
        assert _foreign_ref(client.queue, anas, "next", action, context) is None


# -- 2. one ID syntax --------------------------------------------------------------------------


def test_the_id_syntax() -> None:
    for good in ("a", "job-0123abcd", "brief.2026-01-01_x", "A" * ID_MAX):
        assert check_id(good) == good
    for bad in [*BAD_IDS, "A" * (ID_MAX + 1), "a b", "a\\b", "é"]:
        with pytest.raises(RequestError) as caught:
            check_id(bad)
        message = str(caught.value)
        assert "\n" not in message and len(message) < 300
    for spec in ("x@0", "x@01", f"x@{2**31}", f"x@{2**63}", "x@", "x@-1", "../x@1"):
        with pytest.raises(RequestError):
            check_artifact_spec(spec)
    assert check_artifact_spec(f"x@{2**31 - 1}") == f"x@{2**31 - 1}"


def test_paths_are_never_built_from_ids_without_confinement(tmp_path: Path) -> None:
    assert confined(tmp_path, "t1") == (tmp_path / "t1").resolve()
    for bad in ("../x", "..", "/etc", "a/../../b"):
        with pytest.raises(RequestError):
            confined(tmp_path, bad)


def test_bad_ids_are_refused_with_a_clear_422_everywhere(server: LiveServer) -> None:
    with server.http("ana") as ana:
        for bad in BAD_IDS:
            start = {"workflow": "brief", "inputs": {"topic": "t"}, "thread_id": bad}
            for response in (
                ana.post("/threads", json=start),
                ana.post("/jobs", json={"workflow": "brief_digest", "thread_id": bad}),
                ana.post(
                    "/langserve/brief/invoke",
                    json={
                        "input": {"topic": "t", "sources": [str(CORPUS)]},
                        "config": {"configurable": {"thread_id": bad}},
                    },
                ),
            ):
                if bad == "":  # an empty thread_id means "make one"; not an ID to refuse
                    continue
                assert response.status_code == 422, (bad, response.text)
                body = response.json()
                assert isinstance(body["detail"], str) and "\n" not in body["detail"]
                assert len(response.text) < 3000  # a 10 KB ID is not echoed back
        for path in ("/threads/a..b", "/threads/-x", "/jobs/%5Bx%5D", "/artifacts/..x@1"):
            refused = ana.get(path)
            assert refused.status_code == 422, (path, refused.text)
        for slashed in ("/threads/a%2Fb", "/jobs/%5B%2F%5D"):  # no route holds a "/" ID
            assert ana.get(slashed).status_code == 404
        assert ana.get(f"/artifacts/x@{2**63}").status_code == 422
        assert ana.get(f"/artifacts/x@{2**31}").status_code == 422


def test_the_cli_refuses_a_bad_thread_id_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lockstep",
            "run",
            "brief",
            "--topic",
            "t",
            "--sources",
            str(CORPUS),
            "--thread-id",
            "../../escape",
            "--db",
            f"sqlite:///{tmp_path / 'cli.db'}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "invalid thread ID '../../escape'" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_show_open_never_unpacks_outside_the_preview_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import zipfile

    from lockstep.cli import app

    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'show.db'}"
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.html", "<p>hi</p>")
    with Lockstep(db) as client:  # a thread written before IDs were checked
        for thread in ("../../outside", "fine-1"):
            client.db.register_thread(thread, "training", "2026-01-01T00:00:00+00:00", {})
            client.artifacts.put(
                thread, "package", package.getvalue(), step="packaging", format="zip"
            )
    runner = CliRunner()
    bad = runner.invoke(
        app, ["show", "../../outside", "--artifact", "package", "--open", "--db", db]
    )
    assert bad.exit_code == 1 and "invalid thread ID" in bad.output, bad.output
    assert not (tmp_path.parent / "outside").exists()
    assert not (tmp_path / ".lockstep" / "outside").exists()
    good = runner.invoke(app, ["show", "fine-1", "--artifact", "package", "--open", "--db", db])
    assert good.exit_code == 0, good.output
    preview = tmp_path / ".lockstep" / "preview" / "fine-1"
    assert (preview / "lms.html").is_file() and (preview / "course" / "index.html").is_file()


# -- 4. hostile bodies ---------------------------------------------------------------------------


def _post(http: httpx.Client, path: str, body: bytes, **headers: str) -> httpx.Response:
    return http.post(path, content=body, headers={"Content-Type": "application/json", **headers})


def test_deeply_nested_json_is_refused_before_it_is_parsed(server: LiveServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = b'{"workflow": "steps", "input": {"a": ' + b"[" * 65 + b"]" * 65 + b"}}"
    with server.http("adm") as adm:
        for path in ("/threads", "/jobs", "/langserve/brief/invoke", "/threads/x/decision"):
            for body in (deep, nested):
                refused = _post(adm, path, body)
                assert refused.status_code == 422, (path, refused.text)
                assert "nests deeper than 64" in refused.json()["detail"]
        shallow = b'{"workflow": "steps", "input": {"a": ' + b"[" * 60 + b"]" * 60 + b"}}"
        within = _post(adm, "/jobs", shallow)  # 62 levels: parsed, then judged by the workflow
        assert within.status_code == 422 and "nests deeper" not in within.text, within.text
    signed = {
        **signature_headers(SECRET, deep, int(time.time())),
        "Content-Type": "application/json",
    }
    hook = httpx.post(f"{server.base}/hooks/digest_for_ana", content=deep, headers=signed)
    assert hook.status_code == 422 and "nests deeper" in hook.text


def test_nan_infinity_and_huge_numbers_are_refused_without_echo(server: LiveServer) -> None:
    marker = "echo-marker-7f3a"
    cases = [
        b'{"workflow": "steps", "input": {"steps": NaN, "m": "%s"}}',
        b'{"workflow": "steps", "input": {"steps": Infinity, "m": "%s"}}',
        b'{"workflow": "steps", "input": {"steps": -Infinity, "m": "%s"}}',
        b'{"workflow": "steps", "input": {"steps": 1e999, "m": "%s"}}',
        b'{"workflow": "steps", "input": {"steps": 1000000000000000000000000000000, "m": "%s"}}',
        b'{"workflow": "steps", "priority": 9223372036854775808, "m": "%s"}',
    ]
    with server.http("adm") as adm:
        for template in cases:
            body = template.replace(b"%s", marker.encode())
            for path in ("/jobs", "/threads", "/langserve/brief/invoke"):
                refused = _post(adm, path, body)
                assert refused.status_code == 422, (path, body, refused.text)
                assert marker not in refused.text and "NaN" not in refused.json()["error"]
        # pydantic's own refusals do not echo the input either
        invalid = adm.post("/jobs", json={"workflow": "steps", "priority": f"{marker}"})
        assert invalid.status_code == 422 and marker not in invalid.text


def test_numeric_parameters_are_bounded(server: LiveServer) -> None:
    with server.http("adm") as adm:
        for after in (10**30, 2**63, -1):
            for path in ("/jobs/events", "/jobs/some-job/events"):
                refused = adm.get(path, params={"after": after})
                assert refused.status_code == 422, (path, after, refused.text)
        refused = adm.get("/jobs/some-job/events", headers={"Last-Event-ID": str(10**30)})
        assert refused.status_code == 422
        assert adm.get("/jobs", params={"limit": 10**30}).status_code == 422


def test_bodies_over_1mb_get_413_with_or_without_content_length(server: LiveServer) -> None:
    big = b'{"workflow": "steps", "input": {"pad": "' + b"x" * 1_100_000 + b'"}}'

    def chunked(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 64_000):
            yield data[start : start + 64_000]

    with server.http("adm") as adm:
        for path in ("/jobs", "/threads", "/langserve/brief/invoke", "/hooks/digest_for_ana"):
            sized = _post(adm, path, big)
            streamed = adm.post(
                path, content=chunked(big), headers={"Content-Type": "application/json"}
            )
            for response in (sized, streamed):
                assert response.status_code == 413, (path, response.text[:200])
                assert response.json()["detail"] == "the request body is over 1 MB"
        small = adm.post(
            "/jobs",
            content=chunked(b'{"workflow": "steps"}'),
            headers={"Content-Type": "application/json"},
        )
        assert small.status_code == 202, small.text


def test_lockstep_errors_have_one_body_and_openapi_lists_every_status(
    server: LiveServer,
) -> None:
    with server.http("adm") as adm:
        doc = adm.get("/openapi.json").json()
        samples = [
            adm.post("/jobs", json={"workflow": "nope"}),
            adm.post("/jobs", json={"workflow": "steps", "priority": 101}),
            adm.get("/jobs/x/events", headers={"Last-Event-ID": "soon"}),
            adm.get("/threads/unknown-thread"),
        ]
    for response in samples:
        body = response.json()
        assert isinstance(body["detail"], str) and isinstance(body["error"], str), body
        assert set(body) <= {"detail", "error", "errors"}
    assert httpx.get(f"{server.base}/threads").json()["error"] == "Unauthorized"
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "Error" in schemas
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = op["responses"]
            for code in ("404", "413", "422"):
                assert codes[code]["content"]["application/json"]["schema"] == error_ref
            if path not in ("/healthz", "/readyz", "/ui/config", "/hooks/{name}"):
                assert {"401", "403"} <= set(codes), (path, method)
            if method == "post":
                assert {"409", "429"} <= set(codes), (path, method)


# -- 5. safe defaults ---------------------------------------------------------------------------


def test_sources_are_read_only_under_the_default_roots(server: LiveServer) -> None:
    outside = server.cwd / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    inside = server.cwd / "sources" / "mine"
    inside.mkdir(parents=True, exist_ok=True)
    (inside / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    with server.http("ana") as ana:
        for folder in ("/etc", str(outside), str(inside / ".." / ".." / "elsewhere")):
            refused = ana.post(
                "/jobs", json={"workflow": "brief", "input": {"topic": "t", "sources": folder}}
            )
            assert refused.status_code == 422, (folder, refused.text)
            assert "outside the allowed roots" in refused.text
            shown = refused.json()["detail"].replace(folder, "")
            assert str(ROOT) not in shown and str(server.cwd) not in shown
        for folder in (str(CORPUS), str(inside)):
            ok = ana.post(
                "/jobs", json={"workflow": "brief", "input": {"topic": "t", "sources": folder}}
            )
            assert ok.status_code == 202, (folder, ok.text)


def _sparse(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no disk space (its size is all a submit looks at)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)


def test_sources_over_the_size_limits_are_refused_at_submit_by_stat(server: LiveServer) -> None:
    one = server.cwd / "sources" / "one-big"
    _sparse(one / "big.md", 50_000_000)
    (one / "ok.md").write_text("# ok\n\ntext\n", encoding="utf-8")
    many = server.cwd / "sources" / "many"
    for i in range(11):
        _sparse(many / f"part-{i}.md", 9_500_000)
    with server.http("ana") as ana:
        started = time.monotonic()
        big = ana.post(
            "/jobs", json={"workflow": "brief", "input": {"topic": "t", "sources": str(one)}}
        )
        assert big.status_code == 422, big.text
        assert "big.md" in big.text and "over the 10.0 MB per-file limit" in big.text
        assert time.monotonic() - started < 10  # refused by its size, not read
        total = ana.post(
            "/jobs", json={"workflow": "brief", "input": {"topic": "t", "sources": str(many)}}
        )
        assert total.status_code == 422 and "per-folder limit" in total.text, total.text


def test_submit_checks_sources_without_reading_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from lockstep.graphs import brief

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a submit read a source document")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    payload = brief.check_inputs({"topic": "t", "sources": [str(CORPUS)]})
    assert payload["sources"] == [str(CORPUS)]
    monkeypatch.undo()
    with pytest.raises(SourcesError, match="holds no readable"):
        brief.check_inputs({"topic": "t", "sources": [str(ROOT / "lockstep" / "migrations")]})


def test_health_checks_reveal_nothing_without_an_operator_key(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert httpx.get(f"{server.base}/healthz").json() == {"ok": True}
    assert httpx.get(f"{server.base}/readyz").json() == {"ok": True}
    from lockstep.db import Database
    from lockstep.server.auth import create_key

    db = f"sqlite:///{tmp_path / 'ready.db'}"
    database = Database(db)
    key = create_key(database, "ops", ["operator"])[1]
    plain = create_key(database, "bob", ["submitter"])[1]
    database.close()
    real_query = Database.query

    def failing(self: Database, sql: str, params: Any = ()) -> Any:
        if sql == "SELECT 1 AS one":
            raise RuntimeError('could not connect to "db.internal.example" port 5432 "secrets"')
        return real_query(self, sql, params)

    monkeypatch.setattr(Database, "query", failing)
    with TestClient(create_app(db)) as app:
        for headers in ({}, {"Authorization": f"Bearer {plain}"}, {"Authorization": "Bearer x"}):
            quiet = app.get("/readyz", headers=headers)
            assert quiet.status_code == 503 and quiet.json() == {"ok": False}
        told = app.get("/readyz", headers={"Authorization": f"Bearer {key}"})
        assert told.status_code == 503 and "db.internal.example" in told.json()["detail"]


def test_security_headers_on_every_page(server: LiveServer) -> None:
    with server.http() as anon:
        for path in ("/", "/ui/static/app.js", "/threads", "/nope", "/healthz", "/docs"):
            response = anon.get(path)
            headers = response.headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["referrer-policy"] == "no-referrer", path
        assert "script-src 'self';" in anon.get("/").headers["content-security-policy"]


def test_artifact_json_carries_no_server_paths(
    server: LiveServer, refs: dict[str, dict[str, Any]]
) -> None:
    with server.http("ana") as ana:
        one = ana.get(f"/artifacts/{refs['ana']['id']}")
        listed = ana.get("/threads/ana-brief-1/artifacts")
    for response in (one, listed):
        assert response.status_code == 200
        assert "location" not in response.text and str(server.cwd) not in response.text


def test_a_sources_name_with_a_nul_byte_is_refused_not_a_500(tmp_path: Path) -> None:
    """schemathesis found it: a NUL in a folder name made `Path.stat` raise ValueError."""
    from lockstep.errors import SourcesError
    from lockstep.research.corpus import load_corpus
    from lockstep.source_limits import check_sources

    for check in (check_sources, load_corpus):
        with pytest.raises(SourcesError, match="NUL byte"):
            check(f"{tmp_path}/a\x00b")
