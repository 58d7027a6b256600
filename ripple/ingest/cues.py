"""What every transcript reader returns: timed cues of raw caption text."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ripple.state import MAX_TIME_S


class ReadError(Exception):
    """A transcript file that cannot be read; the message is the reason, for the report."""


@dataclass(frozen=True)
class Cue:
    start: float | None  # seconds; None for untimed text
    end: float | None
    text: str  # may still hold markup, entities and non-speech marks: cleaning comes later


# ASCII digits only; one-digit fields too ('00:0.120', as yt-dlp writes and browsers accept)
CLOCK = re.compile(r"(?:([0-9]{1,3}):)?([0-9]{1,2}):([0-9]{1,2})[.,]([0-9]{1,3})")


def parse_timestamp(text: str) -> float:
    """A caption timestamp (SRT, WebVTT, SubViewer: '01:02:03.500', '02:03,5', '00:0.120') to seconds;
    ReadError when it is none. state.parse_clock is the lenient one for game-state times."""
    match = CLOCK.fullmatch(text.strip())
    if not match:
        raise ReadError(f"bad timestamp '{text.strip()[:40]}'")
    hours, minutes, seconds, fraction = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        raise ReadError(f"bad timestamp '{text.strip()}': minutes and seconds run to 59")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def seconds(value, scale: float = 1.0, what: str = "time") -> float:
    """A time field of a JSON or XML transcript (`value` / `scale`) as finite seconds, or ReadError."""
    try:
        out = float(value) / scale
    except (TypeError, ValueError, OverflowError):
        raise ReadError(f"bad {what} {str(value)[:40]!r}: not a number") from None
    if not math.isfinite(out) or not 0 <= out <= MAX_TIME_S:
        raise ReadError(f"bad {what} {str(value)[:40]!r}: must be 0 to {MAX_TIME_S} seconds")
    return out


def span(start: float | None, end: float | None) -> tuple[float | None, float | None]:
    """A cue's times, refused when it ends before it starts."""
    if start is not None and end is not None and end < start:
        raise ReadError(f"a cue ends ({end:g} s) before it starts ({start:g} s)")
    return start, end


def decode(data: bytes) -> str:
    """Transcript bytes as text: UTF-8 (with or without BOM), UTF-16 with a BOM, or the
    legacy encoding charset-normalizer finds (GB2312, Latin-1, Shift-JIS, ...) for old SRTs."""
    if not data.strip():
        raise ReadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ReadError("not UTF-16 text, though it starts with a UTF-16 byte-order mark") from None
    if b"\x00" in data:
        raise ReadError("binary file, not a transcript")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        where = f"line {line}, byte 0x{data[exc.start]:02x}"
    text = _legacy_text(data)
    if text is None or _looks_binary(text):
        raise ReadError(f"not UTF-8 text ({where}), and no other text encoding fits")
    return text


# The legacy encodings most old SRTs are in, most common first: Windows' Western and Central European
COMMON = ("cp1252", "latin_1", "iso8859_15", "cp1250", "iso8859_2")
NEAR_CHAOS = 0.1  # charset-normalizer's "mess" scores this close count as a tie


def _legacy_text(data: bytes) -> str | None:
    """The text in the encoding charset-normalizer finds. On short files several encodings
    fit about equally (French in Latin-1 reads as Baltic too: "déją" for "déjà"), so among
    the near-best the one whose accented characters are all letters wins, Latin ones where
    the rest of the text is Latin, and the commonest encoding after that."""
    import unicodedata

    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = min(m.chaos for m in matches)

    def key(match) -> tuple:
        text = str(match)
        accented = [ch for ch in text if ord(ch) > 127]
        ascii_letters = sum(ch.isascii() and ch.isalpha() for ch in text)
        letters = [ch for ch in accented if unicodedata.category(ch).startswith("L")]
        latin_text = ascii_letters >= 4 * len(accented)  # a Latin-script text with a few accents
        latin = sum(unicodedata.name(ch, "").startswith("LATIN") for ch in letters) / max(len(letters), 1)
        common = COMMON.index(match.encoding) if match.encoding in COMMON else len(COMMON)
        return (len(letters) / max(len(accented), 1), latin if latin_text else 0.0, -common, -match.chaos)

    return str(max((m for m in matches if m.chaos <= best + NEAR_CHAOS), key=key))


def _looks_binary(text: str) -> bool:
    """Control characters other than whitespace in more than 1% of the text."""
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return control > len(text) / 100
