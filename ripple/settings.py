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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ripple.errors import InputError

FILE_NAME = "ripple.toml"
MAX_BYTES = 1 << 20  # a settings file is a few lines
# Whole numbers in the ranges the commands accept (a 20-digit count or seed is refused here,
# naming its line, instead of overflowing inside a job).
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class _Section(BaseModel):
    # infinities and NaN are no setting (TOML writes them inf and nan)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BatchSettings(_Section):
    stages: list[Literal["transcribe", "generate", "narrate", "all"]] | None = None
    workers: Annotated[int, Field(ge=1, le=256)] | None = None
    engine: Literal["local", "ray"] | None = None
    address: str | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None


class GenerateSettings(_Section):
    model: str | None = None
    precision: Literal["fp32", "int8"] | None = None
    backend: Literal["transformers", "ctranslate2"] | None = None
    template: str | None = None
    candidates: Annotated[int, Field(ge=1, le=256)] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    repetition_penalty: float | None = None
    max_new_tokens: Annotated[int, Field(ge=1, le=1024)] | None = None
    seed: Seed | None = None
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
    if path.stat().st_size > MAX_BYTES:
        raise InputError(str(path), f"over {MAX_BYTES // 1024} KiB; a settings file is a few lines")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"{path}:{line.group(1)}" if line else str(path), f"invalid TOML: {exc}") from None
    except RecursionError:
        raise InputError(str(path), "invalid TOML: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(str(path), f"invalid TOML: {str(exc)[:100]}") from None
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
