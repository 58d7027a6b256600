"""Scripted players: a few rules each, chosen for eventful play rather than for winning.

Doom: keep one enemy as the target while it is in view, turn onto it (the labels buffer
says where it is on screen) and shoot once it is under the crosshair; with no enemy in
sight, walk to the nearest item, else explore (walk, turn at walls, look behind when hurt).
Atari: Breakout and Pong move the paddle under the ball (positions read from RAM), with
short lapses of attention so that lives are lost now and then; other games sweep left and
right and fire. Every choice that is not forced by the game comes from a seeded generator.
"""

from __future__ import annotations

import math
import random

from ripple.games.doom_names import ITEMS, is_monster
from ripple.games.source import Observation

# Doom
AIM_SLACK_PX = 3  # shoot when the crosshair is within the target's half-width plus this
EXPLORE_TURN_DEG = (30, 120)  # a turn at a wall, drawn from this range
STUCK_TICS = 18  # half a second without moving is a wall
STUCK_DISTANCE = 8.0  # map units
LOOK_BACK_DAMAGE = 5  # health lost with no enemy in sight: turn round to find who did it
HALF_TURN_TICS = 6  # a 180-degree turn spread over this many tics
IGNORE_ITEM_TICS = 35 * 10  # an item found out of reach is left alone this long


class DoomAgent:
    """Actions in the button order of doom.BUTTONS."""

    def __init__(self, seed: int, width: int = 320):
        self.rng = random.Random(seed)
        self.width = width
        self.target: int | None = None
        self._trail: list[tuple[float, float]] = []
        self._turning = 0.0  # degrees still to turn, spread over coming tics
        self._last_health: int | None = None
        self._chasing: int | None = None  # the item walked to
        self._ignored: dict[int, int] = {}  # item id -> tic until which it is out of reach

    def act(self, obs: Observation) -> list[float]:
        state = obs.raw
        attack = forward = use = 0
        turn = 0.0
        health = obs.numbers.get("health", 100)
        hurt = self._last_health is not None and self._last_health - health >= LOOK_BACK_DAMAGE
        self._last_health = health
        if obs.restarted:
            self.target, self._trail, self._turning, self._chasing, self._ignored = None, [], 0.0, None, {}

        x, y = float(state.game_variables[4]), float(state.game_variables[5])
        self._trail = (self._trail + [(x, y)])[-STUCK_TICS:]
        stuck = len(self._trail) == STUCK_TICS and math.dist(self._trail[0], self._trail[-1]) < STUCK_DISTANCE
        labels = [l for l in state.labels if l.height >= 4]
        monsters = [l for l in labels if is_monster(l.object_name)]
        items = [l for l in labels if l.object_name in ITEMS and self._ignored.get(l.object_id, -1) < obs.tic]
        if monsters:
            target = next((l for l in monsters if l.object_id == self.target), None)
            target = target or max(monsters, key=lambda l: l.height)
            self.target = target.object_id
            offset = target.x + target.width / 2 - self.width / 2
            turn = self._angle(offset)
            attack = int(abs(offset) <= target.width / 2 + AIM_SLACK_PX)
            self._turning = 0.0
        elif self._turning:
            step = max(-180 / HALF_TURN_TICS, min(180 / HALF_TURN_TICS, self._turning))
            turn, self._turning = step, self._turning - step
        elif hurt:
            self._turning = 180.0
        elif items and not stuck:
            item = max(items, key=lambda l: l.height)
            self._chasing = item.object_id
            turn = self._angle(item.x + item.width / 2 - self.width / 2) * 0.5
            forward = 1
        else:
            forward = 1
            if stuck:
                if self._chasing is not None:  # out of reach (behind a ledge, across a wall): forget it a while
                    self._ignored[self._chasing] = obs.tic + IGNORE_ITEM_TICS
                    self._chasing = None
                self._turning = self.rng.choice((-1, 1)) * self.rng.uniform(*EXPLORE_TURN_DEG)
                self._trail = []
                use = 1  # a wall may be a door
        return [attack, forward, 0, 0, 0, use, turn]

    def _angle(self, offset_px: float) -> float:
        """Degrees to turn to bring a point `offset_px` right of the centre under the crosshair."""
        half = self.width / 2
        return math.degrees(math.atan(offset_px / half * math.tan(math.radians(90 / 2))))


