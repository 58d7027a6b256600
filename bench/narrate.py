"""Rendering a narrated video side by side, on the same 60 s of 720p gameplay and the same
scheduled lines:

- Ripple fast: ffmpeg mixes the ducked game audio with the narration and copies the
  H.264 picture unchanged (narrate's default when nothing is burned in);
- Ripple moviepy: subtitles burned in, moviepy composites and re-encodes with libx264;
- ffmpeg by hand, copy: the command a person would write for the same job (narration over
  the game, ducked with sidechaincompress), picture copied: the floor for the fast path;
- ffmpeg by hand, re-encode: the same with libx264 at Ripple's preset and quality: the
  floor for any path that touches the picture.

Prints seconds of rendering per minute of video and each path against its floor. The
narration track is built once and shared, so only rendering is timed.

Run:  .venv/bin/python bench/narrate.py [--seconds 60] [--skip-moviepy]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ripple.schedule import Line  # noqa: E402
from ripple.speech.audio import ffmpeg_binary  # noqa: E402
from ripple.video.probe import probe  # noqa: E402
from ripple.video.render import RenderConfig, narration_track, render_fast, render_moviepy  # noqa: E402
from ripple.voice import VoiceConfig, synthesise  # noqa: E402
from tests.media import make_gameplay  # noqa: E402

LINE_EVERY_S = 5.0  # one line every five seconds, as a busy commentator would
TEXT = "And he takes the corridor at full speed, shotgun up, two imps ahead."
REPEATS = 3  # the fast paths are timed this many times (median); re-encodes once


def hand_written(video: Path, narration: Path, out: Path, reencode: bool) -> None:
    video_args = ["-c:v", "libx264", "-preset", RenderConfig.preset, "-crf", str(RenderConfig.crf),
                  "-pix_fmt", "yuv420p"] if reencode else ["-c:v", "copy"]
    subprocess.run(
        [ffmpeg_binary(), "-nostdin", "-y", "-v", "error", "-i", str(video), "-i", str(narration),
         "-filter_complex",
         "[1:a]asplit=2[sc][voice];[0:a][sc]sidechaincompress=threshold=0.02:ratio=8:release=150[game];"
         "[game][voice]amix=inputs=2:duration=first:normalize=0[mix]",
         "-map", "0:v:0", "-map", "[mix]", *video_args, "-c:a", "aac", "-b:a", "192k", str(out)],
        check=True,
    )


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--skip-moviepy", action="store_true", help="leave out the slow re-encoding paths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"drawing {args.seconds:.0f} s of 1280x720 30 fps gameplay ...", file=sys.stderr)
        clip = make_gameplay(tmp / "gameplay.mp4", seconds=args.seconds, fps=30, size=(1280, 720),
                             bursts=(10.0, 31.0))
        info = probe(clip.path)
        clip_path = synthesise(TEXT, VoiceConfig(backend="espeak-ng"), tmp / "cache")
        from ripple.voice import clip_seconds

        length = clip_seconds(clip_path)
        lines, clips = [], {}
        t = 1.0
        while t + length < info.duration:
            lines.append(Line(len(lines), TEXT, round(t, 3), round(t + length, 3), 1, 0.5))
            clips[len(lines) - 1] = clip_path
            t += max(LINE_EVERY_S, length + 0.5)
        narration = narration_track(lines, clips, info.duration, tmp / "narration.wav")
        cfg = RenderConfig()
        rows = [
            ("Ripple fast (picture copied)", timed(lambda: render_fast(info, narration, lines, tmp / "fast.mp4", cfg),
                                                   REPEATS)),
            ("ffmpeg by hand, copy", timed(lambda: hand_written(clip.path, narration, tmp / "hand.mp4", False),
                                           REPEATS)),
        ]
        if not args.skip_moviepy:
            burn = RenderConfig(burn_subtitles=True, renderer="moviepy")
            rows += [
                ("Ripple moviepy (subtitles burned in)",
                 timed(lambda: render_moviepy(info, narration, lines, tmp / "moviepy.mp4", burn), 1)),
                ("ffmpeg by hand, re-encode", timed(lambda: hand_written(clip.path, narration, tmp / "hand2.mp4", True),
                                                    1)),
            ]
    per_minute = 60.0 / info.duration
    print(f"{info.duration:.0f} s of {info.width}x{info.height} at {info.fps:g} fps, {len(lines)} lines, "
          f"{os.cpu_count()} CPUs\n")
    print("| path | seconds per minute of video | against its floor |")
    print("|---|---|---|")
    floors = {"Ripple fast (picture copied)": rows[1][1]}
    if len(rows) > 2:
        floors["Ripple moviepy (subtitles burned in)"] = rows[3][1]
    for name, seconds in rows:
        floor = floors.get(name)
        print(f"| {name} | {seconds * per_minute:.2f} | {f'{seconds / floor:.2f}x' if floor else 'floor'} |")


if __name__ == "__main__":
    main()
