"""Runs are recorded as they are written, and `ripple export best` gives the best-of set
(JSON, Markdown) and, from narrated videos, a narrated best-of reel (real ffmpeg, espeak-ng)."""

from __future__ import annotations

import json
import shutil

from ripple.store import connect, record
from ripple.curate.export import ExportConfig, export_best
from ripple.curate.sets import add_comparison
from ripple.voice import VoiceConfig
from tests.conftest import EXAMPLES, run_here
from tests.media import make_gameplay, streams
from tests.prefs import judge_all, make_runs, run_json


def test_generate_records_every_candidate_in_the_store(tiny_lm, tmp_path):
    from ripple.generate import generate_commentary
    from ripple.config import GenerateConfig, RankConfig, SamplingConfig
    from ripple.runs import write_run

    cfg = GenerateConfig(state_file=EXAMPLES / "doom.yaml", model=tiny_lm.spec.name, out_dir=tmp_path, run_id="r",
                         sampling=SamplingConfig(candidates=3, max_new_tokens=6),
                         rank=RankConfig(weights={"coherence": 1.0, "loops": 1.0, "length": 0.5}))
    folder = write_run(generate_commentary(cfg, lm=tiny_lm), tmp_path)
    conn = connect(tmp_path / "ripple.db")
    run = conn.execute("SELECT run_id, folder, model_name, model_json FROM runs").fetchone()
    assert (run["run_id"], run["folder"]) == ("r", str(folder.resolve()))
    assert json.loads(run["model_json"])["architecture"] == "GPT2LMHeadModel"
    data = json.loads((folder / "commentary.json").read_text())
    stored = [r["text"] for r in conn.execute("SELECT k.text FROM candidates k JOIN moments m ON m.id = k.moment "
                                                "ORDER BY m.idx, k.rank")]
    assert stored == [c["text"] for m in data["moments"] for c in m["candidates"]]
    scorers = {r[0] for r in conn.execute("SELECT DISTINCT scorer FROM scores")}
    assert scorers == {"coherence", "loops", "length"}
    assert conn.execute("SELECT COUNT(*) FROM moments WHERE prompt LIKE '%Commentator: \"'").fetchone()[0] == 4


def test_export_best_picks_the_most_picked_line(tmp_path):
    db = make_runs(tmp_path, runs=1, moments=6)
    judge_all(db, who="alice")
    conn = connect(db)
    moment = conn.execute("SELECT moment FROM comparisons ORDER BY id LIMIT 1").fetchone()[0]
    shown = [r[0] for r in conn.execute("SELECT s.candidate FROM shown s JOIN comparisons c ON c.id = s.comparison "
                                        "WHERE c.moment = ? ORDER BY c.id, s.position", (moment,))][:2]
    for who in ("bob", "carol"):  # two people outvote alice's pick
        add_comparison(conn, moment, shown, shown[1], who)
    line = conn.execute("SELECT text FROM candidates WHERE id = ?", (shown[1],)).fetchone()[0]
    conn.close()
    result = run_here("export", "best", "--db", str(db), "--out", str(tmp_path / "best"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "best" / "best.json").read_text())
    first = next(m for m in data["moments"] if m["moment_id"] == moment)
    assert first["line"] == line and first["picks"] == 2 and first["people"] == ["alice", "bob", "carol"]
    assert data["reel"] is None and not (tmp_path / "best" / "reel.mp4").exists()  # no videos here
    markdown = (tmp_path / "best" / "best.md").read_text()
    assert markdown.startswith("# Best of Ripple") and f"**{line}**" in markdown
    assert run_here("export", "--db", str(db)).returncode == 2  # the kind of export must be said


def test_export_cuts_and_narrates_a_reel_from_narrated_videos(tmp_path):
    clip = make_gameplay(tmp_path / "source" / "play.mp4", seconds=8.0, fps=10, size=(320, 180))
    folder = tmp_path / "out" / "narrated-run"
    folder.mkdir(parents=True)
    shutil.copy(clip.path, folder / "narrated.mp4")
    data = run_json("narrated-run", moments=2, seed=5)
    data["state_file"] = str(clip.path)
    data["narrate"] = {"video": {"duration": clip.seconds}, "outputs": {"video": "narrated.mp4"}, "lines": []}
    for moment, when in zip(data["moments"], (1.0, 5.0)):
        moment["moment"]["time"] = when
        moment["candidates"][0]["text"] = f"Look at {int(when)}!"
    (folder / "commentary.json").write_text(json.dumps(data))
    db = tmp_path / "out" / "ripple.db"
    conn = connect(db)
    record(conn, data, folder)
    for moment in (1, 2):
        ids = [r[0] for r in conn.execute("SELECT id FROM candidates WHERE moment = ? ORDER BY text LIKE 'Look%' DESC",
                                          (moment,))][:3]
        add_comparison(conn, moment, ids, ids[0], "alice")  # the "Look at" line
    conn.close()
    result = export_best(ExportConfig(db=db, out=tmp_path / "best", voice=VoiceConfig(backend="espeak-ng")))
    assert result.reel == tmp_path / "best" / "reel.mp4" and result.reel_lines == 2
    reel = streams(result.reel)
    assert (reel["video"], reel["audio"], reel["width"], reel["height"]) == ("h264", "aac", 320, 180)
    assert abs(reel["duration"] - (5.0 + 5.0)) < 0.5  # windows [0, 5] and [3, 8]: 2 s before, 4 after, in the clip
    subtitles = (tmp_path / "best" / "reel.srt").read_text()
    assert "Look at 1!" in subtitles and "Look at 5!" in subtitles
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["best.json", "best.md", "reel.mp4", "reel.srt",
                                                                     "reel.vtt"]
