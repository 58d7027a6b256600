"""What narrate reads before it comments: probing files, on-screen text, the person's
captions, and everything merged into moments."""

from __future__ import annotations

import json

import pytest

from ripple.errors import InputError
from ripple.state import Event, Moment
from ripple.video.captions import Caption, load_captions
from ripple.video.frames import Keyframe
from ripple.video.loudness import Peak
from ripple.narrate.moments import build_moments
from ripple.video.probe import probe
from tests.media import make_gameplay, remux


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_gameplay(tmp_path_factory.mktemp("probe") / "clip.mp4", seconds=4.0, size=(320, 180))


# ---- probing -------------------------------------------------------------------------------

def test_probe_reads_streams(clip):
    p = probe(clip.path)
    assert (p.width, p.height, p.fps, p.video_codec, p.audio_codec) == (320, 180, 10.0, "h264", "aac")
    assert p.duration == pytest.approx(4.0, abs=0.05) and p.frames == 40
    assert not p.variable_fps and p.rotation == 0 and p.has_audio


def test_probe_sees_rotation_and_variable_frame_rate(clip, tmp_path):
    rotated = remux(clip.path, tmp_path / "phone.mp4", before_input=["-display_rotation", "90"], after_input=["-c", "copy"])
    p = probe(rotated)
    assert abs(p.rotation) == 90 and p.shown_size == (180, 320)
    vfr = remux(clip.path, tmp_path / "vfr.mkv", after_input=[
        "-vf", "setpts='if(lt(N,20),N*0.1,2+(N-20)*0.04)/TB'", "-fps_mode", "vfr", "-enc_time_base:v", "1:1000", "-c:v", "libx264", "-an"])
    assert probe(vfr).variable_fps and not probe(vfr).has_audio


