"""`ripple reward train`: a reward model that learns people's picks.

The commentary model's backbone with a scalar head (transformers' sequence-classification
head, one output) reads a moment in words and one candidate line and gives a number. It is
trained on the stored comparisons with the loss of Ziegler et al. (2019): a softmax over
the 2-4 candidates shown, whose log-probability of the person's pick is maximised (for a
pair this is Bradley-Terry). Verdicts of "all bad" name no winner and are left out of
that loss. Moments are split, so that no held-out moment was seen in training; the
held-out accuracy, and the canary pairs of guards.py, are measured and saved beside the
weights, in a folder with its config (reward.json).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.atomic import save_replacing
from ripple.config import DEFAULT_MODEL, check_fields
from ripple.curate.guards import Accuracy, accuracy, canary_check
from ripple.curate.sets import Judged
from ripple.errors import InputError, ModelError

REWARD_JSON = "reward.json"
INPUT_FORMAT = 1  # how moment and line are joined (reward_input); bump if it changes
MIN_TRAIN_SETS = 4  # fewer verdicts with a winner teach nothing


@dataclass(frozen=True)
class RewardConfig:
    db: Path = Path("outputs/ripple.db")
    base: str = DEFAULT_MODEL  # the commentary model whose backbone reads the lines
    out: Path = Path("outputs/models/reward")  # the reward model's folder
    held_out: float = 0.2  # share of judged moments kept out of training
    epochs: int = 4
    batch_size: int = 8  # comparisons per step
    learning_rate: float = 3e-5
    weight_decay: float = 0.0
    max_tokens: int = 128  # moment and line, truncated from the left so the line stays whole
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["db"], data["out"] = str(self.db), str(self.out)
        return data


def reward_input(description: str, line: str) -> str:
    """What the reward model reads: the moment in words, then the line."""
    return f"Moment: {description.strip()}\nLine: {line.strip()}"


def split_moments(moments: list[int], held_out: float, seed: int) -> tuple[set[int], set[int]]:
    """(train, held-out) moment ids: a seeded shuffle, at least one moment on each side."""
    ids = sorted(set(moments))
    random.Random(seed).shuffle(ids)
    n_held = min(len(ids) - 1, max(1, math.ceil(held_out * len(ids)))) if len(ids) > 1 else 0
    return set(ids[n_held:]), set(ids[:n_held])


def _backbone_source(base: str) -> tuple[str, Any]:
    """Where the base model's weights are, and its tokenizer."""
    from ripple.lm import models

    spec = models.resolve(base)
    models.quiet_transformers()
    if spec.kind == "hub":
        from transformers import AutoTokenizer

        try:
            return spec.source, AutoTokenizer.from_pretrained(spec.source)
        except (OSError, ValueError) as exc:
            raise ModelError(f"model '{base}' is not in the Hugging Face cache and could not be downloaded") from exc
    from transformers import AutoConfig

    folder = models._local_folder(spec)
    return str(folder), models._tokenizer_for(Path(folder), AutoConfig.from_pretrained(folder))


class RewardModel:
    """A loaded reward model: `score` gives raw rewards, `normalised` puts them on the scale
    of the training candidates (mean 0, standard deviation 1)."""

    def __init__(self, model, tokenizer, info: dict[str, Any]):
        self.model, self.tokenizer, self.info = model, tokenizer, info

    @classmethod
    def from_base(cls, base: str, max_tokens: int) -> RewardModel:
        import torch
        from transformers import AutoModelForSequenceClassification

        source, tokenizer = _backbone_source(base)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.truncation_side = "left"  # keep the line; the moment's start may go
        try:
            model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
        except Exception as exc:
            raise ModelError(f"{base}: cannot give it a scalar head ({str(exc).splitlines()[0][:160]})") from exc
        model.config.pad_token_id = tokenizer.pad_token_id
        head = getattr(model, "score", None)  # the scalar head of GPT-2, Llama and most decoders
        if head is not None:
            torch.nn.init.normal_(head.weight, std=1e-3)  # start near zero: no preference yet
        info = {"base": base, "input_format": INPUT_FORMAT, "max_tokens": max_tokens, "mean": 0.0, "std": 1.0}
        return cls(model.to("cuda" if torch.cuda.is_available() else "cpu"), tokenizer, info)

    @classmethod
    def load(cls, folder: Path) -> RewardModel:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(folder)
        info_path = folder / REWARD_JSON
        if not info_path.is_file():
            raise ModelError(f"{folder}: not a reward model (no {REWARD_JSON}); make one with `ripple reward train`")
        info = json.loads(info_path.read_text())
        if info.get("input_format") != INPUT_FORMAT:
            raise ModelError(f"{folder}: made by another Ripple (input format {info.get('input_format')}); retrain it")
        from ripple.lm import models

        models.quiet_transformers()
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForSequenceClassification.from_pretrained(folder)
        except Exception as exc:
            raise ModelError(f"{folder}: cannot load the reward model ({str(exc).splitlines()[0][:160]})") from exc
        tokenizer.truncation_side = "left"
        model.eval()
        return cls(model.to("cuda" if torch.cuda.is_available() else "cpu"), tokenizer, info)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def forward(self, descriptions: list[str], texts: list[str]):
        """Raw rewards as a tensor, with gradients when the model is training."""
        batch = self.tokenizer([reward_input(d, t) for d, t in zip(descriptions, texts)], return_tensors="pt",
                               padding=True, truncation=True, max_length=self.info["max_tokens"])
        batch = {k: v.to(self.device) for k, v in batch.items()}
        return self.model(**batch).logits[:, 0].float()

    def score(self, descriptions: list[str], texts: list[str], batch_size: int = 32) -> list[float]:
        import torch

        out: list[float] = []
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                out += self.forward(descriptions[i : i + batch_size], texts[i : i + batch_size]).tolist()
        self.model.train(was_training)
        return out

    def normalised(self, descriptions: list[str], texts: list[str]) -> list[float]:
        return [(r - self.info["mean"]) / self.info["std"] for r in self.score(descriptions, texts)]

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (Path(folder) / REWARD_JSON).write_text(json.dumps(self.info, indent=2) + "\n")


