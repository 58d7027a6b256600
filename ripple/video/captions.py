"""A person's own notes on a video: time → caption, as CSV, JSON (or JSON Lines) or SRT.

    time,caption                 [{"time": "0:12", "caption": "first kill"}]    1
    0:12,first kill              {"0:12": "first kill", "31.5": "boss"}          00:00:12,000 --> 00:00:14,000
    31.5,the boss appears                                                        first kill

Times are seconds or clocks (1:23, 1:02:03). Each problem names the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ripple.errors import InputError
from ripple.reading import check_depth, jsonl_lines, read_text, yaml_node_line
from ripple.state import MAX_TEXT_CHARS, MAX_TIME_S, max_moments, parse_clock

SUFFIXES = (".csv", ".json", ".jsonl", ".srt")
TEXT_COLUMNS = ("caption", "text", "description", "event")


@dataclass(frozen=True)
class Caption:
    time: float  # seconds
    text: str


def _time(value: Any, where: str) -> float:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    seconds = parse_clock(value)
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            raise InputError(where, f"time: expected seconds or a clock like 1:23, got {shown}") from None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise InputError(where, f"time: expected seconds or a clock like 1:23, got {shown}")
    try:
        seconds = float(seconds)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):  # NaN is never silently dropped: it names its line
        raise InputError(where, f"time: must be a finite number of seconds, got {shown}")
    if seconds < 0:
        raise InputError(where, f"time: must not be negative, got {shown}")
    if seconds > MAX_TIME_S:
        raise InputError(where, f"time: at most {MAX_TIME_S} seconds (100 hours), got {shown}")
    return seconds


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(where, f"caption: expected some text, got {repr(value)[:40]}")
    if len(value) > MAX_TEXT_CHARS:
        raise InputError(where, f"caption: {len(value):,} characters, over {MAX_TEXT_CHARS:,}")
    return " ".join(value.split())


def _from_csv(text: str, path: Path) -> list[Caption]:
    rows = csv.reader(io.StringIO(text))
    try:
        return _csv_rows(rows, path)
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte
        raise InputError(f"{path}:{rows.line_num}", f"invalid CSV: {exc}") from None


def _csv_rows(rows, path: Path) -> list[Caption]:
    header = [h.strip().lower() for h in next(rows, [])]
    text_col = next((c for c in TEXT_COLUMNS if c in header), None)
    if "time" not in header or text_col is None:
        raise InputError(f"{path}:1", f"expected a header with 'time' and one of: {', '.join(TEXT_COLUMNS)}")
    t, c = header.index("time"), header.index(text_col)
    found = []
    for row in rows:
        where = f"{path}:{rows.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(t, c):
            raise InputError(where, f"expected {len(header)} columns, got {len(row)}")
        found.append(Caption(_time(row[t].strip(), where), _text(row[c], where)))
    return found


def _from_item(item: Any, where: str) -> Caption:
    if not isinstance(item, dict):
        raise InputError(where, f"expected an object with time and caption, got {type(item).__name__}")
    key = next((k for k in TEXT_COLUMNS if k in item), None)
    if "time" not in item or key is None:
        raise InputError(where, f"expected fields 'time' and one of: {', '.join(TEXT_COLUMNS)}")
    return Caption(_time(item["time"], where), _text(item[key], where))


def _from_json(text: str, path: Path) -> list[Caption]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InputError(str(path), "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(str(path), f"invalid JSON: {str(exc)[:80]}") from None
    check_depth(raw, path)
    if isinstance(raw, dict) and "captions" in raw:
        raw = raw["captions"]
    if isinstance(raw, dict):  # {"0:12": "first kill"}
        return [Caption(_time(k, f"{path}: key {k!r}"), _text(v, f"{path}: key {k!r}")) for k, v in raw.items()]
    if not isinstance(raw, list):
        raise InputError(str(path), f"expected a list of captions or a time → caption mapping, got {type(raw).__name__}")
    node = yaml.compose(text, Loader=yaml.SafeLoader)  # YAML reads JSON and knows where each item starts
    return [_from_item(item, f"{path}:{yaml_node_line(node, (i,))}") for i, item in enumerate(raw)]


def _from_srt(text: str, path: Path) -> list[Caption]:
    from ripple.ingest.cues import ReadError
    from ripple.ingest.srt import read_srt

    try:
        cues = read_srt(text)
    except ReadError as exc:
        raise InputError(str(path), str(exc)) from None
    merged: dict[float, list[str]] = {}
    for cue in cues:  # an SRT block's lines are one caption
        merged.setdefault(cue.start or 0.0, []).append(cue.text)
    return [Caption(start, " ".join(parts)) for start, parts in merged.items()]


def load_captions(path: Path) -> list[Caption]:
    """The person's captions in time order; InputError naming the file and line if bad."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(str(path), f"unknown captions type '{path.suffix}'; expected " + ", ".join(SUFFIXES))
    text = read_text(path)
    if not text.strip():
        raise InputError(str(path), "the file is empty; expected time → caption entries")
    if suffix == ".csv":
        found = _from_csv(text, path)
    elif suffix == ".jsonl":
        found = [_from_item(item, f"{path}:{n}") for n, item in jsonl_lines(text, path)]
    elif suffix == ".json":
        found = _from_json(text, path)
    else:
        found = _from_srt(text, path)
    if not found:
        raise InputError(str(path), "no captions found")
    if len(found) > max_moments():
        raise InputError(str(path), f"{len(found):,} captions, over {max_moments():,} (RIPPLE_MAX_MOMENTS raises it)")
    return sorted(found, key=lambda c: c.time)
