"""Triggers: templates, configuration, webhooks over real HTTP, the scheduler with a fake clock
in several processes, gate deadlines, completion chains and notifications to a flaky receiver.

Worker and scheduler processes are real subprocesses on SQLite and on a real PostgreSQL
server; HTTP peers are real servers on 127.0.0.1. Nothing asserts how fast anything was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockstep import Lockstep
from lockstep.errors import ConfigError, TriggerError
from lockstep.queue import JobQueue, load_config
from lockstep.queue.config import parse_config
from lockstep.queue.templates import render_mapping
from lockstep.triggers.fires import fires
from lockstep.triggers.notify import notifications
from lockstep.triggers.scheduler import Scheduler, list_schedules, pause, resume
from lockstep.triggers.signing import signature_headers
from tests.servers import free_port, healthy
from tests.test_queue import FLOWS, QueueEnv
from tests.test_training import REQUEST as TRAINING_REQUEST

ROOT = Path(__file__).resolve().parents[1]

# -- templates -----------------------------------------------------------------------------


def test_templates_keep_types_and_render_text() -> None:
    ref = {"id": "final-1", "version": 2, "sha256": "ab" * 32}
    context = {"event": {"topic": "Rents", "n": 3}, "previous": {"outputs": {"final": ref}}}
    mapping = {
        "topic": "{{ event.topic }}",
        "count": "{{ event.n }}",
        "brief": "{{ previous.outputs.final }}",
        "title": "Digest of {{ event.topic | lower }} ({{ event.n }} parts)",
        "sources": ["examples/corpus", "{{ event.topic }}"],
        "fixed": 7,
    }
    assert render_mapping(mapping, context) == {
        "topic": "Rents",
        "count": 3,
        "brief": ref,
        "title": "Digest of rents (3 parts)",
        "sources": ["examples/corpus", "Rents"],
        "fixed": 7,
    }
    # a payload value is data: a template inside it is inserted, never rendered
    assert render_mapping({"t": "{{ event.topic }}"}, {"event": {"topic": "{{ 7 * 7 }}"}}) == {
        "t": "{{ 7 * 7 }}"
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ event.missing }}", r"input_mapping.t: .* names a missing field: .*'missing'"),
        ("Brief on {{ event.missing }}", "names a missing field"),
        ("{{ event.topic.nope.deeper }}", "names a missing field"),
        ("{{ event.empty }}", "rendered an empty value"),
        ("{{ event.none }}", "rendered an empty value"),
        ("{{ ''.__class__ }}", r"refused by the sandbox: access to attribute '__class__'"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "refused by the sandbox"),
        ("{{ event | attr('__class__') }}", "refused by the sandbox"),
        ("{{ lipsum.__globals__ }}", "refused by the sandbox"),
        ("{{ event.topic / 2 }}", "failed: TypeError"),
    ],
)
def test_templates_refuse_missing_fields_and_injection(template: str, message: str) -> None:
    context = {"event": {"topic": "Rents", "empty": " ", "none": None}}
    with pytest.raises(TriggerError, match=message):
        render_mapping({"t": template}, context)


# -- configuration -------------------------------------------------------------------------

TRIGGERS = """\
triggers:
  hook:
    type: webhook
    secret_env: LOCKSTEP_HOOK_SECRET
    action:
      workflow: brief
      input_mapping: {topic: "{{ event.topic }}", sources: [examples/corpus]}
  weekly:
    type: schedule
    cron: "0 8 * * MON"
    timezone: Europe/London
    action: {workflow: brief, input_mapping: {topic: T, sources: [examples/corpus]}}
  signoff:
    type: human_approval
    workflow: training
    waiting_for: awaiting_objectives_approval
    on_approve: approved
    on_reject: rejected
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("0 8 * * MON", "0 8 * * FUNDAY", r"cfg.yaml:9: triggers.weekly.cron: invalid cron"),
        ("0 8 * * MON", "61 * * * *", r"cfg.yaml:9: triggers.weekly.cron: invalid cron"),
        ("Europe/London", "Mars/Olympus", r"cfg.yaml:9: .*unknown timezone 'Mars/Olympus'"),
        ("workflow: brief\n", "workflow: breif\n", r"cfg.yaml:3: .*unknown workflow 'breif'"),
        ("workflow: training", "workflow: trainig", r"cfg.yaml:14: .*unknown workflow 'trainig'"),
        ("waiting_for: awaiting", "waiting_for: x_awaiting", r"cfg.yaml:14: .*not a human gate"),
        ("on_reject: rejected", "on_reject: nope", r"cfg.yaml:14: .*not a decision of gate"),
        ("type: schedule", "type: cron", r"cfg.yaml:9: .*does not match any of the expected"),
        ("{{ event.topic }}", "{{ previous.outputs.topic }}", r"cfg.yaml:3: .*provides event"),
        ("{{ event.topic }}", "{{ event.topic", r"cfg.yaml:3: .*invalid template"),
        ("secret_env: LOCKSTEP_HOOK_SECRET", "secret_env: $X", r"cfg.yaml:3: .*secret_env"),
        ("catch_up", "catch_up", ""),
    ],
)
def test_bad_trigger_configuration_is_refused_at_load_with_its_line(
    old: str, new: str, message: str
) -> None:
    text = TRIGGERS.replace(old, new, 1)
    if not message:
        config = parse_config(text, "cfg.yaml")
        assert config.schedules()["weekly"].catch_up == "latest"  # the default
        assert config.schedules()["weekly"].zone.key == "Europe/London"
        return
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "cfg.yaml")


