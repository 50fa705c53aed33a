"""Shared helpers of the claim checks: exact conversions, chain evaluations on both paths, Taylor outcomes."""
from __future__ import annotations

import itertools

import mpmath
import numpy as np
import sympy as sp

from otgeom.claims import Outcome
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.taylor import SLOPE_TOLERANCE

TAYLOR_REASON = (f"slope of the Taylor remainder on the smallest resolved steps; a correct first derivative "
                 f"gives 2 (observed within 0.05), a wrong one 1: |slope - 2| <= {SLOPE_TOLERANCE}")
TAYLOR_REASON_EVEN = (f"slope of the symmetrised Taylor remainder (f(eps) + f(-eps))/2 - f(0) - eps^2 H/2 on the "
                      f"smallest resolved steps: odd orders cancel, so a correct second derivative H gives 4, a wrong "
                      f"one 2: |slope - 4| <= {SLOPE_TOLERANCE}")


def taylor_outcome(results, wheres) -> Outcome:
    """The worst of several Taylor checks as an Outcome (inconclusive unless its slope could be fitted)."""
    k = int(np.argmax([r.error if r.error is not None else np.inf for r in results]))
    worst = results[k]
    where = {**wheres[k], "curve": worst.curve, "slope": worst.slope, "taylor_verdict": worst.verdict}
    broken = [i for i, r in enumerate(results) if r.verdict == "model-not-finite"]
    if broken:  # the formula under test gave nan or inf: wrong, whatever the witness says
        return Outcome(float("inf"), {**wheres[broken[0]], "curve": results[broken[0]].curve},
                       {"reason": "the formula under test returned a value that is not finite"})
    if worst.verdict != "asymptotic":
        return Outcome(None, where, {"reason": f"Taylor check {worst.verdict}"}, verdict="inconclusive")
    return Outcome(worst.error, where, {"remainders": worst.remainder.tolist(), "eps": worst.eps.tolist()})


def exact(x: float) -> sp.Rational:
    """The exact binary value of a float as a Rational."""
    return sp.Rational(float(x))


def symbolic_args(family, policy: GaussianPolicy, kind=float) -> list:
    vals = family.parameter_values()
    coords = policy.coordinates()
    if kind is float:
        return [float(v) for v in vals] + [float(c) for c in coords]
    return [mp_exact(v) for v in vals] + [mp_exact(c) for c in coords]


def mp_gaussian_expect(f, mean, cov, order: int):
    """E f(a) for a ~ N(mean, cov) by a tensor Gauss-Hermite rule in mpmath (current precision).

    Used for d >= 2, where nested tanh-sinh quadrature takes minutes; callers compare two orders.
    """
    d = len(mean)
    X, W = mpmath.gauss_quadrature(order, "hermite")
    L = mpmath.cholesky(mpmath.matrix(cov))
    mv = [mpmath.mpf(x) for x in mean]
    total = mpmath.mpf(0)
    for idx in itertools.product(range(order), repeat=d):
        z = [mpmath.sqrt(2) * X[i] for i in idx]
        w = mpmath.fprod(W[i] for i in idx)
        a = [mv[i] + mpmath.fsum(L[i, j] * z[j] for j in range(d)) for i in range(d)]
        total += w * f(*a)
    return total / mpmath.pi ** (mpmath.mpf(d) / 2)


def feature_breaks(features, mean: float, sd: float) -> list:
    """d = 1 split points for the high-precision witness: m, m +- 4 sd and every feature centre +- {1/2..8} widths."""
    pts = [mean - 4 * sd, mean, mean + 4 * sd]
    for f in features:
        c, H = float(f.centre[0]), float(f.precision[0, 0])
        if H > 0:
            pts += [c + k / np.sqrt(H) for k in (-8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8)]
    return sorted(set(pts))


def float_composite_mean(expr, action, wps, s: int) -> tuple[float, float]:
    """E f on state s's feature-resolving rule in float64: (Kronrod value, sum over axes of |Kronrod - Gauss|).

    ``wps`` is ``rule.all_points(policy)`` (built once by the caller for all states and integrands)."""
    f = sp.lambdify(action, expr, "numpy")
    A = wps[0].points[s]
    vals = np.broadcast_to(np.asarray(f(*(A[:, i] for i in range(A.shape[1]))), float), (A.shape[0],))
    out = [float(wp.weights[s] @ vals) for wp in wps]
    return out[0], float(sum(abs(v - out[0]) for v in out[1:]))


def mp_gaussian_mean(f, mean, cov, features=(), float_check=None):
    """High-precision witness of E f(a), a ~ N(mean, cov) (mpmath numbers, current precision), with an error estimate
    from two different rules.

    d = 1: tanh-sinh quadrature split at m, m +- 4 sd and at the family's feature centres +- their widths
    (:func:`feature_breaks`), and Gauss–Legendre on the same intervals; the estimate is their difference.
    d >= 2: tensor Gauss-Hermite of order 48 (the value) against order 32, and against ``float_check() ->
    (value, bound)``, the feature-resolving composite Kronrod rule in float64: when the two disagree by more than
    the float rule's bound the disagreement is the estimate (Gauss–Hermite missed a feature), so a caller
    says ``inconclusive`` instead of judging a formula against a wrong reference.
    """
    d = len(mean)
    if d == 1:
        m, v = mean[0], cov[0][0]
        sd = mpmath.sqrt(v)
        pts = [-mpmath.inf] + [mpmath.mpf(x) for x in feature_breaks(features, float(m), float(sd))] + [mpmath.inf]
        pts = sorted(set(pts))
        g = lambda x: f(x) * mpmath.exp(-(x - m) ** 2 / (2 * v)) / mpmath.sqrt(2 * mpmath.pi * v)  # noqa: E731
        val = mpmath.quad(g, pts)
        return val, abs(val - mpmath.quad(g, pts, method="gauss-legendre"))
    val = mp_gaussian_expect(f, mean, cov, 48)
    est = abs(val - mp_gaussian_expect(f, mean, cov, 32))
    if float_check is not None:
        fv, fb = float_check()
        gap = abs(float(val) - fv)
        if gap > fb + 4e-15 * (1 + abs(fv)):
            est = max(est, mpmath.mpf(gap))
    return val, est


def mp_exact(x) -> mpmath.mpf:
    """A float or Rational as an exact mpmath number."""
    q = exact(x) if not isinstance(x, sp.Rational) else x
    return mpmath.mpf(q.p) / q.q

