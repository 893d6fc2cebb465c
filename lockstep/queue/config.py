"""Queue settings from `lockstep.yaml` (or `--config`), in the seed's blocks: `queue_system`,
`concurrency`, `rate_limits`, `timeouts`, `cancellation`, plus `workflows` (extra graphs).

    queue_system:
      default_queue: default
      dead_letter_queue: dead_letters
      visibility_timeout: 30s          # a worker's lease; heartbeats renew it
      retry: {max_retries: 3, base_delay: 2s, max_delay: 5m}
      queues:
        default: {priority: normal}
        training: {priority: batch, concurrency_limit: 3}
    concurrency:
      workflows:
        brief: {limit: 2, behavior: queue}     # or reject: refused at submit
        training: {singleton: true}
    rate_limits:
      brief_creation: {limit: 10, per: 1h, scope: user, applies_to: submit, workflow: brief}
      search_api_calls: {limit: 100, per: 1m, scope: global, strategy: token_bucket}
      llm_tokens: {limit: 200000, per: 1d, scope: workflow, applies_to: tokens}
    timeouts:
      step_default: 5m
      steps: {researching: 10m}
      workflow_total: 30m
      behavior: fail_gracefully
    cancellation: {cleanup_wait: 30s}
    engine: {type: temporal, address: 127.0.0.1:7233, namespace: default}   # or `builtin`
    triggers: {...}                    # webhooks, schedules, approvals, completion chains
    workflows: {steps: steps, brief: {notify: {url: ...}}}

The `triggers:` block and `notify:` are declared in `lockstep.queue.trigger_config`. Errors name the
file and line of the offending entry.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from lockstep.errors import ConfigError
from lockstep.machine.actions import notify_events
from lockstep.machine.spec import Machine, load_yaml, parse_duration
from lockstep.queue.trigger_config import (
    JOB_EVENTS,
    TRIGGER_TYPES,
    ApprovalTrigger,
    CompletionTrigger,
    NotifyDecl,
    ScheduleTrigger,
    TriggerDecl,
    WebhookTrigger,
    WorkflowEntry,
    check_triggers,
)

__all__ = [
    "PRIORITIES",
    "ConcurrencyConfig",
    "EngineDecl",
    "QueueConfig",
    "QueueDecl",
    "RateLimitDecl",
    "TimeoutsConfig",
    "WorkflowLimit",
    "load_config",
    "parse_priority",
]

PRIORITIES = {"urgent": 0, "normal": 50, "batch": 90}
"""Named priority levels; a number works too. Lower runs first; FIFO within a level."""

DEFAULT_CONFIG = "lockstep.yaml"


def parse_priority(value: str | int) -> int:
    """`urgent`, `normal`, `batch` or an integer 0-100 (lower runs first)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower()
        if text in PRIORITIES:
            return PRIORITIES[text]
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(
                f"invalid priority {value!r}: use urgent, normal, batch or a number 0-100"
            ) from None
    if not 0 <= number <= 100:
        raise ConfigError(f"invalid priority {value!r}: a number must be between 0 and 100")
    return number


