"""Ripple's own decoding step for Llama-family models, for N candidates of one prompt on a CPU.

transformers' step is written for every model and every cache; at 8 candidates of a
135M-parameter model on 2 cores it spent 54 ms a token (int8), of which the linear
algebra was under half. The rest, measured with torch's profiler: the KV cache grown by
concatenation each step (8 ms), attention over 8 copies of the same 300-token prompt
(9 ms), and ~1,800 small operator calls. This step does the same arithmetic with:

- the prompt's keys and values held once, not once per candidate: every candidate
  attends to that one copy (one matrix product for all of them) and to its own tail of
  new tokens, written into room set aside for them (no concatenation, no copies);
- q, k and v as one linear layer, and the MLP's gate and up projections as one;
- the layer norms and rotary embedding in a handful of tensor operations.

It reads the weights of a transformers model (its rotary embedding module is reused) and
gives the same logits to within float rounding (tests/test_decoder.py). The prompt itself
is still run by transformers (sampling.encode_prompt), whose cache this step starts from.
Models of other architectures, and GPUs, keep transformers' step.
"""

from __future__ import annotations

import math

FIRST_ROOM = 48  # new tokens per row set aside at first: the default 40 and more, never 256 x 1024 up front
ARCHITECTURES = ("llama", "mistral")  # config.model_type: pre-norm, RoPE, grouped-query attention, SwiGLU


def unsupported(config) -> str | None:
    """Why this step cannot run a model of `config`, or None when it can."""
    if getattr(config, "model_type", None) not in ARCHITECTURES:
        return f"architecture {getattr(config, 'model_type', None)!r}"
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "biased linear layers"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r}"
    if getattr(config, "sliding_window", None):
        return "sliding-window attention"
    return None


def _fused(linears, norm=None, scale_rows: tuple[int, float] | None = None):
    """One nn.Linear whose output is the given layers' outputs side by side.

    `norm`: the RMS norm weight applied to the input first, folded into the columns
    (W · (g ⊙ x) = (W diag g) · x), so the step's norm has no multiply of its own.
    `scale_rows`: (n, s), the first n outputs multiplied by s (attention's 1/√d into q).
    """
    import torch

    weight = torch.cat([lin.weight.detach() for lin in linears], dim=0)  # a new tensor: the model's stay as they are
    if norm is not None:
        weight *= norm.detach()[None, :]
    if scale_rows is not None:
        weight[: scale_rows[0]] *= scale_rows[1]
    fused = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    fused.weight = torch.nn.Parameter(weight, requires_grad=False)
    return fused


class _Layer:
    """One decoder layer's weights, with its linear layers as modules (so kernels can swap them)."""

    def __init__(self, layer, q_size: int, scale: float, torch):
        attn, mlp = layer.self_attn, layer.mlp
        self.linears = torch.nn.ModuleDict({
            "qkv": _fused([attn.q_proj, attn.k_proj, attn.v_proj], layer.input_layernorm.weight, (q_size, scale)),
            "o_proj": _fused([attn.o_proj]),
            "gate_up": _fused([mlp.gate_proj, mlp.up_proj], layer.post_attention_layernorm.weight),
            "down_proj": _fused([mlp.down_proj]),  # the name kernels.KEEP_FP32 knows
        })
        self.calls = tuple(self.linears[name] for name in ("qkv", "o_proj", "gate_up", "down_proj"))


class Decoder:
    """The weights of a Llama-family causal LM, laid out for `Batch.step`."""

    def __init__(self, model):
        import torch

        config = model.config
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.intermediate = config.intermediate_size
        self.eps = config.rms_norm_eps
        scale = 1.0 / math.sqrt(self.head_dim)
        self.layers = [_Layer(layer, self.heads * self.head_dim, scale, torch) for layer in model.model.layers]
        self.modules = torch.nn.ModuleList([layer.linears for layer in self.layers])
        self.modules.append(torch.nn.ModuleDict({"lm_head": _fused([model.lm_head], model.model.norm.weight)}))
        self.embed = model.model.embed_tokens.weight.detach()  # shared with the model: a lookup only
        self.rotary = model.model.rotary_emb
        self.lm_head = self.modules[-1]["lm_head"]

    def use_kernels(self, convert) -> None:
        """Swap the linear layers for `convert(module_list)`'s (kernels.for_cpu)."""
        self.modules = convert(self.modules)
        for layer, linears in zip(self.layers, self.modules):
            layer.linears = linears
            for name in ("o_proj", "down_proj"):  # their products go straight into the fp32 residual sum
                if hasattr(linears[name], "bf16_out"):
                    linears[name].bf16_out = True
            layer.calls = tuple(linears[name].forward for name in ("qkv", "o_proj", "gate_up", "down_proj"))
        self.lm_head = self.modules[-1]["lm_head"]

    def start(self, cache, n: int, room: int) -> Batch:
        """A batch of `n` candidates continuing a prompt whose keys and values are in
        `cache` (a transformers DynamicCache of batch 1), with room for `room` new tokens each
        (at first at most FIRST_ROOM: the buffers grow as lines run on)."""
        import torch

        t = cache.get_seq_length()  # 0 for a one-token prompt: nothing ran, no layer holds anything
        room = max(1, min(room, FIRST_ROOM))  # grown if the lines run on (Batch._lay_out)
        keys, values = [], []
        for i in range(len(self.layers)):
            k = self.embed.new_empty((self.kv_heads, t + room * n, self.head_dim))
            v = torch.empty_like(k)
            if t:
                k[:, :t], v[:, :t] = cache.layers[i].keys[0], cache.layers[i].values[0]
            keys.append(k)
            values.append(v)
        return Batch(self, keys, values, t, n, room)


