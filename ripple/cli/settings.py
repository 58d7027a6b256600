"""ripple.toml: the settings a person keeps beside their recordings, so that every command runs
the same way every time. Any option of any command can be set in the table of the command's name,
by the option's name with underscores; flags (and RIPPLE_* variables) win over the file, and the
file wins over Ripple's defaults.

    [generate]                           # batch's generate stage and narrate's lines too
    model = "smollm2-135m"
    candidates = 8
    top_p = 0.9
    weights = { relevance = 3, length = 0 }

    [narrate]
    every = 5.0
    voice = "piper"

    [batch]
    stages = ["transcribe", "narrate"]   # a repeatable option takes a list, under its plural
    workers = 2

    [live.doom]
    candidates = 2

The file's keys are checked against the commands' own options, with the options' own types and
choices: a misspelt table or key, or a value of the wrong kind, is one error naming the file, the
line and the key. A value a library check then refuses is named the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer.core
from typer import BadParameter, Context

from ripple.errors import FieldError, InputError

FILE_NAME = "ripple.toml"
MAX_BYTES = 1 << 20  # a settings file is a few lines
NOT_SETTINGS = ("config", "as_json", "help")  # options that say how to run, not what to make


@dataclass
class Settings:
    """A read ripple.toml: each command's values, already of its options' types."""

    path: Path | None = None
    text: str = ""
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # "live.doom" -> {"candidates": 2}
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, option) -> the key written

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections.get(section, {})

    def where(self, section: str, option: str) -> str:
        """'ripple.toml:5: [generate].top_p', the place a value was set."""
        key = self.keys.get((section, option), option)
        return f"{_place(self.path, self.text, section, key)}: [{section}].{key}"


def _place(path: Path, text: str, section: str, key: str | None) -> str:
    """'ripple.toml:5', the line of `key` in `[section]`, else of the section, else the file alone."""
    line = _line_of(text, section, key) or _line_of(text, section, None)
    return f"{path}:{line}" if line else str(path)


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """The line of `[section]` (or of `key` inside it) in a TOML text."""
    in_section = False
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([\w.-]+)\s*\]", line)
        if header:
            in_section = header.group(1) == section
            if in_section and key is None:
                return number
        elif in_section and key and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    import tomllib

    if not path.is_file():
        raise InputError(str(path), "no such settings file" if not path.exists() else "is not a file")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(str(path), f"over {MAX_BYTES // 1024} KiB; a settings file is a few lines")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"{path}:{line.group(1)}" if line else str(path), f"invalid TOML: {exc}") from None
    except RecursionError:
        raise InputError(str(path), "invalid TOML: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(str(path), f"invalid TOML: {str(exc)[:100]}") from None


def commands(root, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(section name, command) for every command under `root`: "generate", "live.doom". A group
    that runs one of its commands by default (batch: run) has that command's section too."""
    for name, cmd in root.commands.items():
        if isinstance(cmd, typer.core.TyperGroup):
            default = getattr(cmd, "default_command", None)
            if default:
                yield prefix + name, cmd.commands[default]
            yield from ((s, c) for s, c in commands(cmd, f"{prefix}{name}.") if c is not cmd.commands.get(default))
        else:
            yield prefix + name, cmd


def settable(cmd) -> dict[str, Any]:
    """The options of `cmd` a file may set, by the key it uses: the option's name, or its plural
    for a repeatable one (`weights`, `stages`)."""
    keys = {}
    for param in cmd.params:
        if param.param_type_name == "option" and param.name not in NOT_SETTINGS:
            keys[param.name + ("s" if param.multiple else "")] = param
    return keys


def _tables(table: Mapping[str, Any], known: Mapping[str, Any], section: str = "") -> Iterator[tuple[str, dict]]:
    """(section, its own keys) for every table that names a command (`[live.doom]` is the table
    doom inside the table live); anything else is an _Unknown."""
    own = {}
    for key, value in table.items():
        child = f"{section}.{key}" if section else str(key)
        if isinstance(value, dict) and (child in known or any(s.startswith(child + ".") for s in known)):
            yield from _tables(value, known, child)
        elif section in known:
            own[str(key)] = value
        else:
            raise _Unknown(section or child, str(key) if section else None)
    if section in known:
        yield section, own


