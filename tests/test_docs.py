"""The documentation generated from code is current."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_workflows_page_matches_the_declarations() -> None:
    proc = subprocess.run(
        [sys.executable, "docs/gen_workflows.py", "--check"], cwd=ROOT, capture_output=True
    )
    assert proc.returncode == 0, "docs/WORKFLOWS.md is stale: run `make docs`"


def test_api_page_matches_the_server() -> None:
    proc = subprocess.run(
        [sys.executable, "docs/gen_api.py", "--check"], cwd=ROOT, capture_output=True
    )
    assert proc.returncode == 0, "docs/API.md is stale: run `make docs`"


def _declaration_section() -> str:
    page = (ROOT / "docs" / "WORKFLOWS.md").read_text()
    start = page.index("## Declaration format")
    end = page.index("\n## ", start + 1)
    return page[start:end]


def _keys(node: object, where: str, found: dict[str, set[str]]) -> None:
    """Collect the keys the example uses, by what they belong to."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.setdefault(where, set()).add(str(key))
            if key == "states":
                for body in (value or {}).values():
                    _keys(body, "state", found)
            elif key == "transitions":
                for item in value or []:
                    _keys(item, "transition", found)
            elif key == "timeouts":
                _keys(value, "timeouts", found)


def test_declaration_format_documents_and_exemplifies_every_key() -> None:
    """Every key the loader accepts (its own tables) has a row in the section and is used in
    one of its two examples, which load (nested and flat) and pass the static checks."""
    import yaml

    from lockstep.machine import check_machine
    from lockstep.machine.actions import action_names
    from lockstep.machine.loader import (
        MACHINE_KEYS,
        STATE_KEYS,
        TIMEOUT_KEYS,
        TRANSITION_KEYS,
        read_machine,
    )

    section = _declaration_section()
    blocks = section.split("```yaml\n")[1:]
    examples = [block.split("\n```")[0] for block in blocks]
    assert len(examples) == 2
    used: dict[str, set[str]] = {}
    flat = 0
    for text in examples:
        data = yaml.safe_load(text)
        _keys(data, "machine", used)
        flat += isinstance(data.get("transitions"), list)
        machine = read_machine(text)
        assert check_machine(machine, {"draft", "sources"}) == [], machine.name
    assert flat == 1  # one example in each form
    expected = {
        "machine": MACHINE_KEYS,
        "state": STATE_KEYS,
        "transition": ("from", *TRANSITION_KEYS),
        "timeouts": TIMEOUT_KEYS,
    }
    for kind, keys in expected.items():
        for key in keys:
            assert f"| `{key}` |" in section, f"{kind} key {key!r} has no row"
            assert key in used.get(kind, set()), f"{kind} key {key!r} has no example"
    for kind in ("human_gate", "final", "compound", "step"):
        assert f"type: {kind}" in section
    for action in ("log", "notify", "save_artifact"):
        assert action in action_names() and f"| `{action}` |" in section
        assert f"{action}" in "".join(examples)
