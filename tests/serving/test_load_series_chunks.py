"""load_series evaluates a few sample times at once (its memory was times × requests: 7 GB
for a burst of a million requests); the series does not depend on how many at once."""

import numpy as np

from archsim.metrics import serving_window
from archsim.metrics.serving_window import Stamps, load_series


def _stamps(n: int = 500, seed: int = 3) -> Stamps:
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.uniform(0, 10, n))
    scheduled = arrival + rng.uniform(0, 2, n)
    first = scheduled + rng.uniform(0.01, 0.5, n)
    gen = rng.integers(1, 300, n)
    finish = first + (gen - 1) * rng.uniform(0.01, 0.05, n)
    return Stamps(arrival, scheduled, first, finish, rng.integers(1, 2000, n), gen,
                  np.ones(n, dtype=bool))


def test_the_series_is_the_same_one_time_at_a_time(monkeypatch):
    s = _stamps()
    whole = load_series(s, 0.0, 25.0, 50_000.0)
    monkeypatch.setattr(serving_window, "SERIES_CELLS", 1)  # one sample time per pass
    for decode_pool in (False, True):
        one = load_series(s, 0.0, 25.0, 50_000.0, decode_pool=decode_pool)
        monkeypatch.setattr(serving_window, "SERIES_CELLS", 4_000_000)
        all_at_once = load_series(s, 0.0, 25.0, 50_000.0, decode_pool=decode_pool)
        monkeypatch.setattr(serving_window, "SERIES_CELLS", 1)
        assert one == all_at_once
    # by hand at one time: t = 5 s, waiting = arrived and not yet scheduled
    t = whole["t_s"]
    i = int(np.argmin(np.abs(np.array(t) - 5.0)))
    expected = int(((s.arrival <= t[i]) & (s.scheduled > t[i])).sum())
    assert whole["waiting"][i] == expected
