"""Deterministic plots for reports: the same data gives the same SVG and PDF bytes.

No pyplot (no global figure state, no display needed): a :class:`matplotlib.figure.Figure` is
drawn and saved with a fixed SVG hash salt, text as paths (renders offline, no fonts needed),
and no date in the metadata.
"""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure as MplFigure

from otgeom.report.document import Figure

__all__ = ["line_figure"]

_RC = {"svg.hashsalt": "otgeom", "svg.fonttype": "path", "pdf.fonttype": 42, "font.size": 9,
       "path.simplify": False}


def line_figure(name: str, caption: str, panels: Sequence[dict]) -> Figure:
    """One row of line plots.

    ``panels``: dicts with ``x`` (shape=[T]), ``ys`` (list of (label, shape=[T])), ``xlabel``, ``ylabel``
    and optional ``logy``; a curve whose label starts with "predicted" is dashed.
    """
    with matplotlib.rc_context(_RC):
        fig = MplFigure(figsize=(4.2 * len(panels), 3.0))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, p in zip(axes, panels):
            for label, y in p["ys"]:
                y = np.asarray(y, float)
                if p.get("logy"):
                    y = np.where(y > 0, y, np.nan)
                style = "--" if label.startswith("predicted") else "-"
                ax.plot(np.asarray(p["x"], float), y, style, label=label, lw=1.4)
            if p.get("logy"):
                ax.set_yscale("log")
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(p["ylabel"])
            ax.grid(alpha=0.3)
            if len(p["ys"]) > 1:
                ax.legend(fontsize=7, ncol=2 if len(p["ys"]) > 4 else 1)
        fig.tight_layout()
        svg, pdf = io.StringIO(), io.BytesIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
        fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    return Figure(name, caption, svg.getvalue(), pdf.getvalue())
