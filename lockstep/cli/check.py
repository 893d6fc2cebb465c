"""`lockstep check FILE.yaml`: load a machine declaration strictly and run every static check,
printing all problems at once (exit 1), or `ok` (exit 0)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lockstep.cli.common import JsonOption, err, out

app = typer.Typer()


def problems_of(path: Path) -> list[str]:
    """Every problem of the declaration in `path`: the loader's (unknown keys, bad values),
    then the static checks' (unreachable states, dead ends, unknown targets and actions)."""
    from lockstep.errors import ConfigError, MachineError
    from lockstep.machine import check_machine
    from lockstep.machine.loader import machine_problems

    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        machine, problems = machine_problems(path)
    except (ConfigError, MachineError) as exc:
        return [str(exc)]
    found = check_machine(machine) if machine is not None and machine.states else []
    return problems + [p for p in found if p not in problems]


@app.command()
def check(
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="A machine declaration.")],
    as_json: JsonOption = False,
) -> None:
    """Check a workflow's state machine: every unknown key (with the closest known one) and
    every static problem, all at once; exit 1 if there is any."""
    problems = problems_of(file)
    if as_json:
        out.print(json.dumps({"file": str(file), "ok": not problems, "problems": problems}))
    elif problems:
        for problem in problems:
            err.print(problem, markup=False)
        err.print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {file}")
    else:
        out.print(f"{file}: ok", markup=False)
    if problems:
        raise typer.Exit(1)
