"""Voices: piper's Joe and espeak-ng speak, excitement speeds them up, clips are cached."""

from __future__ import annotations

import shutil
import wave

import pytest

from ripple.errors import ModelError
from ripple.voice import VoiceConfig, _effective, choose_backend, synthesise

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
    assert _effective(VoiceConfig(rate=1.0, pitch=1.0, excitement=1.0)) == pytest.approx((1.15, 1.10))
    assert _effective(VoiceConfig(excitement=5.0)) == _effective(VoiceConfig(excitement=1.0))  # clamped


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
