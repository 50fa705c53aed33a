r"""Taylor-remainder checks (pymanopt's ``check_gradient``, pyadjoint's ``taylor_test``), returning data.

Along a curve :math:`\gamma(\epsilon)` with :math:`\gamma(0) = \pi`, a correct
k-th order model :math:`m_k(\epsilon)` of :math:`f(\gamma(\epsilon))` leaves a
remainder :math:`|f(\gamma(\epsilon)) - m_k(\epsilon)| = O(\epsilon^{k+1})`: slope
k+1 on a log-log plot (2 for a gradient, 3 for a Hessian).  A wrong derivative
leaves slope k (or less).

The slope is fitted on the smallest step sizes whose remainder is still well
above the round-off floor :math:`64\,\varepsilon_{\text{mach}}\max(1,|f(\pi)|)`.
Two outcomes are verdicts of their own rather than a meaningless slope:
``model-exact`` (every remainder is at round-off: f is exactly the model along
this curve, so the check cannot discriminate), ``round-off`` (too few resolved
points) and ``pre-asymptotic`` (the resolved remainders show no run of three with
consistent local slopes: the curve has not reached its asymptotic range).  The result names the curve, because it decides which second
derivative is tested (push-forward vs geodesic).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["TaylorResult", "taylor_check", "even_taylor_check", "SLOPE_TOLERANCE"]

#: Accepted |slope - expected|.  Observed slopes of correct models on the built-in
#: families are within 0.05 of the expected value; a wrong first derivative gives
#: slope <= expected - 1, so 0.2 separates the two with a wide margin.
SLOPE_TOLERANCE = 0.2
#: local slopes of the fitted window may differ from their median by at most this much (less than the gap of 1
#: between a right and a wrong model)
SUFFIX_SPREAD = 0.75


@dataclass(frozen=True)
class TaylorResult:
    curve: str
    order: int
    expected_slope: float
    eps: np.ndarray = field(repr=False)
    remainder: np.ndarray = field(repr=False)
    slope: float | None
    window: tuple[int, int] | None
    floor: float
    verdict: str  # "asymptotic", "model-exact", "round-off", "pre-asymptotic", "model-not-finite"

    @property
    def error(self) -> float | None:
        """|slope - expected slope| (None when no slope could be fitted)."""
        return None if self.slope is None else abs(self.slope - self.expected_slope)

    def holds(self, tolerance: float = SLOPE_TOLERANCE) -> bool:
        return self.verdict == "asymptotic" and self.error <= tolerance


def taylor_check(
    value: Callable[[float], float],
    model: Callable[[float], float],
    order: int,
    curve: str,
    eps: np.ndarray | None = None,
    resolve_factor: float = 1e3,
) -> TaylorResult:
    """Remainders of ``value(eps) - model(eps)`` and their log-log slope.

    Parameters
    ----------
    value : callable
        :math:`\\epsilon \\mapsto f(\\gamma(\\epsilon))`.
    model : callable
        The order-``order`` Taylor model, including :math:`f(\\gamma(0))`.
    eps : array, optional
        Step sizes, decreasing; default :math:`2^{-k}`, k = 1..26.
    resolve_factor : float
        A remainder counts as resolved above ``resolve_factor`` times the round-off floor (default 1e3;
        the fourth-order checks of smooth curves use 30, because eps^4 falls through the resolvable
        range in a few steps and a strict threshold leaves only pre-asymptotic points).
    """
    eps = np.asarray(eps if eps is not None else 2.0 ** -np.arange(1, 27), float)
    models = np.array([float(model(e)) for e in eps])
    if not np.all(np.isfinite(models)):  # the model (the formula under test) itself is not a number
        return TaylorResult(curve, order, order + 1.0, eps, np.full(eps.shape, np.inf), None, None, np.inf,
                            "model-not-finite")
    f0 = float(value(0.0))
    floor = 64 * np.finfo(float).eps * max(1.0, abs(f0))
    rem = np.array([abs(float(value(e)) - m) for e, m in zip(eps, models)])
    resolved = rem > resolve_factor * floor
    expected = order + 1.0
    if not resolved.any():
        return TaylorResult(curve, order, expected, eps, rem, None, None, floor,
                            "model-exact" if (rem <= resolve_factor * floor).all() else "round-off")
    # smallest-eps contiguous run of resolved points, at most 6 long
    last = int(np.flatnonzero(resolved)[-1])
    first = last
    while first - 1 >= 0 and resolved[first - 1] and last - first < 5:
        first -= 1
    if last - first < 2:
        return TaylorResult(curve, order, expected, eps, rem, None, None, floor, "round-off")
    # keep the smallest-step part of the run whose local slopes agree (within SUFFIX_SPREAD of their median): larger
    # steps can still be pre-asymptotic (a curve crossing a narrow bump), and a fit across the change of regime
    # gives a meaningless slope.  A wrong model's remainder has a consistent slope of at most expected - 1.
    local = np.diff(np.log(rem[first:last + 1])) / np.diff(np.log(eps[first:last + 1]))
    keep = [local[-1]]
    for s_ in local[-2::-1]:
        if abs(s_ - np.median(keep)) > SUFFIX_SPREAD:
            break
        keep.append(s_)
    if len(keep) < 2:
        return TaylorResult(curve, order, expected, eps, rem, None, (first, last), floor, "pre-asymptotic")
    first = last - len(keep)
    x, y = np.log(eps[first:last + 1]), np.log(rem[first:last + 1])
    slope = float(np.polyfit(x, y, 1)[0])
    return TaylorResult(curve, order, expected, eps, rem, slope, (first, last), floor, "asymptotic")


def even_taylor_check(value: Callable[[float], float], f0: float, second: float, curve: str,
                      eps: np.ndarray | None = None, resolve_factor: float = 1e3) -> TaylorResult:
    r"""Taylor check of a second derivative on the even part of f along a curve through 0 (expected slope 4).

    The remainder :math:`\tfrac12(f(\epsilon) + f(-\epsilon)) - f_0 - \tfrac12\epsilon^2 H` cancels every
    odd order, so a correct H leaves :math:`O(\epsilon^4)` (slope 4) and a wrong one slope 2.  The plain
    slope-3 remainder can be dominated by its :math:`\epsilon^4` term over the few decades resolvable above
    round-off; the even part leaves :math:`\epsilon^4 + O(\epsilon^6)`.  ``value(-eps)`` must be f on the
    curve run backwards (a geodesic with initial velocity -v).
    """
    return taylor_check(lambda e: 0.5 * (value(e) + value(-e)), lambda e: f0 + 0.5 * e * e * second, 3, curve, eps,
                        resolve_factor)
