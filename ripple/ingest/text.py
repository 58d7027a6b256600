"""Plain text: one untimed cue per non-empty line."""

from __future__ import annotations

from ripple.ingest.cues import Cue, ReadError


def read_text(text: str) -> list[Cue]:
    cues = [Cue(None, None, line) for line in text.splitlines() if line.strip()]
    if not cues:
        raise ReadError("text file has no lines")
    return cues
