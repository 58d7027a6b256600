"""Templates: choice per moment, every field visible, chat and transcript rendering, errors."""

from __future__ import annotations

import pytest

from ripple.errors import InputError
from ripple.lm.prompting import builtin_prompts_dir, choose_mode, find_template, render, split_turns, to_prompt
from ripple.state import Moment, load_moments
from tests.conftest import EXAMPLES

DOOM = load_moments(EXAMPLES / "doom.yaml")


def test_auto_mode_by_moment():
    assert [choose_mode(m) for m in DOOM] == ["colour", "play-by-play", "play-by-play", "hype"]
    assert choose_mode(Moment(game="x", events=[{"text": "y"}], mode="colour")) == "colour"


def test_builtin_templates_show_the_moment_and_previous_lines():
    moment = DOOM[2]
    turns = render(find_template("play-by-play", moment), moment, ["First line.", "Second line."])
    assert [t["role"] for t in turns][0] == "system" and turns[-1]["role"] == "user"
    last = turns[-1]["content"]
    for needle in ["Doom", "0:24", "dark zigzag room", "an Imp fireball hits the player", "health 38", "armor 71"]:
        assert needle in last
    # Earlier lines get a system turn of their own just before the moment: in the moment
    # itself a small model answers them, and ahead of the examples they would make every
    # prompt's beginning different (a model's state for that beginning is kept and reused).
    assert turns[-2]["role"] == "system"
    assert 'not to be repeated: "First line." "Second line."' in turns[-2]["content"]
    assert "First line" not in last and "First line" not in turns[0]["content"]
    alone = render(find_template("play-by-play", moment), moment, [])
    assert [t["role"] for t in alone] == [t["role"] for t in turns[:-2]] + ["user"]
    assert alone[:-1] == turns[:-2]  # the same beginning with or without earlier lines


def test_colour_template_shows_facts():
    turns = render(find_template("colour", DOOM[0]), DOOM[0], [])
    assert "John Carmack wrote the engine" in turns[-1]["content"]


def test_transcript_prompt_ends_in_open_quote_with_examples_quoted():
    turns = render(find_template("hype", DOOM[3]), DOOM[3], [])
    prompt = to_prompt(turns, tokenizer=None)
    assert prompt.endswith('\nCommentator: "')
    assert 'Commentator: "One against three' in prompt  # a shooter's example, for Doom
    assert prompt.index("excitable") < prompt.index("One against three") < prompt.index("exit switch")


@pytest.mark.real_model
def test_chat_prompt_goes_through_the_chat_template(smol_folder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smol_folder)
    prompt = to_prompt(render(find_template("hype", DOOM[3]), DOOM[3], []), tok)
    assert prompt.endswith('<|im_start|>assistant\n"')
    assert prompt.count("<|im_start|>user") == 3 and prompt.count("<|im_start|>assistant") == 3
    assert '<|im_start|>assistant\n"One against three' in prompt
    assert prompt.index("excitable") < prompt.index("One against three") < prompt.index("exit switch")


def test_per_game_template_wins(tmp_path, monkeypatch):
    root = tmp_path / "prompts"
    (root / "doom").mkdir(parents=True)
    (root / "doom" / "hype.j2").write_text("[user]\nDOOM HYPE {{ game }}")
    (root / "hype.j2").write_text("[user]\ngeneric")
    monkeypatch.setattr("ripple.lm.prompting.builtin_prompts_dir", lambda: root)
    assert find_template("hype", DOOM[3]).path == root / "doom" / "hype.j2"
    assert render(find_template("hype", DOOM[3]), DOOM[3], [])[-1]["content"] == "DOOM HYPE Doom"


