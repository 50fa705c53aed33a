r"""The controlled chain in closed form for Gaussian policies (THEORY.md section 1).

Two layers, each a :class:`~otgeom.symbolic.derivation.Derivation`:

1. :func:`markov_chain` (family-independent, inputs the off-diagonal
   :math:`P_{uv}` and :math:`r_u`): by the Markov chain tree theorem

   .. math::
       \rho_s = \tau_s / \textstyle\sum_u \tau_u,\qquad J = \sum_s \rho_s r_s,

   and the Poisson solution with :math:`\tilde h_0 = 0`,
   :math:`\tilde h_i = \tau_0^{-1}\sum_{j\ne 0} F_{ij}\,(r_j - J)` (all-minors
   tree theorem, see :mod:`otgeom.symbolic.trees`), normalised
   :math:`h = \tilde h - (\rho^\top \tilde h)\mathbf 1` so that :math:`\rho^\top h = 0`.

2. :func:`gaussian_chain` (per family structure, inputs the parameter symbols
   and the Gaussian policy coordinates): :math:`P_{uv} = \mathbb E_{\pi_u}[p(v\mid u,a)]`,
   :math:`r_u = \mathbb E_{\pi_u}[c(u,a)]` in closed form, composed with layer 1, and

   .. math::
       Q(s,a) = c(s,a) + \sum_{s'} p(s'\mid s,a)\, h(s') - J,\qquad \nabla_a Q(s,a).

Coordinates: d = 1, :math:`\pi_s = \mathcal N(m_s, \sigma_s^2)` with symbols
``m_s``, ``sigma_s``; d > 1, :math:`\mathcal N(m_s, \Sigma_s)` with ``m_s_i`` and
the upper triangle ``S_s_i_j`` of :math:`\Sigma_s`.  Assumption (R1): the chain
is irreducible (otherwise :math:`\sum_u\tau_u = 0` or :math:`\tau_0 = 0`).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from otgeom.symbolic.derivation import Derivation, DerivationBuilder
from otgeom.symbolic.expectation import GaussianExpectation
from otgeom.symbolic.trees import in_forests

__all__ = ["markov_chain", "gaussian_chain", "gaussian_coordinates", "transition_symbol", "cost_symbol"]


def transition_symbol(u: int, v: int) -> sp.Symbol:
    return sp.Symbol(f"P_{u}_{v}", nonnegative=True)


def cost_symbol(u: int) -> sp.Symbol:
    return sp.Symbol(f"r_{u}", real=True)


def _forest_sum(n: int, roots, weight: dict, select=None) -> sp.Expr:
    """Sum over in-forests with the given roots (optionally filtered) of the product of edge weights.

    ``weight[(u, v)]`` is a Symbol (a named transition probability) or a number;
    zero edges are skipped.  In a forest every node has one out-edge, so each
    product has distinct factors: it is built directly, without re-canonicalising
    thousands of products (the dominant cost for n = 6 otherwise).
    """
    edges = frozenset(e for e, w in weight.items() if w != 0)
    terms = []
    for parent in in_forests(n, roots, edges):
        if select is not None and not select(parent):
            continue
        factors = [weight[(u, v)] for u, v in enumerate(parent) if v >= 0]
        if all(isinstance(f, sp.Symbol) for f in factors):
            terms.append(sp.Mul._from_args(tuple(sorted(factors, key=str))) if len(factors) > 1
                         else (factors[0] if factors else sp.Integer(1)))
        else:
            terms.append(sp.Mul(*factors))
    if not terms:
        return sp.Integer(0)
    return sp.Add._from_args(tuple(terms)) if len(terms) > 1 else terms[0]


def _reaches(parent, i: int, j: int) -> bool:
    x = i
    while x != -1:
        if x == j:
            return True
        x = parent[x]
    return False


def _chain_into(b: DerivationBuilder, n: int, P: dict, r: list) -> dict:
    """Add the tree-theorem definitions for (rho, J, h) to ``b``; P maps (u,v) to expressions or symbols."""
    tau = [b.define(f"tau_{s}", _forest_sum(n, [s], P), nonnegative=True) for s in range(n)]
    Z = b.define("Z", sum(tau), positive=True)
    rho = [b.define(f"rho_{s}", tau[s] / Z, nonnegative=True) for s in range(n)]
    J = b.define("J", sum(rho[s] * r[s] for s in range(n)), real=True)
    htil = [sp.Integer(0)]
    for i in range(1, n):
        acc = sp.Integer(0)
        for j in range(1, n):
            F = _forest_sum(n, [0, j], P, select=lambda par, i=i, j=j: _reaches(par, i, j))
            if F != 0:
                acc += b.define(f"F_{i}_{j}", F, nonnegative=True) * (r[j] - J)
        htil.append(b.define(f"htilde_{i}", acc / tau[0], real=True))
    shift = b.define("hshift", sum(rho[i] * htil[i] for i in range(1, n)), real=True)
    h = [b.define(f"h_{i}", htil[i] - shift, real=True) for i in range(n)]
    return {"tau": tau, "rho": rho, "J": J, "h": h}


@lru_cache(maxsize=16)
def markov_chain(n: int) -> Derivation:
    """Stationary law, ergodic cost and Poisson solution of an n-state chain, as polynomials in P.

    Inputs: off-diagonal ``P_u_v`` (row-major), then ``r_0 .. r_{n-1}``.  Outputs: ``tau``, ``rho``, ``J``, ``h``.
    """
    P = {(u, v): transition_symbol(u, v) for u in range(n) for v in range(n) if u != v}
    r = [cost_symbol(u) for u in range(n)]
    b = DerivationBuilder(list(P.values()) + r)
    out = _chain_into(b, n, P, r)
    return b.build(f"markov_chain(n={n})", out)


def gaussian_coordinates(n: int, d: int):
    """Policy coordinate symbols: (means [n][d], covariances [n] Matrix d x d, flat list, names)."""
    means, covs, flat = [], [], []
    for s in range(n):
        if d == 1:
            m = sp.Symbol(f"m_{s}", real=True)
            sig = sp.Symbol(f"sigma_{s}", positive=True)
            means.append((m,))
            covs.append(sp.Matrix([[sig**2]]))
            flat += [m, sig]
        else:
            m = tuple(sp.Symbol(f"m_{s}_{i}", real=True) for i in range(d))
            S = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"S_{s}_{min(i, j)}_{max(i, j)}", real=True))
            means.append(m)
            covs.append(S)
            flat += list(m) + [S[i, j] for i in range(d) for j in range(i, d)]
    return means, covs, flat


def content_key(family) -> tuple:
    """Cache key of a family's derivations: a hash of its *content*, never its name.

    sha256 of the structure, the action symbols, the parameter symbols with their assumptions, and the exact
    ``srepr`` of every cost and kernel expression (in parameter symbols: values are inputs of the derivation,
    not part of it).  Two specs with one name and different costs get two derivations; a notebook cell that
    redefines a family gets its own formulas.
    """
    import hashlib

    h = hashlib.sha256()
    h.update(repr(sorted(family.structure.items())).encode())
    h.update(sp.srepr(tuple(family.action)).encode())
    h.update(sp.srepr(tuple(family.parameter_symbols())).encode())
    h.update(repr([(x.name, sorted(x.assumptions0.items())) for x in family.parameter_symbols()]).encode())
    for c in family.cost:
        h.update(b"c:" + sp.srepr(c).encode())
    for row in family.kernel:
        for p in row:
            h.update(b"p:" + sp.srepr(p).encode())
    return (family.spec.name, h.hexdigest())


_GAUSSIAN_CACHE: dict[tuple, Derivation] = {}


def gaussian_chain(family) -> Derivation:
    """The chain of ``family`` under Gaussian policies, in closed form (cached per family content).

    Inputs: ``family.parameter_symbols()`` then the policy coordinates of :func:`gaussian_coordinates`.
    Outputs: ``P`` (n x n), ``r``, ``rho``, ``J``, ``h``, ``Q`` (n expressions in a), ``gradQ`` (n x d).
    """
    key = content_key(family)
    if key in _GAUSSIAN_CACHE:
        return _GAUSSIAN_CACHE[key]
    n, d = family.n_states, family.action_dim
    a = family.action
    means, covs, coords = gaussian_coordinates(n, d)
    b = DerivationBuilder(family.parameter_symbols() + coords)
    E = [GaussianExpectation(a, means[u], covs[u], b.define, f"g{u}") for u in range(n)]
    P = {}
    for u in range(n):
        for v in range(n):
            if u != v:
                P[(u, v)] = b.define(f"P_{u}_{v}", E[u](family.kernel[u][v]), nonnegative=True)
    r = [b.define(f"r_{u}", E[u](family.cost[u]), real=True) for u in range(n)]
    out = _chain_into(b, n, P, r)
    Pfull = [[P[(u, v)] if u != v else 1 - sum(P[(u, w)] for w in range(n) if w != u) for v in range(n)]
             for u in range(n)]
    h, J = out["h"], out["J"]
    Q = [family.cost[s] + sum(family.kernel[s][t] * h[t] for t in range(n)) - J for s in range(n)]
    gradQ = [[sp.diff(Q[s], x) for x in a] for s in range(n)]
    der = b.build(f"gaussian_chain({family.label})", {"P": Pfull, "r": r, **out, "Q": Q, "gradQ": gradQ})
    _GAUSSIAN_CACHE[key] = der
    return der
