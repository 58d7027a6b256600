"""Voices side by side: piper with the packaged Joe voice (Ripple's default) and espeak-ng,
on the same commentary lines, each through Ripple's voice registry and through the engine
called directly (the floor: no cache, no WAV round trip).

Prints, per backend: real-time factor (seconds of synthesis per second of speech, cache
off), time to first audio for one line (whole-clip synthesis, as narrate does, and the
engine's own streaming: piper yields audio sentence by sentence, espeak-ng writes to a
pipe as it goes), and the voice's load time.

Run:  .venv/bin/python bench/voice.py     (needs Debian's espeak-ng: make sysdeps)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ripple.voice import VoiceConfig, synthesise  # noqa: E402
from ripple.voice.piper import _voice  # noqa: E402

LINES = """\
And there it is, the shotgun guy goes down and the corridor is clear!
Health is down to thirty one, he needs that medikit right now.
Three kills in ten seconds. This run is on fire.
Quiet for a moment. Ammo check: twelve shells left.
What a finish! Straight through the door and onto the exit switch.
The imp throws a fireball, and he sidesteps it without even looking.""".splitlines()
REPEATS = 3  # timings are the median of this many passes


def wav_seconds(data: bytes) -> float:
    import io
    import wave

    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def ripple_pass(backend: str, cache: Path) -> tuple[float, float, float]:
    """(synthesis seconds, speech seconds, first line's seconds) through ripple.voice, a
    fresh cache each pass so that nothing is reused."""
    cfg = VoiceConfig(backend=backend)
    spent = spoken = first = 0.0
    for i, line in enumerate(LINES):
        started = time.perf_counter()
        path = synthesise(line, cfg, cache)
        took = time.perf_counter() - started
        first = took if i == 0 else first
        spent += took
        spoken += wav_seconds(path.read_bytes())
    return spent, spoken, first


def piper_stream_first() -> float:
    started = time.perf_counter()
    for _ in _voice().synthesize(LINES[0]):
        return time.perf_counter() - started
    return float("nan")


def espeak_stream_first() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(["espeak-ng", "-v", "en-us", "--stdout", LINES[0]], stdout=subprocess.PIPE)
    proc.stdout.read(4096)  # the WAV header and the first samples
    first = time.perf_counter() - started
    proc.communicate()
    return first


def main() -> None:
    started = time.perf_counter()
    _voice()
    piper_load = time.perf_counter() - started
    rows = []
    for backend, stream_first, load in [("piper", piper_stream_first, piper_load),
                                        ("espeak-ng", espeak_stream_first, 0.0)]:
        rtfs, firsts, streams = [], [], []
        for _ in range(REPEATS):
            with tempfile.TemporaryDirectory() as cache:
                spent, spoken, first = ripple_pass(backend, Path(cache))
            rtfs.append(spent / spoken)
            firsts.append(first)
            streams.append(stream_first())
        rows.append((backend, statistics.median(rtfs), statistics.median(firsts), statistics.median(streams), load))
    print(f"{len(LINES)} lines, median of {REPEATS} passes, {os.cpu_count()} CPUs\n")
    print("| voice | real-time factor | first audio, whole line (ms) | first audio, streamed (ms) | load (s) |")
    print("|---|---|---|---|---|")
    for backend, rtf, first, stream, load in rows:
        print(f"| {backend} | {rtf:.4f} | {first * 1000:.0f} | {stream * 1000:.0f} | {load:.2f} |")
    piper, espeak = rows
    print(f"\npiper ÷ espeak-ng real-time factor: {piper[1] / espeak[1]:.1f}x")


if __name__ == "__main__":
    main()