# Atari: RAM addresses from the annotated RAM of AtariARI (Anand et al., 2019).
BREAKOUT_RAM = {"ball_x": 99, "ball_y": 101, "paddle_x": 72}
BREAKOUT_PADDLE_OFFSET = 8  # the paddle's RAM x sits this far right of the ball's RAM x when centred
PONG_RAM = {"player_y": 51, "ball_y": 54, "ball_x": 49}
PONG_PADDLE_OFFSET = 8
LAPSE_EVERY_S = (5.0, 12.0)  # a lapse of attention starts after a draw from this range ...
LAPSE_S = (1.5, 3.0)  # ... and lasts a draw from this one
SWEEP_FRAMES = (20, 70)  # the generic player holds a direction this long
FIRE_HOLD_FRAMES = 8  # the generic player holds fire this long, then lets go as long


class _Lapses:
    """When the Atari player is not looking: seeded stretches of inattention."""

    def __init__(self, rng: random.Random, fps: int):
        self.rng, self.fps = rng, fps
        self.start = self._frames(LAPSE_EVERY_S)
        self.end = self.start + self._frames(LAPSE_S)

    def _frames(self, span: tuple[float, float]) -> int:
        return int(self.rng.uniform(*span) * self.fps)

    def now(self, tic: int) -> bool:
        if tic >= self.end:
            self.start = tic + self._frames(LAPSE_EVERY_S)
            self.end = self.start + self._frames(LAPSE_S)
        return self.start <= tic < self.end


class AtariAgent:
    """One of three rule sets by game; `actions` is the game's minimal action set."""

    def __init__(self, game: str, actions: list, seed: int, fps: int = 60):
        self.game, self.actions, self.rng = game, list(actions), random.Random(seed)
        self.by_name = {a.name: a for a in self.actions}
        self.lapses = _Lapses(self.rng, fps)
        self._hold, self._direction = 0, "RIGHT"

    def _pick(self, *names: str):
        return next((self.by_name[n] for n in names if n in self.by_name), self.actions[0])

    def act(self, obs: Observation):
        ram = obs.raw
        lapse = self.lapses.now(obs.tic)
        if self.game == "breakout":
            ball_x, ball_y, paddle = (int(ram[a]) for a in BREAKOUT_RAM.values())
            if ball_y == 0:  # no ball in play: serve
                return self._pick("FIRE")
            if lapse:
                return self._pick("NOOP")
            return self._towards(paddle, ball_x - BREAKOUT_PADDLE_OFFSET, "RIGHT", "LEFT")
        if self.game == "pong":
            paddle, ball_y = int(ram[PONG_RAM["player_y"]]), int(ram[PONG_RAM["ball_y"]])
            if lapse or ball_y == 0:
                return self._pick("FIRE", "NOOP")
            return self._towards(paddle, ball_y - PONG_PADDLE_OFFSET, "LEFT", "RIGHT")  # LEFT moves it down
        return self._sweep(obs.tic)

    def _towards(self, at: int, target: int, more: str, less: str):
        if at < target - 2:
            return self._pick(more)
        if at > target + 2:
            return self._pick(less)
        return self._pick("NOOP")

    def _sweep(self, tic: int):
        if self._hold <= 0:
            moves = [d for d in ("LEFT", "RIGHT", "UP", "DOWN") if d in self.by_name]
            # a game that only goes up and down (Freeway) is about getting across: mostly up
            weights = [4 if d == "UP" and "LEFT" not in self.by_name else 1 for d in moves]
            self._direction = self.rng.choices(moves, weights)[0] if moves else "NOOP"
            self._hold = self.rng.randint(*SWEEP_FRAMES)
        self._hold -= 1
        fire = (tic // FIRE_HOLD_FRAMES) % 2 == 0  # games read a held button, not a one-frame tap
        if fire:
            return self._pick(self._direction + "FIRE", "FIRE", self._direction)
        return self._pick(self._direction, "NOOP")