def _rms(x, eps):
    """RMS norm without its weight (folded into the next linear layer)."""
    import torch

    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class Batch:
    """N candidates being written, each layer's keys and values in one buffer of shape
    (kv_heads, prompt + room·rows, head_dim): the prompt's once, then each step's new
    token for every row side by side (step j, row r at prompt + j·rows + r). So the
    written part is one contiguous span that every row's queries attend to at once, with
    a mask that lets a row see the prompt and its own tokens only: one masked product per
    layer for all rows, with the prompt's keys read once rather than once per row."""

    def __init__(self, decoder: Decoder, keys: list, values: list, prompt: int, rows: int, room: int):
        self.decoder, self.keys, self.values = decoder, keys, values
        self.prompt, self.rows, self.room = prompt, rows, room
        self.written = 0  # steps taken
        self.mask = self._mask()

    def keep(self, rows) -> None:
        """Only these rows (a LongTensor of row indices) go on."""
        self._lay_out(rows, self.room)

    def _lay_out(self, rows, room: int) -> None:
        """The buffers again with room for `room` steps, holding only `rows` (None: all)."""
        t, j, old = self.prompt, self.written, self.rows
        self.rows, self.room = (old if rows is None else len(rows)), room
        for buffers in (self.keys, self.values):
            for i, buf in enumerate(buffers):
                fresh = buf.new_empty((buf.shape[0], t + self.room * self.rows, buf.shape[2]))
                fresh[:, :t] = buf[:, :t]
                tail = buf[:, t: t + j * old].view(buf.shape[0], j, old, buf.shape[2])
                if rows is not None:
                    tail = tail.index_select(2, rows)
                fresh[:, t: t + j * self.rows] = tail.reshape(buf.shape[0], j * self.rows, buf.shape[2])
                buffers[i] = fresh
        self.mask = self._mask()

    def _mask(self):
        """(rows·group, prompt + room·rows): 0 where a query may look, -inf elsewhere (the
        first prompt + (steps+1)·rows columns are used at each step)."""
        import torch

        d = self.decoder
        group, rows, t = d.heads // d.kv_heads, self.rows, self.prompt
        own = torch.arange(rows).repeat_interleave(group)[:, None] == torch.arange(rows).repeat(self.room)[None, :]
        mask = torch.zeros((rows * group, t + self.room * rows))
        mask[:, t:].masked_fill_(~own, float("-inf"))
        return mask

    def step(self, tokens):
        """Logits (rows, vocab) for the token after `tokens` (rows,), one per row."""
        import torch
        import torch.nn.functional as F

        d = self.decoder
        rows, kv, hd, group = tokens.shape[0], d.kv_heads, d.head_dim, d.heads // d.kv_heads
        if self.written == self.room:  # more steps than set aside: twice the room, as a list grows
            self._lay_out(None, 2 * self.room)
        at = self.prompt + self.written * rows  # where this step's keys go
        x = F.embedding(tokens, d.embed)[:, None, :]  # (rows, 1, hidden)
        cos, sin = d.rotary(x, torch.tensor([[self.prompt + self.written]]))
        cos, sin = cos.view(hd), sin.view(hd)
        # rotate_half(v) * sin == v.roll(hd/2) * (sin with its first half negated)
        sin = torch.cat([-sin[: hd // 2], sin[hd // 2:]])
        mask = self.mask[:, : at + rows]
        for layer, keys, values in zip(d.layers, self.keys, self.values):
            qkv_proj, o_proj, gate_up_proj, down_proj = layer.calls
            qkv = qkv_proj(_rms(x, d.eps)).view(rows, d.heads + 2 * kv, hd)
            qk = torch.addcmul(qkv[:, : d.heads + kv] * cos, qkv[:, : d.heads + kv].roll(hd // 2, -1), sin)
            keys[:, at: at + rows] = qk[:, d.heads:].transpose(0, 1)
            values[:, at: at + rows] = qkv[:, d.heads + kv:].transpose(0, 1)
            q = qk[:, : d.heads].reshape(rows, kv, group, hd).transpose(0, 1).reshape(kv, rows * group, hd)
            scores = torch.baddbmm(mask, q, keys[:, : at + rows].transpose(1, 2))  # q holds 1/√d
            out = torch.bmm(torch.softmax(scores, dim=-1), values[:, : at + rows])
            x = x + o_proj(out.view(kv, rows, group * hd).transpose(0, 1).reshape(rows, 1, d.heads * hd))
            gate_up = gate_up_proj(_rms(x, d.eps))
            x = x + down_proj(F.silu(gate_up[..., : d.intermediate]) * gate_up[..., d.intermediate:])
        self.written += 1
        return d.lm_head(_rms(x, d.eps))[:, 0]
