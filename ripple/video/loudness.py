"""Loudness of a video's game audio, and its peaks: the explosions, crowds and goal horns
that make good hype cues."""

from __future__ import annotations

from dataclasses import dataclass

from ripple.speech.audio import SAMPLE_RATE

WINDOW_S = 0.5  # loudness is measured over windows this long
PEAK_OVER_MEDIAN_DB = 12.0  # a window this much louder than the clip's median is a peak
PEAK_GAP_S = 2.0  # peaks closer than this are one event
SILENCE_DB = -90.0  # the floor given to digital silence


@dataclass(frozen=True)
class Peak:
    time: float  # seconds, the loudest window's start
    loudness_db: float  # RMS in dBFS
    over_median_db: float  # how far it stands out from the clip's usual level


def loudness_db(audio, window_s: float = WINDOW_S, rate: int = SAMPLE_RATE):
    """RMS loudness in dBFS per window of `audio` (mono float at `rate` samples/s)."""
    import numpy as np

    size = int(window_s * rate)
    n = len(audio) // size
    if n == 0:
        return np.array([], dtype=np.float32)
    frames = audio[: n * size].reshape(n, size).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB).astype(np.float32)


def peaks(audio, window_s: float = WINDOW_S) -> list[Peak]:
    """Windows much louder than the clip's median, one per event, in time order."""
    import numpy as np

    levels = loudness_db(audio, window_s)
    if levels.size == 0:
        return []
    median = float(np.median(levels))
    found: list[Peak] = []
    for i in np.argsort(-levels):  # loudest first, so each event keeps its loudest window
        over = float(levels[i]) - median
        if over < PEAK_OVER_MEDIAN_DB:
            break
        time = i * window_s
        if all(abs(time - p.time) >= PEAK_GAP_S for p in found):
            found.append(Peak(round(time, 3), float(levels[i]), over))
    return sorted(found, key=lambda p: p.time)
