"""`ripple live`: Doom at its real speed with a commentator thread on a tiny model and
espeak-ng. The game must keep its pace while lines are made, latencies must be reported,
and the session's run folder must hold the video, timeline and narration. The worker's
choice of moment (fresh over stale, events over quiet) is checked on its own."""

from __future__ import annotations

import json
import time
import wave
from dataclasses import replace
from pathlib import Path

import pytest

from ripple.games.ahead import Ahead
from ripple.games.commentator import Commentator, CommentatorConfig
from ripple.games.policy import Offer
from ripple.state import Moment
from ripple.voice import VoiceConfig
from tests.media import streams

LIVE_SECONDS = 3.0


@pytest.fixture(scope="module")
def session(tiny_lm, tmp_path_factory):
    from ripple.config import SamplingConfig
    from ripple.games.live import LiveConfig, live
    from ripple.games.record import RecordConfig

    out = tmp_path_factory.mktemp("live")
    cfg = LiveConfig(
        record=RecordConfig("doom", "deadly_corridor", seconds=LIVE_SECONDS, seed=1, out_dir=out, run_id="l"),
        # far more work per line than the live default, each line waited for whole: a line
        # takes long enough to make that a game loop waiting for it would show a gap well
        # beyond this machine's jitter (streaming is checked on its own below)
        commentator=CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=16, max_new_tokens=96),
                                      voice=VoiceConfig(backend="espeak-ng"), stream=False, ahead=False),
        threads=1,  # the live default (live() puts torch's own count back afterwards)
    )
    return live(cfg, lm=tiny_lm)


def test_the_game_keeps_its_pace_while_lines_are_made(session):
    played, pace = session.played, session.played.pace
    assert played.frames == round(LIVE_SECONDS * 35)
    assert played.wall_s >= LIVE_SECONDS - 0.05 and pace.frames_per_s <= 35 * 1.02  # held to real time ...
    # ... and near it: alone on a busy shared machine the game itself fell to 25 frames/s here
    assert pace.frames_per_s >= 35 * 0.3
    over = played.started + played.wall_s
    overlaps = [min(s.ready, over) - s.picked for s in session.spoken if s.picked < over]
    assert overlaps, "lines were made while the game ran"
    longest = max(overlaps)
    assert longest > 0.5, longest  # long enough that a loop waiting for it would show (1.3 s here, 2026-11)
    # Had the loop waited for the commentator, two frames would lie a line's making time apart.
    assert pace.max_gap_s < 0.75 * longest, (pace, longest)


def test_latency_is_measured_from_the_event_to_the_first_audio(session):
    folder = session.folder
    latency = json.loads((folder / "latency.json").read_text())
    eventful = [s for s in session.spoken if s.moment.events]
    assert latency["events"] == len(eventful) >= 1
    assert 0 < latency["p50_s"] <= latency["p95_s"] <= latency["max_s"]
    for s in session.spoken:
        assert s.shown <= s.picked <= s.written <= s.ready <= s.start < s.end
    starts = sorted(s.start for s in session.spoken)
    ends = sorted(s.end for s in session.spoken)
    assert all(b >= a - 1e-6 for a, b in zip(ends, starts[1:]))  # one line at a time
    drops = latency["drops"]
    assert set(drops) == {"stale", "superseded", "overflow", "unused", "no_line"}
    assert latency["offered"] == latency["spoken"] + sum(drops.values())  # every moment accounted for
    # the silence between lines, measured on the same spans the narration was mixed from
    silence, origin = latency["silence"], session.played.started
    length = session.played.frames / 35
    within = [s for s in session.spoken if s.start - origin < length]  # a line heard after the game is not counted
    gaps = [b.start - a.end for a, b in zip(within, within[1:]) if b.start > a.end + 1e-6]
    assert silence["gaps"] == len(gaps) and (not gaps or silence["max_s"] == pytest.approx(max(gaps), abs=1e-3))
    heard = sum(max(0.0, min(s.end - origin, length) - max(s.start - origin, 0.0)) for s in session.spoken)
    assert 0 < silence["spoken_share"] <= 1 and silence["spoken_share"] == pytest.approx(heard / length, abs=2e-3)


