r"""The grid flow step done plainly with dense matrices: the reference of ``benchmarks/bench_grid.py`` and an
independent witness of :mod:`otgeom.numeric.grid` in the tests (THEORY.md sections 1, 3 and 6).

One flow step is the chain of the policy and the action gradient of Q at its particles.  Here every
(state, action) pair gets the **full row** of cell probabilities over all N grid states, with no windows: per
axis the Gaussian mass of every cell of the unfolded line that the step can reach (mu +- 40 sigma, beyond which
the normal cdf is 0 or 1 in floating point), folded onto the grid by the boundary rule (clipped: the mass
beyond an end goes to the end cell; circle: wrapped; reflecting: mirrored), and per axis

.. math::
    q_j = \Phi(z_{j+1}) - \Phi(z_j),\quad
    \partial_a q_j = -\frac{\mu'}{\sigma}[\phi(z_{j+1}) - \phi(z_j)],\quad
    \partial_a^2 q_j = -\frac{\mu'^2}{\sigma^2}[z\phi(z)]_{z_j}^{z_{j+1}}
                      - \frac{\mu''}{\sigma}[\phi(z)]_{z_j}^{z_{j+1}},

multiplied over the axes (product rule for the derivatives).  P is a dense N x N array,
:math:`P_{i\cdot} = \sum_m w_{im}\,q(\cdot\mid i, a_{im})`; :math:`\rho` solves :math:`(I - P)^\top\rho = 0` with
its last equation replaced by :math:`\sum_i\rho_i = 1` and h solves :math:`(I - P + \mathbf 1\rho^\top)h = r - J`
(two ``numpy.linalg.solve`` calls, so :math:`\rho^\top h = 0`); the gradient is
:math:`\nabla_a Q = \partial_a c + (\partial_a q)\,h` with the full rows.  Nothing is shared with the sparse
code but the family's compiled expressions and the R1 / R2 checks.

What the two may differ by: the sparse windows move at most their ``truncation`` (about 6.4e-14 per axis) of
each row's mass into the windows' outer cells, and both round differently.  Memory and time grow as
:math:`N^2` (rows, P) and :math:`N^3` (solves): the rows are built for a block of states at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from otgeom.errors import ExpressionError, FamilyError, RegularityError
from otgeom.numeric.chain import check_classes
from otgeom.numeric.stationary import closed_classes

__all__ = ["DenseGridChain", "dense_rows", "dense_grid_chain", "dense_action_gradient", "dense_gaussian_chain",
           "dense_flow_step"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Reach of a step on the unfolded line in noise standard deviations (ndtr is exactly 0 below -37.7).
_REACH = 40.0
#: Row entries per block of pairs.
_BLOCK = 1 << 22


@dataclass(frozen=True)
class DenseGridChain:
    """P shape=[N, N] (dense), r, rho, J, h (rho . h = 0), and the particles (actions, weights shape=[N, M])."""

    P: np.ndarray
    r: np.ndarray
    rho: np.ndarray
    J: float
    h: np.ndarray
    actions: np.ndarray | None = None
    weights: np.ndarray | None = None


def _axis_rows(axis, mu: np.ndarray, std: np.ndarray, dmu, ddmu, order: int):
    """Full rows on one axis: q, dq, ddq shape=[C, cells] (dq, ddq None below ``order``)."""
    n, h = axis.cells, axis.width
    kmin = min(0, int(np.floor((np.min(mu - _REACH * std) - axis.lo) / h)))
    kmax = max(n, int(np.ceil((np.max(mu + _REACH * std) - axis.lo) / h)))  # unfolded cells kmin .. kmax - 1
    if kmax - kmin > 64 * n + 4096:
        raise FamilyError(f"the dense reference cannot follow a step that reaches {kmax - kmin} cells of axis "
                          f"{axis.name} (it has {n})")
    k = np.arange(kmin, kmax + 1)
    z = (axis.lo + k[None, :] * h - mu[:, None]) / std[:, None]  # [C, U + 1] unfolded edges
    cdf = ndtr(z)
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    out = [np.diff(cdf, axis=1)]
    if order >= 1:
        phi = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
        phi[:, 0] = phi[:, -1] = 0.0
        s = (dmu / std)[:, None]
        out.append(-s * np.diff(phi, axis=1))
        if order >= 2:
            out.append(-s * s * np.diff(z * phi, axis=1) - (ddmu / std)[:, None] * np.diff(phi, axis=1))
    cells = k[:-1]
    folded = []
    for u in out:
        f = np.zeros((u.shape[0], n))
        if axis.boundary == "clipped":
            inside = (cells >= 0) & (cells < n)
            f[:, cells[inside]] += u[:, inside]
            f[:, 0] += u[:, cells < 0].sum(axis=1)
            f[:, n - 1] += u[:, cells >= n].sum(axis=1)
        else:  # blocks of n consecutive unfolded cells map one to one (shifted, or mirrored when reflecting)
            for start in range(kmin - kmin % n, kmax, n):
                sel = (cells >= start) & (cells < start + n)
                f[:, axis.cell_of(cells[sel])] += u[:, sel]
        folded.append(f)
    return folded + [None] * (3 - len(folded))


def dense_rows(fam, states: np.ndarray, actions: np.ndarray, order: int = 0, *, mu=None, std=None, dmu=None,
               ddmu=None):
    """Full rows q, dq, ddq shape=[P, N] of the pairs (states[p], actions[p]) (derivatives None below ``order``).

    ``mu``, ``std``, ``dmu``, ``ddmu`` (lists over the axes) replace the family's drift and noise (the Gaussian
    chain's step law)."""
    states = np.asarray(states, np.int64)
    actions = np.asarray(actions, float)
    X = fam.points[states]
    rows = None
    for k, axis in enumerate(fam.axes):
        if mu is None:
            with np.errstate(all="ignore"):
                m = fam.evaluate("drift", X, actions, k)
                d1 = fam.evaluate("drift_a", X, actions, k) if order >= 1 else None
                d2 = fam.evaluate("drift_aa", X, actions, k) if order >= 2 else None
            for v in (m, d1, d2):
                if v is not None and not np.all(np.isfinite(v)):
                    raise FamilyError(f"{fam.name}: the drift or its action derivatives on axis {axis.name} are not "
                                      "finite at some state-action pair")
            s = np.full_like(m, axis.noise)
        else:
            m, s, d1, d2 = mu[k], std[k], dmu[k], ddmu[k]
        q, dq, ddq = _axis_rows(axis, m, s, d1, d2, order)
        if rows is None:
            rows = [q, dq, ddq]
            continue
        q0, dq0, ddq0 = rows
        P = q.shape[0]
        prod = lambda a, b: (a[:, :, None] * b[:, None, :]).reshape(P, -1)  # noqa: E731
        rows = [prod(q0, q),
                prod(dq0, q) + prod(q0, dq) if order >= 1 else None,
                prod(ddq0, q) + 2 * prod(dq0, dq) + prod(q0, ddq) if order >= 2 else None]
    return tuple(rows)


