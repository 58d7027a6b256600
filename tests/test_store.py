"""The store (outputs/ripple.db): schema versions and migrations, recording runs (and a
store that cannot be written never costing a run), verdicts checked before they are
stored, the sets the page shows, progress and agreement, media kept inside run folders."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from ripple.store import SCHEMA_VERSION, connect, record, record_missing, record_run
from ripple.curate.sets import (REPEAT_EVERY, add_comparison, agreement, judged, media_path, next_set, pools,
                                progress)
from ripple.errors import InputError
from tests.prefs import make_runs, run_json

NASTY = "Robert'); DROP TABLE candidates; -- \"quoted\" ü"


def test_new_store_is_versioned_and_in_wal_mode(tmp_path):
    conn = connect(tmp_path / "sub" / "ripple.db")
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1)) and SCHEMA_VERSION >= 3
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "moments", "candidates", "scores", "comparisons", "shown"} <= tables


def test_an_old_store_is_migrated_in_order_keeping_its_data(tmp_path):
    db = tmp_path / "ripple.db"
    old = connect(db, target=1)  # what the first Ripple with a store wrote
    old.execute("INSERT INTO runs (run_id, folder, kind, model_json, config_json, recorded) "
                "VALUES ('r', '/x', 'generate', '{}', '{}', 'then')")
    assert "video" not in [r[1] for r in old.execute("PRAGMA table_info(runs)")]
    old.close()
    conn = connect(db)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    row = conn.execute("SELECT run_id, video FROM runs").fetchone()
    assert (row["run_id"], row["video"]) == ("r", None)  # kept, with the new column empty


def test_a_newer_or_foreign_file_is_refused_in_one_line(tmp_path):
    db = tmp_path / "ripple.db"
    connect(db).execute("INSERT INTO schema_version (version, applied) VALUES (99, 'later')")
    with pytest.raises(InputError, match=r"ripple.db: schema version 99 is newer than this Ripple knows"):
        connect(db)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="junk.db: not a Ripple database"):
        connect(junk)
    with pytest.raises(InputError, match="is a folder"):
        connect(tmp_path)


def test_recording_keeps_every_candidate_verbatim_and_once(tmp_path):
    data = run_json("r1", moments=3, seed=1)
    data["moments"][0]["candidates"][0]["text"] = NASTY
    conn = connect(tmp_path / "ripple.db")
    first = record(conn, data, tmp_path / "r1")
    assert record(conn, data, tmp_path / "r1") == first  # a folder is recorded once
    assert conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 3 * 8
    assert conn.execute("SELECT text FROM candidates WHERE text = ?", (NASTY,)).fetchone()[0] == NASTY
    assert conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 3 * 8  # one scorer in the synthetic runs
    run = conn.execute("SELECT model_name, kind, folder FROM runs").fetchone()
    assert (run["model_name"], run["kind"]) == ("synthetic", "generate")
    assert run["folder"] == str((tmp_path / "r1").resolve())
    moment = conn.execute("SELECT description, prompt, state_json FROM moments WHERE idx = 0").fetchone()
    assert moment["description"].startswith(data["moments"][0]["moment"]["events"][0]["text"])
    assert json.loads(moment["state_json"])["game"] == data["moments"][0]["moment"]["game"]


def test_a_store_that_cannot_be_written_never_costs_the_run(tmp_path, capsys):
    folder = tmp_path / "run-a"
    folder.mkdir()
    data = run_json("run-a", moments=2, seed=2)
    (folder / "commentary.json").write_text(json.dumps(data))
    blocked = tmp_path / "blocked.db"
    blocked.mkdir()  # a folder where the store should be
    assert record_run(blocked, data, folder) is False
    assert (folder / "commentary.json").is_file()
    message = capsys.readouterr().err
    assert "warning" in message and str(folder) in message and "ripple curate" in message
    conn = connect(tmp_path / "ripple.db")  # what `ripple curate` does when it starts
    assert record_missing(conn, tmp_path) == [folder]
    assert record_missing(conn, tmp_path) == []
    assert conn.execute("SELECT COUNT(*) FROM moments").fetchone()[0] == 2


def test_broken_run_folders_are_skipped_with_their_reason(tmp_path):
    good = tmp_path / "run-good"
    good.mkdir()
    (good / "commentary.json").write_text(json.dumps(run_json("run-good", moments=2, seed=3)))
    broken = {
        "deep": "[" * 100_000 + "]" * 100_000,
        "strings": json.dumps({"run_id": "x", "moments": ["not a moment", 5]}),
        "huge-index": json.dumps({**run_json("h", moments=1, seed=4), "moments": [
            {**run_json("h", moments=1, seed=4)["moments"][0], "index": 2**70}]}),
        "list-game": json.dumps({**run_json("g", moments=1, seed=5), "run_id": ["a"]}),
        "narrate": json.dumps({**run_json("n", moments=1, seed=6), "narrate": "x"}),
        "not-json": "{",
    }
    for name, body in broken.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "commentary.json").write_text(body)
    (tmp_path / "pipe").mkdir()
    os.mkfifo(tmp_path / "pipe" / "commentary.json")  # would block a plain read for ever
    skipped: list = []
    conn = connect(tmp_path / "ripple.db")
    assert record_missing(conn, tmp_path, skipped) == [good]
    assert sorted(f.name for f, _ in skipped) == sorted([*broken, "pipe"])
    assert all(reason and "\n" not in reason for _, reason in skipped)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_verdicts_are_checked_before_anything_is_stored(tmp_path):
    db = make_runs(tmp_path, runs=1, moments=2)
    conn = connect(db)
    a, b = (r[0] for r in conn.execute("SELECT id FROM moments ORDER BY id"))
    ids_a = [r[0] for r in conn.execute("SELECT id FROM candidates WHERE moment = ? ORDER BY id", (a,))][:3]
    id_b = conn.execute("SELECT id FROM candidates WHERE moment = ?", (b,)).fetchone()[0]
    for args, field in [
        ((a, ids_a, 10**6, "alice"), "chosen"),  # not among those shown
        ((a, [ids_a[0], id_b], ids_a[0], "alice"), "shown"),  # another moment's candidate
        ((a, ids_a[:1], ids_a[0], "alice"), "shown"),  # one is no comparison
        ((a, [ids_a[0], ids_a[0]], ids_a[0], "alice"), "shown"),
        ((a, ids_a, ids_a[0], "  "), "who"),
    ]:
        with pytest.raises(InputError, match=f"^{field}:"):
            add_comparison(conn, *args)
    assert conn.execute("SELECT COUNT(*) FROM comparisons").fetchone()[0] == 0
    stored = add_comparison(conn, a, ids_a, None, NASTY)  # all bad, with a name SQL would choke on if pasted in
    row = conn.execute("SELECT verdict, chosen, who, set_key FROM comparisons WHERE id = ?", (stored,)).fetchone()
    assert (row["verdict"], row["chosen"], row["who"]) == ("all_bad", None, NASTY)
    assert row["set_key"] == ",".join(str(i) for i in sorted(ids_a))
    assert [r[0] for r in conn.execute("SELECT candidate FROM shown WHERE comparison = ? ORDER BY position",
                                       (stored,))] == ids_a


def test_sets_progress_repeats_and_agreement(tmp_path):
    db = make_runs(tmp_path, runs=1, moments=8)
    conn = connect(db)
    before = conn.total_changes
    first = next_set(conn, "alice")
    assert next_set(conn, "alice") == first  # reading twice shows the same set and changes nothing
    assert conn.total_changes == before
    assert 2 <= len(first["candidates"]) <= 4 and first["repeat"] is False
    assert len({c["text"] for c in first["candidates"]}) == len(first["candidates"])
    picks = []
    for n in range(REPEAT_EVERY):
        shown = next_set(conn, "alice")
        assert shown["repeat"] is (n == REPEAT_EVERY - 1)
        ids = [c["id"] for c in shown["candidates"]]
        chosen = shown["ranker_top"] if n % 2 == 0 else ids[-1] if ids[-1] != shown["ranker_top"] else ids[0]
        add_comparison(conn, shown["moment"]["id"], ids, chosen, "alice")
        picks.append((shown, chosen))
    repeated, again = picks[-1]
    original = conn.execute("SELECT chosen FROM comparisons WHERE set_key = ? ORDER BY id", (repeated["set_key"],))
    assert repeated["set_key"] == picks[0][0]["set_key"]  # the oldest set judged once came back
    p = progress(conn)
    assert (p["moments"], p["judged"], p["comparisons"], p["by_person"]) == (8, 4, 5, {"alice": 5})
    a = agreement(conn)
    verdicts = [r[0] for r in original]
    assert a["repeat_pairs"] == a["self_pairs"] == 1
    assert a["repeat_agreement"] == float(verdicts[0] == verdicts[1])
    assert a["ranker_picks"] == 5 and a["ranker_agreement"] == pytest.approx(3 / 5)  # picks 1, 3 and 5 were the top
    assert 0.25 <= a["ranker_chance"] <= 0.5
    verdict_list = judged(conn)
    assert len(verdict_list) == 5 and all(v.texts[v.chosen] for v in verdict_list)
    assert sum(len(p.texts) for p in pools(conn)) == 8 * 8


def test_media_stay_inside_recorded_run_folders(tmp_path):
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF secret")
    folder = tmp_path / "run"
    (folder / "voice").mkdir(parents=True)
    (folder / "voice" / "ok.wav").write_bytes(b"RIFF fine")
    (folder / "voice" / "link.wav").symlink_to(outside)
    conn = connect(tmp_path / "ripple.db")
    record(conn, run_json("run", moments=1, seed=3), folder)
    ids = [r[0] for r in conn.execute("SELECT id FROM candidates ORDER BY id")]
    for candidate, path in zip(ids, ["voice/ok.wav", "../secret.wav", str(outside), "voice/link.wav", "voice"]):
        conn.execute("UPDATE candidates SET audio = ? WHERE id = ?", (path, candidate))
    assert media_path(conn, "audio", ids[0]) == (folder / "voice" / "ok.wav").resolve()
    assert [media_path(conn, "audio", i) for i in ids[1:5]] == [None] * 4  # ../, absolute, symlink out, a folder
    assert media_path(conn, "audio", 10**6) is None and media_path(conn, "passwd", ids[0]) is None
    with pytest.raises(sqlite3.IntegrityError):  # a comparison must name real candidates
        conn.execute("INSERT INTO comparisons (moment, chosen, verdict, set_key, who, created) "
                     "VALUES (1, 999999, 'best', '1', 'x', 'now')")
