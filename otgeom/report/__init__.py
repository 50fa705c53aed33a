"""Formula reports: ``build_report(family) -> Report``, ``render(report, fmt) -> str``, ``write_report``.

``make_report(family, fmt, path=None)`` does all three (the CLI's ``otgeom report``).
"""
from __future__ import annotations

from otgeom.report.content import SECTIONS, build_report
from otgeom.report.document import Code, Equation, Figure, Literal, Para, Report, Section, Table
from otgeom.report.render import FORMATS, render, report_format
from otgeom.report.write import check_output_path, write_rendered, write_report

__all__ = ["build_report", "render", "write_report", "make_report", "check_output_path", "FORMATS", "SECTIONS",
           "Report", "Section", "Para", "Equation", "Table", "Figure", "Code", "Literal", "report_format"]


def make_report(family, fmt: str | None = None, path=None, seed: int = 0, claims: bool = True, params=None) -> str:
    """Build and render the report of ``family``; write it atomically to ``path`` when given. Returns the text.

    ``fmt`` (md, tex, html) defaults to the format of ``path``'s extension, else md (:func:`report_format`).
    """
    fmt = report_format(fmt, path)
    if path is not None:
        check_output_path(path, fmt)
    rep = build_report(family, seed=seed, claims=claims, params=params)
    if path is None:
        return render(rep, fmt)
    from pathlib import Path

    text = render(rep, fmt, Path(path).stem)  # rendered once: returned and written
    write_rendered(rep, fmt, path, text)
    return text
