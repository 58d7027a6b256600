"""`ripple record` on the real engines: a few seconds of Doom (ViZDoom) and of Breakout (ALE)
recorded, their videos read back with PyAV, their timelines checked against the engine
replayed with the same seed, and every bad input refused whole. Events are checked on
observations made by hand; the recording goes through `ripple narrate --states`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ripple.games.source import Observation
from ripple.state import Event, Moment, SeenObject, load_moments
from tests.conftest import run_cli, run_here
from tests.media import streams

DOOM_SECONDS, DOOM_SEED = 4.0, 1  # deadly_corridor with seed 1: kills in the first two seconds
ATARI_SECONDS, ATARI_SEED = 8.0, 1  # breakout with seed 1: points, and a life lost near 6.8 s


@pytest.fixture(scope="module")
def doom_run(tmp_path_factory):
    from ripple.games.record import RecordConfig, record

    out = tmp_path_factory.mktemp("doom")
    rec = record(RecordConfig("doom", "deadly_corridor", seconds=DOOM_SECONDS, seed=DOOM_SEED, out_dir=out,
                              run_id="d"))
    return rec, load_moments(rec.folder / "timeline.jsonl")


@pytest.fixture(scope="module")
def atari_run(tmp_path_factory):
    from ripple.games.record import RecordConfig, record

    out = tmp_path_factory.mktemp("atari")
    rec = record(RecordConfig("atari", "breakout", seconds=ATARI_SECONDS, seed=ATARI_SEED, out_dir=out, run_id="a"))
    return rec, load_moments(rec.folder / "timeline.jsonl")


def replay_doom(frames: int, workdir: Path) -> list[dict[str, int]]:
    """The engine's own numbers at every tic, the game played again with the same seed and
    agent, read with get_game_variable rather than through Ripple's observations."""
    import vizdoom as vzd

    from ripple.games.agents import DoomAgent
    from ripple.games.doom import new_game

    game = new_game("deadly_corridor", DOOM_SEED, workdir)
    agent = DoomAgent(DOOM_SEED, game.get_screen_width())
    truth, restarted = [], False
    try:
        for tic in range(frames):
            if game.is_episode_finished():
                game.new_episode()
                restarted = True
            state = game.get_state()
            read = {name: int(game.get_game_variable(var)) for name, var in [
                ("health", vzd.GameVariable.HEALTH), ("armor", vzd.GameVariable.ARMOR),
                ("kills", vzd.GameVariable.KILLCOUNT)]}
            truth.append(read)
            obs = Observation(tic, tic / 35, state.screen_buffer, None, {"health": read["health"]}, raw=state,
                              restarted=restarted)
            restarted = False
            game.make_action(agent.act(obs), 1)
    finally:
        game.close()
    return truth


def test_doom_video_has_every_tic_at_the_engines_size(doom_run):
    rec, _ = doom_run
    info = streams(rec.folder / "gameplay.mp4")
    assert (info["video"], info["width"], info["height"], info["fps"]) == ("h264", 320, 240, 35.0)
    assert info["frames"] == rec.played.frames == round(DOOM_SECONDS * 35)
    summary = json.loads((rec.folder / "record.json").read_text())
    assert summary["video"]["frames"] == info["frames"] and summary["engine"]["scenario"] == "deadly_corridor"
    # The game's own sound, which OpenAL mixes (libopenal1, which make test installs): the
    # agent's first shots in the first second and a half, quiet stretches between them.
    assert info["audio"] == "aac" and summary["video"]["sound"].startswith("aac"), summary["video"]["sound"]
    assert info["audio_duration"] == pytest.approx(DOOM_SECONDS, abs=0.05)
    from ripple.speech.audio import load_audio
    from ripple.video.loudness import loudness_db

    levels = loudness_db(load_audio(rec.folder / "gameplay.mp4"))  # half-second windows
    assert levels[:3].max() > -30 and levels.min() < -50, levels
    assert sorted(p.name for p in rec.folder.iterdir()) == ["gameplay.mp4", "record.json", "timeline.jsonl"]