def set_loss(rewards, sizes: list[int], chosen: list[int]):
    """The paper's loss: -log softmax(rewards of one set)[the pick], averaged over sets.
    `rewards` holds every set's candidates one after another; `sizes` says how many each."""
    import torch

    width = max(sizes)
    logits = torch.full((len(sizes), width), float("-inf"), device=rewards.device)
    at = 0
    for row, size in enumerate(sizes):
        logits[row, :size] = rewards[at : at + size]
        at += size
    return torch.nn.functional.cross_entropy(logits, torch.tensor(chosen, device=rewards.device))


@dataclass
class RewardReport:
    folder: Path
    train_sets: int
    held_out_sets: int
    all_bad: int
    held_out: Accuracy
    train: Accuracy
    canaries: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def load_verdicts(db: Path) -> list[Judged]:
    from ripple.store import connect
    from ripple.curate.sets import judged

    if not Path(db).is_file():
        raise InputError(str(db), "no such database (runs are recorded there by `ripple generate` and `narrate`)")
    conn = connect(db)
    try:
        return judged(conn)
    finally:
        conn.close()


def _check(cfg: RewardConfig) -> None:
    check_fields(cfg, [
        (0 < cfg.held_out < 1, "held_out", "must be between 0 and 1"),
        (cfg.epochs >= 1, "epochs", "must be at least 1"),
        (cfg.batch_size >= 1, "batch_size", "must be at least 1"),
        (cfg.learning_rate > 0, "learning_rate", "must be above 0"),
        (cfg.max_tokens >= 8, "max_tokens", "must be at least 8"),
    ])


def train_reward(cfg: RewardConfig, progress: Callable[[str, int, int], None] | None = None) -> RewardReport:
    """Train on the store's comparisons and save the reward model to `cfg.out` atomically."""
    import torch


    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    _check(cfg)
    verdicts = load_verdicts(cfg.db)
    picked = [v for v in verdicts if v.chosen is not None]
    train_ids, held_ids = split_moments([v.moment for v in picked], cfg.held_out, cfg.seed)
    train = [v for v in picked if v.moment in train_ids]
    held = [v for v in picked if v.moment in held_ids]
    if len(train) < MIN_TRAIN_SETS or not held:
        raise InputError(str(cfg.db), f"{len(picked)} comparisons with a pick on {len(train_ids) + len(held_ids)} "
                         f"moments; judge more with `ripple curate` (at least {MIN_TRAIN_SETS + 1} moments)")
    torch.manual_seed(cfg.seed)
    reward = RewardModel.from_base(cfg.base, cfg.max_tokens)
    optimiser = torch.optim.AdamW(reward.model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    history = []
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    for epoch in range(cfg.epochs):
        order = train[:]
        rng.shuffle(order)
        reward.model.train()
        losses = []
        for step in range(steps_per_epoch):
            batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            rewards = reward.forward([v.description for v in batch for _ in v.texts],
                                     [t for v in batch for t in v.texts])
            loss = set_loss(rewards, [len(v.texts) for v in batch], [v.chosen for v in batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            progress(f"reward model, epoch {epoch + 1}/{cfg.epochs}", epoch * steps_per_epoch + step + 1,
                     cfg.epochs * steps_per_epoch)
        held_acc = accuracy(reward, held)
        history.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "held_out_accuracy": held_acc.pairwise})
    # Normalise over every training candidate, as the paper does, so that 0 is a typical line.
    texts = [(v.description, t) for v in train for t in v.texts]
    raw = reward.score([d for d, _ in texts], [t for _, t in texts])
    mean = sum(raw) / len(raw)
    std = math.sqrt(sum((r - mean) ** 2 for r in raw) / len(raw)) or 1.0
    reward.info.update(mean=mean, std=std)
    held_acc, train_acc = accuracy(reward, held), accuracy(reward, train)
    canaries = canary_check(reward, held)
    reward.info.update(
        config=cfg.to_dict(), train_moments=sorted(train_ids), held_out_moments=sorted(held_ids),
        metrics={"held_out": asdict(held_acc), "train": asdict(train_acc), "canaries": canaries,
                 "all_bad_left_out": len(verdicts) - len(picked)},
        history=history,
    )
    save_replacing(cfg.out, reward.save)
    return RewardReport(cfg.out, len(train), len(held), len(verdicts) - len(picked), held_acc, train_acc, canaries,
                        history, time.perf_counter() - started)
