"""Ripple's own decoding step (ripple/lm/decoder.py) against transformers' forward, on a tiny
random-init Llama saved with the default's tokenizer: the same logits step after step, with
rows leaving the batch, at every precision; the models it must leave to transformers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory, smol_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smol_tokenizer), hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rope_theta=10000.0, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # norms away from 1, so that folding them into the next layer is tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    smol_tokenizer.save_pretrained(folder)
    return folder


def _reference(lm, prompt_ids, rows_tokens):
    """transformers' own next-token logits for each row: prompt + that row's tokens, in one pass."""
    with torch.inference_mode():
        return torch.stack([lm.model(input_ids=torch.tensor([prompt_ids + toks])).logits[0, -1].float()
                            for toks in rows_tokens])


def _decode(lm, prompt_ids, steps: int, n: int, drop_at: int, seed: int = 0):
    """Step the decoder `steps` times from `prompt_ids` over n rows of random tokens, dropping
    row 1 after step `drop_at`; yields (the rows' tokens so far, the decoder's logits)."""
    from ripple.lm.sampling import encode_prompt

    encoded = encode_prompt(lm, lm.tokenizer.decode(prompt_ids), room=steps)
    assert encoded.ids[0].tolist() == prompt_ids
    batch = lm.decoder.start(encoded.cache, n, steps)
    generator = torch.Generator().manual_seed(seed)
    made = [[] for _ in range(n)]
    tokens = torch.tensor([prompt_ids[-1]] * n)
    alive = list(range(n))
    with torch.inference_mode():
        for step in range(steps):
            logits = batch.step(tokens).float()
            yield [made[row] for row in alive], logits
            tokens = torch.randint(0, 1000, (len(alive),), generator=generator)
            for row, token in zip(alive, tokens.tolist()):
                made[row].append(token)
            if step == drop_at:
                keep = torch.tensor([i for i, row in enumerate(alive) if row != 1])
                batch.keep(keep)
                alive, tokens = [alive[i] for i in keep.tolist()], tokens[keep]


@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("bf16", 0.05), ("int8", 0.5)])
def test_the_decoder_gives_transformers_logits_step_after_step(tiny_llama, precision, tolerance):
    from ripple.lm import kernels, models

    if precision == "bf16" and not kernels.bf16_supported():
        pytest.skip("this CPU has no native bf16")
    lm = models.load(str(tiny_llama), precision)
    assert lm.decoder is not None and lm.precision == precision
    plain = models.load(str(tiny_llama), "fp32") if precision != "fp32" else lm
    prompt = lm.tokenizer("Time 0:12. The Imp throws a fireball and the player strafes left")["input_ids"]
    worst, rows_seen = 0.0, set()
    for rows_tokens, logits in _decode(lm, prompt, steps=7, n=4, drop_at=2):
        reference = _reference(plain, prompt, rows_tokens)
        assert logits.shape == reference.shape
        worst = max(worst, float((logits - reference).abs().max()))
        rows_seen.add(len(rows_tokens))
    assert rows_seen == {4, 3}  # the row dropped after step 2 left the batch
    assert worst < tolerance, f"{precision}: logits differ from transformers' by {worst}"


def test_bf16_is_fp32_to_within_rounding_and_int8_is_rougher(tiny_llama):
    """The precisions' order as the README states it: bf16 nearer fp32 than int8 is."""
    from ripple.lm import kernels, models

    if not kernels.bf16_supported():
        pytest.skip("this CPU has no native bf16")
    prompt = models.load(str(tiny_llama), "fp32").tokenizer("The striker cuts inside and shoots")["input_ids"]
    last = {p: list(_decode(models.load(str(tiny_llama), p), prompt, steps=3, n=2, drop_at=99))[-1][1]
            for p in ("fp32", "bf16", "int8")}
    kl = {p: float(torch.nn.functional.kl_div(last[p].log_softmax(-1), last["fp32"].log_softmax(-1),
                                              log_target=True, reduction="batchmean")) for p in ("bf16", "int8")}
    assert kl["bf16"] < kl["int8"]


