"""What a game engine hands the recorder at each frame, and what every engine offers.

An engine (doom.py, atari.py) turns its own state into an `Observation`: the picture, the
sound played during the frame, the numbers (health, armor, ammo, kills, score, lives), the
objects in view with where they are, and the few things only the engine knows for sure
(an enemy just died, the player died, the level ended). Events and moments are derived
from observations alone (events.py, moments.py), the same way for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ripple.state import SeenObject


@dataclass
class Observation:
    tic: int  # frames since the recording started (one video frame each)
    time: float  # seconds since the recording started: tic / fps
    frame: np.ndarray  # height x width x 3, RGB, uint8
    audio: np.ndarray | None  # int16 samples (n, channels) the game played during this frame
    numbers: dict[str, int]  # health, armor, ammo, kills, deaths, score, lives ...
    objects: list[SeenObject] = field(default_factory=list)  # in view, nearest (biggest) first
    enemies: list[str] = field(default_factory=list)  # names of the objects in view that are enemies
    aimed: str | None = None  # the enemy in the crosshair, if any
    corpses: list[str] = field(default_factory=list)  # enemies whose bodies first appear in this frame
    vanished: list[str] = field(default_factory=list)  # items close by in the last frame, gone in this one
    died: bool = False  # the player died just before this frame (and play restarted)
    ended: str | None = None  # why the level ended just before this frame ('level end', 'game over')
    restarted: bool = False  # this frame starts a new episode: numbers reset without anything happening
    raw: Any = None  # the engine's own state, for the agent (labels, RAM, positions)


class Source(Protocol):
    """One running game. `observe()` the current frame, then `act()` one frame forward."""

    game: str  # the game's name in moments ("Doom", "Breakout")
    title: str  # what is being played, in words ("Doom, scenario deadly_corridor")
    fps: int  # frames per second of play
    size: tuple[int, int]  # (width, height) of the video
    audio_rate: int | None  # samples per second of the game's sound, None when it has none
    audio_channels: int
    facts: list[str]  # background for colour commentary

    def observe(self, tic: int) -> Observation: ...

    def act(self, action: Any) -> None: ...

    def describe(self, obs: Observation) -> str: ...  # the scene in words

    def info(self) -> dict[str, Any]: ...  # engine, version, settings: for record.json

    def close(self) -> None: ...
