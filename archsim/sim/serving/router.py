"""Routers: which replica a new request goes to. One strategy per class, chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from archsim.sim.serving.requests import Request
from archsim.sim.serving.scheduler import ReplicaScheduler


class Router(Protocol):
    def pick(self, replicas: Sequence[ReplicaScheduler], r: Request) -> ReplicaScheduler: ...


ROUTERS: dict[str, Callable[[], Router]] = {}


def register(name: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        if name in ROUTERS:
            raise ValueError(f"router {name!r} registered twice")
        ROUTERS[name] = cls
        return cls

    return wrap


@register("round_robin")
class RoundRobin:
    """Replicas in turn, whatever their load."""

    def __init__(self) -> None:
        self._next = 0

    def pick(self, replicas: Sequence[ReplicaScheduler], r: Request) -> ReplicaScheduler:
        rep = replicas[self._next % len(replicas)]
        self._next += 1
        return rep


@register("least_loaded")
class LeastLoaded:
    """The replica with the fewest unfinished requests (waiting, prefilling or decoding); ties
    go to the lowest index."""

    def pick(self, replicas: Sequence[ReplicaScheduler], r: Request) -> ReplicaScheduler:
        return min(replicas, key=lambda rep: rep.outstanding)


def make_router(name: str) -> Router:
    try:
        return ROUTERS[name]()
    except KeyError:
        raise ValueError(f"unknown router {name!r}; known: {', '.join(ROUTERS)}") from None
