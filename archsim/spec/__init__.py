"""Validated input specs (pydantic): hardware, model, workload, plans, scenario; units; registry."""

from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError
from archsim.spec.hardware import ClusterSpec, InterconnectSpec, PoolLinkSpec, PoolSpec
from archsim.spec.loader import load_scenario, load_spec_file
from archsim.spec.model import ModelSpec, MoESpec
from archsim.spec.plan import CompressionPlan, ParallelPlan
from archsim.spec.scenario import HardwareSpec, ScenarioSpec
from archsim.spec.workload import InferenceWorkload, ServingWorkload, TrainingWorkload

__all__ = [
    "ClusterSpec",
    "CompressionPlan",
    "DeviceSpec",
    "HardwareSpec",
    "InferenceWorkload",
    "InterconnectSpec",
    "MoESpec",
    "ModelSpec",
    "ParallelPlan",
    "PoolLinkSpec",
    "PoolSpec",
    "ScenarioSpec",
    "ServingWorkload",
    "SpecError",
    "TrainingWorkload",
    "load_scenario",
    "load_spec_file",
]
