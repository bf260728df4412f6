"""Capacity planning for serving: the fewest replicas of each device type that meet an SLO
and keep up with the offered load.

For a serving scenario, a request rate R and an SLO (TTFT and/or TPOT; met when at least
``slo.attainment`` of the requests meet it), each device type is tried as a homogeneous
deployment of identical colocated replicas. tp: every power of two from the smallest whose
replica holds the weights and the largest request's KV cache, up to a node, while a larger tp
could still be cheaper (the scenario's ``plan.tp`` is not kept unless pinned with ``tp``; its
``plan.pp`` is kept; a ``plan.placement`` is dropped and said so in ``notes``).

For each tp the stream is first served **one request at a time** on one replica (each request
arrives after the one before has finished: :func:`served_alone`). If that misses the SLO (a
decode step too slow for the TPOT target) no number of replicas helps; if even its p99
end-to-end latency leaves under a quarter of the stream's arrivals after it, no deployment of
that tp can show a steady state (below). Either way the next tp is tried. Otherwise the stream
(its count, lengths and seed) is replayed at rate R against 1, 2, 4, … replicas and the
boundary found by bisection — assuming, as is usual, that more replicas never make it worse.

A probe **passes** when it is feasible, meets the SLO and **keeps up**: in the steady-state
window of its serving result (archsim/metrics/serving_window.py: from one p99 end-to-end latency
after the first arrival to the last arrival) it serves at least ``1 − KEEP_UP_TOLERANCE`` of the
requests that arrive in that window. A deployment that serves less has a queue that grows for
as long as the load lasts; a finite stream can still drain and meet the SLO, which is why the
SLO alone is not enough. A probe measured over the whole run (no steady-state window: the stream
is too short for its latency, or the queue outgrew it) cannot show that it keeps up and does not
pass. Each probe is a full serving simulation; the cheapest deployment over the tps tried is
the row. A row whose stream was too short to judge a cheaper deployment (a tp skipped, or a
cheaper probe that served its arrivals in a window too short to resolve it) is accepted all the
same, flagged ``possibly_oversized`` with ``notes`` that name them and the count that would
judge them.

Cost: devices × price per device-hour; per million output tokens it is the serving result's own
``cost_per_million_tokens_usd`` (price per hour / (3600 × output tokens/s in the steady-state
window), archsim/metrics/serving.py). Every accepted row has a steady-state window, so every row
is priced on that one basis. Device types without a price are sized like the others and listed
in ``unpriced``; the cheapest deployment is chosen among the priced ones. Every probe is kept in
the row's ``tried`` for Pareto plots; ``reproduce`` gives the ``--set`` overrides that make the
scenario the accepted deployment.

``max_rate_per_replica`` bisects the request rate that one replica sustains within the SLO (met
and keeping up, as above).

Modules: ``search`` (plan_capacity), ``window`` (keeping up, and whether a stream is long
enough to tell), ``unjudged`` (what a short stream leaves unjudged), ``scenario`` (the probe
scenarios and ``reproduce``), ``row`` (CapacityRow and the search's shared inputs), ``rate``
(max_rate_per_replica).
"""

from archsim.capacity.rate import RATE_TOLERANCE, max_rate_per_replica
from archsim.capacity.row import CapacityRow
from archsim.capacity.scenario import _node_size as _node_size  # tests import these two
from archsim.capacity.scenario import _scenario as _scenario
from archsim.capacity.search import TP_CANDIDATES, plan_capacity
from archsim.capacity.window import (
    KEEP_UP_TOLERANCE,
    RESOLUTION_SIGMAS,
    count_needed,
    keeping_up,
    served_alone,
    share_error,
)

__all__ = ["KEEP_UP_TOLERANCE", "RATE_TOLERANCE", "RESOLUTION_SIGMAS", "TP_CANDIDATES",
           "CapacityRow", "count_needed", "keeping_up", "max_rate_per_replica", "plan_capacity",
           "served_alone", "share_error"]