def test_sampling_through_the_decoder_reports_each_lines_log_probability(tiny_llama):
    """The coherence scorer takes these instead of a second pass: they must be the model's own."""
    from ripple.config import SamplingConfig
    from ripple.lm import models
    from ripple.lm.sampling import encode_prompt, sample
    from ripple.rank.coherence import mean_logprobs

    lm = models.load(str(tiny_llama), "fp32")
    encoded = encode_prompt(lm, "Commentator: The Imp throws a fireball and", room=12)
    candidates = sample(lm, encoded, SamplingConfig(candidates=4, max_new_tokens=12, temperature=1.0), seed=3)
    lines = [c for c in candidates if c.text.strip()]
    assert lines and all(c.mean_logprob is not None and c.mean_logprob < 0 for c in lines)
    measured = mean_logprobs(lm, encoded, [c.text for c in lines])
    # Re-tokenising a line can split it differently from how it was sampled; most agree closely.
    close = sum(abs(m - c.mean_logprob) < 0.05 for m, c in zip(measured, lines))
    assert close >= len(lines) // 2


def test_the_decoder_is_reproducible_for_a_seed(tiny_llama):
    from ripple.config import SamplingConfig
    from ripple.lm import models
    from ripple.lm.sampling import encode_prompt, sample

    lm = models.load(str(tiny_llama), "fp32")
    cfg = SamplingConfig(candidates=3, max_new_tokens=10, temperature=1.0)
    encoded = encode_prompt(lm, "Play-by-play: the ball goes wide and", room=10)
    assert [c.raw for c in sample(lm, encoded, cfg, seed=5)] == [c.raw for c in sample(lm, encoded, cfg, seed=5)]


def test_other_architectures_keep_transformers_step(tiny_gpt2):
    from transformers import LlamaConfig

    from ripple.lm import decoder, models

    assert models.load(str(tiny_gpt2)).decoder is None
    assert decoder.unsupported(LlamaConfig()) is None
    assert "bias" in decoder.unsupported(LlamaConfig(attention_bias=True))
    assert "activation" in decoder.unsupported(LlamaConfig(hidden_act="gelu"))


def test_precision_auto_and_bf16_are_resolved_or_refused(tiny_llama):
    from ripple.errors import ModelError
    from ripple.lm import kernels, models

    expected = "bf16" if kernels.bf16_supported() else "fp32"
    assert models.resolve_precision("auto") == expected
    assert models.resolve_precision("auto", "ctranslate2") == "fp32"
    assert models.load(str(tiny_llama)).precision == expected  # the default is auto
    with pytest.raises(ModelError, match="bf16 runs with --backend transformers"):
        models.load(str(tiny_llama), "bf16", "ctranslate2")


def test_a_one_token_prompt_decodes_from_an_empty_cache(tiny_llama):
    """A prompt of one token leaves nothing for the prompt pass to run: the step starts bare."""
    from ripple.config import SamplingConfig
    from ripple.lm import models
    from ripple.lm.sampling import encode_prompt, sample

    lm = models.load(str(tiny_llama), "fp32")
    encoded = encode_prompt(lm, "Hi", room=6)
    assert encoded.ids.shape[1] == 1
    candidates = sample(lm, encoded, SamplingConfig(candidates=2, max_new_tokens=6, temperature=1.0), seed=1)
    assert len(candidates) == 2 and all(c.new_tokens >= 1 for c in candidates)
    (token,) = encoded.ids[0].tolist()
    with torch.inference_mode():
        first = lm.decoder.start(encoded.cache, 1, 2).step(torch.tensor([token]))[0]
        reference = lm.model(input_ids=torch.tensor([[token]])).logits[0, -1]
    assert float((first - reference).abs().max()) < 1e-4


def test_lines_longer_than_the_first_room_grow_the_buffers(tiny_llama, monkeypatch):
    """Room is set aside for FIRST_ROOM steps; a longer run doubles it without changing a logit."""
    from ripple.lm import decoder, models

    monkeypatch.setattr(decoder, "FIRST_ROOM", 2)
    lm = models.load(str(tiny_llama), "fp32")
    prompt = lm.tokenizer("The Baron goes down and the team runs to mid")["input_ids"]
    worst = 0.0
    for rows_tokens, logits in _decode(lm, prompt, steps=7, n=3, drop_at=4):
        worst = max(worst, float((logits - _reference(lm, prompt, rows_tokens)).abs().max()))
    assert worst < 1e-4
