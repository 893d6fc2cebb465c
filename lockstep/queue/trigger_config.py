"""The `triggers:` block of lockstep.yaml and the `notify:` option of `workflows:` entries.

Declarations only: they sit in the queue layer because the queue's configuration loads and
checks them; `lockstep.triggers` (the layer above) runs them.

    triggers:
      brief_request:                       # POST /hooks/brief_request
        type: webhook
        secret_env: LOCKSTEP_HOOK_BRIEF_SECRET
        schema: {type: object, required: [topic]}
        action: {workflow: brief, input_mapping: {topic: "{{ event.topic }}", sources: [corpus]}}
      monday_brief:
        type: schedule
        cron: "0 8 * * MON"
        timezone: Europe/London
        catch_up: latest                   # all | latest | none
        action: {workflow: brief, input_mapping: {topic: Rents this week, sources: [corpus]}}
      objectives_signoff:
        type: human_approval
        workflow: training
        waiting_for: awaiting_objectives_approval
        on_approve: approved
        on_reject: rejected
        on_timeout: timeout
      digest:
        type: workflow_complete
        workflow: brief
        status: success                    # success | failed | any
        action: {workflow: brief_digest, input_mapping: {brief: "{{ previous.outputs.final }}"}}
    workflows:
      brief:
        notify: {url: "https://example.org/hooks/lockstep", events: [completed, failed]}

These are pydantic models checked field by field; `check_triggers` then checks what needs the
whole configuration (known workflows and gates, template names, completion cycles) and names
the file and line of the offending trigger.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from lockstep.errors import ConfigError, TriggerError
from lockstep.machine.spec import parse_duration
from lockstep.queue.templates import check_templates

__all__ = [
    "TRIGGER_TYPES",
    "Action",
    "ApprovalTrigger",
    "CompletionTrigger",
    "NotifyDecl",
    "ScheduleTrigger",
    "TriggerDecl",
    "WebhookTrigger",
    "WorkflowDecl",
    "check_triggers",
]

TRIGGER_TYPES = ("webhook", "schedule", "human_approval", "workflow_complete")
NotifyEvent = Literal["completed", "waiting_human", "failed", "timed_out", "cancelled"]
"""What a workflow's `notify:` can announce of its jobs: each is a job ending (or stopping at
a gate)."""
JOB_EVENTS: tuple[str, ...] = get_args(NotifyEvent)
_MACHINE_EVENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _notify_event(value: Any) -> Any:
    """A job end, or an event the workflow's machine announces (its `notify` entry/exit
    actions, `session_expired`): checked against the machine when the configuration loads."""
    if isinstance(value, str) and (value in JOB_EVENTS or _MACHINE_EVENT.fullmatch(value)):
        return value
    raise ValueError(
        f"notify event {value!r}: use one of {', '.join(JOB_EVENTS)}, or an event the "
        "workflow's machine announces (enter_<state>, exit_<state>, session_expired, or a "
        "notify action's event)"
    )


NotifyEventName = Annotated[str, BeforeValidator(_notify_event)]


Duration = Annotated[float, BeforeValidator(lambda v: parse_duration(v))]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class Action(_Strict):
    """What a trigger does: submit a run of `workflow` with the rendered `input_mapping`."""

    workflow: str
    """The workflow to run (shipped, or declared under `workflows:`)."""
    input_mapping: dict[str, Any] = Field(default_factory=dict)
    """Workflow inputs; string values may hold `{{ event.x }}` / `{{ previous.outputs.x }}`."""
    queue: str | None = None
    """The queue (default: the configuration's default queue)."""
    priority: str | int | None = None
    """urgent, normal, batch or 0-100 (default: the queue's)."""
    user: str | None = None
    """Who the job is submitted as (per-user limits); default `trigger:<name>`."""


def _secret_env(value: str) -> str:
    if not value.replace("_", "").isalnum():
        raise ValueError(f"secret_env must name an environment variable, got {value!r}")
    return value


class WebhookTrigger(_Strict):
    """`POST /hooks/<name>`, signed with the secret in `$<secret_env>`."""

    type: Literal["webhook"]
    """`webhook`."""
    secret_env: Annotated[str, BeforeValidator(_secret_env)]
    """The environment variable holding the HMAC secret (unset: the hook answers 503)."""
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    """A JSON schema the payload must satisfy (422 otherwise)."""
    action: Action
    """What a valid call submits; `event` is the JSON payload."""

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from jsonschema import SchemaError
            from jsonschema.validators import validator_for

            try:
                validator_for(value).check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"invalid JSON schema: {exc.message}") from None
        return value


