"""Attributing profiler events to archsim's op names (fake events, hand-made timeline)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from archsim.validate.op_profile import attribute


@dataclass
class Range:
    start: float
    end: float


@dataclass
class Event:
    name: str
    start: float
    end: float
    sequence_nr: int = -1
    cpu_parent: Event | None = None
    device_type: str = "CPU"
    device_time_total: float = 0.0

    @property
    def time_range(self):
        return Range(self.start, self.end)


def test_forward_ranges_backward_nodes_and_the_rest():
    # timeline in microseconds: L0.qkv [0, 100] holds addmm (seq 7); L0.gelu [100, 130] holds
    # gelu (seq 8); backward of gelu [150, 210] and of addmm [210, 400]; an optimizer step
    # [400, 480]; the whole run spans [0, 500]
    qkv = Event("L0.qkv", 0, 100)
    addmm = Event("aten::addmm", 10, 90, sequence_nr=7, cpu_parent=qkv)
    gelu_r = Event("L0.gelu", 100, 130)
    gelu = Event("aten::gelu", 105, 125, sequence_nr=8, cpu_parent=gelu_r)
    events = [qkv, addmm, gelu_r, gelu,
              Event("autograd::engine::evaluate_function: GeluBackward0", 150, 210,
                    sequence_nr=8),
              Event("autograd::engine::evaluate_function: AddmmBackward0", 210, 400,
                    sequence_nr=7),
              Event("Optimizer.step#AdamW.step", 400, 480),
              Event("aten::zero_", 480, 500)]
    out = attribute(events, {"L0.qkv", "L0.gelu"})
    assert out["L0.qkv"] == pytest.approx(100e-6)
    assert out["L0.gelu"] == pytest.approx(30e-6)
    assert out["L0.gelu.bwd"] == pytest.approx(60e-6)
    assert out["L0.qkv.bwd"] == pytest.approx(190e-6)
    assert out["optimizer"] == pytest.approx(80e-6)
    assert out["total"] == pytest.approx(500e-6)
    # 500 − (100 + 30 + 60 + 190 + 80) = 40 us outside every range
    assert out["other"] == pytest.approx(40e-6)


def test_backward_of_an_unlabelled_forward_op_is_other():
    view = Event("aten::view", 0, 5, sequence_nr=3)
    bwd = Event("autograd::engine::evaluate_function: ViewBackward0", 10, 20, sequence_nr=3)
    out = attribute([view, bwd], {"L0.qkv"})
    assert out["other"] == pytest.approx(20e-6)  # the whole 20 us span is unattributed


@dataclass
class GpuEvent(Event):
    device_time_total: float = 0.0


def test_cuda_profiles_use_the_kernels_launched_in_each_range():
    # the CPU launches for 10 us; the kernels behind them run 300 and 50 us on the GPU
    fc1 = GpuEvent("L0.fc1", 0, 10, device_time_total=300)
    mm = GpuEvent("aten::mm", 1, 9, sequence_nr=4, cpu_parent=fc1, device_time_total=300)
    bwd = GpuEvent("autograd::engine::evaluate_function: MmBackward0", 20, 25, sequence_nr=4,
                   device_time_total=600)
    zero = GpuEvent("aten::zero_", 30, 31, device_time_total=50)
    out = attribute([fc1, mm, bwd, zero], {"L0.fc1"}, device_time=True)
    assert out["L0.fc1"] == pytest.approx(300e-6)
    assert out["L0.fc1.bwd"] == pytest.approx(600e-6)
    assert out["total"] == pytest.approx(950e-6)  # every kernel: 300 + 600 + 50
    assert out["other"] == pytest.approx(50e-6)


def test_profiler_status_lines_are_dropped_and_other_stderr_kept(capfd):
    import os

    from archsim.validate.op_profile import _without_profiler_chatter

    with _without_profiler_chatter():
        os.write(2, b"USDT:2026-11-28 11:44:08 21641:21641 SyncActivityProfilerHandler.cpp:52]"
                    b" profiler_start\n")
        os.write(2, b"a real warning\n")
    assert capfd.readouterr().err == "a real warning\n"


@dataclass
class DeviceType:
    name: str


def test_gpu_side_annotations_are_not_counted_twice():
    """With CUDA the profiler lists each range twice: the CPU range (whose device time is its
    kernels') and a GPU-side annotation spanning the stream from the range's first queued
    work to its last. L0.fc1 launches one 30 us kernel; its GPU annotation spans 70 us because
    earlier work was still queued; the optimizer's annotation likewise spans 200 us for an
    8 us kernel. Only the CPU ranges count: fc1 30 us, optimizer 8 us, total 38 us."""
    cpu, cuda = DeviceType("CPU"), DeviceType("CUDA")
    fc1 = Event("L0.fc1", 0, 10, device_type=cpu, device_time_total=30)
    opt = Event("Optimizer.step#AdamW.step", 20, 25, device_type=cpu, device_time_total=8)
    fc1_gpu = Event("L0.fc1", 5, 75, device_type=cuda, device_time_total=70)
    opt_gpu = Event("Optimizer.step#AdamW.step", 30, 230, device_type=cuda,
                    device_time_total=200)
    out = attribute([fc1, opt, fc1_gpu, opt_gpu], {"L0.fc1"}, device_time=True)
    assert out["L0.fc1"] == pytest.approx(30e-6)
    assert out["optimizer"] == pytest.approx(8e-6)
    assert out["total"] == pytest.approx(38e-6)
    assert out["other"] == pytest.approx(0.0)
