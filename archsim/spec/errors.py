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
