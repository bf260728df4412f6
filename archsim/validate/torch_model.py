"""Real PyTorch models built from an archsim :class:`~archsim.spec.model.ModelSpec`.

This module needs torch: import it only after :func:`archsim.validate.deps.require_torch`
(``archsim.validate`` never imports it at package import time).

The layers are written as archsim's op graph describes them (archsim/graph/transformer.py), so
that one real kernel stands behind each simulated op wherever PyTorch allows it:

* pre-norm blocks: norm → fused QKV linear → scaled-dot-product attention (PyTorch's fused
  flash kernel on CPU and CUDA; GQA through ``enable_gqa``) → output linear → residual add;
  norm → MLP (GeLU / ReLU: fc1, activation, fc2; SwiGLU: one fc1 of width 2·ffn, SiLU(gate)·up,
  fc2) → residual add;
* decoders are causal, encoders (``encoder: true``) bidirectional;
* positions: learned (an embedding added to the token embedding), RoPE (rotate-half form, as in
  Llama, in a range of its own: the op graph's ``rope``) or none; ALiBi and mixture-of-experts
  layers are not built (SpecError);
* heads: a language-model head (tied to the embedding or its own matrix) with cross entropy over
  the vocabulary, or the token-classification head of ``spec.num_labels`` classes (BERT
  fine-tuning).

Inference keeps a KV cache preallocated for the whole sequence; prefill writes the prompt's K/V,
each decode step writes one position and attends to the cached prefix; logits are computed for
the last position only (the one that samples the next token, as vLLM does).

Op labels: with ``model.labels.enabled`` each kernel group runs inside a
``torch.profiler.record_function`` named like the op graph's op (``L0.qkv``, ``L0.attn``,
``logits`` ...), so a profile can be matched op by op with the simulation
(:mod:`archsim.validate.op_profile`). Disabled (the default), labelling costs nothing.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from archsim.spec.errors import SpecError
from archsim.spec.model import ModelSpec

ROPE_BASE = 10000.0
"""RoPE frequency base of Su et al. 2021 / Llama 1-2 (its value does not change the cost)."""


def check_buildable(spec: ModelSpec) -> None:
    """SpecError unless :func:`build_model` can build ``spec`` as a real PyTorch model."""
    problems = []
    if spec.moe is not None:
        problems.append(f"model {spec.name}: moe: mixture-of-experts layers are not built by "
                        "archsim validate; expected a dense model")
    if spec.position == "alibi":
        problems.append(f"model {spec.name}: position: 'alibi' is not built by archsim "
                        "validate; expected learned, rope or none")
    if spec.position == "rope" and spec.d_head % 2:
        problems.append(f"model {spec.name}: head_dim {spec.d_head} must be even for rope")
    if problems:
        raise SpecError(problems)


class OpLabels:
    """Profiler ranges named like archsim's ops; a no-op unless ``enabled``. With a
    ``stopwatch`` dict instead, each range adds its wall time in seconds to
    ``stopwatch[name]`` (the layer prefix ``L<i>.`` dropped, so layers add up): a per-op
    timing for devices that run each op before returning (a CPU), cheaper than the
    profiler."""

    def __init__(self) -> None:
        self.enabled = False
        self.stopwatch: dict[str, float] | None = None
        self._null = contextlib.nullcontext()

    def __call__(self, name: str):
        if self.stopwatch is not None:
            return _Stopwatch(self.stopwatch, _LAYER_PREFIX.sub("", name))
        if not self.enabled:
            return self._null
        return torch.profiler.record_function(name)


_LAYER_PREFIX = re.compile(r"^L\d+\.")


class _Stopwatch:
    __slots__ = ("name", "store", "t0")

    def __init__(self, store: dict[str, float], name: str) -> None:
        self.store, self.name = store, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        took = time.perf_counter() - self.t0
        self.store[self.name] = self.store.get(self.name, 0.0) + took


class RMSNorm(nn.Module):
    """Root-mean-square norm (Zhang & Sennrich 2019) through ``F.rms_norm``."""

    def __init__(self, width: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _norm(spec: ModelSpec) -> nn.Module:
    if spec.norm == "rmsnorm":
        return RMSNorm(spec.hidden)
    return nn.LayerNorm(spec.hidden, bias=spec.bias)


@dataclass
class KVCache:
    """Per-layer key/value tensors of shape (batch, kv_heads, max_len, head_dim)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    length: int = 0
    """Positions already written."""


