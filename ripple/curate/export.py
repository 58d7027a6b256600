"""`ripple export best`: the best-of set people picked, as best.json and best.md, and
where the moments come from videos, a narrated best-of reel.

A moment's best line is the candidate people picked most often (the latest pick breaks a
tie), kept when it was picked at least as often as the set was called all bad. The reel
cuts each moment's window out of its video (the source when it is still there, else the
picture of the run's narrated.mp4) with the ffmpeg binary, joins the windows, and narrates
the join with narrate's own pieces: the schedule, the voice, the narration track and the
render that ducks the game audio under it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ripple.store import DB_NAME, connect, now
from ripple.errors import InputError
from ripple.voice import VoiceConfig, clip_seconds

REEL_FPS = 30  # frames per second of the reel when the first clip's rate is unknown


@dataclass(frozen=True)
class ExportConfig:
    db: Path = Path("outputs") / DB_NAME
    out: Path = Path("outputs/best")  # best.json, best.md and reel.mp4 go in here (replaced whole)
    reel: bool = True  # cut and narrate a reel when moments come from videos
    voice: VoiceConfig = field(default_factory=VoiceConfig)


@dataclass
class Export:
    folder: Path
    moments: list[dict[str, Any]]
    reel: Path | None
    reel_lines: int = 0


def best_of(conn) -> list[dict[str, Any]]:
    """Per judged moment: its most picked line with the counts, in run and time order."""
    rows = conn.execute(
        "SELECT c.moment, c.chosen, c.who, c.id FROM comparisons c ORDER BY c.id").fetchall()
    tally: dict[int, dict[str, Any]] = {}
    for r in rows:
        t = tally.setdefault(r["moment"], {"picks": {}, "last": {}, "all_bad": 0, "comparisons": 0, "who": set()})
        t["comparisons"] += 1
        t["who"].add(r["who"])
        if r["chosen"] is None:
            t["all_bad"] += 1
        else:
            t["picks"][r["chosen"]] = t["picks"].get(r["chosen"], 0) + 1
            t["last"][r["chosen"]] = r["id"]
    out = []
    for moment, t in tally.items():
        if not t["picks"]:
            continue
        best = max(t["picks"], key=lambda c: (t["picks"][c], t["last"][c]))
        if t["picks"][best] < t["all_bad"]:
            continue
        row = conn.execute(
            "SELECT m.idx, m.game, m.time, m.description, m.clip_start, m.clip_end, m.run AS run_pk, r.run_id, "
            "r.folder, r.kind, r.model_name, r.video, r.state_file, k.text, k.rank, k.id AS candidate "
            "FROM candidates k JOIN moments m ON m.id = k.moment JOIN runs r ON r.id = m.run WHERE k.id = ?",
            (best,)).fetchone()
        out.append({
            "run": row["run_id"], "run_folder": row["folder"], "kind": row["kind"], "model": row["model_name"],
            "moment": row["idx"], "moment_id": moment, "game": row["game"], "time": row["time"],
            "description": row["description"], "line": row["text"], "candidate": row["candidate"],
            "ranker_rank": row["rank"], "picks": t["picks"][best], "comparisons": t["comparisons"],
            "all_bad": t["all_bad"], "people": sorted(t["who"]),
            "_clip": (row["clip_start"], row["clip_end"]) if row["video"] and row["clip_start"] is not None else None,
            "_video": row["video"], "_source": row["state_file"], "_run_pk": row["run_pk"],
        })
    return sorted(out, key=lambda m: (m["_run_pk"], m["time"] if m["time"] is not None else 0, m["moment"]))


def to_markdown(moments: list[dict[str, Any]], reel: bool) -> str:
    lines = ["# Best of Ripple", "", f"{len(moments)} moments, each with the line people picked most often.", ""]
    if reel:
        lines += ["The narrated reel: [reel.mp4](reel.mp4) (subtitles in reel.srt).", ""]
    lines += ["| # | game | when | moment | the line | picked | ranker's rank | run |", "|---|---|---|---|---|---|---|---|"]
    for i, m in enumerate(moments, 1):
        when = "" if m["time"] is None else f"{int(m['time'] // 60)}:{int(round(m['time'] % 60)):02d}"
        cell = lambda s: str(s).replace("|", "\\|")
        lines.append(f"| {i} | {cell(m['game'] or '')} | {when} | {cell(m['description'])} | **{cell(m['line'])}** | "
                     f"{m['picks']} of {m['comparisons']} | {m['ranker_rank'] or '–'} | {cell(m['run'])} |")
    return "\n".join(lines) + "\n"


def _ffmpeg(args: list[str], what: str) -> None:
    from ripple import ffmpeg
    from ripple.video.render import RenderError

    ffmpeg.run(args, what, RenderError)


def _cut(source: Path, has_audio: bool, start: float, end: float, size: tuple[int, int], fps: float,
         out: Path) -> None:
    """One window re-encoded to the reel's size, rate and codecs (silence where it had no audio)."""
    w, h = size
    video = (f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
             f"fps={fps:g},format=yuv420p,setsar=1")
    args = ["-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", str(source)]
    if not has_audio:
        args += ["-f", "lavfi", "-t", f"{end - start:.3f}", "-i", "anullsrc=r=48000:cl=stereo"]
    args += ["-map", "0:v:0", "-map", "0:a:0" if has_audio else "1:a:0", "-vf", video,
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac", "-ar", "48000", "-ac", "2",
             "-shortest", str(out)]
    _ffmpeg(args, str(source))


