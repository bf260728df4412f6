"""Validation cases: which models run how on the local device (no torch needed).

A case is a model (an archsim ModelSpec), a mode (a training step: forward, backward, AdamW;
or inference: prefill then decode with a KV cache), batch and sequence sizes and a dtype. The
same case is run for real (:mod:`archsim.validate.runner`) and simulated
(:mod:`archsim.validate.predict`).

The models are small members of the families archsim simulates at scale — a GPT (GeLU, MHA,
learned positions, tied embeddings), a Llama (SwiGLU, GQA, RMSNorm, RoPE, no biases, untied
head) and a BERT-style encoder with a token-classification head — sized so that one step takes
0.02–2 s on a 2-core CPU: long enough to time reliably, short enough for CI; on CUDA two
GPU-sized members (GPT-3 XL, Llama 3.2 1B) join them. They are chosen by family and size only;
none of them was selected or tuned by looking at validation errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from archsim.spec.model import ModelSpec

CONLL_NER_LABELS = 9
"""Token-classification classes of the encoder case: CoNLL-2003 NER's 9 BIO tags
(O, B/I-PER, B/I-ORG, B/I-LOC, B/I-MISC; Tjong Kim Sang & De Meulder 2003)."""


def _gpt(name: str, layers: int, hidden: int, heads: int, vocab: int) -> ModelSpec:
    return ModelSpec(name=name, layers=layers, hidden=hidden, heads=heads, vocab=vocab,
                     mlp="gelu", norm="layernorm", position="learned", bias=True,
                     tied_embeddings=True, max_seq_len=2048,
                     source="GPT-2/GPT-3 family shape (Radford et al. 2019), scaled down")


def _llama(name: str, layers: int, hidden: int, heads: int, kv_heads: int, ffn: int,
           vocab: int, *, tied: bool = False,
           source: str = "Llama 2/3 family shape (Touvron et al. 2023), scaled down; "
                         "ffn = 8/3·hidden rounded up to a multiple of 64") -> ModelSpec:
    return ModelSpec(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                     ffn_hidden=ffn, vocab=vocab, mlp="swiglu", norm="rmsnorm",
                     position="rope", bias=False, tied_embeddings=tied, max_seq_len=2048,
                     source=source)


def _bert(name: str, layers: int, hidden: int, heads: int, vocab: int) -> ModelSpec:
    return ModelSpec(name=name, layers=layers, hidden=hidden, heads=heads, vocab=vocab,
                     mlp="gelu", norm="layernorm", position="learned", bias=True,
                     encoder=True, tied_embeddings=True, max_seq_len=512,
                     num_labels=CONLL_NER_LABELS,
                     source="BERT family shape (Devlin et al. 2019), scaled down, with a "
                            "token-classification head")


MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (
        _gpt("gpt-tiny", 2, 256, 4, 4096),
        _gpt("gpt-small", 4, 512, 8, 8192),
        _gpt("gpt-medium", 6, 768, 12, 8192),
        _llama("llama-tiny", 2, 256, 4, 2, 704, 4096),
        _llama("llama-small", 4, 512, 8, 2, 1408, 8192),
        _bert("bert-tiny", 2, 256, 4, 4096),
        _bert("bert-small", 4, 512, 8, 8192),
        # GPU-sized members, run on CUDA only (see gpu_scale_cases)
        _gpt("gpt-1.3b", 24, 2048, 16, 50304),
        _llama("llama-1b", 16, 2048, 32, 8, 8192, 128256, tied=True,
               source="Llama 3.2 1B shape (Meta 2024, model card / config.json: 16 layers, "
                      "hidden 2048, 32 heads, 8 KV heads, ffn 8192, vocab 128256, tied "
                      "embeddings)"),
    )
}
"""``gpt-1.3b`` is GPT-3 XL (Brown et al. 2020, Table 2.1: 24 layers, d_model 2048, 16 heads)
with the GPT-2 vocabulary padded to a multiple of 64 (50257 → 50304, as Megatron-LM pads)."""


@dataclass(frozen=True)
class Case:
    """One validation case (sizes per sequence; ``seq_len`` is the prompt for inference)."""

    model: str
    mode: Literal["training", "inference"]
    batch: int
    seq_len: int
    gen_len: int = 0
    dtype: str = "fp32"

    @property
    def name(self) -> str:
        if self.mode == "training":
            return f"train {self.model} b{self.batch} s{self.seq_len}"
        return f"infer {self.model} b{self.batch} p{self.seq_len} g{self.gen_len}"

    @property
    def spec(self) -> ModelSpec:
        return MODELS[self.model]


def default_cases(device: str, quick: bool = False) -> list[Case]:
    """The validation set: ``quick`` is CI's reduced set (tiny models only)."""
    dtype = "bf16" if device == "cuda" else "fp32"
    if quick:
        return [Case("gpt-tiny", "training", 4, 128, dtype=dtype),
                Case("llama-tiny", "training", 4, 128, dtype=dtype),
                Case("bert-tiny", "training", 8, 64, dtype=dtype),
                Case("gpt-tiny", "inference", 2, 64, 16, dtype=dtype),
                Case("llama-tiny", "inference", 1, 128, 16, dtype=dtype)]
    scale = 8 if device == "cuda" else 1  # a GPU needs larger batches to be timed reliably
    return [
        Case("gpt-tiny", "training", 8 * scale, 128, dtype=dtype),
        Case("gpt-small", "training", 4 * scale, 256, dtype=dtype),
        Case("gpt-small", "training", 8 * scale, 128, dtype=dtype),
        Case("gpt-small", "training", 2 * scale, 512, dtype=dtype),
        Case("gpt-medium", "training", 4 * scale, 256, dtype=dtype),
        Case("llama-small", "training", 4 * scale, 256, dtype=dtype),
        Case("llama-small", "training", 2 * scale, 512, dtype=dtype),
        Case("bert-small", "training", 8 * scale, 128, dtype=dtype),
        Case("bert-small", "training", 4 * scale, 256, dtype=dtype),
        Case("gpt-tiny", "inference", 8 * scale, 64, 32, dtype=dtype),
        Case("gpt-small", "inference", 1 * scale, 256, 32, dtype=dtype),
        Case("gpt-small", "inference", 4 * scale, 128, 32, dtype=dtype),
        Case("gpt-medium", "inference", 1 * scale, 128, 32, dtype=dtype),
        Case("llama-small", "inference", 1 * scale, 256, 32, dtype=dtype),
        Case("llama-small", "inference", 4 * scale, 128, 32, dtype=dtype),
        *(gpu_scale_cases(dtype) if device == "cuda" else []),
    ]


def gpu_scale_cases(dtype: str = "bf16") -> list[Case]:
    """Cases at the size a GPU is bought for (1–1.3B parameters, 2K-token sequences): the
    regime of archsim's in-situ model, where kernels are large enough for the GPU's sustained
    rates to matter rather than per-kernel dispatch. Chosen by family and size before any was
    run: training at 16K tokens per step, batch-1 prefill of a short (128) and a long (2048)
    prompt (1536 + 64 generated stays within the 2048 learned positions), and batched
    decode."""
    return [
        Case("gpt-1.3b", "training", 8, 2048, dtype=dtype),
        Case("llama-1b", "training", 8, 2048, dtype=dtype),
        Case("gpt-1.3b", "inference", 1, 128, 64, dtype=dtype),
        Case("gpt-1.3b", "inference", 1, 1536, 64, dtype=dtype),
        Case("llama-1b", "inference", 1, 1024, 64, dtype=dtype),
        Case("llama-1b", "inference", 16, 512, 64, dtype=dtype),
    ]
