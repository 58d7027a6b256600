"""Where Ripple keeps what it makes once and reuses: converted models, tokenizers, whisper
checkpoints, voice clips and tuning's written candidates."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Where converted models, tokenizers and voice clips live: $RIPPLE_CACHE, else
    $XDG_CACHE_HOME/ripple, else ~/.cache/ripple."""
    if os.environ.get("RIPPLE_CACHE"):
        return Path(os.environ["RIPPLE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "ripple"