def make_reel(moments: list[dict[str, Any]], folder: Path, voice: VoiceConfig) -> tuple[Path | None, int]:
    """Cut, join and narrate the windows of the moments that come from videos."""
    from ripple.lm.models import cache_root
    from ripple.schedule import Option, ScheduleConfig, schedule
    from ripple.video.probe import probe
    from ripple.video.render import RenderConfig, narration_track, render, to_srt, to_vtt
    from ripple.voice import choose_backend, synthesise

    windows = []
    for m in moments:
        if not m["_clip"]:
            continue
        run_folder = Path(m["run_folder"])
        source = Path(m["_source"]) if m["_source"] else None
        if source is None or not source.is_file():  # the source moved: the narrated copy's picture
            source = run_folder / m["_video"]
        if source.is_file():
            windows.append((m, source))
    if not windows:
        return None, 0
    choose_backend(voice)
    first = probe(windows[0][1])
    size = (first.shown_size[0] // 2 * 2, first.shown_size[1] // 2 * 2)
    fps = first.fps or REEL_FPS
    parts, options, offset = [], [], 0.0
    for i, (m, source) in enumerate(windows):
        info = probe(source)
        start, end = m["_clip"]
        end = min(end, info.duration)
        if end - start < 0.5:
            continue
        part = folder / f".part{i:03d}.mp4"
        use_audio = info.has_audio and source.name != "narrated.mp4"  # the narrated copy's audio has old lines
        _cut(source, use_audio, start, end, size, fps, part)
        parts.append(part)
        options.append(Option(len(options), offset + max(0.0, (m["time"] or start) - start), 1.0, [(m["line"], 1.0)]))
        offset += end - start
    listing = folder / ".parts.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
    joined = folder / ".joined.mp4"
    _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(joined)], "the reel")
    reel_probe = probe(joined)
    clips: dict[int, Path] = {}

    def seconds(index: int, text: str) -> float:
        clips[index] = synthesise(text, voice, cache_root())
        return clip_seconds(clips[index])

    lines, _ = schedule(options, reel_probe.duration, seconds, ScheduleConfig(max_delay_s=3.0))
    narration = narration_track(lines, clips, reel_probe.duration, folder / ".narration.wav")
    render(reel_probe, narration, lines, folder / "reel.mp4", RenderConfig())
    (folder / "reel.srt").write_text(to_srt(lines))
    (folder / "reel.vtt").write_text(to_vtt(lines))
    for temporary in [*parts, listing, joined, narration]:
        temporary.unlink(missing_ok=True)
    return folder / "reel.mp4", len(lines)


def export_best(cfg: ExportConfig) -> Export:
    """Write best.json, best.md and (where there are videos) reel.mp4 into cfg.out."""
    from ripple.atomic import save_replacing

    if not cfg.db.is_file():
        raise InputError(str(cfg.db), "no such database (runs are recorded there by `ripple generate` and `narrate`)")
    conn = connect(cfg.db)
    try:
        moments = best_of(conn)
    finally:
        conn.close()
    if not moments:
        raise InputError(str(cfg.db), "no moment has a picked line yet; pick some with `ripple curate`")
    result = Export(cfg.out, moments, None)

    def save(tmp: Path) -> None:
        if cfg.reel:
            reel, result.reel_lines = make_reel(moments, tmp, cfg.voice)
            result.reel = cfg.out / reel.name if reel else None
        public = [{k: v for k, v in m.items() if not k.startswith("_")} for m in moments]
        data = {"created": now(), "db": str(cfg.db), "reel": "reel.mp4" if result.reel else None, "moments": public}
        (tmp / "best.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        (tmp / "best.md").write_text(to_markdown(moments, result.reel is not None))

    save_replacing(cfg.out, save)
    return result
