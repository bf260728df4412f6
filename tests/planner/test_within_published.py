"""Where the planner's best plan claims more utilisation than any published run, it names the
best-ranked of its top plans that does not (it keeps ranking by the simulated numbers)."""

from types import SimpleNamespace

from archsim.planner.render import _within_published
from archsim.planner.result import PlanRow


def row(label: str, mfu: float, flagged: bool) -> PlanRow:
    claims = [f"MFU {100 * mfu:.1f}% is above the best published run"] if flagged else []
    return PlanRow(candidate=None, label=label,
                   result={"mfu": mfu, "uncertainty": {"above_published": claims}})


def test_the_best_plan_within_the_published_utilisation_is_named():
    ps = SimpleNamespace(top=[row("a", 0.527, True), row("b", 0.52, True),
                              row("c", 0.45, False)])
    assert _within_published(ps) == ("the best of the top plans within the published "
                                     "utilisation is #3 (c): MFU 45.0%")


def test_none_within_says_how_to_see_more():
    ps = SimpleNamespace(top=[row("a", 0.527, True), row("b", 0.52, True)])
    assert _within_published(ps) == ("none of the top 2 plans stays within the published "
                                     "utilisation (--top N shows more)")
