r"""The tangent space at a Gaussian :math:`\pi_s = \mathcal N(m, \Sigma)` in d > 1 (THEORY.md section 2), exactly.

A tangent vector is a gradient field; a field v splits (weighted Helmholtz) as :math:`v = \nabla\phi + w`
with :math:`\mathrm{div}(\pi w) = 0`, i.e. :math:`\mathbb E_\pi\langle w, \nabla\psi\rangle = 0` for every test
function :math:`\psi`.

* :func:`curl` / :func:`is_gradient`: v is a gradient iff :math:`\partial_iv_j - \partial_jv_i = 0` for all i < j
  (on :math:`\mathbb R^d`, simply connected); the first nonzero component is reported.
* :func:`project_to_gradients`: for a polynomial v of degree k the potential solves the Ornstein–Uhlenbeck
  equation :math:`\Delta\phi - \langle\Sigma^{-1}(a-m),\nabla\phi\rangle = \mathrm{div}\,v - \langle\Sigma^{-1}(a-m), v\rangle`,
  whose operator maps polynomials of degree <= k+1 onto themselves (modulo constants).  So the Galerkin
  solution :math:`\mathbb E\langle\nabla\phi,\nabla\psi_j\rangle = \mathbb E\langle v,\nabla\psi_j\rangle` over the monomials
  :math:`\psi_j` of degree 1..k+1 is the exact projection, computed with exact Gaussian moments and solved
  in exact arithmetic when m and :math:`\Sigma` are rational.
* :func:`weighted_divergence`: :math:`\pi^{-1}\mathrm{div}(\pi w) = \mathrm{div}\,w - \langle\Sigma^{-1}(a-m), w\rangle`,
  which must vanish identically for the remainder (an independent exact check).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import sympy as sp

from otgeom.errors import ExpressionError
from otgeom.symbolic.expectation import polynomial_gaussian_mean

__all__ = ["curl", "is_gradient", "GradientProjection", "project_to_gradients", "weighted_divergence",
           "monomials"]


def _field(v: Sequence[sp.Expr], a: Sequence[sp.Symbol]) -> list[sp.Expr]:
    v = [sp.sympify(x) for x in v]
    if len(v) != len(a):
        raise ExpressionError(f"the field has {len(v)} components but the action has d = {len(a)}")
    return v


def curl(v: Sequence[sp.Expr], a: Sequence[sp.Symbol]) -> dict[tuple[int, int], sp.Expr]:
    """:math:`\\partial_iv_j - \\partial_jv_i` for i < j (simplified)."""
    v = _field(v, a)
    return {(i, j): sp.simplify(sp.diff(v[j], a[i]) - sp.diff(v[i], a[j]))
            for i in range(len(a)) for j in range(i + 1, len(a))}


def is_gradient(v: Sequence[sp.Expr], a: Sequence[sp.Symbol]) -> tuple[bool, str]:
    """(True, "") if the curl vanishes identically, else (False, the first nonzero curl component)."""
    for (i, j), c in curl(v, a).items():
        if c != 0:
            return False, f"d v_{j}/d {a[i]} - d v_{i}/d {a[j]} = {c}"
    return True, ""


def monomials(a: Sequence[sp.Symbol], degree: int) -> list[sp.Expr]:
    """The monomials of total degree 1..degree in a (the constant is dropped: it has zero gradient)."""
    out = []
    for k in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(a, k):
            out.append(sp.Mul(*combo))
    return out


def weighted_divergence(w: Sequence[sp.Expr], a: Sequence[sp.Symbol], mean, cov) -> sp.Expr:
    """:math:`\\pi^{-1}\\mathrm{div}(\\pi w) = \\mathrm{div}\\,w - \\langle\\Sigma^{-1}(a-m), w\\rangle` (expanded)."""
    w = _field(w, a)
    x = sp.Matrix(a) - sp.Matrix(mean)
    Sinv_x = sp.Matrix(cov).inv() * x
    return sp.expand(sum(sp.diff(w[i], a[i]) for i in range(len(a))) - sum(Sinv_x[i] * w[i] for i in range(len(a))))


@dataclass(frozen=True)
class GradientProjection:
    """v = grad(potential) + remainder, the remainder divergence-free for pi = N(mean, cov)."""

    potential: sp.Expr
    gradient: tuple
    remainder: tuple
    degree: int


def project_to_gradients(v: Sequence[sp.Expr], a: Sequence[sp.Symbol], mean, cov,
                         degree: int | None = None) -> GradientProjection:
    """Exact :math:`L^2(\\mathcal N(m,\\Sigma))` projection of a polynomial field onto gradients.

    ``degree``: the potentials' degree, by default deg v + 1, for which the projection is exact; a lower
    degree gives the Galerkin approximation in that space.  Raises ExpressionError naming the component
    if v is not polynomial in a.
    """
    v = _field(v, a)
    for i, c in enumerate(v):
        if not c.is_polynomial(*a):
            raise ExpressionError(f"component {i} of the field is not a polynomial in {list(a)}: {c}")
    k = max([sp.Poly(c, *a).total_degree() for c in v if c != 0] or [0])
    degree = k + 1 if degree is None else degree
    basis = monomials(a, degree)
    grads = [[sp.diff(psi, x) for x in a] for psi in basis]

    def E(expr):
        return polynomial_gaussian_mean(sp.expand(expr), a, mean, cov)

    nb = len(basis)
    A = sp.Matrix(nb, nb, lambda i, j: E(sum(gi * gj for gi, gj in zip(grads[i], grads[j]))))
    rhs = sp.Matrix(nb, 1, lambda i, _: E(sum(gi * vi for gi, vi in zip(grads[i], v))))
    coef = A.LUsolve(rhs)
    phi = sp.expand(sum(c * psi for c, psi in zip(coef, basis)))
    grad = tuple(sp.expand(sp.diff(phi, x)) for x in a)
    rem = tuple(sp.expand(vi - gi) for vi, gi in zip(v, grad))
    return GradientProjection(phi, grad, rem, degree)
