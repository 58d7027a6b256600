"""GGUF files as models: any file transformers' GGUF reader takes (Llama, Mistral, Qwen2/3,
Gemma 2/3, Phi-3, ...), converted once into a plain Hugging Face folder in the cache, and
Ollama's models found by name in its model folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_dir
from ripple.cache import cache_root
from ripple.errors import ModelError

GGUF_MAGIC = b"GGUF"


def quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def ollama_models() -> Path:
    """Ollama's model folder: $OLLAMA_MODELS, else ~/.ollama/models."""
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")


def ollama_blob(name: str) -> Path | None:
    """The GGUF blob of an Ollama model ('gemma3:270m', 'me/mine:q4') when Ollama has pulled it:
    its manifest names the weights' layer by digest."""
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?(:[\w.-]+)?", name) or name.startswith("."):
        return None
    model, _, tag = name.partition(":")
    if "/" not in model:
        model = f"library/{model}"
    manifest = ollama_models() / "manifests" / "registry.ollama.ai" / model / (tag or "latest")
    try:
        layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
    except (OSError, ValueError, AttributeError):
        return None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == "application/vnd.ollama.image.model":
            blob = ollama_models() / "blobs" / str(layer.get("digest", "")).replace(":", "-")
            if blob.is_file() and is_gguf(blob):
                return blob
    return None


def gguf_folder(path: Path) -> Path:
    """The converted Hugging Face folder of any GGUF file (llama.cpp's, Ollama's, LM Studio's),
    converting once: one folder per file path, size and modification time."""
    import hashlib

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_root() / "models" / f"gguf-{path.stem[:40]}-{key}"
    if not (target / "config.json").is_file():
        convert_gguf(path, target, {"name": path.name, "converted_from": str(path.resolve())},
                     card=f"# {path.name}\n\nConverted by Ripple from {path.resolve()}. Its licence is the one "
                          "of the model the file holds.\n")
    return target


def convert_gguf(gguf: Path, target: Path, info: dict[str, Any], chat: bool = True, card: str = "",
                 extra: list[Path] = ()) -> None:
    """A GGUF file as a plain Hugging Face folder (fp32 weights, its tokenizer, ripple.json and a
    model card), written atomically. `chat=False` drops a chat template: a base model is
    prompted as a transcript."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    try:
        with tempfile.TemporaryDirectory(prefix="ripple-gguf-") as tmp:
            source = gguf
            if gguf.suffix != ".gguf":  # an Ollama blob: transformers tells a GGUF file by its name
                source = Path(tmp) / "model.gguf"
                source.symlink_to(gguf.resolve())
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    except Exception as exc:  # an architecture transformers' GGUF reader lacks, a broken file, ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{gguf}: transformers cannot read this GGUF file ({reason[:200]}); it reads Llama, "
                         "Mistral, Qwen2/3, Gemma 2/3, Phi-3 and a few more") from exc
    # save_pretrained refuses a GGUF-loaded model; rebuild a plain one with its weights.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    if not chat:
        tokenizer.chat_template = None
    with atomic_dir(target) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        Path(tmp, "ripple.json").write_text(json.dumps(info, indent=2))
        Path(tmp, "README.md").write_text(card)
        for path in extra:
            shutil.copy2(path, Path(tmp) / path.name)
