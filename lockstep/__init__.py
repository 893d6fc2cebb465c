"""lockstep: LangGraph agent graphs as production workflows.

Each step is explicit and checkpointed, transitions are guarded, people approve at gates,
runs resume by thread ID after a crash, and every output is a versioned artifact.
"""

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