def test_doom_timeline_agrees_with_the_engine_replayed(doom_run, tmp_path):
    rec, moments = doom_run
    truth = replay_doom(rec.played.frames, tmp_path)
    assert len(moments) >= 4
    for m in moments:
        tic = round(m.time * 35)
        assert abs(m.time - tic / 35) <= 0.0005  # moments sit on tics (times kept to the millisecond)
        assert {k: m.numbers[k] for k in ("health", "armor", "kills")} == truth[tic], m.time
    first_kill = next(t for t in range(1, len(truth)) if truth[t]["kills"] > truth[t - 1]["kills"])
    kills = [e for m in moments for e in m.events if e.kind == "kill"]
    assert kills and kills[0].time == pytest.approx(first_kill / 35, abs=1e-3)
    assert kills[0].text.split()[-1] in ("Zombieman", "Guy")  # the victim is named: the engine renamed it
    assert len(kills) == truth[-1]["kills"]  # one event per kill, no more
    # Moments only when something happens or a heartbeat is due: far fewer than frames.
    assert len(moments) < rec.played.frames / 10
    assert all(b.time - a.time <= 2.5 + 1e-6 for a, b in zip(moments, moments[1:]))


def test_doom_moments_say_what_is_in_view(doom_run):
    _, moments = doom_run
    seen = [m for m in moments if m.objects]
    assert seen, "deadly_corridor starts with two enemies in view"
    for m in seen:
        assert all(0 <= o.x <= 1 and 0 <= o.y <= 1 for o in m.objects)
        first = m.objects[0]
        assert first.where() in m.scene  # the objects in words, in the scene as well
    names = {o.name for m in moments for o in m.objects}
    assert names & {"Zombieman", "ShotgunGuy", "ChaingunGuy"}
    assert "DoomPlayer" not in names and not any(n.startswith("Dead") for n in names)


def test_atari_video_and_timeline_agree_with_the_engine(atari_run):
    import ale_py
    from ale_py import ALEInterface, roms

    from ripple.games.agents import AtariAgent

    rec, moments = atari_run
    info = streams(rec.folder / "gameplay.mp4")
    frames = round(ATARI_SECONDS * 60)
    assert (info["video"], info["width"], info["height"], info["frames"]) == ("h264", 320, 420, frames)
    assert info["audio"] == "aac"  # the TIA's sound, through ALE's sound observation

    ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    ale = ALEInterface()
    ale.setInt("random_seed", ATARI_SEED)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setBool("sound_obs", True)
    ale.loadROM(roms.get_rom_path("breakout"))
    agent = AtariAgent("breakout", ale.getMinimalActionSet(), ATARI_SEED, 60)
    truth, score = [], 0
    for tic in range(frames):
        truth.append({"score": score, "lives": ale.lives()})
        score += max(0, ale.act(agent.act(Observation(tic, tic / 60, None, None, {}, raw=ale.getRAM()))))
    for m in moments:
        assert m.numbers == truth[round(m.time * 60)], m.time
    lost = next(t for t in range(1, frames) if truth[t]["lives"] < truth[t - 1]["lives"])
    events = [e for m in moments for e in m.events]
    assert [e.time for e in events if e.kind == "life_lost"] == [pytest.approx(lost / 60, abs=1e-3)]
    first_point = next(t for t in range(1, frames) if truth[t]["score"] > truth[t - 1]["score"])
    assert next(e for e in events if e.kind == "score").time == pytest.approx(first_point / 60, abs=1e-3)


