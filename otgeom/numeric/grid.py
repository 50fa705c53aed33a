r"""The controlled chain of a grid family, sparse (THEORY.md sections 1 and 6).

For every (state, action) pair the next-state law is a window of cells around the drift
:math:`\mu = f(x_i, a)`, reaching :data:`TAIL_STDS` noise standard deviations beyond :math:`\mu` on each side
of each axis (plus one cell); the mass beyond the window is put into its outer cells, so every row still sums
to 1 and is moved by at most the tail mass :math:`2\Phi(-7.5) = 6.4\cdot10^{-14}` per axis in total variation
(reported as ``truncation``).  Per axis, with :math:`z_l = (e_l - \mu)/\sigma` at the window's edges,

.. math::
    q_l = \Phi(z_{l+1}) - \Phi(z_l),\quad
    \partial_a q_l = -\frac{\mu'}{\sigma}\,[\phi(z_{l+1}) - \phi(z_l)],\quad
    \partial_a^2 q_l = -\frac{\mu'^2}{\sigma^2}\,[z_{l+1}\phi(z_{l+1}) - z_l\phi(z_l)]
                      - \frac{\mu''}{\sigma}\,[\phi(z_{l+1}) - \phi(z_l)],

and the joint law is the product over axes (noise independent per axis).  Then

.. math::
    P_\pi(i, j) = \sum_m w_{im}\, p(j\mid i, a_{im}),\quad r_\pi(i) = \sum_m w_{im} c(x_i, a_{im}),\quad
    \nabla_a Q(i, a) = \partial_a c(x_i, a) + \sum_j \partial_a p(j\mid i, a)\, h(j),

with :math:`P_\pi` a sparse matrix (about :math:`N \times M \times` window entries, summed into
:math:`N\times` window nonzeros).  :math:`\rho` and h come from **one** sparse LU factorisation of
:math:`A = I - P` with its row 0 replaced by :math:`e_0^\top` (non-singular for an irreducible chain):
:math:`h = A^{-1}\tilde b` with :math:`\tilde b = r - J` and :math:`\tilde b_0 = 0`, then shifted to
:math:`\rho^\top h = 0`; and since :math:`A = (I - P) + e_0 (P_{0,\cdot})^\top`,
:math:`\rho^\top A = \rho_0 P_{0,\cdot}`, so :math:`\rho \propto A^{-\top} P_{0,\cdot}^\top`.  A direct solver
needs no warm start; the residuals of both solves are reported with every result.

Gaussian action laws :math:`\mathcal N(m_i, s_i^2)` per state, on a family whose drift is affine in a on one
axis (:math:`\mu = g + b a`): the step is Gaussian with mean :math:`g + b m_i` and variance
:math:`\sigma^2 + b^2 s_i^2`, so :math:`P_\pi`, :math:`\mathbb E[\partial_a p] = \partial_m P_\pi` and
:math:`\mathbb E[\partial_a^2 p] = \partial_m^2 P_\pi` are the same closed forms with that variance, and the
expectations of a cost polynomial in a are exact by Gauss–Hermite.

Assumptions checked, not assumed: (R1) one closed communicating class (strongly connected components of the
sparse graph; a reducible chain raises :class:`~otgeom.errors.RegularityError` naming the classes), (R2)
:math:`\rho > 0` at every state (the state is named), a finite drift at every pair (the state and action are
named), and the mass that leaves the domain through a clipped or reflecting boundary (``boundary_mass``,
:math:`\sum_i\rho_i\sum_m w_{im}\Pr[f(x_i,a_{im}) + \sigma\xi \notin \text{domain}]`; a
:class:`~otgeom.errors.GridWarning` above ``boundary_tolerance``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu
from scipy.special import ndtr

from otgeom.errors import ExpressionError, FamilyError, GridWarning, PolicyError, RegularityError
from otgeom.numeric.chain import check_classes

__all__ = ["TAIL_STDS", "PairKernel", "GridChain", "pair_kernel", "grid_chain", "gaussian_grid_chain",
           "solve_sparse_chain", "action_gradient", "particles_array", "BOUNDARY_TOLERANCE"]

#: Half-width of the kernel windows in noise standard deviations (beyond the cell holding the drift).
TAIL_STDS = 7.5
#: Default share of the stationary step mass allowed to leave the domain before a GridWarning.
BOUNDARY_TOLERANCE = 1e-3

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class _AxisWindow:
    cells: np.ndarray  # [P, L] cell index on this axis
    q: np.ndarray  # [P, L]
    dq: np.ndarray | None
    ddq: np.ndarray | None
    tail: float
    outside: np.ndarray  # [P] mass leaving the domain (0 on a circle)


def _axis_window(axis, mu: np.ndarray, std: np.ndarray, dmu: np.ndarray | None, ddmu: np.ndarray | None,
                 order: int) -> _AxisWindow:
    h = axis.width
    K = int(math.ceil(TAIL_STDS * float(np.max(std)) / h)) + 1
    c = np.floor((mu - axis.lo) / h).astype(np.int64)
    offsets = np.arange(-K, K + 2)
    edges = axis.lo + (c[:, None] + offsets[None, :]) * h  # [P, 2K + 2]
    z = (edges - mu[:, None]) / std[:, None]
    tail = float(np.max(ndtr(z[:, 0]) + ndtr(-z[:, -1])))
    cdf = ndtr(z)
    cdf[:, 0] = 0.0
    cdf[:, -1] = 1.0
    q = np.diff(cdf, axis=1)
    cells = axis.cell_of(c[:, None] + offsets[None, :-1])
    dq = ddq = None
    if order >= 1:
        phi = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
        phi[:, 0] = 0.0
        phi[:, -1] = 0.0
        dphi = np.diff(phi, axis=1)
        dq = -(dmu / std)[:, None] * dphi
        if order >= 2:
            zphi = z * phi
            ddq = -((dmu / std) ** 2)[:, None] * np.diff(zphi, axis=1) - (ddmu / std)[:, None] * dphi
    if axis.boundary == "circle":
        outside = np.zeros_like(mu)
    else:
        outside = ndtr((axis.lo - mu) / std) + ndtr((mu - axis.hi) / std)
    return _AxisWindow(cells, q, dq, ddq, tail, outside)


@dataclass(frozen=True)
class PairKernel:
    """The next-state law of P (state, action) pairs: flat cells shape=[P, W], probabilities q shape=[P, W] and
    their first and second action derivatives (None when not asked for); ``truncation`` the largest mass moved
    by the windows; ``outside`` shape=[P] the mass that left the domain through a boundary."""

    cells: np.ndarray
    q: np.ndarray
    dq: np.ndarray | None
    ddq: np.ndarray | None
    truncation: float
    outside: np.ndarray


def _check_drift(fam, name: str, values: np.ndarray, states: np.ndarray, actions: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        i = int(states[k])
        at = ", ".join(f"{n} = {fam.points[i, j]:.6g}" for j, n in enumerate(fam.spec.state_names))
        raise FamilyError(f"{fam.name}: the {name} is {values[k]} at grid state {i} ({at}) with action "
                          f"a = {actions[k]:.6g} ({bad.size} of {values.size} state-action pairs are not finite)")


def pair_kernel(fam, states: np.ndarray, actions: np.ndarray, order: int = 1) -> PairKernel:
    """Kernel windows of the pairs (states[p], actions[p]) with action derivatives up to ``order`` (0, 1, 2)."""
    states = np.asarray(states, np.int64)
    actions = np.asarray(actions, float)
    X = fam.points[states]
    windows = []
    for k, axis in enumerate(fam.axes):
        with np.errstate(all="ignore"):
            mu = fam.evaluate("drift", X, actions, k)
            dmu = fam.evaluate("drift_a", X, actions, k) if order >= 1 else None
            ddmu = fam.evaluate("drift_aa", X, actions, k) if order >= 2 else None
        for name, v in (("drift", mu), ("action derivative of the drift", dmu),
                        ("second action derivative of the drift", ddmu)):
            if v is not None:
                _check_drift(fam, f"{name} on axis {axis.name}", v, states, actions)
        std = np.full_like(mu, axis.noise)
        windows.append(_axis_window(axis, mu, std, dmu, ddmu, order))
    return _combine(fam, windows, order)


def _combine(fam, windows: list[_AxisWindow], order: int) -> PairKernel:
    """Product over the axes: flat C-order cells, probabilities and their derivatives (product rule)."""
    P = windows[0].q.shape[0]
    cells, q = windows[0].cells, windows[0].q
    dq, ddq = windows[0].dq, windows[0].ddq
    tail = windows[0].tail
    outside = windows[0].outside
    for w, n in zip(windows[1:], [ax.cells for ax in fam.axes[1:]]):
        cells = (cells[:, :, None] * n + w.cells[:, None, :]).reshape(P, -1)
        q0, q1 = q[:, :, None], w.q[:, None, :]
        if order >= 2:
            ddq = (ddq[:, :, None] * q1 + 2 * dq[:, :, None] * w.dq[:, None, :] + q0 * w.ddq[:, None, :]).reshape(P, -1)
        if order >= 1:
            dq = (dq[:, :, None] * q1 + q0 * w.dq[:, None, :]).reshape(P, -1)
        q = (q0 * q1).reshape(P, -1)
        tail += w.tail
        outside = 1.0 - (1.0 - outside) * (1.0 - w.outside)
    return PairKernel(cells, q, dq, ddq, tail, outside)


# ----------------------------------------------------------------------------- the chain
@dataclass(frozen=True)
class GridChain:
    """P (sparse CSR, shape=[N, N]), r, rho, J, h (rho . h = 0), the certificates, and the pairs' kernel.

    ``certificates``: irreducible, aperiodic (True when some P_ii > 0, None when not decided), min_rho,
    argmin_rho, residual_rho (:math:`\\|\\rho^\\top(I-P)\\|_1`), residual_h (:math:`\\|(I-P)h - r + J\\|_\\infty`),
    truncation, boundary_mass.
    """

    P: Any
    r: np.ndarray
    rho: np.ndarray
    J: float
    h: np.ndarray
    certificates: dict
    kernel: PairKernel | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    actions: np.ndarray | None = field(default=None, repr=False)


def _closed_classes_sparse(P) -> list[list[int]]:
    k, labels = connected_components(P, directed=True, connection="strong")
    if k == 1:
        return [list(range(P.shape[0]))]
    coo = P.tocoo()
    leaving = np.zeros(k, bool)
    cross = labels[coo.row] != labels[coo.col]
    leaving[labels[coo.row[cross & (coo.data > 0)]]] = True
    return [np.flatnonzero(labels == c).tolist() for c in range(k) if not leaving[c]]


def solve_sparse_chain(P, r: np.ndarray, owner: str = "grid chain") -> tuple[np.ndarray, float, np.ndarray, dict]:
    """rho, J, h and the certificates of a sparse stochastic matrix P (CSR) with one sparse LU."""
    N = P.shape[0]
    check_classes(_closed_classes_sparse(P), N, owner)
    I = sparse.identity(N, format="csr")
    mask = np.ones(N)
    mask[0] = 0.0
    e0 = sparse.csr_matrix(([1.0], ([0], [0])), shape=(N, N))
    A = (sparse.diags(mask) @ (I - P) + e0).tocsc()
    lu = splu(A)
    p0 = np.asarray(P[0].todense()).ravel()
    rho = lu.solve(p0, trans="T")
    rho = rho / rho.sum()
    k = int(np.argmin(rho))
    if not rho[k] > 0:
        raise RegularityError(f"{owner}: rho({k}) = {rho[k]:.3g} (R2 fails numerically: the stationary mass of state "
                              f"{k} is below the solver's resolution), so the metric is degenerate there",
                              {"state": k, "rho": float(rho[k])})
    J = float(rho @ r)
    b = r - J
    b[0] = 0.0
    h = lu.solve(b)
    h = h - rho @ h
    res_rho = float(np.abs(rho - P.T @ rho).sum())
    res_h = float(np.abs(h - P @ h - (r - J)).max())
    diag = P.diagonal()
    cert = {"irreducible": True, "aperiodic": True if (diag > 0).any() else None, "min_rho": float(rho[k]),
            "argmin_rho": k, "residual_rho": res_rho, "residual_h": res_h}
    return rho, J, h, cert


def particles_array(policy, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """(actions shape=[N, M], weights shape=[N, M]) of a ParticlePolicy / QuantilePolicy with d = 1."""
    x = np.asarray(policy.particles, float)
    if x.shape[0] != n_states:
        raise PolicyError(f"policy has {x.shape[0]} states but the grid has {n_states}")
    if x.shape[2] != 1:
        raise PolicyError(f"grid families have scalar actions; the policy has d = {x.shape[2]}")
    return x[:, :, 0], np.asarray(policy.weights, float)


def _assemble(fam, kernel: PairKernel, weights: np.ndarray, states: np.ndarray):
    N = fam.n_states
    W = kernel.cells.shape[1]
    rows = np.repeat(states, W)
    data = (kernel.q * weights[:, None]).ravel()
    return sparse.csr_matrix((data, (rows, kernel.cells.ravel())), shape=(N, N))


def _finish(fam, P, r, kernel, weights, states, owner, boundary_tolerance, actions=None) -> GridChain:
    rho, J, h, cert = solve_sparse_chain(P, r, owner)
    if fam.n_states <= 300:
        Pd = P.toarray()
        cert["dobrushin"] = 0.5 * float(np.abs(Pd[:, None, :] - Pd[None, :, :]).sum(axis=2).max())
    cert["truncation"] = kernel.truncation
    per_state = np.bincount(states, weights=weights * kernel.outside, minlength=fam.n_states)
    cert["boundary_mass"] = float(rho @ per_state)
    i = int(np.argmax(per_state))
    cert["boundary_worst_state"] = i
    cert["boundary_worst_mass"] = float(per_state[i])
    if cert["boundary_mass"] > boundary_tolerance:
        at = ", ".join(f"{n} = {fam.points[i, j]:.4g}" for j, n in enumerate(fam.spec.state_names))
        warnings.warn(GridWarning(
            f"{owner}: {cert['boundary_mass']:.3g} of the stationary step mass leaves the domain through a "
            f"boundary (tolerance {boundary_tolerance:g}); worst at state {i} ({at}), where "
            f"{per_state[i]:.3g} of the step leaves: the drift pushes mass out of the grid, so the boundary rule, "
            "not the dynamics, decides there (widen the grid or change the policy)"), stacklevel=3)
    return GridChain(P, r, rho, J, h, cert, kernel, weights, actions)


def grid_chain(fam, policy, owner: str | None = None, order: int = 1,
               boundary_tolerance: float = BOUNDARY_TOLERANCE) -> GridChain:
    """The chain of a particle (or quantile) policy on a grid family, with the pairs' kernel kept for gradients."""
    owner = owner or fam.label
    A, w = particles_array(policy, fam.n_states)
    N, M = A.shape
    states = np.repeat(np.arange(N), M)
    actions, weights = A.ravel(), w.ravel()
    kernel = pair_kernel(fam, states, actions, order)
    P = _assemble(fam, kernel, weights, states)
    with np.errstate(all="ignore"):
        c = fam.evaluate("cost", fam.points[states], actions)
    _check_drift(fam, "cost", c, states, actions)
    r = np.bincount(states, weights=weights * c, minlength=N)
    return _finish(fam, P, r, kernel, weights, states, owner, boundary_tolerance, actions)


