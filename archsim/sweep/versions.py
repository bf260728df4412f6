"""Which rows of a results table ``--resume`` may reuse: those computed by the running code.

Every row records the code that computed it: ``archsim_version`` (``archsim.__version__``) and
``result_version`` (the Result schema, archsim/result.py); see archsim/sweep/columns.py. When a
table is resumed, rows of another version, and rows of a table written before versions were
recorded, are removed from the table (copied to ``<name>.bak.csv`` / ``.bak.parquet``
first) and their points run
again. So a table never mixes rows of two model versions and holds one row per point.

The point hash (archsim/sweep/space.py) deliberately leaves the version out: it names the point
(what is simulated), so a re-run point keeps its hash and its new row takes the old one's place.

The guarantee is per released version: during development ``archsim.__version__`` does not
change with every commit, so rows written by an edited checkout under the same version string
are reused. After changing the model's code in a checkout, start again with ``--overwrite``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archsim.sweep.columns import VERSION_COLUMNS, cell_text

VERSION_NAMES = tuple(name for name, _ in VERSION_COLUMNS)


def same_sweep(found: Sequence[str], expected: Sequence[str]) -> bool:
    """Whether a table with columns ``found`` is the sweep of ``expected``, versions aside
    (a table written before the version columns existed lacks them)."""
    return ([c for c in found if c not in VERSION_NAMES]
            == [c for c in expected if c not in VERSION_NAMES])


def backup_path(path: Path) -> Path:
    """Where the rows a resume drops are kept, in the table's format: ``r.csv`` →
    ``r.bak.csv`` (replaced by the next resume that drops rows)."""
    return path.with_name(f"{path.stem}.bak{path.suffix}")


class VersionCheck:
    """Tells rows of the running code's versions from others (cells compared as text, so a
    CSV's ``"1"`` equals Parquet's ``1``)."""

    def __init__(self, version: Mapping[str, Any]):
        self.want = {name: str(version[name]) for name in VERSION_NAMES}

    def label(self, cells: Mapping[str, Any]) -> str | None:
        """None for a row of the running code; else which code wrote it, for messages."""
        got = {name: cells.get(name) for name in VERSION_NAMES}
        if all(v is not None and str(v) == self.want[k] for k, v in got.items()):
            return None
        if all(v is None or v == "" for v in got.values()):
            return "an archsim that did not record its version"
        return (f"archsim {got['archsim_version'] or '?'} "
                f"(result_version {got['result_version'] or '?'})")


class Superseded:
    """Rows of this sweep's points computed from other inputs: a row whose input cells equal
    a point's but whose hash is not the point's was simulated with an earlier base scenario,
    profile or engine; the point's new row replaces it (cells compared as CSV text)."""

    LABEL = "an earlier base scenario, profile or engine"

    def __init__(self, inputs: Sequence[str], points: Mapping[tuple[str, ...], str]):
        self.inputs = list(inputs)
        self.points = dict(points)
        """Input cells (as text) of each point of the sweep → its hash."""

    def label(self, cells: Mapping[str, Any]) -> str | None:
        key = tuple(cell_text(cells.get(name)) for name in self.inputs)
        current = self.points.get(key)
        return self.LABEL if current is not None and current != cells.get("hash") else None


def ignored_note(ignored: Mapping[str, int], backup: Path | None) -> str | None:
    """``"3 rows from archsim 0.0.9 (result_version 1) ignored (kept in r.bak.csv)"``."""
    if not ignored:
        return None
    parts = [f"{n} row{'s' if n != 1 else ''} from {label}" for label, n in ignored.items()]
    kept = f" (kept in {backup})" if backup is not None else ""
    return f"{', '.join(parts)} ignored{kept}"
