"""The number constraint and the name bias, on both backends.

A tiny random Llama with SmolLM2's tokenizer (one digit per token, as the default model
writes numbers), whose output layer favours digits and spaces: left alone it writes
numbers no moment holds, so the constraint has something to stop.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ripple.config import SamplingConfig
from ripple.lm.constraints import Guard, name_bias
from ripple.state import Moment

MOMENT = Moment(game="Doom", events=["the Imp hits the player, health drops to 38"],
                numbers={"health": 38, "armor": 71, "ammo": 130})
SAMPLING = SamplingConfig(candidates=16, max_new_tokens=24, temperature=1.0, top_k=0, top_p=1.0,
                          repetition_penalty=1.0)


@pytest.fixture(scope="module")
def digit_llama(smol_tokenizer, tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = smol_tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # only digits, spaces and a few words can win; the rest sit at logit 0
        weight = torch.zeros_like(model.lm_head.weight)
        favoured = tok.convert_tokens_to_ids([*"0123456789", "Ġ", "Ġtwo", "Ġseven", "Ġhealth", "ĠImp"])
        weight[favoured] = torch.randn(len(favoured), config.hidden_size) * 4
        model.lm_head.weight.copy_(weight)
    folder = tmp_path_factory.mktemp("digit-llama")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


SPELLINGS = {"38", "71", "130"}


def runs(texts: list[str], after_space: bool = False) -> list[str]:
    """Every run of digits written (glued to a word or not), or only those after a space."""
    pattern = r"(?<= )\d[\d,]*" if after_space else r"\d[\d,]*"
    return [r.rstrip(",") for t in texts for r in re.findall(pattern, t)]


def finished(text: str) -> str:
    """The text without a number it was still writing when the token budget ran out."""
    return re.sub(r"[\d,]+$", "", text)


def write(lm, guard):
    from ripple.lm.sampling import encode_prompt, sample

    encoded = encode_prompt(lm, "Commentator: \"", room=SAMPLING.max_new_tokens)
    return [c.raw for c in sample(lm, encoded, SAMPLING, seed=3, guard=guard)]


@pytest.mark.parametrize("backend", ["transformers", "ctranslate2"])
def test_numbers_the_moment_does_not_hold_cannot_be_sampled(digit_llama, backend):
    from ripple.lm import models

    lm = models.load(str(digit_llama), "fp32", backend)
    free = write(lm, None)
    assert len([r for r in runs(free) if r not in SPELLINGS]) >= 10  # left alone, it invents numbers
    assert any(w in t for t in free for w in (" two", " seven"))
    guarded = write(lm, Guard.for_moment(lm.tokenizer, MOMENT))
    assert not any(w in t for t in guarded for w in (" two", " seven"))  # 2 and 7 are not the moment's
    assert set("".join(runs(guarded))) <= set("130871")  # no digit that none of its numbers has
    # after a space, every number is the start of one the moment holds, digit by digit
    assert [r for r in runs(guarded, after_space=True) if not any(s.startswith(r) for s in SPELLINGS)] == []
    assert set("".join(runs(free))) - set("130871")  # which it did write when left alone
    if backend == "transformers":  # anywhere, and finished (CTranslate2 cannot make a number go on)
        assert set(runs([finished(t) for t in guarded])) <= SPELLINGS
        assert set(runs(guarded)) & SPELLINGS  # the moment's own numbers can still be said


def test_the_mask_follows_the_number_being_written(smol_tokenizer):
    tok = smol_tokenizer
    guard = Guard.for_moment(tok, MOMENT)
    digit = dict(zip("0123456789", tok.convert_tokens_to_ids(list("0123456789"))))
    starts = {d for d, i in digit.items() if i not in guard.banned(None)}
    assert starts == {"3", "7", "1"}  # the first digits of 38, 71 and 130
    after_3 = {d for d, i in digit.items() if i not in guard.banned(guard.advance(None, digit["3"]))}
    assert after_3 == {"8"}
    state = None
    for d in "130":
        state = guard.advance(state, digit[d])
    assert all(i in guard.banned(state) for i in digit.values())  # 130 is complete: no digit may follow
    assert guard.advance(state, tok.convert_tokens_to_ids("Ġhealth")) is None
    width = len(tok)
    unfinished = guard.mask(guard.advance(None, digit["1"]), width)  # '1' of '130' must be finished
    assert not unfinished[digit["3"]] and unfinished[tok.convert_tokens_to_ids("Ġhealth")]
    assert not guard.mask(None, width)[tok.convert_tokens_to_ids("Ġhealth")]


def test_the_suppressed_sequences_spell_the_same_rule(smol_tokenizer):
    tok = smol_tokenizer
    sequences = {tuple(s) for s in Guard.for_moment(tok, MOMENT).suppress_sequences()}
    assert ("5",) in sequences and ("Ġtwo",) in sequences  # no supported number holds a 5; 2 is not supported
    assert ("Ġ", "8") in sequences and ("Ġ", "3") not in sequences  # 8 starts none; 3 starts 38
    assert ("Ġ", "3", "0") in sequences and ("Ġ", "3", "8") not in sequences
    assert ("Ġ", "3", "8", "0") in sequences  # 380 is not 38
    assert ("Ġ", "1", ".", "3") in sequences and ("Ġ", "1", ",", "3") in sequences  # 1.3 and 1,3 are not 130
    assert ("Ġ", "1", "3") not in sequences


def test_names_of_the_moment_are_favoured_by_their_first_token(smol_tokenizer):
    tok = smol_tokenizer
    bias = name_bias(tok, Moment(game="Doom", events=["a Zombieman falls to the Shotgun"]))
    favoured = {tok.decode([i]).strip() for i in bias}
    assert "Shot" in favoured  # ' Shotgun' begins ' Shot'
    assert "Do" not in favoured  # ' Doom' begins ' Do', which far more words share than the name
