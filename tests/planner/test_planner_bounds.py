"""The planner's bounds are true lower bounds of the simulation, tight where nothing is left
out, and the model-state memory per ZeRO stage matches a hand count."""

import pytest

import archsim
from archsim.plan.schedules import build_schedule
from archsim.planner.bounds import Bounder, alive_at_first_backward
from archsim.planner.space import Candidate

REL = 1e-9


def test_bounds_never_exceed_the_simulation(everything):
    _, _, evaluated = everything
    feasible = [ev for ev in evaluated if ev.result["feasible"]]
    assert len(feasible) > 50 and len(evaluated) - len(feasible) > 5  # both kinds present
    for ev in evaluated:
        r = ev.result
        for b in (ev.bound, ev.exact_split):
            if b is None:
                continue
            assert b.step_time_s <= r["step_time_s"] * (1 + REL), ev.candidate.label()
            assert b.memory_bytes <= r["memory"]["peak_bytes_per_device"] * (1 + REL), \
                ev.candidate.label()
            if not b.fits:  # pruned for memory ⇒ the simulation says it does not fit either
                assert not r["feasible"]
                assert any("per device, has" in x for x in r["infeasible_reasons"])


def test_memory_bound_is_exact_for_1f1b(everything):
    """1F1B holds min(p − s, m) micro-batches on stage s at its first backward: with the
    engine's layer split the bound counts exactly what the simulated schedule holds."""
    _, _, evaluated = everything
    one_f_one_b = [ev for ev in evaluated
                   if ev.candidate.schedule == "1f1b" and ev.exact_split is not None]
    assert len(one_f_one_b) > 50
    for ev in one_f_one_b:
        assert ev.exact_split.memory_bytes == pytest.approx(
            ev.result["memory"]["peak_bytes_per_device"], rel=REL), ev.candidate.label()


def test_time_bound_is_exact_without_a_pipeline(dense_blocking):
    """With one stage and no overlap, the step is the m tasks back to back, then the whole
    gradient reduction, the optimizer and the parameter all-gather: nothing the bound leaves
    out (sends, waits, the tied-embedding sync) occurs."""
    _, _, evaluated = dense_blocking
    single = [ev for ev in evaluated if ev.candidate.pp == 1 and ev.result["feasible"]]
    assert len(single) > 20
    for ev in single:
        assert ev.bound.step_time_s == pytest.approx(ev.result["step_time_s"], rel=REL), \
            ev.candidate.label()


def test_time_bound_is_tight_with_a_pipeline(everything):
    """Pipelined plans with the engine's layer split: the bound leaves out sends and waits
    between tasks only. Measured on these spaces: bound / simulated ≥ 0.85 on one pool and
    ≥ 0.72 on two (interleaved, 4 micro-batches, where waits for the slower pool dominate);
    median ≥ 0.96. A looser bound would not be wrong, but would leave many more plans to
    simulate."""
    _, _, evaluated = everything
    ratios = sorted(ev.exact_split.step_time_s / ev.result["step_time_s"] for ev in evaluated
                    if ev.candidate.pp > 1 and ev.result["feasible"]
                    and ev.exact_split is not None)
    assert len(ratios) > 100
    assert ratios[0] > 0.7 and ratios[len(ratios) // 2] > 0.95


@pytest.mark.parametrize("schedule,p,v", [("1f1b", 1, 1), ("1f1b", 4, 1), ("gpipe", 3, 1),
                                          ("interleaved", 2, 2), ("interleaved", 4, 3)])
@pytest.mark.parametrize("m", [4, 8, 12])
def test_micro_batches_alive_match_the_schedule(schedule, p, v, m):
    for s, order in enumerate(build_schedule(schedule, p, m, v)):
        first_b = next(i for i, (phase, _, _) in enumerate(order) if phase == "B")
        assert alive_at_first_backward(schedule, s, p, m, v) == first_b


def _states_bound(zero: int):
    sc = archsim.load_scenario(None)  # GPT-3 175B, fp16, Adam, 1024 A100s
    cand = Candidate(tp=8, pp=1, dp=128, cp=1, ep=1, sp=False, zero=zero, micro_batch=1,
                     recompute="full", schedule="1f1b", virtual_stages=1)
    return Bounder(sc).bound(cand).memory_parts


@pytest.mark.parametrize("zero", [0, 1, 2, 3])
def test_model_states_per_zero_stage_by_hand(zero):
    L, h, t, V, S, dp = 96, 12288, 8, 51200, 2048, 128
    # per tensor-parallel rank and layer: QKV and FC1 weights+biases split over t
    # (12h²/t + 7h/t), LayerNorms (2 × 2h) and the row-parallel biases (2 × h) replicated
    per_layer = 12 * h * h // t + 7 * h // t + 6 * h
    # vocab-parallel token embedding + learned positions (replicated) + final LayerNorm;
    # the output layer is tied to the embedding and pp = 1, so it adds nothing
    params = L * per_layer + V * h // t + S * h + 2 * h
    assert params == 21_855_215_616
    weights, grads, opt = 2 * params, 2 * params, 12 * params  # fp16 + Adam fp32 states
    # ZeRO-3 also holds gathered layers in full (the largest unit: a layer, above the
    # embedding's V·h/t + S·h): the layer computing (this scenario does not overlap, so none
    # is prefetched), and one layer's unsharded fp16 gradient
    expected = {0: (weights, grads, opt), 1: (weights, grads, opt / dp),
                2: (weights, grads / dp, opt / dp),
                3: (weights / dp + 2 * per_layer, grads / dp + 2 * per_layer, opt / dp)}
    parts = _states_bound(zero)
    got = (parts["weights"], parts["gradients"], parts["optimizer_states"])
    assert got == pytest.approx(expected[zero], rel=1e-12)


def test_a_straggler_tightens_the_bound_and_it_stays_below_the_simulation():
    """Device 5 at half speed: whichever stage holds it runs its kernels at 0.5×, so a plan's
    step lasts at least its lightest stage's kernels at that speed. Without that, a straggled
    pool's bounds were the nominal ones and `archsim plan gpt3-175b-one-slow-node` simulated
    10,253 plans (5 minutes); they must still never exceed the simulated step."""
    from planner_cases import TINY_SPACE, simulate_everything, tiny_scenario

    sc = tiny_scenario(overlap_comm=True)
    slow = archsim.load_scenario(sc.model_dump(mode="json"),
                                 {"hardware.stragglers": [{"device": 5, "speed": 0.5}]})
    evaluated = simulate_everything(slow, TINY_SPACE)
    nominal = Bounder(sc)
    tighter = 0
    for ev in evaluated:
        r = ev.result
        if r["feasible"]:
            assert ev.bound.step_time_s <= r["step_time_s"] * (1 + REL), ev.candidate.label()
        tighter += ev.bound.step_time_s > nominal.bound(ev.candidate).step_time_s * (1 + REL)
    assert tighter > len(evaluated) / 2