def action_gradient(fam, chain: GridChain, states: np.ndarray | None = None, actions: np.ndarray | None = None,
                    order: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    r""":math:`\nabla_a Q` (and :math:`\nabla_a^2 Q` when order = 2) at pairs, with h frozen at the chain's.

    Without states/actions: at the chain's own pairs (its policy's particles), reusing their kernel windows.
    """
    if states is None:
        kernel, actions = chain.kernel, chain.actions
        if actions is None or kernel.dq is None or (order >= 2 and kernel.ddq is None):
            raise ValueError("the chain was built without particles or without the action derivatives asked for")
        states = np.repeat(np.arange(fam.n_states), actions.size // fam.n_states)
    else:
        kernel = pair_kernel(fam, states, actions, order)
    X = fam.points[states]
    hw = chain.h[kernel.cells]
    g = fam.evaluate("cost_a", X, actions) + np.einsum("pw,pw->p", kernel.dq, hw)
    H = fam.evaluate("cost_aa", X, actions) + np.einsum("pw,pw->p", kernel.ddq, hw) if order >= 2 else None
    return g, H


# ----------------------------------------------------------------------------- Gaussian action laws
def gaussian_grid_chain(fam, mean: np.ndarray, std: np.ndarray, owner: str | None = None,
                        boundary_tolerance: float = BOUNDARY_TOLERANCE) -> tuple[GridChain, np.ndarray, np.ndarray]:
    r"""Chain of the Gaussian policy :math:`\pi_i = \mathcal N(m_i, s_i^2)` in closed form, and
    :math:`\mathbb E_{\pi_i}[\partial_a Q]`, :math:`\mathbb E_{\pi_i}[\partial_a^2 Q]` shape=[N] each.

    Needs a drift affine in a on one axis (:attr:`GridFamily.affine_axis`) and a cost polynomial in a
    (exact Gauss–Hermite); otherwise :class:`~otgeom.errors.ExpressionError` (use particles or quantiles).
    """
    owner = owner or fam.label
    k_aff = fam.affine_axis
    if k_aff is None:
        raise ExpressionError(f"{fam.name}: Gaussian action laws have a closed-form chain only when the drift is "
                              "affine in a on one axis; use particles or quantiles for this family")
    deg = fam.cost_degree
    if deg is None:
        raise ExpressionError(f"{fam.name}: the cost {fam.expressions['cost']} is not a polynomial in a, so its "
                              "Gaussian expectation is not exact by Gauss-Hermite; use particles or quantiles")
    N = fam.n_states
    mean = np.asarray(mean, float).reshape(-1)
    std = np.asarray(std, float).reshape(-1)
    if mean.shape != (N,) or std.shape != (N,):
        raise PolicyError(f"{owner}: the Gaussian policy needs {N} means and {N} standard deviations, got "
                          f"{mean.size} and {std.size}")
    bad = np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std) | (std < 0))
    if bad.size:
        i = int(bad[0])
        raise PolicyError(f"{owner}: the Gaussian policy at state {i} has mean {mean[i]:g} and std {std[i]:g}; "
                          "the mean must be finite and the std finite and >= 0")
    X = fam.points
    states = np.arange(N)
    zero = np.zeros(N)
    windows = []
    for k, axis in enumerate(fam.axes):
        with np.errstate(all="ignore"):
            g = fam.evaluate("drift", X, zero, k)
            b = fam.evaluate("drift_a", X, zero, k) if k == k_aff else zero
        _check_drift(fam, f"drift on axis {axis.name}", g, states, zero)
        _check_drift(fam, f"action derivative of the drift on axis {axis.name}", b, states, zero)
        mu = g + b * mean
        tau = np.sqrt(axis.noise ** 2 + (b * std) ** 2)
        windows.append(_axis_window(axis, mu, tau, b, zero, 2))
    kernel = _combine(fam, windows, 2)
    z, w = np.polynomial.hermite_e.hermegauss(deg // 2 + 2)
    w = w / w.sum()
    A = mean[:, None] + std[:, None] * z[None, :]
    Xr = np.repeat(X, z.size, axis=0)
    moments = []
    for key in ("cost", "cost_a", "cost_aa"):
        with np.errstate(all="ignore"):
            v = fam.evaluate(key, Xr, A.ravel()).reshape(N, z.size)
        _check_drift(fam, key.replace("cost_aa", "second action derivative of the cost")
                     .replace("cost_a", "action derivative of the cost"), v.ravel(), np.repeat(states, z.size),
                     A.ravel())
        moments.append(v @ w)
    weights = np.ones(N)
    P = _assemble(fam, kernel, weights, states)
    chain = _finish(fam, P, moments[0], kernel, weights, states, owner, boundary_tolerance)
    hw = chain.h[kernel.cells]
    EdQ = moments[1] + np.einsum("pw,pw->p", kernel.dq, hw)
    EddQ = moments[2] + np.einsum("pw,pw->p", kernel.ddq, hw)
    return chain, EdQ, EddQ
