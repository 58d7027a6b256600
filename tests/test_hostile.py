"""Hostile and broken input, reader by reader: each ends in a one-line refusal naming the
file, line or field (or, for a file people really have, correct output), never an internal
error, a hang or a half-written file. The fuzz tests are in tests/test_fuzz.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ripple.errors import InputError
from ripple.ingest import ingest
from ripple.ingest.cues import ReadError, decode, parse_timestamp
from tests.test_ingest import corpus, texts


def strict(line: str):
    def refuse(name):
        raise AssertionError(f"{name} written into JSON")

    return json.loads(line, parse_constant=refuse)


# ---- transcripts (ripple ingest) ---------------------------------------------------------------

def test_one_digit_clock_fields_as_yt_dlp_writes_them_are_read():
    assert parse_timestamp("00:0.120") == pytest.approx(0.12)
    assert parse_timestamp("1:02:03.5") == pytest.approx(3723.5)
    for bad in ("99:99:99,999", "00:61.000", "١٢:٠٠.٠٠٠", "1:2"):
        with pytest.raises(ReadError, match="bad timestamp"):
            parse_timestamp(bad)


def test_legacy_encodings_are_detected_not_refused(tmp_path):
    chinese = "1\n00:00:01,000 --> 00:00:03,000\n他打出了一记漂亮的射门，球进了！\n\n" \
              "2\n00:00:04,000 --> 00:00:06,000\n观众们都站起来欢呼，这是本赛季最好的进球。\n"
    latin = "1\n00:00:01,000 --> 00:00:03,000\nQuel but magnifique, le gardien n'a rien pu faire.\n\n" \
            "2\n00:00:04,000 --> 00:00:06,000\nLe public est debout, c'est déjà la troisième réussite.\n"
    _, records = corpus(tmp_path, {"gb.srt": chinese.encode("gb2312"), "fr.srt": latin.encode("latin-1")})
    said = " ".join(texts(records))
    assert "他打出了一记漂亮的射门" in said and "déjà la troisième réussite" in said


def test_one_cue_in_two_languages_is_two_sentences(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:03,000\n他进球了！\nHe scores!\n\n2\n00:00:03,100 --> 00:00:05,000\n" \
          "比分是二比一\nThe score is two to one\n"
    _, records = corpus(tmp_path, {"bilingual.srt": srt})
    assert texts(records) == ["他进球了！", "He scores!", "比分是二比一", "The score is two to one"]


def test_youtube_sbv_is_read(tmp_path):
    sbv = "0:00:00.599,0:00:04.160\n>> ALICE: the push starts now\n\n0:00:04.280,0:00:07.520\nand they take the tower.\n"
    _, records = corpus(tmp_path, {"studio.sbv": sbv})
    assert texts(records) == ["ALICE: the push starts now and they take the tower."]
    assert (records[0]["start"], records[0]["end"]) == (0.599, 7.52)


def test_hostile_transcripts_are_skipped_with_their_reason_and_the_rest_go_on(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    report, records = corpus(tmp_path, {
        "good.srt": "1\n00:00:01,000 --> 00:00:02,000\nThis one is fine.\n",
        "word-times.json3": json.dumps({"events": [{"tStartMs": "abc", "segs": [{"utf8": "hello there"}]}]}),
        "nan.json3": '{"events": [{"tStartMs": NaN, "segs": [{"utf8": "hello there"}]}]}',
        "huge.json": '[{"text": "hi", "start": 1e999}]',
        "digits.json": '[{"text": "hi", "start": ' + "9" * 5000 + "}]",
        "deep.json": deep,
        "backwards.srt": "1\n00:00:05,000 --> 00:00:01,000\nbackwards in time\n",
        "clock.srt": "1\n99:99:99,999 --> 99:99:99,999\nnot a time\n",
        "xml.xml": '<transcript><text start="soon" dur="2">hello</text></transcript>',
        "utf16.srt": b"\xff\xfe\x00\xd8",  # a BOM, then half a surrogate pair
        "segs.json3": json.dumps({"events": [{"tStartMs": 0, "segs": 5}, {"tStartMs": 0, "segs": [{"utf8": "ok go"}]}]}),
    })
    reasons = {path.rsplit("/", 1)[-1]: reason for path, reason in report.skipped}
    assert texts(records) == ["This one is fine.", "ok go"]
    assert reasons["word-times.json3"].startswith("bad tStartMs 'abc': not a number")
    assert reasons["nan.json3"].startswith("bad tStartMs")
    assert "must be 0 to" in reasons["huge.json"]
    assert reasons["digits.json"].startswith("invalid JSON")
    assert reasons["deep.json"] == "JSON nested too deeply"
    assert reasons["backwards.srt"] == "a cue ends (1 s) before it starts (5 s)"
    assert "minutes and seconds run to 59" in reasons["clock.srt"]
    assert reasons["xml.xml"].startswith("bad start 'soon'")
    assert reasons["utf16.srt"].startswith("not UTF-16 text")
    for line in (tmp_path / "corpus.jsonl").read_text().splitlines():
        strict(line)


def test_a_two_million_word_cue_becomes_bounded_sentences(tmp_path):
    report, records = corpus(tmp_path, {"flood.srt": "1\n00:00:01,000 --> 00:00:02,000\n" + "go " * 2_000_000 + "\n",
                                        "nospace.srt": "1\n00:00:01,000 --> 00:00:02,000\n" + "好" * 100_000 + "\n"})
    assert report.segments == len(records) > 1
    assert max(len(r["text"]) for r in records) <= 400 + 10


def test_sidecars_and_game_files_of_the_wrong_kind_name_no_game(tmp_path):
    def srt(text: str) -> str:
        return f"1\n00:00:01,000 --> 00:00:02,000\n{text}\n"

    _, records = corpus(tmp_path, {
        "a/Doom run [abcdef123].en.srt": srt("The boss goes down at last."),
        "a/Doom run [abcdef123].info.json": '{"title": 5, "game": [1]}',
        "b/game.txt": "\ufeffCeleste\nsecond line\n", "b/one.srt": srt("Up the wall and over the spikes."),
        "c/game.txt": b"\xff\xfe\x00\x00binary", "c/Tetris 99 [zyxwvu987].srt": srt("Four lines at once, a Tetris!"),
    })
    games = {r["source"].split("/")[-2]: r["game"] for r in records}
    assert games == {"a": "Doom run", "b": "Celeste", "c": "Tetris 99"}


# ---- temporaries a killed run leaves -----------------------------------------------------------

def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    from ripple.atomic import _host, atomic_dir, atomic_write_text

    dead, host = dead_pid(), _host()
    stale_dir = tmp_path / f".20261203-run-p{dead}@{host}-abc.tmp"
    stale_dir.mkdir()
    (stale_dir / "commentary.json").write_text("{")
    stale_file = tmp_path / f".corpus.jsonl-p{dead}@{host}-xyz.tmp"
    stale_file.write_text("half")
    live = tmp_path / f".other-p{os.getpid()}@{host}-keep.tmp"  # a writer still at work
    live.write_text("busy")
    elsewhere = tmp_path / f".other-p{dead}@another-machine-keep.tmp"  # a shared disk: not ours to judge
    elsewhere.write_text("busy")
    foreign = tmp_path / ".someone-elses.tmp"  # not ours to judge until it is a day old
    foreign.write_text("?")
    atomic_write_text(tmp_path / "corpus.jsonl", "new\n")
    assert not stale_dir.exists() and not stale_file.exists() and live.exists() and foreign.exists()
    assert elsewhere.exists()
    stale_again = tmp_path / f".x-p{dead}@{host}-1.tmp"
    stale_again.mkdir()
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "a").write_text("a")
    assert not stale_again.exists() and (tmp_path / "run" / "a").read_text() == "a"


def test_a_writer_killed_mid_write_leaves_nothing_the_next_ingest_keeps(tmp_path):
    """A child process starts writing corpus.jsonl the way atomic_write_bytes does and is
    SIGKILLed before it renames; the next ingest into that folder removes its temporary."""
    src = tmp_path / "notes.txt"
    src.write_text("The boss falls at last.\n")
    script = ("import os, tempfile\nfrom ripple.atomic import temp_prefix\n"
              f"fd, p = tempfile.mkstemp(dir={str(tmp_path)!r}, prefix=temp_prefix('corpus.jsonl'), suffix='.tmp')\n"
              "os.write(fd, b'{\"half')\nos.kill(os.getpid(), 9)\n")
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    assert len(list(tmp_path.glob(".corpus.jsonl-*.tmp"))) == 1  # what SIGKILL left
    ingest([src], tmp_path / "corpus.jsonl")
    assert not list(tmp_path.glob(".corpus.jsonl-*.tmp"))
    assert strict((tmp_path / "corpus.jsonl").read_text().splitlines()[0])["text"] == "The boss falls at last."


# ---- ripple.toml ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("[generate]\ncandidates = 99999999999999999999\n", ":2: [generate].candidates: Input should be less than"),
    ("[generate]\nseed = -1\n", ":2: [generate].seed: Input should be greater than or equal to 0"),
    ("[narrate]\nevery = nan\n", ":2: [narrate].every: Input should be a finite number"),
    ("[narrate]\nmax_delay = inf\n", ":2: [narrate].max_delay: Input should be a finite number"),
    ("[batch]\nworkers = 100000000000\n", ":2: [batch].workers: Input should be less than or equal to 256"),
    ("[generate]\nseed = " + "9" * 5000 + "\n", "invalid TOML"),
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML"),
])
def test_settings_out_of_range_are_refused_naming_the_line(tmp_path, body, message):
    from ripple.cli import load_settings

    path = tmp_path / "ripple.toml"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_settings(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_settings_written_by_notepad_with_a_bom_are_read(tmp_path):
    from ripple.cli import load_settings

    path = tmp_path / "ripple.toml"
    path.write_bytes("\ufeff[generate]\ncandidates = 4\n".encode())
    assert load_settings(path)["generate"]["candidates"] == 4


# ---- narrate's own captions ---------------------------------------------------------------------

@pytest.mark.parametrize("name, body, message", [
    ("nan.json", '[{"time": NaN, "caption": "boss"}]', "time: must be a finite number of seconds"),
    ("inf.jsonl", '{"time": "inf", "caption": "boss"}\n', "time: must be a finite number of seconds"),
    ("huge.json", '{"' + "1" * 400 + '": "boss"}', "time: must be a finite number of seconds"),
    ("big.csv", "time,caption\n1," + "x" * 200_000 + "\n", "invalid CSV"),
    ("long.csv", "time,caption\n1," + "word " * 2000 + "\n", "caption: 10,000 characters, over 5,000"),
    ("deep.json", "[" * 10_000 + "]" * 10_000, "nested"),
    ("late.json", '[{"time": "99:00:00:00", "caption": "boss"}]', "time: expected seconds or a clock"),
    ("backwards.srt", "1\n00:00:05,000 --> 00:00:01,000\nboss\n", "a cue ends (1 s) before it starts (5 s)"),
])
def test_hostile_captions_are_refused_in_one_line(tmp_path, name, body, message):
    from ripple.video.captions import load_captions

    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_captions(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_decode_refuses_what_no_text_encoding_fits():
    with pytest.raises(ReadError, match="not UTF-8 text"):
        decode(b"\x81\x02\xff\x03\x9d\x04" * 200)


def test_a_field_named_with_a_newline_keeps_the_error_on_one_line(tmp_path):
    """Found by the fuzz tests: a key of "\\n" broke the one-line error that named it."""
    from ripple.state import load_moments

    path = tmp_path / "odd.json"
    path.write_text('{"moments": [{"game": "Doom"}], "\\n\\u0007": 1}')
    with pytest.raises(InputError) as info:
        load_moments(path)
    assert "\n" not in str(info.value) and "\\n\\x07: unknown timeline field" in str(info.value)


def test_a_folder_swap_that_fails_puts_the_old_folder_back(tmp_path, monkeypatch):
    import ripple.atomic as atomic

    final = tmp_path / "model"
    final.mkdir()
    (final / "weights").write_text("good")
    real = os.replace

    def refuse_the_new(src, dst):
        if str(src).endswith("new") and str(dst) == str(final):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    (tmp_path / "new").mkdir()
    monkeypatch.setattr(atomic.os, "replace", refuse_the_new)
    with pytest.raises(OSError):
        atomic.replace_folder(tmp_path / "new", final)
    assert (final / "weights").read_text() == "good"
