"""What the page shows and stores: sets of 2-4 candidates for one moment, people's verdicts
on them, progress, agreement, and the media a moment has.

Agreement is measured two ways. Between people (or one person twice): every few picks the
page shows again a set someone already judged, and agreement is how often two verdicts on
the same set match. With the ranker: how often the person's pick is the candidate the
ranker put first among those shown (chance is 1 in the number shown).
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from ripple.store import now, transaction
from ripple.errors import InputError

CHOICES_MIN, CHOICES_MAX = 2, 4  # candidates shown at once: the paper's 4, or fewer when a moment has fewer
REPEAT_EVERY = 5  # every 5th set a person sees is one already judged, to measure agreement
WHO_MAX_CHARS = 64


def set_key(ids: list[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))


def _distinct_candidates(conn: sqlite3.Connection, moment: int) -> list[sqlite3.Row]:
    """The moment's non-empty candidates, one per distinct text, best-ranked first."""
    rows = conn.execute(
        "SELECT id, text, rank, audio FROM candidates WHERE moment = ? AND TRIM(text) != '' "
        "ORDER BY COALESCE(rank, idx + 1), idx", (moment,)).fetchall()
    seen, kept = set(), []
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            kept.append(row)
    return kept


def _moment_json(conn: sqlite3.Connection, moment: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT m.id, m.idx, m.game, m.time, m.description, m.state_json, m.template, m.keyframe, m.clip_start, "
        "m.clip_end, r.run_id, r.kind, r.model_name, r.video FROM moments m JOIN runs r ON r.id = m.run "
        "WHERE m.id = ?", (moment,)).fetchone()
    return {
        "id": row["id"], "index": row["idx"], "game": row["game"], "time": row["time"],
        "description": row["description"], "state": json.loads(row["state_json"]), "template": row["template"],
        "run": row["run_id"], "kind": row["kind"], "model": row["model_name"],
        "keyframe": bool(row["keyframe"]), "video": bool(row["video"]),
        "clip": [row["clip_start"], row["clip_end"]] if row["video"] and row["clip_start"] is not None else None,
    }


def _present(conn: sqlite3.Connection, moment: int, ids: list[int], repeat: bool) -> dict[str, Any]:
    rows = {r["id"]: r for r in conn.execute(
        f"SELECT id, text, rank, audio FROM candidates WHERE id IN ({','.join('?' * len(ids))})", ids)}
    top = min(ids, key=lambda i: (rows[i]["rank"] if rows[i]["rank"] is not None else 1 << 30, i))
    return {
        "moment": _moment_json(conn, moment),
        "candidates": [{"id": i, "text": rows[i]["text"], "audio": bool(rows[i]["audio"])} for i in ids],
        "set_key": set_key(ids),
        "ranker_top": top,
        "repeat": repeat,
    }


def next_set(conn: sqlite3.Connection, who: str, choices: int = CHOICES_MAX, skip: tuple[int, ...] = (),
             seed: int = 0) -> dict[str, Any] | None:
    """The set `who` should judge next, or None when every moment has been judged.

    Reads only: which set comes next follows from what is stored, so reloading the page
    shows the same set until a verdict is stored."""
    choices = max(CHOICES_MIN, min(CHOICES_MAX, choices))
    done = conn.execute("SELECT COUNT(*) FROM comparisons WHERE who = ?", (who,)).fetchone()[0]
    skipped = set(skip)
    if done % REPEAT_EVERY == REPEAT_EVERY - 1:
        # A set judged exactly once (by anyone), not last judged by this person in this turn.
        for row in conn.execute(
            "SELECT set_key, moment, MIN(id) AS first FROM comparisons GROUP BY set_key HAVING COUNT(*) = 1 "
            "ORDER BY first"):
            if row["moment"] in skipped:
                continue
            ids = [int(i) for i in row["set_key"].split(",")]
            random.Random(f"{seed}:{done}:{row['set_key']}").shuffle(ids)
            return _present(conn, row["moment"], ids, repeat=True)
    for row in conn.execute(
        "SELECT m.id FROM moments m WHERE NOT EXISTS (SELECT 1 FROM comparisons c WHERE c.moment = m.id) "
        "ORDER BY m.run, m.idx"):
        if row["id"] in skipped:
            continue
        candidates = _distinct_candidates(conn, row["id"])
        if len(candidates) < CHOICES_MIN:
            continue
        rng = random.Random(f"{seed}:{row['id']}")
        ids = [c["id"] for c in rng.sample(candidates, min(choices, len(candidates)))]
        return _present(conn, row["id"], ids, repeat=False)
    return None


