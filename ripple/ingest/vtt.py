"""WebVTT, plain or as YouTube writes its auto-captions.

YouTube's auto-captions roll: each cue shows the previous line again above the new one,
the new words carry inline timing tags (`<00:00:01.520><c> word</c>`), and 10 ms cues in
between repeat a line alone. Each caption line becomes a cue; clean.sentences() then drops
a line that repeats the last one spoken, which undoes the rolling.
"""

from __future__ import annotations

import re

from ripple.ingest.cues import Cue, ReadError, parse_timestamp, span

TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(?:\s+.*)?$")  # cue settings (align:, position:) follow
TIMESTAMP_TAG = re.compile(r"<\d{2}:\d{2}[:.\d]*>")


def read_vtt(text: str) -> list[Cue]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise ReadError("not WebVTT (no WEBVTT header)")
    cues: list[Cue] = []
    i = 1
    while i < len(lines):
        line = lines[i]
        if line.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in line:
            while i < len(lines) and lines[i].strip():  # a block runs to the next blank line
                i += 1
            continue
        match = TIMING.match(line)
        if match is None:
            i += 1  # header fields, cue identifiers, blank lines
            continue
        start, end = span(parse_timestamp(match.group(1)), parse_timestamp(match.group(2)))
        i += 1
        body = []
        # A cue ends at an empty line; YouTube starts cues with a line of one space.
        while i < len(lines) and lines[i] != "" and not TIMING.match(lines[i]):
            body.append(lines[i])
            i += 1
        for part in body:
            cues.append(Cue(start, end, TIMESTAMP_TAG.sub("", part)))
    if not cues:
        raise ReadError("WebVTT file has no cues")
    return cues