def test_own_template_without_sections_is_used_as_it_is(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text("{{ game }} at {{ clock }}: {{ numbers.health }} health, {{ events[0].text }}.\nSay: \"")
    turns = render(find_template(str(path), DOOM[2]), DOOM[2], [])
    assert to_prompt(turns, None) == 'Doom at 0:24: 38 health, an Imp fireball hits the player.\nSay: "'


def test_own_template_can_include_the_moment_block(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text('[user]\n{% include "_moment.j2" %}')
    assert "Numbers: health 38" in render(find_template(str(path), DOOM[2]), DOOM[2], [])[-1]["content"]


def test_template_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.j2"
    bad.write_text("[user]\nline two\n{% if game %}\n")
    with pytest.raises(InputError, match=rf"^{bad}:\d+: template syntax error"):
        render(find_template(str(bad), DOOM[0]), DOOM[0], [])
    unknown = tmp_path / "unknown.j2"
    unknown.write_text("[user]\n{{ helth }}")
    with pytest.raises(InputError, match="unknown field.*helth"):
        render(find_template(str(unknown), DOOM[0]), DOOM[0], [])
    ends_with_assistant = tmp_path / "a.j2"
    ends_with_assistant.write_text("[user]\nhi\n[assistant]\nhello")
    with pytest.raises(InputError, match="last section must be"):
        render(find_template(str(ends_with_assistant), DOOM[0]), DOOM[0], [])


def test_missing_template_file():
    with pytest.raises(InputError, match="no such template file"):
        find_template("nope.j2", DOOM[0])


def test_split_turns():
    assert split_turns("[system]\nbe brief\n[user]\nhi\n") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert builtin_prompts_dir().name == "prompts"


def test_numbers_are_spoken_as_a_commentator_says_them():
    from ripple.state import spoken_number

    assert spoken_number("gold_diff", 2800) == "gold difference 2,800"
    assert spoken_number("boss_hp_pct", 62) == "boss HP 62%"
    assert spoken_number("splitDelta", 1.25) == "split Delta 1.25"
    assert spoken_number("kills", 4) == "kills 4"
    moment = Moment(game="Dota 2", events=["Roshan falls"], numbers={"gold_diff": 12500, "boss_hp%": 3})
    last = render(find_template("play-by-play", moment), moment, [])[-1]["content"]
    assert "Numbers: gold difference 12,500, boss HP 3%." in last and "gold_diff" not in last


@pytest.mark.parametrize("game, genre", [
    ("EA Sports FC 25", "sports"), ("Street Fighter 6", "fighting"), ("Mario Kart 8 Deluxe", "racing"),
    ("League of Legends", "moba"), ("Tetris 99", "puzzle"), ("Elden Ring", "action"), ("Doom", "shooter"),
    ("Some Indie Game", None),
])
def test_a_games_genre_comes_from_its_name(game, genre):
    from ripple.lm.prompting import genre_of

    assert genre_of(Moment(game=game)) == genre


def test_genre_comes_from_the_moment_or_its_events_when_the_name_says_nothing():
    from ripple.lm.prompting import genre_of

    assert genre_of(Moment(game="Some Indie Game", genre="racing")) == "racing"
    assert genre_of(Moment(game="Some Indie Game", events=["a late goal from the striker"])) == "sports"
    with pytest.raises(Exception, match="genre"):
        Moment(game="x", genre="knitting")


@pytest.mark.parametrize("mode", ["play-by-play", "hype", "colour"])
def test_no_example_can_leak_another_games_name(mode):
    """Every genre's examples, shown for a game of that genre: the prompt names no game
    but the one being played, and shows the genre's own examples."""
    from ripple.grounding import KNOWN_GAMES
    from ripple.state import GENRES

    for genre in GENRES:
        moment = Moment(game="Quiet Harbour", genre=genre, events=["the player wins"], facts=["made in 2020"])
        prompt = to_prompt(render(find_template(mode, moment), moment, []))
        assert [t for t in KNOWN_GAMES if t in prompt] == [], (genre, mode)
        assert prompt.count("Game: Quiet Harbour.") >= 3  # two examples and the moment itself


def test_an_unknown_genre_gets_the_templates_own_example():
    moment = Moment(game="Quiet Harbour", events=["the player wins"])
    prompt = to_prompt(render(find_template("play-by-play", moment), moment, []))
    assert "He wins the fight and takes the lead" in prompt
