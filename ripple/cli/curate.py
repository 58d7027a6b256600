"""`ripple curate`, `export`, `reward train` and `tune`: people's picks, and tuning on them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

import ripple.cli.options as o
from ripple.cli.app import app, err, export_app, print_json, reward_app
from ripple.cli.settings import Command
from ripple.config import DEFAULT_MODEL
from ripple.voice import VoiceConfig


@app.command("curate", cls=Command)
def curate_command(
    db: Annotated[Path, typer.Option(help="The store every run is recorded in.")] = Path("outputs/ripple.db"),
    host: Annotated[str, typer.Option(help="Address to listen on; any but 127.0.0.1 exposes the page to the "
                                      "network (the token still guards every request).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8765,
    who: Annotated[str, typer.Option(help="Name picks are stored under (default: your login name).")] = "",
    choices: Annotated[int, typer.Option(help="Candidates shown at once, 2 to 4.")] = 4,
    scan: Annotated[bool, typer.Option(help="First record run folders beside the store that it lacks.")] = True,
    config: o.Config = None,
) -> None:
    """The page where people pick the best line of each moment (served on 127.0.0.1)."""
    from rich.markup import escape
    from ripple.curate.web import LOCAL_HOSTS, CurateConfig, serve

    def announce(url: str, added: list[Path]) -> None:
        if added:
            err.print(f"recorded {len(added)} run folders the store lacked", highlight=False)
        if host not in LOCAL_HOSTS:
            err.print(f"[yellow]warning:[/] listening on {escape(host)}: the page is reachable from the network")
        print(f"Ripple curate: open {url}", flush=True)
        err.print("picks are stored in " + escape(str(db)) + "; Ctrl+C stops the server", highlight=False)

    serve(CurateConfig(db=db, host=host, port=port, who=who, choices=choices, scan=scan), announce)


@export_app.command("best", cls=Command)
def export_best_command(
    db: Annotated[Path, typer.Option(help="The store.")] = Path("outputs/ripple.db"),
    out: Annotated[Path, typer.Option(help="Folder for best.json, best.md and reel.mp4 (replaced whole).")] =
        Path("outputs/best"),
    reel: Annotated[bool, typer.Option(help="Cut and narrate a best-of reel where moments come from videos.")] = True,
    voice: o.Voice = "auto",
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """The best-of set people picked, as JSON and Markdown, and a narrated best-of reel where
    moments come from videos."""
    from rich.markup import escape

    from ripple.curate.export import ExportConfig, export_best

    result = export_best(ExportConfig(db=db, out=out, reel=reel, voice=VoiceConfig(backend=voice)))
    if as_json:
        print_json({"folder": str(result.folder), "moments": len(result.moments), "reel": bool(result.reel),
                    "reel_lines": result.reel_lines})
    reel_note = f", reel.mp4 ({result.reel_lines} lines)" if result.reel else ""
    err.print(f"[green]wrote[/] {escape(str(result.folder))}/best.json, best.md{reel_note}: "
              f"{len(result.moments)} moments", highlight=False)


@reward_app.command("train", cls=Command)
def reward_train(
    db: Annotated[Path, typer.Option(help="The store with people's comparisons.")] = Path("outputs/ripple.db"),
    base: Annotated[str, typer.Option(help="The commentary model whose backbone reads the lines.")] = DEFAULT_MODEL,
    out: Annotated[Path, typer.Option(help="The reward model's folder.")] = Path("outputs/models/reward"),
    held_out: Annotated[float, typer.Option(help="Share of judged moments kept out of training.")] = 0.2,
    epochs: Annotated[int, typer.Option()] = 4,
    batch_size: Annotated[int, typer.Option(help="Comparisons per step.")] = 8,
    learning_rate: Annotated[float, typer.Option()] = 3e-5,
    max_tokens: Annotated[int, typer.Option(help="Tokens of moment and line read.")] = 128,
    seed: o.Seed = 0,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Train the reward model on the stored comparisons; report its held-out accuracy."""
    from rich.markup import escape
    from ripple.curate.reward_model import RewardConfig, train_reward
    from ripple.show import progress_bar

    cfg = RewardConfig(db=db, base=base, out=out, held_out=held_out, epochs=epochs, batch_size=batch_size,
                       learning_rate=learning_rate, max_tokens=max_tokens, seed=seed)
    with progress_bar(err) as progress:
        report = train_reward(cfg, progress)
    h, c = report.held_out, report.canaries
    if as_json:
        print_json({"folder": str(report.folder), "held_out": asdict(h), "canaries": c,
                    "train_sets": report.train_sets, "all_bad": report.all_bad})
    err.print(f"held-out accuracy: the pick above each other line {h.pairwise:.0%} of {h.pairs} pairs (chance 50%); "
              f"the pick first {h.top1:.0%} of {h.sets} sets (chance {h.chance_top1:.0%})", highlight=False)
    err.print(f"canary pairs the right way round: {c['right']} of {c['pairs']} ("
              + ", ".join(f"{k} {v:.0%}" for k, v in c["by_kind"].items()) + ")", highlight=False)
    err.print(f"[green]wrote[/] {escape(str(report.folder))} ({report.train_sets} comparisons trained on, "
              f"{report.all_bad} 'all bad' left out)", highlight=False)


