"""The model library (workloads/models/): every entry loads, the Megatron-LM weak-scaling family
matches SC21 Table 1, and each model's parameter count, by a hand formula written here, matches
the published count."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from archsim.spec.loader import load_spec_file
from archsim.spec.model import ModelSpec
from archsim.spec.registry import list_names

REFERENCE = Path(__file__).parents[2] / "reference"

REQUIRED = [
    "gpt3-1.7b", "gpt3-3.6b", "gpt3-7.5b", "gpt3-18.4b", "gpt3-39.1b", "gpt3-76.1b",
    "gpt3-145.6b", "gpt3-175b", "gpt3-310.1b", "gpt3-529.6b", "gpt3-1t",
    "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", "llama3-405b",
    "mixtral-8x7b", "gpt-j-6b", "bert-large",
]


def load(name: str) -> ModelSpec:
    spec = load_spec_file("models", name)
    assert isinstance(spec, ModelSpec)
    return spec


# --- every entry exists and loads ---------------------------------------------------------------


def test_all_required_models_are_registered():
    missing = sorted(set(REQUIRED) - set(list_names("models")))
    assert not missing, f"missing model files: {missing}"


@pytest.mark.parametrize("name", REQUIRED)
def test_model_loads(name):
    spec = load(name)
    assert spec.name == name
    assert spec.source, "every library model cites its source"


# --- Megatron-LM weak-scaling family (Narayanan et al. 2021, SC21, Table 1) ---------------------


def _megatron_rows() -> list[dict[str, str]]:
    with (REFERENCE / "megatron_weak_scaling.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _gpt3_name(params_b: str) -> str:
    return "gpt3-1t" if params_b == "1008.0" else f"gpt3-{params_b}b"


def sc21_params(m: ModelSpec) -> float:
    """SC21 eq. 2: P = 12·l·h²·(1 + 13/(12h) + (V+s)/(12·l·h))."""
    n_layers, h, v, s = m.layers, m.hidden, m.vocab, m.max_seq_len
    return 12 * n_layers * h**2 * (1 + 13 / (12 * h) + (v + s) / (12 * n_layers * h))


# The 1.7B row's printed shapes (24 layers, hidden 2304) give 1.652B by the paper's own eq. 2,
# 2.8% under the printed 1.7; the gap is in the paper, not in our file.
_SC21_COUNT_GAP = {"1.7"}


def _megatron_params():
    for row in _megatron_rows():
        marks = ()
        if row["params_b"] in _SC21_COUNT_GAP:
            marks = pytest.mark.xfail(
                strict=True,
                reason="SC21 Table 1 prints 1.7B; its eq. 2 gives 1.652B for the printed shapes")
        yield pytest.param(row, id=_gpt3_name(row["params_b"]), marks=marks)


@pytest.mark.parametrize("row", [pytest.param(r, id=_gpt3_name(r["params_b"]))
                                 for r in _megatron_rows()])
def test_megatron_family_matches_sc21_table(row):
    m = load(_gpt3_name(row["params_b"]))
    assert (m.layers, m.hidden, m.heads, m.vocab) == (
        int(row["layers"]), int(row["hidden"]), int(row["heads"]), int(row["vocab"]))
    assert m.max_seq_len == int(row["seq_len"])
    assert m.ffn == 4 * m.hidden
    assert (m.mlp, m.norm, m.position, m.bias, m.tied_embeddings) == (
        "gelu", "layernorm", "learned", True, True)
    assert m.n_kv_heads == m.heads and m.moe is None and not m.encoder


@pytest.mark.parametrize("row", list(_megatron_params()))
def test_megatron_family_sc21_parameter_count(row):
    m = load(_gpt3_name(row["params_b"]))
    published = float(row["params_b"]) * 1e9
    assert sc21_params(m) == pytest.approx(published, rel=0.015)


# --- published parameter counts, by a hand formula ----------------------------------------------


def hand_params(m: ModelSpec, *, norms_per_layer: int = 2, attn_bias: bool | None = None,
                extra: int = 0) -> int:
    """Parameters of a transformer stack, counted matrix by matrix.

    Embedding V·h (+ s·h learned positions); output projection V·h unless tied; per layer the
    q/k/v/o projections (k, v at the KV width for GQA), an MLP of 2 matrices (GELU/ReLU) or 3
    (SwiGLU), times the experts plus an h·E router for MoE layers, and the norms; biases where
    the model has them; one final norm (BERT: the embedding norm instead). ``norms_per_layer``,
    ``attn_bias`` and ``extra`` cover quirks the schema does not describe.
    """
    h, f, v = m.hidden, m.ffn, m.vocab
    head_dim = m.head_dim or h // m.heads
    q = m.heads * head_dim
    kv = (m.kv_heads or m.heads) * head_dim
    bias = m.bias
    attn_bias = bias if attn_bias is None else attn_bias

    embed = v * h + (m.max_seq_len * h if m.position == "learned" else 0)
    output = 0 if m.tied_embeddings else v * h

    attn = h * q + 2 * h * kv + q * h
    if attn_bias:
        attn += q + 2 * kv + h

    def mlp(width: int) -> int:
        if m.mlp == "swiglu":  # gate, up, down
            return 3 * h * width + ((2 * width + h) if bias else 0)
        return 2 * h * width + ((width + h) if bias else 0)

    norm = 2 * h if (m.norm == "layernorm" and bias) else h

    dense_layer = attn + mlp(f) + norms_per_layer * norm
    if m.moe is None:
        layers = m.layers * dense_layer
    else:
        e = m.moe.experts
        moe_layer = attn + e * mlp(m.moe.expert_ffn_hidden or f) + h * e + norms_per_layer * norm
        n_moe = m.layers // m.moe.every
        layers = n_moe * moe_layer + (m.layers - n_moe) * dense_layer

    return embed + output + layers + norm + extra


_H_BERT = 1024
PUBLISHED = [
    # Llama 2 paper / HF model cards.
    ("llama2-7b", 6.74e9, {}),
    ("llama2-13b", 13.0e9, {}),
    ("llama2-70b", 69.0e9, {}),
    # Llama 3 HF model cards (8.03B, 70.6B) and the 3.1 405B card (405.9B).
    ("llama3-8b", 8.03e9, {}),
    ("llama3-70b", 70.6e9, {}),
    ("llama3-405b", 405.9e9, {}),
    # Mixtral paper: 46.7B total (13B active).
    ("mixtral-8x7b", 46.7e9, {}),
    # GPT-J model card: 6,053,381,344. One LayerNorm per block (attention and MLP in parallel),
    # no attention biases, and a bias on the untied lm_head (V).
    ("gpt-j-6b", 6.05e9, {"norms_per_layer": 1, "attn_bias": False, "extra": 50400}),
    # HF BertModel: 335M. Extra: segment embedding (2·h) and the pooler (h² + h); the MLM head's
    # transform is not part of BertModel.
    ("bert-large", 335e6, {"extra": 2 * _H_BERT + _H_BERT * _H_BERT + _H_BERT}),
    # GPT-3 paper: 175.0B.
    ("gpt3-175b", 175e9, {}),
    # Falcon paper (arXiv:2311.16867) and model card: 180B; the shape gives 179.5B.
    ("falcon-180b", 180e9, {}),
]


@pytest.mark.parametrize(("name", "published", "quirks"), PUBLISHED,
                         ids=[p[0] for p in PUBLISHED])
def test_published_parameter_count(name, published, quirks):
    m = load(name)
    assert hand_params(m, **quirks) == pytest.approx(published, rel=0.015)


def test_hand_formula_agrees_with_sc21_formula():
    """For a GPT-style model the two counts differ only by the final LayerNorm (2h)."""
    for row in _megatron_rows():
        m = load(_gpt3_name(row["params_b"]))
        assert hand_params(m) - 2 * m.hidden == pytest.approx(sc21_params(m), rel=1e-12)


def test_exact_counts_of_reference_checkpoints():
    """Where the checkpoint's exact count is known, the hand formula hits it to the parameter."""
    assert hand_params(load("llama2-7b")) == 6_738_415_616
    assert hand_params(load("llama3-8b")) == 8_030_261_248
    assert hand_params(load("mixtral-8x7b")) == 46_702_792_704
    assert hand_params(load("bert-large"),
                       extra=2 * _H_BERT + _H_BERT * _H_BERT + _H_BERT) == 335_141_888