def test_silence_between_lines_counts_gaps_and_overlaps_once():
    from ripple.games.live import silence_of

    s = silence_of([(1.0, 3.0), (3.5, 5.0), (5.0, 6.0), (10.0, 12.0)], 20.0)
    assert (s.gaps, s.mean_s, s.max_s, s.spoken_share) == (2, 2.25, 4.0, 0.325)
    assert silence_of([(0.0, 5.0), (4.0, 8.0)], 10.0).spoken_share == 0.8  # overlap heard once
    assert silence_of([(18.0, 25.0)], 20.0).spoken_share == 0.1  # past the session's end: not counted
    assert silence_of([(1.0, 2.0), (22.0, 25.0)], 20.0).gaps == 0  # nor a line begun after it
    quiet = silence_of([], 10.0)
    assert quiet.gaps == 0 and quiet.mean_s is None and quiet.spoken_share == 0.0


def test_the_session_folder_holds_video_timeline_and_narration(session):
    folder = session.folder
    assert {"gameplay.mp4", "timeline.jsonl", "record.json", "narration.wav", "narration.json", "latency.json",
            "latency.png", "narrated.mp4", "narrated.srt", "voice"} <= {p.name for p in folder.iterdir()}
    from PIL import Image

    with Image.open(folder / "latency.png") as picture:
        assert picture.format == "PNG" and picture.size == (1200, 420)
    assert streams(folder / "gameplay.mp4")["frames"] == session.played.frames
    narrated = streams(folder / "narrated.mp4")
    assert narrated["frames"] == session.played.frames and narrated["audio"] == "aac"
    with wave.open(str(folder / "narration.wav")) as track:
        assert track.getnframes() / track.getframerate() >= LIVE_SECONDS - 0.01
    lines = json.loads((folder / "narration.json").read_text())["lines"]
    assert [l["text"] for l in lines] == [s.text for s in session.spoken]
    assert all((folder / l["audio"]).is_file() for l in lines)
    timeline = [json.loads(x) for x in (folder / "timeline.jsonl").read_text().splitlines()]
    assert len(timeline) == session.offered  # every moment went to the commentator


def moment(t: float, events: bool = False, intensity: float = 0.1) -> Moment:
    return Moment(game="Doom", time=t, events=[{"text": "the player kills an Imp", "kind": "kill"}] if events else [],
                  intensity=intensity)


def test_the_worker_takes_the_freshest_biggest_moment_and_drops_stale_ones():
    c = Commentator(None, CommentatorConfig(weights={"loops": 1.0, "length": 1.0}, stale_after_s=1.0, queue_size=3))
    now = time.perf_counter()
    c.offer(moment(1.0, events=True, intensity=1.0), now - 5.0)  # the biggest, but five seconds old
    c.offer(moment(5.0, events=True, intensity=0.8), now - 0.2)
    c.offer(moment(5.5, events=True, intensity=0.4), now - 0.1)
    c.offer(moment(5.8), now)  # a heartbeat: pushes the oldest out of the full queue
    chosen = c._take()
    assert chosen.moment.time == 5.0  # the biggest fresh event beats a fresher small one and a heartbeat
    assert (c.drops.overflow, c.drops.stale, c.drops.superseded) == (1, 0, 2)
    c.offer(moment(6.0, events=True, intensity=0.9), time.perf_counter() - 2.0)
    c.offer(moment(8.0), time.perf_counter())
    assert c._take().moment.time == 8.0 and c.drops.stale == 1  # a stale event loses to a fresh heartbeat


