"""SubRip (.srt): numbered blocks of a timing line and text lines."""

from __future__ import annotations

import re

from ripple.ingest.cues import Cue, ReadError, parse_timestamp, span

TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")


def read_srt(text: str) -> list[Cue]:
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip()):
        lines = block.split("\n")
        at = next((k for k, line in enumerate(lines[:2]) if "-->" in line), None)
        if at is None:
            continue
        match = TIMING.match(lines[at])
        if not match:
            raise ReadError(f"bad timing line '{lines[at].strip()}'")
        start, end = span(parse_timestamp(match.group(1)), parse_timestamp(match.group(2)))
        # Lines stay apart, so that a cue repeating the last line of the one before is seen.
        cues += [Cue(start, end, line.strip()) for line in lines[at + 1 :] if line.strip()]
    if not cues:
        raise ReadError("SRT file has no cues")
    return cues
