"""narrate's last step: the run folder (the narrated MP4 with its .srt/.vtt, narration.wav, the
voice clips, commentary.json, the contact sheet and the charts), written atomically, recorded in
the run store, and published to --output."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ripple.atomic import atomic_dir, temp_prefix
from ripple.errors import InputError
from ripple.generate import Progress


def write_run(result, levels, window_s: float, progress: Progress) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ripple.plots import score_chart, timeline_chart
    from ripple.runs import new_run_id, write_commentary_files
    from ripple.video.frames import contact_sheet
    from ripple.video.render import narration_track, render, to_srt, to_vtt

    cfg, gen = result.config, result.config.generate
    run_id = gen.run_id or new_run_id(gen.out_dir, cfg.video.stem)
    folder = gen.out_dir / run_id
    result.commentary.run_id = run_id
    t = time.perf_counter()
    # ffmpeg renders in a thread of its own (it waits on a subprocess) while the pictures
    # are drawn here: the two took 11 s and 14 s one after the other for a minute of Doom.
    with atomic_dir(folder) as tmp, ThreadPoolExecutor(1, thread_name_prefix="ripple-render") as pool:
        progress("rendering the narrated video", 0, 1)
        voice = tmp / "voice"
        voice.mkdir()
        clips = {}
        for line in result.lines:
            clips[line.moment] = shutil.copy2(result.clips[line.moment], voice / result.clips[line.moment].name)
        result.clips = {k: Path(v) for k, v in clips.items()}
        narration = narration_track(result.lines, result.clips, result.probe.duration, tmp / "narration.wav",
                                    cfg.render.narration_gain)
        rendering = pool.submit(render, result.probe, narration, result.lines, tmp / "narrated.mp4", cfg.render)
        (tmp / "narrated.srt").write_text(to_srt(result.lines))
        (tmp / "narrated.vtt").write_text(to_vtt(result.lines))
        notes = []
        for frame in result.keyframes:  # the line spoken nearest after each keyframe
            near = [l for l in result.lines if 0 <= l.start - frame.time < result.config.frames.sample_every_s]
            notes.append([f'"{near[0].text}"'] if near else [])
        contact_sheet(result.keyframes, tmp / "keyframes.png", notes=notes)
        timeline_chart(result.probe.duration, levels, window_s, result.moments, result.lines, result.dropped,
                       tmp / "timeline.png")
        if result.commentary.results:
            score_chart(result.commentary, tmp / "scores.png")
        result.video_handling = rendering.result()
        result.seconds["render"] = time.perf_counter() - t
        write_commentary_files(result.commentary, tmp, result.to_json(), chart=False)
    result.folder = folder
    result.commentary.folder = folder
    result.clips = {k: folder / "voice" / v.name for k, v in result.clips.items()}
    from ripple.store import DB_NAME, record_run

    record_run(gen.out_dir / DB_NAME, result.to_json(), folder)  # every candidate kept for `ripple curate`
    if cfg.output is not None:  # after the run folder is in place: a late failure here loses nothing
        try:
            publish(folder, cfg.output)
        except InputError as exc:
            raise InputError(exc.where, f"{exc.message}; the narrated run is kept in {folder}") from None


def published(output: Path) -> list[Path]:
    """Where --output puts the video and its subtitles."""
    return [output, output.with_suffix(".srt"), output.with_suffix(".vtt")]


def publish(tmp: Path, output: Path) -> None:
    """Copy the MP4 and its sidecars to the person's --output path, each atomically."""
    import tempfile

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(output), f"cannot create its folder: {exc.strerror}") from None
    for src, dst in zip([tmp / "narrated.mp4", tmp / "narrated.srt", tmp / "narrated.vtt"], published(output)):
        try:
            fd, part = tempfile.mkstemp(dir=output.parent, prefix=temp_prefix(dst.name), suffix=".tmp")
            os.close(fd)
        except OSError as exc:
            raise InputError(str(dst), f"cannot write here: {exc.strerror}") from None
        try:
            shutil.copyfile(src, part)
            os.chmod(part, 0o644)
            os.replace(part, dst)
        except OSError as exc:
            Path(part).unlink(missing_ok=True)
            raise InputError(str(dst), f"cannot write here: {exc.strerror}") from None
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
