"""`ripple train` on a tiny random-init GPT-2: loss falls, resume matches, the folder is usable."""

from __future__ import annotations

import json

import pytest

from ripple.errors import InputError
from ripple.lm.train import TrainConfig, document, split_sources, train
from tests.conftest import EXAMPLES, run_here

LINES = [
    "the imp throws a fireball and health drops to {k}, what a hit",
    "two zombiemen down with the shotgun, {k} kills now",
    "grab the green armor and head for the exit switch",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    records = [
        {"game": "Doom", "source": f"video{v}.vtt", "start": k, "end": k + 1, "text": LINES[(k + v) % 3].format(k=k)}
        for v in range(5)
        for k in range(30)
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def config(corpus, tiny_gpt2, out, **overrides):
    settings = dict(corpus=corpus, base=str(tiny_gpt2), name="m", out_root=out, block_size=64, max_steps=12,
                    eval_steps=4, batch_size=4, learning_rate=2e-3, validation_fraction=0.2)
    return TrainConfig(**{**settings, **overrides})


def test_split_is_by_whole_video_and_seeded():
    train_s, val_s = split_sources([f"v{i}" for i in range(10)], 0.2, seed=1)
    assert len(val_s) == 2 and not set(train_s) & set(val_s)
    assert split_sources([f"v{i}" for i in range(10)], 0.2, seed=1) == (train_s, val_s)
    with pytest.raises(InputError, match="at least 2 source videos"):
        split_sources(["only"], 0.2, 0)


def test_document_shape():
    assert document([{"game": "Doom", "text": "Hi."}, {"text": "Bye."}]) == 'Game: Doom.\nCommentator: "Hi."\nCommentator: "Bye."'


def test_training_lowers_validation_loss_and_writes_a_usable_folder(corpus, tiny_gpt2, tmp_path):
    result = train(config(corpus, tiny_gpt2, tmp_path, gradient_checkpointing=True))
    m = result.metrics
    assert m["eval_loss"] < m["base_eval_loss"] - 0.3
    folder = result.folder
    info = json.loads((folder / "ripple.json").read_text())
    assert info["base"] == str(tiny_gpt2) and info["prompt_style"] == "transcript"
    assert not set(info["data"]["train_sources"]) & set(info["data"]["validation_sources"])
    assert (folder / "loss.png").read_bytes().startswith(b"\x89PNG")
    card = (folder / "README.md").read_text()
    assert "| this model |" in card and "base model, before training" in card
    # The folder is a model `ripple generate --model` takes (loaded here as the command
    # would, in this process: a second torch process costs a minute), prompted as a transcript.
    from ripple.generate import generate_commentary
    from ripple.config import GenerateConfig, RankConfig, SamplingConfig

    run = generate_commentary(GenerateConfig(
        state_file=EXAMPLES / "doom.yaml", model=str(folder), out_dir=tmp_path / "runs",
        sampling=SamplingConfig(candidates=2, max_new_tokens=6), rank=RankConfig(weights={"coherence": 1.0})))
    data = run.to_json()
    assert data["moments"][0]["prompt"].endswith('Commentator: "')
    assert all(len(m["candidates"]) == 2 for m in data["moments"])


@pytest.mark.slow
def test_resume_ends_where_an_uninterrupted_run_does(corpus, tiny_gpt2, tmp_path):
    constant = dict(lr_scheduler="constant", patience=100)
    whole = train(config(corpus, tiny_gpt2, tmp_path / "whole", max_steps=12, **constant))
    # The same run stopped at step 4 (its last checkpoint), then resumed to 12.
    train(config(corpus, tiny_gpt2, tmp_path / "cut", max_steps=4, **constant))
    resumed = train(config(corpus, tiny_gpt2, tmp_path / "cut", max_steps=12, resume=True, **constant))
    assert resumed.metrics["steps"] == whole.metrics["steps"] == 12
    assert resumed.metrics["eval_loss"] == pytest.approx(whole.metrics["eval_loss"], abs=1e-4)


@pytest.mark.slow
def test_lora_trains_adapters_and_merges_them(corpus, tiny_gpt2, tmp_path):
    result = train(config(corpus, tiny_gpt2, tmp_path, lora=True, learning_rate=1e-2))
    assert result.metrics["eval_loss"] < result.metrics["base_eval_loss"]
    weights = (result.folder / "model.safetensors").read_bytes()
    assert b"lora_" not in weights[:20000]  # merged: plain GPT-2 tensor names only
    assert json.loads((result.folder / "ripple.json").read_text())["config"]["lora"] is True


def test_bad_inputs(corpus, tiny_gpt2, tmp_path):
    with pytest.raises(InputError, match="no such corpus file"):
        train(config(tmp_path / "missing.jsonl", tiny_gpt2, tmp_path))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine", "source": "a"}\n{"text": \n')
    with pytest.raises(InputError, match=rf"{broken}:2: invalid JSON"):
        train(config(broken, tiny_gpt2, tmp_path))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "caf\u00e9", "source": "a"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        train(config(latin, tiny_gpt2, tmp_path))
    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "only one video", "source": "a"}\n')
    with pytest.raises(InputError, match="at least 2 source videos"):
        train(config(one, tiny_gpt2, tmp_path))
    with pytest.raises(InputError, match="nothing to resume"):
        train(config(corpus, tiny_gpt2, tmp_path / "fresh", resume=True))
    (tmp_path / "taken" / "m").mkdir(parents=True)
    result = run_here("train", str(corpus), "--base", str(tiny_gpt2), "--out", str(tmp_path / "taken"), "--name", "m")
    assert result.returncode == 2 and "exists already" in result.stderr


@pytest.mark.slow
def test_eval_compares_the_trained_model_with_its_base(corpus, tiny_gpt2, tmp_path):
    from ripple.lm.evaluate import EvalConfig, distinct, evaluate

    folder = train(config(corpus, tiny_gpt2, tmp_path)).folder
    rows = evaluate(EvalConfig(model=str(folder), corpus=corpus, block_size=64, samples=4, max_new_tokens=8))
    trained, base = rows
    assert base["model"] == str(tiny_gpt2)
    assert trained["perplexity"] < base["perplexity"]
    assert len(trained["lines"]) == 4 and 0 <= trained["loop_rate"] <= 1
    assert distinct(["a b c", "a b c"], 1) == 0.5 and distinct(["a b a b"], 2) == 2 / 3
    result = run_here("eval", str(folder), str(corpus), "--block-size", "64", "--samples", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert [r["model"] for r in json.loads(result.stdout)] == [str(folder), str(tiny_gpt2)]


@pytest.mark.slow
def test_two_processes_through_accelerate_launch(corpus, tiny_gpt2, tmp_path):
    """The path to many GPUs or machines: the same command under `accelerate launch`,
    here as two CPU processes talking over gloo."""
    import subprocess
    import sys
    from pathlib import Path

    accelerate = Path(sys.executable).with_name("accelerate")
    result = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ripple", "train", str(corpus),
         "--base", str(tiny_gpt2), "--out", str(tmp_path), "--name", "dist", "--block-size", "64",
         "--max-steps", "6", "--eval-steps", "3", "--batch-size", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((tmp_path / "dist" / "ripple.json").read_text())
    state = json.loads((tmp_path / "dist" / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    # Two processes each take 2 blocks a step, so an epoch has half the steps of one process.
    import math

    steps_per_epoch = math.ceil(info["data"]["train_blocks"] / (2 * 2))
    assert state["epoch"] == pytest.approx(6 / steps_per_epoch, rel=0.01)
    assert info["metrics"]["steps"] == 6
