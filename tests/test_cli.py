"""`ripple` as a person runs it: instant help, a run folder, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, run_cli, run_here

FAST = ["--candidates", "3", "--max-new-tokens", "8", "--weight", "relevance=0", "--redraws", "0"]


def test_help_is_instant_and_imports_no_torch():
    code = "import sys, ripple.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    result = run_cli("--help")
    assert result.returncode == 0 and "generate" in result.stdout


def test_generate_writes_a_run_folder(tiny_gpt2, tmp_path):
    result = run_here("generate", str(EXAMPLES / "doom.yaml"), "--model", str(tiny_gpt2), "--out", str(tmp_path),
                     "--run-id", "r1", *FAST)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "r1"
    data = json.loads((folder / "commentary.json").read_text())
    assert data["run_id"] == "r1" and data["model"]["architecture"] == "GPT2LMHeadModel"
    assert data["config"]["sampling"]["candidates"] == 3 and data["config"]["rank"]["weights"]["relevance"] == 0
    assert len(data["moments"]) == 4
    for moment in data["moments"]:
        cands = moment["candidates"]
        assert len(cands) == 3
        assert [c["rank"] for c in cands] == [1, 2, 3]
        assert [c["total"] for c in cands] == sorted((c["total"] for c in cands), reverse=True)
        assert set(cands[0]["scores"]) == {"coherence", "loops", "length", "faithfulness"}
        assert all(isinstance(c["faults"], list) for c in cands)
        assert all(s["reason"] for c in cands for s in c["scores"].values())
        assert moment["prompt"].endswith('Commentator: "')
    assert [m["template"]["name"] for m in data["moments"]] == ["colour", "play-by-play", "play-by-play", "hype"]
    png = (folder / "scores.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    markdown = (folder / "commentary.md").read_text()
    assert markdown.startswith("# Commentary:") and "| # | total | coherence | loops | length | faithfulness | candidate |" in markdown
    assert "1. 0:03 · Doom — colour" in result.stdout or "Doom — colour" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.slow
def test_json_on_stdout_and_same_seed_same_output(tiny_gpt2, tmp_path):
    base = ["generate", str(EXAMPLES / "football.jsonl"), "--model", str(tiny_gpt2), "--out", str(tmp_path), "--json",
            *FAST]
    first, second = run_cli(*base, "--seed", "5"), run_cli(*base, "--seed", "5")
    assert first.returncode == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["run_id"] != b["run_id"]
    assert [c["raw"] for m in a["moments"] for c in m["candidates"]] == [
        c["raw"] for m in b["moments"] for c in m["candidates"]
    ]
    third = json.loads(run_cli(*base, "--seed", "6").stdout)
    assert [c["raw"] for m in a["moments"] for c in m["candidates"]] != [
        c["raw"] for m in third["moments"] for c in m["candidates"]
    ]


@pytest.mark.slow
def test_previous_lines_reach_later_prompts(tiny_gpt2, tmp_path):
    result = run_cli("generate", str(EXAMPLES / "tetris.json"), "--model", str(tiny_gpt2), "--out", str(tmp_path),
                     "--json", *FAST)
    data = json.loads(result.stdout)
    first_line = data["moments"][0]["line"]
    if first_line:
        assert f'"{first_line}"' in data["moments"][1]["prompt"]


@pytest.mark.parametrize(
    "content,suffix,expected",
    [
        (None, ".yaml", "no such file"),
        ("game: [unclosed\n", ".yaml", "invalid YAML"),
        ("game: Doom\nmoments: []\n", ".yaml", "the timeline has no moments"),
        ("game: Doom\nnumbers: {health: lots}\n", ".yaml", ":2: numbers.health"),
        (b"game: caf\xe9\n", ".yaml", "not UTF-8"),
        ("big", ".json", "game-state files are limited to"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, tiny_gpt2, content, suffix, expected):
    path = tmp_path / f"state{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "big":
        with open(path, "wb") as f:
            f.truncate(2 * 2**30)
    elif content is not None:
        path.write_text(content)
    out = tmp_path / "out"
    result = run_here("generate", str(path), "--model", str(tiny_gpt2), "--out", str(out), *FAST)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ripple: error: ") and expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "args,command,expected",
    [
        (["generate", "examples/doom.yaml", "--nope"], "ripple generate", "No such option: --nope"),
        (["generate"], "ripple generate", "Missing argument 'state_file'"),
        (["live", "doom", "--seconds", "abc"], "ripple live doom", "Invalid value for '--seconds'"),
        (["live", "doom", "--no-stream", "maybe"], "ripple live doom", "unexpected extra argument(s) (maybe)"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, command, expected):
    """Caught before any command runs: typer's own checks of the command line."""
    result = run_cli(*args, cwd=ROOT)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("ripple: error: ") and expected in lines[0]
    assert lines[0].endswith(f"{command} --help')")  # under python -m: 'python -m ripple ...'


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model", "gpt5"], "unknown model 'gpt5'"),
        (["--temperature", "0"], "--temperature: must be above 0"),
        (["--candidates", "0"], "--candidates: must be at least 1"),
        (["--weight", "fluency=1"], "--weight"),
        (["--template", "nope.j2"], "no such template file"),
        (["--precision", "fp8"], "precision"),
    ],
)
def test_bad_options_are_one_line_exit_2(tmp_path, args, expected):
    result = run_here("generate", str(EXAMPLES / "doom.yaml"), "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert not (tmp_path / "out").exists()


def test_existing_run_id_is_refused_and_kept(tiny_gpt2, tmp_path):
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "commentary.json").write_text("precious")
    result = run_here("generate", str(EXAMPLES / "doom.yaml"), "--model", str(tiny_gpt2), "--out", str(tmp_path),
                     "--run-id", "r1", *FAST)
    assert result.returncode == 2 and "exists already" in result.stderr
    assert (tmp_path / "r1" / "commentary.json").read_text() == "precious"


