"""Predicted step time vs Megatron-LM SC21 Table 1 (10 GPT models, 32-3072 A100s).

Prints the table. The issue's target (mean ≤ 8%, each row ≤ 15%) is not met today: archsim is
uniformly optimistic by 14-23% with component-calibrated efficiencies (it was 12-17% before the
A100 profile was re-derived with the GEMM sweep's measured 28.2 us fixed cost per call, which
raised its memory efficiency from 0.80 to 0.925; see a100-sxm4-80gb.yaml). The first test guards
the current level against regressions; the second keeps the target visible as a strict xfail
(it fails loudly the day the model meets it, so the guard can be tightened).
"""

import pytest

from archsim.published.megatron import Case, markdown_table, run_cases


@pytest.fixture(scope="module")
def cases():
    cases = run_cases()
    print("\n" + markdown_table(cases))
    return cases


def test_error_table_regression_guard(cases):
    errors = [abs(c.error) for c in cases]
    assert len(cases) == 10
    assert sum(errors) / len(errors) <= 0.19
    assert max(errors) <= 0.24


@pytest.mark.xfail(strict=True, reason="issue target not met: archsim is ~18% optimistic "
                                       "(see README, Accuracy)")
def test_issue_target_mean_8_percent_each_15(cases):
    errors = [abs(c.error) for c in cases]
    assert sum(errors) / len(errors) <= 0.08 and max(errors) <= 0.15


def test_compute_slowdown_that_would_match_a_row():
    """Predicted 10 s of which 8 s scale with kernel speed, measured 12 s: the other 2 s stay,
    so the kernels would have to be (12 − 2) / 8 = 1.25× slower."""
    case = Case(params_b="x", gpus=8, measured_step_s=12.0, predicted_step_s=10.0,
                measured_tflops=1.0, predicted_tflops=1.2, compute_s=8.0, exposed_comm_s=1.5)
    assert case.compute_slowdown_to_match == 1.25
    assert case.error == pytest.approx(-1 / 6)
