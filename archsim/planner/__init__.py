"""The auto-planner (``archsim plan``): search parallel plans and placements, prune with lower
bounds, simulate the survivors, rank them by an objective and say why the others lost."""

from archsim.planner.result import OBJECTIVES, PlanSearch
from archsim.planner.search import search_plans
from archsim.planner.space import Candidate, SearchSpace

__all__ = ["OBJECTIVES", "Candidate", "PlanSearch", "SearchSpace", "search_plans"]