def test_recording_goes_through_narrate_with_its_events(doom_run, tiny_lm, tmp_path):
    """`ripple narrate gameplay.mp4 --states timeline.jsonl`, in-process on a loaded model."""
    from ripple.config import GenerateConfig, RankConfig, SamplingConfig
    from ripple.narrate import NarrateConfig, narrate
    from ripple.video.frames import FramesConfig
    from ripple.voice import VoiceConfig

    rec, moments = doom_run
    video = rec.folder / "gameplay.mp4"
    cfg = NarrateConfig(
        video=video, states=rec.folder / "timeline.jsonl", ocr="off",
        generate=GenerateConfig(state_file=video, model=tiny_lm.spec.name,
                                sampling=SamplingConfig(candidates=2, max_new_tokens=6),
                                rank=RankConfig(weights={"coherence": 1.0, "loops": 1.0, "length": 0.5,
                                                         "relevance": 0.0}), out_dir=tmp_path, run_id="n"),
        frames=FramesConfig(sample_every_s=2.0), voice=VoiceConfig(backend="espeak-ng"),
    )
    result = narrate(cfg, lm=tiny_lm)
    data = json.loads((tmp_path / "n" / "commentary.json").read_text())
    narrated = [e for m in data["moments"] for e in m["moment"]["events"]]
    recorded = [e for m in moments for e in m.events]
    for event in recorded:  # every event of the recording reaches the narration, at its own time
        assert any(n["text"] == event.text and n["time"] == pytest.approx(event.time) and n["kind"] == event.kind
                   for n in narrated), event
    assert data["moments"][0]["moment"]["game"] == "Doom"
    assert streams(result.folder / "narrated.mp4")["frames"] == rec.played.frames


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path):
    (tmp_path / "taken").mkdir()
    cases = [
        (["record", "doom", "--scenario", "e1m1"], "--scenario: unknown Doom scenario 'e1m1'"),
        (["record", "atari", "--game", "brekout"], "--game: unknown Atari game 'brekout'; did you mean breakout?"),
        (["record", "doom", "--seconds", "0"], "--seconds: must be above 0 seconds"),
        (["record", "atari", "--game", "pong", "--seconds", "-2"], "--seconds: must be above 0 seconds"),
        (["record", "doom", "--run-id", "taken"], "a run with this id exists already"),
        (["record", "doom", "--heartbeat", "0"], "--heartbeat: must be above 0 seconds"),
        (["record", "doom", "--seed", "-1"], "--seed: must be 0 to 4294967295"),
        (["record", "atari", "--game", "pong", "--seed", "99999999999"], "--seed: must be 0 to 4294967295"),
        (["live", "doom", "--seconds", "0"], "--seconds: must be above 0 seconds"),
        (["live", "doom", "--candidates", "0"], "--candidates: must be at least 1"),
        (["live", "doom", "--stale-after", "0"], "--stale-after: must be above 0 seconds"),
    ]
    for args, message in cases:
        result = run_here(*args, "--out", str(tmp_path))
        err = result.stderr
        assert result.returncode == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("ripple: error: ") and message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"] and not any((tmp_path / "taken").iterdir())


def test_the_record_command_runs(tmp_path):
    """One real `ripple record` process (the refusals are checked in-process above)."""
    result = run_cli("record", "atari", "--game", "Space Invaders", "--seconds", "1", "--out", str(tmp_path),
                     "--run-id", "s")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())  # rich wraps at 80 columns, where depends on the path's length
    assert "(60 frames, 320x420 at 60 fps" in said and "Powered by Stella" not in said
    assert streams(tmp_path / "s" / "gameplay.mp4")["frames"] == 60
    assert json.loads((tmp_path / "s" / "record.json").read_text())["engine"]["rom"] == "space_invaders"


def test_a_missing_engine_names_its_install(monkeypatch):
    from ripple import games

    monkeypatch.setitem(games.RECORDERS, "doom", games.Recorder("ripple.games.doom", "vizdoom_is_not_here",
                                                                "pip install vizdoom"))
    with pytest.raises(games.EngineMissing, match="pip install vizdoom"):
        games.recorder("doom")
    with pytest.raises(Exception, match="unknown game"):
        games.recorder("quake")


# ---- events, from observations made by hand ---------------------------------------------

def obs(tic: int, fps: int = 10, **fields) -> Observation:
    fields.setdefault("numbers", {})
    return Observation(tic=tic, time=tic / fps, frame=np.zeros((2, 2, 3), np.uint8), audio=None, **fields)


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_damage_is_one_event_per_burst_and_low_health_is_said_once():
    from ripple.games.events import EventDetector

    d = EventDetector()
    health = [100, 95, 90, 84, 84, 70, 60, 40, 25, 25, 20, 60, 20]  # a frame each 0.1 s
    said = [d.update(obs(t, numbers={"health": h})) for t, h in enumerate(health)]
    flat = [(round(e.time, 1), e.kind, e.text) for events in said for e in events]
    assert flat == [
        (0.5, "damage", "the player takes 30 damage, health down to 70"),  # 16 in 0.3 s is not heavy; 30 is
        # 0.6-0.8: 45 more within the gap after a damage event: the same fight, not another event
        (0.8, "low_health", "health is down to 25"),
        (1.1, "pickup", "health up from 20 to 60"),  # nothing seen vanishing: said from the numbers
        (1.2, "low_health", "health is down to 20"),  # said again only after climbing back over 50
    ]


def test_kills_name_their_victims_and_pickups_their_items():
    from ripple.games.doom import display
    from ripple.games.events import EventDetector

    d = EventDetector(display)
    d.update(obs(0, numbers={"kills": 0, "health": 50}))
    events = d.update(obs(1, numbers={"kills": 2, "health": 50}, corpses=["DoomImp"]))
    assert [e.text for e in events] == ["the player kills an Imp", "the player kills an enemy"]
    events = d.update(obs(2, numbers={"kills": 2, "health": 75}, vanished=["Medikit"]))
    assert [e.text for e in events] == ["the player picks up a Medikit"]
    events = d.update(obs(3, numbers={"kills": 0, "health": 100}, died=True, restarted=True))
    assert kinds(events) == ["life_lost"]  # a new episode's full health is no pickup


