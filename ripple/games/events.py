"""Events from the changes between one observation and the next, for any engine.

enemy killed (kind `kill`), heavy damage taken (`damage`), low health (`low_health`), item
picked up (`pickup`), life lost (`life_lost`), points scored (`score`, and `score_jump` for
an unusually big gain), points conceded to an opponent (`conceded`), level end or game over
(`level_end`), and an enemy coming into view (`spotted`): each with the time of the frame it
was seen in. Thresholds are named below; what makes a change worth a word is kept deliberately
simple so that a person can predict it.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median

from ripple.games.source import Observation
from ripple.state import Event, Moment

HEAVY_DAMAGE = 20  # health lost within DAMAGE_WINDOW_S that makes 'heavy damage' (a pistol shot is ~10)
DAMAGE_WINDOW_S = 1.0
DAMAGE_GAP_S = 1.5  # at most one damage event this often: a burst of hits is one event
LOW_HEALTH = 30  # health below this is 'low health' ...
LOW_HEALTH_REARM = 50  # ... said again only after health climbed back over this
SCORE_GAP_S = 2.0  # at most one score event this often; points scored meanwhile add up
SCORE_JUMP_FACTOR = 4.0  # one gain this many times the usual gain is a score jump
SPOT_MEMORY_S = 3.0  # an enemy type out of sight this long is news when it reappears

# How big a moment each kind of event makes (0 quiet to 1 the biggest): picks the template
# (0.8 and over: hype) and how much the voice rises.
INTENSITY: dict[str, float] = {
    "life_lost": 1.0, "level_end": 0.9, "kill": 0.8, "score_jump": 0.8, "low_health": 0.7, "damage": 0.6,
    "conceded": 0.6, "score": 0.45, "pickup": 0.4, "spotted": 0.35,
}


def _a(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def kill_text(words: str) -> str:
    """What a kill event says, given how the enemy is said ('Zombieman' -> 'the player kills a Zombieman')."""
    return f"the player kills {_a(words)}"


LEVEL_COMPLETE = "level complete"


def death_text(number: int) -> str:
    """What the player's death number `number` of a session says (the first has no number)."""
    return "the player dies" + (f" (death number {number})" if number > 1 else "")


def likely_ends(moment: Moment) -> list[Event]:
    """The events that end an episode, as they would be reported next: the level completed,
    and the player's next death (its number is the deaths so far plus one)."""
    deaths = int(moment.numbers.get("deaths", 0))
    return [Event(text=LEVEL_COMPLETE, time=moment.time, kind="level_end"),
            Event(text=death_text(deaths + 1), time=moment.time, kind="life_lost")]


def likely_kills(moment: Moment, say: Callable[[str], str], is_enemy: Callable[[str], bool]) -> list[Event]:
    """The kill events that could come next: one per kind of enemy in view, the one nearest
    the crosshair (the middle of the screen) first. The live commentator writes lines for
    them ahead of time (commentator.py); each is exactly the event the detector would report."""
    enemies = sorted((o for o in moment.objects if is_enemy(o.name)), key=lambda o: abs(o.x - 0.5))
    names = list(dict.fromkeys(o.name for o in enemies))
    return [Event(text=kill_text(say(name)), time=moment.time, kind="kill") for name in names]


