"""Doom through ViZDoom: the scenarios it bundles (with Freedoom's free artwork), played
headless one tic at a time.

Each tic gives the picture, the sound of that tic (when OpenAL is there to mix it), the
player's numbers (health, armor, ammo, kills) and two views of the things in the level:
the labels buffer (what is on screen and where) and the objects list (every thing in the
level by id and class). A monster that dies is renamed by the engine ('Zombieman' becomes
'DeadZombieman'), so a kill is known with its victim; an item that vanishes beside the
player was picked up.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ripple.errors import InputError
from ripple.games.doom_names import ITEMS, display, is_monster
from ripple.games.events import likely_ends, likely_kills
from ripple.games.source import Observation
from ripple.state import Event, Moment, SeenObject

GAME = "Doom"
FPS = 35  # ViZDoom's tic rate: the game advances 35 tics per second of play
AUDIO_RATE = 22050  # samples per second of the recorded game sound (630 per tic)
MIN_LABEL_PX = 4  # labels shorter than this are specks in the distance, not worth a word
PICKUP_RADIUS = 64.0  # map units: an item that vanishes this close to the player was taken
MAX_OBJECTS = 8  # objects kept per moment, nearest first
HORIZONTAL_FOV_DEG = 90.0  # the camera's field of view at 4:3, which the agent aims with

# The scenarios that run single-player from the wheel alone, and what each one is.
SCENARIOS: dict[str, str] = {
    "deadly_corridor": "a corridor lined with Zombiemen, Shotgun Guys and Chaingun Guys, green armor at its far end",
    "defend_the_center": "the player stands in the middle of a round room while Demons and chainsaw marines close in",
    "defend_the_line": "Imps and Demons advance on the player's line across a wide room",
    "deathmatch": "an arena full of weapons, ammo and health, with waves of monsters",
    "basic": "a single Cacodemon floats at the far wall of a square room",
    "simpler_basic": "a single Cacodemon floats at the far wall of a square room",
    "rocket_basic": "a Cacodemon to be brought down with a rocket launcher",
    "predict_position": "a Cacodemon drifts across the room and a rocket must meet it",
    "take_cover": "Imps hurl fireballs from across the room and the player must dodge",
    "health_gathering": "a floor of acid that drains health; Medikits are scattered about",
    "health_gathering_supreme": "a maze of acid floors with Medikits and poison vials",
    "my_way_home": "a maze of rooms with green armor somewhere inside",
    "freedoom1": "Freedoom Phase 1, map E1M1: a whole level with monsters, keys and an exit",
    "freedoom2": "Freedoom Phase 2, MAP01: a whole level with monsters, keys and an exit",
}

FACTS = [
    "Doom was made by id Software and came out in December 1993",
    "this is ViZDoom, a research build of the Doom engine, drawn with Freedoom's free artwork",
]


def scenario_config(scenario: str) -> Path:
    """The bundled .cfg of a scenario, or an InputError listing the ones that exist."""
    import vizdoom

    if scenario not in SCENARIOS:
        raise InputError("--scenario", f"unknown Doom scenario '{scenario}'; expected one of: " + ", ".join(SCENARIOS))
    path = Path(vizdoom.scenarios_path) / f"{scenario}.cfg"
    if not path.is_file():
        raise InputError("--scenario", f"'{scenario}' is not bundled with this vizdoom ({path} is missing)")
    return path


def new_game(scenario: str, seed: int, workdir: Path, audio: bool = True):
    """A started DoomGame set up the way the recorder plays it: every agent button, the
    numbers Ripple reports, labels and objects on, no window. Tests replay with it."""
    import vizdoom as vzd

    B, V = vzd.Button, vzd.GameVariable
    game = vzd.DoomGame()
    game.load_config(str(scenario_config(scenario)))
    game.set_doom_config_path(str(workdir / "_vizdoom.ini"))  # not the current folder
    game.set_window_visible(False)
    game.set_mode(vzd.Mode.PLAYER)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_screen_resolution(vzd.ScreenResolution.RES_320X240)
    game.set_render_hud(True)
    game.set_labels_buffer_enabled(True)
    game.set_objects_info_enabled(True)
    game.set_available_buttons([B.ATTACK, B.MOVE_FORWARD, B.MOVE_BACKWARD, B.MOVE_LEFT, B.MOVE_RIGHT, B.USE,
                                B.TURN_LEFT_RIGHT_DELTA])
    game.set_available_game_variables([V.HEALTH, V.ARMOR, V.SELECTED_WEAPON_AMMO, V.KILLCOUNT, V.POSITION_X,
                                       V.POSITION_Y, V.ANGLE])
    if audio:
        game.set_audio_buffer_enabled(True)
        game.set_audio_sampling_rate(vzd.SamplingRate.SR_22050)
        game.set_audio_buffer_size(1)  # one tic of sound per state
        game.add_game_args("+snd_efx 0")  # OpenAL Soft 1.19's reverb filter aborts on some sounds
    game.set_seed(seed)
    game.init()
    return game


BUTTONS = ("attack", "forward", "backward", "left", "right", "use", "turn")  # the order new_game sets


def numbers_of(variables: np.ndarray) -> dict[str, int]:
    """The game variables new_game asks for, as moment numbers (ammo only once a weapon is up)."""
    health, armor, ammo, kills = (int(v) for v in variables[:4])
    numbers = {"health": health, "armor": armor}
    if ammo >= 0:
        numbers["ammo"] = ammo
    numbers["kills"] = kills
    return numbers


class DoomSource:
    """One ViZDoom session: a new episode starts whenever the last one ends."""

    game = GAME
    fps = FPS
    audio_channels = 2

    def __init__(self, scenario: str, seed: int):
        self.scenario = scenario
        self.seed = seed
        self._dir = Path(tempfile.mkdtemp(prefix="ripple-doom-"))
        try:
            self._game = new_game(scenario, seed, self._dir)
        except Exception:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.audio_rate = AUDIO_RATE
        self.size = (self._game.get_screen_width(), self._game.get_screen_height())
        _, self.title, self.facts = about(scenario)
        self._names: dict[int, str] = {}  # object id -> class, last tic
        self._near_items: set[int] = set()  # item ids within reach of the player last tic
        self._episodes = 1
        self.deaths = 0  # in this session: each death starts a new episode

    def observe(self, tic: int) -> Observation:
        game = self._game
        died, ended, restarted = False, None, False
        if game.is_episode_finished():  # during the last act(): reported with the new episode's first frame
            died = game.is_player_dead()
            ended = None if died else "level end"
            self.deaths += died
            game.new_episode()
            self._episodes += 1
            restarted = True
            self._names, self._near_items = {}, set()
        state = game.get_state()
        width, height = self.size
        names = {o.id: o.name for o in state.objects}
        corpses = [names[i][4:] for i, old in self._names.items()
                   if i in names and names[i] == "Dead" + old and is_monster(old)]
        vanished = [self._names[i] for i in self._near_items if i not in names]
        px, py = state.game_variables[4], state.game_variables[5]
        self._near_items = {o.id for o in state.objects if o.name in ITEMS
                            and math.hypot(o.position_x - px, o.position_y - py) <= PICKUP_RADIUS}
        self._names = names

        seen = [label for label in state.labels if label.height >= MIN_LABEL_PX
                and (is_monster(label.object_name) or label.object_name in ITEMS)]
        seen.sort(key=lambda label: -label.height)
        objects = [SeenObject(name=label.object_name, x=round(min(1, (label.x + label.width / 2) / width), 3),
                              y=round(min(1, (label.y + label.height / 2) / height), 3),
                              size=round(min(1, label.height / height), 3)) for label in seen[:MAX_OBJECTS]]
        aimed = next((label.object_name for label in seen if is_monster(label.object_name)
                      and label.x <= width / 2 <= label.x + label.width), None)
        numbers = numbers_of(state.game_variables)
        numbers["deaths"] = self.deaths
        audio = None
        if state.audio_buffer is not None:
            audio = np.asarray(state.audio_buffer, dtype=np.int16).reshape(-1, self.audio_channels)
        return Observation(
            tic=tic, time=tic / FPS, frame=state.screen_buffer, audio=audio, numbers=numbers, objects=objects,
            enemies=[o.name for o in objects if is_monster(o.name)], aimed=aimed, corpses=corpses,
            vanished=vanished, died=died, ended=ended, restarted=restarted, raw=state,
        )

    def act(self, action: list[float]) -> None:
        """One tic forward; `action` in the order of BUTTONS."""
        self._game.make_action(list(action), 1)

    def say(self, name: str) -> str:
        return display(name)

    def make_agent(self, seed: int):
        from ripple.games.agents import DoomAgent

        return DoomAgent(seed, self.size[0])

    def describe(self, obs: Observation) -> str:
        """'deadly corridor: a Zombieman close ahead, a Shotgun Guy on the left; the crosshair on the Zombieman'."""
        place = self.scenario.replace("_", " ")
        if not obs.objects:
            return f"{place}: no enemy in sight"
        parts = [o.words(display(o.name)) for o in obs.objects[:4]]
        aim = f"; the crosshair on the {display(obs.aimed)}" if obs.aimed else ""
        return f"{place}: " + ", ".join(parts) + aim

    def info(self) -> dict[str, Any]:
        import vizdoom

        return {"engine": "vizdoom", "version": vizdoom.__version__, "scenario": self.scenario,
                "episodes": self._episodes, "deaths": self.deaths,
                "config": str(scenario_config(self.scenario))}

    def close(self) -> None:
        try:
            self._game.close()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def about(scenario: str) -> tuple[str, str, list[str]]:
    """The game's name, what is played, and facts for colour, before any engine starts."""
    return GAME, f"Doom, scenario {scenario}", [*FACTS, f"the scenario: {SCENARIOS[scenario]}"]


def likely_events(moment: Moment) -> list[Event]:
    """Events that could come next, for the live commentator to write lines for ahead of
    time, likeliest first: the kill of the monster in view nearest the crosshair, then the
    episode's end (the level completed, the player's next death: the biggest moments, every
    15-30 s in these scenarios), then the kills of the other kinds of monster in view."""
    kills = likely_kills(moment, display, is_monster)
    return kills[:1] + likely_ends(moment) + kills[1:]


def check_scenario(scenario: str) -> None:
    scenario_config(scenario)


def open_source(scenario: str, seed: int) -> DoomSource:
    return DoomSource(scenario, seed)
