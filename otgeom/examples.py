r"""Named examples: a family instance and a distinguished policy, with the fact they illustrate.

``twin-wells`` (THEORY.md section 4): ``modulated`` with n = 2, d = 1,

.. math::
    M = \begin{pmatrix}0&1\\0&1\end{pmatrix},\ N = \begin{pmatrix}1&0\\1&0\end{pmatrix},\
    q = (9/10, 9/10),\ K = (4, 4),\ b = t = (0, 1),\ W = (1, 1),\ e = (2, 0):

in both states an action near the bump centre :math:`b_s` sends the chain to the expensive state 0, and
the cost is centred there too, so :math:`Q(s,a) = (a - b_s)^2 + \phi_s(a)(h_0 - h_1) + \text{const}` is a
double well (non-convex in a).  By symmetry :math:`\partial J/\partial m_s = 0` at :math:`m_s = b_s`, and
:math:`\sigma_s` solves :math:`\partial J/\partial\sigma_s = 0`: a critical point of J restricted to the Gaussian
family with :math:`\sigma \approx (0.584, 0.584)`.  There :math:`\mathrm{grad}^\perp J \ne 0`, and the submanifold
Hessian :math:`\approx \mathrm{diag}(0, 2.05, 0, 2.34)` and the full-space Hessian
:math:`\approx \mathrm{diag}(0.74, 2.78, -0.74, 1.61)` on the same tangent vectors differ by O(1): the first is
positive semi-definite, the second indefinite (negative along :math:`m_1`).

The zero :math:`m_s` entries are not an accident: on a finite family J restricted to one state's
:math:`(m_s, \tau_s = \sigma_s^2)` is a ratio of two solutions of the heat equation
:math:`\partial_\tau u = \tfrac12\partial_m^2 u` (tree-theorem polynomials are affine in each row of P), so at a
critical point with :math:`\sigma_s > 0`, :math:`\partial^2J/\partial m_s^2 = 0`.  Interior critical points of the
Gaussian family are never non-degenerate minima (shown on twin-wells in ``tests/test_second_order.py``;
not a claim of the suite, which would need critical points of arbitrary families).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import root

from otgeom.errors import OtgeomError, ParameterError
from otgeom.families import Family, family
from otgeom.numeric.policies import GaussianPolicy

__all__ = ["NamedExample", "EXAMPLES", "example"]


@dataclass(frozen=True)
class NamedExample:
    name: str
    family: Family
    policy: GaussianPolicy
    description: str


def _twin_wells_family() -> Family:
    return family("modulated", n=2, d=1, M=[[0, 1], [0, 1]], N=[[1, 0], [1, 0]], q=["9/10", "9/10"],
                  K=[[[4]], [[4]]], b=[[0], [1]], t=[[0], [1]], e=[2, 0])


@lru_cache(maxsize=None)
def _twin_wells() -> NamedExample:
    from otgeom.numeric.geometry import gaussian_gradient
    from otgeom.numeric.witness import gaussian_chain

    fam = _twin_wells_family()
    prims = fam.primitives()
    means = [0.0, 1.0]

    def dJ_dsigma(sig):
        if min(sig) <= 0:
            return [1e3, 1e3]
        pol = GaussianPolicy.from_std(means, sig)
        w = gaussian_chain(prims, pol, tol=1e-12)
        sol, wp = w.sol, w.wp
        return gaussian_gradient(prims, sol, pol, wp)["grad_std"]

    sol = root(dJ_dsigma, [0.6, 0.6], tol=1e-15)
    res = np.abs(dJ_dsigma(sol.x)).max()
    if res > 1e-12:
        raise OtgeomError(f"twin-wells: the restricted critical point was not found (residual {res:.3g})")
    return NamedExample("twin-wells", fam, GaussianPolicy.from_std(means, sol.x),
                        "modulated n=2, d=1 with double-well Q; the policy is a critical point of J on the Gaussian "
                        "family (m = b, dJ/dsigma = 0) where the submanifold and full-space Hessians differ")


EXAMPLES = {"twin-wells": _twin_wells}


def example(name: str) -> NamedExample:
    """A named example (family, distinguished policy, description)."""
    try:
        return EXAMPLES[name]()
    except KeyError:
        raise ParameterError(f"unknown example {name!r}; known: {', '.join(EXAMPLES)}") from None
