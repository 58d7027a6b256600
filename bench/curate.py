"""The reward model and preference tuning, measured on a synthetic person with a known taste
(tests/prefs.py: lines that name the moment's event win): the reward model's held-out
accuracy and canary checks against chance, then `ripple tune` (DPO through TRL with the
KL penalty) and the tuned model's win rate over its base under the reward model, with the
KL spent. Prints report.md of the tuned model; tune.png sits beside it.

The models are small random-init GPT-2s (the same as the tests use); `--steps` and
`--moments` make the run longer.

Run:  .venv/bin/python bench/curate.py [--moments 40] [--steps 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ripple.curate import tune as tuning  # noqa: E402
from ripple.curate.guards import GuardConfig  # noqa: E402
from ripple.curate.reward_model import RewardConfig, train_reward  # noqa: E402
from tests.prefs import judge_all, make_runs, small_gpt2  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moments", type=int, default=40, help="judged moments (split over 2 runs)")
    parser.add_argument("--steps", type=int, default=8, help="tuning steps")
    parser.add_argument("--keep", type=Path, help="write the models here instead of a temporary folder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # the tiny model's work is too small to split
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        started = time.perf_counter()
        model = small_gpt2(out / "tiny")
        db = make_runs(out, runs=2, moments=args.moments // 2)
        judge_all(db)
        report = train_reward(RewardConfig(db=db, base=str(model), out=out / "models" / "reward", epochs=4,
                                           learning_rate=3e-3, seed=0))
        reward_s = time.perf_counter() - started
        print(f"reward model: {report.train_sets} training sets, {report.held_out_sets} held out "
              f"({report.all_bad} 'all bad' left out); held-out {report.held_out}, training {report.train}; "
              f"canaries {json.dumps(report.canaries, default=str)}")
        started = time.perf_counter()
        result = tuning.tune(tuning.TuneConfig(
            db=db, model=str(model), reward_model=out / "models" / "reward", name="tuned", out_root=out / "models",
            guards=GuardConfig(kl_bound=0.1), learning_rate=5e-3, max_steps=args.steps, batch_size=4,
            eval_every=2, kl_coef=2.0, win_samples=4, max_new_tokens=10))
        tune_s = time.perf_counter() - started
        print(f"\nreward training {reward_s:.0f} s, tuning {tune_s:.0f} s ({len(result.history) - 1} evaluations)\n")
        print((out / "models" / "tuned" / "report.md").read_text())


if __name__ == "__main__":
    main()
