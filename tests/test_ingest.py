"""`ripple ingest`: each transcript format and its quirks, bad files skipped with reasons."""

from __future__ import annotations

import json

import pytest

from ripple.errors import InputError
from ripple.ingest import game_from_title, ingest
from ripple.ingest.clean import clean_text
from tests.conftest import ROOT, run_here

ROLLING_VTT = """WEBVTT
Kind: captions
Language: en

NOTE made by hand, in the shape YouTube writes

STYLE
::cue { color: white }

00:00:00.000 --> 00:00:02.000 align:start position:0%
{space}
what<00:00:00.400><c> a</c><00:00:00.800><c> start</c>

00:00:02.000 --> 00:00:02.010 align:start position:0%
what a start


00:00:02.010 --> 00:00:04.000 align:start position:0%
what a start
he<00:00:02.400><c> takes</c><00:00:02.800><c> the</c><00:00:03.100><c> lead</c>

00:00:07.000 --> 00:00:09.000 align:start position:0%
he takes the lead
[Music]

00:00:09.500 --> 00:00:11.000 align:start position:0%
&gt;&gt; and<00:00:09.900><c> it's</c><00:00:10.300><c> over</c>
""".replace("{space}", " ")  # YouTube's first cue line is a single space, not a blank line


def corpus(tmp_path, files: dict[str, str | bytes], **kwargs):
    src = tmp_path / "src"
    for name, content in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    out = tmp_path / "corpus.jsonl"
    report = ingest([src], out, **kwargs)
    return report, [json.loads(line) for line in out.read_text().splitlines()]


def texts(records):
    return [r["text"] for r in records]


def test_youtube_rolling_auto_captions(tmp_path):
    report, records = corpus(tmp_path, {"Doom run [abcdefghijk].en.vtt": ROLLING_VTT})
    assert texts(records) == ["what a start he takes the lead", "and it's over"]
    assert (records[0]["start"], records[0]["end"]) == (0.0, 4.0)  # the repeat at 7 s is not speech
    assert records[1]["start"] == 9.5
    assert records[0]["game"] == "Doom run" and records[0]["title"] == "Doom run"
    assert report.files == 1 and report.segments == 2


def test_srt_with_tags_duplicates_and_lyrics(tmp_path):
    srt = ("1\n00:00:01,000 --> 00:00:03,000\n<i>Big jump</i> coming up.\nHere it is!\n\n"
           "2\n00:00:03,000 --> 00:00:03,500\nHere it is!\n\n"
           "3\n00:00:04,000 --> 00:00:06,000\n♪ never gonna give ♪\n\n"
           "4\n00:00:06,000 --> 00:00:08,000\n- Um, uh.\n\n"
           "5\n00:00:08,000 --> 00:00:09,000\n(crowd cheering) He lands it.\n")
    _, records = corpus(tmp_path, {"Skate 3.srt": srt})
    assert texts(records) == ["Big jump coming up.", "Here it is!", "He lands it."]


