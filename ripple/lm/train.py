"""`ripple train`: fine-tune a commentary model on a corpus from `ripple ingest`.

The corpus is split by source video, so no video has lines on both sides. Each video
becomes one document of `Commentator: "..."` lines (the shape Ripple's transcript prompts
end in), documents are packed into fixed blocks, and transformers' Trainer does the rest:
checkpoints, --resume, evaluation, early stopping, LoRA through peft, gradient
checkpointing, bf16 where the hardware has it. The same script runs on many GPUs or
machines under `accelerate launch`.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_write_text
from ripple.config import DEFAULT_MODEL
from ripple.errors import InputError
from ripple.lm.prompting import QUOTE, SPEAKER
from ripple.reading import jsonl_lines


@dataclass(frozen=True)
class TrainConfig:
    corpus: Path  # JSON Lines from `ripple ingest`
    base: str = DEFAULT_MODEL  # registry name, hub name or folder to start from
    name: str = "commentary"  # the model folder: out_root/name
    out_root: Path = Path("outputs/models")
    block_size: int = 128  # tokens per packed training block
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 8  # blocks per step on each device
    learning_rate: float = 5e-5
    lr_scheduler: str = "linear"  # any transformers scheduler name ("constant", "cosine", ...)
    warmup_ratio: float = 0.0
    validation_fraction: float = 0.15  # share of source videos held out, at least one
    eval_steps: int = 20  # evaluate (and checkpoint) every this many steps
    patience: int = 3  # evaluations without improvement before stopping early
    lora: bool = False  # train LoRA adapters (peft) instead of every weight, merged at the end
    lora_r: int = 8
    lora_alpha: int = 16
    gradient_checkpointing: bool = False  # trade compute for memory on long blocks
    seed: int = 0
    resume: bool = False  # continue from the newest checkpoint in the model folder

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["corpus"], data["out_root"] = str(self.corpus), str(self.out_root)
        return data


@dataclass
class TrainResult:
    folder: Path
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def read_corpus(path: Path) -> dict[str, list[dict]]:
    """Corpus records grouped by source video, in order."""
    if not path.is_file():
        raise InputError(str(path), "no such corpus file (make one with `ripple ingest`)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    by_source: dict[str, list[dict]] = {}
    for number, record in jsonl_lines(text, path):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(f"{path}:{number}", "expected a corpus record with a 'text' field")
        by_source.setdefault(str(record.get("source", "")), []).append(record)
    if not by_source:
        raise InputError(str(path), "the corpus is empty")
    return by_source


def split_sources(sources: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) source lists; whole videos only, the same for the same seed."""
    if len(sources) < 2:
        raise InputError("corpus", f"needs at least 2 source videos to hold one out for validation, has {len(sources)}")
    shuffled = sorted(sources)
    random.Random(seed).shuffle(shuffled)
    n_val = min(len(shuffled) - 1, max(1, round(fraction * len(shuffled))))
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def document(records: list[dict]) -> str:
    """One video as training text, in the shape Ripple's transcript prompts take."""
    game = records[0].get("game") or "unknown"
    lines = [f"Game: {game}."] + [f"{SPEAKER}: {QUOTE}{r['text']}{QUOTE}" for r in records]
    return "\n".join(lines)


