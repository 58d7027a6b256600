"""Transcription side by side: openai-whisper (Ripple's default backend) and
faster-whisper on the same speech, synthesised with espeak-ng and padded with silence.

Prints word error rate (whisper's English normaliser on both sides) and real-time factor
(seconds of compute per second of audio), model load excluded.

Run:  .venv/bin/python bench/transcribe.py     (needs Debian's espeak-ng: make sysdeps)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ripple.lm.models import cache_root  # noqa: E402
from ripple.speech.audio import SAMPLE_RATE, load_audio  # noqa: E402
from ripple.speech.transcribe import BACKENDS, TranscribeConfig, cut_loops, speech_chunks  # noqa: E402

SENTENCES = [
    "Welcome back everybody, today we are running the first level of Doom.",
    "The imp throws a fireball and the player drops to thirty eight health.",
    "Straight through the door, grab the green armor and head for the exit switch.",
    "What a finish, thirty one seconds, that is a new personal best.",
]
GAP_S = 2.0  # silence between sentences, and before and after


def synthesise(folder: Path) -> Path:
    parts = []
    for i, sentence in enumerate(SENTENCES):
        raw = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "155", "-w", str(raw), sentence], check=True)
        parts.append(load_audio(raw))
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([gap] + [x for p in parts for x in (p, gap)])
    out = folder / "speech.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((audio * 32767).astype(np.int16).tobytes())
    return out


def main() -> None:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    with tempfile.TemporaryDirectory() as tmp:
        path = synthesise(Path(tmp))
        audio = load_audio(path)
        seconds = len(audio) / SAMPLE_RATE
        print(f"{seconds:.1f} s of audio, {len(SENTENCES)} sentences of espeak-ng speech, 2 threads\n")
        print("| backend | WER | real-time factor | transcript |")
        print("|---|---|---|---|")
        for name, make in BACKENDS.items():
            run = make(TranscribeConfig(media=[path], backend=name), cache_root())
            started = time.perf_counter()
            segments = run(audio, speech_chunks(audio))
            rtf = (time.perf_counter() - started) / seconds
            heard = " ".join(cut_loops(s.text) for s in segments)
            error = jiwer.wer(normalise(" ".join(SENTENCES)), normalise(heard))
            print(f"| {name} | {error:.1%} | {rtf:.3f} | {heard} |")


if __name__ == "__main__":
    main()