def test_json3_and_transcript_api_json(tmp_path):
    json3 = {"events": [
        {"tStartMs": 0, "dDurationMs": 100},
        {"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "Goal"}, {"utf8": " for the home side!"}]},
        {"tStartMs": 3000, "dDurationMs": 10, "aAppend": 1, "segs": [{"utf8": "\n"}]},
        {"tStartMs": 3500, "dDurationMs": 1000, "segs": [{"utf8": "[Applause]"}]},
    ]}
    api = [{"text": "Into the net", "start": 5.0, "duration": 1.5}, {"text": "what a finish.", "start": 6.5, "duration": 2}]
    _, records = corpus(tmp_path, {"FIFA 23 [aaaaaaaaaaa].json3": json.dumps(json3), "fifa-b.json": json.dumps(api)})
    assert texts(records) == ["Goal for the home side!", "Into the net what a finish."]
    assert records[1]["start"] == 5.0 and records[1]["end"] == 8.5


def test_timedtext_xml_both_shapes_with_entities(tmp_path):
    old = ('<?xml version="1.0"?><transcript><text start="1.0" dur="2">He&amp;#39;s through &amp;amp; scores.</text>'
           '<text start="3" dur="1">&gt;&gt; Unbelievable!</text></transcript>')
    srv3 = ('<?xml version="1.0"?><timedtext format="3"><body><p t="1000" d="1500">That&#39;s a '
            '<s t="200">combo</s> breaker.</p></body></timedtext>')
    _, records = corpus(tmp_path, {"a.xml": old, "b.srv3": srv3})
    assert texts(records) == ["He's through & scores.", "Unbelievable!", "That's a combo breaker."]


def test_plain_text(tmp_path):
    _, records = corpus(tmp_path, {"notes.txt": "First line here.\n\nSecond line, no stop\n"})
    assert texts(records) == ["First line here.", "Second line, no stop"]
    assert records[0]["start"] is None


def test_game_from_flag_sidecar_folder_or_title(tmp_path):
    files = {
        "a/Some Title [abcdefghijk].en.vtt": ROLLING_VTT,
        "a/Some Title [abcdefghijk].info.json": json.dumps({"title": "T", "channel": "C", "game": "Halo 3"}),
        "b/game.txt": "Celeste\n",
        "b/session.srt": "1\n00:00:01,000 --> 00:00:02,000\nDash and climb.\n",
        "c/Hollow Knight - Let's Play Part 3.txt": "Into the abyss we go.\n",
    }
    _, records = corpus(tmp_path, files)
    by_game = {r["game"]: r for r in records}
    assert set(by_game) == {"Halo 3", "Celeste", "Hollow Knight"}
    assert by_game["Halo 3"]["title"] == "T" and by_game["Halo 3"]["channel"] == "C"
    _, forced = corpus(tmp_path / "again", files, game="Portal")
    assert {r["game"] for r in forced} == {"Portal"}


def test_game_from_title():
    assert game_from_title("Doom Eternal - Let's Play Part 3 [abcdefghijk]") == "Doom Eternal"
    assert game_from_title("Celeste | Chapter 7 summit") == "Celeste"
    assert game_from_title("Elden_Ring_walkthrough_episode_4") == "Elden Ring"


def test_duplicates_across_files_are_dropped(tmp_path):
    line = "and he takes the lead on the final lap"
    report, records = corpus(tmp_path, {
        "one.txt": f"{line}\nshort one\n",
        "two.txt": f"{line.upper()}!\nshort one\nsomething new is said here now\n",
    })
    assert report.duplicates == 1
    assert texts(records).count("short one") == 2  # short lines recur honestly
    assert len(records) == 4


def test_bad_files_are_skipped_with_reasons_and_never_stop_the_rest(tmp_path):
    report, records = corpus(tmp_path, {
        "good.txt": "This one is fine.\n",
        "empty.vtt": "",
        "binary.srt": b"\x00\x01\x02PNG\x00",
        "latin1.txt": "caf\xe9 time\n".encode("latin-1"),
        "truncated.xml": '<transcript><text start="1" dur="2">cut of',
        "truncated.json": '[{"text": "a", "start": 1',
        "nocues.vtt": "WEBVTT\n\nNOTE nothing here\n",
        "novtt.vtt": "just some words\n",
        "music.srt": "1\n00:00:01,000 --> 00:00:02,000\n[Music]\n",
        "shape.json": '{"hello": 1}',
        "video.mp4": b"\x00\x00\x00\x18ftypmp42",
    })
    assert texts(records) == ["This one is fine.", "café time"]  # Latin-1 is read, not refused
    reasons = {path.rsplit("/", 1)[-1]: reason for path, reason in report.skipped}
    assert reasons == {
        "binary.srt": "binary file, not a transcript",
        "empty.vtt": "empty file",
        "music.srt": "no speech left after cleaning",
        "nocues.vtt": "WebVTT file has no cues",
        "novtt.vtt": "not WebVTT (no WEBVTT header)",
        "shape.json": "JSON is neither YouTube json3 ({'events': [...]}) nor a list of {text, start, duration}",
        "truncated.json": reasons["truncated.json"],
        "truncated.xml": reasons["truncated.xml"],
        "video.mp4": "not a transcript format (.mp4)",
    }
    assert reasons["truncated.json"].startswith("invalid JSON") and reasons["truncated.xml"].startswith("invalid XML")


def test_nothing_usable_is_an_error_and_leaves_the_old_corpus(tmp_path):
    out = tmp_path / "corpus.jsonl"
    out.write_text("old corpus\n")
    (tmp_path / "bad.vtt").write_text("nope")
    with pytest.raises(InputError, match="nothing to ingest"):
        ingest([tmp_path / "bad.vtt"], out)
    assert out.read_text() == "old corpus\n"


def test_clean_text():
    assert clean_text("Tom &amp;amp; Jerry &gt;&gt; Hey <font color='red'>you</font> [Laughter]") == "Tom & Jerry Hey you"
    assert clean_text("uh um hmm") == ""


def test_cli_on_the_shipped_sample(tmp_path):
    out = tmp_path / "corpus.jsonl"
    result = run_here("ingest", str(ROOT / "transcripts"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["game"] for r in records} == {"Doom", "Tetris", "Mario Kart 8 Deluxe"}
    assert "5 files" in result.stderr and "0 files skipped" in result.stderr
    assert not any("[Music]" in r["text"] or "♪" in r["text"] or ">>" in r["text"] for r in records)
    missing = run_here("ingest", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.jsonl"))
    assert missing.returncode == 2 and "nothing to ingest" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
