"""lockstep's schema: an append-only list of numbered SQL files, one per dialect.

`NNNN_name.sqlite.sql` and `NNNN_name.postgres.sql` hold migration NNNN; its position is the
schema version recorded in `lockstep_migrations`. Add a new pair with the next number; never
edit a released file (databases already past it would never see the change).
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["MIGRATIONS", "statements"]

DIALECTS = ("sqlite", "postgres")


def _load() -> list[dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for entry in files(__name__).iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        stem, dialect, _ = name.rsplit(".", 2)
        found.setdefault(int(stem.split("_", 1)[0]), {})[dialect] = entry.read_text("utf-8")
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    for version in versions:
        missing = set(DIALECTS) - set(found[version])
        if missing:
            raise RuntimeError(f"migration {version} has no {', '.join(sorted(missing))} file")
    return [found[v] for v in versions]


def statements(script: str) -> list[str]:
    """The SQL statements of a migration file, its `--` comment lines dropped."""
    text = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s for s in text.split(";") if s.strip()]


MIGRATIONS: list[dict[str, str]] = _load()
"""Migration n (1-based) is `MIGRATIONS[n - 1][dialect]`."""
