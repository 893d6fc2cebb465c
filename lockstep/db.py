"""One database URL for everything: `sqlite:///path` (embedded default) or `postgresql://...`.

The same URL opens LangGraph's checkpointer (see `lockstep.checkpointers`) and lockstep's own
tables (threads, artifacts, audit log), created by an append-only list of migrations.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lockstep.errors import ConfigError, StorageError
from lockstep.migrations import MIGRATIONS, statements

__all__ = ["DEFAULT_URL", "Database", "DatabaseURL", "parse_url", "resolve_url"]

DEFAULT_URL = "sqlite:///.lockstep/lockstep.db"
BUSY_TIMEOUT_S = 30.0
"""SQLite waits this long for another process's write lock instead of 'database is locked'."""

@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL."""

    url: str
    dialect: Literal["sqlite", "postgres"]
    path: Path | None = None

    @property
    def blob_dir(self) -> Path:
        """Where content blobs live: `LOCKSTEP_BLOB_DIR`, else beside the SQLite file."""
        env = os.environ.get("LOCKSTEP_BLOB_DIR")
        if env:
            return Path(env)
        if self.path is not None:
            return self.path.parent / "blobs"
        return Path(".lockstep/blobs")


def resolve_url(url: str | None = None) -> str:
    """Explicit URL, else `LOCKSTEP_DATABASE_URL`, else the embedded default."""
    return url or os.environ.get("LOCKSTEP_DATABASE_URL") or DEFAULT_URL


def parse_url(url: str) -> DatabaseURL:
    """Parse `sqlite:///relative`, `sqlite:////absolute` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        if not rest or rest == ":memory:":
            raise ConfigError(f"database URL {url!r} needs a file path: sqlite:///path/to/file.db")
        return DatabaseURL(url, "sqlite", Path(rest))
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return DatabaseURL(url.replace("postgresql+psycopg://", "postgresql://"), "postgres")
    raise ConfigError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db or postgresql://..."
    )


def connect_sqlite(path: Path) -> sqlite3.Connection:
    """A SQLite connection shared across threads, WAL mode, with a busy timeout."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a commit survives a killed process (the crash lockstep guards against);
        # only an OS crash or power cut can roll back the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot open SQLite database {path}: {exc}") from None
    except OSError as exc:
        raise StorageError(f"cannot open SQLite database {path}: {exc.strerror}") from None
    return conn


def connection_lost(exc: BaseException) -> bool:
    """A psycopg error that means the connection is gone (the server restarted or an admin
    terminated it), not a problem with the statement: no SQLSTATE, class 08, or 57P01-03."""
    if not type(exc).__module__.startswith("psycopg"):
        return False
    names = {c.__name__ for c in type(exc).__mro__}
    if not names & {"OperationalError", "InterfaceError"}:
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def connect_postgres(url: str) -> Any:
    """A psycopg connection as LangGraph's savers need it: autocommit, dict rows, no prepare."""
    import psycopg
    from psycopg.rows import dict_row

    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, prepare_threshold=0)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot connect to PostgreSQL: {first}") from None


