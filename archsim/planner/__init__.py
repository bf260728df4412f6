"""The auto-planner (``archsim plan``): search parallel plans, prune with lower bounds,
simulate the survivors, rank them by an objective and say why the others lost."""

from archsim.planner.search import OBJECTIVES, PlanSearch, search_plans
from archsim.planner.space import Candidate, SearchSpace

__all__ = ["OBJECTIVES", "Candidate", "PlanSearch", "SearchSpace", "search_plans"]
