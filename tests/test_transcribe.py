"""`ripple transcribe` on speech we synthesise with espeak-ng: the words come back."""

from __future__ import annotations

import json
import shutil
import subprocess
import wave

import numpy as np
import pytest

from ripple.errors import InputError
from ripple.speech.transcribe import TranscribeConfig, cut_loops, transcribe
from tests.conftest import run_here

SPOKEN = "The imp throws a fireball and the player drops to thirty eight health. Two zombiemen go down with the shotgun."
SILENCE_S = 4.0  # of quiet before and after the speech, where nothing may be heard

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng (make sysdeps)")


def wer(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()  # "thirty eight" and "38" are the same words
    return jiwer.wer(normalise(reference), normalise(hypothesis))


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """espeak-ng's speech with silence on both sides, as a 16 kHz WAV."""
    folder = tmp_path_factory.mktemp("speech")
    raw = folder / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), SPOKEN], check=True)
    with wave.open(str(raw)) as w:
        rate, samples = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    quiet = np.zeros(int(SILENCE_S * rate), dtype=np.int16)
    padded = folder / "Doom commentary take 1.wav"
    with wave.open(str(padded), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate([quiet, samples, quiet]).tobytes())
    return padded


@pytest.mark.parametrize("backend", [pytest.param("openai", marks=pytest.mark.slow), "faster"])
def test_the_spoken_words_come_back_with_times(speech, tmp_path, backend):
    out = tmp_path / "t.jsonl"
    report = transcribe(TranscribeConfig(media=[speech], out=out, backend=backend))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    heard = " ".join(r["text"] for r in records)
    error = wer(SPOKEN, heard)
    print(f"\n{backend}: WER {error:.1%} — {heard}")
    assert error <= 0.25  # tiny.en on espeak-ng's robot voice; "zombiemen" is not in its vocabulary
    assert records[0]["game"] == "Doom" and records[0]["source"] == str(speech)
    # Silence is skipped, not transcribed: speech starts after the quiet and ends before it.
    assert records[0]["start"] >= SILENCE_S - 0.6
    assert records[-1]["end"] <= report.seconds_of_speech + SILENCE_S + 1.0
    words = [w for r in records for w in r["words"]]
    assert len(words) >= 15 and all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))


@pytest.mark.slow
def test_the_openai_checkpoint_is_converted_once(speech, tmp_path):
    from ripple.lm.models import cache_root

    checkpoint = cache_root() / "whisper" / "tiny.en" / "model.pt"
    transcribe(TranscribeConfig(media=[speech], out=tmp_path / "a.jsonl"))
    stamp = checkpoint.stat().st_mtime_ns
    transcribe(TranscribeConfig(media=[speech], out=tmp_path / "b.jsonl"))
    assert checkpoint.stat().st_mtime_ns == stamp


def test_cut_loops():
    assert cut_loops("go go go go team") == "go team"
    assert cut_loops("what a shot what a shot what a shot") == "what a shot"
    assert cut_loops("very very good") == "very very good"  # two in a row is how people talk


def test_unreadable_media_are_skipped_or_refused(speech, tmp_path):
    import imageio_ffmpeg

    silent_video = tmp_path / "no audio.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64:d=1",
                    str(silent_video)], check=True)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    out = tmp_path / "t.jsonl"
    report = transcribe(TranscribeConfig(media=[silent_video, corrupt, tmp_path / "missing.wav", speech], out=out,
                                         backend="faster"))
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.skipped}
    assert reasons["no audio.mp4"] == "no audio track"
    assert reasons["missing.wav"] == "no such file"
    assert "corrupt.mp4" in reasons
    assert report.files == 1 and out.is_file()
    with pytest.raises(InputError, match="nothing to transcribe"):
        transcribe(TranscribeConfig(media=[silent_video], out=tmp_path / "none.jsonl"))
    result = run_here("transcribe", str(silent_video), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.jsonl").exists()
