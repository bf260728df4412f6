"""Layers per stage of an inference pipeline across pools, balanced by each stage's speed.

The same rule as training (archsim.plan.balance): the split that minimizes the slowest stage,
memory permitting. A stage's time with n layers is n·t_s + e_s, where t_s is one layer's time
over the whole generation on the stage's device — the prefill of the prompt plus gen_len − 1
decode steps at the mid-generation context — and e_s the embedding (first stage) or the final
norm and logits (last stage). Both come from the inference cost tables (the training cost
model): a stage costed with one layer and with two gives t_s and e_s exactly.
Memory cap: the layers whose weights and KV cache fit in the device beside the runtime reserve,
the extras' weights and the transient activations — the same terms, from the same op graph,
as the result's memory check (archsim/metrics/inference.py), so a split that fits is found
whenever one exists.
"""

from __future__ import annotations

from archsim.graph.inference import kv_heads_per_rank
from archsim.plan.balance import min_max_split
from archsim.plan.inference import (
    Degrees,
    Precision,
    StageCost,
    base_shape,
    comm_groups,
    params_per_device,
    runtime_device,
)
from archsim.plan.placement import Placement
from archsim.spec.scenario import ScenarioSpec


def balance_inference_layers(sc: ScenarioSpec, deg: Degrees, precision: Precision,
                             placement: Placement, batch: int, prompt: int, gen: int
                             ) -> list[int] | None:
    """Layers per stage; None when no split fits the caps (the even split is kept)."""
    model = precision.model
    base = base_shape(sc, precision, deg)
    mid = prompt + max(1, gen // 2)
    t, e, caps = [], [], []
    kv_per_layer = (2.0 * kv_heads_per_rank(model, deg.tp) * model.d_head * precision.kv_bytes
                    * batch * (prompt + gen))
    for i, hw in enumerate(placement.stages):
        device = runtime_device(hw.pool.device, sc)
        groups = comm_groups(hw.pool, deg)
        first, last = i == 0, i == deg.pp - 1
        one, two = (StageCost(model, device, groups, layers, first=first, last=last, base=base)
                    for layers in ((0,), (0, 1)))
        one_s = _generation_s(one, batch, prompt, gen, mid)
        layer_s = _generation_s(two, batch, prompt, gen, mid) - one_s
        t.append(layer_s)
        e.append(one_s - layer_s)
        one_p = params_per_device(one, deg)
        layer_p = params_per_device(two, deg) - one_p
        per_layer = layer_p * precision.weight_bytes + kv_per_layer
        act = one.generation_activation_bytes(batch, prompt, prompt + gen)
        free = (hw.pool.device.usable_memory - (one_p - layer_p) * precision.end_bytes
                - act)
        caps.append(max(0, int(free // per_layer)))
    return min_max_split(t, e, model.layers, 1, caps)


def _generation_s(st: StageCost, batch: int, prompt: int, gen: int, mid: int) -> float:
    """The stage's time over one generation: prefill, then gen − 1 decode steps at ``mid``."""
    prefill = st.linear(batch * prompt).time_s + st.attention(batch, prompt, prompt).time_s
    decode = st.linear(batch).time_s + st.decode_attention(batch, batch * mid).time_s
    if st.last:
        prefill += st.head(batch).time_s
        decode += st.head(batch).time_s
    return prefill + (gen - 1) * decode
