r"""Second-order geometry of the Gaussian family in coordinates, derived symbolically (THEORY.md sections 2, 4).

d = 1, :math:`\theta = (m_s, \sigma_s)_s`, on top of :func:`otgeom.symbolic.geometry.first_order`:

* ``metric`` :math:`G(\theta) = \mathrm{diag}_s(\rho_s, \rho_s)` with :math:`\rho_s(\theta)` in closed form;
* ``christoffel`` :math:`\Gamma^k_{ij} = \tfrac12 G^{kl}(\partial_iG_{lj} + \partial_jG_{li} - \partial_lG_{ij})`,
  differentiated from G (forward mode through the named definitions);
* ``geodesic`` the right-hand side :math:`\ddot\theta^k = -\Gamma^k_{ij}\dot\theta^i\dot\theta^j` in the velocity
  symbols ``v_<coordinate>``;
* ``hessian_coords`` :math:`\partial^2J/\partial\theta_i\partial\theta_j` (direct second derivative of the closed-form
  J) and ``hessian_riemannian`` :math:`\partial^2J - \Gamma^k\partial_kJ` (the Levi-Civita Hessian of J restricted to
  the family);
* ``drho``, ``dh`` [n] and ``dQ`` [n] (expressions in a) along the velocity :math:`\dot\theta`:
  :math:`d\rho[v] = \sum_i \partial_i\rho\,\dot\theta^i`, :math:`dQ[v] = \sum_{s'}p(s'|s,a)\,dh(s') - dJ[v]`.

:func:`curvature` adds the Riemann tensor and sectional curvatures of G for small families (second
derivatives of :math:`\rho`): nonzero although each state's block :math:`\rho_s(dm^2 + d\sigma^2)` would be flat with
frozen weights.  Derivations are cached per family content (a hash of its expressions, never its name).
"""
from __future__ import annotations

import itertools

import sympy as sp

from otgeom.errors import ExpressionError
from otgeom.symbolic.chain import content_key
from otgeom.symbolic.derivation import Derivation
from otgeom.symbolic.geometry import first_order

__all__ = ["second_order", "curvature", "velocity_symbols"]

_CACHE: dict[tuple, Derivation] = {}
_CURV: dict[tuple, Derivation] = {}


def velocity_symbols(coords) -> list[sp.Symbol]:
    """One real symbol ``v_<name>`` per coordinate: a tangent vector (or geodesic velocity) in coordinates."""
    return [sp.Symbol(f"v_{x.name}", real=True) for x in coords]


def _require_d1(family) -> None:
    if family.action_dim != 1:
        raise ExpressionError(f"{family.label}: the coordinate second-order derivation is for d = 1 "
                              f"(theta = (m_s, sigma_s)); this family has d = {family.action_dim}")


