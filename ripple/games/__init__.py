"""Real games as sources: a registry of recorders, each behind the engine it needs.

`ripple record doom` plays ViZDoom (with its bundled Freedoom and scenarios) and `ripple
record atari` the Arcade Learning Environment (with its bundled ROMs); a scripted agent
plays, and each recording keeps the video and a timeline of moments in the game-state
format of `ripple generate`. An engine that is not installed gives a one-line hint.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ripple.errors import InputError, RippleError


DEFAULT_DOOM_SCENARIO = "deadly_corridor"  # ViZDoom's scenario with the most fighting per second


class EngineMissing(RippleError):
    """A game engine's package is not installed."""


@dataclass(frozen=True)
class Recorder:
    module: str  # the Ripple module that drives the engine
    package: str  # the engine's import name
    hint: str  # how to install it


RECORDERS: dict[str, Recorder] = {
    "doom": Recorder("ripple.games.doom", "vizdoom", "pip install vizdoom  (or: pip install 'ripple-commentary[games]')"),
    "atari": Recorder("ripple.games.atari", "ale_py", "pip install ale-py  (or: pip install 'ripple-commentary[games]')"),
}


def recorder(game: str) -> ModuleType:
    """The module that records `game`, once its engine is known to import."""
    if game not in RECORDERS:
        raise InputError(game, "unknown game; expected one of: " + ", ".join(RECORDERS))
    entry = RECORDERS[game]
    try:
        importlib.import_module(entry.package)
    except ImportError:
        raise EngineMissing(f"recording {game} needs the {entry.package} package: {entry.hint}") from None
    return importlib.import_module(entry.module)
