"""`ripple transcribe`: recorded commentary (video or audio) into corpus records.

Two backends behind a registry: openai-whisper (the default, on a checkpoint converted
once from the packaged weights) and faster-whisper (CTranslate2, int8, faster on a CPU).
Both get word timestamps. Silence is cut out before decoding with faster-whisper's
Silero voice-activity detector, so quiet stretches cannot be "heard" as words, and a
phrase a segment repeats over and over (whisper's best-known failure) is kept once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ripple.atomic import atomic_write_text
from ripple.errors import FieldError, InputError, ModelError
from ripple.speech.audio import SAMPLE_RATE, AudioError, load_audio
from ripple.speech.whisper_ct2 import ct2_folder, openai_checkpoint

MIN_SPEECH_S = 0.25  # shorter voiced blips are noise
LOOP_MAX_N = 8  # longest phrase (in words) checked for back-to-back repeats


@dataclass(frozen=True)
class TranscribeConfig:
    media: list[Path]
    out: Path = Path("outputs/transcripts.jsonl")
    backend: str = "faster"  # "faster" (faster-whisper, in the transcribe extra) or "openai" (openai-whisper)
    model: str = "tiny.en"  # packaged model name or a CTranslate2 folder
    game: str | None = None  # default: from the file name
    language: str | None = "en"


@dataclass
class TranscribeReport:
    files: int = 0
    segments: int = 0
    words: int = 0
    seconds_of_speech: float = 0.0
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: list[dict]  # {"word", "start", "end"}


def speech_chunks(audio) -> list[dict]:
    """Sample ranges of speech ({"start", "end"}), from faster-whisper's bundled Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(audio, VadOptions(min_speech_duration_ms=int(MIN_SPEECH_S * 1000)))


def voiced(audio, chunks):
    """The voiced stretches joined, and a map from their times back to the recording's.

    Both backends decode this, so silence is never decoded (nor "heard" as words)."""
    import numpy as np
    from faster_whisper.vad import SpeechTimestampsMap

    joined = np.concatenate([audio[c["start"] : c["end"]] for c in chunks])
    back = SpeechTimestampsMap(chunks, SAMPLE_RATE)
    return joined, lambda t, is_end=False: back.get_original_time(t, is_end=is_end)


def _segment(start, end, text, words, back) -> Segment:
    """A backend's segment with times moved back onto the recording."""
    return Segment(back(start), back(end, True), text.strip(),
                   [{"word": w.strip(), "start": back(a), "end": back(b, True)} for w, a, b in words])


def cut_loops(text: str) -> str:
    """'go go go go go team' -> 'go team': a phrase repeated back to back is said once."""
    words = text.split()
    changed = True
    while changed:
        changed = False
        for n in range(1, LOOP_MAX_N + 1):
            i = 0
            while i + 2 * n <= len(words):
                if [w.lower().strip(",.!?") for w in words[i : i + n]] == [
                    w.lower().strip(",.!?") for w in words[i + n : i + 2 * n]
                ]:
                    repeats = 1
                    while words[i + repeats * n : i + (repeats + 1) * n] == words[i : i + n]:
                        repeats += 1
                    if repeats >= 3 or n >= 3:  # "very very" is speech; "go go go" is a loop
                        del words[i + n : i + repeats * n]
                        changed = True
                        continue
                i += 1
    return " ".join(words)


def _openai(cfg: TranscribeConfig, cache: Path) -> Callable:
    import whisper

    import torch

    checkpoint = openai_checkpoint(cfg.model, cache)
    model = whisper.load_model(str(checkpoint), device="cpu")
    heads = torch.load(checkpoint, map_location="cpu", weights_only=False).get("alignment_heads")
    if heads:  # the cross-attention heads that track timing, for word timestamps
        mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
        for layer, head in heads:
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)

    def run(audio, chunks):
        speech, back = voiced(audio, chunks)
        result = model.transcribe(
            speech, language=cfg.language, word_timestamps=True, fp16=False,
            condition_on_previous_text=False,  # a looping segment must not prime the next one
        )
        return [
            _segment(s["start"], s["end"], s["text"],
                     [(w["word"], w["start"], w["end"]) for w in s.get("words", [])], back)
            for s in result["segments"]
        ]

    return run


def _faster(cfg: TranscribeConfig, cache: Path) -> Callable:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(ct2_folder(cfg.model)), device="cpu", compute_type="int8")

    def run(audio, chunks):
        speech, back = voiced(audio, chunks)
        segments, _ = model.transcribe(
            speech, language=cfg.language, word_timestamps=True, condition_on_previous_text=False,
        )
        return [
            _segment(s.start, s.end, s.text, [(w.word, w.start, w.end) for w in (s.words or [])], back)
            for s in segments
        ]

    return run


BACKENDS: dict[str, Callable[[TranscribeConfig, Path], Callable]] = {"openai": _openai, "faster": _faster}


def load_backend(cfg: TranscribeConfig) -> Callable:
    """The chosen whisper backend with its model loaded: `run(audio, chunks)` -> segments."""
    from ripple.lm.models import cache_root

    if cfg.backend not in BACKENDS:
        raise FieldError("backend", f"'{cfg.backend}' is not one of {', '.join(BACKENDS)}")
    try:
        return BACKENDS[cfg.backend](cfg, cache_root())
    except ImportError as exc:
        hint = {"openai": "openai-whisper", "faster": "faster-whisper"}[cfg.backend]
        raise ModelError(f"the {cfg.backend} backend needs {hint}: pip install {hint}") from exc


def transcribe(cfg: TranscribeConfig, run: Callable | None = None) -> TranscribeReport:
    """Transcribe `cfg.media` into `cfg.out`; `run` lets a caller (batch) reuse a loaded backend."""
    from ripple.ingest import game_from_title

    if cfg.backend not in BACKENDS:
        raise FieldError("backend", f"'{cfg.backend}' is not one of {', '.join(BACKENDS)}")
    report = TranscribeReport()
    decoded = []
    for path in cfg.media:
        try:
            audio = load_audio(path)
        except AudioError as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        decoded.append((path, audio))
    if not decoded:
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in report.skipped[:3])
        raise InputError(", ".join(str(m) for m in cfg.media), f"nothing to transcribe ({reasons})")
    run = run or load_backend(cfg)
    lines = []
    for path, audio in decoded:
        chunks = speech_chunks(audio)
        report.files += 1
        report.seconds_of_speech += sum(c["end"] - c["start"] for c in chunks) / SAMPLE_RATE
        if not chunks:
            report.skipped.append((str(path), "no speech found"))
            continue
        previous = ""
        for segment in run(audio, chunks):
            text = cut_loops(segment.text)
            if not re.search(r"\w", text) or text == previous:  # empty, or the whole segment looping
                continue
            previous = text
            lines.append(json.dumps({
                "game": cfg.game or game_from_title(path.stem),
                "source": str(path),
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "text": text,
                "title": path.stem,
                "channel": None,
                "words": segment.words,
            }, ensure_ascii=False))
            report.segments += 1
            report.words += len(text.split())
    if lines:
        atomic_write_text(cfg.out, "\n".join(lines) + "\n")
    return report
