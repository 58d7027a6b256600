"""ripple.toml: the settings a person keeps beside their recordings, so that a long batch
runs the same way every time. Flags given on the command line win over the file; the file
wins over Ripple's defaults.

    [batch]
    stages = ["transcribe", "narrate"]   # or "generate", or "all"
    workers = 2
    max_attempts = 3

    [generate]                           # also used by narrate's lines
    model = "smollm2-135m"
    candidates = 8
    seed = 0
    weights = { relevance = 3, length = 0 }

    [narrate]
    every = 5.0
    voice = "piper"

    [transcribe]
    backend = "faster"

Every section and field is checked: a misspelt one is an error naming the file, the line
and the field, not a silent default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ripple.errors import InputError

FILE_NAME = "ripple.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchSettings(_Section):
    stages: list[Literal["transcribe", "generate", "narrate", "all"]] | None = None
    workers: int | None = None
    engine: Literal["local", "ray"] | None = None
    address: str | None = None
    max_attempts: int | None = None


class GenerateSettings(_Section):
    model: str | None = None
    precision: Literal["fp32", "int8"] | None = None
    backend: Literal["transformers", "ctranslate2"] | None = None
    template: str | None = None
    candidates: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    weights: dict[str, float] | None = None


class NarrateSettings(_Section):
    every: float | None = None
    cut_threshold: float | None = None
    ocr: Literal["auto", "on", "off"] | None = None
    voice: str | None = None
    rate: float | None = None
    pitch: float | None = None
    min_gap: float | None = None
    max_delay: float | None = None
    duck: float | None = None
    burn_subtitles: bool | None = None
    renderer: Literal["auto", "fast", "moviepy"] | None = None


class TranscribeSettings(_Section):
    backend: Literal["openai", "faster"] | None = None
    model: str | None = None


class Settings(_Section):
    batch: BatchSettings = BatchSettings()
    generate: GenerateSettings = GenerateSettings()
    narrate: NarrateSettings = NarrateSettings()
    transcribe: TranscribeSettings = TranscribeSettings()


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


def load_settings(path: Path | None) -> Settings:
    """The settings in `path`, or Ripple's defaults when there is no file."""
    import tomllib

    if path is None:
        return Settings()
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such settings file" if not path.exists() else "is not a file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"{path}:{line.group(1)}" if line else str(path), f"invalid TOML: {exc}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        section = str(err["loc"][0])
        key = str(err["loc"][1]) if len(err["loc"]) > 1 else None
        field = f"[{section}]" + (f".{key}" if key else "")
        line = _line_of(text, section, key) or _line_of(text, section, None)
        what = "unknown section or field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(f"{path}:{line}" if line else str(path), f"{field}: {what}") from None


def find_settings(explicit: Path | None, *folders: Path) -> Path | None:
    """--config when given, else the first ripple.toml in `folders`."""
    if explicit is not None:
        return explicit
    return next((f / FILE_NAME for f in folders if (f / FILE_NAME).is_file()), None)
