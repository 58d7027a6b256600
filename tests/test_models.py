"""The model registry: names, folders, hub names offline, the embedded default."""

from __future__ import annotations

import pytest

from ripple.lm import models
from ripple.errors import ModelError


def test_resolve_kinds(tiny_gpt2):
    assert models.resolve("smollm2-135m").kind == "embedded"
    assert models.resolve("gpt2-medium").kind == "hub"
    assert models.resolve("someorg/some-model").kind == "hub"
    local = models.resolve(str(tiny_gpt2))
    assert local.kind == "local" and local.source == str(tiny_gpt2.resolve())


def test_unknown_name_and_folder_without_config(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'gpt5'.*smollm2-135m"):
        models.resolve("gpt5")
    with pytest.raises(ModelError, match="not a model folder"):
        models.resolve(str(tmp_path))


def test_hub_name_offline_fails_with_one_line_naming_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        models.load("gpt2-xl")
    message = str(info.value)
    assert "\n" not in message
    assert "'gpt2-xl' is not in the Hugging Face cache and could not be downloaded" in message
    assert "the offline default is 'smollm2-135m'" in message


def test_local_gpt2_folder_gets_the_offline_tokenizer(tiny_lm, tiny_gpt2):
    assert tiny_lm.spec.kind == "local"
    assert tiny_lm.tokenizer("Hello world")["input_ids"] == [15496, 995]
    info = tiny_lm.describe()
    assert info["architecture"] == "GPT2LMHeadModel" and info["parameters"] == tiny_lm.parameters > 0


def test_broken_weights_are_a_model_error(tmp_path, tiny_gpt2):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_gpt2, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="cannot load the model"):
        models.load(str(broken))


def test_int8_keeps_the_mlp_down_projection_in_fp32(tiny_gpt2):
    lm = models.load(str(tiny_gpt2), precision="int8")
    kinds = {name: type(m).__name__ for name, m in lm.model.named_modules()}
    assert lm.precision == "int8"
    assert kinds["lm_head"] == "Linear" and "quantized" in type(lm.model.lm_head).__module__
    with pytest.raises(ModelError, match="precision"):
        models.load(str(tiny_gpt2), precision="fp8")


@pytest.mark.real_model
def test_embedded_default_converts_once_and_reloads_from_the_cache(smol_folder):
    weights = smol_folder / "model.safetensors"
    assert weights.is_file() and (smol_folder / "ripple.json").is_file()
    written = weights.stat().st_mtime_ns
    assert models.embedded_folder("smollm2-135m") == smol_folder
    lm = models.load("smollm2-135m")
    assert weights.stat().st_mtime_ns == written  # loaded from the cache, not converted again
    assert lm.describe()["architecture"] == "LlamaForCausalLM"
    assert 134e6 < lm.parameters < 136e6


def test_onednn_kernels_give_the_same_logits(tiny_gpt2):
    import torch
    from transformers import AutoModelForCausalLM

    from ripple.lm import models

    fp32 = models.load(str(tiny_gpt2), "fp32")
    plain = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    swapped = {type(m).__name__ for m in fp32.model.modules()}
    assert "OneDNNLinear" in swapped and "Conv1D" not in swapped
    ids = torch.tensor([[15496, 995, 11, 428, 318, 257, 1332, 13]])
    with torch.inference_mode():
        assert torch.allclose(plain(input_ids=ids).logits, fp32.model(input_ids=ids).logits, atol=1e-4)
