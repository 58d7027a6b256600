"""What a moment supports, the faithfulness scorer's vetoes, and the number constraint."""

from __future__ import annotations

import pytest

from ripple.grounding import Grounding, numbers_in, stem, supported_numbers
from ripple.rank import RankContext, rank
from ripple.rank.base import Score
from ripple.rank.faithful import Faithfulness
from ripple.state import Moment

BARON = Moment(
    game="League of Legends", time=1710,
    scene="red side starts Baron, we come in from the top side river",
    events=["I Smite the Baron from 1,400 health, a Baron steal", "we ace them, 5 for 0", "gold lead is now 7,500"],
    numbers={"gold_diff": 7500, "kills_blue": 22, "boss_hp_pct": 0.62},
    facts=["Riot Games released League of Legends in October 2009"],
)


def check(text: str, previous=()):
    return Grounding.of(BARON, list(previous)).check(text)


def test_numbers_are_read_in_every_way_they_are_written():
    found = dict((w, v) for w, v in numbers_in("lead 1,500, boss at 62%, 1.5k gold, 2-1, twenty-one, "
                                               "fifteen hundred, third lap, one more, 3:12"))
    assert found == {"1,500": 1500, "62%": 62, "1.5k": 1500, "2": 2, "1": 1, "twenty-one": 21,
                     "fifteen hundred": 1500, "third": 3, "3": 3, "12": 12}


def test_a_moment_supports_its_written_numbers_its_fields_percentages_and_clock():
    supported = supported_numbers(BARON)
    assert {1400, 5, 0, 7500, 22, 2009, 62, 28, 30} <= supported  # 0.62 is also 62%; 1710 s is 28:30
    assert 9 not in supported and 1500 not in supported and 1710 not in supported  # seconds in all: no clock says it


def test_stems_match_tenses_plurals_and_possessives():
    assert stem("kills") == stem("killed") == stem("killing") == stem("kill")
    assert stem("Zombiemen") == stem("Zombieman") and stem("Baron's") == stem("baron") and stem("hitting") == "hit"


@pytest.mark.parametrize("text, fault", [
    ("We steal the Baron and,", "unfinished"),
    ("The Baron steal with 9 kills!", "unsupported number 9"),
    ("Seventeen kills for the blue side!", "unsupported number Seventeen"),
    ("A Baron steal worthy of Rocket League!", "names another game: Rocket League"),
    ("The gold_diff is huge after that Baron steal!", "reads out a field name: gold_diff"),
    ("You've created a truly magical Baron steal.", "speaks to the reader"),
    ("This part of the scene could use some improvement.", "speaks to the reader"),
])
def test_each_hard_fault_is_named(text, fault):
    faults = check(text).faults
    assert any(f.startswith(fault) for f in faults), faults


def test_a_faithful_line_has_no_fault_and_names_what_happened():
    result = check("He smites the Baron from 1,400 health and they ace them, 5 for 0!")
    assert result.faults == () and {"baron", "1,400", "5"} <= set(result.grounded) and result.happened
    assert not check("What a wonderful day for it!").happened
    assert not check("He is stealing the show today!").happened  # one word of an event is not enough
    assert check("He is stealing the show with that smite!").happened  # two are


def test_supported_numbers_in_other_spellings_are_not_faults():
    assert check("The gold lead is 7500 and the boss sat at 62%, 28:30 on the clock!").faults == ()
    assert check("Back in 2009 Riot gave us this game.").faults == ()


def test_the_game_being_played_and_games_in_the_moment_are_not_other_games():
    assert check("League of Legends at its finest, a Baron steal!").games == ()
    tetris = Moment(game="Tetris 99", events=["the player clears four lines"])
    assert Grounding.of(tetris).check("Tetris at its best, four lines!").games == ()
    assert Grounding.of(tetris).check("Super Mario could not clear four lines like that!").games == ("Super Mario",)


def test_repeating_an_earlier_line_is_a_fault_but_a_fresh_one_is_not():
    said = ["The Baron is stolen and the blue side roars!"]
    assert check("The Baron is stolen once again!", said).repeats
    assert check("The Baron is stolen and the blue side roars!", said).repeats
    assert not check("Five for zero, they ace the whole red side!", said).repeats


def test_names_the_moment_does_not_hold_are_found():
    assert check("Then Faker and Lee Sin smite the Baron!").names == ("Faker", "Lee", "Sin")
    assert check("Riot's Baron is stolen, October glory!").names == ()