class ScheduleTrigger(_Strict):
    """A cron expression in an IANA timezone; each fire time enqueues one run."""

    type: Literal["schedule"]
    """`schedule`."""
    cron: str
    """A cron expression (croniter: 5 fields, or 6 with seconds), e.g. `0 8 * * MON`."""
    timezone: str = "UTC"
    """The IANA timezone the cron is read in, e.g. Europe/London."""
    catch_up: Literal["all", "latest", "none"] = "latest"
    """Fire times missed while no scheduler ran: run them all, only the latest, or none."""
    grace: Duration = 60.0
    """A fire time seen later than this after it passed counts as missed."""
    action: Action
    """What each fire time submits; `event` holds `fire_time` (local), `fire_time_utc`,
    `timezone`, `trigger`, `late_by`."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            croniter(value)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}: use an IANA name such as Europe/London or UTC"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ApprovalTrigger(_Strict):
    """Maps approvals onto a workflow's gate: `approve`/`reject` from a signed webhook become
    the gate's `on_approve`/`on_reject` decisions, and past `timeout` the scheduler answers
    `on_timeout`."""

    type: Literal["human_approval"]
    """`human_approval`."""
    workflow: str
    """The workflow whose gate this is."""
    waiting_for: str
    """The human gate (a `type: human_gate` state of the workflow)."""
    timeout: Duration | None = None
    """For a gate that declares no timeout; a gate's declared timeout cannot be changed here."""
    on_approve: str | None = None
    """The gate decision a webhook's `approve` becomes."""
    on_reject: str | None = None
    """The gate decision a webhook's `reject` becomes."""
    on_timeout: str | None = None
    """Default: the gate's `timeout` decision, when it has one."""
    secret_env: Annotated[str, BeforeValidator(_secret_env)] | None = None
    """When set, `POST /hooks/<name>` takes signed decisions for this gate."""


class CompletionTrigger(_Strict):
    """When a job of `workflow` ends with `status`, submit `action` with the ended run's
    outputs as `previous`; the new job's parent is the ended one."""

    type: Literal["workflow_complete"]
    """`workflow_complete`."""
    workflow: str
    """The workflow whose jobs' ends this watches."""
    status: Literal["success", "failed", "any"] = "success"
    """`success`: succeeded; `failed`: failed, dead-lettered or timed out; `any`: those and
    cancelled."""
    max_depth: int | None = Field(default=None, ge=1)
    """Required on a chain that can loop (A → B → A): the longest parent chain it extends."""
    action: Action
    """What an end submits; `previous` holds the ended run (outputs, artifacts, status)."""


TriggerDecl = Annotated[
    WebhookTrigger | ScheduleTrigger | ApprovalTrigger | CompletionTrigger,
    Field(discriminator="type"),
]


def _default_events() -> list[str]:
    return ["completed", "waiting_human", "failed", "timed_out"]


def _url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"notify url must be http(s)://host/..., got {value!r}")
    return value


class NotifyDecl(_Strict):
    """POST a signed JSON event to `url` when a job of the workflow reaches one of `events`."""

    url: Annotated[str, BeforeValidator(_url)]
    """Where the JSON event is POSTed (http or https)."""
    events: list[NotifyEventName] = Field(default_factory=_default_events)
    """Which events to announce: job ends (completed, waiting_human, failed, timed_out,
    cancelled) and the machine's own (its `notify` entry/exit actions, `enter_<state>` unless
    they name an event, and `session_expired`). Left out: the four job ends above, plus every
    event the machine's `notify` actions and session timeout announce."""

    def wants(self, event: str) -> bool:
        """Whether this target announces `event`: listed in `events`, or, when `events` was
        left out, any event the machine announces (the machine's `notify` asked for it)."""
        return event in self.events or (
            "events" not in self.model_fields_set and event not in JOB_EVENTS
        )

    secret_env: Annotated[str, BeforeValidator(_secret_env)] | None = None
    """Signs the body like inbound webhooks; unset sends it unsigned."""
    max_attempts: int = Field(default=8, ge=1)
    """Attempts before the notification is `failed` (the job is never affected)."""
    base_delay: Duration = 2.0
    """Wait before the second attempt; doubles each time (jittered)."""
    max_delay: Duration = 600.0
    """The longest wait between attempts."""
    timeout: Duration = 10.0
    """Seconds one delivery attempt may take."""


def _workflow_decl(value: Any) -> Any:
    """`name: module` shorthand → {module: ...}; `notify` may be one mapping or a list."""
    if isinstance(value, str):
        return {"module": value}
    if isinstance(value, Mapping) and isinstance(value.get("notify"), Mapping):
        return {**value, "notify": [value["notify"]]}
    return value


