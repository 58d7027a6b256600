"""`ripple tune STATES...`: pairs the scorers label among the base's own candidates, the
canaries that check the labeller's sign before tuning and the model's during it, and the
LoRA adapter it saves (an ordinary model name afterwards).

The synthetic base's candidates are a faithful line per moment and copies of it broken
the ways the canaries break lines; the model is the tiny 512-token GPT-2 of tests/prefs.py."""

from __future__ import annotations

import json

import pytest

from ripple.curate import canaries as canary_checks
from ripple.curate import selftune
from ripple.curate.guards import GuardConfig, SignError
from ripple.grounding import Grounding
from ripple.state import Moment
from tests.conftest import run_here
from tests.prefs import EVENTS, small_gpt2

GOOD = ["{e}! What a moment that is.", "And there it is: {e}, right in front of us.",
        "{e}, and the crowd loves every second of it!"]
# Settings that make the tiny model learn within a few seconds: every weight tuned (a LoRA
# adapter of a random 2-layer model learns too little to measure), the KL bound far above
# what an honest run reaches (about 0.04 nats/token).
TUNE = dict(learning_rate=2e-3, max_steps=40, batch_size=4, eval_every=20, kl_coef=0.0, lora_rank=0,
            held_every=4, guards=GuardConfig(kl_bound=2.0, min_canaries=0.9))


def written_world(moments: int = 64) -> list[selftune.Written]:
    """Each moment: two faithful lines and two breakages of the first (of the kinds the canaries
    use, in turn), as the base's candidates."""
    out, previous = [], []
    for i in range(moments):
        game, event = EVENTS[i % len(EVENTS)]
        moment = Moment(game=game, time=float(3 * i), events=[event])
        good = [g.format(e=event) for g in GOOD[:2]] if i % 2 else [GOOD[2].format(e=event), GOOD[0].format(e=event)]
        broken = list(canary_checks.corruptions(good[0], moment, previous[-1:]).values())
        bad = [broken[i % len(broken)], broken[(i + 1) % len(broken)]]  # every kind taught, two per moment
        prompt = f'A {game} match is on.\nEvent: {event}.\nCommentator: "'
        out.append(selftune.Written(f"synthetic:{i}", moment, "play-by-play", prompt, previous[-1:], good + bad))
        previous.append(good[0])
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import torch

    from ripple.lm import models

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("selftune")
    model = small_gpt2(out / "tiny")
    yield {"out": out, "model": model, "lm": models.load(str(model)), "written": written_world()}
    torch.set_num_threads(threads)


def config(world, name: str, **changes) -> selftune.SelfTuneConfig:
    settings = dict(states=(world["out"] / "unused.yaml",), model=str(world["model"]), name=name,
                    out_root=world["out"] / "models", **TUNE)
    return selftune.SelfTuneConfig(**{**settings, **changes})


def test_every_canary_breaks_the_line_in_the_way_it_names():
    moment = Moment(game="Doom", time=12.0, events=["the player kills 3 Imps with the rocket launcher"])
    line = "Three Imps down with the rocket launcher, 3 in a row!"
    broken = canary_checks.corruptions(line, moment, ["The corridor is quiet for now."])
    assert set(broken) == {"invented number", "another game", "to the reader", "field name", "unfinished", "repeat"}
    expected = {"invented number": "unsupported number", "another game": "names another game",
                "to the reader": "speaks to the reader", "field name": "reads out a field name",
                "unfinished": "unfinished", "repeat": "repeats an earlier line"}
    grounding = Grounding.of(moment, ["The corridor is quiet for now."])
    assert not grounding.check(line).faults
    for kind, text in broken.items():
        faults = " ".join(grounding.check(text).faults)
        assert expected[kind] in faults, (kind, text, faults)


def test_pairs_put_a_clean_best_line_against_the_worst():
    w = written_world(1)[0]
    item = selftune.Labelled(w, ["clean", "also clean", "broken", "worse"], [0.9, 0.85, -0.3, -0.5],
                             [(), (), ("unfinished",), ("unfinished",)])
    pairs = selftune.label_pairs([item], min_margin=0.1)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [('clean"', 'worse"'), ('also clean"', 'broken"')]
    faulty_best = selftune.Labelled(w, ["broken", "worse"], [-0.3, -0.5], [("unfinished",), ("unfinished",)])
    assert selftune.label_pairs([faulty_best], 0.1) == []  # no faithful line, no pair
    close = selftune.Labelled(w, ["a", "b"], [0.9, 0.85], [(), ()])
    assert selftune.label_pairs([close], 0.1) == []  # a gap below the margin teaches nothing


def test_the_scorers_label_every_broken_copy_below_the_faithful_line(world):
    labelled = selftune.label(world["written"], world["lm"])
    for item in labelled:
        assert not item.faults[0] and all(item.faults[2:])  # the faithful lines first, every broken copy faulted
        assert item.labels[0] > max(item.labels[2:]) + 0.5


def test_tuning_moves_towards_faithful_lines(world):
    result = selftune.tune_written(config(world, "self"), world["written"], world["lm"])
    first, last = result.history[0], result.history[-1]
    assert result.preflight["canaries"]["fraction"] == 1.0
    assert first["agreement"] == 0.5 and last["agreement"] >= 0.65  # faithful lines above their broken copies
    assert last["reward"] > first["reward"] + 0.1 and last["kl"] < 2.0
    assert [h["step"] for h in result.history] == [0, 20, 40]
    folder = world["out"] / "models" / "self"
    assert (folder / "tune.png").read_bytes().startswith(b"\x89PNG")
    report = (folder / "report.md").read_text()
    assert "canary pairs with the faithful line ranked first | 100%" in report and "| 40 |" in report
    assert json.loads((folder / "ripple.json").read_text())["base"] == str(world["model"])
    card = (folder / "README.md").read_text()  # the model card, not PEFT's blank template
    assert "tuned on its own scorers' picks" in card and "More Information Needed" not in card
    from ripple.lm import models

    assert models.load(str(folder)).tokenizer is not None  # every weight tuned: a whole model, tokenizer and all


