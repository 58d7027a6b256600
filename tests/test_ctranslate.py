"""The CTranslate2 backend (ripple/lm/ctranslate.py) on a tiny random-init GPT-2: converted
once, its candidates reproducible, and the log-probabilities it reports while writing
them the same as the torch model's for the same tokens, with and without a cached
shared beginning."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ripple.config import GenerateConfig, RankConfig, SamplingConfig

from tests.conftest import EXAMPLES, run_here

SAMPLING = SamplingConfig(candidates=3, max_new_tokens=10, temperature=1.0, top_k=0, top_p=1.0,
                          repetition_penalty=1.0)
SYSTEM = "You are a commentator. Say one short line about the moment.\n" * 6  # a long beginning shared by prompts


@pytest.fixture(scope="module")
def ct2_lm(tiny_gpt2, tiny_lm, tmp_path_factory, monkeypatch_module):
    """Converted into a cache of its own (so that conversion is seen to happen), which
    shares the GPT-2 tokenizer tiny_lm already rebuilt."""
    from ripple.lm import models

    cache = tmp_path_factory.mktemp("cache")
    (cache / "tokenizers").symlink_to(models.cache_root() / "tokenizers", target_is_directory=True)
    monkeypatch_module.setenv("RIPPLE_CACHE", str(cache))
    return models.load(str(tiny_gpt2), "fp32", "ctranslate2")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def torch_logprobs(tiny_lm, prompt_ids: list[int], tokens: list[int]) -> list[float]:
    import torch

    ids = torch.tensor([prompt_ids + tokens])
    with torch.inference_mode():
        logp = torch.log_softmax(tiny_lm.model(input_ids=ids).logits.float()[0], dim=-1)
    start = len(prompt_ids) - 1
    return [float(logp[start + i, t]) for i, t in enumerate(tokens)]


def test_conversion_is_cached_and_described(ct2_lm, tiny_lm, tiny_gpt2):
    from ripple.lm import ctranslate, models

    described = ct2_lm.describe()
    assert described["backend"] == "ctranslate2" and ct2_lm.model is None
    assert described["architecture"] == "GPT2LMHeadModel"
    assert described["parameters"] == tiny_lm.parameters  # counted from the safetensors header alone
    assert (ct2_lm.ct2.folder / "model.bin").is_file()
    written = (ct2_lm.ct2.folder / "model.bin").stat().st_mtime_ns
    again = models.load(str(tiny_gpt2), "fp32", "ctranslate2")
    assert again.ct2.folder == ct2_lm.ct2.folder
    assert (again.ct2.folder / "model.bin").stat().st_mtime_ns == written  # not converted twice
    assert ctranslate.converted_folder(tiny_gpt2, "int8", ct2_lm.ct2.folder.parent.parent) != ct2_lm.ct2.folder


def test_a_run_is_reproducible_from_its_seed(ct2_lm):
    """CTranslate2 seeds its sampling thread once, on its first draw: the same calls in the
    same order on a freshly loaded model give the same candidates; within one model each
    call draws afresh."""
    from ripple.lm import ctranslate
    from ripple.lm.sampling import encode_prompt, sample

    def run(lm):
        prompt = encode_prompt(lm, "Game: Doom. Health 40.\nCommentator: \"", room=SAMPLING.max_new_tokens)
        return [[c.raw for c in sample(lm, prompt, SAMPLING, seed=7)] for _ in range(2)]

    fresh = lambda: replace(ct2_lm, ct2=ctranslate.Ct2Model(ct2_lm.ct2.folder, "fp32"))  # noqa: E731
    first, again = run(fresh()), run(fresh())
    assert first == again
    assert first[0] != first[1]
    assert len(first[0]) == SAMPLING.candidates and all(first[0])


def test_two_lanes_writing_at_once_are_each_reproducible(ct2_lm):
    """Two lanes write at the same time from two threads; run again on a freshly loaded
    model, each lane gives the same candidates in the same order, whichever thread reached
    CTranslate2 first, and the two lanes draw differently."""
    import threading

    from ripple.lm import ctranslate
    from ripple.lm.sampling import encode_prompt, sample

    eos = ct2_lm.tokenizer.convert_ids_to_tokens(ct2_lm.tokenizer.eos_token_id)

    def run():
        lm = replace(ct2_lm, ct2=ctranslate.Ct2Model(ct2_lm.ct2.folder, "fp32"))
        lm.ct2.seed_lanes(2, 7, eos)
        assert lm.ct2.seeded == {(1, 0), (1, 1)}
        made: dict[int, list] = {0: [], 1: []}

        def lane(n):
            for i in range(3):
                prompt = encode_prompt(lm, SYSTEM + f"Game: Doom. Time 0:0{i}. Health {40 - i}.\nCommentator: \"",
                                       room=SAMPLING.max_new_tokens)
                made[n].append([c.raw for c in sample(lm, prompt, SAMPLING, seed=i, lane=n)])

        threads = [threading.Thread(target=lane, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return made

    first, again = run(), run()
    assert first == again
    assert first[0] != first[1]  # the same prompts, each lane its own draws
    assert all(len(c) == SAMPLING.candidates for calls in first.values() for c in calls)


def test_reported_logprobs_match_the_torch_model(ct2_lm, tiny_lm):
    """Each candidate's tokens, scored by the torch model given the whole prompt, have the
    log-probabilities CTranslate2 reported while writing them: for a prompt run in full
    and for one whose beginning came from the cached state of an earlier prompt."""
    from ripple.lm import ctranslate
    from ripple.lm.sampling import _stop_token_ids

    tok = ct2_lm.tokenizer
    line_ends = frozenset(_stop_token_ids(tok, False))
    stops = _stop_token_ids(tok, True)
    prompts = [tok(SYSTEM + f"Game: Doom. Time 0:0{i}. Health {40 - i}.\nCommentator: \"")["input_ids"]
               for i in range(3)]
    for i, ids in enumerate(prompts):
        made = ctranslate.sample(ct2_lm, ids, stops, line_ends, SAMPLING, seed=i, threads=1)
        if i == 0:
            assert ct2_lm.ct2.statics == []  # nothing to share with yet
        else:  # the shared system text, cut after its last newline
            (static,) = ct2_lm.ct2.statics
            assert ids[: len(static)] == static and static[-1] in line_ends
            assert tok.decode(static).endswith(SYSTEM)
        assert len(made) == SAMPLING.candidates
        for tokens, logprobs in made:
            assert len(tokens) == len(logprobs) > 0
            expected = torch_logprobs(tiny_lm, ids, tokens)
            assert logprobs == pytest.approx(expected, abs=2e-3)


def test_commentary_through_ctranslate2_ranks_on_reported_coherence(ct2_lm, tiny_lm, tmp_path):
    from ripple.generate import generate_commentary
    from ripple.rank.coherence import mean_logprobs
    from ripple.lm.sampling import encode_prompt

    cfg = GenerateConfig(state_file=EXAMPLES / "doom.yaml", model=ct2_lm.spec.name, backend="ctranslate2",
                         sampling=SamplingConfig(candidates=3, max_new_tokens=12),
                         rank=RankConfig(weights={"coherence": 1.0, "relevance": 0.0, "loops": 1.0, "length": 0.5}),
                         out_dir=tmp_path)
    run = generate_commentary(cfg, lm=ct2_lm)
    assert run.model["backend"] == "ctranslate2"
    assert len(run.results) >= 2
    for result in run.results:
        assert len(result.candidates) == 3 and result.line
        reported = {c.text: c.mean_logprob for c in result.candidates if c.text.strip()}
        for ranked in result.ranked:
            if ranked.text.strip():
                assert ranked.scores["coherence"].raw == pytest.approx(reported[ranked.text])
        # the same texts scored afresh (re-tokenised) by the torch model land near what was reported
        texts = list(reported)
        fresh = mean_logprobs(tiny_lm, encode_prompt(tiny_lm, result.prompt, room=64), texts)
        assert sum(abs(a - reported[t]) for a, t in zip(fresh, texts)) / len(texts) < 1.0


def test_each_token_is_heard_as_it_is_decoded(ct2_lm):
    from ripple.lm.sampling import encode_prompt, sample

    heard: dict[int, list[tuple[int, bool]]] = {}
    prompt = encode_prompt(ct2_lm, 'The commentator says: "', room=10)
    candidates = sample(ct2_lm, prompt, SamplingConfig(candidates=3, max_new_tokens=10), seed=2,
                        on_token=lambda i, tokens, done: heard.setdefault(i, []).append((len(tokens), done)))
    for index, candidate in enumerate(candidates):
        n = candidate.new_tokens
        assert heard[index] == [(k, k == n) for k in range(1, n + 1)]


def test_an_unknown_backend_is_one_line_before_any_model_loads(tmp_path):
    done = run_here("generate", str(EXAMPLES / "doom.yaml"), "--backend", "onnx", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--backend" in done.stderr and "ctranslate2" in done.stderr
    assert not any(Path(tmp_path).iterdir())


def test_on_token_can_stop_the_decoding(ct2_lm):
    from ripple.lm.sampling import encode_prompt, sample

    sampling = SamplingConfig(candidates=3, max_new_tokens=20)
    prompt = encode_prompt(ct2_lm, 'The commentator says: "', room=20)
    whole = sample(ct2_lm, prompt, sampling, seed=2)
    heard = []

    def stop_at_three(index, tokens, done):
        heard.append((index, len(tokens)))
        return len(tokens) == 3

    stopped = sample(ct2_lm, prompt, sampling, seed=2, on_token=stop_at_three)
    assert max(c.new_tokens for c in whole) > 3
    # every hypothesis stops, not only the one that asked; nothing is decoded after the step
    assert max(c.new_tokens for c in stopped) <= 3 and max(n for _, n in heard) == 3
    assert all(c.raw == ct2_lm.tokenizer.decode(ct2_lm.tokenizer(c.raw)["input_ids"]) for c in stopped)


def test_narration_writes_on_two_lanes_and_is_reproducible(ct2_lm, tmp_path):
    """narrate writes the moment likely next on a second lane while this one's line is
    placed; from the same seed, on a freshly loaded model, it writes the same lines."""
    from ripple.lm import ctranslate
    from tests.media import make_gameplay
    from tests.test_narrate import narrate_here

    clip = make_gameplay(tmp_path / "clip.mp4", seconds=8.0, size=(320, 180), bursts=(2.0, 5.0))

    def run(name):
        lm = replace(ct2_lm, ct2=ctranslate.Ct2Model(ct2_lm.ct2.folder, "fp32"))
        data = narrate_here(clip.path, tmp_path / name, lm, every=1.0)
        return lm, data

    (lm, first), (_, again) = run("a"), run("b")
    assert {lane for _, lane in lm.ct2.generators} == {0, 1}
    written = [m for m in first["moments"] if m["candidates"]]
    assert len(written) >= 3
    assert first["narrate"]["lines"] == again["narrate"]["lines"]
    assert [[c["text"] for c in m["candidates"]] for m in first["moments"]] == \
        [[c["text"] for c in m["candidates"]] for m in again["moments"]]


def test_live_warm_up_keeps_the_beginning_of_every_template(ct2_lm):
    """Before play, the live commentator reads each template `auto` may choose twice, so that
    CTranslate2 keeps each one's beginning as a computed state: the first kill's line does
    not pay for reading the hype template's examples."""
    from ripple.games.commentator import Commentator, CommentatorConfig, warm_up
    from ripple.lm.sampling import _stop_token_ids
    from ripple.state import MODES, Moment
    from ripple.voice import VoiceConfig

    ct2_lm.ct2.statics.clear()
    ct2_lm.ct2.recent.clear()
    c = Commentator(ct2_lm, CommentatorConfig(model=str(ct2_lm.spec.name), sampling=replace(SAMPLING, candidates=2),
                                              weights={"loops": 1.0, "length": 1.0},
                                              voice=VoiceConfig(backend="espeak-ng")))
    warm_up(c, Moment(game="Doom", time=0.0, scene="deadly corridor",
                      events=[{"text": "the game begins", "kind": "start"}]))
    assert len(ct2_lm.ct2.statics) == len(MODES) and c.spoken == []
    line_ends = frozenset(_stop_token_ids(ct2_lm.tokenizer, False))
    for mode in MODES:  # a moment of the game, later: its prompt begins with a kept state
        _, context = c._prompt(Moment(game="Doom", time=12.0, mode=mode, numbers={"health": 40},
                                      events=[{"text": "the player kills a Zombieman", "kind": "kill"}]))
        static, rest = ct2_lm.ct2.split(context.encoded.ids[0].tolist(), line_ends)
        assert len(static) > len(rest), mode
