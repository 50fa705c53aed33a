"""The report as data: sections of blocks, rendered by :mod:`otgeom.report.render` to md, tex or html.

Text may hold inline math between single dollar signs (``$\\rho_s$``) and inline code between
backticks (```geodesic-speed```); a :class:`Literal` is code as a whole.  Equations hold LaTeX
(from :mod:`otgeom.typeset`, the one source of truth).  Building a report never writes
anything; :mod:`otgeom.report.write` does, atomically.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = ["Para", "Equation", "Table", "Figure", "Code", "Literal", "Section", "Report", "Block"]


class Literal(str):
    """Text that is code as a whole (a command to paste into a shell): typeset verbatim in every format.

    A ``str`` (it compares equal to its text); only the renderers treat it differently.
    """

    __slots__ = ()


@dataclass(frozen=True)
class Para:
    """A paragraph; ``$...$`` marks inline math."""

    text: str


@dataclass(frozen=True)
class Equation:
    """A displayed formula (LaTeX, possibly an ``aligned`` block); ``name`` is used in error messages."""

    tex: str
    name: str = "formula"


@dataclass(frozen=True)
class Table:
    """A table; cells are text with optional ``$...$`` inline math."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    """A plot: SVG text (html, md) and PDF bytes (tex), both produced deterministically."""

    name: str
    caption: str
    svg: str = field(repr=False)
    pdf: bytes = field(repr=False)


@dataclass(frozen=True)
class Code:
    """Verbatim text (e.g. the command that reproduces the report)."""

    text: str


Block = Union[Para, Equation, Table, Figure, Code]


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Report:
    """Title, provenance (otgeom version, family, exact parameters, seeds) and sections."""

    title: str
    meta: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]

    @property
    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]
