"""The workflows lockstep ships, by name. Each module exposes MACHINE, build_graph, graph and
check_inputs."""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.errors import ConfigError
from lockstep.machine.spec import Machine

__all__ = ["WORKFLOWS", "workflow_machine", "workflow_module"]

WORKFLOWS = {"brief": "lockstep.graphs.brief", "training": "lockstep.graphs.training"}


def workflow_module(name: str) -> ModuleType:
    """The module of a named workflow; an unknown name lists the known ones."""
    if name not in WORKFLOWS:
        raise ConfigError(f"unknown workflow {name!r}: use one of {', '.join(sorted(WORKFLOWS))}")
    return importlib.import_module(WORKFLOWS[name])


def workflow_machine(name: str) -> Machine:
    """The state-machine declaration of a named workflow (to draw, check or inspect it)."""
    machine: Machine = workflow_module(name).MACHINE
    return machine