def test_debug_variable_shows_the_traceback(tmp_path):
    result = run_cli("generate", str(tmp_path / "missing.yaml"), env={"RIPPLE_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "InputError" in result.stderr


def test_version_is_the_one_the_package_was_built_with():
    import importlib.metadata

    import ripple

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ripple {ripple.__version__}"
    assert importlib.metadata.version("ripple-commentary") == ripple.__version__  # one version, read by hatch


def test_env_reports_versions_and_names_what_is_missing(tmp_path):
    import importlib.metadata

    full = json.loads(run_cli("env", "--json").stdout)
    assert full["packages"]["torch"]["version"] == importlib.metadata.version("torch")
    assert full["programs"]["espeak-ng"]["path"] and full["programs"]["ffmpeg"]["version"].startswith("ffmpeg")
    assert {m["name"] for m in full["models"]} >= {"smollm2-135m", "whisper tiny.en"}
    from ripple.lm import kernels

    assert full["precision_auto"] == ("bf16" if kernels.bf16_supported() else "fp32")
    # without espeak-ng and tesseract on PATH, both are named with how to get them
    bare = json.loads(run_cli("env", "--json", env={"PATH": str(tmp_path)}).stdout)
    assert bare["programs"]["espeak-ng"]["path"] is None
    assert any(m.startswith("espeak-ng (") and "apt-get install espeak-ng" in m for m in bare["missing"])
    assert any(m.startswith("tesseract (") for m in bare["missing"])
    text = run_cli("env").stdout
    assert f"Ripple {full['ripple']}" in text and "transformers" in text
    assert f"--precision auto here: {full['precision_auto']}" in text


def test_shell_completion_offers_commands_and_choices():
    ripple = Path(sys.executable).with_name("ripple")  # completion runs the installed script by its name

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_RIPPLE_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
        return subprocess.run([str(ripple)], env=env, capture_output=True, text=True, timeout=60).stdout.split()

    assert complete("ripple gen") == ["generate"]
    assert complete("ripple generate x.yaml --precision ") == ["auto", "fp32", "bf16", "int8"]
    assert "doom" in complete("ripple live ")
