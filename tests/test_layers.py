"""The package's shape: no import cycles, and the public API is what we meant it to be.

The layers themselves (imports point down the stack) are import-linter's contract in
pyproject.toml, checked by `lint-imports` in `make test`.
"""

from __future__ import annotations

import grimp

import lockstep

PUBLIC = {
    "Artifact", "ArtifactError", "ArtifactRef", "ArtifactStore", "BlobStore", "ConfigError",
    "Database", "InvalidDecision", "Job", "JobQueue", "Lockstep", "LockstepError", "Machine",
    "MachineError", "MachineState", "OfflineChatModel", "QueueConfig", "RunContext",
    "Scheduler", "SourcesError", "StorageError", "ThreadNotFound", "ThreadStateError",
    "ThreadStatus", "TriggerError", "VerificationReport", "Worker", "__version__",
    "check_machine", "compile_machine", "get_chat_model", "load_config", "load_machine",
    "open_async_checkpointer", "open_checkpointer", "to_mermaid", "to_svg", "verify",
    "workflow_machine", "write_png",
}  # fmt: skip


def test_no_import_cycles() -> None:
    """No module reaches itself through its imports (type-checking imports included)."""
    graph = grimp.build_graph("lockstep", exclude_type_checking_imports=False)
    cycles = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert cycles == []


def test_public_api_is_pinned() -> None:
    """A change to `lockstep.__all__` is deliberate: it fails here until this list follows."""
    assert set(lockstep.__all__) == PUBLIC
    assert all(hasattr(lockstep, name) for name in lockstep.__all__)


def test_every_cli_command_is_registered_once() -> None:
    """Each command lives in one family module: a name registered twice shadows one of them."""
    from lockstep.cli import app

    names = [
        command.name or (command.callback.__name__ if command.callback else "")
        for group in (
            app,
            *(info.typer_instance for info in app.registered_groups if not info.name),
        )
        for command in group.registered_commands
    ]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