@app.command("tune", cls=Command)
def tune_command(
    ctx: typer.Context,
    states: Annotated[Optional[list[Path]], typer.Argument(
        help="Game-state files or `ripple record` timelines: tune on pairs the scorers label among the base's "
             "own candidates for their moments, no people needed. Without them: pairs the reward model labels "
             "in --db.", show_default=False)] = None,
    db: Annotated[Path, typer.Option(help="The store with every candidate and comparison.")] =
        Path("outputs/ripple.db"),
    model: Annotated[str, typer.Option(help="The commentary model to tune.")] = DEFAULT_MODEL,
    reward_model: Annotated[Path, typer.Option(help="From `ripple reward train`.")] = Path("outputs/models/reward"),
    name: Annotated[Optional[str], typer.Option(help="The tuned model's folder under --out (default: tuned, or "
                                                  "self with STATES).", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Folder of models.")] = Path("outputs/models"),
    candidates: Annotated[int, typer.Option(help="With STATES: lines the base writes per moment.")] = 8,
    lora_rank: Annotated[Optional[int], typer.Option(help="Rank of the LoRA adapter tuned; 0 tunes every weight "
                                                       "(default: 16 with STATES, else 0).", show_default=False)] = None,
    beta: Annotated[float, typer.Option(help="DPO's beta.")] = 0.1,
    kl_coef: Annotated[Optional[float], typer.Option(help="Weight of the KL(tuned || base) penalty (default: 0 "
                                                     "with STATES, else 0.05).", show_default=False)] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="(default: 1e-4 with STATES, else 5e-6)",
                                                          show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="(default: 24 with STATES, else 40)",
                                                    show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 4,
    eval_every: Annotated[Optional[int], typer.Option(help="Steps between sign checks (default: 8 with STATES, "
                                                     "else 5).", show_default=False)] = None,
    kl_bound: Annotated[float, typer.Option(help="KL to the base (nats/token) that stops tuning.")] = 0.5,
    min_accuracy: Annotated[float, typer.Option(help="Held-out accuracy the reward model needs.")] = 0.6,
    min_canaries: Annotated[Optional[float], typer.Option(
        help="Share of canary pairs the labeller must rank right (default: 0.9 with STATES, else 0.7).",
        show_default=False)] = None,
    win_samples: Annotated[int, typer.Option(help="Lines sampled per held-out moment for the win rate.")] = 4,
    seed: o.Seed = 0,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Preference tuning (DPO) behind sign guards: towards the reward model's taste, or with
    STATES towards the lines Ripple's own scorers rank best. Writes report.md and tune.png."""
    values = dict(ctx.params)
    if states:
        _tune_self(values)
    else:
        _tune_people(values)


def _given(values: dict, name: str, default):
    return default if values[name] is None else values[name]


def _tune_self(v: dict) -> None:
    from rich.markup import escape

    from ripple.curate.guards import GuardConfig
    from ripple.curate.selftune import SelfTuneConfig, tune_self
    from ripple.show import progress_bar

    cfg = SelfTuneConfig(
        states=tuple(v["states"]), model=v["model"], name=_given(v, "name", "self"), out_root=v["out"],
        candidates=v["candidates"], lora_rank=_given(v, "lora_rank", 16), beta=v["beta"],
        kl_coef=_given(v, "kl_coef", 0.0), learning_rate=_given(v, "learning_rate", 1e-4),
        max_steps=_given(v, "max_steps", 24), batch_size=v["batch_size"], eval_every=_given(v, "eval_every", 8),
        seed=v["seed"], guards=GuardConfig(min_canaries=_given(v, "min_canaries", 0.9), kl_bound=v["kl_bound"]))
    with progress_bar(err) as progress:
        done = tune_self(cfg, progress)
    if v["as_json"]:
        print_json({"folder": str(done.folder), "pairs": done.pairs, "preflight": done.preflight,
                    "history": done.history})
    first, last = done.history[0], done.history[-1]
    c = done.preflight["canaries"]
    err.print(f"{done.pairs} pairs from {done.moments - done.held} moments; canaries ranked right by the scorers "
              f"{c['fraction']:.0%} of {c['pairs']}; faithful line above its broken copy {first['agreement']:.0%} "
              f"-> {last['agreement']:.0%}; KL to the base {last['kl']:.4f} nats/token", highlight=False)
    err.print(f"[green]wrote[/] {escape(str(done.folder))} (adapter, report.md, tune.png); compare it with "
              f"`bench/quality.py --model {escape(str(done.folder))}`", highlight=False)


def _tune_people(v: dict) -> None:
    from rich.markup import escape

    from ripple.curate.guards import GuardConfig
    from ripple.curate.tune import TuneConfig, tune
    from ripple.show import progress_bar

    cfg = TuneConfig(db=v["db"], model=v["model"], reward_model=v["reward_model"], name=_given(v, "name", "tuned"),
                     out_root=v["out"], beta=v["beta"], kl_coef=_given(v, "kl_coef", 0.05),
                     learning_rate=_given(v, "learning_rate", 5e-6), max_steps=_given(v, "max_steps", 40),
                     batch_size=v["batch_size"], eval_every=_given(v, "eval_every", 5), win_samples=v["win_samples"],
                     seed=v["seed"], lora_rank=_given(v, "lora_rank", 0),
                     guards=GuardConfig(min_accuracy=v["min_accuracy"], min_canaries=_given(v, "min_canaries", 0.7),
                                        kl_bound=v["kl_bound"]))
    with progress_bar(err) as progress:
        result = tune(cfg, progress)
    if v["as_json"]:
        print_json({"folder": str(result.folder), "metrics": result.metrics, "history": result.history})
    m, final = result.metrics, result.metrics["final"]
    err.print(f"win rate over the base under the reward model: {m['win_rate']:.0%} of {m['samples']} samples; "
              f"agreement with held-out picks {result.history[0]['agreement']:.0%} -> {final['agreement']:.0%}; "
              f"KL to the base {final['kl']:.4f} nats/token ({m['kl_spent_per_line']:.2f} nats per sampled line)",
              highlight=False)
    err.print(f"[green]wrote[/] {escape(str(result.folder))} (report.md, tune.png)", highlight=False)
