"""YouTube timedtext XML: `<transcript><text start= dur=>` and srv3 `<timedtext><body><p t= d=>`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ripple.ingest.cues import Cue, ReadError, seconds


def read_xml(text: str) -> list[Cue]:
    try:
        root = ET.fromstring(text)  # expat refuses entity-expansion bombs since Python 3.7.1
    except ET.ParseError as exc:
        raise ReadError(f"invalid XML (line {exc.position[0]}: {str(exc).split(':')[0]})") from None
    cues = []
    if root.tag == "transcript":
        for node in root.iter("text"):
            start = seconds(node.get("start", 0), what="start")
            cues.append(Cue(start, start + seconds(node.get("dur", 0), what="dur"), "".join(node.itertext())))
    elif root.tag == "timedtext":
        for node in root.iter("p"):
            start = seconds(node.get("t", 0), 1000, "t")
            cues.append(Cue(start, start + seconds(node.get("d", 0), 1000, "d"), "".join(node.itertext())))
    else:
        raise ReadError(f"XML root <{root.tag}> is not a YouTube transcript (<transcript> or <timedtext>)")
    cues = [c for c in cues if c.text.strip()]
    if not cues:
        raise ReadError("XML transcript has no text")
    return cues
