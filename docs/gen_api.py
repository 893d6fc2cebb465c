"""Write docs/API.md from the server's OpenAPI document, so it lists what the code serves.

python docs/gen_api.py          # rewrite the page
python docs/gen_api.py --check  # exit 1 if the page is stale (run by the tests)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from lockstep.server import create_app

PAGE = Path(__file__).with_name("API.md")

INTRO = """\
# Server API

Generated from `/openapi.json` by `docs/gen_api.py` (`make docs`); a test fails when this page
and the code disagree. Start the server with `lockstep serve`; the live, browsable version of
this document is at `/docs`. Every route but `/healthz`, `/readyz`, `/ui/config`, the web
page itself (`/`, `/ui/static/*`) and the webhooks (`/hooks/{name}`, HMAC-signed instead: see
the README's Triggers section) needs `Authorization: Bearer <key>` (`lockstep keys create`).
The README has a curl example per route.
"""


def render() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        spec = create_app(f"sqlite:///{Path(tmp) / 'docs.db'}").openapi()
    rows = ["| method | path | what it does |", "|---|---|---|"]
    langserve = set()
    for path, ops in sorted(spec["paths"].items()):
        if path.startswith("/langserve/"):
            langserve.add(path.split("/")[2])
            continue
        for method, op in ops.items():
            summary = (op.get("description") or op.get("summary") or "").splitlines()[0]
            rows.append(f"| {method.upper()} | `{path}` | {summary} |")
    endpoints = ", ".join(f"`/langserve/{name}`" for name in sorted(langserve))
    lines = [
        INTRO,
        "## REST",
        "",
        *rows,
        "",
        "## LangServe",
        "",
        f"One endpoint per workflow: {endpoints}, each with `invoke`, `batch`, `stream`,",
        "`stream_events`, `input_schema`, `output_schema` and `playground`. The input is the",
        'workflow\'s inputs or `{"resume": {"decision": ..., "comment": ...}}`; the thread ID',
        "goes in `config.configurable.thread_id`.",
        "",
        *errors_section(spec),
    ]
    return "\n".join(lines)


def errors_section(spec: dict[str, Any]) -> list[str]:
    """The error body, the statuses routes answer with, and the ID syntax, from the spec."""
    from lockstep.ids import ID_MAX, ID_PATTERN

    error = spec["components"]["schemas"]["Error"]
    fields = ", ".join(f"`{name}`" for name in error["properties"])
    statuses: dict[str, str] = {}
    for ops in spec["paths"].values():
        for op in ops.values():
            for code, response in op.get("responses", {}).items():
                if code[0] in "45":
                    statuses.setdefault(code, response.get("description", ""))
    rows = [f"| {code} | {statuses[code]} |" for code in sorted(statuses)]
    return [
        "## Errors and IDs",
        "",
        f"Every refusal has one JSON body, the `Error` schema ({fields}): `detail` is one",
        "line saying what was refused and why, `error` the kind, and validation errors add",
        "`errors` (`loc`, `msg`, `type` per problem; the refused input is never echoed);",
        '`/readyz` answers `{"ok": false}` instead. The statuses:',
        "",
        "| status | meaning |",
        "|---|---|",
        *rows,
        "",
        "Something the caller may not see (another user's thread, job or artifact) is answered",
        "exactly as something that does not exist: 404, the same body.",
        "",
        f"Thread, job and artifact IDs match `{ID_PATTERN}` and have at most {ID_MAX}",
        "characters (letters, digits, `_` and `-`, single dots between them); artifact versions",
        "are `ID@N` with 1 <= N <= 2^31-1. Anything else is refused with 422. Trigger names",
        "come from the operator's configuration.",
        "",
    ]


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if PAGE.exists() and PAGE.read_text() == text else 1)
    PAGE.write_text(text)
