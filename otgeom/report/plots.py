"""Deterministic plots for reports: the same data gives the same SVG and PDF bytes.

No pyplot (no global figure state, no display needed): a :class:`matplotlib.figure.Figure` is
drawn and saved with a fixed SVG hash salt, text as paths (renders offline, no fonts needed),
and no date in the metadata.  Images (:func:`image_figure`) are embedded in the SVG as PNG data
(deterministic too), so a figure is always one self-contained file.

Kinds: :func:`line_figure` (rows of line plots: J(t), gradient norms, errors against flow time, rho against
the state), :func:`band_figure` (grid families with one state axis: quantile bands of the action law against
the state at several flow times) and :func:`image_figure` (two state axes: a field over the grid as an image,
e.g. the mean torque or rho of the pendulum).  Every function returns a
:class:`~otgeom.report.document.Figure` (reports write its bytes; a notebook shows it with
``IPython.display.SVG(fig.svg)``).
"""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure as MplFigure

from otgeom.report.document import Figure

__all__ = ["line_figure", "band_figure", "image_figure", "quantile_bands", "gaussian_bands",
           "BAND_LEVELS"]

_RC = {"svg.hashsalt": "otgeom", "svg.fonttype": "path", "pdf.fonttype": 42, "font.size": 9,
       "path.simplify": False}


def _save(fig: MplFigure, name: str, caption: str) -> Figure:
    """Lay out and save ``fig`` as SVG and PDF without dates (call inside the rc context)."""
    fig.tight_layout()
    svg, pdf = io.StringIO(), io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    return Figure(name, caption, svg.getvalue(), pdf.getvalue())


def line_figure(name: str, caption: str, panels: Sequence[dict]) -> Figure:
    """One row of line plots.

    ``panels``: dicts with ``x`` (shape=[T]), ``ys`` (list of (label, shape=[T]), or (label, x, y) for a curve
    on its own abscissae, e.g. two flows' times), ``xlabel``, ``ylabel`` and optional ``logy`` and ``title``;
    a curve whose label starts with "predicted" or "reference" is dashed.
    """
    with matplotlib.rc_context(_RC):
        fig = MplFigure(figsize=(4.2 * len(panels), 3.0))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, p in zip(axes, panels):
            for item in p["ys"]:
                label, x, y = item if len(item) == 3 else (item[0], p["x"], item[1])
                y = np.asarray(y, float)
                if p.get("logy"):
                    y = np.where(y > 0, y, np.nan)
                style = "--" if label.startswith(("predicted", "reference")) else "-"
                ax.plot(np.asarray(x, float), y, style, label=label, lw=1.4)
            if p.get("logy"):
                ax.set_yscale("log")
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(p["ylabel"])
            if p.get("title"):
                ax.set_title(p["title"], fontsize=9)
            ax.grid(alpha=0.3)
            if len(p["ys"]) > 1:
                ax.legend(fontsize=7, ncol=2 if len(p["ys"]) > 4 else 1)
        return _save(fig, name, caption)


#: quantile levels of the bands: 10-90 % (light), 25-75 % (dark) and the median (line)
BAND_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)


def quantile_bands(particles: np.ndarray, levels: Sequence[float] = BAND_LEVELS) -> np.ndarray:
    """Quantiles of equally weighted particles per state, shape=[len(levels), N] from particles shape=[N, M].

    The particles of a state, sorted, are read as the values of its quantile function at the levels
    :math:`u_i = (i + 1/2)/M` (as in :class:`~otgeom.numeric.policies.QuantilePolicy`, whose particles the 1-D
    flow moves as quantiles); other levels are interpolated linearly between them and held constant beyond the
    first and last (a level below :math:`1/2M` gives the smallest particle).
    """
    A = np.sort(np.asarray(particles, float), axis=1)
    M = A.shape[1]
    u = (np.arange(M) + 0.5) / M
    return np.array([[np.interp(q, u, row) for row in A] for q in levels])


def gaussian_bands(mean: np.ndarray, std: np.ndarray, levels: Sequence[float] = BAND_LEVELS) -> np.ndarray:
    r"""Quantiles :math:`m_i + s_i\,\Phi^{-1}(q)` of Gaussian laws per state, shape=[len(levels), N]."""
    from scipy.special import ndtri

    m, s = np.asarray(mean, float), np.asarray(std, float)
    return np.array([m + s * ndtri(q) for q in levels])