def _blocks(N: int, per_state: int) -> list[slice]:
    step = max(1, _BLOCK // max(per_state, 1))
    return [slice(s, min(s + step, N)) for s in range(0, N, step)]


def _solve(P: np.ndarray, r: np.ndarray, owner: str) -> tuple[np.ndarray, float, np.ndarray]:
    N = P.shape[0]
    check_classes(closed_classes(P), N, owner)
    A = (np.eye(N) - P).T
    A[-1, :] = 1.0
    b = np.zeros(N)
    b[-1] = 1.0
    rho = np.linalg.solve(A, b)
    k = int(np.argmin(rho))
    if not rho[k] > 0:
        raise RegularityError(f"{owner}: rho({k}) = {rho[k]:.3g} (R2 fails numerically)",
                              {"state": k, "rho": float(rho[k])})
    J = float(rho @ r)
    h = np.linalg.solve(np.eye(N) - P + np.outer(np.ones(N), rho), r - J)
    return rho, J, h


def dense_grid_chain(fam, actions: np.ndarray, weights: np.ndarray | None = None,
                     owner: str | None = None) -> DenseGridChain:
    """The chain of particles ``actions`` shape=[N, M] with ``weights`` shape=[N, M] (uniform when None)."""
    owner = owner or fam.label
    A = np.asarray(actions, float)
    N, M = A.shape
    w = np.full((N, M), 1.0 / M) if weights is None else np.asarray(weights, float)
    P = np.empty((N, N))
    for blk in _blocks(N, M * N):
        st = np.repeat(np.arange(blk.start, blk.stop), M)
        q, _, _ = dense_rows(fam, st, A[blk].ravel(), 0)
        P[blk] = np.einsum("imj,im->ij", q.reshape(-1, M, N), w[blk])
    states = np.repeat(np.arange(N), M)
    c = fam.evaluate("cost", fam.points[states], A.ravel()).reshape(N, M)
    r = (c * w).sum(axis=1)
    rho, J, h = _solve(P, r, owner)
    return DenseGridChain(P, r, rho, J, h, A, w)


def dense_action_gradient(fam, chain: DenseGridChain, states: np.ndarray | None = None,
                          actions: np.ndarray | None = None, order: int = 1):
    r""":math:`\nabla_a Q` (and :math:`\nabla_a^2 Q` when order = 2) at pairs (default: the chain's particles)."""
    if states is None:
        N, M = chain.actions.shape
        states, actions = np.repeat(np.arange(N), M), chain.actions.ravel()
    states = np.asarray(states, np.int64)
    actions = np.asarray(actions, float)
    N = fam.n_states
    g = np.empty(states.size)
    H = np.empty(states.size) if order >= 2 else None
    for blk in _blocks(states.size, N):
        _, dq, ddq = dense_rows(fam, states[blk], actions[blk], order)
        g[blk] = dq @ chain.h
        if order >= 2:
            H[blk] = ddq @ chain.h
    X = fam.points[states]
    g += fam.evaluate("cost_a", X, actions)
    if order >= 2:
        H += fam.evaluate("cost_aa", X, actions)
    return g, H


def dense_gaussian_chain(fam, mean: np.ndarray, std: np.ndarray, owner: str | None = None):
    r"""Chain of the Gaussian policy :math:`\mathcal N(m_i, s_i^2)` per state (drift affine in a on one axis:
    the step is Gaussian with variance :math:`\sigma^2 + b^2 s_i^2`) and :math:`\mathbb E[\partial_a Q]`,
    :math:`\mathbb E[\partial_a^2 Q]` shape=[N] each (cost moments by Gauss–Hermite, exact for a polynomial)."""
    owner = owner or fam.label
    k_aff, deg = fam.affine_axis, fam.cost_degree
    if k_aff is None or deg is None:
        raise ExpressionError(f"{fam.name}: the Gaussian chain needs a drift affine in a on one axis and a cost "
                              "polynomial in a")
    N = fam.n_states
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    X, zero = fam.points, np.zeros(N)
    mus, taus, bs = [], [], []
    for k, axis in enumerate(fam.axes):
        g = fam.evaluate("drift", X, zero, k)
        b = fam.evaluate("drift_a", X, zero, k) if k == k_aff else zero
        mus.append(g + b * mean)
        taus.append(np.sqrt(axis.noise ** 2 + (b * std) ** 2))
        bs.append(b)
    z, w = np.polynomial.hermite_e.hermegauss(deg // 2 + 2)
    w = w / w.sum()
    A = (mean[:, None] + std[:, None] * z[None, :]).ravel()
    Xr = np.repeat(X, z.size, axis=0)
    mom = [fam.evaluate(key, Xr, A).reshape(N, z.size) @ w for key in ("cost", "cost_a", "cost_aa")]
    P = np.empty((N, N))
    E1, E2 = np.empty(N), np.empty(N)
    rows = []
    for blk in _blocks(N, 3 * N):
        q, dq, ddq = dense_rows(fam, np.arange(N)[blk], zero[blk], 2, mu=[m[blk] for m in mus],
                                std=[t[blk] for t in taus], dmu=[b[blk] for b in bs], ddmu=[zero[blk]] * len(mus))
        P[blk] = q
        rows.append((blk, dq, ddq))
    rho, J, h = _solve(P, mom[0], owner)
    for blk, dq, ddq in rows:
        E1[blk] = mom[1][blk] + dq @ h
        E2[blk] = mom[2][blk] + ddq @ h
    return DenseGridChain(P, mom[0], rho, J, h), E1, E2


def dense_flow_step(fam, actions: np.ndarray, weights: np.ndarray | None = None, order: int = 2):
    """One particle flow step's linear algebra, dense: the chain of the particles and the gradient (and curvature)
    of Q at them, as the sparse step (``grid_chain(..., order=2)`` then ``action_gradient``) computes them."""
    chain = dense_grid_chain(fam, actions, weights)
    g, H = dense_action_gradient(fam, chain, order=order)
    return chain, g, H
