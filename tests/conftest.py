"""Shared fixtures: a tiny random-init GPT-2 model folder, and a way to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing model fails at once, never downloads
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    """A 2-layer GPT-2 with random weights, saved without tokenizer files so that Ripple
    supplies its offline GPT-2 tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=512, vocab_size=50257)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smol_folder() -> Path:
    """The embedded default, converted into the user's cache (about 40 s the first time)."""
    from ripple.lm.models import embedded_folder

    return embedded_folder("smollm2-135m")


@pytest.fixture(scope="session")
def smol_tokenizer():
    """The embedded default's tokenizer (one digit per token), without its weights: from the
    converted folder where there is one, else read from the GGUF file (a few seconds)."""
    from transformers import AutoTokenizer

    from ripple.lm import packaged

    folder = packaged.converted_folder("smollm2-135m")
    if (folder / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(folder)
    gguf = packaged.package_file(packaged.EMBEDDED["smollm2-135m"])
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


@pytest.fixture(scope="session")
def tiny_lm(tiny_gpt2):
    from ripple.lm import models

    return models.load(str(tiny_gpt2))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m ripple ARGS` as a person would, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ripple", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600
    )


def run_here(*args: str) -> subprocess.CompletedProcess:
    """Run `ripple ARGS` through the same entry point (`ripple.cli.main`) in this process,
    capturing what it prints and its exit code.

    For commands that load a model: a fresh process spends 15-60 s of this 2-core machine
    importing torch and transformers before the command starts, and this one has them
    already. run_cli stays for what only a fresh process shows (imports, entry point, the
    whole of stderr including libraries' own warnings)."""
    import contextlib
    import io

    import torch

    from ripple.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, threads = sys.argv, torch.get_num_threads()
    sys.argv = ["ripple", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["ripple", *args], code, out.getvalue(), err.getvalue())