def band_figure(name: str, caption: str, x: np.ndarray, rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
                xlabel: str, ylabel: str, reference: tuple[str, np.ndarray] | None = None) -> Figure:
    """Quantile bands of the action law against a state axis: one row of panels per flow, one column per time.

    ``rows``: (row label, frames), each frame (title, bands shape=[5, N] at :data:`BAND_LEVELS`, e.g. from
    :func:`quantile_bands` or :func:`gaussian_bands`); ``x`` shape=[N] the states.  The 10-90 % band is light,
    the 25-75 % band dark, the median a line; ``reference`` (label, shape=[N]), e.g. a known optimal policy, is
    dashed in every panel.  All panels share their axes.
    """
    x = np.asarray(x, float)
    ncols = max(len(frames) for _, frames in rows)
    with matplotlib.rc_context(_RC):
        fig = MplFigure(figsize=(min(9.0, 2.3 * ncols + 0.4), 2.2 * len(rows) + 0.5))
        axes = fig.subplots(len(rows), ncols, squeeze=False, sharex=True, sharey=True)
        for r, (row_label, frames) in enumerate(rows):
            for c in range(ncols):
                ax = axes[r, c]
                if c >= len(frames):
                    ax.set_visible(False)
                    continue
                title, Q = frames[c]
                Q = np.asarray(Q, float)
                ax.fill_between(x, Q[0], Q[4], color="C0", alpha=0.22, lw=0, label="10-90 %")
                ax.fill_between(x, Q[1], Q[3], color="C0", alpha=0.45, lw=0, label="25-75 %")
                ax.plot(x, Q[2], color="C0", lw=1.2, label="median")
                if reference is not None:
                    ax.plot(x, np.asarray(reference[1], float), "--", color="C3", lw=1.0, label=reference[0])
                ax.set_title(title, fontsize=8)
                ax.grid(alpha=0.3)
                if r == len(rows) - 1:
                    ax.set_xlabel(xlabel)
                if c == 0:
                    ax.set_ylabel(f"{row_label}\n{ylabel}", fontsize=8)
        axes[0, 0].legend(fontsize=6, loc="best")
        return _save(fig, name, caption)


def image_figure(name: str, caption: str, panels: Sequence[dict]) -> Figure:
    """One row of images of fields over a two-axis grid.

    ``panels``: dicts with ``z`` shape=[n_x, n_y] (first axis horizontal), ``extent`` (x_lo, x_hi, y_lo, y_hi),
    ``xlabel``, ``ylabel``, ``title``, ``label`` (colour bar) and optional ``log`` (a logarithmic colour scale
    over the positive values, down to 1e-12 of the largest) or ``centered`` (a diverging scale symmetric about
    0, e.g. a torque).  Cells are drawn as they are (no interpolation).
    """
    from matplotlib.colors import LogNorm, Normalize

    with matplotlib.rc_context(_RC):
        fig = MplFigure(figsize=(min(9.6, 3.2 * len(panels)), 2.9))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, p in zip(axes, panels):
            z = np.asarray(p["z"], float)
            if p.get("log"):
                top = float(np.nanmax(z))
                pos = z[z > 0]
                norm = LogNorm(vmin=max(top * 1e-12, float(pos.min()) if pos.size else top * 1e-12), vmax=top)
                z = np.where(z > 0, z, norm.vmin)
                cmap = "viridis"
            elif p.get("centered"):
                big = float(np.nanmax(np.abs(z))) or 1.0
                norm, cmap = Normalize(-big, big), "RdBu_r"
            else:
                norm, cmap = Normalize(float(np.nanmin(z)), float(np.nanmax(z))), "viridis"
            im = ax.imshow(z.T, origin="lower", extent=p["extent"], aspect="auto", interpolation="nearest",
                           norm=norm, cmap=cmap)
            fig.colorbar(im, ax=ax, label=p.get("label", ""))
            ax.set_xlabel(p["xlabel"])
            ax.set_ylabel(p["ylabel"])
            if p.get("title"):
                ax.set_title(p["title"], fontsize=8)
        return _save(fig, name, caption)