def add_comparison(conn: sqlite3.Connection, moment: int, shown: list[int], chosen: int | None, who: str) -> int:
    """Store a verdict: `chosen` is the best of `shown` (in the order shown), or None when
    all were bad. Everything is checked against the store first."""
    who = (who or "").strip()
    if not who or len(who) > WHO_MAX_CHARS:
        raise InputError("who", f"must be 1 to {WHO_MAX_CHARS} characters")
    if not CHOICES_MIN <= len(shown) <= CHOICES_MAX or len(set(shown)) != len(shown):
        raise InputError("shown", f"must list {CHOICES_MIN} to {CHOICES_MAX} different candidates")
    found = conn.execute(
        f"SELECT COUNT(*) FROM candidates WHERE moment = ? AND id IN ({','.join('?' * len(shown))})",
        (moment, *shown)).fetchone()[0]
    if found != len(shown):
        raise InputError("shown", f"not all are candidates of moment {moment}")
    if chosen is not None and chosen not in shown:
        raise InputError("chosen", "must be one of the candidates shown, or none when all are bad")
    with transaction(conn):
        comparison = conn.execute(
            "INSERT INTO comparisons (moment, chosen, verdict, set_key, who, created) VALUES (?, ?, ?, ?, ?, ?)",
            (moment, chosen, "best" if chosen is not None else "all_bad", set_key(shown), who, now()),
        ).lastrowid
        conn.executemany("INSERT INTO shown (comparison, position, candidate) VALUES (?, ?, ?)",
                         [(comparison, p, c) for p, c in enumerate(shown)])
    return comparison


def progress(conn: sqlite3.Connection) -> dict[str, Any]:
    moments = conn.execute("SELECT COUNT(*) FROM moments").fetchone()[0]
    judged = conn.execute("SELECT COUNT(DISTINCT moment) FROM comparisons").fetchone()[0]
    rows = conn.execute("SELECT who, COUNT(*) AS n, SUM(verdict = 'all_bad') AS bad FROM comparisons GROUP BY who "
                        "ORDER BY n DESC").fetchall()
    return {"moments": moments, "judged": judged, "comparisons": sum(r["n"] for r in rows),
            "all_bad": sum(r["bad"] for r in rows), "by_person": {r["who"]: r["n"] for r in rows}}


def agreement(conn: sqlite3.Connection) -> dict[str, Any]:
    """Between verdicts on the same set (pairs of verdicts; same person or not), and with
    the ranker's top choice among those shown."""
    by_set: dict[str, list[sqlite3.Row]] = {}
    for row in conn.execute("SELECT id, set_key, chosen, who FROM comparisons ORDER BY id"):
        by_set.setdefault(row["set_key"], []).append(row)
    pairs = same_person = agreed = agreed_same = 0
    for rows in by_set.values():
        for a, b in combinations(rows, 2):
            match = a["chosen"] == b["chosen"]  # both None (all bad) agree too
            pairs += 1
            agreed += match
            if a["who"] == b["who"]:
                same_person += 1
                agreed_same += match
    picks = conn.execute(
        "SELECT c.chosen, (SELECT s.candidate FROM shown s JOIN candidates k ON k.id = s.candidate "
        "WHERE s.comparison = c.id ORDER BY COALESCE(k.rank, 1 << 30), k.id LIMIT 1) AS top, "
        "(SELECT COUNT(*) FROM shown s WHERE s.comparison = c.id) AS k "
        "FROM comparisons c WHERE c.verdict = 'best'").fetchall()
    with_ranker = sum(r["chosen"] == r["top"] for r in picks)
    return {
        "repeat_pairs": pairs,
        "repeat_agreement": agreed / pairs if pairs else None,
        "self_pairs": same_person,
        "self_agreement": agreed_same / same_person if same_person else None,
        "ranker_picks": len(picks),
        "ranker_agreement": with_ranker / len(picks) if picks else None,
        "ranker_chance": sum(1 / r["k"] for r in picks) / len(picks) if picks else None,
    }


