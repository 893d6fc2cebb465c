"""Shared fixtures: a fresh database per test on SQLite and on a real PostgreSQL server.

Postgres tests read LOCKSTEP_TEST_POSTGRES_URL (set by .ci/run) and skip only when it is unset.
Each test gets its own database, created and dropped here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "examples" / "corpus"
PG_URL = os.environ.get("LOCKSTEP_TEST_POSTGRES_URL")


def _pg_admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lockstep.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database; artifact content goes to its own `lockstep_blobs` table, as in
    production (no blob folder)."""
    if not PG_URL:
        pytest.skip("LOCKSTEP_TEST_POSTGRES_URL is not set")
    name = f"lockstep_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin(PG_URL) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin(PG_URL) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database URL: parametrised over SQLite and PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def corpus() -> Path:
    assert any(CORPUS.iterdir()), "examples/corpus is empty"
    return CORPUS
