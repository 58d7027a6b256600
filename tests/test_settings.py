"""ripple.toml sets any option of any command: the flag wins over the file, the file over the
default, for every command; the file's mistakes, and the library's refusals of its values, name
the file's line."""

from __future__ import annotations

import os

import pytest
import typer.main

from ripple.cli import app
from ripple.cli.settings import commands, settable
from tests.conftest import EXAMPLES, run_cli

ROOT_COMMAND = typer.main.get_command(app)
COMMANDS = dict(commands(ROOT_COMMAND))
REQUIRED_ARGS = {"generate": ["x.yaml"], "narrate": ["x.mp4"], "ingest": ["x.vtt"], "transcribe": ["x.mp4"],
                 "train": ["c.jsonl"], "eval": ["m", "c.jsonl"], "batch": ["src"], "record.atari": ["--game", "pong"],
                 "tune": [], "batch.status": ["out"]}


def _values(param):
    """(file's value, flag's value) for `param`, of its type, both unlike its default."""
    default = param.default
    if isinstance(default, bool) or param.is_flag:
        return (not default, default, [param.opts[0] if default else param.secondary_opts[0]])
    if isinstance(default, int) or param.name in ("lora_rank", "max_steps", "eval_every"):
        base = default or 0
        return base + 1, base + 2, None
    if isinstance(default, float) or param.name in ("kl_coef", "learning_rate", "min_canaries", "every"):
        base = default or 0.25
        return base / 2, base / 4, None
    return "from-file", "from-flag", None


def _pick(cmd):
    """The option of `cmd` the test sets: a number where there is one, else a flag, else text."""
    keys = settable(cmd)
    choices = [p for p in keys.values() if not p.multiple and not getattr(p.type_descriptor, "is_choice", False)]
    numbers = [p for p in choices if isinstance(p.default, (int, float)) and not isinstance(p.default, bool)]
    flags = [p for p in choices if isinstance(p.default, bool) and p.secondary_opts]  # --reel/--no-reel
    return (numbers or flags or choices or [None])[0]


def _parsed(section: str, args: list[str], cwd) -> dict:
    """The options of `ripple SECTION ARGS` run in `cwd`, as the command would get them."""
    cmd = COMMANDS[section]
    root = ROOT_COMMAND.make_context("ripple", [section.split(".")[0]], resilient_parsing=True)
    ctx = cmd.make_context(section.split(".")[-1], [*REQUIRED_ARGS.get(section, []), *args], parent=root)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        cmd.resolve(ctx)
    finally:
        os.chdir(here)
    return ctx.params


def test_every_command_with_options_has_a_table():
    sections = {s for s, cmd in COMMANDS.items() if settable(cmd)}
    assert {"generate", "narrate", "batch", "ingest", "transcribe", "train", "eval", "curate",
            "reward.train", "tune", "record.doom", "record.atari", "live.doom", "export.best"} <= sections
    assert {"top_p", "top_k", "repetition_penalty"} <= set(settable(COMMANDS["narrate"])) & set(
        settable(COMMANDS["live.doom"])) & set(settable(COMMANDS["batch"]))  # no longer generate's alone
    assert "weights" in settable(COMMANDS["generate"]) and "stages" in settable(COMMANDS["batch"])


@pytest.mark.parametrize("section", [s for s, cmd in COMMANDS.items() if _pick(cmd) is not None])
def test_flag_over_file_over_default(section, tmp_path):
    param = _pick(COMMANDS[section])
    in_file, on_flag, flag_args = _values(param)
    written = str(in_file).lower() if isinstance(in_file, bool) else (
        f'"{in_file}"' if isinstance(in_file, str) else repr(in_file))
    (tmp_path / "empty").mkdir()
    (tmp_path / "ripple.toml").write_text(f"[{section}]\n{param.name} = {written}\n")
    flag = flag_args or [param.opts[0], str(on_flag)]
    default = _parsed(section, [], tmp_path / "empty")[param.name]
    from_file = _parsed(section, [], tmp_path)[param.name]
    from_flag = _parsed(section, flag, tmp_path)[param.name]
    assert str(default) == str(param.default), (section, param.name)
    assert str(from_file) == str(in_file) != str(default), (section, param.name)
    assert str(from_flag) == str(on_flag) != str(in_file), (section, param.name)


def test_a_value_the_library_refuses_is_named_by_its_line(tmp_path):
    (tmp_path / "ripple.toml").write_text("[generate]\ncandidates = 3\ntemperature = 0\n")
    result = run_cli("generate", str(EXAMPLES / "doom.yaml"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        f"ripple: error: {tmp_path / 'ripple.toml'}:3: [generate].temperature: must be above 0"
        .replace(str(tmp_path / "ripple.toml"), "ripple.toml"))
    result = run_cli("generate", str(EXAMPLES / "doom.yaml"), "--out", str(tmp_path / "out"), "--temperature", "0",
                     "--config", str(tmp_path / "ripple.toml"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().endswith("--temperature: must be above 0")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, message", [
    ("[generat]\nseed = 1\n", ":1: [generat]: unknown section or field"),
    ("[live.doom]\ncandidatez = 1\n", ":2: [live.doom].candidatez: unknown section or field"),
    ("[narrate]\nvoice = \"festival\"\n", ":2: [narrate].voice: "),
    ("[generate]\nmodel = [1, 2]\n", ":2: [generate].model: expected one value"),
    ("[record]\nseconds = 3\n", ":2: [record].seconds: unknown section or field"),
])
def test_a_file_mistake_is_named_by_its_line(tmp_path, body, message):
    from ripple.cli import load_settings
    from ripple.errors import InputError

    (tmp_path / "ripple.toml").write_text(body)
    with pytest.raises(InputError) as info:
        load_settings(tmp_path / "ripple.toml")
    assert message in str(info.value)
