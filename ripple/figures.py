"""How every picture Ripple draws is started and saved: matplotlib off-screen, one PNG per
figure, the figure closed after (a long batch draws hundreds)."""

from __future__ import annotations

from pathlib import Path


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
