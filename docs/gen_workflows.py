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
from lockstep.machine import Machine, to_mermaid
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
    parts = [INTRO]
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
