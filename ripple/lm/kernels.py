"""CPU inference kernels for a loaded torch model: int8 weights, and fp32 linear layers run
through oneDNN instead of MKL."""

from __future__ import annotations


# Activations entering the MLP's down projection have outliers that per-tensor int8
# cannot hold: quantising them took SmolLM2's next-token KL to fp32 from 0.33 to 1.13.
KEEP_FP32 = ("down_proj", "c_proj")


def quantize_int8(model):
    """Int8 weights (per output channel) for the linear layers, activations quantised on
    the fly: 1.2x the candidates per second of fp32 at 8 candidates (bench/generate.py),
    at a cost in quality (mean next-token KL 0.33 nats to fp32 on SmolLM2-135M). CPU only."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    chosen = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.endswith(KEEP_FP32)
    }
    with warnings.catch_warnings():  # torch points eager-mode quantisation users at torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, chosen, dtype=torch.qint8)


def bf16_supported() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512_BF16 or AMX): oneDNN's bf16
    kernels elsewhere emulate it, slower than fp32."""
    import torch

    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def for_cpu(model, precision: str):
    """`model`'s linear layers as Ripple runs them on a CPU at `precision`:
    fp32 and bf16 through oneDNN, int8 through torch's dynamic quantisation (what it leaves
    unquantised through oneDNN, in bf16 where the CPU computes it natively)."""
    if precision == "int8":
        return onednn_linears(quantize_int8(model), bf16=bf16_supported())
    return onednn_linears(model, bf16=precision == "bf16")


def onednn_linears(model, batch_hint: int = 8, bf16: bool = False):
    """Run every fp32 linear layer through oneDNN with pre-packed weights (CPU inference).

    `bf16`: the weights are stored and multiplied in bfloat16 (the input is cast to it and
    the output back to fp32): half the bytes read per token, and on CPUs with AVX512_BF16
    twice the arithmetic rate. Next-token KL to fp32 on SmolLM2-135M: see bench/generate.py.

    torch's CPU wheel sends nn.Linear to MKL, whose code paths on AMD processors are several
    times slower than oneDNN's for the skinny matrices of decoding: 8 x 576 by 576 x 49,152
    took 24 ms in MKL and 8 ms in oneDNN on this project's 2-core AMD EPYC machines.
    The arithmetic is the same fp32; only the kernel changes. Inference only (no autograd).
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return model
    dtype = torch.bfloat16 if bf16 else torch.float32

    from transformers.pytorch_utils import Conv1D

    class OneDNNLinear(torch.nn.Module):
        def __init__(self, weight, bias):  # weight: (out_features, in_features)
            super().__init__()
            weight = weight.detach().to(dtype).contiguous()
            self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight, batch_hint))
            self.register_buffer("bias", None if bias is None else bias.detach().to(dtype))

        bf16_out = False  # bf16: hand the bf16 product back as it is (to a sum that promotes it itself)

        def forward(self, x):
            if not bf16:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
            out = torch.ops.mkldnn._linear_pointwise(x.to(dtype), self.packed, self.bias, "none", [], "")
            return out if self.bf16_out else out.to(x.dtype)

    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, child_name, OneDNNLinear(child.weight, child.bias))
            elif type(child) is Conv1D:  # GPT-2's linear layers, weight stored (in, out)
                setattr(module, child_name, OneDNNLinear(child.weight.t(), child.bias))
    return model