# ---- media -----------------------------------------------------------------------------

MEDIA_KINDS = ("video", "keyframe", "audio")


def media_path(conn: sqlite3.Connection, kind: str, item: int) -> Path | None:
    """The file behind a media id, only if it lies inside a run folder recorded in the store
    (after following symlinks): `video` and `keyframe` take a moment id, `audio` a candidate id."""
    if kind == "video":
        row = conn.execute("SELECT r.folder, r.video AS rel FROM moments m JOIN runs r ON r.id = m.run "
                           "WHERE m.id = ?", (item,)).fetchone()
    elif kind == "keyframe":
        row = conn.execute("SELECT r.folder, m.keyframe AS rel FROM moments m JOIN runs r ON r.id = m.run "
                           "WHERE m.id = ?", (item,)).fetchone()
    elif kind == "audio":
        row = conn.execute("SELECT r.folder, c.audio AS rel FROM candidates c JOIN moments m ON m.id = c.moment "
                           "JOIN runs r ON r.id = m.run WHERE c.id = ?", (item,)).fetchone()
    else:
        return None
    if row is None or not row["rel"]:
        return None
    folder = Path(row["folder"]).resolve()
    target = (folder / row["rel"]).resolve()
    if not target.is_relative_to(folder) or target == folder or not target.is_file():
        return None
    return target


# ---- what training reads ---------------------------------------------------------------

@dataclass(frozen=True)
class Judged:
    """One verdict with what the person saw."""

    comparison: int
    moment: int
    description: str  # the moment in words
    prompt: str  # what the model continued
    texts: list[str]  # the candidates shown, in the order shown
    chosen: int | None  # position in texts; None when all were bad
    who: str


def judged(conn: sqlite3.Connection) -> list[Judged]:
    rows = conn.execute(
        "SELECT c.id, c.moment, c.chosen, c.who, m.description, m.prompt FROM comparisons c "
        "JOIN moments m ON m.id = c.moment ORDER BY c.id").fetchall()
    out = []
    for row in rows:
        shown = conn.execute("SELECT s.candidate, k.text FROM shown s JOIN candidates k ON k.id = s.candidate "
                             "WHERE s.comparison = ? ORDER BY s.position", (row["id"],)).fetchall()
        ids = [s["candidate"] for s in shown]
        out.append(Judged(row["id"], row["moment"], row["description"], row["prompt"], [s["text"] for s in shown],
                          ids.index(row["chosen"]) if row["chosen"] is not None else None, row["who"]))
    return out


@dataclass(frozen=True)
class Pool:
    """A moment and every candidate stored for it (one per distinct text)."""

    moment: int
    description: str
    prompt: str
    texts: list[str]


def pools(conn: sqlite3.Connection) -> list[Pool]:
    out = []
    for row in conn.execute("SELECT id, description, prompt FROM moments ORDER BY run, idx").fetchall():
        texts = [c["text"] for c in _distinct_candidates(conn, row["id"])]
        out.append(Pool(row["id"], row["description"], row["prompt"], texts))
    return out