def rope_tables(head_dim: int, length: int, device: torch.device, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of positions 0 … length − 1 (length × head_dim, rotate-half layout)."""
    inv = 1.0 / (ROPE_BASE ** (torch.arange(0, head_dim, 2, device=device,
                                            dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def apply_rope(q: torch.Tensor, k: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
               start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary embedding of the queries and keys at positions start … start + s − 1 (the op
    graph's ``rope`` op), eagerly: negation, concatenation and two multiply-adds for each."""
    s = q.shape[2]
    cos, sin = rope[0][start:start + s], rope[1][start:start + s]
    return _rotate(q, cos, sin), _rotate(k, cos, sin)


class Attention(nn.Module):
    def __init__(self, spec: ModelSpec, prefix: str, labels: OpLabels):
        super().__init__()
        self.heads, self.kv_heads, self.d = spec.heads, spec.n_kv_heads, spec.d_head
        self.causal = not spec.encoder
        self.dropout = spec.dropout
        self.prefix, self.labels = prefix, labels
        width = (self.heads + 2 * self.kv_heads) * self.d
        self.qkv = nn.Linear(spec.hidden, width, bias=spec.bias)
        self.proj = nn.Linear(self.heads * self.d, spec.hidden, bias=spec.bias)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None,
                cache: tuple[torch.Tensor, torch.Tensor] | None, start: int) -> torch.Tensor:
        b, s, _ = x.shape
        a, g, d = self.heads, self.kv_heads, self.d
        p, lab = self.prefix, self.labels
        with lab(p + "qkv"):
            qkv = self.qkv(x)
        with lab(p + "attn"):
            q, k, v = qkv.view(b, s, a + 2 * g, d).split([a, g, g], dim=2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if rope is not None:
            with lab(p + "rope"):
                q, k = apply_rope(q, k, rope, start)
        if cache is not None:
            with lab(p + "kv_write"):
                cache[0][:, :, start:start + s] = k
                cache[1][:, :, start:start + s] = v
            k, v = cache[0][:, :, :start + s], cache[1][:, :, :start + s]
        with lab(p + "attn"):
            # causal only when the queries are the whole prefix (training, prefill); a decode
            # step's single query attends to every cached position
            causal = self.causal and s > 1
            drop = self.dropout if self.training else 0.0
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=causal,
                                               enable_gqa=g != a)
            o = o.transpose(1, 2).reshape(b, s, a * d)
        with lab(p + "proj"):
            return self.proj(o)