def written(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such video file"),
    (lambda d: d, "is a folder"),
    (lambda d: written(d / "empty.mp4", b""), "empty (a zero-length clip)"),
    (lambda d: written(d / "junk.mp4", b"\x00\x01not a video" * 50), "cannot read this video"),
])
def test_probe_refuses_bad_files(tmp_path, make, message):
    with pytest.raises(InputError) as err:
        probe(make(tmp_path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_probe_refuses_a_truncated_file(clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.path.read_bytes()[:2000])  # the header promises what the file does not hold
    with pytest.raises(InputError, match="cut.mp4"):
        probe(cut)


def test_audio_only_file_is_not_a_video(tmp_path):
    from tests.media import game_audio

    with pytest.raises(InputError, match="no video stream"):
        probe(game_audio(2.0, [], tmp_path / "sound.wav"))


# ---- on-screen text --------------------------------------------------------------------------

def test_ocr_reads_a_hud():
    import cv2
    import numpy as np

    from ripple.video.ocr import read_text

    frame = np.full((720, 1280, 3), (40, 90, 30), dtype=np.uint8)
    for text, at in [("SCORE 1250", (20, 50)), ("TIME 1:23", (1000, 50)), ("HEALTH 87", (20, 690)), ("Lives: 3", (600, 690))]:
        cv2.putText(frame, text, at, cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    screen = read_text(frame)
    assert screen.numbers() == {"score": 1250, "health": 87, "lives": 3}
    assert screen.clocks() == ["1:23"]


# ---- captions --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("notes.csv", "time,caption\n0:12,first kill\n31.5,\"the boss, at last\"\n"),
    ("notes.json", json.dumps([{"time": "0:12", "caption": "first kill"}, {"time": 31.5, "text": "the boss, at last"}])),
    ("notes.json", json.dumps({"31.5": "the boss, at last", "0:12": "first kill"})),
    ("notes.jsonl", '{"time": 12, "caption": "first kill"}\n\n{"time": "0:31.5", "caption": "the boss, at last"}\n'),
    ("notes.srt", "1\n00:00:12,000 --> 00:00:14,000\nfirst kill\n\n2\n00:00:31,500 --> 00:00:33,000\nthe boss,\nat last\n"),
])
def test_captions_in_every_format(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert load_captions(path) == [Caption(12.0, "first kill"), Caption(31.5, "the boss, at last")]


@pytest.mark.parametrize("name, text, where, message", [
    ("a.csv", "when,caption\n1,x\n", "a.csv:1", "header with 'time'"),
    ("a.csv", "time,caption\n1,ok\nsoon,x\n", "a.csv:3", "time: expected seconds"),
    ("a.csv", "time,caption\n1,ok\n-4,x\n", "a.csv:3", "must not be negative"),
    ("a.csv", "time,caption\n1,ok\n2,   \n", "a.csv:3", "caption: expected some text"),
    ("a.csv", "time,caption,who\n1,ok,me\n2\n", "a.csv:3", "expected 3 columns"),
    ("a.json", '[{"time": 1, "caption": "ok"},\n {"caption": "no time"}]', "a.json:2", "fields 'time'"),
    ("a.json", '[{"time": 1, "caption": "ok"},', "a.json:1", "invalid JSON"),
    ("a.json", '"just text"', "a.json", "expected a list of captions"),
    ("a.jsonl", '{"time": 1, "caption": "ok"}\n{"time": true, "caption": "x"}\n', "a.jsonl:2", "time: expected"),
    ("a.srt", "1\n00:00:01,000 --> soon\nhello\n", "a.srt", "bad timestamp"),
    ("a.txt", "1 hello", "a.txt", "unknown captions type"),
    ("a.csv", "  \n", "a.csv", "the file is empty"),
])
def test_bad_captions_name_the_file_and_line(tmp_path, name, text, where, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_captions(path)
    assert err.value.where == str(tmp_path / where) and message in err.value.message


# ---- merging into moments --------------------------------------------------------------------

def frame(time, reason, numbers=None, colour="red"):
    return Keyframe(time=time, reason=reason, brightness=0.5, motion=0.05, colours=[colour, "black"],
                    numbers=numbers or {})


def test_everything_merges_into_moments():
    frames = [frame(0.0, "start", {"score": 0}), frame(5.0, "interval", {"score": 0}),
              frame(6.0, "cut", {"score": 150}, "blue"), frame(11.0, "interval", {"score": 150}, "blue"),
              frame(16.0, "interval", {"score": 150}, "blue")]
    states = [Moment(game="Doom", time=10.4, events=[Event(text="Imp killed", kind="kill")], numbers={"health": 40},
                     facts=["Released in 1993."], intensity=0.7)]
    moments = build_moments("fallback", frames, [Peak(20.5, -8.0, 20.0)], [Caption(6.5, "my favourite bit")], states,
                            duration=21.0)
    assert [m.time for m in moments] == [0.0, 6.0, 10.4, 16.0, 20.5]
    opening, cut, kill, quiet, loud = moments
    assert opening.events == [] and opening.numbers == {"score": 0} and "red" in opening.scene
    # The cut, the score read on screen changing, and the person's caption are one moment.
    assert [e.text for e in cut.events] == ["score rose from 0 to 150", "my favourite bit"]
    assert cut.scene.startswith("a new scene") and "blue" in cut.scene and cut.intensity == 0.5
    # The game state brings its game, events, numbers and facts; numbers read on screen join them.
    assert kill.game == "Doom" and [e.text for e in kill.events] == ["Imp killed"]
    assert kill.numbers == {"score": 150, "health": 40} and kill.facts == ["Released in 1993."]
    assert kill.intensity == 0.7
    # The interval keyframe at 11 s sits next to the kill and is not a moment; the one at 16 s is.
    assert quiet.events == [] and quiet.intensity < 0.3 and quiet.game == "fallback"
    assert [e.kind for e in loud.events] == ["loud"] and loud.intensity > 0.9


def test_states_without_times_are_refused():
    with pytest.raises(InputError, match=r"moments\[0\].time"):
        build_moments("x", [frame(0.0, "start")], states=[Moment(game="Doom", events=["Imp killed"])])


def test_moments_past_the_end_are_left_out():
    moments = build_moments("x", [frame(0.0, "start")], captions=[Caption(3.0, "late")], duration=2.0)
    assert [m.time for m in moments] == [0.0]
