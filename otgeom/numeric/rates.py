r"""Measured convergence rates: log-linear fits of a decaying error against time or iteration.

A quantity that decays linearly, :math:`e(t) \approx C e^{-\lambda t}`, has :math:`\log e` affine in :math:`t`;
the measured rate is minus the least-squares slope of :math:`\log e` on a window where the decay is linear
(after the transient, before round-off).  The predicted rates these are compared with come from the Hessian
spectrum at the optimum (:func:`otgeom.numeric.newton.hessian_rate`,
:func:`otgeom.numeric.lq.hessian_spectrum_at_optimum`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MeasuredRate", "log_linear_rate", "window_rate"]


@dataclass(frozen=True)
class MeasuredRate:
    r"""A rate :math:`\lambda` fitted to :math:`\log e(t) \approx c - \lambda t` on ``t in [t_lo, t_hi]`` from ``points``
    samples."""

    rate: float
    t_lo: float
    t_hi: float
    points: int


def log_linear_rate(t: np.ndarray, e: np.ndarray) -> float:
    r"""Minus the least-squares slope of :math:`\log e` against ``t`` (all samples; ``e > 0``)."""
    return float(-np.polyfit(np.asarray(t, float), np.log(np.asarray(e, float)), 1)[0])


def window_rate(t: np.ndarray, e: np.ndarray, lo: float, hi: float, floor: float = 0.0,
                min_points: int = 5) -> MeasuredRate | None:
    """:func:`log_linear_rate` on the samples with ``lo < t < hi`` and ``e > floor``; None when fewer than
    ``min_points`` remain (nothing to fit: the error reached the floor too early)."""
    t, e = np.asarray(t, float), np.asarray(e, float)
    keep = (t > lo) & (t < hi) & (e > floor)
    if keep.sum() < min_points:
        return None
    return MeasuredRate(log_linear_rate(t[keep], e[keep]), float(lo), float(hi), int(keep.sum()))
