"""Routers: which replica a new request goes to. One strategy per class, chosen by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from archsim.sim.serving.requests import Request


class Replica(Protocol):
    """What a router sees of a replica (a ReplicaScheduler, or a pipelined replica's
    VirtualEngines)."""

    index: int
    incoming: int

    @property
    def outstanding(self) -> int: ...

    @property
    def unfinished(self) -> int: ...

    def enqueue(self, r: Request) -> None: ...

    def release(self, r: Request) -> None: ...


class Router(Protocol):
    def pick(self, replicas: Sequence[Replica], r: Request) -> Replica: ...


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

    def pick(self, replicas: Sequence[Replica], r: Request) -> Replica:
        rep = replicas[self._next % len(replicas)]
        self._next += 1
        return rep


@register("least_loaded")
class LeastLoaded:
    """The replica with the fewest unfinished requests (waiting, prefilling — a whole prompt
    in the pass now running included — decoding, or on their way to it); ties go to the lowest
    index."""

    def pick(self, replicas: Sequence[Replica], r: Request) -> Replica:
        return min(replicas, key=lambda rep: rep.unfinished)


def make_router(name: str) -> Router:
    try:
        return ROUTERS[name]()
    except KeyError:
        raise ValueError(f"unknown router {name!r}; known: {', '.join(ROUTERS)}") from None