def test_an_event_cuts_a_quiet_line_short_and_a_quiet_moment_waits(tiny_lm, tmp_path):
    from ripple.config import SamplingConfig
    from ripple.schedule import Line
    from ripple.speech.audio import load_audio
    from ripple.video.render import MIX_RATE, narration_track

    c = Commentator(tiny_lm, CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=2, max_new_tokens=12),
                                               weights={"loops": 1.0, "length": 1.0}, voice=VoiceConfig(backend="espeak-ng")))
    c._comment(Offer(moment(1.0), time.monotonic()))  # a quiet line...
    quiet = c.spoken[0]
    quiet.end = c.timeline.busy_until = time.monotonic() + 30.0  # ...that goes on for half a minute
    assert not c._cuts_in(Offer(moment(2.0), time.monotonic()))  # another quiet moment waits its turn

    c.offer(moment(3.0, events=True, intensity=0.2), time.monotonic())
    asked = time.monotonic()
    event = c._take()
    assert event.moment.time == 3.0 and time.monotonic() - asked < 5.0  # taken at once, not in 30 s
    c._comment(event)
    line = c.spoken[1]
    assert line.start == line.ready < asked + 30.0  # spoken as soon as it was ready...
    assert quiet.cut and quiet.end == line.start  # ...breaking the quiet line off there
    c.timeline.speaking = 0.8  # a line about an event (a kill) is being spoken
    cut = {level: c.timeline.cut_by(moment(4.0, events=True, intensity=level))
           for level in (0.35, 0.5, 0.6, 0.8, 0.9)}
    # smaller events wait (a monster spotted); one as big or a little smaller (damage taken)
    # breaks the line off at a pause; a bigger one cuts in at once
    assert cut == {0.35: "", 0.5: "", 0.6: "pause", 0.8: "pause", 0.9: "now"}
    waits = Commentator(tiny_lm, replace(c.cfg, break_off=False))
    waits.timeline.speaking = 0.8
    assert waits.timeline.cut_by(moment(4.0, events=True, intensity=0.8)) == ""

    # The narration holds the cut line only up to where it was cut.
    full = len(load_audio(quiet.clip, rate=MIX_RATE)) / MIX_RATE
    stop = min(0.4, full / 2)
    track = narration_track([Line(0, quiet.text, 0.0, stop, 1, 0.0)], {0: quiet.clip}, full + 0.5,
                            tmp_path / "narration.wav")
    samples = load_audio(track, rate=MIX_RATE)
    assert abs(samples[: int(stop * MIX_RATE)]).max() > 0.01  # the line is heard up to the cut
    assert abs(samples[int(stop * MIX_RATE) + 1 :]).max() == 0.0  # and not after it


def test_an_event_as_big_as_the_line_breaks_it_off_at_its_next_pause(tiny_lm):
    """A kill during a kill's line does not wait for that line to end: its line starts at a
    pause between words of the one being spoken within BREAK_WITHIN_S of being ready, or
    right then (after MIN_HEARD_S of the old line)."""
    from ripple.config import SamplingConfig
    from ripple.games.timeline import BREAK_WITHIN_S, MIN_HEARD_S
    from ripple.voice import clip_seconds
    from ripple.lm.models import cache_root
    from ripple.voice import pauses, synthesise

    voice = VoiceConfig(backend="espeak-ng")
    c = Commentator(tiny_lm, CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=2, max_new_tokens=8),
                                               weights={"loops": 1.0, "length": 1.0}, voice=voice, stale_after_s=60.0))
    words = ("Down goes the Zombieman, what a shot, and there is another one, and another, he keeps on going, "
             "straight down the corridor, past the armour, and on towards the end of the level")
    long = synthesise(words, voice, cache_root())  # about ten seconds of speech with many pauses
    now = time.monotonic()
    c._place(Offer(moment(1.0, events=True, intensity=0.8), now), words, "hype", [], now, now, now, long)
    first = c.spoken[0]
    breaks = [first.start + p for p in pauses(long) if p >= MIN_HEARD_S]
    assert len(breaks) >= 4 and first.start + MIN_HEARD_S <= breaks[0] and breaks[-1] < first.end

    c.offer(moment(2.0, events=True, intensity=0.8), time.monotonic())  # another kill
    offer = c._take()
    assert offer.moment.time == 2.0 and time.monotonic() < first.end  # taken while the first line is heard
    c._comment(offer)
    line = c.spoken[1]
    assert line.ready < first.start + clip_seconds(long) - 1.0, "the line took too long to make for this check"
    earliest = max(line.ready, first.start + MIN_HEARD_S)
    near = [b for b in breaks if earliest <= b <= earliest + BREAK_WITHIN_S]
    assert line.start == (near[0] if near else earliest)  # at a pause soon after it was ready, else then
    assert first.cut and first.end == line.start < first.start + clip_seconds(long)
    # where the pauses lie, on a line that started just now: the ready line waits for the one
    # after MIN_HEARD_S, and not for one further than BREAK_WITHIN_S
    c.timeline.pauses, c.timeline.heard_from, c.timeline.busy_until, c.timeline.cutting = [now + 0.6, now + 1.0, now + 2.0], now + 0.5, now + 5, "pause"
    assert c.timeline.start(now + 0.1) == now + 0.6  # the first pause after MIN_HEARD_S
    assert c.timeline.start(now + 0.65) == now + 0.65  # the next pause is more than BREAK_WITHIN_S away
    assert c.timeline.start(now + 0.8) == now + 1.0  # a pause within BREAK_WITHIN_S
    assert c.timeline.start(now + 1.2) == now + 1.2  # none near: right away
    assert c.timeline.start(now + 6.0) == now + 6.0  # the old line is over by then

    waits = Commentator(tiny_lm, replace(c.cfg, break_off=False))  # --no-break-off: it waits for the end
    waits._place(Offer(moment(1.0, events=True, intensity=0.8), now), words, "hype", [], now, now, now, long)
    assert waits.timeline.pauses == [] and not waits._cuts_in(Offer(moment(2.0, events=True, intensity=0.8), now))
    waits.timeline.cutting = waits.timeline.cutting_for(moment(2.0, events=True, intensity=0.8), now)
    assert waits.timeline.start(now + 1.0) == waits.spoken[0].end


