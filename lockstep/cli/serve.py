"""`lockstep serve`: the HTTP server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from lockstep.cli.common import (
    DbOption,
    err,
    error_boundary,
)
from lockstep.errors import ConfigError
from lockstep.source_limits import default_roots

app = typer.Typer()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Everyone is the local admin (loopback only).")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Let browser pages from this origin call the API (repeatable)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Queue configuration (default: $LOCKSTEP_CONFIG or ./lockstep.yaml)."
        ),
    ] = None,
    sources_root: Annotated[
        list[Path] | None,
        typer.Option(
            help="Only folders under this one may be given as sources (repeatable; sets "
            "LOCKSTEP_SOURCES_ROOTS, which workers should share). Default: the examples folder "
            "and sources/ beside the database."
        ),
    ] = None,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not run the trigger scheduler in-process.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve the REST and jobs API, metrics, a LangServe endpoint per workflow (`/docs` lists
    them), the web page at `/` and signed webhooks at /hooks/NAME. Jobs are run by `lockstep
    worker` processes, not the server; the trigger scheduler runs here unless --no-scheduler."""
    import uvicorn

    from lockstep.server import create_app

    with error_boundary():
        if no_auth and host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"--no-auth binds only to loopback, not {host!r}")
        for root in sources_root or ():
            if not root.is_dir():
                raise ConfigError(f"--sources-root {root} is not a folder")
        if sources_root:
            os.environ["LOCKSTEP_SOURCES_ROOTS"] = os.pathsep.join(str(r) for r in sources_root)
        elif not os.environ.get("LOCKSTEP_SOURCES_ROOTS", "").strip():
            roots = default_roots(db)
            os.environ["LOCKSTEP_SOURCES_ROOTS"] = os.pathsep.join(str(r) for r in roots)
        application = create_app(
            db,
            auth=not no_auth,
            cors_origins=cors_origin or (),
            config=config,
            scheduler=not no_scheduler,
        )

        class Announcing(uvicorn.Server):
            """uvicorn's server, printing its address once its sockets are bound (uvicorn's
            own line is an INFO log, hidden at log level warning)."""

            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                for s in self.servers if self.started else ():
                    for sock in s.sockets:
                        address, bound = sock.getsockname()[:2]
                        shown = f"[{address}]" if ":" in address else address
                        err.print(f"serving on http://{shown}:{bound} (API docs at /docs)")

        Announcing(uvicorn.Config(application, host=host, port=port, log_level="warning")).run()