def _duration(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
Priority = Annotated[int, BeforeValidator(lambda v: parse_priority(v))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RetryDecl(_Strict):
    max_retries: int = Field(default=3, ge=0)
    """Retries after the first attempt; then the job goes to the dead-letter queue."""
    base_delay: Duration = 2.0
    """First backoff; doubled per attempt, with jitter."""
    max_delay: Duration = 300.0
    """Longest backoff."""


class QueueDecl(_Strict):
    """One named queue."""

    priority: Priority = PRIORITIES["normal"]
    """Default priority of jobs submitted without one."""
    concurrency_limit: int | None = Field(default=None, ge=1)
    """Jobs of this queue running at once, across every worker and machine."""
    singleton: bool = False
    """One job at a time (a concurrency limit of 1)."""
    max_retries: int | None = Field(default=None, ge=0)
    """Overrides `queue_system.retry.max_retries` for this queue."""

    @property
    def limit(self) -> int | None:
        return 1 if self.singleton else self.concurrency_limit


class QueueSystem(_Strict):
    default_queue: str = "default"
    """Where jobs submitted without a queue go."""
    dead_letter_queue: str = "dead_letters"
    """Where jobs go after their last retry (`lockstep dlq`)."""
    visibility_timeout: Duration = 30.0
    """A worker's lease on a job; its heartbeat renews it, and once it lapses (the worker
    died) another worker takes the job over from its last checkpoint."""
    poll_interval: Duration = 0.2
    """How often an idle worker looks for work."""
    retry: RetryDecl = RetryDecl()
    queues: dict[str, QueueDecl] = Field(default_factory=lambda: {"default": QueueDecl()})

    @model_validator(mode="after")
    def _default_exists(self) -> QueueSystem:
        if self.default_queue not in self.queues:
            raise ValueError(f"default_queue {self.default_queue!r} is not declared in queues")
        if self.dead_letter_queue in self.queues:
            raise ValueError(
                f"dead_letter_queue {self.dead_letter_queue!r} must not be a working queue"
            )
        return self


class WorkflowLimit(_Strict):
    """Jobs of one workflow running at once: `queue` makes the rest wait, `reject` refuses
    submits past the limit."""

    limit: int | None = Field(default=None, ge=1)
    """Jobs of this workflow running at once, across every worker."""
    behavior: Literal["queue", "reject"] = "queue"
    """Past the limit: `queue` (jobs wait) or `reject` (submit refused)."""
    singleton: bool = False
    """One job of this workflow at a time."""

    @property
    def effective(self) -> int | None:
        return 1 if self.singleton else self.limit


class ConcurrencyConfig(_Strict):
    workflows: dict[str, WorkflowLimit] = Field(default_factory=dict)


def _rate(value: Any) -> Any:
    """`10/hour` shorthand → {limit: 10, per: 1h}."""
    if isinstance(value, str) and "/" in value:
        count, _, unit = value.partition("/")
        per = {"second": "1s", "minute": "1m", "hour": "1h", "day": "1d"}.get(unit.strip(), unit)
        return {"limit": count.strip(), "per": per}
    return value


class RateLimitDecl(_Strict):
    """A limit on a named resource, kept in the shared database so it holds across processes.

    `applies_to`: `submit` (refused with a retry-after), `start` (jobs wait to be claimed),
    `call` (acquired inside nodes with `ctx.acquire(name)`), `tokens` (LLM tokens a workflow's
    jobs used; jobs wait once spent)."""

    limit: int = Field(ge=1)
    """How many (jobs, calls or tokens) per window."""
    per: Duration
    """The window."""
    scope: Literal["user", "global", "workflow"] = "global"
    """Counted per submitting user, once for everyone, or per workflow."""
    strategy: Literal["sliding_window", "token_bucket", "leaky_bucket"] = "sliding_window"
    """The algorithm; state lives in the shared database."""
    applies_to: Literal["submit", "start", "call", "tokens"] = "call"
    """What it limits: submits (refused), job starts (wait), named calls in nodes, LLM tokens."""
    workflow: str | None = None
    """Only jobs of this workflow count (submit/start/tokens); None: every workflow."""
    burst: int | None = Field(default=None, ge=1)
    """Bucket capacity: default `limit` for token_bucket, 1 for leaky_bucket (smooth)."""


class TimeoutsConfig(_Strict):
    step_default: Duration | None = None
    """Longest one step may run; checked at the step boundary."""
    steps: dict[str, Duration] = Field(default_factory=dict)
    """Per-state overrides, e.g. `researching: 10m`."""
    workflow_total: Duration | None = None
    """Running time of a job across attempts; time waiting at a human gate does not count."""
    behavior: Literal["fail_gracefully"] = "fail_gracefully"
    """Save state, mark partial artifacts incomplete, end the job `timed_out` (resumable)."""

    def step(self, name: str) -> float | None:
        return self.steps.get(name, self.step_default)


class CancellationConfig(_Strict):
    cleanup_wait: Duration = 30.0
    """How long a cancel waits for running jobs (and children) to stop at a step boundary."""


def _engine(value: Any) -> Any:
    """`engine: temporal` shorthand → {type: temporal}."""
    return {"type": value} if isinstance(value, str) else value


class EngineDecl(_Strict):
    """Which engine runs the jobs: lockstep's own queue (`builtin`) or a Temporal cluster
    (`temporal`, see `lockstep.temporal`). The checkpointer stays the thread's truth either way."""

    type: Literal["builtin", "temporal"] = "builtin"
    """`builtin`: lockstep's queue in the database; `temporal`: a Temporal cluster."""
    address: str = "127.0.0.1:7233"
    """Temporal frontend host:port."""
    namespace: str = "default"
    """Temporal namespace the workflows run in."""
    task_queue_prefix: str = "lockstep-"
    """Each lockstep queue is the Temporal task queue `<prefix><queue>`."""
    heartbeat_timeout: Duration = 30.0
    """An activity's lease: a worker that stops heartbeating for this long lost its step."""
    step_timeout: Duration = 3600.0
    """start_to_close of a step's activity when neither `timeouts:` nor the machine set one."""
    activity_per: Literal["superstep", "run"] = "superstep"
    """`superstep`: one activity per step (its own timeout and retries). `run`: one activity
    runs on to the next gate or the end (fewer round trips; its timeout is 50 times the longest
    step's, and a retry resumes from the last checkpoint)."""


class QueueConfig(_Strict):
    """Everything the queue, its workers and its limits read."""

    engine: Annotated[EngineDecl, BeforeValidator(_engine)] = EngineDecl()
    """`builtin` or `temporal` (with address and namespace); `--engine` overrides it."""

    queue_system: QueueSystem = QueueSystem()
    concurrency: ConcurrencyConfig = ConcurrencyConfig()
    rate_limits: dict[str, Annotated[RateLimitDecl, BeforeValidator(_rate)]] = Field(
        default_factory=dict
    )
    timeouts: TimeoutsConfig = TimeoutsConfig()
    cancellation: CancellationConfig = CancellationConfig()
    workflows: dict[str, WorkflowEntry] = Field(default_factory=dict)
    """Extra workflows by name → importable module (MACHINE, build_graph, check_inputs), and
    `notify:` targets for any workflow."""
    triggers: dict[str, TriggerDecl] = Field(default_factory=dict)
    """Webhooks, schedules, human approvals and completion chains, by name."""
    source: str | None = Field(default=None, exclude=True)

    def queue(self, name: str | None) -> tuple[str, QueueDecl]:
        """The named queue (default when None); an unknown name lists the declared ones."""
        qname = name or self.queue_system.default_queue
        if qname not in self.queue_system.queues:
            known = ", ".join(sorted(self.queue_system.queues))
            raise ConfigError(f"unknown queue {qname!r}: declared queues are {known}")
        return qname, self.queue_system.queues[qname]

    def max_retries(self, queue: str) -> int:
        decl = self.queue_system.queues.get(queue)
        if decl is not None and decl.max_retries is not None:
            return decl.max_retries
        return self.queue_system.retry.max_retries

    def limits(self, applies_to: str) -> dict[str, RateLimitDecl]:
        return {n: r for n, r in self.rate_limits.items() if r.applies_to == applies_to}

    # -- triggers --------------------------------------------------------------------------

    def schedules(self) -> dict[str, ScheduleTrigger]:
        return {n: t for n, t in self.triggers.items() if isinstance(t, ScheduleTrigger)}

    def hook(self, name: str) -> WebhookTrigger | ApprovalTrigger | None:
        """The trigger served at `POST /hooks/<name>`: a webhook, or an approval with a
        secret."""
        trigger = self.triggers.get(name)
        if isinstance(trigger, WebhookTrigger):
            return trigger
        if isinstance(trigger, ApprovalTrigger) and trigger.secret_env:
            return trigger
        return None

    def approvals(self) -> dict[str, ApprovalTrigger]:
        return {n: t for n, t in self.triggers.items() if isinstance(t, ApprovalTrigger)}

    def completions(self, workflow: str) -> dict[str, CompletionTrigger]:
        return {
            n: t
            for n, t in self.triggers.items()
            if isinstance(t, CompletionTrigger) and t.workflow == workflow
        }

    def notify(self, workflow: str) -> list[NotifyDecl]:
        decl = self.workflows.get(workflow)
        return list(decl.notify) if decl is not None else []

    def reacts_to(self, workflow: str) -> bool:
        """Whether a job of `workflow` ending fires a completion trigger or a notification."""
        return bool(self.completions(workflow) or self.notify(workflow))


def _strip_lines(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _strip_lines(v) for k, v in node.items() if k != "__line__"}
    if isinstance(node, list):
        return [_strip_lines(v) for v in node]
    return node


def _line_of(raw: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest mapping on the error's path."""
    line = raw.get("__line__") if isinstance(raw, Mapping) else None
    node = raw
    for key in loc:
        in_list = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if in_list or (isinstance(node, Mapping) and key in node):
            node = node[key]
        else:
            break
        if isinstance(node, Mapping) and node.get("__line__"):
            line = node["__line__"]
    return line if isinstance(line, int) else None


def parse_config(text: str, source: str) -> QueueConfig:
    """Parse YAML text into a QueueConfig; problems become one ConfigError naming the line."""
    raw = load_yaml(text, source) if text.strip() else {}
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the configuration must be a mapping")
    try:
        config = QueueConfig.model_validate({**_strip_lines(raw), "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = _line_of(raw, loc)
        where = f"{source}:{line}" if line else source
        path = ".".join(
            str(p)
            for i, p in enumerate(loc)
            if not str(p).startswith("function-")
            and not (i == 2 and loc[0] == "triggers" and p in TRIGGER_TYPES)
        )
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {path}: {msg}" if path else f"{where}: {msg}") from None
    for name in config.concurrency.workflows:
        _known_workflow(name, config, source)
    for name, limit in config.rate_limits.items():
        if limit.workflow is not None:
            _known_workflow(limit.workflow, config, f"{source}: rate limit {name!r}")
    for name, decl in config.workflows.items():
        if decl.module is None:  # notify: for a shipped workflow
            from lockstep.graphs import WORKFLOWS

            if name not in WORKFLOWS:
                line = _line_of(raw, ("workflows", name))
                raise ConfigError(
                    f"{source}:{line}: workflow {name!r} has no module and is not a shipped "
                    f"workflow ({', '.join(sorted(WORKFLOWS))}): add module: <importable name>"
                )

    for name, decl in config.workflows.items():
        _check_notify_events(name, decl.notify, _machine_of(name, config), raw, source)

    def trigger_at(name: str) -> str:
        line = _line_of(raw, ("triggers", name))
        return f"{source}:{line}" if line else source

    check_triggers(
        config.triggers,
        known=lambda workflow, at: _known_workflow(workflow, config, at),
        machine=lambda workflow: _machine_of(workflow, config),
        queues=config.queue,
        where=trigger_at,
    )
    return config


def _check_notify_events(
    name: str, targets: list[NotifyDecl], machine: Machine | None, raw: Any, source: str
) -> None:
    """Every event a `notify:` target names is a job end or one the machine announces (its
    `notify` entry/exit actions, `session_expired`), so a typo is an error at load."""
    if machine is None:
        return
    known = [*JOB_EVENTS, *notify_events(machine)]
    for i, target in enumerate(targets):
        for event in target.events:
            if event in known:
                continue
            line = _line_of(raw, ("workflows", name, "notify", i)) or _line_of(
                raw, ("workflows", name)
            )
            close = difflib.get_close_matches(event, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{source}:{line}: workflow {name!r}: notify event {event!r} is neither a job "
                f"end nor announced by its machine (known: {', '.join(known)}){hint}"
            )


def _machine_of(name: str, config: QueueConfig) -> Machine | None:
    """A workflow's machine, for checks; None when its module cannot be imported yet (the
    registration that follows reports that)."""
    from lockstep.graphs import WORKFLOWS

    decl = config.workflows.get(name)
    module = decl.module if decl is not None and decl.module else WORKFLOWS.get(name)
    if module is None:
        return None
    try:
        machine: Machine = importlib.import_module(module).MACHINE
    except ImportError:
        return None
    return machine


def _known_workflow(name: str, config: QueueConfig, where: str) -> None:
    from lockstep.graphs import WORKFLOWS

    if name not in WORKFLOWS and name not in config.workflows:
        known = ", ".join(sorted({*WORKFLOWS, *config.workflows}))
        raise ConfigError(f"{where}: unknown workflow {name!r}: use one of {known}")


def load_config(path: str | Path | None = None) -> QueueConfig:
    """`path`, else `$LOCKSTEP_CONFIG`, else `./lockstep.yaml` if present, else the defaults.
    Registers the config's extra workflows."""
    from lockstep.graphs import register_workflow

    explicit = path or os.environ.get("LOCKSTEP_CONFIG")
    candidate = Path(explicit) if explicit else Path(DEFAULT_CONFIG)
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"configuration file {candidate} does not exist")
        return QueueConfig()
    try:
        text = candidate.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {candidate}: {exc.strerror}") from None
    config = parse_config(text, str(candidate))
    for name, decl in config.workflows.items():
        if decl.module:
            register_workflow(name, decl.module)
    return config