def test_score_events_add_up_and_a_jump_stands_out():
    from ripple.games.events import EventDetector

    d = EventDetector()
    scores = [0, 1, 2, 3, 4, 5, 25]  # one point a frame, then 20 at once
    said = [d.update(obs(t, fps=2, numbers={"score": s})) for t, s in enumerate(scores)]
    flat = [(e.time, e.kind, e.text) for events in said for e in events]
    assert flat[0] == (0.5, "score", "a point scored, score 1")
    assert (2.5, "score", "4 points scored, score 5") in flat  # 2 s later, what came in between
    assert flat[-1][1] == "score_jump" and "20 points at once" in flat[-1][2]


def test_an_enemy_coming_into_view_is_news_once():
    from ripple.games.events import EventDetector

    d = EventDetector()
    imp = SeenObject(name="Imp", x=0.1, y=0.5, size=0.2)
    got = [d.update(obs(t, objects=[imp], enemies=["Imp"] if t not in (5, 6) else [])) for t in range(8)]
    assert [e.text for e in got[0]] == ["an Imp appears on the left"]
    assert not any(got[1:])  # still in view, or back after 0.3 s: no news


# ---- the objects field of a moment --------------------------------------------------------

def test_moments_carry_objects_and_say_them_in_words(tmp_path):
    from ripple.lm.prompting import find_template, render

    line = json.dumps({"game": "Doom", "time": 1.5, "events": [{"text": "an Imp appears", "kind": "spotted"}],
                       "objects": [{"name": "DoomImp", "x": 0.2, "y": 0.5, "size": 0.4},
                                   {"name": "Medikit", "x": 0.9, "y": 0.8}]})
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n")
    (moment,) = load_moments(path)
    assert moment.seen() == "a Doom Imp close on the left, a Medikit on the right"
    assert "In view: a Doom Imp close on the left, a Medikit on the right." in moment.describe()
    assert "In view: a Doom Imp close on the left" in render(find_template("auto", moment), moment, [])[-1]["content"]
    with_scene = moment.model_copy(update={"scene": "the courtyard"})
    assert "In view" not in with_scene.describe()  # the scene already says it
    path.write_text(line.replace('"x": 0.9', '"x": 1.5') + "\n")
    with pytest.raises(Exception, match=r"t.jsonl:1.*objects\[1\]\.x"):
        load_moments(path)
    path.write_text(line.replace('"size": 0.4', '"size": 0.4, "hp": 3') + "\n")
    with pytest.raises(Exception, match="unknown field"):
        load_moments(path)
    assert Moment(game="Doom").objects == []


# ---- what narration says, with and without the game's state (the real embedded model) ----

TIMELINE_WORDS = ("zombie", "shotgun", "chaingun", "imp", "demon", "enemy", "enemies", "health", "kill", "armor",
                  "armour", "damage", "ammo", "corridor")


@pytest.mark.real_model
@pytest.mark.slow
def test_narration_from_a_doom_timeline_mentions_what_happened(doom_run, smol_folder):
    """Lines written from the recording's moments name its enemies, health and kills more
    often than lines written for the same times with nothing known about them."""
    from ripple.lm import models
    from ripple.generate import generate_commentary
    from ripple.config import GenerateConfig, SamplingConfig

    rec, moments = doom_run
    eventful = [m for m in moments if m.events][:6]
    assert len(eventful) >= 4
    lm = models.load(str(smol_folder))
    cfg = GenerateConfig(state_file=rec.folder / "timeline.jsonl", model=str(smol_folder),
                         sampling=SamplingConfig(candidates=4, max_new_tokens=24, seed=3), out_dir=rec.folder)
    informed = generate_commentary(cfg, lm=lm, moments=eventful)
    blank = generate_commentary(cfg, lm=lm, moments=[Moment(game="Doom", time=m.time) for m in eventful])

    def mentions(run) -> int:
        return sum(any(w in r.line.lower() for w in TIMELINE_WORDS) for r in run.results)

    lines = [r.line for r in informed.results], [r.line for r in blank.results]
    assert mentions(informed) > mentions(blank), lines
    assert mentions(informed) >= len(eventful) // 2, lines
