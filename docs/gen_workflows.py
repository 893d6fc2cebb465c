"""Write docs/WORKFLOWS.md from the workflow declarations, so the page cannot drift from them.

python docs/gen_workflows.py          # rewrite the page
python docs/gen_workflows.py --check  # exit 1 if the page is stale (run by the tests)
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, get_args, get_origin

from pydantic import BaseModel

from lockstep.artifacts.store import Artifact
from lockstep.graphs import WORKFLOWS, workflow_machine
from lockstep.machine import Machine, check_machine, to_mermaid
from lockstep.machine.actions import action_names
from lockstep.machine.loader import (
    MACHINE_KEYS,
    STATE_KEYS,
    TIMEOUT_KEYS,
    TRANSITION_KEYS,
    read_machine,
)
from lockstep.queue.config import QueueConfig

PAGE = Path(__file__).with_name("WORKFLOWS.md")
ROOT = Path(__file__).resolve().parents[1]

INTRO = """\
# Workflows

Generated from the declarations by `docs/gen_workflows.py` (`make docs`); a test fails when
this page and the YAML disagree. Each workflow is a state machine declared once in
`lockstep/graphs/<name>.yaml`, compiled into a LangGraph `StateGraph`, checked statically and
drawn from the same data.

## Checkpoints

Every step is one LangGraph superstep, run with `durability="sync"`: its checkpoint is on disk
before the next step starts, so a crash loses at most the step in flight and `resume` re-runs
only that step. A state that does its work in several steps loops on itself with a progress
event (`batch_gathered`, `model_turn`, `tool_called`, `section_written`), and each of those
steps is a checkpoint. A human gate is an `interrupt()`: its checkpoint holds the pending
payload until a decision arrives, from any process. State holds `ArtifactRef(id, version,
sha256)`, never documents (the research agent's transcript is the one exception, its tool
results cut to 2,500 characters each), so checkpoints stay small (see BENCHMARKS.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


NESTED_EXAMPLE = """\
# The nested form (the design's): each state holds its own transitions.
name: report
description: Gather sources, write a report in two parts, have a person approve it.
initial: requested
error_state: failed                # an event with no transition goes here, reason in `error`
counters:                          # guard counters: name -> what it counts
  revisions: drafts sent back by the reviewer
timeouts:
  session: 72h                     # wall-clock bound of a run, waiting for people included

states:
  requested:
    type: step                     # the default: a node function raises the next event
    description: Check the request.
    on_enter: [log]                # built-in action, by name
    transitions:
      - {event: valid, target: researching}
      - {event: invalid, target: rejected}

  researching:                     # compound: it has substates (type may be left out)
    type: compound
    description: Search, then extract quotes.
    initial: searching             # the substate a transition into `researching` enters
    timeout: 10m                   # the step's time limit (checked by the step, or a TimeoutPolicy)
    on_exit:
      - log: {message: research done}    # an action with arguments
    transitions:                   # declared on the parent: they apply from every substate
      - {event: timeout, target: review}
      - {event: cancel, target: cancelled}
    states:
      searching:
        checkpoint: false          # folded into the next checkpoint: a crash repeats it
        transitions:
          - {event: found, target: extracting}
      extracting:
        checkpoint_frequency: every_5_sources   # a count (per_section, every_N_<unit>) ...
        transitions:
          - {event: batch_done, target: extracting}   # a progress self-loop
          - {event: extracted, target: writing}

  writing:
    description: Write the body and the summary in parallel, then join them.
    branches: [body, summary]      # parallel node functions `writing.body`, `writing.summary`
    checkpoint_frequency: every_5_minutes       # ... or a time, for long agent states
    at_boundaries: [part_written]  # these progress events checkpoint; others are folded
    on_exit:
      - save_artifact: {key: draft, name: draft}   # a state value saved as an artifact
    transitions:
      - {event: part_written, target: writing}
      - {event: written, target: review}

  review:
    type: human_gate               # interrupt(): the decisions are its transitions' events
    description: Approve, send back with a comment, add a sources folder, or abandon.
    timeout: 2d                    # the gate's deadline (swept: `timeout` decision if declared)
    timeouts:
      session: 7d                  # this state's own session bound (people are slow)
    comment_required: [revise]     # decisions that need a comment
    requires:
      add_sources: [sources]       # decisions that need extra answer fields
    on_enter:
      - notify: {event: review_needed}   # through the notify outbox (see `notify:` below)
    transitions:
      - {event: approve, guard: draft, target: done}
      - {event: revise, guard: revisions < 3, target: writing, increment: revisions}
      - {event: revise, guard: revisions >= 3, target: cancelled}
      - {event: add_sources, target: researching}
      - {event: abandon, target: cancelled}
      - {event: timeout, target: cancelled}

  done: {type: final}
  rejected: {type: final}
  cancelled: {type: final}
  failed: {type: final}
"""

FLAT_EXAMPLE = """\
# The flat form: one top-level list of transitions, each naming its source with `from`.
name: approve_once
description: Do the work, then ask a person.
initial: working
error_state: failed
counters:
  rounds: times the work was sent back
states:
  working:
    description: One unit of work per step.
  review:
    type: human_gate
    comment_required: [rework]
  done: {type: final}
  failed: {type: final}
transitions:
  - {from: working, event: step_done, target: working}
  - {from: working, event: finished, target: review}
  - {from: review, event: approve, target: done}
  - {from: review, event: rework, guard: rounds < 2, target: working, increment: rounds}
"""

EXAMPLE_FIELDS = {"draft", "sources"}
"""State fields the examples' guards read (besides counters)."""

KEY_DOCS: dict[str, dict[str, str]] = {
    "machine": {
        "name": "The workflow's name (graph name, diagram title).",
        "description": "What the workflow does (this page, `lockstep check`).",
        "initial": "The state a run starts in (a compound's `initial` substate is entered).",
        "error_state": "Where an event with no matching transition goes, with the reason.",
        "counters": "Guard counters, `name: what it counts`; transitions `increment` them.",
        "timeouts": "`session:` the wall-clock bound of a run, waiting for people included.",
        "states": "The states, by name (nested form: each with its transitions).",
        "transitions": "Flat form: every transition, each with `from`.",
    },
    "state": {
        "type": "`step` (default), `human_gate`, `final`, or `compound` (implied by `states`).",
        "description": "What happens there (gate payloads, diagrams, this page).",
        "timeout": "A step's time limit or a gate's deadline (`30s`, `10m`, `2h`, `2d`).",
        "timeouts": "`session:` overrides the machine's session bound while in this state.",
        "transitions": "Nested form: this state's transitions; on a compound, from every substate.",
        "on_enter": "Actions run once per entry (journaled; exactly once across crashes).",
        "on_exit": "Actions run once per exit.",
        "checkpoint": "`false` folds the step's work into the next checkpoint.",
        "checkpoint_frequency": "`per_<unit>`, `every_<n>_<unit>` (progress steps per "
        "checkpoint) or `every_<n>_minutes|seconds|hours`.",
        "at_boundaries": "Progress events that checkpoint; the others are folded.",
        "initial": "A compound state's first substate.",
        "states": "A compound state's substates (named `parent.child`).",
        "comment_required": "A gate's decisions that need a comment.",
        "requires": "A gate's decisions that need extra answer fields: `decision: [field]`.",
        "branches": "Parallel node functions run before the state's own function.",
    },
    "transition": {
        "from": "Flat form only: the source state.",
        "event": "What the node function (or the gate's decision) raised.",
        "target": "The state entered.",
        "guard": "An expression over state fields and counters (`revisions < 3 and draft`).",
        "increment": "Counters (one name or a list) incremented when taken.",
    },
    "timeouts": {"session": "Wall-clock bound, waiting time included (`72h`)."},
}
"""One line per key the loader accepts; `declaration_section` refuses a key missing here."""

ACTION_DOCS = {
    "log": "An audit row and a log line (`message:` optional).",
    "notify": "Queue a notification for the workflow's `notify:` targets (`event:`, default "
    "`enter_<state>` / `exit_<state>`; a target's `events` may name it).",
    "save_artifact": "Save a state value as a versioned artifact (`key:`, `name:`).",
}


def _key_table(kind: str, keys: tuple[str, ...]) -> list[str]:
    docs = KEY_DOCS[kind]
    missing = [k for k in keys if k not in docs]
    if missing:
        raise SystemExit(f"gen_workflows: document the {kind} key(s) {missing} in KEY_DOCS")
    return ["| key | meaning |", "|---|---|", *(f"| `{k}` | {_cell(docs[k])} |" for k in keys)]


def declaration_section() -> str:
    """The declaration format, from the loader's own key tables: every key it accepts, and two
    examples (nested and flat) that load and pass the static checks."""
    for text in (NESTED_EXAMPLE, FLAT_EXAMPLE):
        machine = read_machine(text)
        problems = check_machine(machine, EXAMPLE_FIELDS)
        if problems:
            raise SystemExit(f"gen_workflows: example {machine.name!r}: {problems}")
    builtin = [a for a in action_names() if a in ACTION_DOCS]
    out = [
        "## Declaration format",
        "",
        "A machine is YAML in either of two forms that load into the same `Machine`: **nested**",
        "(each state holds its `transitions`) or **flat** (one top-level `transitions` list",
        "whose items name their source with `from`). The loader is strict: an unknown key is an",
        "error naming file:line and the closest known key, and `lockstep check FILE.yaml` prints",
        "every problem of the loader and the static checks at once (`--json` for tools).",
        "Durations are seconds or `500ms`, `30s`, `10m`, `2h`, `2d`.",
        "",
        "### Machine keys",
        "",
        *_key_table("machine", MACHINE_KEYS),
        "",
        "### State keys",
        "",
        *_key_table("state", STATE_KEYS),
        "",
        "### Transition keys",
        "",
        *_key_table("transition", ("from", *TRANSITION_KEYS)),
        "",
        "### `timeouts` keys (machine or state)",
        "",
        *_key_table("timeouts", TIMEOUT_KEYS),
        "",
        "### Actions (`on_enter`, `on_exit`)",
        "",
        "An action is a name (`log`) or `{name: {arg: value}}`. Built in:",
        "",
        "| action | what it does |",
        "|---|---|",
        *(f"| `{a}` | {_cell(ACTION_DOCS[a])} |" for a in builtin),
        "",
        "Others are callables registered with `lockstep.machine.register_action(name, fn)`.",
        "",
        "### Nested form, every key",
        "",
        "```yaml",
        NESTED_EXAMPLE.rstrip(),
        "```",
        "",
        "### Flat form",
        "",
        "```yaml",
        FLAT_EXAMPLE.rstrip(),
        "```",
    ]
    return "\n".join(out) + "\n"


def machine_section(machine: Machine) -> str:
    out = [f"## `{machine.name}`", ""]
    if machine.description:
        out += [machine.description.strip(), ""]
    out += [
        f"Initial state `{machine.initial}`; unexpected events go to `{machine.error_state}`.",
        "",
    ]
    out += ["```mermaid", to_mermaid(machine).rstrip(), "```", ""]
    out += ["| state | kind | timeout | what happens |", "|---|---|---|---|"]
    for state in machine.states.values():
        kind = {"step": "step", "human_gate": "human gate", "final": "final"}[state.type]
        out.append(
            f"| `{state.name}` | {kind} | {_duration(state.timeout)} | {_cell(state.description)} |"
        )
    out += ["", "| from | event | guard | to | increments |", "|---|---|---|---|---|"]
    for t in machine.transitions:
        guard = f"`{t.guard}`" if t.guard else ""
        inc = ", ".join(t.increment)
        out.append(f"| `{t.source}` | `{t.event}` | {guard} | `{t.target}` | {inc} |")
    gates = [s for s in machine.states.values() if s.type == "human_gate"]
    if gates:
        out += ["", "| gate | decisions | comment required | extra fields |", "|---|---|---|---|"]
        for gate in gates:
            decisions = ", ".join(machine.decisions(gate.name))
            needs = "; ".join(f"{d}: {', '.join(f)}" for d, f in gate.requires.items())
            comments = ", ".join(gate.comment_required)
            out.append(f"| `{gate.name}` | {decisions} | {comments} | {needs} |")
    if machine.counters:
        counters = "; ".join(f"`{name}` ({text})" for name, text in machine.counters.items())
        out += ["", f"Guard counters: {counters}."]
    return "\n".join(out) + "\n"


def artifact_section() -> str:
    out = [
        "## Artifact schema",
        "",
        "Every output is a row in `lockstep_artifacts` (same database as the checkpoints) plus a",
        "content-addressed blob (sha256, verified on every read). Fields of `Artifact`:",
        "",
        "| field | type |",
        "|---|---|",
    ]
    for f in dataclasses.fields(Artifact):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out.append(f"| `{f.name}` | `{_cell(str(kind))}` |")
    return "\n".join(out) + "\n"


def _fields(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        path = f"{prefix}{info.alias or name}"
        kind = info.annotation
        nested = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
        inner = [get_args(x)[0] if get_origin(x) is Annotated else x for x in get_args(kind)]
        args = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        variants = [  # dict[str, A | B]: a tagged union (triggers), one block per type
            a
            for x in inner
            for a in get_args(x)
            if isinstance(a, type) and issubclass(a, BaseModel) and "type" in a.model_fields
        ]
        if nested is not None:
            rows += _fields(nested, f"{path}.")
            continue
        if args:  # dict[str, Decl]: one entry per name; list[Decl]: one per item
            each = "[]" if get_origin(kind) is list else ".<name>"
            rows += _fields(args[0], f"{path}{each}.")
            continue
        if variants:
            for variant in variants:
                tag = get_args(variant.model_fields["type"].annotation)[0]
                rows += _fields(variant, f"{path}.<{tag}>.")
            continue
        default = "" if info.is_required() else repr(info.get_default(call_default_factory=True))
        rows.append(f"| `{path}` | {_cell(default)} | {_cell(info.description or '')} |")
    return rows


def queue_section() -> str:
    example = ROOT / "examples" / "lockstep.yaml"
    out = [
        "## Queue configuration",
        "",
        "`lockstep.yaml` (or `--config`, `LOCKSTEP_CONFIG`) configures the queue, its workers and",
        "limits; `lockstep.queue.config.QueueConfig` parses it and reports errors with file and",
        "line. Durations are seconds or `500ms`, `30s`, `10m`, `2h`, `1d`; rates may be written",
        "`10/hour`. Every key:",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
        *_fields(QueueConfig, ""),
        "",
        "The example in `examples/lockstep.yaml`:",
        "",
        "```yaml",
        example.read_text().rstrip(),
        "```",
    ]
    return "\n".join(out) + "\n"


COURSE = """## The training course (SCORM 1.2)

`exporting` writes one SCORM 1.2 package: `imsmanifest.xml`, one course SCO (`index.html`, with
`scorm.js` and `course.css` from `lockstep/training/static/`) and the four SCORM 1.2 schema files
the manifest is validated against (`lockstep.training.scorm.package_problems`).

- **One SCO for the whole course**, not one per module: SCORM 1.2 has no sequencing or rollup,
  so with several SCOs each LMS decides on its own how their statuses and scores make a course
  result (many report only the last SCO). One SCO gives every LMS one status and one score.
- **The runtime** finds the LMS's `API` through the parent/opener chain, calls `LMSInitialize`,
  greets the learner from `cmi.core.student_name`, keeps the page and the answers in
  `cmi.core.lesson_location` and `cmi.suspend_data` (a later launch resumes there), scores the
  quiz in the page and records `cmi.core.score.raw/min/max`, `lesson_status` passed or failed
  against the mastery score (80), one `cmi.interactions.n` per answer and
  `cmi.core.session_time` (HHHH:MM:SS.SS), then `LMSCommit` and `LMSFinish`.
- **The answer key** is data inside the SCO, never in the manifest. SCORM 1.2 scores in the
  learner's browser, so a determined learner can read it: it is kept out of the LMS's
  catalogue, it is not a secret.
- **Each module** teaches one obligation from the policies (definitions and scope sentences are
  context): the rule, why it exists, an example at work and an unscored practice question. Quiz
  items mix scenarios, true/false and which-of-these; wrong options are misreadings of the
  policies' own rules (another rule, a swapped actor or deadline, a near-miss number).
- **Preview**: `lockstep show THREAD --artifact package --open` unpacks the course beside
  `lms.html`, a one-page LMS running scorm-again's `Scorm12API` as `window.API`; serve that folder
  (`python -m http.server --directory FOLDER`) and open `lms.html`. `tests/test_scorm_runtime.py`
  takes the course in the same page in Chromium, once failing and once passing after a resume.

![The course in the preview LMS: a module's practice question with feedback](training-course.png)
"""


def render() -> str:
    parts = [INTRO, declaration_section()]
    parts += [machine_section(workflow_machine(name)) for name in sorted(WORKFLOWS)]
    parts.append(COURSE)
    parts.append(queue_section())
    parts.append(artifact_section())
    return "\n".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if PAGE.exists() and PAGE.read_text() == text else 1)
    PAGE.write_text(text)