class WorkflowDecl(_Strict):
    """A workflow entry: an extra workflow's module, and/or notifications for any workflow."""

    module: str | None = None
    """Importable module of an extra workflow (MACHINE, build_graph, check_inputs); none for a
    shipped one."""
    notify: list[NotifyDecl] = Field(default_factory=list)
    """Where to announce this workflow's job ends (one mapping or a list)."""


WorkflowEntry = Annotated[WorkflowDecl, BeforeValidator(_workflow_decl)]

# what each kind of trigger provides to its templates
_NAMES = {
    "webhook": {"event"},
    "schedule": {"event"},
    "workflow_complete": {"event", "previous"},
}


def check_triggers(
    triggers: Mapping[str, Any],
    *,
    known: Callable[[str, str], None],
    machine: Callable[[str], Any | None],
    queues: Callable[[str | None], Any],
    where: Callable[[str], str],
) -> None:
    """Checks needing the whole configuration, each raising ConfigError at the trigger's line:
    known workflows and queues, gates and decisions of human_approval triggers, template
    names, and completion cycles without a `max_depth`.

    `known(workflow, where)` refuses an unknown workflow; `machine(workflow)` is its Machine
    (None when it cannot be imported yet); `where(name)` is `file:line` of trigger `name`."""
    for name, trigger in triggers.items():
        at = where(name)
        action = getattr(trigger, "action", None)
        if isinstance(trigger, ApprovalTrigger | CompletionTrigger):
            known(trigger.workflow, f"{at}: trigger {name!r}")
        if action is not None:
            known(action.workflow, f"{at}: trigger {name!r}")
            try:
                queues(action.queue)
                check_templates(action.input_mapping, _NAMES[trigger.type], trigger.type)
            except (ConfigError, TriggerError) as exc:
                raise ConfigError(f"{at}: trigger {name!r}: {exc}") from None
        if isinstance(trigger, ApprovalTrigger):
            _check_gate(name, trigger, machine(trigger.workflow), at)
    _check_cycles(triggers, where)


def _check_gate(name: str, trigger: ApprovalTrigger, machine: Any | None, at: str) -> None:
    if machine is None:
        return
    gate = machine.states.get(trigger.waiting_for)
    if gate is None or gate.type != "human_gate":
        gates = ", ".join(machine.gates()) or "none"
        raise ConfigError(
            f"{at}: trigger {name!r}: {trigger.waiting_for!r} is not a human gate of workflow "
            f"{trigger.workflow!r} (its gates: {gates})"
        )
    allowed = machine.decisions(trigger.waiting_for)
    for field in ("on_approve", "on_reject", "on_timeout"):
        decision = getattr(trigger, field)
        if decision is not None and decision not in allowed:
            raise ConfigError(
                f"{at}: trigger {name!r}: {field} {decision!r} is not a decision of gate "
                f"{trigger.waiting_for!r} (allowed: {', '.join(allowed)})"
            )
    if trigger.timeout is not None and gate.timeout not in (None, trigger.timeout):
        raise ConfigError(
            f"{at}: trigger {name!r}: gate {trigger.waiting_for!r} declares its own timeout "
            f"({gate.timeout:g}s); change it in the workflow's machine, not here"
        )
    if (trigger.timeout or gate.timeout) and not (trigger.on_timeout or "timeout" in allowed):
        raise ConfigError(
            f"{at}: trigger {name!r}: gate {trigger.waiting_for!r} has a timeout but no "
            "'timeout' decision: set on_timeout"
        )


def _check_cycles(triggers: Mapping[str, Any], where: Callable[[str], str]) -> None:
    """A completion chain that can lead back to its start (A → B → A) must carry `max_depth`
    on one of its triggers, or it could run forever."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for name, trigger in triggers.items():
        if isinstance(trigger, CompletionTrigger):
            edges.setdefault(trigger.workflow, []).append((trigger.action.workflow, name))

    def walk(origin: str, node: str, chain: list[str], visited: set[str]) -> None:
        for target, name in edges.get(node, []):
            names = [*chain, name]
            if target == origin:
                if not any(triggers[n].max_depth for n in names):
                    flows = " → ".join([origin, *(triggers[n].action.workflow for n in names)])
                    raise ConfigError(
                        f"{where(names[0])}: triggers {', '.join(repr(n) for n in names)} form "
                        f"a cycle ({flows}); give one of them max_depth"
                    )
            elif target not in visited:
                walk(origin, target, names, visited | {target})

    for origin in edges:
        walk(origin, origin, [], {origin})