def test_the_first_clause_is_voiced_while_the_rest_is_written(tiny_lm, tmp_path):
    """Fed one token at a time, FirstWords voices the first clause a candidate finishes,
    passing over one that echoes a line already said."""
    from ripple.games.streaming import FirstWords
    from ripple.lm.models import cache_root
    from ripple.rank import RankContext
    from ripple.speech.audio import load_audio

    tok = tiny_lm.tokenizer
    said = "What a shot, he did it again"
    context = RankContext(moment=moment(1.0), prompt='The commentator says: "', previous=[said])
    first = FirstWords(tok, True, context, VoiceConfig(backend="espeak-ng"), cache_root())
    echo, fresh = (tok(text)["input_ids"] for text in ("What a shot, he scores", "Into the corridor, guns blazing"))
    for k in range(1, max(len(echo), len(fresh)) + 1):  # the two written side by side, as a batch is
        first(0, echo[:k], k == len(echo))
        first(1, fresh[:k], k == len(fresh))
        if first.clip is not None:
            break
    assert first.refused == {0}  # "What a shot," echoes the line already said
    assert (first.index, first.text) == (1, "Into the corridor,")
    assert k == len(tok("Into the corridor, guns")["input_ids"])  # voiced as soon as "guns" began
    assert first.written <= first.ready
    assert abs(load_audio(first.clip)).max() > 0.01  # real speech


def test_a_streamed_line_is_its_first_words_then_the_rest(tiny_lm):
    """Through the worker on a tiny model: the line heard is the first words voiced early
    followed by the rest of that candidate, in one clip that begins with the early one."""
    from ripple.config import SamplingConfig
    from ripple.voice import clip_seconds
    from ripple.lm.models import cache_root
    from ripple.voice import synthesise

    voice = VoiceConfig(backend="espeak-ng")
    c = Commentator(tiny_lm, CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=2, max_new_tokens=16),
                                               weights={"loops": 1.0, "length": 1.0}, voice=voice))
    c._comment(Offer(moment(1.0, events=True, intensity=0.5), time.monotonic()))
    line = c.spoken[0]
    assert line.first and line.text.startswith(line.first)  # random words: the first six go early
    assert line.text in [t for t, _ in line.candidates] or line.text == line.first
    early = synthesise(line.first, replace(voice, excitement=0.5), cache_root())
    with wave.open(str(early), "rb") as a, wave.open(str(line.clip), "rb") as whole:
        head = whole.readframes(a.getnframes())
        assert head == a.readframes(a.getnframes())  # the clip opens with what was voiced first
    rest = line.text[len(line.first):].strip()
    if rest:  # then, after any wait for it, the rest
        later = synthesise(rest, replace(voice, excitement=0.5), cache_root())
        assert clip_seconds(line.clip) >= clip_seconds(early) + clip_seconds(later) - 1e-3
    assert line.start == line.ready and line.end == pytest.approx(line.start + clip_seconds(line.clip))