class _Unknown(Exception):
    def __init__(self, section: str, key: str | None):
        self.section, self.key = section, key


def _value(param, raw: Any) -> Any:
    """A file's value as the option would take it from a command line."""
    if param.multiple and isinstance(raw, dict):  # weights = { relevance = 3 }
        raw = [f"{k}={v}" for k, v in raw.items()]
    if isinstance(raw, dict | list) and not param.multiple:
        raise BadParameter("expected one value, not a table or a list")
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, float) and not math.isfinite(item):
            raise BadParameter("Input should be a finite number")
        if isinstance(item, dict | list):
            raise BadParameter("expected a list of values, not of tables or lists")
    return raw


def load_settings(path: Path | None, root: typer.core.TyperGroup) -> Settings:
    """The settings in `path` for the commands under `root`, each checked by its option;
    empty settings when there is no file."""
    if path is None:
        return Settings()
    path = Path(path)
    raw, text = _read_toml(path)
    settings = Settings(path=path, text=text)
    known = dict(commands(root))
    try:
        tables = list(_tables(raw, known))
    except _Unknown as exc:
        name = f"[{exc.section}]" + (f".{exc.key}" if exc.key else "")
        raise InputError(_place(path, text, exc.section, exc.key), f"{name}: unknown section or field") from None
    for section, table in tables:
        cmd, keys = known[section], settable(known[section])
        values = settings.sections.setdefault(section, {})
        for key, raw_value in table.items():
            param = keys.get(key)
            place = _place(path, text, section, key)
            if param is None:
                raise InputError(place, f"[{section}].{key}: unknown section or field")
            try:
                values[param.name] = param.process_value(Context(cmd, info_name=section), _value(param, raw_value))
            except BadParameter as exc:
                raise InputError(place, f"[{section}].{key}: {exc.message}") from None
            settings.keys[(section, param.name)] = key
    return settings


def find_settings(explicit: Path | None, *folders: Path) -> Path | None:
    """--config when given, else the first ripple.toml in `folders`."""
    if explicit is not None:
        return explicit
    return next((f / FILE_NAME for f in folders if (f / FILE_NAME).is_file()), None)


class Command(typer.core.TyperCommand):
    """A command whose options ripple.toml can set. After the command line is parsed, each
    option still at its default takes the file's value; a library check's refusal (a
    FieldError) is then reworded to name the flag, or the file's line the value came from."""

    folder_params: tuple[str, ...] = ()  # arguments whose folder may hold the ripple.toml (batch: its source)

    def resolve(self, ctx: Context) -> tuple[Settings, str, set[str]]:
        """Give each option of `ctx` still at its default the file's value. Returns the settings,
        this command's section and the options the file set."""
        explicit = ctx.params.pop("config", None)
        folders = [Path(ctx.params[p]) for p in self.folder_params if ctx.params.get(p)]
        root = ctx.find_root().command
        settings = load_settings(find_settings(explicit, *folders, Path(".")), root)
        section = next(name for name, cmd in commands(root) if cmd is self)
        from_file = set()
        for name, value in settings[section].items():
            source = ctx.get_parameter_source(name)
            if source is None or source.name == "DEFAULT":  # not on the command line, nor in the environment
                ctx.params[name] = value
                from_file.add(name)
        ctx.meta["ripple.settings"] = settings
        return settings, section, from_file

    def invoke(self, ctx: Context) -> Any:
        settings, section, from_file = self.resolve(ctx)
        try:
            return super().invoke(ctx)
        except FieldError as exc:
            if exc.option in from_file:
                raise InputError(settings.where(section, exc.option), exc.message) from None
            if any(p.name == exc.option for p in self.params):
                raise InputError("--" + exc.option.replace("_", "-"), exc.message) from None
            raise


class BatchCommand(Command):
    folder_params = ("source",)
