"""The LangGraph SDK's protocol on `lockstep serve`, under `/langgraph`: the Agent Protocol
subset `langgraph_sdk` (and the Agent Chat UI and Studio on top of it) uses, so
`get_client(url="http://host:8000/langgraph", api_key=KEY)` drives lockstep's workflows.

- **Assistants**: one per workflow, `graph_id` = the workflow's name (search, get, graph,
  schemas). They are the shipped and registered workflows; none are created or stored.
- **Threads**: create, get, search, state (also at a checkpoint) and history. A protocol
  thread ID is a lockstep thread ID; the thread's workflow is fixed by its first run.
- **Runs**: `runs.create` (background), `runs.wait`, `runs.stream` (`values`, `updates`),
  `get`, `list`, `join`, `cancel`; a `Command` resume (`{"resume": {"decision": ...,
  "comment": ...}}`) answers the thread's gate. A thread at a gate shows its pending
  interrupt in `tasks[..].interrupts` and `interrupts`, and a run's output ends with
  `__interrupt__`, as LangGraph's server does.

**Where runs run.** A background run (`runs.create`) is a job on lockstep's queue: it gets
the queue's priorities, limits, retries and leases, and a `lockstep worker` runs it (the
server never does), so it survives the server. `runs.wait` and `runs.stream` run in the
server, as the LangServe endpoints do: their caller holds the connection open for the result,
the steps stream live from the graph, and no worker needs to be up. A thread a job already
runs is always continued through the queue (as the REST API's gate answer does); then
`wait`/`stream` follow the job and report where it stopped. An in-server run finishes even if
its caller goes away; `cancel` stops it only from the server process that runs it.

**Auth** is the REST API's: the key in `Authorization: Bearer` or `x-api-key` (the SDK's
header); submitters start runs, approvers answer gates, a thread of another user is unknown
(404) through every route. The deciding user is the key's (a `by` in the resume is ignored).

Not offered: assistant versions and edits, thread copy/delete/update_state, crons, the store,
`multitask_strategy` other than `reject` (a run while another is in progress is a 409).
"""

from __future__ import annotations

from fastapi import APIRouter

from lockstep.server.protocol.routes import router as _threads
from lockstep.server.protocol.runs import router as _runs

__all__ = ["PREFIX", "router"]

PREFIX = "/langgraph"
"""Where the protocol lives (`/threads` is the REST API's): the SDK's `url`."""

router = APIRouter(prefix=PREFIX)
router.include_router(_threads)
router.include_router(_runs)
