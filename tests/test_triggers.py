"""Triggers: templates, configuration, webhooks over real HTTP, the scheduler with a fake clock
in several processes, gate deadlines, completion chains and notifications to a flaky receiver.

Worker and scheduler processes are real subprocesses on SQLite and on a real PostgreSQL
server; HTTP peers are real servers on 127.0.0.1. Nothing asserts how fast anything was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.errors import ConfigError, TriggerError
from lockstep.queue.config import parse_config
from lockstep.triggers.templates import render_mapping

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
    with pytest.raises(ConfigError, match=r"cfg.yaml:3: .*events.0"):
        parse_config(good.replace("[failed]", "[exploded]"), "cfg.yaml")


def test_example_configuration_declares_each_trigger_kind() -> None:
    config = parse_config(
        (ROOT / "examples" / "lockstep.yaml").read_text(), "examples/lockstep.yaml"
    )
    kinds = {t.type for t in config.triggers.values()}
    assert kinds == {"webhook", "schedule", "human_approval", "workflow_complete"}
    assert config.notify("brief")
