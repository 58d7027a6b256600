"""Game-state files: every shipped example loads; every kind of bad file is one clear error."""

from __future__ import annotations

import json
import os
import time

import pytest

from ripple.errors import InputError
from ripple.reading import MAX_STATE_FILE_BYTES
from ripple.state import load_moments
from tests.conftest import EXAMPLES


@pytest.mark.parametrize("name", ["doom.yaml", "tetris.json", "kart-race.yaml", "football.jsonl"])
def test_examples_load(name):
    moments = load_moments(EXAMPLES / name)
    assert len(moments) >= 3
    assert all(m.game for m in moments)


def test_timeline_fields_are_inherited_and_events_normalised():
    moments = load_moments(EXAMPLES / "doom.yaml")
    assert {m.game for m in moments} == {"Doom"}
    assert "id Software" in moments[0].facts[0]
    assert moments[1].time == 11.0  # "0:11"
    assert moments[1].events[0].text.startswith("the player kills both Zombiemen")
    assert moments[2].numbers["health"] == 38


def test_event_objects_and_clock_strings(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"game": "G", "time": "1:02:03", "events": [{"text": "x", "time": "0:05", "kind": "k"}]}))
    (moment,) = load_moments(path)
    assert moment.time == 3723.0
    assert moment.events[0].time == 5.0 and moment.events[0].kind == "k"
    assert moment.clock() == "62:03"


