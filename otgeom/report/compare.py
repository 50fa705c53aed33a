r"""The "Methods compared" section and report: typesets a :class:`otgeom.methods.Comparison` (nothing computed here).

One table (per method: converged, iterations and seconds to a J gap of :data:`otgeom.methods.GAP_TARGET` times
max(1, |J*|), the final gap, the steps the Armijo rule took in the rate window, the predicted and measured rates,
Newton's order, what went wrong), the J gap against iterations on a log scale, and the text of the method
definitions (THEORY.md section 8).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from otgeom.methods import GAP_TARGET, Comparison
from otgeom.report.document import Literal, Para, Report, Section, Table
from otgeom.report.plots import line_figure
from otgeom.textfmt import number as _fmt

__all__ = ["compare_section", "compare_report", "compare_rows", "COMPARE_HEADER"]

_NAMES = {"euclidean": "Euclidean gradient descent", "fisher": "Fisher natural gradient (Kakade)",
          "wasserstein": "Wasserstein natural gradient", "wpo": "WPO (diagonal Fisher preconditioner)",
          "newton": "Newton (Riemannian for d = 1 and lq)", "hewer": "Hewer (policy iteration)"}

COMPARE_HEADER = ("method", "converged", "iterations to gap", "seconds to gap", "iterations", "final gap",
                  "steps in the rate window", "predicted rate", "measured rate", "order", "note")


def _opt(x, digits: int = 4) -> str:
    return "-" if x is None else _fmt(x, digits)


def compare_rows(c: Comparison) -> list[tuple[str, ...]]:
    """The table's rows as text (also the CLI's text output)."""
    rows = []
    for r in c.results:
        rows.append((r.method, "yes" if r.run.converged else "no", _opt(r.iterations_to_gap),
                     _opt(r.seconds_to_gap, 3), str(r.run.iterations), _opt(r.final_gap, 2),
                     ", ".join(_fmt(x, 4) for x in r.steps) or "-", _opt(r.predicted_rate), _opt(r.measured_rate),
                     _opt(r.order, 3), r.note or "-"))
    return rows


def compare_section(c: Comparison) -> Section:
    """The section: what the methods are, the table, and the J gap against iterations."""
    blocks: list[Any] = [
        Para("Every method minimises the same $J(\\theta)$ with its exact gradient and steps "
             "$\\theta \\leftarrow \\theta - \\eta\\, M(\\theta)\\,\\partial J/\\partial\\theta$: $M = I$ (Euclidean), "
             "$M = F^{-1}$ (Fisher, the $\\rho$-weighted Fisher information), $M = G^{-1}$ (Wasserstein, otgeom's "
             "metric), WPO ($\\operatorname{diag}(F)^{-1}$ times $\\mathbb{E}[\\nabla_\\theta(\\nabla_a \\log\\pi)^\\top"
             "\\nabla_a Q]$); Newton and Hewer solve their Newton equations. The step is Armijo backtracking on the "
             "exact $J$ from $\\eta_0 = 1$, the same rule for every method (THEORY.md section 8; `otgeom.methods`)."),
        Para((f"$J^* = {_fmt(c.J_star, 12)}$: " if c.J_star is not None else "No $J^*$: ") + f"{c.reference}. The gap target is "
             f"{_fmt(GAP_TARGET)} $\\times \\max(1, |J^*|)$. Rates are per iteration: predicted "
             "$-\\frac1N\\log\\max_i\\prod_k |1 - \\eta_k\\mu_i|$ from the eigenvalues $\\mu_i$ of $M(\\theta^*)H(\\theta^*)$ "
             "and the steps $\\eta_k$ the rule took, for the slowest mode that carries error; measured from the "
             "iterates' component along that mode, between errors $10^{-4}$ and $10^{-11}$."),
        Table(COMPARE_HEADER, tuple(compare_rows(c))),
    ]
    curves = []
    if c.J_star is not None:
        floor = 64 * np.finfo(float).eps * max(1.0, abs(c.J_star))
        for r in c.results:
            gap = np.asarray(r.run.J - c.J_star, float)
            curves.append((_NAMES.get(r.method, r.method), np.arange(gap.size), np.where(gap > floor, gap, np.nan)))
        blocks.append(line_figure("methods", "J - J* against iterations (log scale; below the round-off floor of J "
                                  "the curves stop).", [{"ys": curves, "xlabel": "iteration", "ylabel": "J - J*",
                                                         "logy": True}]))
    else:
        curves = [(_NAMES.get(r.method, r.method), np.arange(r.run.J.size), r.run.J) for r in c.results]
        blocks.append(line_figure("methods", "J against iterations (no J* to measure a gap against).",
                                  [{"ys": curves, "xlabel": "iteration", "ylabel": "J"}]))
    return Section("Methods compared", tuple(blocks))


def compare_report(c: Comparison, command: str) -> Report:
    """A report holding the comparison (provenance and the section)."""
    from otgeom import __version__

    meta = (("otgeom version", __version__), ("family", c.label), ("reproduce", Literal(command)))
    return Report(f"otgeom compare: {c.label}", meta, (compare_section(c),))
