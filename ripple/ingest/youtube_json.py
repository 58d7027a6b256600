"""YouTube's JSON caption shapes: `json3` (the player's own) and the list that
youtube-transcript-api writes (`[{"text", "start", "duration"}]`)."""

from __future__ import annotations

import json

from ripple.ingest.cues import Cue, ReadError, seconds


def read_json(text: str) -> list[Cue]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"invalid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise ReadError("JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ReadError(f"invalid JSON ({str(exc)[:80]})") from None
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
        if not segs or not isinstance(segs, list):
            continue  # window and style events carry no text
        text = "".join(str(s.get("utf8", "")) for s in segs if isinstance(s, dict))
        start = seconds(event.get("tStartMs", 0), 1000, "tStartMs")
        end = start + seconds(event.get("dDurationMs", 0), 1000, "dDurationMs")
        for line in text.split("\n"):
            if line.strip():
                cues.append(Cue(start, end, line))
    return cues


def _transcript_api(items: list) -> list[Cue]:
    cues = []
    for item in items:
        start = seconds(item.get("start", 0), what="start")
        end = start + seconds(item.get("duration", 0), what="duration")
        cues.append(Cue(start, end, str(item["text"]).replace("\n", " ")))
    return cues
