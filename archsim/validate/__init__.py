"""Validation against real PyTorch runs on the local device.

* :mod:`~archsim.validate.calibrate` — micro-benchmarks (GEMM grid, memory bandwidth,
  elementwise/softmax/layer-norm, scaled-dot-product attention, per-op dispatch overhead) fitted
  into a device profile that ``archsim simulate`` accepts;
* :mod:`~archsim.validate.suite` — whole models built from archsim ModelSpecs
  (:mod:`~archsim.validate.torch_model`), trained and run for inference on the device, timed
  (:mod:`~archsim.validate.measure`), simulated with the calibrated profile and compared
  (:mod:`~archsim.validate.compare`);
* :mod:`~archsim.validate.distributed` — two local processes: all-reduce sweep and a
  data-parallel training step.

Calibration and validation run different programs: nothing measured by validation is fitted.
torch is optional; :func:`~archsim.validate.deps.require_torch` names the install line.
Nothing here imports torch at package import time.
"""
