"""Every picture Ripple draws: matplotlib off-screen, one PNG per figure, the figure closed after
(a long batch draws hundreds); and the pictures of a run: each moment's candidates as bars split
into what each scorer gave, the narration's timeline, a live session's latency."""

from __future__ import annotations

import textwrap
from pathlib import Path


MAX_MOMENTS_DRAWN = 12  # a taller picture stops being readable; commentary.md has them all
LABEL_CHARS = 60  # candidate text shown beside its bar
COLOURS = {"coherence": "#4c72b0", "relevance": "#dd8452", "loops": "#55a868", "length": "#c44e52", "reward": "#8172b3",
           "faithfulness": "#937860"}


def pyplot():
    """matplotlib's pyplot, drawing off-screen. Generated lines may hold characters that
    DejaVu Sans lacks (a box is drawn); the warning for each would drown the terminal."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    return plt


def save(fig, path: Path, dpi: int = 100) -> Path:
    """Write `fig` to `path` as PNG and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path



def score_chart(run, path: Path) -> Path:
    """Write a PNG: per moment, one stacked bar per candidate (best on top), each segment
    a scorer's weighted share of the total."""
    plt = pyplot()

    # moments narrate left unwritten (no room to hear a line) have no bars
    results = [(i, r) for i, r in enumerate(run.results, start=1) if not r.unwritten][:MAX_MOMENTS_DRAWN]
    weights = run.config.rank.weights
    if not results:
        fig, ax = plt.subplots(figsize=(11, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no moment had candidates written", ha="center", va="center")
        return save(fig, path)
    heights = [0.6 + 0.32 * len(r.ranked) for _, r in results]
    fig, axes = plt.subplots(len(results), 1, figsize=(11, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (i, result) in zip(axes[:, 0], results):
        names = list(result.ranked[0].scores) if result.ranked else []
        total_weight = sum(weights[n] for n in names) or 1.0
        rows = list(reversed(result.ranked))  # best at the top
        left = [0.0] * len(rows)
        for name in names:
            widths = [weights[name] * r.scores[name].value / total_weight for r in rows]
            bars = ax.barh(range(len(rows)), widths, left=left, color=COLOURS.get(name, "#999999"),
                           label=f"{name} ×{weights[name]:g}")
            for bar, r in zip(bars, rows):
                if r.faults:  # vetoed: ranked below every line without a hard fault
                    bar.set_alpha(0.35)
            left = [a + b for a, b in zip(left, widths)]
        labels = [("✗ " if r.faults else "") + textwrap.shorten(r.text or "(empty)", LABEL_CHARS, placeholder="…")
                  for r in rows]
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        if rows:
            ax.get_yticklabels()[-1].set_fontweight("bold")
        ax.set_xlim(0, 1)
        when = f"{result.moment.clock()} " if result.moment.time is not None else ""
        ax.set_title(f"{i}. {when}{result.moment.game} — {result.template}", fontsize=10, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", fontsize=8, ncols=len(labels), frameon=False)
    axes[-1, 0].set_xlabel("total score, the scorers' weighted mean (best on top, in bold)\n"
                           "✗ faded: a hard fault, ranked below every line without one")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the legend
    return save(fig, path)


def timeline_chart(duration: float, loudness, window_s: float, moments, lines, dropped, path: Path) -> Path:
    """Write a PNG of a narrated video's timeline: game loudness, the moments (taller for
    more intense ones), the lines as spoken spans, and the moments left silent."""
    plt = pyplot()

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    if loudness is not None and len(loudness):
        top.plot([i * window_s for i in range(len(loudness))], loudness, color="#4c72b0", lw=1)
        top.set_ylabel("game audio\n(dBFS)", fontsize=8)
    else:
        top.text(0.5, 0.5, "no game audio", transform=top.transAxes, ha="center", color="#777777")
    times = [m.time for m in moments]
    top.vlines(times, *top.get_ylim(), color="#dddddd", lw=0.8, zorder=0)
    bottom.bar(times, [m.intensity or 0 for m in moments], width=max(duration / 200, 0.05), color="#dd8452",
               label="moment (height: intensity)")
    for line in lines:
        bottom.axvspan(line.start, line.end, ymin=0.75, ymax=0.95, color="#55a868", alpha=0.8)
        bottom.text(line.start, 1.17, textwrap.shorten(line.text, 28, placeholder="…"), fontsize=6, rotation=12)
    if dropped:
        bottom.scatter([d.time for d in dropped], [1.03] * len(dropped), marker="x", color="#c44e52",
                       label="moment left silent")
    bottom.axvspan(0, 0, color="#55a868", label="spoken line")
    bottom.set_ylim(0, 1.35)
    bottom.set_xlim(0, duration)
    bottom.set_yticks([0, 0.5, 1])
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right", fontsize=7, ncols=3, frameon=False, bbox_to_anchor=(1, -0.25))
    fig.tight_layout()
    return save(fig, path)


def latency_chart(duration: float, spans, events, aim_s: float, path: Path, silence: str = "") -> Path:
    """Write a PNG of a live session: each spoken event's time from the event to the first
    audio of its line (written ahead or after it), against the aim and the session's p50 and
    p95, over the lines as they were heard (those cut short in another colour). `events`: (time, latency,
    written ahead) per spoken event; `spans`: (start, end, cut short) per line heard; `silence`:
    the silence between lines, said under the lines."""
    import numpy as np

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    for ahead, colour, label in [(True, "#55a868", "line written ahead"), (False, "#4c72b0", "line written after")]:
        picked = [(t, v) for t, v, a in events if a == ahead]
        if picked:
            top.scatter(*zip(*picked), s=22, color=colour, label=label, zorder=3)
    top.axhline(aim_s, color="#c44e52", lw=1, label=f"aim ({aim_s:g} s)")
    if events:
        for q, style in [(50, ":"), (95, "--")]:
            value = float(np.percentile([v for _, v, _ in events], q))
            top.axhline(value, color="#555555", lw=1, ls=style, label=f"p{q} {value:.2f} s")
    else:
        top.text(0.5, 0.5, "no event was spoken", transform=top.transAxes, ha="center", color="#777777")
    top.set_ylim(0, max([aim_s * 1.5] + [v * 1.1 for _, v, _ in events]))
    top.set_ylabel("event to first\naudio (s)", fontsize=8)
    top.legend(loc="upper right", fontsize=7, ncols=5, frameon=False)
    for start, end, cut in spans:
        bottom.axvspan(start, end, ymin=0.2, ymax=0.8, facecolor="#dd8452" if cut else "#55a868", edgecolor="white",
                       lw=1)
    bottom.axvspan(0, 0, facecolor="#55a868", label="line heard whole")
    bottom.axvspan(0, 0, facecolor="#dd8452", label="line cut short by the next")
    bottom.legend(loc="upper right", fontsize=7, ncols=2, frameon=False, bbox_to_anchor=(1, -0.35))
    bottom.set_yticks([])
    bottom.set_ylabel("heard", fontsize=8)
    if silence:
        bottom.set_title(silence, fontsize=8, loc="left")
    bottom.set_xlim(0, duration)
    bottom.set_xlabel("seconds")
    fig.tight_layout()
    return save(fig, path)