class EventDetector:
    """Feed it every observation in order; `update` returns the events of that frame."""

    def __init__(self, say: Callable[[str], str] = str):
        self.say = say  # engine name -> words ('DoomImp' -> 'Imp')
        self._last: Observation | None = None
        self._damage: list[tuple[float, int]] = []  # (time, health lost) within the window
        self._last_damage = -1e9
        self._low = False
        self._score_gains: list[int] = []
        self._score_pending = 0
        self._last_score_event = -1e9
        self._seen_enemy: dict[str, float] = {}  # enemy name -> last time in view

    def update(self, obs: Observation) -> list[Event]:
        last, events = self._last, []

        def add(text: str, kind: str) -> None:
            events.append(Event(text=text, time=round(obs.time, 3), kind=kind))

        if obs.died:
            add(death_text(int(obs.numbers.get("deaths", 1))), "life_lost")
        if obs.ended:
            add("game over" if obs.ended == "game over" else LEVEL_COMPLETE, "level_end")
        if last is not None and not obs.restarted:
            self._changes(last, obs, add)
        elif obs.restarted:
            self._damage, self._low, self._score_pending = [], False, 0
        for name in obs.enemies:
            if obs.time - self._seen_enemy.get(name, -1e9) > SPOT_MEMORY_S and not any(
                    e.kind == "spotted" for e in events):
                where = next(o.where() for o in obs.objects if o.name == name)
                add(f"{_a(self.say(name))} appears {where}", "spotted")
            self._seen_enemy[name] = obs.time
        self._last = obs
        return events

    def _changes(self, last: Observation, obs: Observation, add) -> None:
        now, old = obs.numbers, last.numbers
        kills = now.get("kills", 0) - old.get("kills", 0)
        victims = list(obs.corpses)
        for i in range(max(kills, len(victims))):
            add(kill_text(self.say(victims[i])) if i < len(victims) else "the player kills an enemy", "kill")
        if "lives" in now and "lives" in old and now["lives"] < old["lives"]:
            left = now["lives"]
            add(f"the player loses a life, {left} left" if left else "the player loses the last life", "life_lost")
        for item in obs.vanished:
            add(f"the player picks up {_a(self.say(item))}", "pickup")
        if not obs.vanished:
            for name in ("health", "armor"):
                if name in now and name in old and now[name] > old[name]:
                    add(f"{name} up from {old[name]} to {now[name]}", "pickup")
        self._health(last, obs, add)
        self._score(last, obs, add)
        against = now.get("opponent", 0) - old.get("opponent", 0)
        if against > 0:
            add(f"the opponent scores, {now.get('score', 0)} to {now['opponent']}", "conceded")

    def _health(self, last: Observation, obs: Observation, add) -> None:
        if "health" not in obs.numbers or "health" not in last.numbers:
            return
        health, lost = obs.numbers["health"], last.numbers["health"] - obs.numbers["health"]
        if lost > 0:
            self._damage.append((obs.time, lost))
        self._damage = [(t, n) for t, n in self._damage if obs.time - t < DAMAGE_WINDOW_S]
        burst = sum(n for _, n in self._damage)
        if burst >= HEAVY_DAMAGE and obs.time - self._last_damage >= DAMAGE_GAP_S:
            add(f"the player takes {burst} damage, health down to {health}", "damage")
            self._last_damage, self._damage = obs.time, []
        if health < LOW_HEALTH and not self._low and health > 0:
            add(f"health is down to {health}", "low_health")
            self._low = True
        elif health >= LOW_HEALTH_REARM:
            self._low = False

    def _score(self, last: Observation, obs: Observation, add) -> None:
        if "score" not in obs.numbers or "score" not in last.numbers:
            return
        gain = obs.numbers["score"] - last.numbers["score"]
        if gain > 0:
            usual = median(self._score_gains) if len(self._score_gains) >= 3 else None
            self._score_gains = (self._score_gains + [gain])[-50:]
            if usual is not None and gain >= SCORE_JUMP_FACTOR * usual:
                add(f"a score jump: {gain} points at once, score {obs.numbers['score']}", "score_jump")
                self._last_score_event, self._score_pending = obs.time, 0
                return
            self._score_pending += gain
        if gain > 0 and obs.time - self._last_score_event >= SCORE_GAP_S:  # on a scoring frame only
            gained = self._score_pending
            add(f"{'a point' if gained == 1 else f'{gained} points'} scored, score {obs.numbers['score']}", "score")
            self._last_score_event, self._score_pending = obs.time, 0


def intensity(events: list[Event]) -> float:
    """A moment's intensity from its events: the biggest, a little more for each extra one."""
    if not events:
        return 0.0
    top = max(INTENSITY.get(e.kind or "", 0.3) for e in events)
    return round(min(1.0, top + 0.05 * (len(events) - 1)), 3)