def test_a_bigger_line_takes_the_place_of_one_still_waiting_for_the_voice(tiny_lm, tmp_path):
    """A line placed to start when the one being spoken ends, cut in on before it begins, is
    never heard: the bigger line starts where it would have, and the narration stays whole."""
    from ripple.voice import clip_seconds
    from ripple.lm.models import cache_root
    from ripple.schedule import Line
    from ripple.video.render import narration_track
    from ripple.voice import synthesise

    voice = VoiceConfig(backend="espeak-ng")
    c = Commentator(None, CommentatorConfig(weights={"loops": 1.0}, voice=voice))
    clip = synthesise("Down the corridor he goes, and on he runs", voice, cache_root())
    now = time.monotonic()
    c._place(Offer(moment(1.0, events=True, intensity=0.4), now), "first", "hype", [], now, now, now, clip)
    c._place(Offer(moment(1.1, events=True, intensity=0.4), now), "second", "hype", [], now, now, now, clip)
    first, second = c.spoken
    assert second.start == first.end > now + 1.0  # waits for the voice
    c.timeline.cutting = "now"  # a bigger event, whose line is ready before the second has begun
    third = Offer(moment(1.2, events=True, intensity=0.9), now)
    c._place(third, "third", "hype", [], now, now, now + 0.5, clip)
    assert [s.text for s in c.spoken] == ["first", "third"] and c.timeline.said == ["first", "third"]
    assert c.drops.superseded == 1  # the second line is never heard...
    assert c.spoken[1].start == now + 0.5 and first.cut and first.end == now + 0.5  # ...the third cuts the first
    assert all(s.start < s.end for s in c.spoken) and c.timeline.busy_until == c.spoken[1].end

    c.timeline.cutting = ""  # a smaller event: waits for the third line
    c._place(Offer(moment(1.3, events=True, intensity=0.4), now), "fourth", "hype", [], now, now, now, clip)
    c.timeline.cutting = "now"  # bigger than the fourth, waiting, but not than the third being spoken: it waits for that
    c._place(Offer(moment(1.4, events=True, intensity=0.6), now), "fifth", "hype", [], now, now, now + 1.0, clip)
    assert [s.text for s in c.spoken] == ["first", "third", "fifth"] and c.drops.superseded == 2
    assert c.spoken[2].start == c.spoken[1].end == pytest.approx(now + 0.5 + clip_seconds(clip))
    assert not c.spoken[1].cut
    lines = [Line(i, s.text, s.start - now, s.end - now, 1, 0.5) for i, s in enumerate(c.spoken)]
    narration_track(lines, {i: s.clip for i, s in enumerate(c.spoken)}, 10.0, tmp_path / "n.wav")  # raised before


def test_a_streamed_line_stops_at_its_first_words_when_an_event_will_break_it_off(tiny_lm):
    """Once a line's first words are heard, an event that will cut it short stops its writing:
    the rest would never be heard, and the event's own line is written sooner. A bigger event
    that comes before any word is voiced stops it at once: that line is never heard."""
    from ripple.config import SamplingConfig

    cfg = CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=2, max_new_tokens=16),
                            weights={"loops": 1.0, "length": 1.0}, voice=VoiceConfig(backend="espeak-ng"),
                            stale_after_s=60.0)
    alone = Commentator(tiny_lm, cfg)  # the same line with nothing coming after it
    alone._comment(Offer(moment(1.0, events=True, intensity=0.8), time.monotonic()))
    whole = alone.spoken[0]
    assert whole.first and len(whole.text) > len(whole.first)  # first words, then the rest

    c = Commentator(tiny_lm, cfg)
    c.offer(moment(2.0, events=True, intensity=0.8), time.monotonic())  # as big: will break the line off
    c._comment(Offer(moment(1.0, events=True, intensity=0.8), time.monotonic()))
    line = c.spoken[0]
    assert line.first == whole.first and line.text == line.first  # the same first words, and no more
    assert sum(len(t) for t, _ in line.candidates) < sum(len(t) for t, _ in whole.candidates)  # written shorter
    assert [o.moment.time for o in c._queue] == [2.0]  # the event is next

    quiet = Commentator(tiny_lm, cfg)
    quiet.offer(moment(2.0), time.monotonic())  # a quiet moment never cuts in: the line is written whole
    quiet._comment(Offer(moment(1.0, events=True, intensity=0.8), time.monotonic()))
    assert quiet.spoken[0].text == whole.text

    small = Commentator(tiny_lm, cfg)  # a bigger event before any word is voiced: the line is given up
    small.offer(moment(2.0, events=True, intensity=0.8), time.monotonic())
    small._comment(Offer(moment(1.0, events=True, intensity=0.35), time.monotonic()))
    assert small.spoken == [] and small.drops.superseded == 1 and small.timeline.said == []
    assert [o.moment.time for o in small._queue] == [2.0]  # the kill is next


