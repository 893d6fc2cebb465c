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
