"""`lockstep keys`: API keys for the server (only their hashes are stored)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from lockstep.cli.common import (
    DbOption,
    JsonOption,
    PlainTable,
    err,
    error_boundary,
    out,
)

keys_app = typer.Typer(help="API keys for `lockstep serve` (only their hashes are stored).")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="Who the key belongs to.")],
    roles: Annotated[
        str, typer.Option(help="Comma-separated: submitter, approver, operator, admin.")
    ] = "submitter",
    db: DbOption = None,
) -> None:
    """Create a key and print it once."""
    from lockstep.db import Database
    from lockstep.server.auth import create_key

    with error_boundary():
        database = Database(db)
        key_id, key = create_key(database, user, [r.strip() for r in roles.split(",") if r.strip()])
        database.close()
    err.print(f"key {key_id} for {escape(user)} ({escape(roles)}); it is shown only now:")
    out.print(key)


@keys_app.command("list")
def keys_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every key: id, user, roles, created, revoked."""
    from lockstep.db import Database
    from lockstep.server.auth import list_keys

    with error_boundary():
        database = Database(db)
        rows = list_keys(database)
        database.close()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = PlainTable("id", "user", "roles", "created", "revoked")
    for r in rows:
        table.add_row(
            r["id"], r["user_name"], r["roles"], r["created_at"][:19], (r["revoked_at"] or "")[:19]
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID")], db: DbOption = None
) -> None:
    """Revoke a key: it stops working at once."""
    from lockstep.db import Database
    from lockstep.server.auth import revoke_key

    with error_boundary():
        database = Database(db)
        revoke_key(database, key_id)
        database.close()
    out.print(f"revoked {key_id}")
