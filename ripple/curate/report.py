"""The tuning report: report.md (the sign checks, the win rate against the base, the KL
spent) and tune.png (reward, agreement and KL over the steps, the KL bound drawn in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def tune_chart(history: list[dict[str, float]], kl_bound: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    panels = [("reward", "expected reward on held-out\nmoments (normalised)", "#8172b3"),
              ("agreement", "agreement with people's\nheld-out picks", "#55a868"),
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
                  "| step | reward | agreement | KL (nats/token) |", "|---|---|---|---|"]
        lines += [f"| {h['step']} | {h['reward']:.3f} | {h['agreement']:.1%} | {h['kl']:.4f} |" for h in history]
        lines.append("")
    return "\n".join(lines)
