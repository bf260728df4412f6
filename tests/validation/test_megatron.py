"""Predicted step time vs Megatron-LM SC21 Table 1 (10 GPT models, 32-3072 A100s).

Prints the table. Never fitted: the shipped A100 profile's in-situ parameters come from
micro-benchmarks and the public calibration corpus (reference/calibration/), not from these
rows. With it archsim is −4.3% … +11.1% (MAPE 6.4%); the trustworthy-estimates issue's
target, MAPE ≤ 5% with every row ≤ 10%, is missed on the mean and on the 1T row.
The first test guards the current level against regressions; the second keeps the target as a
strict xfail (it fails loudly the day the model meets it, so the guard can be tightened).
"""

import pytest

from archsim.published.megatron import Case, coverage_line, markdown_table, run_cases


@pytest.fixture(scope="module")
def cases():
    cases = run_cases()
    print("\n" + markdown_table(cases))
    return cases


def test_error_table_regression_guard(cases):
    errors = [abs(c.error) for c in cases]
    assert len(cases) == 10
    assert sum(errors) / len(errors) <= 0.066
    assert max(errors) <= 0.114


@pytest.mark.xfail(strict=True, reason="issue target not met: MAPE 6.4% (target 5%), worst "
                                       "row +11.1% (target 10%; see README, Accuracy)")
def test_issue_target_mean_5_percent_each_10(cases):
    errors = [abs(c.error) for c in cases]
    assert sum(errors) / len(errors) <= 0.05 and max(errors) <= 0.10


def test_compute_slowdown_that_would_match_a_row():
    """Predicted 10 s of which 8 s scale with kernel speed, measured 12 s: the other 2 s stay,
    so the kernels would have to be (12 − 2) / 8 = 1.25× slower."""
    case = Case(params_b="x", gpus=8, measured_step_s=12.0, predicted_step_s=10.0,
                measured_tflops=1.0, predicted_tflops=1.2, compute_s=8.0, exposed_comm_s=1.5)
    assert case.compute_slowdown_to_match == 1.25
    assert case.error == pytest.approx(-1 / 6)


def test_interval_coverage_counts_rows_inside_their_band():
    """Measured 12 s: inside 11–14 s, outside 12.5–15 s; a row without a band is not judged."""
    def case(interval):
        return Case(params_b="x", gpus=8, measured_step_s=12.0, predicted_step_s=13.0,
                    measured_tflops=1.0, predicted_tflops=0.9, interval=interval)

    rows = [case((11.0, 14.0)), case((12.5, 15.0)), case(None)]
    assert [c.covered for c in rows] == [True, False, None]
    assert coverage_line(rows) == ("The measured step lies inside the interval its prediction "
                                   "carried on 1 of 2 rows.")
    assert coverage_line([case(None)]) is None


def test_every_row_carries_a_step_time_interval(cases):
    assert all(c.interval is not None and c.interval[0] < c.predicted_step_s < c.interval[1]
               for c in cases)
