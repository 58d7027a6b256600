"""Pictures of a run: each moment's candidates as bars split into what each scorer gave."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ripple.commentary import CommentaryRun

MAX_MOMENTS_DRAWN = 12  # a taller picture stops being readable; commentary.md has them all
LABEL_CHARS = 60  # candidate text shown beside its bar
COLOURS = {"coherence": "#4c72b0", "relevance": "#dd8452", "loops": "#55a868", "length": "#c44e52", "reward": "#8172b3"}


def score_chart(run: CommentaryRun, path: Path) -> Path:
    """Write a PNG: per moment, one stacked bar per candidate (best on top), each segment
    a scorer's weighted share of the total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = run.results[:MAX_MOMENTS_DRAWN]
    weights = run.config.rank.weights
    heights = [0.6 + 0.32 * len(r.ranked) for r in results]
    fig, axes = plt.subplots(len(results), 1, figsize=(11, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (i, result) in zip(axes[:, 0], enumerate(results, start=1)):
        names = list(result.ranked[0].scores) if result.ranked else []
        total_weight = sum(weights[n] for n in names) or 1.0
        rows = list(reversed(result.ranked))  # best at the top
        left = [0.0] * len(rows)
        for name in names:
            widths = [weights[name] * r.scores[name].value / total_weight for r in rows]
            ax.barh(range(len(rows)), widths, left=left, color=COLOURS.get(name, "#999999"),
                    label=f"{name} ×{weights[name]:g}")
            left = [a + b for a, b in zip(left, widths)]
        labels = [textwrap.shorten(r.text or "(empty)", LABEL_CHARS, placeholder="…") for r in rows]
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        if rows:
            ax.get_yticklabels()[-1].set_fontweight("bold")
        ax.set_xlim(0, 1)
        when = f"{result.moment.clock()} " if result.moment.time is not None else ""
        ax.set_title(f"{i}. {when}{result.moment.game} — {result.template}", fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", fontsize=8, ncols=len(labels), frameon=False)
    axes[-1, 0].set_xlabel("total score (weighted mean of the scorers; best candidate on top, in bold)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the legend
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