class MLP(nn.Module):
    def __init__(self, spec: ModelSpec, prefix: str, labels: OpLabels):
        super().__init__()
        self.kind = spec.mlp
        self.prefix, self.labels = prefix, labels
        up = 2 * spec.ffn if spec.mlp == "swiglu" else spec.ffn
        self.fc1 = nn.Linear(spec.hidden, up, bias=spec.bias)
        self.fc2 = nn.Linear(spec.ffn, spec.hidden, bias=spec.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, lab = self.prefix, self.labels
        with lab(p + "fc1"):
            h = self.fc1(x)
        if self.kind == "swiglu":
            with lab(p + "swiglu"):
                gate, up = h.chunk(2, dim=-1)
                h = F.silu(gate) * up
        else:
            # the op graph names the (non-gated) activation "gelu" for GeLU and ReLU alike
            with lab(p + "gelu"):
                h = F.relu(h) if self.kind == "relu" else F.gelu(h)
        with lab(p + "fc2"):
            return self.fc2(h)


class Block(nn.Module):
    def __init__(self, spec: ModelSpec, layer: int, labels: OpLabels):
        super().__init__()
        p = f"L{layer}."
        self.prefix, self.labels = p, labels
        self.ln_attn, self.attn = _norm(spec), Attention(spec, p, labels)
        self.ln_mlp, self.mlp = _norm(spec), MLP(spec, p, labels)
        self.dropout = spec.dropout
        self.parallel = spec.parallel_attention and not spec.is_moe_layer(layer)

    def _residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.dropout:
            y = F.dropout(y, self.dropout, self.training)
        return x + y

    def forward(self, x: torch.Tensor, rope, cache, start: int) -> torch.Tensor:
        p, lab = self.prefix, self.labels
        with lab(p + "ln_attn"):
            h = self.ln_attn(x)
        y = self.attn(h, rope, cache, start)
        if self.parallel:
            with lab(p + "ln_mlp"):
                h = self.ln_mlp(x)
            z = self.mlp(h)
            with lab(p + "bda_mlp"):
                return self._residual(x, y + z)
        with lab(p + "bda_attn"):
            x = self._residual(x, y)
        with lab(p + "ln_mlp"):
            h = self.ln_mlp(x)
        y = self.mlp(h)
        with lab(p + "bda_mlp"):
            return self._residual(x, y)


class TransformerModel(nn.Module):
    """Decoder or encoder stack with a language-model or token-classification head."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        check_buildable(spec)
        self.spec = spec
        num_labels = spec.num_labels
        self.num_labels = num_labels
        self.labels = OpLabels()
        self.embed = nn.Embedding(spec.vocab, spec.hidden)
        self.pos = (nn.Embedding(spec.max_seq_len, spec.hidden)
                    if spec.position == "learned" else None)
        self.blocks = nn.ModuleList(Block(spec, i, self.labels) for i in range(spec.layers))
        self.ln_final = _norm(spec)
        if num_labels is not None:
            self.head: nn.Module | None = nn.Linear(spec.hidden, num_labels, bias=spec.bias)
        elif spec.tied_embeddings:
            self.head = None
        else:
            self.head = nn.Linear(spec.hidden, spec.vocab, bias=False)
        self._rope: tuple[torch.Tensor, torch.Tensor] | None = None
        self.apply(_init_weights)

    def _rope_for(self, length: int, like: torch.Tensor):
        if self.spec.position != "rope":
            return None
        if self._rope is None or self._rope[0].shape[0] < length or \
                self._rope[0].dtype != like.dtype or self._rope[0].device != like.device:
            self._rope = rope_tables(self.spec.d_head, max(length, self.spec.max_seq_len),
                                     like.device, like.dtype)
        return self._rope

    def hidden_states(self, tokens: torch.Tensor, cache: KVCache | None = None
                      ) -> torch.Tensor:
        """The final norm's output for every position of ``tokens``."""
        start = cache.length if cache is not None else 0
        s = tokens.shape[1]
        with self.labels("embed"):
            x = self.embed(tokens)
            if self.pos is not None:
                x = x + self.pos.weight[start:start + s]
            if self.spec.dropout:
                x = F.dropout(x, self.spec.dropout, self.training)
        rope = self._rope_for(start + s, x)
        for i, block in enumerate(self.blocks):
            kv = (cache.keys[i], cache.values[i]) if cache is not None else None
            x = block(x, rope, kv, start)
        if cache is not None:
            cache.length = start + s
        with self.labels("ln_final"):
            return self.ln_final(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with self.labels("logits"):
            if self.head is None:
                return F.linear(x, self.embed.weight)
            return self.head(x)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Logits of every position, or the mean cross-entropy loss when ``targets`` are
        given (training)."""
        logits = self.logits(self.hidden_states(tokens))
        if targets is None:
            return logits
        with self.labels("loss"):
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def next_token(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """One generation step (prefill when the cache is empty, else decode): the tokens'
        K/V go into the cache and the last position's logits pick the next token (greedy)."""
        h = self.hidden_states(tokens, cache)
        return self.logits(h[:, -1:]).argmax(dim=-1)

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        p = self.embed.weight
        shape = (batch, self.spec.n_kv_heads, max_len, self.spec.d_head)
        n = self.spec.layers
        return KVCache(keys=[torch.zeros(shape, device=p.device, dtype=p.dtype) for _ in range(n)],
                       values=[torch.zeros(shape, device=p.device, dtype=p.dtype)
                               for _ in range(n)])


INIT_STD = 0.02
"""Standard deviation of the initial weights (GPT-2 / Megatron-LM ``init_method_std``)."""


def _init_weights(module: nn.Module) -> None:
    """GPT-2 style initialisation: N(0, 0.02) weights, zero biases. PyTorch's default N(0, 1)
    embedding makes tied logits so large that the softmax gradient underflows to denormals."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def torch_dtype(name: str) -> torch.dtype:
    """torch dtype of an archsim compute dtype name (fp32, tf32 → float32 storage)."""
    table = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
             "fp16": torch.float16}
    if name not in table:
        raise SpecError([f"workload.dtype: {name!r} cannot be run by archsim validate; "
                         f"expected one of {', '.join(table)}"])
    return table[name]


def build_model(spec: ModelSpec, device: str, dtype: str, *, seed: int = 0
                ) -> TransformerModel:
    """A randomly initialised model on ``device`` in ``dtype`` (parameters and compute)."""
    torch.manual_seed(seed)
    model = TransformerModel(spec)
    return model.to(device=device, dtype=torch_dtype(dtype))


def random_tokens(spec: ModelSpec, batch: int, seq: int, device: str, seed: int = 1
                  ) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, spec.vocab, (batch, seq), generator=gen).to(device)


def random_targets(model: TransformerModel, batch: int, seq: int, device: str, seed: int = 2
                   ) -> torch.Tensor:
    classes = model.num_labels or model.spec.vocab
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, classes, (batch, seq), generator=gen).to(device)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
