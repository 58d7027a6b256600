"""Game-state files (YAML, JSON, JSON Lines) into validated Moment objects.

A file holds one moment, a list of moments, or a timeline: a mapping with `moments` and
fields (`game`, `facts`) that every moment inherits. Every problem becomes one InputError
naming the file, the line where it can be found, the field, and what was expected.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ripple.errors import InputError
from ripple.reading import (MAX_NESTING, BoundedLoader, DuplicateKey, check_depth, jsonl_lines,
                            raised, read_text, unique_keys, yaml_node_line)

MODES = ("play-by-play", "colour", "hype")
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
INHERITED = ("game", "facts", "genre")  # timeline fields that each moment takes unless it sets its own
GENRES = ("shooter", "battle-royale", "sports", "fighting", "racing", "moba", "strategy", "platformer", "puzzle",
          "action")
# How a field name reads aloud: its parts, with these spoken in full ('boss_hp_pct' → 'boss HP').
SPOKEN_PARTS = {"hp": "HP", "diff": "difference", "pct": "", "percent": "", "pc": "", "num": "", "n": "",
                "s": "seconds", "ms": "milliseconds", "xp": "XP", "kda": "KDA", "cs": "CS"}
PERCENT_PARTS = ("pct", "percent", "pc")

Number = Annotated[int, Field(strict=True)] | Annotated[float, Field(strict=True, allow_inf_nan=False)]
MAX_NAME_CHARS = 200  # a game's name
MAX_TEXT_CHARS = 5_000  # a scene, an event, a fact: a paragraph, not a book
MAX_TIME_S = 100 * 3600  # a time in a recording, a caption or a transcript: none runs 100 hours
MAX_MOMENTS = 20_000  # a day of play at a moment every 5 s (RIPPLE_MAX_MOMENTS raises it)


def max_moments() -> int:
    return raised("MAX_MOMENTS", MAX_MOMENTS)


def field_words(name: str) -> list[str]:
    """A field's name in words: 'boss_hp_pct' → boss, hp, pct; 'splitDelta' → split, Delta."""
    return [p for p in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name) if p]


def spoken_number(name: str, value: float) -> str:
    """A named number as a commentator says it: 'gold_diff' 2800 → 'gold difference 2,800',
    'boss_hp_pct' 62 → 'boss HP 62%', 'splitDelta' → 'split delta'."""
    parts = field_words(name)
    percent = "%" in name or any(p.lower() in PERCENT_PARTS for p in parts)
    words = [SPOKEN_PARTS.get(p.lower(), p) for p in parts]
    words = [w for w in words if w]
    number = f"{value:,}" if isinstance(value, int) else f"{value:,.6g}"
    return f"{' '.join(words) or name} {number}{'%' if percent else ''}"


def parse_clock(value: Any) -> Any:
    """'1:23' and '1:02:03' become seconds; numbers pass through."""
    if isinstance(value, str) and re.fullmatch(r"\d+(:\d{1,2}){1,2}(\.\d+)?", value.strip()):
        seconds = 0.0
        for part in value.strip().split(":"):
            seconds = seconds * 60 + float(part)
        return seconds
    return value


