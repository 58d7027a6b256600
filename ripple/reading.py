"""Reading a person's files within bounds: only regular files of a bounded size, UTF-8 text,
JSON and YAML with no key given twice, no deeper than MAX_NESTING, with a bounded number of
YAML aliases and of values once they are followed; each refusal one InputError naming the file
and, where it can, the line. Game-state files (state.py), captions and corpora read this way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ripple.errors import InputError

MAX_YAML_ALIASES = 1000  # a file of mostly references is a bomb (9^9 lists from nine lines), not a game
MAX_NESTING = 100  # mappings and lists inside each other; a moment needs four
MAX_VALUES = 2_000_000  # values in a document once aliases are followed; 32 MiB of moments holds fewer
MAX_STATE_FILE_BYTES = 32 * 1024 * 1024  # a day of moments is well under 1 MiB (RIPPLE_MAX_STATE_MB raises it)


def raised(name: str, default: int) -> int:
    """A limit a person may need more of: the whole number in $RIPPLE_<name>, if set, else `default`."""
    import os

    value = os.environ.get(f"RIPPLE_{name}", "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise InputError(f"RIPPLE_{name}", f"'{value[:20]}' is not a whole number from 1 to 2^31-1")
    return int(value)


class DuplicateKey(ValueError):
    """A mapping names the same key twice: which value was meant is anyone's guess."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a dict, refusing a key given twice."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


class BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a document of more than MAX_YAML_ALIASES aliases, and a
    mapping that names a key twice."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise yaml.constructor.ConstructorError(None, None, f"'{key}' is given twice in one mapping",
                                                        node.value[i][0].start_mark)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen = getattr(self, "aliases_seen", 0) + 1
            if self.aliases_seen > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (*name): a file of mostly "
                                     "references is refused")
        return super().compose_node(parent, index)


def check_depth(value: Any, path: Path) -> None:
    """Refuse lists and mappings nested deeper than MAX_NESTING, or a document that expands
    to more than MAX_VALUES values once its aliases are followed (each shared value is
    measured once, so a bomb is found without being expanded)."""
    sizes: dict[int, int] = {}

    def size(item: Any, depth: int) -> int:
        if depth > MAX_NESTING:
            raise InputError(str(path), f"nested too deeply (more than {MAX_NESTING} levels of lists and mappings)")
        if not isinstance(item, (dict, list)):
            return 1
        if id(item) not in sizes:
            children = item.values() if isinstance(item, dict) else item
            sizes[id(item)] = 1 + sum(size(child, depth + 1) for child in children)
            if sizes[id(item)] > MAX_VALUES:
                raise InputError(str(path), f"expands to more than {MAX_VALUES:,} values (through YAML aliases?); "
                                            "a game-state file is far smaller")
        return sizes[id(item)]

    size(value, 0)


def yaml_node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the value at `loc` in a composed YAML/JSON document."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def jsonl_lines(text: str, path: Path):
    """(line number, parsed value) for each non-blank line of a JSON Lines text; a line that
    is not JSON is an InputError naming it."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except DuplicateKey as exc:
            raise InputError(f"{path}:{number}", f"invalid JSON: '{exc}' is given twice in one object") from None
        except RecursionError:
            raise InputError(f"{path}:{number}", f"nested too deeply (more than {MAX_NESTING} levels)") from None
        check_depth(value, Path(f"{path}:{number}"))
        yield number, value


def read_text(path: Path) -> str:
    if not path.exists():
        raise InputError(str(path), "no such file")
    if path.is_dir():
        raise InputError(str(path), "is a folder, expected a game-state file")
    if not path.is_file():  # a named pipe would block the read for ever
        raise InputError(str(path), "is not a regular file (a pipe or a device?); expected a game-state file")
    size, limit = path.stat().st_size, raised("MAX_STATE_MB", MAX_STATE_FILE_BYTES // 2**20) * 2**20
    if size > limit:
        raise InputError(
            str(path),
            f"file is {size / 2**20:,.0f} MiB; game-state files are limited to {limit // 2**20} MiB "
            "(RIPPLE_MAX_STATE_MB raises it)",
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
