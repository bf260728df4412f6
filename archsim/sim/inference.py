"""Discrete-event run of static-batch generation: a prefill step, then one decode step per token.

Each pipeline stage is a SimPy process that runs the steps in order; a step starts on a stage
when the stage is free and the step's activations have arrived from the previous stage (over a
FIFO link). Step k+1 enters the first stage only when step k has left the last one: the next
token is sampled there (autoregressive dependency), so stages do not overlap steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from archsim.sim.engine import Simulation


@dataclass
class GenerationTimeline:
    step_end_s: list[float]
    """Time each step's token is sampled (step 0: the prefill → first token)."""
    step_start_s: list[float]
    stage_busy_s: list[float]
    events: int
    spans: list = field(default_factory=list)


def run_generation(stage_times: Sequence[Sequence[float]], p2p_s: Sequence[Sequence[float]],
                   labels: Sequence[str] | None = None, trace: bool = True
                   ) -> GenerationTimeline:
    """Simulate steps through pipeline stages.

    ``stage_times[k][s]``: seconds of step k on stage s; ``p2p_s[k][s]``: send time of step
    k's activations from stage s to stage s + 1.
    """
    sim = Simulation(trace=trace)
    env = sim.env
    steps = len(stage_times)
    pp = len(stage_times[0]) if steps else 1
    ready = [[env.event() for _ in range(steps)] for _ in range(pp)]
    links = [sim.stream(f"link {s}->{s + 1}", "p2p") for s in range(pp - 1)]
    busy = [0.0] * pp
    start = [0.0] * steps
    end = [0.0] * steps

    def stage(s: int):
        for k in range(steps):
            if s > 0 or k > 0:
                yield ready[s][k]
            t0 = env.now
            if s == 0:
                start[k] = t0
            dur = stage_times[k][s]
            yield env.timeout(dur)
            busy[s] += dur
            name = labels[k] if labels else f"step {k}"
            sim.trace.add(f"stage {s}", name, t0, env.now, "forward", {"step": k})
            if s < pp - 1:
                send = p2p_s[k][s]
                if send > 0:
                    done = links[s].submit(env.now, send, f"act {k}")
                    sim.signal_at(done, ready[s + 1][k])
                else:
                    ready[s + 1][k].succeed()
            else:
                end[k] = env.now
                if k + 1 < steps:
                    ready[0][k + 1].succeed()

    for s in range(pp):
        env.process(stage(s))
    env.run()
    return GenerationTimeline(step_end_s=end, step_start_s=start, stage_busy_s=busy,
                              events=sim.events, spans=sim.trace.spans)
