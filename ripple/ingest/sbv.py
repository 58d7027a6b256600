"""YouTube's SubViewer (.sbv), what YouTube Studio downloads: blocks of a
`0:00:01.520,0:00:04.160` timing line and text lines, blank lines between."""

from __future__ import annotations

import re

from ripple.ingest.cues import Cue, ReadError, parse_timestamp, span

TIMING = re.compile(r"^\s*([0-9:.]+)\s*,\s*([0-9:.]+)\s*$")


def read_sbv(text: str) -> list[Cue]:
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip()):
        lines = block.split("\n")
        match = TIMING.match(lines[0])
        if not match:
            raise ReadError(f"bad timing line '{lines[0].strip()[:60]}' (SubViewer: START,END)")
        start, end = span(parse_timestamp(match.group(1)), parse_timestamp(match.group(2)))
        cues += [Cue(start, end, line.strip()) for line in lines[1:] if line.strip()]
    if not cues:
        raise ReadError("SubViewer file has no cues")
    return cues
