"""What every transcript reader returns: timed cues of raw caption text."""

from __future__ import annotations

import re
from dataclasses import dataclass


class ReadError(Exception):
    """A transcript file that cannot be read; the message is the reason, for the report."""


@dataclass(frozen=True)
class Cue:
    start: float | None  # seconds; None for untimed text
    end: float | None
    text: str  # may still hold markup, entities and non-speech marks: cleaning comes later


CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")


def parse_clock(text: str) -> float:
    """'01:02:03.500', '02:03,5' or '00:00:01.520' to seconds."""
    match = CLOCK.fullmatch(text.strip())
    if not match:
        raise ReadError(f"bad timestamp '{text.strip()}'")
    hours, minutes, seconds, fraction = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def decode(data: bytes) -> str:
    """Transcript bytes as text: UTF-8 (with or without BOM) or UTF-16 with a BOM."""
    if not data.strip():
        raise ReadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ReadError("binary file, not a transcript")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ReadError(f"not UTF-8 text (line {line}, byte 0x{data[exc.start]:02x})") from None
