"""Voices: piper's Joe and espeak-ng speak, excitement speeds them up, clips are cached."""

from __future__ import annotations

import shutil
import wave

import pytest

from ripple.errors import ModelError
from ripple.voice import VoiceConfig, effective, choose_backend, synthesise

LINE = "Two zombiemen down, and he grabs the green armor!"


def seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.parametrize("backend", ["piper", "espeak-ng"])
def test_each_voice_speaks(tmp_path, backend):
    if backend == "espeak-ng" and shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian's espeak-ng (make sysdeps)")
    assert 1.5 < seconds(synthesise(LINE, VoiceConfig(backend=backend), tmp_path)) < 8


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng (make sysdeps)")
def test_excitement_speeds_the_voice_up(tmp_path):
    # espeak-ng is deterministic; piper draws its durations with noise, so its clips vary.
    calm = synthesise(LINE, VoiceConfig(backend="espeak-ng"), tmp_path)
    hyped = synthesise(LINE, VoiceConfig(backend="espeak-ng", excitement=1.0), tmp_path)
    assert seconds(hyped) < seconds(calm) * 0.92
    assert effective(VoiceConfig(rate=1.0, pitch=1.0, excitement=1.0)) == pytest.approx((1.15, 1.10))
    assert effective(VoiceConfig(excitement=5.0)) == effective(VoiceConfig(excitement=1.0))  # clamped


def test_clips_are_cached_by_text_and_settings(tmp_path):
    first = synthesise(LINE, VoiceConfig(backend="piper"), tmp_path)
    stamp = first.stat().st_mtime_ns
    assert synthesise(LINE, VoiceConfig(backend="piper"), tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert synthesise(LINE, VoiceConfig(backend="piper", rate=1.2), tmp_path) != first
    assert synthesise(LINE + " Wow.", VoiceConfig(backend="piper"), tmp_path) != first


def test_backend_choice():
    assert choose_backend(VoiceConfig()) == "piper"  # installed with the project
    with pytest.raises(ModelError, match="'festival' is not one of"):
        choose_backend(VoiceConfig(backend="festival"))


def write_wav(path, samples, rate: int = 22050):
    import numpy as np

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize("backend", ["piper", "espeak-ng"])
def test_pauses_are_the_silences_between_words(tmp_path, backend):
    """A line can be broken off at its pauses (live commentary): each one silent, between two words."""
    import numpy as np

    from ripple.voice import PAUSE_S, pauses

    if backend == "espeak-ng" and shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian's espeak-ng (make sysdeps)")
    clip = synthesise("Down he goes, what a shot. And another one, straight through the corridor.",
                      VoiceConfig(backend=backend), tmp_path)
    with wave.open(str(clip)) as w:  # the samples as they are (resampling would smear the edges)
        rate, audio = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768
    peak = np.abs(audio).max()
    found = pauses(clip)
    assert len(found) >= 2  # at the comma and the full stop at least
    assert found == sorted(found) and 0 < found[0] and found[-1] < len(audio) / rate - PAUSE_S
    for at in found:
        quiet = audio[int(at * rate) : int((at + PAUSE_S) * rate)]
        assert np.abs(quiet).max() < 0.1 * peak, at  # silent for PAUSE_S from there
        assert np.abs(audio[: int(at * rate)]).max() > 0.5 * peak  # with speech before it...
        assert np.abs(audio[int((at + PAUSE_S) * rate) :]).max() > 0.2 * peak  # ...and after it


def test_silence_at_either_end_is_not_a_pause(tmp_path):
    import numpy as np

    from ripple.voice import pauses

    rate = 22050
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    gap, edge = np.zeros(int(0.2 * rate)), np.zeros(int(0.3 * rate))
    clip = write_wav(tmp_path / "a.wav", np.concatenate([edge, tone, gap, tone, edge]))
    assert pauses(clip) == [pytest.approx(1.3, abs=0.011)]  # the gap, not the silence around the words
    short = write_wav(tmp_path / "b.wav", np.concatenate([tone, np.zeros(int(0.03 * rate)), tone]))
    assert pauses(short) == []  # 30 ms is a breath inside a word, not a pause
    assert pauses(write_wav(tmp_path / "c.wav", np.zeros(rate))) == []
