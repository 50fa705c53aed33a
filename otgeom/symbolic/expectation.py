r"""Closed-form Gaussian expectations of exponential-polynomial expressions.

For :math:`a \sim \mathcal N(m, \Sigma)` in :math:`\mathbb R^d` and a term
:math:`f(a)\, e^{q(a)}` with f a polynomial and q a polynomial of degree at most 2,
write :math:`q(a) = q(m) + g^\top (a - m) - (a-m)^\top K (a-m)` with
:math:`g = \nabla q(m)`, :math:`-2K = \nabla^2 q`. Completing the square,

.. math::
    \mathbb E[f(a) e^{q(a)}] = \frac{\exp\big(q(m) + \tfrac12 g^\top \Sigma' g\big)}
        {\sqrt{\det(I + 2\Sigma K)}}\ \mathbb E_{\mathcal N(m + \Sigma' g,\ \Sigma')}[f],
    \qquad \Sigma' = (I + 2\Sigma K)^{-1}\Sigma ,

valid when :math:`\Sigma^{-1} + 2K \succ 0`.  The polynomial moment is the heat
operator :math:`\mathbb E_{\mathcal N(\mu,\Sigma')}[f] = \big(e^{\frac12 \nabla^\top \Sigma' \nabla} f\big)(\mu)`,
a finite sum for polynomial f.  Expectation is linear, so sums are handled term by term.

Any other dependence on a (``sin(a)``, ``1/a``, ``exp(a**3)``) raises
:class:`otgeom.errors.ExpressionError` naming the factor.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import sympy as sp

from otgeom.errors import ExpressionError

__all__ = ["gaussian_expectation", "polynomial_gaussian_mean"]


def gaussian_expectation(expr: sp.Expr, a: Sequence[sp.Symbol], mean: Sequence[sp.Expr], cov: sp.Matrix) -> sp.Expr:
    """:math:`\\mathbb E_{a\\sim\\mathcal N(m,\\Sigma)}[\\mathrm{expr}(a)]` in closed form.

    Parameters
    ----------
    expr : sympy.Expr
        A sum of ``coefficient * polynomial(a) * exp(quadratic(a))`` terms.
    a : sequence of Symbol, shape=[d]
    mean : sequence of Expr, shape=[d]
    cov : sympy.Matrix, shape=[d, d], symmetric
    """
    a = tuple(a)
    mean = tuple(sp.sympify(x) for x in mean)
    cov = sp.ImmutableMatrix(cov)
    if cov.shape != (len(a), len(a)) or len(mean) != len(a):
        raise ExpressionError(f"gaussian_expectation: mean has {len(mean)} entries and cov shape {cov.shape}, "
                              f"expected {len(a)} and ({len(a)}, {len(a)})")
    expr = sp.expand(sp.sympify(expr), power_exp=False, log=False)
    groups: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(expr):
        coeff, poly, expo = _split_term(term, a)
        groups[expo] = groups.get(expo, sp.Integer(0)) + coeff * poly
    total = sp.Integer(0)
    for expo, poly in groups.items():
        scale, mu, cov2 = _complete_square(expo, a, mean, cov)
        total += scale * polynomial_gaussian_mean(sp.expand(poly), a, mu, cov2)
    return total


def _split_term(term: sp.Expr, a: tuple[sp.Symbol, ...]) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """term = coeff (free of a) * poly(a) * exp(expo(a))."""
    coeff, poly, expo = sp.Integer(1), sp.Integer(1), sp.Integer(0)
    aset = set(a)
    for f in sp.Mul.make_args(term):
        if not (f.free_symbols & aset):
            coeff *= f
        elif isinstance(f, sp.exp):
            expo += f.args[0]
        elif f.is_polynomial(*a):
            poly *= f
        else:
            raise ExpressionError(
                f"cannot take a closed-form Gaussian expectation of the factor {f} (in term {term}): "
                "only polynomial(a) * exp(quadratic(a)) terms are supported"
            )
    return coeff, poly, sp.expand(expo)


@lru_cache(maxsize=4096)
def _complete_square(expo: sp.Expr, a: tuple, mean: tuple, cov: sp.ImmutableMatrix):
    d = len(a)
    if expo == 0:
        return sp.Integer(1), mean, cov
    if not expo.is_polynomial(*a) or sp.Poly(expo, *a).total_degree() > 2:
        raise ExpressionError(f"exponent {expo} is not a polynomial of degree <= 2 in {a}: no closed form")
    at_m = dict(zip(a, mean))
    q_m = expo.xreplace(at_m)
    g = sp.Matrix([sp.diff(expo, x).xreplace(at_m) for x in a])
    K = sp.Matrix(d, d, lambda i, j: -sp.diff(expo, a[i], a[j]) / 2)
    A = sp.eye(d) + 2 * sp.Matrix(cov) * K
    if d == 1:
        cov2 = sp.Matrix([[sp.cancel(cov[0, 0] / A[0, 0])]])
        detA = A[0, 0]
    else:
        cov2 = (A.inv() * sp.Matrix(cov)).applyfunc(sp.cancel)
        detA = sp.factor(A.det())
    exponent = sp.factor(sp.cancel(q_m + (g.T * cov2 * g)[0, 0] / 2))
    mu = tuple(sp.cancel(mean[i] + (cov2 * g)[i, 0]) for i in range(d))
    scale = sp.exp(exponent) / sp.sqrt(detA)
    return scale, mu, sp.ImmutableMatrix(cov2)


def polynomial_gaussian_mean(f: sp.Expr, a: Sequence[sp.Symbol], mu: Sequence[sp.Expr], cov: sp.Matrix) -> sp.Expr:
    r""":math:`\mathbb E_{\mathcal N(\mu,\Sigma)}[f] = \sum_k \frac{1}{k!}\big(\tfrac12\sum_{ij}\Sigma_{ij}\partial_i\partial_j\big)^k f\,\big|_{a=\mu}` for polynomial f."""
    a = tuple(a)
    d = len(a)
    total, term, k = sp.Integer(0), sp.expand(f), 0
    while term != 0:
        total += term / sp.factorial(k)
        k += 1
        term = sp.expand(sum((cov[i, j] * sp.diff(term, a[i], a[j]) for i in range(d) for j in range(d)),
                             sp.Integer(0)) / 2)
    return sp.expand(total.xreplace(dict(zip(a, mu))))