def test_completion_cycles_need_max_depth() -> None:
    cycle = """\
triggers:
  a_then_b:
    type: workflow_complete
    workflow: brief
    action: {workflow: training, input_mapping: {topic: "{{ previous.outputs.topic }}"}}
  b_then_a:
    type: workflow_complete
    workflow: training
    action: {workflow: brief, input_mapping: {topic: "{{ previous.outputs.topic }}"}}
"""
    with pytest.raises(
        ConfigError,
        match=r"cfg.yaml:3: triggers 'a_then_b', 'b_then_a' form a cycle "
        r"\(brief → training → brief\); give one of them max_depth",
    ):
        parse_config(cycle, "cfg.yaml")
    selfloop = "triggers:\n  again:\n    type: workflow_complete\n    workflow: brief\n" + (
        "    action: {workflow: brief, input_mapping: {topic: x}}\n"
    )
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: .*'again' form a cycle"):
        parse_config(selfloop, "cfg.yaml")
    bounded = cycle.replace("workflow: training\n", "workflow: training\n    max_depth: 4\n")
    config = parse_config(bounded, "cfg.yaml")
    assert config.completions("training")["b_then_a"].max_depth == 4
    assert list(config.completions("brief")) == ["a_then_b"]


def test_notify_needs_a_known_workflow_and_an_http_url() -> None:
    good = "workflows:\n  brief:\n    notify: {url: 'http://127.0.0.1:9/n', events: [failed]}\n"
    config = parse_config(good, "cfg.yaml")
    assert config.notify("brief")[0].events == ["failed"] and config.reacts_to("brief")
    assert not config.reacts_to("training")
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: .*notify url must be http"):
        parse_config(good.replace("http://", "ftp://"), "cfg.yaml")
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: workflow 'breif' has no module"):
        parse_config(good.replace("brief:", "breif:"), "cfg.yaml")
    # an event name is checked against the job ends and the machine's own announcements
    # (`notify` actions, session expiry): the brief's machine announces none
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: .*'exploded' is neither a job end"):
        parse_config(good.replace("[failed]", "[exploded]"), "cfg.yaml")
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: .*events.0: notify event 'no way'"):
        parse_config(good.replace("[failed]", "['no way']"), "cfg.yaml")


def test_example_configuration_declares_each_trigger_kind() -> None:
    config = parse_config(
        (ROOT / "examples" / "lockstep.yaml").read_text(), "examples/lockstep.yaml"
    )
    kinds = {t.type for t in config.triggers.values()}
    assert kinds == {"webhook", "schedule", "human_approval", "workflow_complete"}
    assert config.notify("brief")


# -- shared environment --------------------------------------------------------------------

SECRET = "whsec-test-0123456789"


class TriggerEnv(QueueEnv):
    """QueueEnv (database, lockstep.yaml, worker subprocesses) plus a real HTTP server."""

    def __init__(self, url: str, tmp: Path) -> None:
        super().__init__(url, tmp)
        self.env = {
            **self.env,
            "LOCKSTEP_CONFIG": str(self.config_path),
            "LOCKSTEP_TEST_HOOK_SECRET": SECRET,
            "NO_COLOR": "1",
        }
        self.base = ""

    def serve(self, *args: str) -> str:
        """`lockstep serve` on a free loopback port; returns its base URL."""
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockstep",
                "serve",
                "--no-auth",
                "--port",
                str(port),
                "--db",
                self.url,
                *args,
            ],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        self.base = f"http://127.0.0.1:{port}"
        self.wait("the server", lambda: healthy(self.base) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.communicate()
        return self.base

    def post(self, hook: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.base}/hooks/{hook}", content=body, headers=headers or {}, timeout=60
        )


