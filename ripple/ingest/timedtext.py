"""YouTube timedtext XML: `<transcript><text start= dur=>` and srv3 `<timedtext><body><p t= d=>`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ripple.ingest.cues import Cue, ReadError


def read_xml(text: str) -> list[Cue]:
    try:
        root = ET.fromstring(text)  # expat refuses entity-expansion bombs since Python 3.7.1
    except ET.ParseError as exc:
        raise ReadError(f"invalid XML (line {exc.position[0]}: {str(exc).split(':')[0]})") from None
    cues = []
    if root.tag == "transcript":
        for node in root.iter("text"):
            start = float(node.get("start", 0))
            cues.append(Cue(start, start + float(node.get("dur", 0)), "".join(node.itertext())))
    elif root.tag == "timedtext":
        for node in root.iter("p"):
            start = float(node.get("t", 0)) / 1000
            cues.append(Cue(start, start + float(node.get("d", 0)) / 1000, "".join(node.itertext())))
    else:
        raise ReadError(f"XML root <{root.tag}> is not a YouTube transcript (<transcript> or <timedtext>)")
    cues = [c for c in cues if c.text.strip()]
    if not cues:
        raise ReadError("XML transcript has no text")
    return cues
