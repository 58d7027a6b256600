"""YouTube's JSON caption shapes: `json3` (the player's own) and the list that
youtube-transcript-api writes (`[{"text", "start", "duration"}]`)."""

from __future__ import annotations

import json

from ripple.ingest.cues import Cue, ReadError


def read_json(text: str) -> list[Cue]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"invalid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        cues = _json3(data["events"])
    elif isinstance(data, list) and all(isinstance(x, dict) and "text" in x for x in data):
        cues = _transcript_api(data)
    else:
        raise ReadError("JSON is neither YouTube json3 ({'events': [...]}) nor a list of {text, start, duration}")
    if not cues:
        raise ReadError("JSON transcript has no text")
    return cues


def _json3(events: list) -> list[Cue]:
    cues = []
    for event in events:
        segs = event.get("segs") if isinstance(event, dict) else None
        if not segs:
            continue  # window and style events carry no text
        text = "".join(str(s.get("utf8", "")) for s in segs if isinstance(s, dict))
        start = float(event.get("tStartMs", 0)) / 1000
        end = start + float(event.get("dDurationMs", 0)) / 1000
        for line in text.split("\n"):
            if line.strip():
                cues.append(Cue(start, end, line))
    return cues


def _transcript_api(items: list) -> list[Cue]:
    cues = []
    for item in items:
        try:
            start = float(item.get("start", 0))
            end = start + float(item.get("duration", 0))
        except (TypeError, ValueError):
            raise ReadError(f"bad start or duration in {str(item)[:60]}") from None
        cues.append(Cue(start, end, str(item["text"]).replace("\n", " ")))
    return cues