def second_order(family) -> Derivation:
    """G, Christoffel symbols, the geodesic equation, coordinate and Riemannian Hessians, drho/dh/dQ (d = 1)."""
    _require_d1(family)
    key = content_key(family)
    if key in _CACHE:
        return _CACHE[key]
    base = first_order(family)
    n = family.n_states
    coords = list(base.inputs[len(family.parameter_symbols()):])
    K = len(coords)
    vel = velocity_symbols(coords)
    b = base.builder()
    b.inputs = b.inputs + tuple(vel)
    rho = base.outputs["rho"]
    owner = [k // 2 for k in range(K)]
    # dG[i][l] = d G_ll / d theta_i  (G diagonal)
    drho_d = [[b.diff(rho[s], x) for s in range(n)] for x in coords]
    Gd = [rho[owner[k]] for k in range(K)]

    def dG(i, l, j):  # d_i G_lj
        return drho_d[i][owner[l]] if l == j else sp.Integer(0)

    chris = [[[sp.Integer(0)] * K for _ in range(K)] for _ in range(K)]
    for k, i, j in itertools.product(range(K), repeat=3):
        e = (dG(i, k, j) + dG(j, k, i) - dG(k, i, j)) / (2 * Gd[k])
        if e != 0:
            chris[k][i][j] = b.define(f"Gamma_{k}_{i}_{j}", e) if i <= j else chris[k][j][i]
    dJ = base.outputs["dJ_dtheta"]
    H = sp.Matrix(K, K, lambda i, j: 0)
    for i in range(K):
        for j in range(i, K):
            H[i, j] = H[j, i] = b.define(f"d2J_{i}_{j}", b.diff(dJ[i], coords[j]))
    HR = sp.Matrix(K, K, lambda i, j: H[i, j] - sum(chris[k][i][j] * dJ[k] for k in range(K)))
    geo = [-sum(chris[k][i][j] * vel[i] * vel[j] for i in range(K) for j in range(K)) for k in range(K)]
    h = base.outputs["h"]
    drho = [b.define(f"drho_{s}", sum(drho_d[i][s] * vel[i] for i in range(K))) for s in range(n)]
    dh = [b.define(f"dh_{s}", sum(b.diff(h[s], coords[i]) * vel[i] for i in range(K))) for s in range(n)]
    dJv = b.define("dJ_v", sum(dJ[i] * vel[i] for i in range(K)))
    dQ = [sum(family.kernel[s][t] * dh[t] for t in range(n)) - dJv for s in range(n)]
    outputs = dict(base.outputs)
    outputs.update({"christoffel": chris, "geodesic": geo, "hessian_coords": H, "hessian_riemannian": HR,
                    "drho": drho, "dh": dh, "dJ_v": dJv, "dQ": dQ})
    der = b.build(f"second_order({family.label})", outputs)
    _CACHE[key] = der
    return der


def curvature(family) -> Derivation:
    r"""Riemann tensor :math:`R_{lijk} = G_{lm}R^m{}_{ijk}` and sectional curvatures of G(theta) (d = 1, small n).

    :math:`R^l{}_{ijk} = \partial_i\Gamma^l_{jk} - \partial_j\Gamma^l_{ik} + \Gamma^l_{im}\Gamma^m_{jk} - \Gamma^l_{jm}\Gamma^m_{ik}`
    (:math:`R(\partial_i,\partial_j)\partial_k`), and :math:`K(\partial_i,\partial_j) = R_{ijji}/(G_{ii}G_{jj} - G_{ij}^2)`
    with :math:`R_{ijji} = \langle R(\partial_i,\partial_j)\partial_j, \partial_i\rangle`.  Output ``sectional`` is a
    K x K matrix (zero diagonal).  Practical for n <= 3.
    """
    _require_d1(family)
    key = content_key(family)
    if key in _CURV:
        return _CURV[key]
    base = second_order(family)
    coords = list(base.inputs[len(family.parameter_symbols()):-2 * family.n_states])
    K = len(coords)
    chris = base.outputs["christoffel"]
    G = base.outputs["metric"]
    b = base.builder()
    dchris = {}

    def dGam(i, l, j, k):
        if (i, l, j, k) not in dchris:
            dchris[(i, l, j, k)] = b.diff(chris[l][j][k], coords[i]) if chris[l][j][k] != 0 else sp.Integer(0)
        return dchris[(i, l, j, k)]

    def riemann_up(l, i, j, k):
        return (dGam(i, l, j, k) - dGam(j, l, i, k)
                + sum(chris[l][i][m] * chris[m][j][k] - chris[l][j][m] * chris[m][i][k] for m in range(K)))

    sec = sp.zeros(K, K)
    for i in range(K):
        for j in range(i + 1, K):
            Rijji = sum(G[i, l] * riemann_up(l, i, j, j) for l in range(K))
            sec[i, j] = sec[j, i] = b.define(f"Ksec_{i}_{j}", Rijji / (G[i, i] * G[j, j] - G[i, j] ** 2))
    der = b.build(f"curvature({family.label})", {**base.outputs, "sectional": sec})
    _CURV[key] = der
    return der