def pack(tokenizer, documents: list[str], block_size: int) -> list[list[int]]:
    """Documents joined by end-of-text and cut into full blocks of `block_size` tokens."""
    stream: list[int] = []
    for doc in documents:
        stream += tokenizer(doc, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return [stream[i : i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]


class Blocks:
    """A torch-style dataset of packed blocks; labels are the inputs (the model shifts)."""

    def __init__(self, blocks: list[list[int]]):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        import torch

        ids = torch.tensor(self.blocks[i], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def prepare(cfg: TrainConfig, tokenizer) -> tuple[Blocks, Blocks, dict[str, Any]]:
    by_source = read_corpus(cfg.corpus)
    train_sources, val_sources = split_sources(list(by_source), cfg.validation_fraction, cfg.seed)
    train = pack(tokenizer, [document(by_source[s]) for s in train_sources], cfg.block_size)
    val = pack(tokenizer, [document(by_source[s]) for s in val_sources], cfg.block_size)
    for part, blocks in (("training", train), ("validation", val)):
        if not blocks:
            raise InputError(
                str(cfg.corpus), f"the {part} videos hold fewer than {cfg.block_size} tokens; lower --block-size"
            )
    data = {
        "train_sources": train_sources,
        "validation_sources": val_sources,
        "train_blocks": len(train),
        "validation_blocks": len(val),
        "segments": sum(len(v) for v in by_source.values()),
        "games": sorted({r.get("game") or "unknown" for v in by_source.values() for r in v}),
    }
    return Blocks(train), Blocks(val), data


def _latest_checkpoint(folder: Path) -> str | None:
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def _training_args(cfg: TrainConfig, checkpoints: Path):
    """transformers' TrainingArguments for `cfg`: evaluate and checkpoint every eval_steps, keep
    the best by validation loss, bf16 on a GPU that has it."""
    import torch
    from transformers import TrainingArguments

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5 reads a value below 1 as a share of the steps
        eval_strategy="steps",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, cfg.eval_steps // 4),
        activation_checkpointing=cfg.gradient_checkpointing,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to=[],
        dataloader_num_workers=0,
    )


def train(cfg: TrainConfig) -> TrainResult:
    """Fine-tune `cfg.base` on `cfg.corpus` into `cfg.out_root / cfg.name`."""
    folder = cfg.out_root / cfg.name
    checkpoints = folder / "checkpoints"
    # refused before torch is imported: that alone takes most of a minute on a small machine
    if folder.exists() and not cfg.resume:
        raise InputError(str(folder), "a model with this name exists already; choose another --name or pass --resume")
    if cfg.resume and not (checkpoints.is_dir() and _latest_checkpoint(checkpoints)):
        raise InputError(str(checkpoints), "nothing to resume: no checkpoint there")

    from transformers import EarlyStoppingCallback, Trainer, default_data_collator

    from ripple.lm import models

    lm = models.load_plain(cfg.base)
    model, tokenizer = lm.model, lm.tokenizer
    train_set, val_set, data = prepare(cfg, tokenizer)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, task_type="CAUSAL_LM"))
    args = _training_args(cfg, checkpoints)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=default_data_collator,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience)],
    )
    base_eval = trainer.evaluate()["eval_loss"] if not cfg.resume else None
    trainer.train(resume_from_checkpoint=_latest_checkpoint(checkpoints) if cfg.resume else None)
    final = trainer.evaluate()
    history = [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h]
    if base_eval is not None:  # train() starts a fresh log; keep where the base model stood
        history.insert(0, {"step": 0, "eval_loss": base_eval})
    if not trainer.is_world_process_zero():
        return TrainResult(folder, {}, history)

    model = trainer.model
    if cfg.lora:
        model = model.merge_and_unload()
    metrics = {
        "eval_loss": final["eval_loss"],
        "eval_perplexity": math.exp(min(final["eval_loss"], 50)),
        "steps": trainer.state.global_step,
    }
    if base_eval is not None:
        metrics["base_eval_loss"] = base_eval
        metrics["base_eval_perplexity"] = math.exp(min(base_eval, 50))
    write_model_folder(folder, model, tokenizer, cfg, lm.describe(), data, metrics, history)
    return TrainResult(folder, metrics, history)


def write_model_folder(folder, model, tokenizer, cfg, base_info, data, metrics, history) -> None:
    """Weights, tokenizer, ripple.json, model card and loss curve; ripple.json goes last,
    so a folder that has it is complete."""
    tmp = folder / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for item in tmp.iterdir():
        os.replace(item, folder / item.name)
    tmp.rmdir()
    loss_curve(history, folder / "loss.png")
    info = {
        "name": cfg.name,
        "base": base_info["name"],
        "base_source": base_info["source"],
        "prompt_style": "transcript",  # trained on Commentator: "..." lines, so prompt it that way
        "config": cfg.to_dict(),
        "data": data,
        "metrics": metrics,
    }
    atomic_write_text(folder / "README.md", model_card(info))
    atomic_write_text(folder / "ripple.json", json.dumps(info, indent=2) + "\n")


def loss_curve(history: list[dict], path: Path) -> Path:
    from ripple.plots import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    val = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if train:
        ax.plot(*zip(*train), label="training loss", color="#4c72b0")
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss", color="#dd8452")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, path)


def model_card(info: dict) -> str:
    cfg, data, m = info["config"], info["data"], info["metrics"]
    base_line = ""
    if "base_eval_loss" in m:
        base_line = f"| base model, before training | {m['base_eval_loss']:.3f} | {m['base_eval_perplexity']:.1f} |\n"
    return f"""# {info['name']}

A commentary model fine-tuned by Ripple from `{info['base']}` on `{cfg['corpus']}`.

Use it: `ripple generate STATE_FILE --model {cfg['out_root']}/{info['name']}`

## Data

{data['segments']} transcript segments from {len(data['train_sources']) + len(data['validation_sources'])} videos
({', '.join(data['games'])}), split by video: {len(data['train_sources'])} for training
({data['train_blocks']} blocks of {cfg['block_size']} tokens), {len(data['validation_sources'])} held out
({data['validation_blocks']} blocks). Held out: {', '.join(Path(s).name for s in data['validation_sources'])}.

## Settings

{'LoRA r=' + str(cfg['lora_r']) + ', alpha=' + str(cfg['lora_alpha']) + ', merged' if cfg['lora'] else 'full fine-tuning'};
learning rate {cfg['learning_rate']} ({cfg['lr_scheduler']}), batch {cfg['batch_size']}, {m['steps']} steps,
seed {cfg['seed']}, early stopping after {cfg['patience']} evaluations without improvement.

## Validation

| model | loss | perplexity |
|---|---|---|
{base_line}| this model | {m['eval_loss']:.3f} | {m['eval_perplexity']:.1f} |

![loss curve](loss.png)
"""
