"""Models people already have: `--model FILE.gguf` (llama.cpp's, LM Studio's), an Ollama model by
name, converted once into the cache and run by either backend; and the second packaged model,
Gemma 3 270M."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from ripple.errors import ModelError
from ripple.lm import models
from tests.conftest import EXAMPLES, run_cli, run_here
from tests.tiny_gguf import write_tiny_llama

TEXT = "The Imp throws a fireball at 38 health"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, smol_tokenizer):
    """(the GGUF file, the model written into it, the cache it converts into)."""
    folder = tmp_path_factory.mktemp("gguf")
    path = folder / "tiny-llama.Q-F32.gguf"
    model = write_tiny_llama(path, smol_tokenizer)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RIPPLE_CACHE", str(folder / "cache"))
        yield path, model, folder / "cache"


def test_a_gguf_file_loads_as_the_model_it_holds_and_converts_once(tiny, smol_tokenizer):
    path, written, cache = tiny
    spec = models.resolve(str(path))
    assert spec.kind == "gguf" and spec.source == str(path.resolve())
    lm = models.load_plain(str(path))
    ids = smol_tokenizer(TEXT, return_tensors="pt").input_ids
    assert lm.tokenizer(TEXT).input_ids == ids[0].tolist()  # the file's own tokenizer
    with torch.no_grad():
        assert torch.allclose(lm.model(ids).logits, written(ids).logits, atol=1e-5)  # llama.cpp's q/k order undone
    converted = list((cache / "models").glob("gguf-tiny-llama*"))
    assert len(converted) == 1 and (converted[0] / "README.md").is_file()
    stamp = (converted[0] / "config.json").stat().st_mtime_ns
    models.load_plain(str(path))
    assert (converted[0] / "config.json").stat().st_mtime_ns == stamp  # not converted again
    assert json.loads((converted[0] / "ripple.json").read_text())["converted_from"] == str(path.resolve())


def test_a_gguf_file_runs_through_ctranslate2_too(tiny):
    path, written, _ = tiny
    lm = models.load(str(path), backend="ctranslate2")
    assert lm.backend == "ctranslate2" and lm.describe()["architecture"] == "LlamaForCausalLM"


def test_generate_takes_a_gguf_file(tiny, tmp_path):
    path, _, _ = tiny
    result = run_here("generate", str(EXAMPLES / "doom.yaml"), "--model", str(path), "--out", str(tmp_path),
                      "--candidates", "2", "--max-new-tokens", "6", "--weight", "relevance=0", "--redraws", "0",
                      "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["model"]["kind"] == "gguf" and run["model"]["source"] == str(path.resolve())
    assert all(len(m["candidates"]) == 2 for m in run["moments"])


def test_an_ollama_model_resolves_to_its_blob(tiny, tmp_path, monkeypatch):
    path, _, _ = tiny
    store = tmp_path / "ollama"
    digest = "sha256:" + "ab" * 32
    (store / "blobs").mkdir(parents=True)
    shutil.copy(path, store / "blobs" / digest.replace(":", "-"))
    for name, tag in (("library/tiny", "latest"), ("library/tiny", "q8"), ("me/mine", "latest")):
        manifest = store / "manifests" / "registry.ollama.ai" / name / tag
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"layers": [
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "cd" * 32},
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest}]}))
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    blob = store / "blobs" / digest.replace(":", "-")
    for name in ("tiny", "tiny:latest", "tiny:q8", "me/mine"):
        spec = models.resolve(name)
        assert (spec.kind, spec.source) == ("gguf", str(blob)), name
    assert models.resolve("someorg/some-model").kind == "hub"  # no manifest: still a hub id
    with pytest.raises(ModelError, match="unknown model 'tiny:q2'"):
        models.resolve("tiny:q2")
    assert models.load_plain("tiny:q8").describe()["kind"] == "gguf"


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 a zip, not a model", "not a GGUF file"),
    (b"GGUF" + b"\x00" * 20, "transformers cannot read this GGUF file"),
])
def test_a_file_that_is_not_a_model_is_refused_in_one_line(tmp_path, content, message):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(content)
    result = run_cli("generate", str(EXAMPLES / "doom.yaml"), "--model", str(bad), "--out", str(tmp_path / "out"),
                     env={"RIPPLE_CACHE": str(tmp_path / "cache")})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache").glob("models/gguf-*"))


@pytest.mark.slow
def test_gemma3_270m_is_a_packaged_base_model_with_its_terms(tmp_path):
    """The real Gemma 3 270M file: put together from its chunk packages, converted, its terms
    beside the weights, prompted as a transcript (a base model)."""
    from ripple.lm import packaged

    if not packaged.installed("gemma3-270m"):
        pytest.skip("ripple models install gemma3-270m")
    lm = models.load_plain("gemma3-270m")
    folder = packaged.embedded_folder("gemma3-270m")
    assert lm.describe()["architecture"] == "Gemma3ForCausalLM" and lm.parameters > 250_000_000
    assert (folder / "GEMMA_TERMS.html").is_file() and "Gemma Terms of Use" in (folder / "README.md").read_text()
    assert not getattr(lm.tokenizer, "chat_template", None)  # a transcript prompt, not a chat
    result = run_here("generate", str(EXAMPLES / "doom.yaml"), "--model", "gemma3-270m", "--out", str(tmp_path),
                      "--candidates", "2", "--max-new-tokens", "12", "--json")
    assert result.returncode == 0, result.stderr
    assert all(m["line"] for m in json.loads(result.stdout)["moments"][1:])
    # the same file named by its path, as a llama.cpp user would: converted on its own, the same weights
    gguf = packaged.package_file(packaged.EMBEDDED["gemma3-270m"])
    assert models.resolve(str(gguf)).kind == "gguf"
    by_path = models.load_plain(str(gguf))
    ids = lm.tokenizer("The Imp throws a fireball", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(by_path.model(ids).logits, lm.model(ids).logits, atol=1e-4)
