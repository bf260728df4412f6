"""The network models: contention-free vs flow-level (max-min fair), timelines by hand.

Link: 10 GB/s; flows of 100 MB take 10 ms alone.
"""

import pytest

from archsim.cost.transfer import FlowPhase, Transfer
from archsim.sim.engine import Simulation
from archsim.sim.network import build_network, max_min_rates

GB = 1e9
MB = 1e6


def transfer(nbytes, resources=("link",), rate=10 * GB, latency=0.0):
    return Transfer(latency + nbytes / rate, (FlowPhase(latency, nbytes, resources, rate),))


def run(model, jobs, capacity=None):
    """jobs: [(channel name, ready_at, transfer)] → {channel name: [completion times]}."""
    sim = Simulation()
    net = build_network(sim, model, capacity or {"link": 10 * GB})
    channels, done = {}, {}
    for name, ready, tr in jobs:
        ch = channels.setdefault(name, net.channel(name, "p2p"))
        ch.submit(ready, tr, name, lambda t, name=name: done.setdefault(name, []).append(t))
    sim.env.run()
    return done, channels


def test_max_min_textbook_example():
    """Links A (10) and B (4); f1 crosses both, f2 only A, f3 only B. B is the bottleneck:
    f1 = f3 = 2; then f2 takes what is left of A: 10 − 2 = 8."""
    rates = max_min_rates([(("A", "B"), 100.0), (("A",), 100.0), (("B",), 100.0)],
                          {"A": 10.0, "B": 4.0})
    assert rates == pytest.approx([2.0, 8.0, 2.0])


def test_a_flow_cap_frees_bandwidth_for_the_others():
    """Two flows on a 10 GB/s link, one capped at 2 GB/s (its own algorithm's rate): 2 and 8."""
    rates = max_min_rates([(("L",), 2.0), (("L",), 100.0)], {"L": 10.0})
    assert rates == pytest.approx([2.0, 8.0])


@pytest.mark.parametrize("model", ["analytic", "flow"])
def test_models_agree_when_flows_do_not_overlap(model):
    """A at 0 (10 ms), B at 20 ms (10 ms) on the same link never overlap: 10 ms and 30 ms in
    both models; a 5 µs latency phase adds to each."""
    done, _ = run(model, [("a", 0.0, transfer(100 * MB, latency=5e-6)),
                          ("b", 20e-3, transfer(100 * MB, latency=5e-6))])
    assert done["a"] == pytest.approx([10e-3 + 5e-6])
    assert done["b"] == pytest.approx([30e-3 + 5e-6])


def test_two_flows_sharing_one_link_take_twice_as_long():
    """Both start at 0: contention-free, each ends at 10 ms; flow-level, each gets 5 GB/s and
    ends at 20 ms — a difference of exactly S/B = 10 ms."""
    jobs = [("a", 0.0, transfer(100 * MB)), ("b", 0.0, transfer(100 * MB))]
    free, _ = run("analytic", jobs)
    shared, _ = run("flow", jobs)
    assert free["a"] == free["b"] == pytest.approx([10e-3])
    assert shared["a"] == shared["b"] == pytest.approx([20e-3])


def test_staggered_flows_share_only_while_both_run():
    """A starts at 0, B at 5 ms. A alone moves 50 MB by 5 ms; then both at 5 GB/s: A's other
    50 MB take 10 ms (A ends at 15 ms) while B moves 50 MB; B's last 50 MB alone: 5 ms → 20 ms."""
    done, _ = run("flow", [("a", 0.0, transfer(100 * MB)), ("b", 5e-3, transfer(100 * MB))])
    assert done["a"] == pytest.approx([15e-3])
    assert done["b"] == pytest.approx([20e-3])


def test_flows_on_different_links_do_not_interact():
    done, _ = run("flow", [("a", 0.0, transfer(100 * MB, ("x",))),
                           ("b", 0.0, transfer(100 * MB, ("y",)))],
                  capacity={"x": 10 * GB, "y": 10 * GB})
    assert done["a"] == done["b"] == pytest.approx([10e-3])


def test_a_flow_over_two_links_is_held_back_by_the_busier_one():
    """f1 over x and y, f2 over y only, 100 MB each, 10 GB/s links: on y both get 5 GB/s, so x
    runs f1 at 5 too; both end at 20 ms (f1 cannot use x's spare bandwidth)."""
    done, _ = run("flow", [("f1", 0.0, transfer(100 * MB, ("x", "y"))),
                           ("f2", 0.0, transfer(100 * MB, ("y",)))],
                  capacity={"x": 10 * GB, "y": 10 * GB})
    assert done["f1"] == done["f2"] == pytest.approx([20e-3])


def test_a_channel_is_first_in_first_out_in_both_models():
    for model in ("analytic", "flow"):
        done, ch = run(model, [("a", 0.0, transfer(100 * MB)), ("a", 0.0, transfer(100 * MB))])
        assert done["a"] == pytest.approx([10e-3, 20e-3])
        assert ch["a"].busy_s == pytest.approx(20e-3)


def test_phases_run_in_order_and_fixed_time_is_kept():
    """Two phases (1 µs + 100 MB at 10 GB/s; 2 µs + 50 MB at 5 GB/s) plus 3 µs not on a link."""
    phases = (FlowPhase(1e-6, 100 * MB, ("x",), 10 * GB), FlowPhase(2e-6, 50 * MB, ("y",), 5 * GB))
    t = 1e-6 + 10e-3 + 2e-6 + 10e-3 + 3e-6
    tr = Transfer(t, phases)
    assert tr.fixed_s == pytest.approx(3e-6)
    for model in ("analytic", "flow"):
        done, _ = run(model, [("a", 0.0, tr)], capacity={"x": 10 * GB, "y": 10 * GB})
        assert done["a"] == pytest.approx([t])


def test_drained_is_a_time_for_the_analytic_model_and_an_event_for_flows():
    sim = Simulation()
    ch = build_network(sim, "analytic").channel("c", "p2p")
    ch.submit(1.0, transfer(100 * MB), "x")
    assert ch.drained() == pytest.approx(1.01)
    sim = Simulation()
    ch = build_network(sim, "flow", {"link": 10 * GB}).channel("c", "p2p")
    ch.submit(1.0, transfer(100 * MB), "x")
    ev = ch.drained()
    sim.env.run(ev)
    assert sim.env.now == pytest.approx(1.01)


def test_unknown_network_model():
    with pytest.raises(ValueError, match="unknown network model 'packet'"):
        build_network(Simulation(), "packet")
