"""lockstep: LangGraph agent graphs as production workflows.

Each step is explicit and checkpointed, transitions are guarded, people approve at gates,
runs resume by thread ID after a crash, and every output is a versioned artifact.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockstep.agents.models import get_chat_model
    from lockstep.agents.offline import OfflineChatModel
    from lockstep.artifacts.store import Artifact, ArtifactStore, BlobStore
    from lockstep.checkpointers import open_async_checkpointer, open_checkpointer
    from lockstep.client import Lockstep
    from lockstep.db import Database
    from lockstep.errors import (
        ArtifactError,
        ConfigError,
        InvalidDecision,
        LockstepError,
        MachineError,
        SourcesError,
        StorageError,
        ThreadNotFound,
        ThreadStateError,
        TriggerError,
    )
    from lockstep.graphs import workflow_machine
    from lockstep.machine import (
        Machine,
        check_machine,
        compile_machine,
        load_machine,
        to_mermaid,
        to_svg,
        write_png,
    )
    from lockstep.nodes.context import RunContext
    from lockstep.queue.config import QueueConfig, load_config
    from lockstep.queue.store import Job, JobQueue
    from lockstep.queue.worker import Worker
    from lockstep.research.citations import VerificationReport, verify
    from lockstep.state.machine import ArtifactRef, MachineState
    from lockstep.threads import ThreadStatus
    from lockstep.triggers.scheduler import Scheduler

_HOMES = {
    "Artifact": "lockstep.artifacts.store",
    "ArtifactError": "lockstep.errors",
    "ArtifactRef": "lockstep.state.machine",
    "ArtifactStore": "lockstep.artifacts.store",
    "BlobStore": "lockstep.artifacts.store",
    "ConfigError": "lockstep.errors",
    "Database": "lockstep.db",
    "InvalidDecision": "lockstep.errors",
    "Job": "lockstep.queue.store",
    "JobQueue": "lockstep.queue.store",
    "Lockstep": "lockstep.client",
    "LockstepError": "lockstep.errors",
    "Machine": "lockstep.machine",
    "MachineError": "lockstep.errors",
    "MachineState": "lockstep.state.machine",
    "OfflineChatModel": "lockstep.agents.offline",
    "QueueConfig": "lockstep.queue.config",
    "RunContext": "lockstep.nodes.context",
    "Scheduler": "lockstep.triggers.scheduler",
    "SourcesError": "lockstep.errors",
    "StorageError": "lockstep.errors",
    "ThreadNotFound": "lockstep.errors",
    "ThreadStateError": "lockstep.errors",
    "ThreadStatus": "lockstep.threads",
    "TriggerError": "lockstep.errors",
    "VerificationReport": "lockstep.research.citations",
    "Worker": "lockstep.queue.worker",
    "check_machine": "lockstep.machine",
    "compile_machine": "lockstep.machine",
    "get_chat_model": "lockstep.agents.models",
    "load_config": "lockstep.queue.config",
    "load_machine": "lockstep.machine",
    "open_async_checkpointer": "lockstep.checkpointers",
    "open_checkpointer": "lockstep.checkpointers",
    "to_mermaid": "lockstep.machine",
    "to_svg": "lockstep.machine",
    "verify": "lockstep.research.citations",
    "workflow_machine": "lockstep.graphs",
    "write_png": "lockstep.machine",
}
"""Where each public name lives; imported on first use (PEP 562), so that `lockstep --help`
and `import lockstep.errors` do not pay for LangGraph."""
_WIRING = ("lockstep.queue", "lockstep.triggers")
"""Imported with the first public name: the layers above the client register their hooks
(the queue behind `Lockstep.queue`, completion chains and notifications at job ends)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lockstep' has no attribute {name!r}")
    for module in _WIRING:
        importlib.import_module(module)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "ArtifactError",
    "ArtifactRef",
    "ArtifactStore",
    "BlobStore",
    "ConfigError",
    "Database",
    "InvalidDecision",
    "Job",
    "JobQueue",
    "Lockstep",
    "LockstepError",
    "Machine",
    "MachineError",
    "MachineState",
    "OfflineChatModel",
    "QueueConfig",
    "RunContext",
    "Scheduler",
    "SourcesError",
    "StorageError",
    "ThreadNotFound",
    "ThreadStateError",
    "ThreadStatus",
    "TriggerError",
    "VerificationReport",
    "Worker",
    "__version__",
    "check_machine",
    "compile_machine",
    "get_chat_model",
    "load_config",
    "load_machine",
    "open_async_checkpointer",
    "open_checkpointer",
    "to_mermaid",
    "to_svg",
    "verify",
    "workflow_machine",
    "write_png",
]
