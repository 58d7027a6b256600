"""The job manifest of a batch: one SQLite file in the output folder, the single source of
truth for what each input has been through.

One row per (input, stage): the input's content hash and the hash of the settings that
matter to the stage, its status (pending, running, done, failed), how often it started and
failed, the last error, and what it wrote. Only the process that drives the batch writes
here; workers, local or on a Ray cluster, return their results to it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ripple.batch.jobs import JobSpec
from ripple.errors import InputError
from ripple.migrations import migrate

NAME = "manifest.db"
STATUSES = ("pending", "running", "done", "failed")

# Applied in order by ripple.migrations, as the run store's are. The first is written with
# IF NOT EXISTS: a manifest from before migrations (its version in a `meta` table) takes it as is.
MIGRATIONS: list[list[str]] = [
    ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
     """CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    input TEXT NOT NULL,            -- path relative to the batch's source folder
    stage TEXT NOT NULL,            -- transcribe, generate, narrate
    sha256 TEXT NOT NULL,           -- of the input's content (and its paired game states)
    settings TEXT NOT NULL,         -- hash of the settings this stage depends on
    states TEXT,                    -- a paired game-state file, relative to the source
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    starts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    outputs TEXT,                   -- JSON: the folder written and a summary of it
    worker TEXT,
    started REAL,
    finished REAL,
    seconds REAL,
    UNIQUE (input, stage))"""],
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Job(JobSpec):
    """A job as the manifest holds it: what a worker needs, and how it has gone so far."""

    status: str
    starts: int
    failures: int
    error: str | None
    outputs: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(row["id"], row["input"], row["stage"], row["sha256"], row["settings"], row["states"],
                   row["status"], row["starts"], row["failures"], row["error"],
                   json.loads(row["outputs"]) if row["outputs"] else None)

    def spec(self) -> JobSpec:
        """What is sent to a worker (a Ray task pickles it): no history."""
        return JobSpec(self.id, self.input, self.stage, self.sha256, self.settings, self.states)


class Manifest:
    """The jobs table of one output folder."""

    def __init__(self, folder: Path, create: bool = True):
        self.path = Path(folder) / NAME
        if not create and not self.path.is_file():
            raise InputError(str(folder), f"no batch here (no {NAME})")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
            old = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() and \
                self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if old and int(old[0]) > SCHEMA_VERSION:
                raise InputError(str(self.path), f"written by a newer Ripple (schema {old[0]}); upgrade Ripple")
            migrate(self.db, MIGRATIONS, str(self.path))
            # and in `meta`, where a Ripple from before shared migrations looks for it
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise InputError(str(self.path), f"not a readable manifest: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def sync(self, wanted: list[tuple[str, str, str, str, str | None]]) -> None:
        """Make the table hold every (input, stage, sha256, settings, states) wanted: new ones
        pending; ones whose input or settings changed pending again, their count reset."""
        with self.db:
            self.db.execute("BEGIN")
            for input_, stage, sha, settings, states in wanted:
                row = self.db.execute("SELECT sha256, settings FROM jobs WHERE input = ? AND stage = ?",
                                      (input_, stage)).fetchone()
                if row is None:
                    self.db.execute(
                        "INSERT INTO jobs (input, stage, sha256, settings, states, status) "
                        "VALUES (?, ?, ?, ?, ?, 'pending')", (input_, stage, sha, settings, states))
                elif (row["sha256"], row["settings"]) != (sha, settings):
                    self.db.execute(
                        "UPDATE jobs SET sha256 = ?, settings = ?, states = ?, status = 'pending', starts = 0, "
                        "failures = 0, error = NULL, outputs = NULL WHERE input = ? AND stage = ?",
                        (sha, settings, states, input_, stage))

    def jobs(self, status: str | None = None) -> list[Job]:
        query, args = "SELECT * FROM jobs", ()
        if status:
            query, args = query + " WHERE status = ?", (status,)
        return [Job.from_row(r) for r in self.db.execute(query + " ORDER BY input, stage", args)]

    def job(self, job_id: int) -> Job:
        return Job.from_row(self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def interrupted_to_pending(self) -> int:
        """Jobs left running by a batch that was stopped: nobody runs them now."""
        return self.db.execute("UPDATE jobs SET status = 'pending', worker = NULL WHERE status = 'running'").rowcount

    def started(self, job_id: int, worker: str) -> None:
        self.db.execute("UPDATE jobs SET status = 'running', starts = starts + 1, worker = ?, started = ?, "
                        "finished = NULL WHERE id = ?", (worker, time.time(), job_id))

    def done(self, job_id: int, outputs: dict[str, Any], seconds: float | None = None) -> None:
        self.db.execute("UPDATE jobs SET status = 'done', error = NULL, outputs = ?, finished = ?, seconds = ? "
                        "WHERE id = ?", (json.dumps(outputs, sort_keys=True), time.time(), seconds, job_id))

    def failed(self, job_id: int, error: str) -> None:
        self.db.execute("UPDATE jobs SET status = 'failed', failures = failures + 1, error = ?, finished = ? "
                        "WHERE id = ?", (error, time.time(), job_id))

    def back_to_pending(self, job_id: int, error: str | None = None) -> None:
        self.db.execute("UPDATE jobs SET status = 'pending', outputs = NULL, error = COALESCE(?, error) "
                        "WHERE id = ?", (error, job_id))

    def summary(self) -> dict[str, Counter]:
        """Per stage, how many jobs are in each status."""
        counts: dict[str, Counter] = {}
        for stage, status, n in self.db.execute("SELECT stage, status, COUNT(*) FROM jobs GROUP BY stage, status"):
            counts.setdefault(stage, Counter())[status] = n
        return counts
