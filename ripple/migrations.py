"""One way every SQLite file of Ripple's keeps its schema up to date: a list of migrations
(each a list of statements), applied in order, each in its own transaction, with a
`schema_version` table saying which have run. Two processes that open an old file at once
apply each migration once. A file written by a newer Ripple is refused in one line."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from ripple.errors import InputError


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (the connection is in autocommit
    mode, so nothing else starts a transaction behind our back)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has_table:
        return 0
    return conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, migrations: list[list[str]], name: str, target: int | None = None) -> int:
    """Apply the `migrations` the file (called `name` in errors) lacks, up to `target` (all
    by default), in order; returns the version."""
    known = len(migrations)
    target = known if target is None else target
    version = schema_version(conn)
    if version == target:
        return version  # the usual case: a read, no lock taken
    if version > known:
        raise InputError(name, f"schema version {version} is newer than this Ripple knows ({known}); upgrade Ripple")
    with transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
    for number in range(version + 1, target + 1):
        with transaction(conn):
            if schema_version(conn) >= number:  # another process got there first
                continue
            for statement in migrations[number - 1]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied) VALUES (?, ?)", (number, now()))
    return schema_version(conn)
