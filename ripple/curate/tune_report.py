"""The tuning report: report.md (the sign checks, the win rate against the base, the KL
spent) and tune.png (reward, agreement and KL over the steps, the KL bound drawn in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def tune_chart(history: list[dict[str, float]], kl_bound: float, path: Path,
               reward: str = "expected reward on held-out\nmoments (normalised)",
               agreement: str = "agreement with people's\nheld-out picks") -> Path:
    from ripple.plots import pyplot, save

    plt = pyplot()
    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    panels = [("reward", reward, "#8172b3"),
              ("agreement", agreement, "#55a868"),
              ("kl", "KL to the base\n(nats/token)", "#c44e52")]
    for ax, (key, label, colour) in zip(axes, panels):
        ax.plot(steps, [h[key] for h in history], marker="o", color=colour)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axes[2].axhline(kl_bound, color="black", linestyle="--", linewidth=1, label=f"bound {kl_bound:g}")
    axes[2].legend(loc="upper left", fontsize=8)
    axes[2].set_xlabel("step")
    fig.suptitle("Preference tuning under the sign guards")
    fig.tight_layout()
    return save(fig, path, dpi=110)


def _history_table(history: list[dict[str, float]]) -> list[str]:
    """Every check of a tuning run, one row each."""
    return ["| step | reward | agreement | KL (nats/token) |", "|---|---|---|---|",
            *(f"| {h['step']} | {h['reward']:.3f} | {h['agreement']:.1%} | {h['kl']:.4f} |" for h in history)]


def tune_report(cfg, checked: dict[str, Any], history: list[dict[str, float]], pairs: int,
                metrics: dict[str, Any], stopped: str | None) -> str:
    held = checked["held_out"]
    canaries = checked["canaries"]
    kinds = ", ".join(f"{k} {_pct(v)}" for k, v in canaries["by_kind"].items())
    g = cfg.guards
    lines = [
        f"# Preference tuning: {cfg.name}" + (" (stopped)" if stopped else ""),
        "",
        f"Base `{cfg.model}` · reward model `{cfg.reward_model}` · DPO β {cfg.beta:g} with a KL penalty of "
        f"{cfg.kl_coef:g} · learning rate {cfg.learning_rate:g} · {cfg.max_steps} steps of {cfg.batch_size} pairs · "
        f"{pairs} pairs labelled by the reward model · seed {cfg.seed}",
        "",
    ]
    if stopped:
        lines += [f"**Stopped:** {stopped}", ""]
    lines += [
        "## Before tuning: the reward model's sign",
        "",
        "| check | figure | needed |",
        "|---|---|---|",
        f"| people's held-out picks ranked above the lines they passed over | {_pct(held['pairwise'])} of "
        f"{held['pairs']} pairs (chance 50%) | {_pct(g.min_accuracy)} |",
        f"| people's held-out picks ranked first of their set | {_pct(held['top1'])} of {held['sets']} sets "
        f"(chance {_pct(held['chance_top1'])}) | |",
        f"| canary pairs the right way round | {_pct(canaries['fraction'])} of {canaries['pairs']} ({kinds}) | "
        f"{_pct(g.min_canaries)} |",
        "",
    ]
    if metrics:
        first = history[0] if history else {}
        final = metrics["final"]
        lines += [
            "## After tuning",
            "",
            "| figure | base | tuned |",
            "|---|---|---|",
            f"| win rate of the tuned model's lines over the base's under the reward model | | "
            f"**{_pct(metrics['win_rate'])}** of {metrics['samples']} paired samples |",
            f"| mean reward of sampled lines (normalised) | {_num(metrics['reward_base'], 2)} | "
            f"{_num(metrics['reward_tuned'], 2)} |",
            f"| expected reward on held-out moments (importance-weighted stored candidates) | {_num(first.get('reward'), 2)} | "
            f"{_num(final['reward'], 2)} |",
            f"| agreement with people's held-out picks (implicit reward) | {_pct(first.get('agreement'))} | "
            f"{_pct(final['agreement'])} |",
            f"| KL spent: KL to the base on held-out lines (nats/token) | 0 | {_num(final['kl'], 4)} "
            f"(bound {g.kl_bound:g}) |",
            f"| KL spent on its own samples, log π/π_base (nats/line) | 0 | {_num(metrics['kl_spent_per_line'], 3)} |",
            "",
        ]
    if history:
        lines += ["![reward, agreement and KL over the steps](tune.png)", "", "## Every check", "",
                  *_history_table(history), ""]
    return "\n".join(lines)


def self_tune_report(cfg, checked: dict[str, Any], history: list[dict[str, float]], pairs: int, moments: int,
                     held: int, stopped: str | None) -> str:
    """report.md of `ripple tune STATES...`: the labeller's sign on the canaries, then every check."""
    canaries = checked["canaries"]
    kinds = ", ".join(f"{k} {_pct(v)}" for k, v in canaries["by_kind"].items())
    g = cfg.guards
    adapter = f"a LoRA adapter of rank {cfg.lora_rank}" if cfg.lora_rank else "every weight"
    lines = [
        f"# Self-tuning: {cfg.name}" + (" (stopped)" if stopped else ""),
        "",
        f"Base `{cfg.model}`, tuning {adapter} · {moments} moments from {len(cfg.states)} files, "
        f"{cfg.candidates} candidates each, {held} held out · {pairs} pairs labelled by the scorers · DPO β "
        f"{cfg.beta:g} with a KL penalty of {cfg.kl_coef:g} · learning rate {cfg.learning_rate:g} · "
        f"{cfg.max_steps} steps of {cfg.batch_size} pairs · seed {cfg.seed}",
        "",
    ]
    if stopped:
        lines += [f"**Stopped:** {stopped}", ""]
    lines += [
        "## Before tuning: the scorers' sign",
        "",
        "Each held-out moment's best clean line against copies of it broken one way each.",
        "",
        "| check | figure | needed |",
        "|---|---|---|",
        f"| canary pairs with the faithful line ranked first | {_pct(canaries['fraction'])} of {canaries['pairs']} "
        f"({kinds}) | {_pct(g.min_canaries)} |",
        "",
    ]
    if history:
        first, last = history[0], history[-1]
        lines += [
            "## During tuning",
            "",
            "| figure | base (step 0) | last check |",
            "|---|---|---|",
            f"| expected scorer label on held-out moments (importance-weighted candidates) | {first['reward']:.3f} "
            f"| {last['reward']:.3f} |",
            f"| canaries: faithful line above its broken copy (implicit reward) | {_pct(first['agreement'])} | "
            f"{_pct(last['agreement'])} |",
            f"| KL to the base on held-out lines (nats/token) | 0 | {last['kl']:.4f} (bound {g.kl_bound:g}) |",
            "",
            "![reward, agreement and KL over the steps](tune.png)",
            "",
            *_history_table(history),
        ]
        lines.append("")
    lines += ["Whether it writes better lines is `bench/quality.py --model` on moments it never saw.", ""]
    return "\n".join(lines)


