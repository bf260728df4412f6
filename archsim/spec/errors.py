"""Errors a user can cause with their input; the CLI prints them as one line per problem."""

from __future__ import annotations

from collections.abc import Iterable


class SpecError(ValueError):
    """Bad input: a list of problems, each naming the file, the field path and what was expected.

    ``str(error)`` is one line per problem, ready for stderr.
    """

    def __init__(self, problems: Iterable[str]):
        self.problems = [p for p in problems if p]
        super().__init__("\n".join(self.problems))


def format_location(source: str | None, path: str) -> str:
    """``file: field.path`` (either part may be missing)."""
    parts = [p for p in (source, path) if p]
    return ": ".join(parts)


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 run``, ``2 runs``; ``many`` is the plural where it is not ``noun + "s"``
    (``plural(n, "micro-batch", "micro-batches")``)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
