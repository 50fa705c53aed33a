r"""Running error bounds of a family's expressions in float64 (Wilkinson's running error analysis).

For an expression e built from the action a (exact inputs), numbers (parameters, rounded to float64 once)
and the operations +, ×, integer and real powers and smooth one-argument functions, :func:`error_coefficient`
returns an expression :math:`E(a) \ge 0` such that, to first order in the unit round-off :math:`u = 2^{-53}`,

.. math::
    |\mathrm{fl}(e(a)) - e(a)| \le u\,E(a).

Rules (first-order propagation through the exact values, plus one rounding per operation): a number v:
:math:`E = |v|` (0 for an integer); the action: :math:`E = 0`; a sum of k terms: :math:`E = \sum E_i +
(k-1)\sum|e_i|`; a product: :math:`E = \sum_i E_i\prod_{j\ne i}|e_j| + (k-1)|e|`; :math:`b^r`:
:math:`E = |r|\,|b|^{r-1}E_b + |e|` (and :math:`(|r|-1)|e|` more for an integer power computed by repeated
products); :math:`f(x)`: :math:`E = |f'(x)|E_x + |f(x)|`.  So a cancellation such as :math:`1 - \phi`
with :math:`\phi \approx 1` gets an absolute bound of order u, while a tiny transition probability
:math:`(1-\phi)M_{st}` keeps a bound relative to itself: what the stationary law's entrywise error bound needs.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

__all__ = ["error_coefficient"]


@lru_cache(maxsize=None)
def _derivative(func) -> sp.Lambda:
    """f' of a one-argument function class, as a Lambda (differentiated once per class, not per node)."""
    t = sp.Dummy("t", real=True)
    return sp.Lambda(t, sp.diff(func(t), t))


def _error(e: sp.Expr, action: frozenset) -> sp.Expr:
    """The error coefficient E of e (first-order propagation through the exact values, plus each rounding)."""
    A = sp.Abs
    if e.is_Number:
        return sp.Integer(0) if e.is_Integer else A(e)
    if e.is_Symbol:
        return sp.Integer(0) if e in action else A(e)
    if e.is_Add:
        return sp.Add(*[_error(x, action) for x in e.args]) + (len(e.args) - 1) * sp.Add(*[A(x) for x in e.args])
    if e.is_Mul:
        k = len(e.args)
        E = sp.Add(*[_error(e.args[i], action) * sp.Mul(*[A(e.args[j]) for j in range(k) if j != i])
                     for i in range(k)])
        return E + (k - 1) * A(e)
    if e.is_Pow:
        b, r = e.args
        Eb = _error(b, action)
        if r.is_Number:
            extra = (abs(int(r)) - 1) * A(e) if r.is_Integer and abs(int(r)) > 1 else sp.Integer(0)
            return A(r) * A(b) ** (r - 1) * Eb + A(e) + extra
        return A(e) * (_error(r, action) * A(sp.log(A(b))) + A(r) * Eb / A(b)) + A(e)  # b**r = exp(r log b)
    if isinstance(e, sp.Function) and len(e.args) == 1:
        (x,) = e.args
        return A(_derivative(e.func)(x)) * _error(x, action) + A(e)
    # anything else: no claim beyond the value's own rounding, scaled by its operation count
    return (1 + sp.count_ops(e)) * A(e)


def error_coefficient(expr: sp.Expr, action) -> sp.Expr:
    """E(a) with :math:`|\\mathrm{fl}(e) - e| \\le u E(a)` to first order (module docstring); real expressions."""
    return _error(sp.sympify(expr), frozenset(action))
