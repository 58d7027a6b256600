"""The store: every run's moments, prompts, candidates, per-scorer scores, the model that
made them and their media, and people's comparisons, in one SQLite file (outputs/ripple.db).

One connection helper (`connect`) opens the file in WAL mode with foreign keys on and
brings its schema up to date: `MIGRATIONS` are applied in order, each in its own
transaction, and the `schema_version` table says which have run. Every statement takes its
values as parameters; none is built from data.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from ripple import migrations
from ripple.errors import InputError
from ripple.migrations import now, transaction

DB_NAME = "ripple.db"  # beside the run folders, in the out folder
MAX_RUN_BYTES = 256 * 2**20  # a commentary.json this large is no run Ripple wrote
BUSY_TIMEOUT_S = 10.0  # how long a writer waits for another's lock before giving up
CLIP_BEFORE_S = 2.0  # a moment's clip starts this long before it ...
CLIP_AFTER_S = 4.0  # ... and ends this long after

# Each migration is a list of statements, applied in one transaction. Never edit one that
# has shipped: add the next.
MIGRATIONS: list[list[str]] = [
    [  # 1: runs, moments, candidates and their scores
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            folder TEXT NOT NULL UNIQUE,        -- absolute path of the run folder
            kind TEXT NOT NULL,                 -- generate or narrate
            created TEXT,
            state_file TEXT,
            model_name TEXT,
            model_json TEXT NOT NULL,           -- the model that made the candidates
            config_json TEXT NOT NULL,
            recorded TEXT NOT NULL)""",
        """CREATE TABLE moments (
            id INTEGER PRIMARY KEY,
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            game TEXT,
            time REAL,
            description TEXT NOT NULL,
            state_json TEXT NOT NULL,
            template TEXT,
            prompt TEXT NOT NULL,
            line TEXT,
            UNIQUE (run, idx))""",
        """CREATE TABLE candidates (
            id INTEGER PRIMARY KEY,
            moment INTEGER NOT NULL REFERENCES moments(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,               -- the order the model produced them
            rank INTEGER,                       -- the ranker's order, 1 = best
            text TEXT NOT NULL,
            raw TEXT,
            complete INTEGER,
            new_tokens INTEGER,
            total REAL,
            UNIQUE (moment, idx))""",
        """CREATE TABLE scores (
            candidate INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            scorer TEXT NOT NULL,
            value REAL NOT NULL,
            raw REAL,
            reason TEXT,
            PRIMARY KEY (candidate, scorer))""",
    ],
    [  # 2: people's comparisons: which set was shown, in what order, and the verdict
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            moment INTEGER NOT NULL REFERENCES moments(id) ON DELETE CASCADE,
            chosen INTEGER REFERENCES candidates(id) ON DELETE CASCADE,  -- NULL when all were bad
            verdict TEXT NOT NULL CHECK (verdict IN ('best', 'all_bad')),
            set_key TEXT NOT NULL,              -- the shown candidate ids, sorted: one set shown twice
            who TEXT NOT NULL,
            created TEXT NOT NULL)""",
        """CREATE TABLE shown (
            comparison INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            candidate INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            PRIMARY KEY (comparison, position))""",
        "CREATE INDEX comparisons_moment ON comparisons(moment)",
        "CREATE INDEX comparisons_set ON comparisons(set_key)",
    ],
    [  # 3: media, relative to the run folder: the narrated video, keyframes, clips, voiced lines
        "ALTER TABLE runs ADD COLUMN video TEXT",
        "ALTER TABLE moments ADD COLUMN keyframe TEXT",
        "ALTER TABLE moments ADD COLUMN clip_start REAL",
        "ALTER TABLE moments ADD COLUMN clip_end REAL",
        "ALTER TABLE candidates ADD COLUMN audio TEXT",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the store up to `target` (migrations.py, with the store's MIGRATIONS)."""
    return migrations.migrate(conn, MIGRATIONS, "ripple.db", target)


