r"""First-order geometry in Gaussian coordinates, derived symbolically (THEORY.md sections 2-3).

On top of :func:`otgeom.symbolic.chain.gaussian_chain`:

* ``dJ_dtheta``: the coordinate gradient :math:`\partial J/\partial\theta` by *direct
  differentiation* of the closed-form :math:`J(\theta)` through the named
  definitions (it does not use the policy-gradient theorem, so comparing it
  with :math:`\rho_s\mathbb E[\nabla_a Q]` tests the theorem);
* ``flow``: the Gaussian-projected gradient flow
  :math:`\dot m_s = -\mathbb E_{\pi_s}[\nabla_a Q]`, d = 1: :math:`\dot\sigma_s = -\sigma_s\mathbb E_{\pi_s}[\partial_a^2 Q]`,
  d > 1: :math:`\dot\Sigma_s = -(H_s\Sigma_s + \Sigma_s H_s)` (upper triangle),
  with closed-form Gaussian expectations of :math:`\nabla_a Q`;
* ``metric`` (d = 1): :math:`G(\theta) = \operatorname{diag}_s(\rho_s, \rho_s)` in :math:`(m_s, \sigma_s)`;
* ``grad_norm2``: :math:`g(\mathrm{grad}J, \mathrm{grad}J) = \sum_s\rho_s\mathbb E_{\pi_s}|\nabla_a Q|^2`.
"""
from __future__ import annotations

import sympy as sp

from otgeom.symbolic.chain import content_key, gaussian_chain, gaussian_coordinates
from otgeom.symbolic.derivation import Derivation
from otgeom.symbolic.expectation import GaussianExpectation

__all__ = ["first_order"]

_CACHE: dict[tuple, Derivation] = {}


def first_order(family) -> Derivation:
    """Chain plus first-order geometry for Gaussian policies on ``family`` (cached per content_key)."""
    key = content_key(family)
    if key in _CACHE:
        return _CACHE[key]
    chain = gaussian_chain(family)
    n, d = family.n_states, family.action_dim
    a = family.action
    means, covs, coords = gaussian_coordinates(n, d)
    b = chain.builder()
    J = chain.outputs["J"]
    dJ = [b.diff(J, x) for x in coords]  # the named derivative definitions dJ_d<x> themselves
    rho = chain.outputs["rho"]
    flow, gnorm = [], sp.Integer(0)
    for s in range(n):
        gq = chain.outputs["gradQ"][s]
        E = GaussianExpectation(a, means[s], covs[s], b.define, f"q{s}")
        Eg = [b.define(f"EgradQ_{s}_{i}" if d > 1 else f"EgradQ_{s}", E(gq[i])) for i in range(d)]
        H = sp.Matrix(d, d, lambda i, j: E(sp.diff(gq[i], a[j])))
        flow += [-x for x in Eg]
        if d == 1:
            flow.append(-coords[2 * s + 1] * b.define(f"EhessQ_{s}", H[0, 0]))
        else:
            dS = -(H * covs[s] + covs[s] * H)
            flow += [dS[i, j] for i in range(d) for j in range(i, d)]
        gnorm += rho[s] * b.define(f"EgradQ2_{s}", E(sum(g**2 for g in gq)))
    outputs = dict(chain.outputs)
    outputs.update({"dJ_dtheta": dJ, "flow": flow, "grad_norm2": b.define("grad_norm2", gnorm)})
    if d == 1:
        outputs["metric"] = sp.diag(*[r for r in rho for _ in range(2)])
    der = b.build(f"first_order({family.label})", outputs)
    _CACHE[key] = der
    return der
