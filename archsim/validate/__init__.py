"""Validation against real PyTorch runs on the local device.

Calibration (``archsim calibrate``): :mod:`~archsim.validate.bench` micro-benchmarks (GEMM grid,
memory bandwidth, elementwise/softmax/norm/loss kernels, attention, AdamW, per-op dispatch
overhead) → :mod:`~archsim.validate.records` (the op graph's op for each record) →
:mod:`~archsim.validate.fit` (profile parameters that make archsim's cost function reproduce
the records) → :mod:`~archsim.validate.calibrate` (the device profile YAML).

Validation (``archsim validate``): :mod:`~archsim.validate.cases` (models and sizes) →
:mod:`~archsim.validate.torch_model` (real PyTorch models built from ModelSpecs) →
:mod:`~archsim.validate.runner` and :mod:`~archsim.validate.op_profile` (timing and per-op
profiles; :mod:`~archsim.validate.measure` holds the timing rules) →
:mod:`~archsim.validate.predict` (the same cases simulated) → :mod:`~archsim.validate.compare`
(errors, MAPE, JSON/Markdown/PNG), orchestrated by :mod:`~archsim.validate.suite`;
:mod:`~archsim.validate.distributed` runs the two-process torch.distributed check.

Calibration and validation run different programs: nothing measured by validation is fitted.
torch is optional; :func:`~archsim.validate.deps.require_torch` names the install line. Nothing
here imports torch at package import time (torch_model imports it and is imported lazily).
"""
