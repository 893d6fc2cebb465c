"""Checkpoint policies per state, mapped onto LangGraph supersteps.

LangGraph writes one checkpoint per superstep (with `durability="sync"`, before the next step
starts). lockstep's unit of checkpointing is therefore the superstep, and a policy decides how
many of a state's steps share one: a step that is *folded* runs inside the same LangGraph task
as the step before it, so its work lands in that task's checkpoint and no checkpoint of its
own is written.

- `checkpoint: true` (default): every step is its own superstep and checkpoint.
- `checkpoint: false`: entering the state does not end the superstep; its step runs in the
  task of the step that entered it, and so does every progress step (self-transition) it
  takes. Its work is in the next checkpoint written. A crash before that checkpoint repeats,
  on `resume`, the whole task: the last checkpointed step's work (the step that entered this
  state) and every folded step after it, including their entry/exit actions' claims (which a
  crash rolled back with the task, so they run once in the end) — never anything before the
  last checkpoint.
- `checkpoint_frequency: per_<unit>`: one checkpoint per progress step (the default, named).
- `checkpoint_frequency: every_<n>_<unit>`: `n` progress steps (self-transitions, one `<unit>`
  each: `every_5_sources`) per checkpoint; a crash repeats at most `n` steps.
- `checkpoint_frequency: every_<n>_(seconds|minutes|hours)`: progress steps are folded until
  `n` units of the run's clock have passed since the superstep started (long agent states);
  a crash repeats at most that long.
- `at_boundaries: [event, ...]`: only these progress events end a superstep; the others are
  folded.

Leaving a state for another always ends the superstep (unless the target is `checkpoint:
false`); human gates always do (their `interrupt()` is a checkpoint). Durability stays
`sync` for the whole run: the policy changes how many supersteps there are, never whether a
written checkpoint is durable.
"""

from __future__ import annotations

import re
from datetime import datetime

from lockstep.machine.spec import Machine

__all__ = ["fold_next", "parse_frequency"]

_TIME = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_EVERY = re.compile(r"^every_(\d+)_([a-z][a-z_]*)$")
_PER = re.compile(r"^per_([a-z][a-z_]*)$")


def parse_frequency(text: str) -> tuple[int | None, float | None]:
    """`(steps, None)` for a count, `(None, seconds)` for a time: `per_section` -> (1, None),
    `every_5_sources` -> (5, None), `every_5_minutes` -> (None, 300.0)."""
    if _PER.match(text):
        return 1, None
    match = _EVERY.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"checkpoint_frequency {text!r} is not per_<unit>, every_<n>_<unit> (e.g. "
            "every_5_sources) or every_<n>_minutes|seconds|hours"
        )
    count, unit = int(match.group(1)), match.group(2)
    seconds = _TIME.get(unit.removesuffix("s"))
    return (None, count * seconds) if seconds else (count, None)


def fold_next(
    machine: Machine,
    source: str,
    event: str,
    target: str,
    steps: int,
    started: datetime,
    now: datetime,
) -> bool:
    """Whether the step entering `target` (after `source` raised `event`) runs in the same
    superstep. `steps` counts the steps already run in this superstep."""
    decl = machine.states.get(target)
    if decl is None or decl.type != "step" or decl.branches:
        return False
    policy = decl.policy
    if target != source:
        return not policy.checkpoint
    if not policy.checkpoint:
        return True
    if policy.at_boundaries:
        return event not in policy.at_boundaries
    if policy.every is not None:
        return steps < policy.every
    if policy.seconds is not None:
        return (now - started).total_seconds() < policy.seconds
    return False