def test_a_lora_adapter_is_saved_and_loads_as_a_model(world):
    from ripple.lm import models
    from ripple.config import SamplingConfig
    from ripple.lm.sampling import encode_prompt, sample

    unguarded = GuardConfig(kl_bound=2.0, min_canaries=0.9, agreement_drop=1.0)  # two steps move nothing to judge
    selftune.tune_written(config(world, "adapter", lora_rank=8, max_steps=2, eval_every=2, guards=unguarded),
                          world["written"], world["lm"])
    folder = world["out"] / "models" / "adapter"
    assert (folder / "adapter_config.json").is_file() and not (folder / "config.json").exists()
    assert (folder / "adapter_model.safetensors").stat().st_size < 2_000_000  # small enough to ship in a repo
    assert models.resolve(str(folder)).kind == "adapter"
    lm = models.load(str(folder))  # merged into its base once, into the cache
    merged = models.merged_folder(folder)
    assert (merged / "config.json").is_file() and lm.folder == str(merged)
    assert lm.ripple_json["base"] == str(world["model"])
    assert len(sample(lm, encode_prompt(lm, 'Event: Imp killed.\nCommentator: "', room=8),
                      SamplingConfig(candidates=2, max_new_tokens=8), seed=0)) == 2


def test_shared_prompt_log_probs_equal_a_full_pass(world):
    """line_logprobs runs the prompt once for every line; the figures are those of one pass per line."""
    import os

    import torch

    from ripple.lm import models
    from ripple.curate.tune import line_logprobs

    policy = models.load_plain(str(world["model"])).model.eval()
    ref = models.load_plain(str(small_gpt2(world["out"] / "other", seed=1))).model.eval()
    tokenizer = world["lm"].tokenizer
    prompt = 'A Doom match is on.\nEvent: Imp killed.\nCommentator: "'
    texts = ["Imp killed! What a moment.", "and then", "Your story could use some improvement here, but imp killed!"]
    for text, (lp, lq, kl, n) in zip(texts, line_logprobs(policy, ref, tokenizer, prompt, texts, 512)):
        full = tokenizer(prompt + text + '"', add_special_tokens=False)["input_ids"]
        start = len(os.path.commonprefix([tokenizer(prompt, add_special_tokens=False)["input_ids"], full]))
        ids = torch.tensor([full])
        with torch.no_grad():
            a = torch.log_softmax(policy(ids).logits[0, :-1].float(), -1)[start - 1:]
            b = torch.log_softmax(ref(ids).logits[0, :-1].float(), -1)[start - 1:]
        target = ids[0, start:, None]
        assert n == len(full) - start
        assert lp == pytest.approx(float(a.gather(1, target).sum()), abs=1e-3)
        assert lq == pytest.approx(float(b.gather(1, target).sum()), abs=1e-3)
        assert kl == pytest.approx(float((a.exp() * (a - b)).sum()), abs=1e-3)


def test_a_labeller_whose_sign_is_flipped_is_refused_before_tuning(world, monkeypatch):
    honest = selftune.rank_lines
    monkeypatch.setattr(selftune, "rank_lines", lambda *args: [(t, -v, f) for t, v, f in honest(*args)][::-1])
    with pytest.raises(SignError, match=r"canary pairs the faithful line first .* their sign looks inverted"):
        selftune.tune_written(config(world, "flipped-labeller"), world["written"], world["lm"])
    assert not (world["out"] / "models" / "flipped-labeller").exists()


def test_labels_flipped_inside_tuning_stop_it(world, monkeypatch):
    """The labeller is right, the code that turns its ranking into labels flips them."""
    honest = selftune.label
    _, held = selftune.split(honest(world["written"], world["lm"]), TUNE["held_every"])
    found = canary_checks.canaries(held)

    def flipped(*args):
        return [selftune.Labelled(x.written, x.texts[::-1], [-v for v in x.labels[::-1]], [() for _ in x.texts])
                for x in honest(*args)]

    monkeypatch.setattr(selftune, "label", flipped)
    monkeypatch.setattr(selftune, "preflight", lambda *args: {"canaries": {"pairs": 0, "right": 0, "fraction": 1.0,
                                                                            "by_kind": {}}})
    monkeypatch.setattr(selftune, "canaries", lambda held: found)
    with pytest.raises(SignError, match=r"the reward climbed .* while agreement with the canaries .* fell .* the "
                                        r"reward's sign looks inverted \(the model is learning the broken lines\)"):
        selftune.tune_written(config(world, "flipped-labels"), world["written"], world["lm"])
    assert "Stopped" in (world["out"] / "models" / "flipped-labels.stopped" / "report.md").read_text()


def test_cli_refuses_bad_input_before_loading_a_model(tmp_path):
    for args, message in [
        (["tune", str(tmp_path / "missing.yaml")], "no such game-state file"),
        (["tune", "examples/doom.yaml", "--candidates", "1"], "--candidates: must be 2 to 64"),
        (["tune", "examples/doom.yaml", "--lora-rank", "-1"], "--lora-rank: must be 0"),
    ]:
        refused = run_here(*args)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr


def test_a_drift_without_a_kl_penalty_is_named_as_drift():
    from ripple.curate.guards import Watch

    with pytest.raises(SignError, match="with no KL penalty on: the model drifted too far"):
        Watch(GuardConfig(kl_bound=0.5), penalised=False).check(0, 0.0, 0.5, 0.7)