def self_tune_card(cfg, checked: dict[str, Any], history: list[dict[str, float]], pairs: int, moments: int,
                   held: int) -> str:
    """README.md beside a self-tuned adapter: its model card (what it is, how it was made, its limits)."""
    last = history[-1] if history else {}
    sources = ", ".join(f"`{p}`" for p in cfg.states[:6]) + (f" and {len(cfg.states) - 6} more" if len(cfg.states) > 6
                                                             else "")
    return "\n".join([
        "---",
        f"base_model: {cfg.model}",
        "library_name: peft",
        "pipeline_tag: text-generation",
        "tags: [ripple, game-commentary, dpo, lora]",
        "---",
        "",
        f"# {cfg.name}: Ripple's commentary model, tuned on its own scorers' picks",
        "",
        f"A LoRA adapter (rank {cfg.lora_rank}) over `{cfg.model}`, tuned with DPO on {pairs} pairs of the base's "
        f"own candidate lines for {moments - held} game moments. In each pair Ripple's scorers ranked one line "
        "above the other: a line with a hard fault (unfinished, an invented number, another game's name, a field "
        "name read out, speaking to the reader, repeating an earlier line) always loses to one without. No "
        "person labelled anything.",
        "",
        "## Use",
        "",
        "```sh",
        f"ripple generate examples/doom.yaml --model {cfg.out_root / cfg.name}",
        "```",
        "",
        "Ripple merges the adapter into its base once, into its cache, and then loads it like any model, with "
        "either backend.",
        "",
        "## How it was made",
        "",
        f"- Moments: {sources}.",
        f"- {cfg.candidates} candidates per moment, written exactly as `ripple generate` writes them; every "
        f"{cfg.held_every}th moment held out for the sign checks.",
        f"- DPO β {cfg.beta:g}, KL penalty {cfg.kl_coef:g}, learning rate {cfg.learning_rate:g}, {cfg.max_steps} "
        f"steps of {cfg.batch_size} pairs, seed {cfg.seed}.",
        f"- Before tuning, the scorers ranked the faithful line first in {_pct(checked['canaries']['fraction'])} of "
        f"{checked['canaries']['pairs']} canary pairs (a held-out moment's best clean line against copies broken "
        "one way each).",
        f"- After tuning: the model's implicit reward puts the faithful line above its broken copy in "
        f"{_pct(last.get('agreement'))} of those pairs (50% for the base), at a KL to the base of "
        f"{_num(last.get('kl'), 3)} nats/token (bound {cfg.guards.kl_bound:g}).",
        "",
        "The whole run, step by step: report.md and tune.png beside this file.",
        "",
        "## Limits",
        "",
        "It knows only what a 135M-parameter base knows. The scorers' checks are a floor (they catch invented "
        "numbers and unfinished lines, not a true number pinned on the wrong player), so it learns to avoid what "
        "they catch and nothing more. Whether it writes better lines is measured on moments it never saw: "
        "`bench/quality.py --model` on `bench/states/heldout/`.",
        "",
    ])
