"""archsim: what an LLM will do on hardware before you rent it.

A discrete-event simulator of LLM training, inference and serving on heterogeneous devices.
Public API: :func:`load_scenario` and :func:`simulate`.
"""

from archsim.api import simulate
from archsim.result import Result
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario
from archsim.spec.scenario import ScenarioSpec

__version__ = "0.1.0"
__all__ = ["Result", "ScenarioSpec", "SpecError", "__version__", "load_scenario", "simulate"]
