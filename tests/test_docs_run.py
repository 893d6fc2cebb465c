"""The README's examples run as written: every `curl` of the endpoint table against a live
`lockstep serve` (placeholders such as `$KEY`, `t-42`, a job or artifact ID filled with real
ones, in the order the table gives), the "From Python" snippet, and the training walk-through
of `lockstep run` / `resume` / `show` commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_server import Server, _key, server  # noqa: F401 - the live server fixture

pytestmark = pytest.mark.slow
README = (ROOT / "README.md").read_text(encoding="utf-8")
ALLOWED = {
    "/decision": {409},  # a completed thread has no gate: refused, as documented
    "/escalate": {409},  # a completed thread cannot be escalated
}
"""Statuses other than 2xx a table row may answer, by the path it calls."""


def table_curls() -> list[str]:
    """The `curl` commands of the README's endpoint table, in order."""
    return [m.group(1) for m in re.finditer(r"^\|[^|]*\|\s*`(curl [^`]*)`\s*\|$", README, re.M)]


def fenced(language: str, holding: str) -> str:
    """The first fenced block of `language` that holds `holding`, or that follows it (a
    heading)."""
    blocks = list(re.finditer(rf"```{language}\n(.*?)```", README, re.S))
    for block in blocks:
        if holding in block.group(1):
            return block.group(1)
    start = README.index(holding)
    after = [b for b in blocks if b.start() > start]
    assert after, f"no {language} block at {holding!r}"
    return after[0].group(1)


@pytest.fixture
def admin(server: Server) -> Iterator[tuple[Server, str]]:  # noqa: F811
    yield server, _key(server.db, "docs", "submitter,approver,operator,admin")


def test_every_curl_of_the_endpoint_table_answers(
    admin: tuple[Server, str], tmp_path: Path
) -> None:
    live, key = admin
    commands = table_curls()
    assert len(commands) >= 20, "the endpoint table lost its examples"
    assert all("Content-Type: application/json" in c for c in commands if " -d " in c), (
        "a body without its JSON content type is refused with 422"
    )
    host = live.base.removeprefix("http://")
    filled: dict[str, str] = {}
    for command in commands:
        line = command.replace("localhost:8000", host).replace("$KEY", key)
        for placeholder, value in filled.items():
            line = line.replace(placeholder, value)
        args = shlex.split(line)
        streaming = "-N" in args
        args[1:1] = ["-sS", "-w", "\n%{http_code}", *(["--max-time", "8"] if streaming else [])]
        done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        body, _, code = done.stdout.rpartition("\n")
        assert done.returncode in ((0, 28) if streaming else (0,)), (line, done.stderr)
        path = re.search(r"localhost:8000(/[^\s\"?']*)", command)
        allowed = next((s for p, s in ALLOWED.items() if path and p in path.group(1)), set())
        assert code.startswith("2") or int(code) in allowed, (command, code, body[:500])
        if '"workflow":"brief","input"' in command:  # POST /jobs: later rows use its ID
            filled["3f2a9c81d0e4b7a6"] = json.loads(body)["id"]
        if "/threads/t-42/artifacts" in command:
            drafts = [a for a in json.loads(body) if a["name"] == "draft"]
            assert drafts, body[:500]
            filled["draft-ab12"] = drafts[0]["id"]
            versions = sorted(a["version"] for a in drafts)
            filled["@2"], filled["@1"] = f"@{versions[-1]}", f"@{versions[0]}"
    assert (tmp_path / "t-42.svg").read_text().lstrip().startswith("<")


def test_the_python_snippet_runs_and_prints_the_brief(tmp_path: Path) -> None:
    code = fenced("python", "## From Python")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "LOCKSTEP_MODEL"},
    )
    assert done.returncode == 0, done.stderr
    assert "# Policy brief" in done.stdout and "b'" not in done.stdout
    assert re.search(r"^\S+ completed$", done.stdout, re.M), done.stdout[:300]


def test_the_training_walkthrough_runs(tmp_path: Path) -> None:
    block = fenced("sh", "lockstep run training --request")
    lines = [ln.split("#")[0].strip() for ln in block.splitlines()]
    commands = [ln for ln in lines if ln.startswith("lockstep ")]
    assert [c.split()[1] for c in commands] == ["run", "resume", "resume", "show"]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("LOCKSTEP_MODEL", None)
    thread = ""
    for command in commands:
        args = shlex.split(command.replace("THREAD", thread))
        done = subprocess.run(
            [sys.executable, "-m", "lockstep", *args[1:]],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        found = re.search(r"^thread\s+(\S+)", done.stdout + done.stderr, re.M)
        thread = thread or (found.group(1) if found else "")
        assert thread, done.stdout
    preview = tmp_path / ".lockstep" / "preview" / thread
    assert any(preview.rglob("*.html")), "show --open unpacked no course"