def connect(path: Path, target: int = SCHEMA_VERSION) -> sqlite3.Connection:
    """Open (creating it if needed) the store at `path`, up to date; InputError in one line
    when it is not a Ripple database or cannot be opened."""
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise InputError(where, "is a folder, expected a Ripple database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise InputError(where, f"cannot open the database: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        migrate(conn, target)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InputError(where, f"not a Ripple database ({exc})") from None
    except InputError as exc:
        conn.close()
        raise InputError(where, exc.message) from None
    return conn


def default_db(out_dir: Path) -> Path:
    return Path(out_dir) / DB_NAME


# ---- recording runs --------------------------------------------------------------------

def _media(folder: Path, relative: str | None) -> str | None:
    """`relative` if it names a file inside the run folder, else None."""
    if not relative:
        return None
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        return None
    return relative if (folder / path).is_file() else None


def _description(state: dict[str, Any]) -> str:
    from pydantic import ValidationError

    from ripple.state import Moment

    try:
        return Moment(**state).describe()
    except (ValidationError, TypeError):
        return str(state.get("scene") or "")


def record(conn: sqlite3.Connection, data: dict[str, Any], folder: Path) -> int:
    """Store one run (commentary.json's content, `data`) written to `folder`; returns its
    row id. A folder recorded before is left as it was and its id returned."""
    folder = Path(folder).resolve()
    known = conn.execute("SELECT id FROM runs WHERE folder = ?", (str(folder),)).fetchone()
    if known:
        return known["id"]
    narrate = data.get("narrate") or {}
    video = _media(folder, (narrate.get("outputs") or {}).get("video"))
    duration = (narrate.get("video") or {}).get("duration")
    voiced: dict[tuple[int, str], str] = {}
    for line in narrate.get("lines") or []:
        audio = _media(folder, line.get("audio"))
        if audio:
            voiced[int(line["moment"]), line["text"]] = audio
    model = data.get("model") or {}
    with transaction(conn):
        run = conn.execute(
            "INSERT INTO runs (run_id, folder, kind, created, state_file, model_name, model_json, config_json, "
            "recorded, video) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (data.get("run_id") or folder.name, str(folder), "narrate" if narrate else "generate", data.get("created"),
             data.get("state_file"), model.get("name"), json.dumps(model), json.dumps(data.get("config") or {}),
             now(), video),
        ).lastrowid
        for m in data.get("moments") or []:
            state = m.get("moment") or {}
            when = state.get("time")
            clip = (None, None)
            if video and when is not None:
                end = when + CLIP_AFTER_S if duration is None else min(duration, when + CLIP_AFTER_S)
                clip = (max(0.0, when - CLIP_BEFORE_S), end)
            moment = conn.execute(
                "INSERT INTO moments (run, idx, game, time, description, state_json, template, prompt, line, "
                "keyframe, clip_start, clip_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run, int(m["index"]), state.get("game"), when, _description(state), json.dumps(state),
                 (m.get("template") or {}).get("name"), m.get("prompt") or "", m.get("line"),
                 _media(folder, m.get("keyframe")), *clip),
            ).lastrowid
            for c in m.get("candidates") or []:
                candidate = conn.execute(
                    "INSERT INTO candidates (moment, idx, rank, text, raw, complete, new_tokens, total, audio) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (moment, int(c["index"]), c.get("rank"), c.get("text") or "", c.get("raw"),
                     int(bool(c.get("complete"))), c.get("new_tokens"), c.get("total"),
                     voiced.get((int(m["index"]), c.get("text") or ""))),
                ).lastrowid
                conn.executemany(
                    "INSERT INTO scores (candidate, scorer, value, raw, reason) VALUES (?, ?, ?, ?, ?)",
                    [(candidate, name, s.get("value"), s.get("raw"), s.get("reason"))
                     for name, s in (c.get("scores") or {}).items()],
                )
    return run


def record_folder(conn: sqlite3.Connection, folder: Path) -> int:
    """Store a run folder from its commentary.json."""
    path = Path(folder) / "commentary.json"
    try:
        if not path.is_file():
            raise InputError(str(path), "not a regular file")
        if path.stat().st_size > MAX_RUN_BYTES:
            raise InputError(str(path), f"over {MAX_RUN_BYTES // 2**20} MiB; not a run Ripple wrote")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, invalid JSON, a 5,000-digit number
        raise InputError(str(path), f"cannot read the run: {str(exc)[:120]}") from None
    except RecursionError:
        raise InputError(str(path), "cannot read the run: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("moments"), list):
        raise InputError(str(path), "not a Ripple run (no 'moments' list)")
    return record(conn, data, Path(folder))


def record_missing(conn: sqlite3.Connection, out_dir: Path, skipped: list | None = None) -> list[Path]:
    """Store every run folder under `out_dir` that the store lacks (one whose recording
    failed when it was written, or one written by an older Ripple); returns those added.
    A folder that cannot be stored is left out, with its reason appended to `skipped`."""
    known = {row["folder"] for row in conn.execute("SELECT folder FROM runs")}
    added = []
    for path in sorted(Path(out_dir).glob("*/commentary.json")):
        folder = path.parent
        if folder.name.startswith(".") or str(folder.resolve()) in known:
            continue
        try:
            record_folder(conn, folder)
        except (InputError, sqlite3.Error, KeyError, TypeError, ValueError, AttributeError, OverflowError,
                RecursionError) as exc:
            # not a run, or a broken one: it stays out of the store (its insert rolled back)
            if skipped is not None:
                skipped.append((folder, str(exc)[:160] or type(exc).__name__))
            continue
        added.append(folder)
    return added


def record_run(db_path: Path, data: dict[str, Any], folder: Path) -> bool:
    """The hook `ripple generate` and `ripple narrate` call once their run folder is in
    place. A store that cannot be written never costs the run: the person is told on stderr,
    and `ripple curate` records the folder the next time it starts. Returns True if stored."""
    try:
        conn = connect(db_path)
        try:
            record(conn, data, folder)
        finally:
            conn.close()
        return True
    except (InputError, sqlite3.Error, OSError, KeyError, TypeError, ValueError, AttributeError,
            OverflowError) as exc:
        print(f"ripple: warning: {folder} was written but not recorded in {db_path} ({exc}); "
              f"`ripple curate` will record it when it starts", file=sys.stderr)
        return False