def signed(
    body: bytes, *, at: float | None = None, delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    return signature_headers(secret, body, int(time.time() if at is None else at), delivery)


@pytest.fixture
def tenv(db_url: str, tmp_path: Path) -> Iterator[TriggerEnv]:
    env = TriggerEnv(db_url, tmp_path)
    try:
        yield env
    finally:
        env.stop_all()
        sys.path.remove(str(FLOWS))


# -- webhooks ------------------------------------------------------------------------------

HOOKS = """\
rate_limits:
  hook_submits: {limit: 2, per: 1h, scope: user, applies_to: submit, workflow: steps}
triggers:
  work:
    type: webhook
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
    schema:
      type: object
      required: [steps]
      properties: {steps: {type: integer, minimum: 1}}
    action:
      workflow: steps
      input_mapping: {steps: "{{ event.steps }}"}
  noted:
    type: webhook
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
    action: {workflow: steps, input_mapping: {steps: 1, trace: "{{ event.note }}"}}
  sneaky:
    type: webhook
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
    action: {workflow: steps, input_mapping: {steps: "{{ ''.__class__ }}"}}
  review:
    type: human_approval
    workflow: steps
    waiting_for: review
    on_approve: approve
    on_reject: reject
    secret_env: LOCKSTEP_TEST_HOOK_SECRET
"""


def test_webhooks_over_http_signed_unsigned_stale_replayed(tenv: TriggerEnv) -> None:
    queue = tenv.configure(HOOKS)
    tenv.serve("--no-scheduler")
    body = json.dumps({"steps": 2}).encode()

    # the documented scheme, computed by hand: hex HMAC-SHA256 of "<timestamp>.<body>"
    now = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    first = tenv.post(
        "work",
        body,
        {
            "X-Lockstep-Timestamp": str(now),
            "X-Lockstep-Signature": f"v1={mac}",
            "X-Lockstep-Delivery": "d-1",
        },
    )
    assert first.status_code == 202, first.text
    job = queue.get(first.json()["job_id"])
    assert job.input == {"steps": 2} and job.user_name == "trigger:work"
    assert first.json()["thread_id"] == job.thread_id

    # the same delivery, signed afresh: the same job
    again = tenv.post("work", body, signed(body, at=now + 1, delivery="d-1"))
    assert again.status_code == 202 and again.json()["job_id"] == job.id
    assert again.json()["duplicate"] is True

    refusals = [
        (
            "replayed",
            tenv.post("work", body, signed(body, at=now + 1, delivery="d-1")),
            401,
            "replayed signature",
        ),
        ("unsigned", tenv.post("work", body), 401, "not signed"),
        (
            "wrong secret",
            tenv.post("work", body, signed(body, secret="guess")),
            401,
            "bad signature",
        ),
        ("tampered", tenv.post("work", b'{"steps": 9}', signed(body)), 401, "bad signature"),
        (
            "stale",
            tenv.post("work", body, signed(body, at=time.time() - 301)),
            401,
            "stale signature",
        ),
        ("future", tenv.post("work", body, signed(body, at=time.time() + 400)), 401, "stale"),
        ("not json", tenv.post("work", b"{steps", signed(b"{steps")), 400, "not valid JSON"),
        (
            "schema",
            tenv.post("work", b'{"steps": "x"}', signed(b'{"steps": "x"}')),
            422,
            "fails the schema at steps",
        ),
        (
            "missing field",
            tenv.post("noted", b"{}", signed(b"{}")),
            422,
            "input_mapping.trace: template '{{ event.note }}' names a missing field",
        ),
        ("injection", tenv.post("sneaky", b"{}", signed(b"{}")), 422, "refused by the sandbox"),
        ("unknown hook", tenv.post("nope", body, signed(body)), 404, "no webhook named 'nope'"),
        (
            "huge",
            tenv.post(
                "work", b"[" + b"1," * 600_000 + b"1]", signed(b"[" + b"1," * 600_000 + b"1]")
            ),
            413,
            "over 1 MB",
        ),
    ]
    for what, response, code, detail in refusals:
        assert response.status_code == code, (what, response.text)
        assert detail in response.json()["detail"], (what, response.text)
    assert [j.id for j in queue.find()] == [job.id]  # nothing else was enqueued

    # a second delivery is a second job; the third is over the submit rate limit
    # (a body signed twice in one second is one signature: senders put an id in the body)
    body2, body3 = b'{"steps": 2, "id": "e-2"}', b'{"steps": 2, "id": "e-3"}'
    second = tenv.post("work", body2, signed(body2, delivery="d-2"))
    assert second.status_code == 202 and second.json()["job_id"] != job.id
    limited = tenv.post("work", body3, signed(body3, delivery="d-3"))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 3000
    assert len(queue.find()) == 2

    # every firing is on record, with why the refused ones did not enqueue
    fired = {(f["trigger"], f["key"]): f for f in json.loads(tenv.cli("fires", "--json").stdout)}
    assert fired["work", "delivery:d-1"]["status"] == "submitted"
    assert fired["work", "delivery:d-1"]["job_id"] == job.id
    assert fired["work", "delivery:d-3"]["status"] == "failed"
    assert "hook_submits" in fired["work", "delivery:d-3"]["error"]
    (sneaky,) = [f for (t, _), f in fired.items() if t == "sneaky"]
    assert sneaky["status"] == "failed" and "refused by the sandbox" in sneaky["error"]
    (noted,) = [f for (t, _), f in fired.items() if t == "noted"]
    assert noted["status"] == "failed" and noted["job_id"] is None


def test_approval_webhook_answers_the_gate_and_records_the_sender(tenv: TriggerEnv) -> None:
    queue = tenv.configure(HOOKS)
    tenv.serve("--no-scheduler")
    job = queue.submit("steps", {"steps": 1, "gate": True})
    tenv.worker()
    tenv.wait("the gate", lambda: queue.get(job.id).status == "waiting_human")

    def decision(payload: dict[str, Any], **kw: Any) -> httpx.Response:
        raw = json.dumps(payload).encode()
        return tenv.post("review", raw, signed(raw, **kw))

    assert decision({"thread_id": job.thread_id, "decision": "approve"}).status_code == 422  # by
    assert decision({"thread_id": "nope", "decision": "approve", "by": "ana"}).status_code == 404
    wrong = decision({"thread_id": job.thread_id, "decision": "maybe", "by": "ana"})
    assert wrong.status_code == 409 and "does not allow decision 'maybe'" in wrong.text
    ok = decision(
        {"thread_id": job.thread_id, "decision": "approve", "by": "ana", "comment": "looks right"},
        delivery="approval-1",
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["job_id"] == job.id and ok.json()["decision"] == "approve"
    late = decision({"thread_id": job.thread_id, "decision": "reject", "by": "bo"})
    assert late.status_code == 409, late.text  # the gate is answered: its job is queued
    tenv.wait("the approval", tenv.all_final([job.id]))
    assert queue.get(job.id).status == "succeeded"
    assert tenv.client.status(job.thread_id).status == "done"
    audit = tenv.client.audit(job.thread_id)
    hook = next(a for a in audit if a["kind"] == "approval_webhook")
    assert hook["actor"] == "hook:review" and hook["detail"]["by"] == "ana"
    assert hook["detail"]["delivery"] == "approval-1"
    (made,) = [a for a in audit if a["kind"] == "decision"]  # bo's late answer changed nothing
    assert made["actor"] == "ana" and made["detail"]["comment"] == "looks right"


# -- the scheduler -------------------------------------------------------------------------

SCHEDULER_PROCESS = """
import os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from lockstep.triggers.scheduler import Scheduler

url, config, clock_file, seen_file, stop_file = sys.argv[1:]
used = [0.0]

def clock():
    used[0] = float(Path(clock_file).read_text())
    return datetime.fromtimestamp(used[0], UTC)

scheduler = Scheduler(url, config=config, clock=clock)
ticks = 0
while not os.path.exists(stop_file):
    scheduler.tick()
    ticks += 1
    Path(seen_file + ".tmp").write_text(f"{used[0]} {ticks}")
    os.replace(seen_file + ".tmp", seen_file)
    time.sleep(0.005)
scheduler.close()
print(scheduler.id)
"""


class FakeTime:
    """A clock file several scheduler processes read; the test moves it forward."""

    def __init__(self, tmp: Path, start: datetime) -> None:
        self.path = tmp / "clock.txt"
        self.set(start)

    def set(self, when: datetime) -> None:
        self.now = when
        (self.path.parent / "clock.tmp").write_text(str(when.timestamp()))
        os.replace(self.path.parent / "clock.tmp", self.path)


def _seen(path: Path) -> tuple[float, int]:
    if not path.exists():
        return (0.0, 0)
    at, ticks = path.read_text().split()
    return float(at), int(ticks)


def test_two_scheduler_processes_fire_each_time_exactly_once(tenv: TriggerEnv) -> None:
    queue = tenv.configure(
        "triggers:\n"
        "  minutely:\n"
        "    type: schedule\n"
        "    cron: '* * * * *'\n"
        "    catch_up: all\n"
        "    action: {workflow: steps, input_mapping: {steps: 1}}\n"
    )
    start = datetime(2026, 3, 2, 7, 58, 30, tzinfo=UTC)
    fake = FakeTime(tenv.tmp, start)
    stop = tenv.tmp / "stop"
    seen = [tenv.tmp / f"seen-{i}.txt" for i in range(2)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SCHEDULER_PROCESS,
                tenv.url,
                str(tenv.config_path),
                str(fake.path),
                str(s),
                str(stop),
            ],
            cwd=tenv.tmp,
            env=tenv.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in seen
    ]
    tenv.procs.extend(procs)

    def both_ticked_twice_since(moved: list[int]) -> bool:
        now = _seen(seen[0]), _seen(seen[1])
        return all(
            at == fake.now.timestamp() and n >= m + 2 for (at, n), m in zip(now, moved, strict=True)
        )

    expected = []
    for minute in range(8):
        moved = [_seen(s)[1] for s in seen]
        fake.set(start + timedelta(minutes=minute, seconds=1 if minute else 0))
        tenv.wait(f"both schedulers at minute {minute}", lambda m=moved: both_ticked_twice_since(m))
        if minute:
            expected.append((start + timedelta(minutes=minute - 1, seconds=30)).isoformat())
    stop.touch()
    ids = set()
    for p in procs:
        out, errs = p.communicate(timeout=60)
        assert p.returncode == 0, errs
        ids.add(f"scheduler:{out.strip()}")
    fired = sorted(fires(queue, "minutely"), key=lambda f: f.key)
    assert [f.key for f in fired] == expected  # 07:59 ... 08:06, once each
    assert all(f.status == "submitted" for f in fired)
    jobs = queue.find()
    assert sorted(j.id for j in jobs) == sorted(f.job_id for f in fired)  # one job per time
    assert {f.detail["by"] for f in fired} <= ids


POLICIES = """\
triggers:
  hourly_all:
    type: schedule
    cron: "0 * * * *"
    catch_up: all
    action: {workflow: steps, input_mapping: {steps: 1}}
  hourly_latest:
    type: schedule
    cron: "0 * * * *"
    action: {workflow: steps, input_mapping: {steps: 1}}
  hourly_none:
    type: schedule
    cron: "0 * * * *"
    catch_up: none
    action: {workflow: steps, input_mapping: {steps: 1}}
  monday_london:
    type: schedule
    cron: "0 8 * * MON"
    timezone: Europe/London
    action:
      workflow: steps
      input_mapping: {steps: 1, trace: "/tmp/{{ event.fire_time[:16] }}-{{ event.timezone }}"}
"""


def _times(queue: JobQueue, name: str) -> list[str]:
    return sorted(f.key[11:16] for f in fires(queue, name) if f.status == "submitted")


def test_catch_up_policies_timezones_pause_and_trigger_now(tenv: TriggerEnv) -> None:
    queue = tenv.configure(POLICIES)
    now = [datetime(2026, 6, 1, 9, 30, tzinfo=UTC)]  # a Monday
    scheduler = Scheduler(tenv.url, config=tenv.config_path, clock=lambda: now[0])
    assert scheduler.tick().fired == []  # the first tick starts every cursor at now
    now[0] = datetime(2026, 6, 1, 14, 30, tzinfo=UTC)  # down for 5 hours: 10:00-14:00 missed
    scheduler.tick()
    assert _times(queue, "hourly_all") == ["10:00", "11:00", "12:00", "13:00", "14:00"]
    assert _times(queue, "hourly_latest") == ["14:00"]
    assert _times(queue, "hourly_none") == []
    now[0] = datetime(2026, 6, 1, 15, 0, 20, tzinfo=UTC)  # on time (within the 60 s grace)
    scheduler.tick()
    assert _times(queue, "hourly_all")[-1] == _times(queue, "hourly_latest")[-1] == "15:00"
    assert _times(queue, "hourly_none") == ["15:00"]
    assert scheduler.tick().fired == []  # nothing new is due: nothing fires twice
    listed = {s["name"]: s for s in list_schedules(queue, now[0])}
    assert listed["hourly_none"]["missed"] == 5 and listed["hourly_latest"]["missed"] == 4
    assert listed["hourly_all"]["missed"] == 0
    assert listed["monday_london"]["next"] == "2026-06-08T08:00:00+01:00"

    # 08:00 in London in June is 07:00 UTC
    now[0] = datetime(2026, 6, 8, 7, 0, 5, tzinfo=UTC)
    pause(queue, "hourly_all", by="ana", now=now[0])
    fired = {f.trigger: f for f in scheduler.tick().fired}
    assert fired["monday_london"].key == "2026-06-08T07:00:00+00:00"
    job = queue.get(fired["monday_london"].job_id or "")
    assert job.input["trace"] == "/tmp/2026-06-08T08:00-Europe/London"
    assert "hourly_all" not in fired  # paused
    now[0] = datetime(2026, 6, 8, 9, 0, 5, tzinfo=UTC)
    resume(queue, "hourly_all", by="ana", now=now[0] - timedelta(minutes=1))
    assert [f.key[11:16] for f in scheduler.tick().fired if f.trigger == "hourly_all"] == [
        "09:00"
    ]  # fire times passed while paused are not caught up, whatever the policy

    # the CLI: list, pause, trigger-now, refusals
    listed = {s["name"]: s for s in json.loads(tenv.cli("schedules", "list", "--json").stdout)}
    assert listed["hourly_all"]["paused"] is False and listed["hourly_all"]["catch_up"] == "all"
    assert tenv.cli("schedules", "pause", "hourly_none", "--by", "bo").returncode == 0
    listed = {s["name"]: s for s in json.loads(tenv.cli("schedules", "list", "--json").stdout)}
    assert listed["hourly_none"]["paused"] is True and listed["hourly_none"]["changed_by"] == "bo"
    manual = tenv.cli("schedules", "trigger-now", "hourly_none", "--by", "bo")
    assert manual.returncode == 0, manual.stderr
    assert queue.get(manual.stdout.strip()).user_name == "trigger:hourly_none"
    unknown = tenv.cli("schedules", "pause", "hourly")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "unknown schedule 'hourly': declared schedules are hourly_all" in unknown.stderr


# -- gate deadlines ------------------------------------------------------------------------


def test_training_gate_deadline_escalates_from_the_scheduler(tenv: TriggerEnv) -> None:
    """The 48 h objectives gate passes its deadline on a fake clock: the scheduler answers
    `timeout` and queues the continuation; a worker takes it to `escalated`. No sweep."""
    queue = tenv.configure("")
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with Lockstep(tenv.url, clock=lambda: t0) as client:
        thread = client.run("training", **TRAINING_REQUEST).thread_id  # not a queued thread
        assert client.status(thread).gate["deadline"] == (t0 + timedelta(hours=48)).isoformat()
    now = [t0 + timedelta(hours=47)]
    scheduler = Scheduler(tenv.url, config=tenv.config_path, clock=lambda: now[0])
    assert scheduler.tick().gates == []
    now[0] = t0 + timedelta(hours=49)
    (answered,) = scheduler.tick().gates
    assert answered["outcome"] == "queued" and answered["decision"] == "timeout"
    assert scheduler.tick().gates == []  # answered once; the job waits for a worker
    job = queue.get(answered["job_id"])
    assert job.thread_id == thread and job.resume == {
        "decision": "timeout",
        "comment": None,
        "by": "scheduler",
    }
    tenv.worker()
    tenv.wait("escalation", lambda: queue.get(job.id).status == "waiting_human")
    status = tenv.client.status(thread)
    assert status.status == "escalated" and status.gate["review"]["escalated_from"] == "objectives"
    assert status.transitions[-1]["event"] == "timeout"
    assert [d["by"] for d in tenv.client.values(thread)["decisions"]] == ["scheduler"]


def test_human_approval_timeout_with_worker_and_embedded_scheduler(tenv: TriggerEnv) -> None:
    """A gate with no timeout of its own gets one from a human_approval trigger; a worker
    started with --with-scheduler answers it on_timeout when it passes."""
    queue = tenv.configure(
        "triggers:\n"
        "  review_deadline:\n"
        "    type: human_approval\n"
        "    workflow: steps\n"
        "    waiting_for: review\n"
        "    timeout: 1s\n"
        "    on_approve: approve\n"
        "    on_timeout: reject\n"
    )
    job = queue.submit("steps", {"steps": 1, "gate": True})
    tenv.worker("--with-scheduler")
    tenv.wait("the timeout", tenv.all_final([job.id]))
    done = queue.get(job.id, events=True)
    assert (done.status, done.outcome) == ("succeeded", "rejected")
    kinds = [e["kind"] for e in done.events]
    assert kinds.index("waiting_human") < kinds.index("continued") < kinds.index("succeeded")
    decision = tenv.client.values(job.thread_id)["decisions"][0]
    assert (decision["decision"], decision["by"], decision["gate"]) == (
        "reject",
        "scheduler",
        "review",
    )


# -- completion chains ---------------------------------------------------------------------

CHAINS = """\
triggers:
  digest_finished_briefs:
    type: workflow_complete
    workflow: brief
    status: success
    action:
      workflow: brief_digest
      input_mapping:
        brief: "{{ previous.outputs.final }}"
        topic: "{{ previous.outputs.topic }}"
  more_steps:
    type: workflow_complete
    workflow: steps
    status: any
    max_depth: 2
    action: {workflow: steps, input_mapping: {steps: "{{ previous.outputs.done_steps + 1 }}"}}
"""


def test_completion_chain_brief_to_digest_passes_artifact_refs(
    tenv: TriggerEnv, corpus: Path
) -> None:
    queue = tenv.configure(CHAINS)
    brief = queue.submit(
        "brief", {"topic": "Should Calder Bay cap short-term rentals?", "sources": [str(corpus)]}
    )
    rejected = queue.submit("brief", {"topic": "", "sources": [str(corpus)]})
    tenv.worker()
    tenv.wait("the brief", tenv.all_final([brief.id, rejected.id]))
    tenv.wait("its digest", lambda: any(j.final for j in queue.find() if j.parent_id))
    digest = next(j for j in queue.find() if j.parent_id)
    assert digest.workflow == "brief_digest" and digest.parent_id == brief.id
    assert digest.status == "succeeded" and digest.outcome == "completed"
    final = tenv.client.values(brief.thread_id)["final"]
    assert digest.input == {"brief": final, "topic": "Should Calder Bay cap short-term rentals?"}
    meta, content = tenv.client.artifact(digest.thread_id, "notice")
    notice = content.decode()
    assert "\n\n" not in notice.strip() and notice.startswith(
        "A policy brief on \u201cShould Calder Bay cap short-term rentals?\u201d is ready."
    )
    assert meta.inputs == [final]  # the notice's lineage names the brief it was made from

    # the rejected brief ended `succeeded` too, but has no final artifact: that firing fails
    # with the missing field named, and nothing is enqueued for it
    assert queue.get(rejected.id).outcome == "rejected"
    assert [j.id for j in queue.find() if j.parent_id] == [digest.id]
    fired = {f.detail["job_id"]: f for f in fires(queue, "digest_finished_briefs")}
    assert fired[brief.id].status == "submitted" and fired[brief.id].job_id == digest.id
    assert fired[rejected.id].status == "failed" and fired[rejected.id].job_id is None
    assert "input_mapping.brief" in (fired[rejected.id].error or "")
    assert "names a missing field" in (fired[rejected.id].error or "")


def test_completion_chain_loop_stops_at_max_depth(tenv: TriggerEnv) -> None:
    queue = tenv.configure(CHAINS)
    root = queue.submit("steps", {"steps": 1})
    tenv.worker("--concurrency", "2")
    tenv.wait("the chain", lambda: len(fires(queue, "more_steps")) == 3)
    tenv.wait("every job", tenv.all_final([j.id for j in queue.find()]))
    jobs = {j.id: j for j in queue.find()}
    assert len(jobs) == 3
    child = next(j for j in jobs.values() if j.parent_id == root.id)
    grandchild = next(j for j in jobs.values() if j.parent_id == child.id)
    assert (child.input, grandchild.input) == ({"steps": 2}, {"steps": 3})
    last = next(f for f in fires(queue, "more_steps") if f.detail["job_id"] == grandchild.id)
    assert last.status == "skipped" and last.job_id is None
    assert last.error == "max_depth 2 reached (the next job would be 3 deep)"


# -- notifications -------------------------------------------------------------------------


class Receiver:
    """A real HTTP server on 127.0.0.1 that refuses the first `failures` POSTs with 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 503 if len(receiver.calls) < receiver.failures else 200
                receiver.calls.append((dict(self.headers), body, code))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"busy" if code == 503 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lockstep"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_notifications_retry_a_flaky_receiver_and_never_fail_the_job(tenv: TriggerEnv) -> None:
    flaky = Receiver(failures=2)
    dead = f"http://127.0.0.1:{free_port()}/gone"  # nothing listens here
    tenv.config_path.write_text(
        "workflows:\n"
        "  steps:\n"
        "    module: steps\n"
        "    notify:\n"
        f"      - {{url: '{flaky.url}', events: [completed], base_delay: 100ms,\n"
        "         secret_env: LOCKSTEP_TEST_HOOK_SECRET}\n"
        f"      - {{url: '{dead}', events: [completed, failed], max_attempts: 2,"
        " base_delay: 100ms}\n"
    )
    tenv.client = Lockstep(tenv.url, config=load_config(tenv.config_path))
    queue = tenv.queue
    try:
        job = queue.submit("steps", {"steps": 1})
        tenv.worker("--with-scheduler")
        tenv.wait("the job", tenv.all_final([job.id]))
        tenv.wait(
            "both notifications to settle",
            lambda: {n["status"] for n in notifications(queue, job.id)} == {"delivered", "failed"},
        )
    finally:
        flaky.close()
    assert queue.get(job.id).status == "succeeded"  # an undeliverable notification changes nothing
    sent, lost = notifications(queue, job.id)
    assert sent["url"] == flaky.url and sent["event"] == "completed"
    assert [(a["attempt"], a["status_code"]) for a in sent["attempts_made"]] == [
        (1, 503),
        (2, 503),
        (3, 200),
    ]
    assert sent["attempts_made"][0]["error"] == "HTTP 503: busy"
    assert [code for _, _, code in flaky.calls] == [503, 503, 200]
    for headers, body, _ in flaky.calls:  # each attempt signed afresh, one delivery id
        stamp = headers["X-Lockstep-Timestamp"]
        mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert headers["X-Lockstep-Signature"] == f"v1={mac}"
        assert headers["X-Lockstep-Delivery"] == sent["id"]
        event = json.loads(body)
        assert (event["event"], event["job_id"], event["outcome"]) == ("completed", job.id, "done")
    assert lost["status"] == "failed" and len(lost["attempts_made"]) == 2
    assert all("ConnectError" in (a["error"] or "") for a in lost["attempts_made"])
    listed = json.loads(tenv.cli("notifications", "--job", job.id, "--json").stdout)
    assert [n["status"] for n in listed] == ["delivered", "failed"]


def test_notify_action_announces_each_entry_once_across_a_crash(tenv: TriggerEnv) -> None:
    """`on_enter: [notify]` queues through the notify outbox (the hook `lockstep.triggers`
    registers), each target's `events` respected; the worker is killed right after the entry's
    announcement committed, the step is re-run by another worker, and each receiver still gets
    exactly one delivery per entry."""
    only = Receiver(failures=0)  # asks for the entry only
    every = Receiver(failures=1)  # default events: job ends and the machine's announcements
    tenv.config_path.write_text(
        "queue_system:\n  visibility_timeout: 2s\n  queues: {default: {}}\n"
        "workflows:\n"
        "  notified:\n"
        "    module: tests.machines.notified\n"
        "    notify:\n"
        f"      - {{url: '{only.url}', events: [enter_working], base_delay: 100ms}}\n"
        f"      - {{url: '{every.url}', base_delay: 100ms}}\n"
    )
    tenv.client = Lockstep(tenv.url, config=load_config(tenv.config_path))
    queue = tenv.queue
    marker = tenv.tmp / "kill"
    tenv.env["KILL_MARKER"] = str(marker)
    try:
        job = queue.submit("notified", {"steps": 3})
        first = tenv.worker()
        tenv.wait("the first worker to be killed by `die`", lambda: first.poll() is not None)
        assert first.returncode == -signal.SIGKILL
        assert Path(f"{marker}.die-enter-working").exists()
        # the announcement committed before the kill: queued for both targets, none sent yet
        queued = notifications(queue, job.id)
        assert [(n["event"], n["url"], n["status"]) for n in queued] == [
            ("enter_working", only.url, "pending"),
            ("enter_working", every.url, "pending"),
        ]
        tenv.worker("--with-scheduler")  # takes the job over once the lease lapses
        tenv.wait("the job", tenv.all_final([job.id]))
        tenv.wait(
            "every notification delivered",
            lambda: [n["status"] for n in notifications(queue, job.id)] == ["delivered"] * 4,
        )
    finally:
        only.close()
        every.close()
    done = queue.get(job.id, events=True)
    assert done.status == "succeeded"
    starters = [e["detail"]["worker"] for e in done.events if e["kind"] == "started"]
    assert len(starters) == 2 and starters[0] != starters[1]  # the step was re-run elsewhere

    def delivered(receiver: Receiver) -> list[str]:
        return [json.loads(body)["event"] for _, body, code in receiver.calls if code == 200]

    assert delivered(only) == ["enter_working"]
    assert sorted(delivered(every)) == ["completed", "enter_working", "finished"]
    assert [code for _, _, code in every.calls].count(503) == 1  # retried by the outbox
    entry = next(json.loads(b) for _, b, c in only.calls if c == 200)
    assert (entry["thread_id"], entry["job_id"]) == (job.thread_id, job.id)
    assert (entry["state"], entry["phase"], entry["workflow"]) == ("working", "enter", "notified")
    actions = [r for r in tenv.client.audit(job.thread_id) if r["kind"] == "action"]
    assert [(r["detail"]["action"], r["detail"]["state"]) for r in actions] == [
        ("notify", "working"),
        ("die", "working"),
        ("notify(event=finished)", "done"),
    ]


def test_notify_events_are_checked_against_the_machine(tmp_path: Path) -> None:
    """A target's `events` may name the machine's announcements; a typo is refused at load,
    with the line and the closest known event."""
    path = tmp_path / "lockstep.yaml"
    path.write_text(
        "workflows:\n"
        "  notified:\n"
        "    module: tests.machines.notified\n"
        "    notify:\n"
        "      - {url: 'http://127.0.0.1:9/x', events: [completed, enter_wroking]}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"lockstep.yaml:5: .*'enter_wroking'.*did you mean "
        r"'enter_working'\?",
    ):
        load_config(path)
    path.write_text(
        "workflows:\n"
        "  notified:\n"
        "    module: tests.machines.notified\n"
        "    notify: {url: 'http://127.0.0.1:9/x', events: [finished, session_expired]}\n"
    )
    with pytest.raises(ConfigError, match="'session_expired' is neither a job end"):
        load_config(path)  # this machine declares no session timeout
    path.write_text(
        "workflows:\n"
        "  notified:\n"
        "    module: tests.machines.notified\n"
        "    notify: {url: 'http://127.0.0.1:9/x', events: [finished, enter_working, failed]}\n"
    )
    (target,) = load_config(path).notify("notified")
    assert target.wants("finished") and not target.wants("completed")


def test_cli_refuses_a_bad_trigger_config_in_one_line(tenv: TriggerEnv) -> None:
    tenv.config_path.write_text(
        "workflows: {steps: steps}\n"
        "triggers:\n  nightly:\n    type: schedule\n    cron: '0 25 * * *'\n"
        "    action: {workflow: steps, input_mapping: {steps: 1}}\n"
    )
    for command in (["scheduler", "--once"], ["schedules", "list"]):
        proc = tenv.cli(*command)
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert "lockstep.yaml:4: triggers.nightly.cron: invalid cron expression '0 25 * * *'" in (
            proc.stderr
        )


def test_scheduler_expires_a_session_while_the_thread_waits_at_a_gate(
    db_url: str, tmp_path: Path
) -> None:
    """`timeouts.session` counts waiting time: the scheduler's sweep notices a run whose
    session ran out at a gate (nothing else touches the thread), pauses it as
    `session_expired`, notifies once through the outbox, and `resume` continues it."""
    receiver = Receiver(failures=0)
    path = tmp_path / "lockstep.yaml"
    path.write_text(
        "workflows:\n"
        "  session_gate:\n"
        "    module: tests.machines.session_gate\n"
        f"    notify: {{url: '{receiver.url}', events: [session_expired]}}\n"
    )
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    scheduler = Scheduler(db_url, config=load_config(path), clock=lambda: now[0])
    try:
        client = scheduler.client
        st = client.run("session_gate", thread_id="s1")
        assert st.status == "review" and st.gate is not None
        assert st.gate["session_deadline"] == "2026-01-05T10:00:00+00:00"
        now[0] += timedelta(minutes=59)  # still inside the hour
        assert scheduler.tick().gates == []
        assert client.status("s1").status == "review"
        now[0] += timedelta(minutes=2)  # waiting pushed the run past its session
        report = scheduler.tick()
        assert report.gates == [
            {
                "thread_id": "s1",
                "gate": "review",
                "outcome": "session_expired",
                "status": "session_expired",
            }
        ]
        st = client.status("s1")
        assert st.status == "session_expired" and st.gate is not None
        assert st.gate["message"] == "Your request timed out. You can resume from where it stopped."
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.calls:
            scheduler.tick()
            time.sleep(0.05)
        assert scheduler.tick().gates == []  # swept once: the paused thread is not expired again
        assert [json.loads(body)["event"] for _, body, _ in receiver.calls] == ["session_expired"]
        assert json.loads(receiver.calls[0][1])["thread_id"] == "s1"
        # a person resumes: the session restarts now, so the gate waits again
        st = client.resume("s1", by="ana")
        assert st.status == "review" and st.gate is not None
        assert st.gate["session_deadline"] > now[0].isoformat()
        assert scheduler.tick().gates == []
        st = client.resume("s1", "approve", by="ana")
        assert st.status == "done"
        assert [r["kind"] for r in client.audit("s1")].count("session_expired") == 1
        assert len(receiver.calls) == 1
    finally:
        scheduler.close()
        receiver.close()
