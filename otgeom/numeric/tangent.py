r"""Numeric projection of a field onto gradients on weighted points (d >= 1), the witness of
:func:`otgeom.symbolic.tangent.project_to_gradients`.

Weighted least squares on the polynomial-gradient basis :math:`\{\nabla a^\alpha : 1 \le |\alpha| \le k\}`:

.. math::
    \min_c \sum_i w_i \Big|v(a_i) - \sum_\alpha c_\alpha \nabla a^\alpha(a_i)\Big|^2 ,

the empirical version of the :math:`L^2(\pi)` projection.  On Gauss–Hermite nodes of order > k it
equals the exact projection (the normal equations are Gaussian moments of polynomials, integrated
exactly); on samples it converges at the Monte Carlo rate.  No sympy: exponents are integer tuples.
"""
from __future__ import annotations

import itertools

import numpy as np

from otgeom.errors import PolicyError

__all__ = ["exponents", "monomial_gradients", "project_to_gradients"]


def exponents(d: int, degree: int) -> list[tuple[int, ...]]:
    """Multi-indices alpha with 1 <= |alpha| <= degree (in the order of the symbolic ``monomials``)."""
    out = []
    for k in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(d), k):
            out.append(tuple(combo.count(i) for i in range(d)))
    return out


def monomial_gradients(points: np.ndarray, degree: int) -> np.ndarray:
    """:math:`\\nabla a^\\alpha` at the points, shape=[N, d, K] (K multi-indices)."""
    points = np.asarray(points, float)
    N, d = points.shape
    cols = []
    for alpha in exponents(d, degree):
        g = np.ones((N, d))
        for j in range(d):
            for i in range(d):
                e = alpha[i] - (i == j)
                if e < 0:
                    g[:, j] = 0.0
                    break
                g[:, j] *= points[:, i] ** e
            g[:, j] *= alpha[j]
        cols.append(g)
    return np.stack(cols, axis=-1)


def project_to_gradients(points: np.ndarray, weights: np.ndarray, V: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients [K] of the potential in the monomials, projected field [N, d]) by weighted least squares."""
    points, V, w = np.asarray(points, float), np.asarray(V, float), np.asarray(weights, float)
    if V.shape != points.shape:
        raise PolicyError(f"field has shape {list(V.shape)}, expected {list(points.shape)}")
    B = monomial_gradients(points, degree)
    N, d, K = B.shape
    if N * d < K:
        raise PolicyError(f"{N} points in d = {d} cannot determine {K} polynomial-gradient coefficients")
    sw = np.sqrt(w)[:, None, None]
    coef = np.linalg.lstsq((sw * B).reshape(N * d, K), (sw[:, :, 0] * V).reshape(-1), rcond=None)[0]
    return coef, B @ coef