def test_a_vetoed_line_never_outranks_a_clean_one_whatever_its_other_scores():
    texts = ["We steal the Baron with 9 kills!", "A quiet line about nothing much."]

    class Loved:  # a scorer that adores the faulty line
        name = "loved"

        def score(self, ctx, texts):
            return [Score(1.0, "loved"), Score(0.0, "hated")]

    ctx = RankContext(moment=BARON, prompt="")
    ranked = rank(texts, ctx, [Loved(), Faithfulness()], {"loved": 100.0, "faithfulness": 1.0})
    assert ranked[0].text == texts[1] and ranked[1].faults and ranked[1].total > ranked[0].total
    assert "unsupported number 9" in ranked[1].scores["faithfulness"].reason


def test_faithfulness_prefers_a_line_that_names_what_happened():
    texts = ["What a wonderful day for it!", "They ace them five for nothing after the Baron steal!"]
    scores = Faithfulness().score(RankContext(moment=BARON, prompt=""), texts)
    assert scores[1].value > scores[0].value and "names too little of what happened" in scores[0].reason


def test_a_batch_that_is_all_faults_is_drawn_again_and_said_so(tiny_lm, tmp_path):
    """A random model writes only broken lines: every moment draws its one extra batch, and
    commentary.json says that every candidate had a hard fault."""
    from ripple.generate import generate_commentary
    from ripple.config import GenerateConfig, SamplingConfig
    from tests.conftest import EXAMPLES

    def run(redraws: int):
        cfg = GenerateConfig(state_file=EXAMPLES / "doom.yaml", model=tiny_lm.spec.name, out_dir=tmp_path,
                             sampling=SamplingConfig(candidates=3, max_new_tokens=6, redraws=redraws))
        return generate_commentary(cfg, lm=tiny_lm)

    once, twice = run(0), run(1)
    assert [len(r.ranked) for r in once.results] == [3] * 4
    assert [len(r.ranked) for r in twice.results] == [6] * 4
    moment = twice.to_json()["moments"][0]
    assert moment["note"].startswith("every candidate had a hard fault") and "unfinished" in moment["note"]
    assert all(c["faults"] for c in moment["candidates"])


def test_redraws_are_bounded_before_any_model_loads(tmp_path):
    from ripple.generate import check_config
    from ripple.config import GenerateConfig, SamplingConfig
    from ripple.errors import InputError

    with pytest.raises(InputError, match="sampling.redraws"):
        check_config(GenerateConfig(state_file=tmp_path / "x.yaml", sampling=SamplingConfig(redraws=99)))


def test_a_number_said_beside_none_of_its_words_is_out_of_place():
    valorant = Moment(game="Valorant", events=["a 1v3 clutch with the Vandal; 14-12, we win the game"],
                      numbers={"kills": 25, "score_us": 14})
    grounding = Grounding.of(valorant)
    assert grounding.check("That is kill number 25 for him, and we win the game!").misplaced == ()
    assert grounding.check("We win the game 14-12 with the Vandal!").misplaced == ()
    assert grounding.check("He lands 25 headshots with the Vandal!").misplaced == ("25",)
    score = Faithfulness().score(RankContext(moment=valorant, prompt=""), ["He lands 25 headshots with the Vandal!"])[0]
    assert score.faults == () and score.value < 1 and "numbers said out of place: 25" in score.reason


@pytest.mark.parametrize("run_id", ["../x", "a/b", ".hidden", "x" * 101, ""])
def test_a_run_id_must_be_one_folder_name(tmp_path, run_id):
    from ripple.generate import check_config
    from ripple.config import GenerateConfig
    from ripple.errors import InputError

    with pytest.raises(InputError, match="run_id"):
        check_config(GenerateConfig(state_file=tmp_path / "x.yaml", out_dir=tmp_path, run_id=run_id))


def test_a_weight_must_be_finite():
    from ripple.config import DEFAULT_WEIGHTS
    from ripple.errors import InputError
    from ripple.rank import parse_weights

    for bad in ("relevance=nan", "relevance=inf"):
        with pytest.raises(InputError, match="finite"):
            parse_weights([bad], DEFAULT_WEIGHTS)


@pytest.mark.parametrize("field, value, flag", [
    ("candidates", 100_000_000, "sampling.candidates"), ("max_new_tokens", 10**20, "sampling.max_new_tokens")])
def test_runaway_sizes_are_refused_before_any_model_loads(tmp_path, field, value, flag):
    from dataclasses import replace

    from ripple.generate import check_config
    from ripple.config import GenerateConfig, SamplingConfig
    from ripple.errors import InputError

    with pytest.raises(InputError, match=flag):
        check_config(GenerateConfig(state_file=tmp_path / "x.yaml",
                                    sampling=replace(SamplingConfig(), **{field: value})))


def test_an_out_that_is_a_file_is_refused(tmp_path):
    from ripple.generate import check_config
    from ripple.config import GenerateConfig
    from ripple.errors import InputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="out_dir: .* is a file"):
        check_config(GenerateConfig(state_file=tmp_path / "x.yaml", out_dir=tmp_path / "file"))