class Database:
    """lockstep's own tables on the configured database; runs migrations on open."""

    def __init__(self, url: str | None = None) -> None:
        self.location = parse_url(resolve_url(url))
        self.dialect = self.location.dialect
        self._lock = threading.RLock()
        self._in_tx = False
        if self.dialect == "sqlite":
            assert self.location.path is not None
            self._conn: Any = connect_sqlite(self.location.path)
        else:
            self._conn = connect_postgres(self.location.url)
        self.setup()

    @property
    def url(self) -> str:
        return self.location.url

    def describe(self) -> str:
        """The database named for messages: the file path, or the URL without a password."""
        if self.location.path is not None:
            return str(self.location.path)
        return self.location.url.split("@")[-1]

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            if self.dialect == "postgres" and self._conn.closed and not self._in_tx:
                # The server restarted under us: reconnect (outside a transaction only).
                self._conn = connect_postgres(self.location.url)
            yield
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"database {self.describe()} is unusable: {exc}") from None
        except Exception as exc:
            if connection_lost(exc):
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise StorageError(f"database {self.describe()} unreachable: {first}") from None
            raise

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        """Execute once; on Postgres, when the server dropped the connection (a restart, an
        admin's terminate) outside a transaction, reconnect and execute once more: a statement
        whose connection was gone never ran."""
        try:
            return self._conn.execute(self._sql(sql), tuple(params))
        except Exception as exc:
            if self.dialect != "postgres" or self._in_tx or not connection_lost(exc):
                raise
            self._reconnect()
            return self._conn.execute(self._sql(sql), tuple(params))

    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = connect_postgres(self.location.url)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of statements: `BEGIN IMMEDIATE` on SQLite (writers queue on the
        file's lock, so a read-then-write cannot race another process), a transaction on
        Postgres. A nested call joins the outer transaction."""
        with self._lock:
            if self._in_tx:
                yield
                return
            with self._errors():
                if self.dialect == "sqlite":
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._in_tx = True
                    try:
                        yield
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    else:
                        self._conn.execute("COMMIT")
                    finally:
                        self._in_tx = False
                else:
                    stack = contextlib.ExitStack()
                    try:
                        stack.enter_context(self._conn.transaction())
                    except Exception as exc:
                        if not connection_lost(exc):
                            raise
                        self._reconnect()  # nothing ran yet: begin again on a new connection
                        stack.enter_context(self._conn.transaction())
                    with stack:
                        self._in_tx = True
                        try:
                            yield
                        finally:
                            self._in_tx = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock, self._errors():
            self._run(sql, params)

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._lock, self._errors():
            return int(self._run(sql, params).rowcount)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock, self._errors():
            cur = self._run(sql, params)
            rows = cur.fetchall()
            if self.dialect == "sqlite":
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, r, strict=True)) for r in rows]
            return [dict(r) for r in rows]

    def insert_unique(self, sql: str, params: Sequence[Any] = ()) -> bool:
        """Run an INSERT; False (nothing written) when it violates a unique key, so a caller
        racing another writer can re-read and retry."""
        with self._lock:
            try:
                self._conn.execute(self._sql(sql), tuple(params))
            except sqlite3.IntegrityError:
                return False
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"database {self.describe()} is unusable: {exc}") from None
            except Exception as exc:
                if type(exc).__name__ == "UniqueViolation":  # psycopg.errors.UniqueViolation
                    return False
                raise
            return True

    def setup(self) -> None:
        """Create or upgrade lockstep's tables; safe to call from several processes."""
        with self._lock, self._errors():
            if self.dialect == "postgres":
                # Serialise concurrent migrators on one advisory lock.
                self._conn.execute("SELECT pg_advisory_lock(7723011)")
            try:
                self._conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS lockstep_migrations "
                        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                    )
                )
                done = {
                    r[0] if isinstance(r, tuple | sqlite3.Row) else r["version"]
                    for r in self._conn.execute("SELECT version FROM lockstep_migrations")
                }
                for version, migration in enumerate(MIGRATIONS, start=1):
                    if version in done:
                        continue
                    self._apply(version, migration[self.dialect])
            finally:
                if self.dialect == "postgres":
                    self._conn.execute("SELECT pg_advisory_unlock(7723011)")

    def _apply(self, version: int, script: str) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC).isoformat()
        if self.dialect == "sqlite":
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if self._conn.execute(
                    "SELECT 1 FROM lockstep_migrations WHERE version = ?", (version,)
                ).fetchone():
                    self._conn.execute("ROLLBACK")
                    return
                for statement in statements(script):
                    self._conn.execute(statement)
                self._conn.execute("INSERT INTO lockstep_migrations VALUES (?, ?)", (version, now))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        else:
            with self._conn.transaction():
                for statement in statements(script):
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO lockstep_migrations VALUES (%s, %s)", (version, now)
                )

    # -- threads ---------------------------------------------------------------------------

    def register_thread(
        self,
        thread_id: str,
        workflow: str,
        created_at: str,
        inputs: Mapping[str, Any],
        created_by: str | None = None,
    ) -> None:
        self.execute(
            "INSERT INTO lockstep_threads (thread_id, workflow, created_at, created_by, input) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, workflow, created_at, created_by, json.dumps(dict(inputs), default=str)),
        )

    def thread(self, thread_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM lockstep_threads WHERE thread_id = ?", (thread_id,))
        return rows[0] if rows else None

    def threads(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM lockstep_threads ORDER BY created_at")

    # -- audit log -------------------------------------------------------------------------

    def record(self, thread_id: str, kind: str, detail: Mapping[str, Any], actor: str) -> None:
        """Append one audit row (the compiler's Journal protocol)."""
        from datetime import UTC, datetime

        self.execute(
            "INSERT INTO lockstep_audit (thread_id, at, kind, actor, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (thread_id, datetime.now(UTC).isoformat(), kind, actor, json.dumps(dict(detail))),
        )

    def audit(self, thread_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT seq, thread_id, at, kind, actor, detail FROM lockstep_audit "
            "WHERE thread_id = ? ORDER BY seq",
            (thread_id,),
        )
        for row in rows:
            row["detail"] = json.loads(row["detail"])
        return rows

    def close(self) -> None:
        with self._lock:
            self._conn.close()
