"""Model architecture spec: a decoder (GPT/Llama style) or encoder (BERT style) transformer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from archsim.spec.base import StrictModel

# Most layers accepted: the deepest published LLMs have ~130 layers; per-layer lists (stage
# split, graphs) grow with this number (measured: 100,000 layers simulate in under 1 s, 10**9
# need 15 GB), so 100,000 refuses only typos.
MAX_LAYERS = 100_000

# Longest context (tokens) a model may declare: as workload lengths (archsim/spec/workload.py).
MAX_CONTEXT = 2**24


class MoESpec(StrictModel):
    """Mixture-of-experts MLP: ``experts`` expert MLPs, each token routed to ``top_k``."""

    experts: int = Field(ge=2)
    top_k: int = Field(default=2, ge=1)
    expert_ffn_hidden: int | None = Field(default=None, ge=1)
    """Width of one expert's MLP; defaults to the model's ffn_hidden."""
    every: int = Field(default=1, ge=1)
    """Every n-th layer is an MoE layer (1: all layers)."""
    capacity_factor: float = Field(default=1.0, gt=0)
    """Training: expert slots per routed token copy (above 1 padding, below 1 dropping); at
    most experts / top_k, where one expert's slots hold every token. Inference ignores it."""

    @model_validator(mode="after")
    def _top_k_fits(self) -> MoESpec:
        if self.top_k > self.experts:
            raise ValueError(f"top_k {self.top_k} exceeds experts {self.experts}")
        most = self.experts / self.top_k
        if self.capacity_factor > most:
            raise ValueError(f"capacity_factor {self.capacity_factor:g} is above experts / "
                             f"top_k = {most:g}, where each expert already has a slot for "
                             "every token")
        return self


class ModelSpec(StrictModel):
    """Architecture of a transformer stack (all sizes in elements, not bytes)."""

    name: str = "custom"
    layers: int = Field(ge=1, le=MAX_LAYERS)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int | None = Field(default=None, ge=1)
    """Key/value heads; fewer than ``heads`` means GQA (1 = MQA). Defaults to heads."""
    head_dim: int | None = Field(default=None, ge=1)
    """Defaults to hidden / heads."""
    ffn_hidden: int | None = Field(default=None, ge=1)
    """MLP inner width; defaults to 4 × hidden."""
    vocab: int = Field(ge=1)
    mlp: Literal["gelu", "swiglu", "relu"] = "gelu"
    moe: MoESpec | None = None
    encoder: bool = False
    """True for bidirectional (BERT-style) models: no causal mask."""
    max_seq_len: int = Field(default=2048, ge=1, le=MAX_CONTEXT)
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    position: Literal["learned", "rope", "alibi", "none"] = "learned"
    bias: bool = True
    """Linear layers and norms carry biases (GPT-3, BERT) or not (Llama)."""
    dropout: float = Field(default=0.0, ge=0, lt=1)
    """Training dropout probability (GPT-3/Megatron and BERT: 0.1; Llama: 0). Non-zero adds
    the dropout kernels and their 1-byte masks (Korthikanti et al. 2022)."""
    tied_embeddings: bool = True
    """The output projection reuses the input embedding (GPT-3) or has its own (Llama)."""
    parallel_attention: bool = False
    """Attention and MLP read the same layer input and their outputs are added to it in one
    residual step (GPT-J, GPT-NeoX ``use_parallel_residual``, PaLM, Falcon ``parallel_attn``;
    Chowdhery et al. 2022 §2): with tensor parallelism one all-reduce per layer instead of two
    (the two row-parallel outputs are summed before it). Mixture-of-experts layers stay
    sequential. False: sequential pre-norm blocks (GPT-3, Llama)."""
    num_labels: int | None = Field(default=None, ge=2)
    """A token-classification head (BERT fine-tuning, e.g. NER): logits over ``num_labels``
    classes from its own matrix, replicated over tensor-parallel ranks; None: a language-model
    head over the vocabulary."""
    source: str = ""

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelSpec:
        if self.head_dim is None and self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}; "
                             "give head_dim explicitly")
        kv = self.kv_heads or self.heads
        if kv > self.heads or self.heads % kv:
            raise ValueError(f"kv_heads {kv} must divide heads {self.heads}")
        return self

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def ffn(self) -> int:
        return self.ffn_hidden or 4 * self.hidden

    @property
    def q_width(self) -> int:
        return self.heads * self.d_head

    @property
    def kv_width(self) -> int:
        return self.n_kv_heads * self.d_head

    def is_moe_layer(self, layer: int) -> bool:
        return self.moe is not None and (layer + 1) % self.moe.every == 0
