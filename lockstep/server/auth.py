"""API keys and roles: who may call the server, and what they may do.

A key is shown once, at creation; the database keeps only its sha256 (keys are 256-bit
random tokens, so a fast hash is enough — there is nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lockstep.db import Database
from lockstep.errors import ConfigError

__all__ = [
    "ROLES",
    "Principal",
    "authenticate",
    "create_key",
    "list_keys",
    "presented_key",
    "revoke_key",
]

ROLES = ("submitter", "approver", "operator", "admin")
"""submitters run and read their own threads; approvers decide gates; operators run the
recovery modes; admins do everything and see every thread."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: str
    roles: frozenset[str]

    def can(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    def owns(self, owner: str | None) -> bool:
        return "admin" in self.roles or owner == self.user


LOCAL = Principal("local", frozenset({"admin"}))
"""The caller when the server runs with `--no-auth` (loopback only)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: Database, user: str, roles: list[str]) -> tuple[str, str]:
    """Store a new key for `user`; returns (key id, the key itself — shown only now)."""
    if not user.strip():
        raise ConfigError("a key needs a user name")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise ConfigError(
            f"unknown role(s) {', '.join(unknown) or '(none given)'}: use {', '.join(ROLES)}"
        )
    key_id = uuid.uuid4().hex[:12]
    key = f"ls_{secrets.token_urlsafe(32)}"
    db.execute(
        "INSERT INTO lockstep_api_keys (id, user_name, roles, key_hash, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (key_id, user, ",".join(sorted(set(roles))), _hash(key), datetime.now(UTC).isoformat()),
    )
    return key_id, key


def list_keys(db: Database) -> list[dict[str, Any]]:
    return db.query(
        "SELECT id, user_name, roles, created_at, revoked_at FROM lockstep_api_keys"
        " ORDER BY created_at"
    )


def revoke_key(db: Database, key_id: str) -> None:
    if not db.query("SELECT id FROM lockstep_api_keys WHERE id = ?", (key_id,)):
        raise ConfigError(f"unknown key {key_id!r}")
    db.execute(
        "UPDATE lockstep_api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (datetime.now(UTC).isoformat(), key_id),
    )


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: `Authorization: Bearer <key>`, else `x-api-key: <key>`
    (the header the LangGraph SDK sends)."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return headers.get("x-api-key", "").strip() or None


def authenticate(db: Database, key: str) -> Principal | None:
    rows = db.query(
        "SELECT user_name, roles FROM lockstep_api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (_hash(key),),
    )
    if not rows:
        return None
    return Principal(rows[0]["user_name"], frozenset(rows[0]["roles"].split(",")))
