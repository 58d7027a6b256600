"""The `ripple` command: each subcommand turns its settings (flags, over ripple.toml, over the
defaults) into a config and calls one library function.

The command tree is in app.py; each module here holds the commands of one stage, and the options
several commands share are described once in options.py. Heavy libraries (torch, transformers)
are imported inside the commands, so `ripple --help` is instant.
"""

from __future__ import annotations

from pathlib import Path

# Each module adds its commands, in the order `ripple --help` lists them: the flow first.
from ripple.cli import generate  # noqa: F401, I001
from ripple.cli import corpus, lm  # noqa: F401
from ripple.cli import batch, games, curate  # noqa: F401
from ripple.cli import env  # noqa: F401
from ripple.cli.app import app, main
from ripple.cli.settings import Settings
from ripple.cli.settings import load_settings as _load

__all__ = ["app", "main", "load_settings"]


def load_settings(path: Path | None) -> Settings:
    """ripple.toml at `path`, checked against every command's options."""
    import typer.main

    return _load(path, typer.main.get_command(app))
