"""The reward model and preference tuning, on a synthetic person with a known taste (lines
that name the moment's event win; see tests/prefs.py), and the sign guards: a reward model
whose sign is flipped is refused before tuning; a reward sign or a KL sign flipped inside
tuning is caught while it runs and named.

The models are tiny random GPT-2s with a 512-token byte-level vocabulary (small_gpt2):
GPT-2's full vocabulary makes every logit tensor 100 times larger, which is most of what
tuning costs on these 2-core machines."""

from __future__ import annotations

import json

import pytest

from ripple.curate import tune as tuning
from ripple.curate.guards import CANARIES, GuardConfig, SignError, Watch, canary_check, preflight
from ripple.curate.reward_model import RewardConfig, RewardModel, set_loss, train_reward
from ripple.errors import InputError
from tests.conftest import run_cli, run_here
from tests.prefs import EVENTS, judge_all, make_runs, small_gpt2

# Settings that make a tiny model move within a dozen steps; the KL bound sits between
# what an honest run reaches (about 0.04 nats/token) and what a flipped KL term does.
TUNE = dict(learning_rate=5e-3, max_steps=8, batch_size=4, eval_every=2, kl_coef=2.0, win_samples=2,
            max_new_tokens=10)
GUARDS = GuardConfig(kl_bound=0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """40 moments judged by the synthetic person, a tiny model, and a reward model trained on them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model's work is too small to split; two threads only contend
    out = tmp_path_factory.mktemp("learn")
    model = small_gpt2(out / "tiny")
    db = make_runs(out, runs=2, moments=20)
    judge_all(db)
    report = train_reward(RewardConfig(db=db, base=str(model), out=out / "models" / "reward", epochs=4,
                                       learning_rate=3e-3, seed=0))
    yield {"out": out, "db": db, "model": model, "reward": out / "models" / "reward", "report": report}
    torch.set_num_threads(threads)


def tune_config(world, name: str, **changes) -> tuning.TuneConfig:
    settings = dict(db=world["db"], model=str(world["model"]), reward_model=world["reward"], name=name,
                    out_root=world["out"] / "models", guards=GUARDS, **TUNE)
    return tuning.TuneConfig(**{**settings, **changes})


def test_the_loss_is_a_softmax_over_the_choices():
    import torch

    rewards = torch.tensor([2.0, 0.0, 1.0, 0.5, -1.0])  # a set of 3 and a pair
    expected = (-(torch.log_softmax(rewards[:3], 0)[2]) - torch.log(torch.sigmoid(rewards[3] - rewards[4]))) / 2
    assert float(set_loss(rewards, [3, 2], [2, 0])) == pytest.approx(float(expected))  # a pair: Bradley-Terry


def test_reward_model_learns_the_known_rule(world):
    report = world["report"]
    assert report.held_out.pairwise >= 0.75 and report.held_out.pairs >= 20  # chance is 0.5
    assert report.held_out.top1 >= 2 * report.held_out.chance_top1
    info = json.loads((world["reward"] / "reward.json").read_text())
    assert info["config"]["base"] == str(world["model"]) and info["metrics"]["held_out"]["pairwise"] == report.held_out.pairwise
    assert not set(info["train_moments"]) & set(info["held_out_moments"])
    reward = RewardModel.load(world["reward"])  # reloads from its folder
    game, event = EVENTS[3]
    lines = [f"{event}! What a moment that is.", "I had a bowl of soup for lunch earlier.", "go go go go go go go go go"]
    scores = reward.score([f"{event}. score 7."] * 3, lines)
    assert scores[0] > max(scores[1:])


def test_reward_scorer_ranks_with_people_s_taste(world):
    from ripple.config import RankConfig
    from ripple.rank import RankContext, build_scorers, parse_weights, rank
    from ripple.state import Moment

    weights = parse_weights(["reward=2"], {"length": 0.5})
    scorers = build_scorers(RankConfig(weights=weights, reward_model=str(world["reward"])))
    moment = Moment(game="Doom", events=["Imp killed"])
    texts = ["My cousin is moving to a new flat next week.", "Imp killed! What a moment that is.", ""]
    ranked = rank(texts, RankContext(moment=moment, prompt=""), scorers, weights)
    assert ranked[0].text == texts[1] and ranked[-1].text == ""
    assert "people's taste" in ranked[0].scores["reward"].reason and 0 <= ranked[0].scores["reward"].value <= 1
    with pytest.raises(InputError, match="reward_model: .*no reward model here"):
        build_scorers(RankConfig(weights=weights, reward_model=str(world["out"] / "nowhere")))


def test_preflight_refuses_a_reward_model_whose_sign_is_flipped(world, tmp_path):
    import torch

    reward = RewardModel.load(world["reward"])
    held = tuning._data(tune_config(world, "x"), reward)[0]
    checked = preflight(reward, held, GUARDS)  # the trained one passes
    assert checked["held_out"]["pairwise"] >= 0.75 and checked["canaries"]["fraction"] >= GUARDS.min_canaries
    with torch.no_grad():
        reward.model.score.weight.neg_()
    reward.info["mean"] = -reward.info["mean"]
    reward.save(tmp_path / "flipped")
    with pytest.raises(SignError, match=r"^the reward model ranks people's held-out picks .* its sign looks inverted"):
        tuning.tune(tune_config(world, "never", reward_model=tmp_path / "flipped"))
    assert not (world["out"] / "models" / "never").exists()


def test_preflight_refuses_a_reward_model_that_likes_canaries(world):
    """Right on people's picks, wrong on the obviously bad lines: refused too."""
    real = RewardModel.load(world["reward"])

    class LovesGibberish:
        def score(self, descriptions, texts):
            return [10.0 if t in CANARIES.values() else s for t, s in zip(texts, real.score(descriptions, texts))]

    held = tuning._data(tune_config(world, "x"), real)[0]
    assert canary_check(LovesGibberish(), held)["fraction"] == 0
    with pytest.raises(SignError, match=r"canary pairs the right way round .* sign looks inverted"):
        preflight(LovesGibberish(), held, GUARDS)


def test_watch_names_the_inverted_sign():
    honest = Watch(GuardConfig(kl_bound=0.5))
    for step, (r, a, kl) in enumerate([(0.0, 0.5, 0.0), (0.4, 0.7, 0.05), (0.9, 0.85, 0.1)]):
        honest.check(step, r, a, kl)
    watch = Watch(GuardConfig())
    watch.check(0, 0.0, 0.5, 0.0)
    watch.check(5, 0.3, 0.45, 0.01)  # agreement wobbles less than the drop: no verdict yet
    with pytest.raises(SignError, match="the reward's sign looks inverted"):
        watch.check(10, 0.6, 0.35, 0.02)
    with pytest.raises(SignError, match="KL term's sign looks inverted"):
        Watch(GuardConfig(kl_bound=0.5)).check(0, 0.0, 0.5, 0.7)


def test_tuning_moves_towards_people_and_reports(world):
    result = tuning.tune(tune_config(world, "tuned"))
    first, last = result.history[0], result.history[-1]
    assert first["agreement"] == 0.5 and last["agreement"] >= 0.75  # the implicit reward learnt people's picks
    assert last["reward"] > first["reward"] and last["kl"] < GUARDS.kl_bound
    assert [h["step"] for h in result.history] == [0, 2, 4, 6, 8]
    folder = world["out"] / "models" / "tuned"
    report = (folder / "report.md").read_text()
    assert "win rate" in report and "KL spent" in report and "canary pairs" in report
    assert (folder / "tune.png").read_bytes().startswith(b"\x89PNG")
    info = json.loads((folder / "ripple.json").read_text())
    assert info["base"] == str(world["model"]) and 0 <= info["metrics"]["win_rate"] <= 1
    from ripple.lm import models
    from ripple.config import SamplingConfig
    from ripple.lm.sampling import encode_prompt, sample

    lm = models.load(str(folder))  # the tuned model is an ordinary commentary model
    assert len(sample(lm, encode_prompt(lm, 'Event: Imp killed.\nCommentator: "', room=8),
                      SamplingConfig(candidates=2, max_new_tokens=8), seed=0)) == 2


def test_tuning_stops_when_the_reward_sign_flips_inside_it(world, monkeypatch):
    """The 2019 bug: the reward model is fine, the code that feeds tuning flips its sign."""
    honest = tuning.score_candidates
    monkeypatch.setattr(tuning, "score_candidates", lambda reward, pool: [-x for x in honest(reward, pool)])
    with pytest.raises(SignError, match=r"the reward climbed .* while agreement with people's held-out choices fell"
                                        r".* the reward's sign looks inverted"):
        tuning.tune(tune_config(world, "flipped-reward"))
    assert not (world["out"] / "models" / "flipped-reward").exists()
    assert "Stopped" in (world["out"] / "models" / "flipped-reward.stopped" / "report.md").read_text()


def test_tuning_stops_when_the_kl_sign_flips(world, monkeypatch):
    from ripple.curate import trainer

    honest = trainer.kl_penalty
    monkeypatch.setattr(trainer, "kl_penalty", lambda *args: -honest(*args))
    with pytest.raises(SignError, match=r"KL to the base model reached .* the KL term's sign looks inverted"):
        tuning.tune(tune_config(world, "flipped-kl"))
    assert not (world["out"] / "models" / "flipped-kl").exists()


def test_cli_refuses_bad_input_before_loading_anything(world, tmp_path):
    for args, message in [
        (["tune", "--db", str(world["db"]), "--reward-model", str(tmp_path)], "not a reward model"),
        (["tune", "--db", str(world["db"]), "--kl-coef", "-1"], "--kl-coef: must not be negative"),
        (["tune", "--db", str(world["db"]), "--lora-rank", "-1"], "--lora-rank: must be 0"),
    ]:
        refused = run_here(*args)
        assert refused.returncode == 2 and message in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
def test_cli_trains_a_reward_model(world, tmp_path):
    result = run_cli("reward", "train", "--db", str(world["db"]), "--base", str(world["model"]), "--out",
                     str(tmp_path / "rm"), "--epochs", "1", "--learning-rate", "3e-3")
    assert result.returncode == 0, result.stderr
    assert "held-out accuracy" in result.stderr and (tmp_path / "rm" / "reward.json").is_file()
    refused = run_cli("reward", "train", "--db", str(tmp_path / "none.db"))
    assert refused.returncode == 2 and "no such database" in refused.stderr


@pytest.mark.slow
def test_cli_tunes(world, tmp_path):
    result = run_cli("tune", "--db", str(world["db"]), "--model", str(world["model"]), "--reward-model",
                     str(world["reward"]), "--out", str(tmp_path), "--learning-rate", "5e-3", "--max-steps", "4",
                     "--eval-every", "2", "--kl-coef", "2", "--kl-bound", "0.1", "--win-samples", "1")
    assert result.returncode == 0, result.stderr
    assert "win rate over the base" in result.stderr and (tmp_path / "tuned" / "report.md").is_file()


@pytest.mark.slow
@pytest.mark.real_model
def test_reward_model_on_the_embedded_smollm2(smol_folder, tmp_path):
    """The default commentary model's backbone learns the same rule from the same picks."""
    db = make_runs(tmp_path, runs=1, moments=24, seed=3)
    judge_all(db, seed=3)
    report = train_reward(RewardConfig(db=db, base="smollm2-135m", out=tmp_path / "rm", epochs=3,
                                       learning_rate=5e-5, max_tokens=64, seed=0))
    assert report.held_out.pairwise >= 0.7
    assert json.loads((tmp_path / "rm" / "reward.json").read_text())["base"] == "smollm2-135m"
