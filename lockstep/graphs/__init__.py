"""The workflows lockstep ships, by name. Each module exposes MACHINE, build_graph, graph and
check_inputs."""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.errors import ConfigError
from lockstep.machine.spec import Machine

__all__ = ["WORKFLOWS", "register_workflow", "workflow_machine", "workflow_module"]

WORKFLOWS = {
    "brief": "lockstep.graphs.brief",
    "training": "lockstep.graphs.training",
    "brief_digest": "lockstep.graphs.brief_digest",
}


def register_workflow(name: str, module: str) -> None:
    """Add a workflow by name: `module` is importable and exposes MACHINE, build_graph and
    check_inputs, like the shipped ones (`workflows:` in lockstep.yaml calls this)."""
    if name in WORKFLOWS and WORKFLOWS[name] != module:
        raise ConfigError(f"workflow {name!r} is already registered as {WORKFLOWS[name]}")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"workflow {name!r}: cannot import module {module!r}: {exc}") from None
    WORKFLOWS[name] = module


def workflow_module(name: str) -> ModuleType:
    """The module of a named workflow; an unknown name lists the known ones."""
    if name not in WORKFLOWS:
        raise ConfigError(
            f"unknown workflow {name!r}: use one of {', '.join(sorted(WORKFLOWS))}, or register "
            f"yours in lockstep.yaml (workflows: {{{name}: your_package.module}}, read with "
            "--config or $LOCKSTEP_CONFIG) or with lockstep.graphs.register_workflow()"
        )
    return importlib.import_module(WORKFLOWS[name])


def workflow_machine(name: str) -> Machine:
    """The state-machine declaration of a named workflow (to draw, check or inspect it)."""
    machine: Machine = workflow_module(name).MACHINE
    return machine