def in_view(t: float, *names: str, events: list[str] = (), numbers: dict | None = None) -> Moment:
    """A Doom moment with monsters in view, left to right across the screen."""
    objects = [{"name": n, "x": round((i + 1) / (len(names) + 1), 3), "y": 0.5, "size": 0.3} for i, n in enumerate(names)]
    return Moment(game="Doom", time=t, scene="deadly corridor", objects=objects,
                  events=[{"text": e, "kind": "kill"} for e in events], numbers=numbers or {"health": 64, "kills": 2},
                  intensity=0.8 if events else 0.3)


def test_likely_events_are_the_nearest_kill_the_episodes_end_then_other_kills():
    from ripple.games import doom

    likely = doom.likely_events(in_view(1.0, "ShotgunGuy", "Zombieman", "Medikit", "ShotgunGuy", "DoomImp"))
    # x: ShotgunGuy 0.167, Zombieman 0.333, Medikit 0.5 (no monster), ShotgunGuy 0.667, Imp 0.833
    assert [(e.text, e.kind) for e in likely] == [
        ("the player kills a Zombieman", "kill"), ("level complete", "level_end"), ("the player dies", "life_lost"),
        ("the player kills a Shotgun Guy", "kill"), ("the player kills an Imp", "kill")]
    # no monster in view: only the episode's end; the next death is numbered as the detector numbers it
    after = doom.likely_events(in_view(1.0, "Medikit", numbers={"health": 100, "deaths": 2}))
    assert [e.text for e in after] == ["level complete", "the player dies (death number 3)"]


def test_a_likely_episode_end_is_worded_as_the_detector_reports_it():
    """A line written ahead is found by its event's exact words: the detector's death and level
    end must read as likely_ends said they would, the deaths numbered alike."""
    import numpy as np

    from ripple.games.events import EventDetector, likely_ends
    from ripple.games.source import Observation

    detector, tic = EventDetector(), 0

    def step(deaths: int, **happened) -> tuple[Moment, list]:
        nonlocal tic
        tic += 1
        numbers = {"health": 50, "kills": 0, "deaths": deaths}
        events = detector.update(Observation(tic=tic, time=tic / 35, frame=np.zeros((2, 2, 3), np.uint8), audio=None,
                                             numbers=numbers, **happened))
        return Moment(game="Doom", time=tic / 35, numbers=numbers), [e for e in events if e.kind != "spotted"]

    before, _ = step(0)
    for deaths, happened in [(1, {"died": True}), (1, {"ended": "level end"}), (2, {"died": True}),
                             (3, {"died": True})]:
        likely = {e.text: e.kind for e in likely_ends(before)}
        before, events = step(deaths, restarted=True, **happened)
        assert len(events) == 1 and likely.get(events[0].text) == events[0].kind, (likely, events)


def test_numbers_in_a_line_written_ahead_must_hold_for_the_real_moment():
    from ripple.games.ahead import numbers_agree

    real = in_view(2.0, events=["the player kills a Zombieman"], numbers={"health": 64, "kills": 3})
    assert numbers_agree("Down he goes, and that is kill 3!", real)
    assert numbers_agree("Down he goes!", real)
    assert not numbers_agree("Health at 80 and climbing", real)  # true when it was written, not now


def ahead_commentator(tiny_lm):
    from ripple.config import SamplingConfig
    from ripple.games import doom
    from ripple.games.policy import QUIET

    c = Commentator(tiny_lm, CommentatorConfig(model=tiny_lm.spec.name, sampling=SamplingConfig(candidates=2, max_new_tokens=8),
                                               weights={"loops": 1.0, "length": 1.0}, voice=VoiceConfig(backend="espeak-ng"),
                                               stale_after_s=60.0),  # a stalled machine must not make events stale here
                    likely=doom.likely_events)
    c.timeline.busy_until, c.timeline.speaking = time.monotonic() + 30.0, QUIET  # a quiet line is being spoken
    return c


