"""`ripple narrate` as a person runs it, on videos the tests draw: the output's streams and
length, narration heard where it was scheduled and nowhere else, the game ducked under it,
subtitles that match, the pictures, and every bad input refused whole."""

from __future__ import annotations

import json
import re

import pytest

from ripple.speech.audio import load_audio
from ripple.video.render import RenderConfig
from tests.conftest import run_here
from tests.media import HUM_LEVEL, make_gameplay, remux, rms_db, streams, tone_amplitude

FAST = ["--candidates", "3", "--max-new-tokens", "6", "--weight", "relevance=0", "--every", "2"]
RATE = 16_000
RAMP = 0.15  # RenderConfig.ramp_s


def narrate(video, out, *args, model=None, run_id="r"):
    return run_here("narrate", str(video), "--model", str(model), "--out", str(out), "--run-id", run_id, *FAST, *args)


def narrate_here(video, out, lm, every=2.0, **options) -> dict:
    """The library call behind `ripple narrate` with the FAST settings, on a model already
    loaded: the command itself is exercised by the refusals below and, end to end, by
    test_the_command_end_to_end (slow tier); each extra command would spend most of its
    time importing torch. Returns commentary.json."""
    from ripple.config import GenerateConfig, RankConfig, SamplingConfig
    from ripple.narrate import NarrateConfig
    from ripple.narrate import narrate as run
    from ripple.video.frames import FramesConfig
    from ripple.voice import VoiceConfig

    cfg = NarrateConfig(
        video=video,
        generate=GenerateConfig(
            state_file=video, model=lm.spec.name, sampling=SamplingConfig(candidates=3, max_new_tokens=6),
            rank=RankConfig(weights={"coherence": 1.0, "relevance": 0.0, "loops": 1.0, "length": 0.5}),
            out_dir=out, run_id="r"),
        frames=FramesConfig(sample_every_s=every), voice=VoiceConfig(backend="espeak-ng"), **options,
    )
    run(cfg, lm=lm)
    return json.loads((out / "r" / "commentary.json").read_text())


