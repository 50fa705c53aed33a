r"""Where a family's integrands have narrow features: the exp-of-quadratic factors of its own expressions.

A factor :math:`\exp(q(a))` with :math:`q` a polynomial of degree 2 in the action and a negative
semi-definite quadratic part is written :math:`\exp(-(a-c)^\top H (a-c) + \text{const})`; its centre
:math:`c` and precision :math:`H` tell the quadrature (:mod:`otgeom.numeric.quadrature`) where to put panels
of the feature's width.  This reads the family's definition (c and p with the parameter values), never a
derived closed form, so the numeric witness stays independent of the symbolic layer.  A factor of any
other shape is not a hint (the quadrature then relies on adaptive bisection alone).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["Feature", "feature_hints", "exp_quadratic_features"]


@dataclass(frozen=True)
class Feature:
    """An exp-of-quadratic factor :math:`e^{-(a-c)^\\top H (a-c)}` of a family's c or p in one state."""

    centre: np.ndarray
    precision: np.ndarray


def exp_quadratic_features(expr: sp.Expr, action: tuple) -> list[Feature]:
    """The exp-of-quadratic factors of ``expr`` (numbers substituted) as :class:`Feature` (centre, precision)."""
    out: list[Feature] = []
    d = len(action)
    for node in sp.preorder_traversal(expr):
        if not isinstance(node, sp.exp):
            continue
        arg = sp.expand(node.args[0])
        try:
            poly = sp.Poly(arg, *action)
        except sp.PolynomialError:
            continue
        if poly.total_degree() != 2 or not all(c.is_number for c in poly.coeffs()):
            continue
        Hq = np.array([[float(sp.diff(arg, x, y)) for y in action] for x in action])  # Hessian of q = -2 H
        g0 = np.array([float(sp.diff(arg, x).subs({y: 0 for y in action})) for x in action])  # = 2 H c
        H = -0.5 * Hq
        if not np.all(np.isfinite(H)) or np.linalg.eigvalsh(H).min() < -1e-14 * max(1.0, np.abs(H).max()):
            continue  # exp of a growing quadratic: not a bump
        centre = np.linalg.lstsq(2 * H, g0, rcond=None)[0] if d > 1 else (
            np.array([g0[0] / (2 * H[0, 0])]) if H[0, 0] > 0 else np.zeros(1))
        out.append(Feature(centre, H))
    return out


def feature_hints(family) -> list[list[Feature]]:
    """Per state, the exp-of-quadratic features of c(s, .) and p(.|s, .) at the family's parameter values."""
    sub = {k: sp.Float(v, 17) for k, v in family.parameter_substitution().items()}
    hints = []
    for s in range(family.n_states):
        feats: list[Feature] = []
        seen = set()
        exprs = [family.cost[s]] + [family.kernel[s][t] for t in range(family.n_states)]
        for e in exprs:
            for f in exp_quadratic_features(e.xreplace(sub), family.action):
                key = (tuple(np.round(f.centre, 12)), tuple(np.round(f.precision, 12).ravel()))
                if key not in seen:
                    seen.add(key)
                    feats.append(f)
        hints.append(feats)
    return hints