def test_a_line_written_ahead_is_spoken_the_moment_its_event_comes(tiny_lm):
    from ripple.games.policy import QUIET
    from ripple.speech.audio import load_audio

    c = ahead_commentator(tiny_lm)
    c.offer(in_view(1.0, "Zombieman", "ShotgunGuy"), time.monotonic())  # quiet: waits for the voice
    task = c._take()
    assert not isinstance(task, Offer)  # nothing can be taken yet, so a line is written ahead...
    base, event = task
    assert (base.time, event.text) == (1.0, "the player kills a Zombieman")  # ...for the likeliest event
    c._write_ahead(base, event)
    kept = c.ahead["the player kills a Zombieman"]
    assert kept.text and abs(load_audio(kept.clip)).max() > 0.01 and c.ahead.counts.written == 1
    base, event = c._take()  # the next likeliest, while the voice is still busy
    assert event.text == "level complete"

    shown = time.monotonic()
    c.offer(in_view(1.5, "ShotgunGuy", events=["the player kills a Zombieman"]), shown)
    offer = c._take()
    assert offer.moment.time == 1.5  # an event cuts in over the quiet line
    c._comment(offer)
    line = c.spoken[-1]
    assert line.text == kept.text and line.clip == kept.clip and line.ahead_s is not None
    assert line.start == line.picked and line.latency < 1.0  # nothing left to write or voice
    assert "the player kills a Zombieman" not in c.ahead and c.ahead.counts.used == 1

    c.timeline.speaking = QUIET  # a quiet line again, so that the next event cuts in before anything is written ahead
    c.offer(in_view(2.0, events=["the player kills an Imp"]), time.monotonic())
    c._comment(c._take())  # no line kept for this one: written as usual
    assert c.spoken[-1].ahead_s is None and c.spoken[-1].text != kept.text


def test_a_line_written_ahead_is_refused_when_it_echoes_one_said_since(tiny_lm):
    c = ahead_commentator(tiny_lm)
    c.offer(in_view(1.0, "Zombieman"), time.monotonic())
    c._write_ahead(*c._take())
    kept = c.ahead["the player kills a Zombieman"]
    c.timeline.said.append(kept.text)  # said since it was written
    c.offer(in_view(1.5, events=["the player kills a Zombieman"]), time.monotonic())
    c._comment(c._take())
    assert c.ahead.counts.refused == 1 and c.spoken[-1].ahead_s is None


def test_writing_ahead_is_not_stopped_by_an_ordinary_event(tiny_lm):
    c = ahead_commentator(tiny_lm)
    c.offer(in_view(1.0, "Zombieman"), time.monotonic())
    base, event = c._take()
    c.offer(in_view(1.1, events=["the player kills an enemy"]), time.monotonic())  # no line ahead for it
    c._write_ahead(base, event)
    assert c.ahead.counts.stopped == 0 and event.text in c.ahead  # the event waited for it...
    assert c._take().moment.time == 1.1  # ...and is taken next, cutting in over the quiet line


def test_a_line_ready_to_speak_is_spoken_while_another_is_written_ahead(tiny_lm):
    c = ahead_commentator(tiny_lm)
    c.offer(in_view(1.0, "Zombieman", "ShotgunGuy"), time.monotonic())
    c._write_ahead(*c._take())  # the Zombieman's kill
    kept = c.ahead["the player kills a Zombieman"]
    base, event = c._take()  # the level's end next
    c.timeline.busy_until = 0.0  # the voice is free
    c.offer(in_view(1.2, events=["the player kills a Zombieman"]), time.monotonic())
    c._write_ahead(base, event)
    line = c.spoken[-1]
    assert (line.moment.time, line.text, line.ahead_s is not None) == (1.2, kept.text, True)
    assert line.start < c.ahead[event.text].ready  # heard before the other line was written...
    assert c.ahead.counts.stopped == 0 and c.ahead.counts.written == 2  # ...which was written all the same


