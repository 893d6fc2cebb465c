"""No user-supplied text is read as rich markup by the CLI: thread and job IDs, users, errors,
trigger keys and URLs that look like markup (`[/]`, `[bold]`, `[link=...]`) go through every
listing (gates, jobs, status, history, audit, artifacts, fires, notifications, dlq, schedules)
and come out as written, with exit 0.

Such rows cannot be made through the API or the CLI any more (IDs are validated), but a
database written before that, or by another tool, holds them: they are written here below
the ID check, as such a database would have them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lockstep.cli import app
from lockstep.cli.common import err, out
from tests.conftest import ROOT

FLOWS = ROOT / "examples" / "workflows"
CONFIG = """workflows: {steps: steps}
triggers:
  nightly:
    type: schedule
    cron: "0 2 * * *"
    action: {workflow: steps, input_mapping: {steps: 1}}
"""
MARKUP = ["[/]", "[bold]", "[link=https://evil.example]x[/link]", "[red]", "\\[/]", "[/bold]"]
markupish = st.builds(
    lambda a, b, c: f"{a}{b}{c}",
    st.sampled_from(MARKUP),
    st.text(alphabet="abcxyz-_[]/=:.", min_size=0, max_size=8),
    st.sampled_from(["", *MARKUP]),
)


@pytest.fixture(autouse=True)
def _wide_consoles() -> Iterator[None]:
    """Wide enough that no cell wraps, so the raw text is on one line to be found."""
    saved = (out.width, err.width)
    out.width = err.width = 400
    sys.path.insert(0, str(FLOWS))
    try:
        yield
    finally:
        out.width, err.width = saved
        sys.path.remove(str(FLOWS))


def _seed(folder: Path, text: str) -> tuple[str, str, dict[str, str]]:
    """A database whose threads, jobs, audit rows, fires, notifications and schedule changes
    carry `text`; returns (db url, config path, what each listing must show)."""
    import lockstep.threads
    from lockstep.client import Lockstep
    from lockstep.queue.config import load_config
    from lockstep.triggers.scheduler import set_paused

    db = f"sqlite:///{folder / 'cli.db'}"
    config = folder / "lockstep.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    thread = f"t{text}"
    unchecked = pytest.MonkeyPatch()
    unchecked.setattr(lockstep.threads, "check_id", lambda value, kind="thread": value)
    try:
        with Lockstep(db, config=load_config(config)) as client:
            client.run("steps", thread_id=thread, created_by=text, steps=1, gate=True)
            client.db.record(thread, "note", {"said": text}, text)
            queue = client.queue
            job = queue.submit("steps", {"steps": 1}, user=text, thread_id=f"j{text}")
            client.db.execute(
                "UPDATE lockstep_jobs SET status = 'dead_lettered', error = ? WHERE id = ?",
                (text, job.id),
            )
            client.db.execute(
                "INSERT INTO lockstep_trigger_fires (trigger_name, fire_key, kind, at, status,"
                " job_id, error, detail) VALUES (?, ?, 'webhook', 0, 'failed', NULL, ?, '{}')",
                ("nightly", f"k{text}", text),
            )
            client.db.execute(
                "INSERT INTO lockstep_notifications (id, workflow, job_id, event, url, payload,"
                " status, attempts, max_attempts, base_delay, max_delay, timeout, next_at,"
                " created_at, last_error) VALUES (?, 'steps', ?, 'completed', ?, '{}', 'failed',"
                " 1, 1, 1, 1, 1, 0, 0, ?)",
                (uuid.uuid4().hex, job.id, f"https://h.example/{text}", text),
            )
            set_paused(queue, "nightly", True, by=text, now=lockstep.threads.utcnow())
    finally:
        unchecked.undo()
    return db, str(config), {"thread": thread, "text": text}


def _listings(db: str, config: str, thread: str) -> list[list[str]]:
    with_config = ["--config", config, "--db", db]
    return [
        ["gates", "--db", db],
        ["jobs", *with_config],
        ["status", thread, "--db", db],
        ["history", thread, "--db", db],
        ["audit", thread, "--db", db],
        ["artifacts", thread, "--db", db],
        ["fires", *with_config],
        ["notifications", *with_config],
        ["dlq", "list", *with_config],
        ["schedules", "list", *with_config],
    ]


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args, env={"NO_COLOR": "1", "COLUMNS": "400"})


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # a failure names its text; shrinking is slow
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=markupish)
def test_markup_like_data_prints_as_written_in_every_listing(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, config, seen = _seed(Path(tmp), text)
        shown: dict[str, str] = {}
        for args in _listings(db, config, seen["thread"]):
            result = _run(args)
            assert result.exit_code == 0, (args, result.output, result.exception)
            assert "MarkupError" not in result.output, (args, result.output)
            shown[args[0]] = result.output
        # where each listing shows the user's text, it shows it raw
        assert seen["thread"] in shown["gates"]
        assert f"j{text}" in shown["jobs"]
        assert seen["thread"] in shown["status"]
        assert seen["thread"] in shown["artifacts"]
        assert json.dumps({"said": text}, ensure_ascii=False) in shown["audit"]
        assert f"k{text}"[:40] in shown["fires"] and text in shown["fires"]  # keys cut at 40
        assert text in shown["notifications"]
        assert f"j{text}" in shown["dlq"]
        assert f"yes ({text})" in shown["schedules"]


def test_markup_in_an_id_gives_a_one_line_cli_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = _run(
        [
            "run",
            "brief",
            "--topic",
            "t",
            "--sources",
            str(ROOT / "examples" / "corpus"),
            "--thread-id",
            "[/]",
            "--db",
            db,
        ]
    )
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "invalid thread ID '[/]'" in errors[0], result.output
    assert "Traceback" not in result.output


def test_json_listing_keeps_the_raw_text(tmp_path: Path) -> None:
    db, config, _seen = _seed(tmp_path, "[link=x]y[/link]")
    result = _run(["jobs", "--json", "--config", config, "--db", db])
    assert result.exit_code == 0
    assert any(j["thread_id"] == "j[link=x]y[/link]" for j in json.loads(result.output))
