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

__all__ = ["Feature", "feature_hints", "exp_quadratic_features", "unlocated_factors", "unlocated"]


@dataclass(frozen=True)
class Feature:
    """An exp-of-quadratic factor :math:`e^{-(a-c)^\\top H (a-c)}` of a family's c or p in one state."""

    centre: np.ndarray
    precision: np.ndarray


def _as_exponentials(expr: sp.Expr, action) -> sp.Expr:
    """Write every power with a positive number as base and an action-dependent exponent, b**q(a), as exp(q log b)."""
    act = set(action)
    return expr.replace(lambda e: e.is_Pow and e.base.is_number and e.base.is_positive and bool(e.exp.free_symbols & act),
                        lambda e: sp.exp(e.exp * sp.log(e.base)))


def _quadratic_exponent(node: sp.Expr, action) -> sp.Poly | None:
    """The exponent of an exp node as a polynomial of total degree <= 2 in the action with number coefficients."""
    try:
        poly = sp.Poly(sp.expand(node.args[0]), *action)
    except sp.PolynomialError:
        return None
    if poly.total_degree() > 2 or not all(c.is_number for c in poly.coeffs()):
        return None
    return poly


def exp_quadratic_features(expr: sp.Expr, action: tuple) -> list[Feature]:
    """The exp-of-quadratic factors of ``expr`` (numbers substituted) as :class:`Feature` (centre, precision).

    Powers ``b**q(a)`` with a number base count as ``exp(q(a) log b)``."""
    out: list[Feature] = []
    d = len(action)
    for node in sp.preorder_traversal(_as_exponentials(expr, action)):
        if not isinstance(node, sp.exp):
            continue
        poly = _quadratic_exponent(node, action)
        if poly is None or poly.total_degree() != 2:
            continue
        arg = poly.as_expr()
        Hq = np.array([[float(sp.diff(arg, x, y)) for y in action] for x in action])  # Hessian of q = -2 H
        g0 = np.array([float(sp.diff(arg, x).subs({y: 0 for y in action})) for x in action])  # = 2 H c
        H = -0.5 * Hq
        if not np.all(np.isfinite(H)) or np.linalg.eigvalsh(H).min() < -1e-14 * max(1.0, np.abs(H).max()):
            continue  # exp of a growing quadratic: not a bump
        centre = np.linalg.lstsq(2 * H, g0, rcond=None)[0] if d > 1 else (
            np.array([g0[0] / (2 * H[0, 0])]) if H[0, 0] > 0 else np.zeros(1))
        out.append(Feature(centre, H))
    return out


def unlocated_factors(expr: sp.Expr, action: tuple) -> list[str]:
    """Factors of ``expr`` whose features otgeom cannot locate: ``expr`` is a polynomial in the action once every
    exp-of-(at most quadratic) factor is taken as a constant, or these factors (as text) say why not.

    A rational bump 1/(1 + k a^2), exp(-k a^4) or sin(k a) can be narrower than the quadrature's background panels,
    and no rule that samples it at finitely many nodes can certify that it has seen it."""
    act = tuple(action)
    e = _as_exponentials(expr, act)
    e = e.replace(lambda x: isinstance(x, sp.exp) and _quadratic_exponent(x, act) is not None,
                  lambda x: sp.Dummy("located"))
    if e.is_polynomial(*act):
        return []
    bad = []
    for node in sp.preorder_traversal(e):
        if not (node.free_symbols & set(act)):
            continue
        if isinstance(node, sp.Function) or (node.is_Pow and not (node.exp.is_Integer and node.exp >= 0)):
            bad.append(str(node))
    return sorted(set(bad))[:3] or [str(e)]


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


def unlocated(family) -> list[str]:
    """Per state, a phrase naming the family's factors whose features cannot be located (empty: all located)."""
    sub = {k: sp.Float(v, 17) for k, v in family.parameter_substitution().items()}
    out = []
    for s in range(family.n_states):
        items = [("c", family.cost[s])] + [(f"p({t}|{s},a)", family.kernel[s][t]) for t in range(family.n_states)]
        bad = [(name, unlocated_factors(e.xreplace(sub), family.action)) for name, e in items]
        bad = [(name, f) for name, f in bad if f]
        out.append("; ".join(f"{name} has {', '.join(f)}" for name, f in bad))
    return out