def srt_entries(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    entries = []
    for block in text.strip().split("\n\n"):
        _, timing, *words = block.split("\n")
        start, end = timing.split(" --> ")
        entries.append((seconds(start), seconds(end), " ".join(words)))
    return entries


@pytest.fixture(scope="module")
def hum_clip(tmp_path_factory):
    """9 s, three scenes, a score that changes at 4.5 s, a steady 50 Hz hum for game audio."""
    return make_gameplay(tmp_path_factory.mktemp("clips") / "my game play.mp4", bursts=())


@pytest.fixture(scope="module")
def narrated(hum_clip, tiny_lm, tmp_path_factory):
    """The library call behind the command, on the session's loaded model; the command
    itself runs end to end in test_the_command_end_to_end (slow tier)."""
    out = tmp_path_factory.mktemp("runs")
    data = narrate_here(hum_clip.path, out, tiny_lm)
    return out / "r", data


@pytest.mark.slow
def test_the_command_end_to_end(hum_clip, tiny_gpt2, tmp_path):
    result = narrate(hum_clip.path, tmp_path, model=tiny_gpt2)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "r"
    got = streams(folder / "narrated.mp4")
    assert (got["video"], got["audio"]) == ("h264", "aac")
    assert got["duration"] == pytest.approx(hum_clip.seconds, abs=0.05)
    lines = json.loads((folder / "commentary.json").read_text())["narrate"]["lines"]
    assert lines and [e[2] for e in srt_entries((folder / "narrated.srt").read_text())] == [l["text"] for l in lines]


def test_output_streams_length_and_frames(hum_clip, narrated):
    folder, data = narrated
    source, output = streams(hum_clip.path), streams(folder / "narrated.mp4")
    assert (output["video"], output["audio"]) == ("h264", "aac")
    assert output["duration"] == pytest.approx(source["duration"], abs=0.05)
    assert output["audio_duration"] == pytest.approx(source["duration"], abs=0.05)
    assert (output["fps"], output["frames"], output["width"], output["height"]) == (10.0, 90, 640, 360)
    assert data["narrate"]["video_stream"] == "copied"


def test_the_video_stream_is_copied_bit_for_bit(hum_clip, narrated):
    import av

    def packets(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]

    assert packets(narrated[0] / "narrated.mp4") == packets(hum_clip.path)


def test_narration_is_heard_in_its_windows_and_nowhere_else(hum_clip, narrated):
    folder, data = narrated
    lines = data["narrate"]["lines"]
    assert len(lines) >= 2
    source, output = load_audio(hum_clip.path, RATE), load_audio(folder / "narrated.mp4", RATE)
    hum = HUM_LEVEL * 2**0.5
    for line in lines:
        a, b = line["start"] + RAMP, line["end"] - RAMP
        # The voice is well above the game while it speaks ...
        assert rms_db(output, RATE, a, b) > rms_db(source, RATE, a, b) + 6, line
        # ... and the game's hum is ducked to 0.3 of its level under it (-10.5 dB).
        if b - a >= 0.5:
            assert tone_amplitude(output, RATE, a, b) == pytest.approx(0.3 * hum, rel=0.25), line
    # Away from every line (and its ramps), the game audio is untouched.
    busy = [(l["start"] - RAMP - 0.1, l["end"] + RAMP + 0.1) for l in lines]
    quiet = [(t, t + 0.3) for t in [x / 10 for x in range(0, 87)]
             if all(t + 0.3 <= s or t >= e for s, e in busy)]
    assert quiet, "the schedule left no quiet stretch to check"
    for a, b in quiet:
        assert rms_db(output, RATE, a, b) == pytest.approx(rms_db(source, RATE, a, b), abs=1.0), (a, b)
        assert tone_amplitude(output, RATE, a, b) == pytest.approx(hum, rel=0.1)


def test_lines_are_scheduled_without_overlap(narrated):
    _, data = narrated
    lines = data["narrate"]["lines"]
    for a, b in zip(lines, lines[1:]):
        assert b["start"] >= a["end"] + 0.4 - 1e-6
    times = {m["index"]: m["moment"]["time"] for m in data["moments"]}
    for line in lines:
        assert times[line["moment"]] + 0.2 - 1e-6 <= line["start"] <= times[line["moment"]] + 2.0 + 1e-6
        assert line["text"] in [c["text"] for c in data["moments"][line["moment"]]["candidates"]]
    spoken = {l["moment"] for l in lines} | {d["moment"] for d in data["narrate"]["dropped"]}
    assert spoken == set(times)  # every moment is either heard or has a reason for its silence
    # A moment with no room left for a line was never written, and says so.
    reasons = {d["moment"]: d["reason"] for d in data["narrate"]["dropped"]}
    assert any("unwritten" in m for m in data["moments"])  # the last, too near the end for any line
    for m in data["moments"]:
        if "unwritten" in m:
            assert m["candidates"] == [] and m["line"] == "" and reasons[m["index"]].endswith("not written")
            assert m["unwritten"] == reasons[m["index"]]
        else:
            assert len(m["candidates"]) == 3


def test_subtitles_match_the_lines(narrated):
    folder, data = narrated
    lines = [(l["start"], l["end"], l["text"]) for l in data["narrate"]["lines"]]
    srt = srt_entries((folder / "narrated.srt").read_text())
    assert [(round(a, 3), round(b, 3), t) for a, b, t in srt] == lines  # SRT keeps milliseconds
    vtt = (folder / "narrated.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n")
    assert [t for t in vtt.split("\n") if t and "-->" not in t][1:] == [l[2] for l in lines]
    first = lines[0]
    assert f"{int(first[0] // 60):02d}:{first[0] % 60:06.3f}" in vtt


def test_moments_come_from_the_picture(narrated):
    _, data = narrated
    moments = [m["moment"] for m in data["moments"]]
    scenes = " ".join(m["scene"] for m in moments)
    assert "red" in scenes and "green" in scenes and "blue" in scenes
    cuts = [k["time"] for k in data["narrate"]["keyframes"] if k["reason"] == "cut"]
    assert cuts == pytest.approx([3.0, 6.0], abs=0.3)
    # The score drawn in the corner is read, and its change is an event near 4.5 s.
    changes = [(m["time"], e["text"]) for m in moments for e in m["events"] if e.get("kind") == "score"]
    assert changes and changes[0][1] == "score rose from 0 to 150" and 4.5 <= changes[0][0] <= 6.5


def test_pictures_and_files(narrated):
    import cv2

    folder, data = narrated
    sheet = cv2.imread(str(folder / "keyframes.png"))
    assert sheet.shape[1] == 4 * 320 and sheet.shape[0] > 180
    assert cv2.imread(str(folder / "timeline.png")).shape[1] >= 800
    for name in ["commentary.md", "scores.png", "narration.wav", "narrated.vtt"]:
        assert (folder / name).stat().st_size > 0
    for line in data["narrate"]["lines"]:
        assert (folder / line["audio"]).is_file()
    assert not list(folder.parent.glob(".*"))  # no temporaries left beside the run


def test_no_audio_track_gives_narration_alone(tiny_lm, tmp_path):
    clip = make_gameplay(tmp_path / "silent.mp4", seconds=6.0, size=(320, 180), audio=False)
    data = narrate_here(clip.path, tmp_path / "out", tiny_lm)
    folder = tmp_path / "out" / "r"
    out = streams(folder / "narrated.mp4")
    assert out["audio"] == "aac" and out["audio_duration"] == pytest.approx(6.0, abs=0.05)
    audio = load_audio(folder / "narrated.mp4", RATE)
    lines = data["narrate"]["lines"]
    assert lines
    for line in lines:
        assert rms_db(audio, RATE, line["start"] + 0.1, line["end"] - 0.1) > -40
    assert rms_db(audio, RATE, 0, lines[0]["start"] - 0.05) < -70


@pytest.mark.slow
def test_other_codecs_are_re_encoded_to_h264(tiny_lm, tmp_path):
    clip = make_gameplay(tmp_path / "old.mp4", seconds=4.0, fps=15, size=(320, 180), codec="mpeg4")
    data = narrate_here(clip.path, tmp_path / "out", tiny_lm)
    out = streams(tmp_path / "out" / "r" / "narrated.mp4")
    assert (out["video"], out["fps"], out["frames"]) == ("h264", 15.0, 60)
    assert "re-encoded from mpeg4" in data["narrate"]["video_stream"]


@pytest.mark.slow
def test_rotated_phone_footage_keeps_its_rotation(hum_clip, tiny_lm, tmp_path):
    import cv2

    from ripple.video.probe import probe

    phone = remux(hum_clip.path, tmp_path / "phone clip.mp4", before_input=["-display_rotation", "90"],
                  after_input=["-c", "copy"])
    narrate_here(phone, tmp_path / "out", tiny_lm)
    folder = tmp_path / "out" / "r"
    assert abs(probe(folder / "narrated.mp4").rotation) == 90
    # Keyframes are read upright: the contact sheet's thumbnails are portrait.
    sheet = cv2.imread(str(folder / "keyframes.png"))
    assert sheet.shape[0] > 320 * 16 / 9 - 1


@pytest.mark.slow
def test_variable_frame_rate_keeps_every_timestamp(hum_clip, tiny_lm, tmp_path):
    import av

    vfr = remux(hum_clip.path, tmp_path / "vfr.mkv", after_input=[
        "-vf", "setpts='if(lt(N,40),N*0.1,4+(N-40)*0.05)/TB'", "-fps_mode", "vfr", "-enc_time_base:v", "1:1000",
        "-c:v", "libx264", "-c:a", "copy", "-t", "6.5"])
    data = narrate_here(vfr, tmp_path / "out", tiny_lm)

    def times(path):
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            return sorted(round(float(p.pts * v.time_base), 3) for p in c.demux(v) if p.size)

    assert times(tmp_path / "out" / "r" / "narrated.mp4") == times(vfr)
    assert data["narrate"]["video"]["variable_fps"]


@pytest.mark.slow
def test_output_path_with_spaces_gets_the_video_and_sidecars(hum_clip, tiny_lm, tmp_path):
    target = tmp_path / "my clips" / "final cut.mp4"
    narrate_here(hum_clip.path, tmp_path / "runs", tiny_lm, output=target)
    assert streams(target)["video"] == "h264"
    assert target.with_suffix(".srt").read_text() == (tmp_path / "runs" / "r" / "narrated.srt").read_text()
    assert target.with_suffix(".vtt").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["final cut.mp4", "final cut.srt", "final cut.vtt"]


@pytest.mark.slow
def test_burned_in_subtitles_with_moviepy(tiny_lm, tmp_path):
    import av
    import numpy as np

    clip = make_gameplay(tmp_path / "short.mp4", seconds=5.0, size=(320, 180), scenes=((60, 60, 60),),
                         score_changes=((0.0, 0),), bursts=())
    data = narrate_here(clip.path, tmp_path / "out", tiny_lm, every=10.0, render=RenderConfig(burn_subtitles=True))
    folder = tmp_path / "out" / "r"
    out = streams(folder / "narrated.mp4")
    assert (out["video"], out["audio"], out["fps"], out["frames"]) == ("h264", "aac", 10.0, 50)
    assert out["duration"] == pytest.approx(5.0, abs=0.1)
    line = data["narrate"]["lines"][0]

    def bottom_at(path, t):
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time >= t:
                    return f.to_ndarray(format="rgb24")[120:, :].astype(int)

    during = (line["start"] + line["end"]) / 2
    text_pixels = np.abs(bottom_at(folder / "narrated.mp4", during) - bottom_at(clip.path, during)).max(axis=2)
    assert (text_pixels > 80).sum() > 200  # white letters with black edges over the grey scene
    if line["start"] > 0.5:
        before = np.abs(bottom_at(folder / "narrated.mp4", 0.1) - bottom_at(clip.path, 0.1)).max(axis=2)
        assert (before > 80).sum() < 20


# ---- bad input: one line, exit 2, nothing left under the output name ------------------------

def assert_refused(result, out, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ripple: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out.exists() or not list(out.iterdir()), list(out.iterdir())


def test_corrupt_and_empty_videos(tiny_gpt2, tmp_path):
    junk = tmp_path / "junk clip.mp4"
    junk.write_bytes(b"\x00" * 4096)
    assert_refused(narrate(junk, tmp_path / "out", model=tiny_gpt2), tmp_path / "out", "junk clip.mp4",
                   "cannot read this video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_refused(narrate(empty, tmp_path / "out", model=tiny_gpt2), tmp_path / "out", "zero-length")
    assert_refused(narrate(tmp_path / "nope.mp4", tmp_path / "out", model=tiny_gpt2), tmp_path / "out",
                   "no such video file")


def test_bad_captions_and_states_are_refused_before_work(hum_clip, tiny_gpt2, tmp_path):
    notes = tmp_path / "notes.csv"
    notes.write_text("time,caption\n1,fine\nlater,oops\n")
    assert_refused(narrate(hum_clip.path, tmp_path / "out", "--captions", str(notes), model=tiny_gpt2),
                   tmp_path / "out", f"{notes}:3", "time")
    states = tmp_path / "states.yaml"
    states.write_text("game: Doom\nmoments:\n  - events: [Imp killed]\n")
    assert_refused(narrate(hum_clip.path, tmp_path / "out", "--states", str(states), model=tiny_gpt2),
                   tmp_path / "out", "moments[0].time")


@pytest.mark.parametrize("args, fragment", [
    (["-o", "clip.mov"], "must name an .mp4"),
    (["--duck", "1.5"], "--duck"),
    (["--every", "0"], "--every"),
    (["--ocr", "maybe"], "--ocr"),
    (["--voice", "robot"], "--voice"),
    (["--renderer", "fast", "--burn-subtitles"], "cannot burn subtitles"),
])
def test_bad_flags(hum_clip, tiny_gpt2, tmp_path, args, fragment):
    assert_refused(narrate(hum_clip.path, tmp_path / "out", *args, model=tiny_gpt2), tmp_path / "out", fragment)


def test_an_output_that_cannot_be_written_is_refused_before_work(hum_clip, tiny_gpt2, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("in the way")
    result = narrate(hum_clip.path, tmp_path / "out", "-o", str(blocker / "clip.mp4"), model=tiny_gpt2)
    assert_refused(result, tmp_path / "out", "clip.mp4", "not a writable folder")
    assert blocker.read_text() == "in the way"
    (tmp_path / "mine.srt").mkdir()
    result = narrate(hum_clip.path, tmp_path / "out", "-o", str(tmp_path / "mine.mp4"), model=tiny_gpt2)
    assert_refused(result, tmp_path / "out", "mine.srt", "is a folder")
    assert not (tmp_path / "mine.mp4").exists()
    # root may write anywhere by its permissions, yet nothing can be created in /proc
    result = narrate(hum_clip.path, tmp_path / "out", "-o", "/proc/clip.mp4", model=tiny_gpt2)
    assert_refused(result, tmp_path / "out", "/proc/clip.mp4", "cannot write here")


@pytest.mark.slow
def test_an_output_copy_that_fails_late_keeps_the_run_folder(hum_clip, tiny_lm, tmp_path, monkeypatch):
    """The copy to -o fails after the render (a disk that filled up): the run folder stays."""
    import ripple.narrate as narrate_module
    from ripple.errors import InputError

    def full(folder, output):
        raise InputError(str(output), "cannot write here: No space left on device")

    monkeypatch.setattr(narrate_module, "_publish", full)
    with pytest.raises(InputError, match=r"No space left on device; the narrated run is kept in .*/r$"):
        narrate_here(hum_clip.path, tmp_path / "runs", tiny_lm, output=tmp_path / "clip.mp4")
    assert (tmp_path / "runs" / "r" / "narrated.mp4").is_file() and not (tmp_path / "clip.mp4").exists()


@pytest.mark.slow
def test_a_failure_while_rendering_leaves_nothing(hum_clip, tiny_lm, tmp_path):
    """ffmpeg fails after moments, lines and voices are done: no run folder, no temporaries."""
    from ripple.video.render import RenderError

    with pytest.raises(RenderError, match="moviepy failed"):
        narrate_here(hum_clip.path, tmp_path / "out", tiny_lm, render=RenderConfig(preset="no-such-preset", renderer="moviepy"))
    assert list((tmp_path / "out").iterdir()) == []


def test_an_existing_run_is_never_overwritten(narrated, hum_clip, tiny_gpt2):
    folder, _ = narrated
    before = (folder / "narrated.mp4").stat().st_mtime_ns
    result = narrate(hum_clip.path, folder.parent, model=tiny_gpt2)
    assert result.returncode == 2 and re.search(r"exists already", result.stderr)
    assert (folder / "narrated.mp4").stat().st_mtime_ns == before
