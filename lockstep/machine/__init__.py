"""The state-machine layer: declare a workflow as data, check it, compile it, draw it."""

from lockstep.machine.actions import ActionRun, register_action
from lockstep.machine.check import check_machine
from lockstep.machine.compile import compile_machine, decision_problem, gate_deadline
from lockstep.machine.diagram import to_mermaid, to_svg, write_png
from lockstep.machine.loader import load_machine
from lockstep.machine.spec import (
    ActionCall,
    CheckpointPolicy,
    Machine,
    StateDecl,
    Transition,
    parse_duration,
)

__all__ = [
    "ActionCall",
    "ActionRun",
    "CheckpointPolicy",
    "Machine",
    "StateDecl",
    "Transition",
    "check_machine",
    "compile_machine",
    "decision_problem",
    "gate_deadline",
    "load_machine",
    "parse_duration",
    "register_action",
    "to_mermaid",
    "to_svg",
    "write_png",
]