class Event(BaseModel):
    """Something that happened at a moment: 'Zombieman killed', 'lap 3 begins'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    time: float | None = Field(default=None, ge=0, allow_inf_nan=False)  # seconds; defaults to the moment's
    kind: str | None = None  # a short tag such as 'kill', 'damage', 'goal'

    _clock = field_validator("time", mode="before")(parse_clock)


class SeenObject(BaseModel):
    """Something in view (an engine's label such as 'Zombieman' or 'Medikit') and where it is
    on screen, as fractions of the picture: x from the left edge, y from the top."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    x: float = Field(ge=0, le=1)  # centre of the object, 0 = left edge, 1 = right edge
    y: float = Field(ge=0, le=1)  # centre of the object, 0 = top, 1 = bottom
    size: float = Field(default=0.0, ge=0, le=1)  # its height over the screen's: bigger is closer

    def where(self) -> str:
        """'on the left', 'close ahead', 'far off on the right'."""
        side = "on the left" if self.x < 1 / 3 else "on the right" if self.x > 2 / 3 else "ahead"
        near = "close " if self.size >= 0.35 else "far off " if 0 < self.size < 0.08 else ""
        return near + side

    def words(self, name: str | None = None) -> str:
        """'a Shotgun Guy on the left', 'a Medikit close ahead'; `name` says it otherwise."""
        name = name or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", self.name)
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"{article} {name} {self.where()}"


class Moment(BaseModel):
    """One point of a game: when, where, what happened, and its numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    game: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    time: float | None = Field(default=None, ge=0, allow_inf_nan=False)  # seconds from the start
    scene: str = Field(default="", max_length=MAX_TEXT_CHARS)  # what is on screen, in words
    events: list[Event] = []  # what just happened, most important first
    numbers: dict[str, Number] = {}  # health, score, ammo, lap, ...
    facts: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = []  # background on the game, its makers, its history (colour)
    mode: Literal["play-by-play", "colour", "hype"] | None = None  # force a template
    intensity: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)  # 1 = the biggest moment
    objects: list[SeenObject] = []  # what is in view (a game engine's labels), with where on screen
    genre: Literal[GENRES] | None = None  # picks the few-shot examples; None: guessed from the game's name

    _clock = field_validator("time", mode="before")(parse_clock)

    @field_validator("events", mode="before")
    @classmethod
    def _events_may_be_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value

    def seen(self) -> str:
        """The objects in view in words: 'a Zombieman ahead, a Medikit on the right'."""
        return ", ".join(o.words() for o in self.objects)

    def spoken_numbers(self) -> str:
        """The numbers as a commentator says them: 'gold difference 2,800, boss HP 62%'."""
        return ", ".join(spoken_number(k, v) for k, v in self.numbers.items())

    def clock(self) -> str:
        if self.time is None:
            return ""
        minutes, seconds = divmod(int(round(self.time)), 60)
        return f"{minutes}:{seconds:02d}"

    def describe(self) -> str:
        """The moment in plain words: what relevance is measured against.

        The game's name and background are left out when something happens: every moment
        of a session shares them, so a line that only names the game is not about this one.
        """
        parts = [] if self.events else [self.game + "."] + [f.rstrip(".") + "." for f in self.facts]
        if self.scene:
            parts.append(self.scene.rstrip(".") + ".")
        elif self.objects:
            parts.append(f"In view: {self.seen()}.")
        parts += [e.text.rstrip(".") + "." for e in self.events]
        if self.numbers:
            parts.append(self.spoken_numbers() + ".")
        return " ".join(parts)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for key in loc:
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path or "(top level)"


def _short_repr(value: Any) -> str:
    """At most 40 characters of `value`, built without walking all of it (a value made of
    YAML aliases can hold billions of items)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxstring, short.maxother = 2, 3, 3, 36, 36
    got = short.repr(value)
    return got if len(got) <= 40 else got[:37] + "..."


def _explain(err: dict[str, Any]) -> str:
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (expected one of: " + ", ".join(Moment.model_fields) + ")"
    got = _short_repr(err.get("input"))
    return f"{err['msg'][0].lower()}{err['msg'][1:]} (got {got})"


def _validate_moments(raw: Any, where: str, locate) -> list[Moment]:
    """`raw` is the parsed document; `locate(loc)` gives the line of a field."""
    if isinstance(raw, dict) and "moments" in raw:
        shared = {k: raw[k] for k in INHERITED if k in raw}
        extra = sorted(set(raw) - {"moments", *INHERITED})
        if extra:
            raise InputError(
                f"{where}:{locate((extra[0],))}",
                f"{extra[0]}: unknown timeline field (expected moments, " + ", ".join(INHERITED) + ")",
            )
        items, prefix = raw["moments"], ("moments",)
    elif isinstance(raw, list):
        shared, items, prefix = {}, raw, ()
    elif isinstance(raw, dict):
        shared, items, prefix = {}, [raw], None
    else:
        raise InputError(where, f"expected a moment, a list of moments or a timeline, got {type(raw).__name__}")
    if not isinstance(items, list):
        raise InputError(f"{where}:{locate(prefix)}", "moments: expected a list of moments")
    if not items:
        raise InputError(where, "the timeline has no moments")

    if len(items) > max_moments():
        raise InputError(where, f"{len(items):,} moments; a file holds at most {max_moments():,} (split it, or "
                         "raise RIPPLE_MAX_MOMENTS)")
    moments = []
    for i, item in enumerate(items):
        loc = () if prefix is None else (*prefix, i)
        if not isinstance(item, dict):
            raise InputError(
                f"{where}:{locate(loc)}", f"{_field_path(loc)}: expected a moment (a mapping), got {type(item).__name__}"
            )
        try:
            moments.append(Moment.model_validate({**shared, **item}))
        except ValidationError as exc:
            err = exc.errors()[0]
            full = (*loc, *err["loc"])
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise InputError(f"{where}:{locate(full)}", f"{_field_path(full)}: {_explain(err)}{more}") from None
    return moments


def load_moments(path: Path) -> list[Moment]:
    """Read a game-state file into its moments, or raise InputError saying what is wrong."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(str(path), f"unknown file type '{path.suffix}'; expected " + ", ".join(SUFFIXES))
    text = read_text(path)
    if not text.strip():
        raise InputError(str(path), "the file is empty; expected at least one moment")

    if kind == "jsonl":
        moments = []
        for number, raw in jsonl_lines(text, path):
            if not isinstance(raw, dict):
                raise InputError(f"{path}:{number}", f"expected a moment (a JSON object), got {type(raw).__name__}")
            moments += _validate_moments(raw, str(path), lambda loc, n=number: n)
            if len(moments) > max_moments():
                raise InputError(f"{path}:{number}", f"more than {max_moments():,} moments; a file holds at most "
                                 f"{max_moments():,} (split it, or raise RIPPLE_MAX_MOMENTS)")
        return moments

    try:
        if kind == "json":
            raw = json.loads(text, object_pairs_hook=unique_keys)
        else:
            raw = yaml.load(text, Loader=BoundedLoader)  # noqa: S506 (a SafeLoader)
        check_depth(raw, path)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except DuplicateKey as exc:
        raise InputError(str(path), f"invalid JSON: '{exc}' is given twice in one object") from None
    except RecursionError:
        raise InputError(str(path), f"nested too deeply (more than {MAX_NESTING} levels of lists and mappings)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(where, f"invalid YAML: {problem}") from None
    if raw is None:
        raise InputError(str(path), "the file is empty; expected at least one moment")

    def locate(loc: tuple[Any, ...]) -> int | None:
        try:  # YAML reads JSON too, so one walker finds lines in both
            return yaml_node_line(yaml.compose(text, Loader=yaml.SafeLoader), loc)
        except yaml.YAMLError:
            return None

    return _validate_moments(raw, str(path), lambda loc: locate(loc) or 1)
