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


def onednn_linears(model, batch_hint: int = 8):
    """Run every fp32 linear layer through oneDNN with pre-packed weights (CPU inference).

    torch's CPU wheel sends nn.Linear to MKL, whose code paths on AMD processors are several
    times slower than oneDNN's for the skinny matrices of decoding: 8 x 576 by 576 x 49,152
    took 24 ms in MKL and 8 ms in oneDNN on this project's 2-core AMD EPYC machines.
    The arithmetic is the same fp32; only the kernel changes. Inference only (no autograd).
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return model

    from transformers.pytorch_utils import Conv1D

    class OneDNNLinear(torch.nn.Module):
        def __init__(self, weight, bias):  # weight: (out_features, in_features)
            super().__init__()
            weight = weight.detach().float().contiguous()
            self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight, batch_hint))
            self.register_buffer("bias", None if bias is None else bias.detach().float())

        def forward(self, x):
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, child_name, OneDNNLinear(child.weight, child.bias))
            elif type(child) is Conv1D:  # GPT-2's linear layers, weight stored (in, out)
                setattr(module, child_name, OneDNNLinear(child.weight.t(), child.bias))
    return model
