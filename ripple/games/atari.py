"""Atari 2600 games through the Arcade Learning Environment, with the ROMs ale-py bundles.

Every frame gives the picture (160x210, shown twice as large in the video), the TIA's
sound for that frame (ALE's sound observation: 512 unsigned 8-bit samples), the score
(the sum of the game's rewards since the game began) and the lives left. The Atari knows
no objects by name, so its moments carry numbers and events, not labels.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from ripple.errors import InputError
from ripple.games.source import Observation
from ripple.state import Event, Moment

FPS = 60  # NTSC frames per second; ALE advances one frame per act()
SAMPLES_PER_FRAME = 512  # ALE's sound observation per frame
AUDIO_RATE = FPS * SAMPLES_PER_FRAME  # 30,720 samples a second keeps sound and picture in step
VIDEO_SCALE = 2  # 160x210 pixels are too small to watch; nearest-neighbour doubling keeps them sharp
FACTS: dict[str, list[str]] = {
    "breakout": ["Breakout came to the Atari 2600 in 1978, after Atari's 1976 arcade original",
                 "Steve Wozniak and Steve Jobs worked on the arcade Breakout"],
    "pong": ["Pong was Atari's first arcade hit, in 1972", "the 2600 version is Video Olympics, 1977"],
    "space_invaders": ["Space Invaders was Taito's 1978 arcade hit; the 2600 port of 1980 sold millions"],
    "ms_pacman": ["Ms. Pac-Man came to the 2600 in 1982"],
    "freeway": ["Freeway was made by Activision in 1981: a chicken crosses ten lanes of traffic"],
}


def games() -> list[str]:
    from ale_py import roms

    return sorted(roms.get_all_rom_ids())


def check_game(name: str) -> str:
    """The ROM id for `name` ('Space Invaders', 'space-invaders' and 'space_invaders' all
    work), or an InputError with the nearest names."""
    rom = name.strip().lower().replace("-", "_").replace(" ", "_")
    known = games()
    if rom not in known:
        near = difflib.get_close_matches(rom, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; {len(known)} games are bundled, e.g. breakout, pong"
        raise InputError("--game", f"unknown Atari game '{name}'{hint}")
    return rom


def title_of(rom: str) -> str:
    return " ".join(word.capitalize() for word in rom.split("_"))


class AtariSource:
    """One ALE session; a new game starts when the last one is over."""

    fps = FPS
    audio_rate = AUDIO_RATE
    audio_channels = 1
    video_scale = VIDEO_SCALE

    def __init__(self, rom: str, seed: int):
        import ale_py
        from ale_py import ALEInterface, roms

        self.rom = rom
        self.game, self.title, self.facts = about(rom)
        ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # before the first one, or it greets on stderr
        ale = ALEInterface()
        ale.setInt("random_seed", seed)
        ale.setFloat("repeat_action_probability", 0.0)  # the same seed and actions, the same game
        ale.setBool("sound_obs", True)
        ale.loadROM(roms.get_rom_path(rom))
        self._ale = ale
        height, width = ale.getScreenDims()
        self.size = (width, height)
        self.actions = list(ale.getMinimalActionSet())
        self.has_lives = ale.lives() > 0  # Pong and others keep no count of lives
        self.score = 0  # the player's points: the sum of the game's positive rewards
        self.conceded = 0  # the opponent's points: the sum of the negative ones
        self.games_played = 1
        self._ended = False
        self._first = True

    def observe(self, tic: int) -> Observation:
        ale = self._ale
        ended, restarted = self._ended, self._first
        if ended:
            ale.reset_game()
            self.score, self.conceded, restarted = 0, 0, True
            self.games_played += 1
        self._ended, self._first = False, False
        sound = np.asarray(ale.getAudio(), dtype=np.int16)
        if not sound.any():  # before the first frame is played the buffer is all zeros, not silence (128)
            sound[:] = 128
        audio = ((sound - 128) * 256).astype(np.int16).reshape(-1, 1)  # unsigned 8-bit around 128 -> int16
        numbers = {"score": self.score}
        if self.has_lives:
            numbers["lives"] = int(ale.lives())
        if self.conceded:  # games with an opponent (Pong, Boxing) take points away: theirs
            numbers["opponent"] = self.conceded
        return Observation(tic=tic, time=tic / FPS, frame=ale.getScreenRGB(), audio=audio, numbers=numbers,
                           ended="game over" if ended else None, restarted=restarted, raw=ale.getRAM())

    def act(self, action) -> None:
        reward = int(self._ale.act(action))
        self.score += max(0, reward)
        self.conceded += max(0, -reward)
        if self._ale.game_over():
            self._ended = True

    def make_agent(self, seed: int):
        from ripple.games.agents import AtariAgent

        return AtariAgent(self.rom, self.actions, seed, self.fps)

    def describe(self, obs: Observation) -> str:
        lives = obs.numbers.get("lives", 0)
        versus = f" to {obs.numbers['opponent']}" if "opponent" in obs.numbers else ""
        return f"{self.game} on the Atari 2600, score {obs.numbers['score']}{versus}" + (
            f", {lives} {'life' if lives == 1 else 'lives'} left" if lives else "")

    def info(self) -> dict[str, Any]:
        import ale_py

        return {"engine": "ale-py", "version": ale_py.__version__, "rom": self.rom, "games": self.games_played,
                "actions": [a.name for a in self.actions]}

    def close(self) -> None:
        del self._ale


def about(name: str) -> tuple[str, str, list[str]]:
    """The game's name, what is played, and facts for colour, before any engine starts."""
    rom = check_game(name)
    game = title_of(rom)
    facts = FACTS.get(rom, [f"{game} is an Atari 2600 game"]) + ["played here through the Arcade Learning Environment"]
    return game, f"{game} (Atari 2600)", facts


def likely_events(moment: Moment) -> list[Event]:
    """None: Atari events carry the score or the lives left, which cannot be known before
    they happen, so the live commentator writes nothing ahead for them."""
    return []


def check_scenario(name: str) -> None:
    check_game(name)


def open_source(name: str, seed: int) -> AtariSource:
    return AtariSource(check_game(name), seed)
