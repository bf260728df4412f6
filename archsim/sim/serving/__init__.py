"""Request-level serving simulation: request streams, continuous-batching schedulers with a
paged KV cache, routers, and the discrete-event run (colocated or disaggregated)."""