def test_a_list_of_moments(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- {game: A, scene: one}\n- {game: B, scene: two}\n")
    assert [m.game for m in load_moments(path)] == ["A", "B"]


def error_of(path) -> str:
    with pytest.raises(InputError) as info:
        load_moments(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "d.yaml").mkdir()
    assert "is a folder" in error_of(tmp_path / "d.yaml")


def test_unknown_suffix(tmp_path):
    path = tmp_path / "state.txt"
    path.write_text("game: x")
    assert "unknown file type '.txt'" in error_of(path)


def test_unreadable_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nmoments:\n  - scene: a\n   time: [1, 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}:4:") and "invalid YAML" in message


def test_truncated_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"game": "Doom",\n "moments": [\n  {"scene": "a"},\n')
    message = error_of(path)
    assert message.startswith(f"{path}:4:") and "invalid JSON" in message


def test_jsonl_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"game": "A"}\n\n{"game": "B", \n')
    assert error_of(path).startswith(f"{path}:3: invalid JSON")


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"game": "A"}\n[1, 2]\n')
    assert error_of(path) == f"{path}:2: expected a moment (a JSON object), got list"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("\n\n")
    assert "the file is empty" in error_of(path)


def test_empty_timeline(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("game: Doom\nmoments: []\n")
    assert error_of(path) == f"{path}: the timeline has no moments"


def test_wrong_type_names_line_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nmoments:\n  - scene: a\n  - scene: b\n    numbers:\n      health: lots\n")
    message = error_of(path)
    assert message.startswith(f"{path}:6: moments[1].numbers.health")
    assert "'lots'" in message


def test_wrong_type_in_json_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "game": "Doom",\n  "time": "soon"\n}\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: time") and "'soon'" in message


def test_numbers_are_strict(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nnumbers: {health: '34'}\n")
    assert "numbers.health" in error_of(path)


def test_missing_game(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("moments:\n  - scene: a\n")
    message = error_of(path)
    assert message.startswith(f"{path}:2: moments[0].game: required field is missing")


def test_unknown_field_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nscnee: typo\n")
    message = error_of(path)
    assert message.startswith(f"{path}:2: scnee: unknown field")


def test_unknown_timeline_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nmoment: []\nmoments: [{scene: a}]\n")
    assert error_of(path).startswith(f"{path}:2: moment: unknown timeline field")


def test_top_level_scalar(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("42\n")
    assert "expected a moment, a list of moments or a timeline, got int" in error_of(path)


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("game: Doom\nscene: caf\u00e9\n".encode("latin-1"))
    assert error_of(path) == f"{path}:2: not UTF-8 text (byte 0xe9)"


def test_a_file_of_gigabytes_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:  # sparse: no disk is used
        f.truncate(3 * 2**30)
    message = error_of(path)
    assert "3,072 MiB" in message and f"limited to {MAX_STATE_FILE_BYTES // 2**20} MiB" in message


def test_intensity_out_of_range(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("game: Doom\nintensity: 3\n")
    assert error_of(path).startswith(f"{path}:2: intensity")


@pytest.mark.parametrize("body, says", [
    ("game: Doom\ntime: .inf\n", "time"),
    ("game: Doom\nnumbers: {health: .nan}\n", "numbers.health"),
    ("game: Doom\nnumbers: {health: 1e999}\n", "numbers.health"),
    ("game: Doom\nintensity: .nan\n", "intensity"),
])
def test_numbers_must_be_finite(tmp_path, body, says):
    path = tmp_path / "s.yaml"
    path.write_text(body)
    assert says in error_of(path)


def test_json_nan_and_infinity_are_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"game": "Doom", "time": Infinity, "numbers": {"hp": NaN}}')
    assert "time" in error_of(path)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\ngame: Doom\nscene: *i\n")
    started = time.monotonic()
    message = error_of(path)
    assert time.monotonic() - started < 5 and "expands to more than" in message


def test_many_aliases_are_refused(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("x: &x 1\nl: [" + ", ".join(["*x"] * 1500) + "]\ngame: Doom\n")
    assert "aliases" in error_of(path)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deep_nesting_is_refused(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"game": "Doom", "numbers": ' + "[" * 5000 + "]" * 5000 + "}")
    assert "nested too deeply" in error_of(path)


def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert "not a regular file" in error_of(path)


@pytest.mark.parametrize("name, body, says", [
    ("s.yaml", "game: Doom\nscene: a\nscene: b\n", ":3: invalid YAML: 'scene' is given twice"),
    ("s.json", '{"game": "Doom", "game": "Quake"}', "'game' is given twice"),
    ("s.jsonl", '{"game": "Doom"}\n{"game": "Doom", "time": 1, "time": 2}\n', ":2: invalid JSON: 'time' is given twice"),
])
def test_a_key_given_twice_is_refused(tmp_path, name, body, says):
    path = tmp_path / name
    path.write_text(body)
    assert says in error_of(path)


def test_long_strings_are_refused_with_their_limit(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("game: " + "D" * 5_000_000 + "\n")
    message = error_of(path)
    assert "game" in message and "200" in message and len(message) < 300


def test_too_many_moments_are_refused_with_the_limit(tmp_path):
    from ripple.state import MAX_MOMENTS

    path = tmp_path / "many.jsonl"
    path.write_text('{"game": "Doom"}\n' * (MAX_MOMENTS + 1))
    assert f"at most {MAX_MOMENTS:,}" in error_of(path)
    listed = tmp_path / "many.json"
    listed.write_text(json.dumps([{"game": "Doom"}] * (MAX_MOMENTS + 1)))
    assert f"at most {MAX_MOMENTS:,}" in error_of(listed)


def test_a_person_who_needs_more_moments_raises_the_limit(tmp_path, monkeypatch):
    from ripple.state import MAX_MOMENTS

    listed = tmp_path / "many.json"
    listed.write_text(json.dumps([{"game": "Doom"}] * (MAX_MOMENTS + 1)))
    assert "raise RIPPLE_MAX_MOMENTS" in error_of(listed)
    monkeypatch.setenv("RIPPLE_MAX_MOMENTS", str(MAX_MOMENTS + 1))
    assert len(load_moments(listed)) == MAX_MOMENTS + 1
    monkeypatch.setenv("RIPPLE_MAX_MOMENTS", "lots")
    assert "RIPPLE_MAX_MOMENTS: 'lots' is not a whole number" in error_of(listed)
    monkeypatch.setenv("RIPPLE_MAX_STATE_MB", "1")
    monkeypatch.delenv("RIPPLE_MAX_MOMENTS")
    big = tmp_path / "big.yaml"
    big.write_text("game: Doom\nscene: " + "x" * 1000 + "\n" + "# padding\n" * 200_000)
    assert "limited to 1 MiB (RIPPLE_MAX_STATE_MB raises it)" in error_of(big)
