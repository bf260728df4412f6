"""The report as data: sections of paragraphs, bullet lists, tables and plots.

Sections are built once and rendered twice (Markdown and HTML, see ``render.py``), so both
outputs always carry the same content. Text is plain (no markup); renderers escape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Plot:
    """A PNG figure; ``name`` is the file stem beside report.md (e.g. ``step_time``)."""

    name: str
    caption: str
    png: bytes


Block = Paragraph | Bullets | Table | Plot


@dataclass
class Section:
    """One headed part of the report; ``id`` is its HTML anchor and stays stable (tests use it)."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self

    def text(self, text: str) -> Section:
        return self.add(Paragraph(text))

    def bullets(self, items: list[str] | tuple[str, ...]) -> Section:
        return self.add(Bullets(tuple(items)))

    def table(self, header: list[str] | tuple[str, ...], rows: list, caption: str = ""
              ) -> Section:
        return self.add(Table(tuple(header), tuple(tuple(str(c) for c in r) for r in rows),
                              caption))


@dataclass
class Report:
    """Title, a one-line subtitle, the sections, and what was left out and why."""

    title: str
    subtitle: str
    sections: list[Section]
    omitted: list[tuple[str, str]] = field(default_factory=list)
    """(section title, why it is not in this report)."""

    @property
    def plots(self) -> list[Plot]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Plot)]

    def section_ids(self) -> list[str]:
        return [s.id for s in self.sections]
