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

__all__ = ["GaussianExpectation", "gaussian_expectation", "polynomial_gaussian_mean"]


class GaussianExpectation:
    r""":math:`f \mapsto \mathbb E_{a\sim\mathcal N(m,\Sigma)}[f(a)]` for one Gaussian.

    With ``define`` (a :meth:`DerivationBuilder.define`), the completed-square
    quantities (weight, shifted mean, shifted covariance) of every distinct
    exponent are named once and reused, so moments of every expectation refer to
    short symbols instead of repeating rational functions of :math:`\Sigma`.
    """

    def __init__(self, a: Sequence[sp.Symbol], mean: Sequence[sp.Expr], cov: sp.Matrix,
                 define=None, prefix: str = "g"):
        self.a = tuple(a)
        self.mean = tuple(sp.sympify(x) for x in mean)
        self.cov = sp.ImmutableMatrix(cov)
        d = len(self.a)
        if self.cov.shape != (d, d) or len(self.mean) != d:
            raise ExpressionError(f"gaussian_expectation: mean has {len(self.mean)} entries and cov shape "
                                  f"{self.cov.shape}, expected {d} and ({d}, {d})")
        self.define, self.prefix = define, prefix
        self._squares: dict[sp.Expr, tuple] = {}

    def _square(self, expo: sp.Expr) -> tuple:
        if expo not in self._squares:
            scale, mu, cov2 = _complete_square(expo, self.a, self.mean, self.cov)
            if self.define is not None and expo != 0:
                k, d, df = len(self._squares), len(self.a), self.define
                scale = df(f"{self.prefix}_w{k}", scale)
                mu = tuple(df(f"{self.prefix}_mu{k}_{i}", mu[i]) for i in range(d))
                named = {}
                for i in range(d):
                    for j in range(i, d):
                        named[(i, j)] = named[(j, i)] = df(f"{self.prefix}_C{k}_{i}_{j}", cov2[i, j])
                cov2 = sp.ImmutableMatrix(d, d, lambda i, j: named[(i, j)])
            self._squares[expo] = (scale, mu, cov2)
        return self._squares[expo]

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        a = self.a
        aset = frozenset(a)
        groups: dict[sp.Expr, dict[tuple, sp.Expr]] = {}
        for coeff, apart in _terms(sp.sympify(expr), aset):
            expo, mono = _split_apart(apart, a, aset)
            bucket = groups.setdefault(expo, {})
            bucket[mono] = bucket.get(mono, sp.Integer(0)) + coeff
        total = sp.Integer(0)
        for expo, bucket in groups.items():
            scale, mu, cov2 = self._square(expo)
            inner = sp.Add(*[c * _monomial_mean(mono, a, mu, cov2) for mono, c in bucket.items() if c != 0])
            total += scale * inner
        return total


def gaussian_expectation(expr: sp.Expr, a: Sequence[sp.Symbol], mean: Sequence[sp.Expr], cov: sp.Matrix) -> sp.Expr:
    r""":math:`\mathbb E_{a\sim\mathcal N(m,\Sigma)}[\mathrm{expr}(a)]` in closed form (no named intermediates).

    Parameters
    ----------
    expr : sympy.Expr
        A sum of ``coefficient * polynomial(a) * exp(quadratic(a))`` terms.
    a : sequence of Symbol, shape=[d]
    mean : sequence of Expr, shape=[d]
    cov : sympy.Matrix, shape=[d, d], symmetric
    """
    return GaussianExpectation(a, mean, cov)(expr)


def _terms(expr: sp.Expr, aset: frozenset) -> list[tuple[sp.Expr, sp.Expr]]:
    """Expand ``expr`` *in a only*: a list of (coefficient free of a, product of a-factors without sums).

    Coefficients (sums of parameters, h values, ...) are never expanded, which keeps
    expectations of :math:`\nabla_a Q` and :math:`|\nabla_a Q|^2` small.
    """
    if not (expr.free_symbols & aset):
        return [(expr, sp.Integer(1))]
    if expr.is_Add:
        return [t for arg in expr.args for t in _terms(arg, aset)]
    if expr.is_Mul:
        out = [(sp.Integer(1), sp.Integer(1))]
        for f in expr.args:
            fterms = _terms(f, aset)
            out = [(c1 * c2, p1 * p2) for c1, p1 in out for c2, p2 in fterms]
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0 and expr.base.is_Add:
        base = _terms(expr.base, aset)
        out = [(sp.Integer(1), sp.Integer(1))]
        for _ in range(int(expr.exp)):
            out = [(c1 * c2, p1 * p2) for c1, p1 in out for c2, p2 in base]
        return out
    return [(sp.Integer(1), expr)]


def _split_apart(apart: sp.Expr, a: tuple, aset: frozenset) -> tuple[sp.Expr, tuple]:
    """A product of a-factors -> (expanded exponent, monomial exponent tuple)."""
    expo = sp.Integer(0)
    mono = [0] * len(a)
    for f in sp.Mul.make_args(apart):
        if f == 1:
            continue
        if isinstance(f, sp.exp):
            expo += f.args[0]
        elif f in aset:
            mono[a.index(f)] += 1
        elif f.is_Pow and f.base in aset and f.exp.is_Integer and f.exp > 0:
            mono[a.index(f.base)] += int(f.exp)
        elif f.is_Pow and isinstance(f.base, sp.exp) and f.exp.is_Integer:
            expo += f.exp * f.base.args[0]
        else:
            raise ExpressionError(
                f"cannot take a closed-form Gaussian expectation of the factor {f} (in {apart}): "
                "only polynomial(a) * exp(quadratic(a)) terms are supported"
            )
    return sp.expand(expo), tuple(mono)


@lru_cache(maxsize=8192)
def _monomial_mean(mono: tuple, a: tuple, mu: tuple, cov: sp.ImmutableMatrix) -> sp.Expr:
    return polynomial_gaussian_mean(sp.Mul(*[x**k for x, k in zip(a, mono)]), a, mu, cov)


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