def test_writing_ahead_stops_for_an_event_that_would_be_heard_late_waiting():
    from ripple.games.policy import HEARD_WITHIN_S, time_left

    assert time_left(elapsed=2.0, tokens=4, most=16) == pytest.approx(6.0)  # 0.5 s a token, 12 to go
    assert time_left(elapsed=2.0, tokens=0, most=16) == pytest.approx(32.0)  # reading the prompt: a long guess
    c = Commentator(None, CommentatorConfig(weights={"loops": 1.0}, stale_after_s=1.5))
    c.timeline.busy_until, c.timeline.speaking = time.monotonic() + 30.0, -1.0  # a quiet line is being spoken
    c._took = [0.4]  # a line takes 0.4 s from being taken to being heard
    c._finished = [0.1]  # and one written ahead 0.1 s from its last token to being kept
    now = time.monotonic()
    c.offer(in_view(1.0, events=["the player kills an Imp"]), now)
    kill = c._queue[-1]
    assert HEARD_WITHIN_S == 1.0
    assert not c._stops_ahead(kill, done_at=now + 0.4)  # heard at 0.9 s, after the line written ahead
    assert c._stops_ahead(kill, done_at=now + 0.6)  # heard at 1.1 s: the event goes first
    c.ahead.lines["the player kills an Imp"] = Ahead("the player kills an Imp", "Imp down!", "hype", [], Path("x.wav"), now)
    assert not c._stops_ahead(kill, done_at=now + 2.0)  # its line is ready: spoken between two tokens
    del c.ahead.lines["the player kills an Imp"]
    assert not c._stops_ahead(kill, done_at=now + 2.0, writing="the player kills an Imp")  # its own line: the quickest
    assert c._stops_ahead(kill, done_at=now + 2.0, writing="level complete")
    c.timeline.speaking, c.cfg = 0.9, replace(c.cfg, break_off=False)  # a bigger line is being spoken: the kill waits its turn
    c.timeline.break_off = False
    assert not c._stops_ahead(kill, done_at=now + 2.0)
    assert Commentator(None, replace(c.cfg, stale_after_s=0.5))._stops_ahead(kill, done_at=now + 0.2)  # stale first


def test_writing_ahead_stops_for_the_biggest_events(tiny_lm):
    c = ahead_commentator(tiny_lm)
    c.offer(in_view(1.0, "Zombieman"), time.monotonic())
    base, event = c._take()
    c.offer(Moment(game="Doom", time=1.2, events=[{"text": "the player dies", "kind": "life_lost"}], intensity=1.0),
            time.monotonic())
    c._write_ahead(base, event)
    assert c.ahead.lines == {} and c.ahead.counts.stopped == 1 and c.ahead.counts.written == 0
    assert c._take().moment.time == 1.2


def test_events_that_can_come_again_in_the_same_words_are_likely_too():
    from ripple.games import doom

    c = Commentator(None, CommentatorConfig(weights={"loops": 1.0}), likely=doom.likely_events)
    c.timeline.busy_until, c.timeline.speaking = time.monotonic() + 30.0, 1.0  # nothing can be taken...
    c.cfg = replace(c.cfg, break_off=False)  # ...not even at a pause
    c.timeline.break_off = False
    c.offer(Moment(game="Doom", time=1.0, intensity=0.9, events=[
        {"text": "the player picks up a Medikit", "kind": "pickup"},
        {"text": "health is down to 22", "kind": "low_health"}]), time.monotonic())
    c.offer(in_view(2.0, "Zombieman"), time.monotonic())
    # what the newest moment makes likely first, then what happened before; numbers never come
    # back word for word
    assert list(c.ahead.likely) == ["the player kills a Zombieman", "level complete", "the player dies",
                               "the player picks up a Medikit"]
    assert c._take()[1].text == "the player kills a Zombieman"


def test_reset_forgets_the_session_and_cuts_are_an_enum():
    from ripple.games.commentator import Commentator, CommentatorConfig, Drops
    from ripple.games.policy import Cut

    c = Commentator(None, CommentatorConfig(weights={"length": 1.0}))
    c.spoken.append("a line"), c.timeline.said.append("a line")
    c.timeline.busy_until, c.timeline.cutting, c.drops = 9.0, Cut.NOW, Drops(stale=3)
    c.reset()
    assert (c.spoken, c.timeline.said, c.timeline.busy_until, c.timeline.cutting, c.drops) == ([], [], 0.0, Cut.WAIT, Drops())
    assert Cut.PAUSE == "pause" and not Cut.WAIT and {Cut.NOW} == {"now"}  # reads as its word
