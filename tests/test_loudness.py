"""Loudness peaks of game audio: two bursts in a quiet clip are found where they are."""

from __future__ import annotations

import numpy as np
import pytest

from ripple.speech.audio import SAMPLE_RATE
from ripple.video.loudness import loudness_db, peaks


def clip(seconds: float, bursts: list[float]):
    rng = np.random.default_rng(0)
    audio = 0.01 * rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)  # quiet room tone
    for start in bursts:
        a, b = int(start * SAMPLE_RATE), int((start + 0.8) * SAMPLE_RATE)
        audio[a:b] += 0.5 * rng.standard_normal(b - a).astype(np.float32)  # an explosion
    return audio


def test_bursts_are_found_at_their_times():
    found = peaks(clip(20, [4.0, 13.0]))
    assert [p.time for p in found] == pytest.approx([4.0, 13.0], abs=0.5)
    assert all(p.over_median_db > 20 for p in found)


def test_a_steady_clip_has_no_peaks_and_silence_has_a_floor():
    assert peaks(clip(10, [])) == []
    levels = loudness_db(np.zeros(SAMPLE_RATE * 2, dtype=np.float32))
    assert levels.tolist() == [-90.0] * 4
    assert peaks(np.zeros(100, dtype=np.float32)) == []  # shorter than one window


def test_peaks_from_a_real_audio_file(tmp_path):
    import wave

    from ripple.speech.audio import load_audio

    path = tmp_path / "game.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(clip(12, [7.0]), -1, 1) * 32767).astype(np.int16).tobytes())
    assert [p.time for p in peaks(load_audio(path))] == pytest.approx([7.0], abs=0.5)
