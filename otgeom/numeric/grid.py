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
:math:`A = I - P` with its row k replaced by :math:`e_k^\top` (non-singular for an irreducible chain):
:math:`h = A^{-1}\tilde b` with :math:`\tilde b = r - J` and :math:`\tilde b_k = 0`, then shifted to
:math:`\rho^\top h = 0`; and since :math:`A = (I - P) + e_k (P_{k,\cdot})^\top`,
:math:`\rho^\top A = \rho_k P_{k,\cdot}`, so :math:`\rho \propto A^{-\top} P_{k,\cdot}^\top`.  The equation of
row k is then met only through the others, its error theirs divided by :math:`\rho_k`, so k must be a likely
state: the state with the largest inflow :math:`\sum_i P_{ik}`, or, when :math:`\rho_k < \max\rho/10`, a
second factorisation at :math:`\arg\max\rho`.  The factorisation is LAPACK's banded LU when the band is
about a row wide (1-D grids; a circle in reverse Cuthill-McKee order), SuperLU's otherwise (2-D grids).  A
direct solver needs no warm start; the residuals of both solves are reported with every result.

How it is computed (kernel, assembly and gradient cost linear in :math:`N \times M` at a fixed :math:`\sigma/h`,
the 1-D solve linear in N, the 2-D one more than linear): the pairs are taken
in chunks of about :data:`_CHUNK` window entries, so no [pairs, window] array is formed; the kernel is kept as
its drift parameters per pair (:class:`PairKernel` arrays are built only when asked for); in one dimension with
a constant noise the window probabilities are a function of the drift's place u in its cell alone and come
from a Taylor table in u (:func:`_q_table`; as accurate as the normal cdf it is built from, in the upper tail
too, where a difference of two cdf values near 1 is not), the windows of the
M pairs of a state are summed into a band of cells by bincount and the band is the CSR row where it lies
inside the grid, and :math:`\sum_l\partial_a q_l h_l` is a sum over the window's edges of
:math:`\phi(z_e)` times the jump of h there (summation by parts).  Chunks run on :func:`_threads` threads
(``OTGEOM_THREADS``); the results do not depend on their number.

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

import functools
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sparse
from scipy.linalg.lapack import dgbtrf, dgbtrs
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee
from scipy.sparse.linalg import splu
from scipy.spatial.distance import cdist
from scipy.special import ndtr

from otgeom.errors import ParameterError, ExpressionError, FamilyError, GridWarning, PolicyError, RegularityError
from otgeom.numeric.chain import check_classes

__all__ = ["TAIL_STDS", "PairKernel", "GridChain", "pair_kernel", "grid_chain", "gaussian_grid_chain",
           "solve_sparse_chain", "action_gradient", "particles_array", "BOUNDARY_TOLERANCE"]

#: Half-width of the kernel windows in noise standard deviations (beyond the cell holding the drift).
TAIL_STDS = 7.5
#: Most cells in one pair's window (all axes): the sparse LU's fill and work grow with the window's width.
MAX_WINDOW = 4096
#: Most window entries per grid state times states (about 2.4 GB per float64 array of the transition matrix).
WINDOW_BUDGET = 300_000_000
#: Default share of the stationary step mass allowed to leave the domain before a GridWarning.
BOUNDARY_TOLERANCE = 1e-3

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Window entries per chunk of pairs: the temporaries of one chunk (a few MB) stay in cache.
_CHUNK = 1 << 17
#: Drifts further than this many cells from the grid cannot be placed on it (int64 cell indices).
_FAR = 2.0 ** 50
#: Taylor tables of the 1-D window probabilities (:func:`_q_table`): the order, and the largest
#: |u - t/T| r z over the window (so the remainder is about _TAYLOR_STEP^5/5! < 1e-17, relative).
_TAYLOR_ORDER = 4
_TAYLOR_STEP = 1e-3


@dataclass(frozen=True)
class _AxisDrift:
    """The kernel of P pairs on one axis in compact form: drift mu, noise std (``noise``: its value when it is
    the same for every pair, else None), action derivatives of the drift, the cell c holding mu (unfolded
    index), the window half-width K (cells c - K .. c + K), the largest tail mass moved by the windows and the
    mass leaving the domain per pair."""

    axis: Any
    mu: np.ndarray
    std: np.ndarray
    dmu: np.ndarray | None
    ddmu: np.ndarray | None
    K: int
    c: np.ndarray
    tail: float
    outside: np.ndarray
    noise: float | None = None


def _axis_drift(axis, mu: np.ndarray, std: np.ndarray, dmu: np.ndarray | None, ddmu: np.ndarray | None,
                noise: float | None = None) -> _AxisDrift:
    h = axis.width
    spread = float(np.max(std))
    cells = TAIL_STDS * spread / h
    if not 2 * cells + 4 <= MAX_WINDOW:  # also catches inf / nan
        raise ParameterError(
            f"the step's spread on axis {axis.name} is {spread:.4g} = {spread / h:.4g} cell widths (h = {h:.4g}), so a "
            f"kernel window would span about {2 * cells + 4:.4g} cells per state-action pair, more than {MAX_WINDOW} "
            "(the sparse LU's fill grows like states x window^2): the noise (for Gaussian laws, "
            "sqrt(sigma^2 + b^2 s^2) with the policy's spread s) spans too many cells; use fewer cells, less noise or "
            "a narrower policy")
    K = int(math.ceil(cells)) + 1
    c = np.floor((mu - axis.lo) / h).astype(np.int64)
    pick = slice(None)
    if noise is not None:
        # the tail Phi(z_0) + Phi(-z_last) is a function of the drift's place in its cell, u = (mu - lo)/h - c,
        # decreasing then increasing (its derivative phi(z_0) - phi(z_last) changes sign once): its largest
        # value is at the smallest or the largest u
        u = (mu - axis.lo) / h - c
        pick = [int(np.argmin(u)), int(np.argmax(u))]
    m, s, cc = mu[pick], std[pick], c[pick]
    tail = float(np.max(ndtr((axis.lo + (cc - K) * h - m) / s) + ndtr(-((axis.lo + (cc + K + 1) * h - m) / s))))
    outside = np.zeros_like(mu)
    if axis.boundary != "circle":
        zl, zh = (axis.lo - mu) / std, (mu - axis.hi) / std
        near = np.flatnonzero((zl > -40.0) | (zh > -40.0))  # ndtr(z) is exactly 0 below z = -37.7
        outside[near] = ndtr(zl[near]) + ndtr(zh[near])
    return _AxisDrift(axis, mu, std, dmu, ddmu, K, c, tail, outside, noise)


@dataclass(frozen=True)
class _AxisWindow:
    cells: np.ndarray  # [C, L] cell index on this axis
    q: np.ndarray  # [C, L]
    dq: np.ndarray | None
    ddq: np.ndarray | None


def _window(d: _AxisDrift, sl: slice, order: int, cells: bool = True) -> _AxisWindow:
    """The windows of the pairs sl on one axis: cells, q and the action derivatives up to ``order``."""
    axis, K = d.axis, d.K
    offsets = np.arange(-K, K + 2)
    mu, std = d.mu[sl], d.std[sl]
    c = d.c[sl]
    z = (axis.lo + (c[:, None] + offsets[None, :]) * axis.width - mu[:, None]) / std[:, None]  # [C, 2K + 2] edges
    cdf = np.empty_like(z)
    cdf[:, 0] = 0.0
    cdf[:, -1] = 1.0
    ndtr(z[:, 1:-1], out=cdf[:, 1:-1])
    q = cdf[:, 1:] - cdf[:, :-1]
    dq = ddq = None
    if order >= 1:
        phi = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
        phi[:, 0] = 0.0
        phi[:, -1] = 0.0
        dphi = np.diff(phi, axis=1)
        s = d.dmu[sl] / std
        dq = -s[:, None] * dphi
        if order >= 2:
            ddq = -(s ** 2)[:, None] * np.diff(z * phi, axis=1) - (d.ddmu[sl] / std)[:, None] * dphi
    return _AxisWindow(axis.cell_of(c[:, None] + offsets[None, :-1]) if cells else None, q, dq, ddq)


def _combine(axes, windows: list[_AxisWindow], order: int) -> tuple:
    """Product over the axes: flat C-order cells, probabilities and their derivatives (product rule)."""
    P = windows[0].q.shape[0]
    cells, q = windows[0].cells, windows[0].q
    dq, ddq = windows[0].dq, windows[0].ddq
    for w, n in zip(windows[1:], [ax.cells for ax in axes[1:]]):
        cells = (cells[:, :, None] * n + w.cells[:, None, :]).reshape(P, -1)
        q0, q1 = q[:, :, None], w.q[:, None, :]
        if order >= 2:
            ddq = (ddq[:, :, None] * q1 + 2 * dq[:, :, None] * w.dq[:, None, :] + q0 * w.ddq[:, None, :]).reshape(P, -1)
        if order >= 1:
            dq = (dq[:, :, None] * q1 + q0 * w.dq[:, None, :]).reshape(P, -1)
        q = (q0 * q1).reshape(P, -1)
    return cells, q, dq, ddq


def _window_size(drifts: list[_AxisDrift]) -> int:
    return int(np.prod([2 * d.K + 1 for d in drifts]))


def _chunks(n: int, per_item: int, align: int = 1) -> list[slice]:
    """Slices of range(n) with about _CHUNK window entries each, their bounds multiples of ``align``."""
    step = max(1, _CHUNK // max(per_item * align, 1)) * align
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def _threads() -> int:
    """Worker threads for the chunks (numpy releases the GIL in its loops): ``OTGEOM_THREADS`` if set, else the
    cores this process may use, at most 8.  Results do not depend on it (every chunk writes its own rows)."""
    env = os.environ.get("OTGEOM_THREADS", "").strip()
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}  # by (process id, threads): a forked child has no workers
_POOL_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    global _POOL_LOCK
    _POOL_LOCK = threading.Lock()  # a lock held by another thread at the fork would never be released
    _POOL.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _each(fn, slices: list[slice]) -> None:
    """fn(slice) for every chunk, on :func:`_threads` workers when there is more than one chunk."""
    n = _threads()
    if n == 1 or len(slices) < 2 or threading.current_thread().name.startswith("otgeom-grid"):
        for sl in slices:
            fn(sl)
        return
    with _POOL_LOCK:
        key = (os.getpid(), n)
        pool = _POOL.get(key)
        if pool is None:
            pool = _POOL[key] = ThreadPoolExecutor(n, thread_name_prefix="otgeom-grid")
    for f in [pool.submit(fn, sl) for sl in slices]:
        f.result()


def _truncation(drifts: list[_AxisDrift]) -> float:
    return float(sum(d.tail for d in drifts))


def _outside(drifts: list[_AxisDrift]) -> np.ndarray:
    outside = drifts[0].outside
    for d in drifts[1:]:
        outside = 1.0 - (1.0 - outside) * (1.0 - d.outside)
    return outside


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


def _materialize(drifts: list[_AxisDrift], order: int) -> PairKernel:
    """The full [P, W] arrays of a kernel, filled chunk by chunk."""
    axes = [d.axis for d in drifts]
    P, W = drifts[0].mu.shape[0], _window_size(drifts)
    cells = np.empty((P, W), np.int64)
    q = np.empty((P, W))
    dq = np.empty((P, W)) if order >= 1 else None
    ddq = np.empty((P, W)) if order >= 2 else None

    def fill(sl):
        cc, qq, dd, ee = _combine(axes, [_window(d, sl, order) for d in drifts], order)
        cells[sl], q[sl] = cc, qq
        if order >= 1:
            dq[sl] = dd
        if order >= 2:
            ddq[sl] = ee

    _each(fill, _chunks(P, W))
    return PairKernel(cells, q, dq, ddq, _truncation(drifts), _outside(drifts))


class _LazyKernel(PairKernel):
    """A :class:`PairKernel` kept as its per-axis drift parameters (a few numbers per pair, not four [P, W]
    arrays): ``cells``, ``q``, ``dq`` and ``ddq`` are built on first access; ``truncation`` and ``outside``
    are stored.  The chain and the gradient work from the parameters directly, chunk by chunk."""

    def __init__(self, drifts: list[_AxisDrift], order: int):  # noqa: D107 (not the dataclass __init__)
        object.__setattr__(self, "drifts", drifts)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "truncation", _truncation(drifts))
        object.__setattr__(self, "outside", _outside(drifts))
        object.__setattr__(self, "_full", None)

    def _arrays(self) -> PairKernel:
        if self._full is None:
            object.__setattr__(self, "_full", _materialize(self.drifts, self.order))
        return self._full

    cells = property(lambda self: self._arrays().cells)
    q = property(lambda self: self._arrays().q)
    dq = property(lambda self: self._arrays().dq if self.order >= 1 else None)
    ddq = property(lambda self: self._arrays().ddq if self.order >= 2 else None)


def _has_order(kernel: PairKernel, order: int) -> bool:
    if isinstance(kernel, _LazyKernel):
        return kernel.order >= order
    return kernel.dq is not None and (order < 2 or kernel.ddq is not None)


def _check_far(fam, axis, mu: np.ndarray, states: np.ndarray, actions: np.ndarray) -> None:
    """A drift must lie within 2^50 cells of the grid (its cell is an int64; beyond, float cells are not exact)."""
    lo, hi = axis.lo - _FAR * axis.width, axis.hi + _FAR * axis.width
    if mu.size and np.min(mu) >= lo and np.max(mu) <= hi:
        return
    far = np.flatnonzero(~((mu >= lo) & (mu <= hi)))
    if far.size:
        k = int(far[0])
        raise FamilyError(f"{fam.name}: the drift on axis {axis.name} is {mu[k]:.6g} at "
                          f"{fam.state_text(int(states[k]))} with "
                          f"action a = {actions[k]:.6g}, more than 2^50 cells of width {axis.width:.4g} from the grid "
                          f"({far.size} of {mu.size} state-action pairs): it cannot be placed on the grid")


def _drifts(fam, states: np.ndarray, actions: np.ndarray, order: int) -> list[_AxisDrift]:
    X = fam.points[states]
    drifts = []
    for k, axis in enumerate(fam.axes):
        with np.errstate(all="ignore"):
            mu = fam.evaluate("drift", X, actions, k)
            dmu = fam.evaluate("drift_a", X, actions, k) if order >= 1 else None
            ddmu = fam.evaluate("drift_aa", X, actions, k) if order >= 2 else None
        for name, v in (("drift", mu), ("action derivative of the drift", dmu),
                        ("second action derivative of the drift", ddmu)):
            if v is not None:
                fam.require_finite(f"{name} on axis {axis.name}", v, states, actions)
        _check_far(fam, axis, mu, states, actions)
        std = np.broadcast_to(np.float64(axis.noise), mu.shape)
        drifts.append(_axis_drift(axis, mu, std, dmu, ddmu, float(axis.noise)))
    _check_budget(fam, drifts)
    return drifts


def _check_budget(fam, drifts: list) -> None:
    """Refuse a kernel whose rows (states x window cells) would not fit in memory, or whose windows are so wide
    (noise spanning hundreds of cells) that the sparse LU's fill explodes, with the numbers."""
    window = math.prod(2 * d.K + 2 for d in drifts)
    if window > MAX_WINDOW:
        per_axis = " x ".join(f"{2 * d.K + 2} ({d.axis.name})" for d in drifts)
        raise ParameterError(
            f"{fam.label}: the noise spans {per_axis} cells per kernel window, {window} in all, more than "
            f"{MAX_WINDOW}: the sparse solve's fill grows like states x window^2; the grid is far finer than the "
            "noise needs (cells of up to sigma/2 are accurate to O(h^2)): use fewer cells or a narrower policy")
    if fam.n_states * window > WINDOW_BUDGET:
        per_axis = " x ".join(f"{2 * d.K + 2} ({d.axis.name})" for d in drifts)
        raise ParameterError(
            f"{fam.label}: the kernel's windows are {per_axis} cells for each of {fam.n_states} states: "
            f"{fam.n_states * window:.3g} entries, more than this machine's budget of {WINDOW_BUDGET:.0e} "
            "(the noise spans too many cells: fewer cells, less noise, or a narrower policy)")


def pair_kernel(fam, states: np.ndarray, actions: np.ndarray, order: int = 1) -> PairKernel:
    """Kernel windows of the pairs (states[p], actions[p]) with action derivatives up to ``order`` (0, 1, 2)."""
    states = np.asarray(states, np.int64)
    actions = np.asarray(actions, float)
    return _materialize(_drifts(fam, states, actions, order), order)


# ----------------------------------------------------------------------------- assembly of P
@functools.lru_cache(maxsize=8)
def _q_table(r: float, K: int) -> tuple[np.ndarray, int]:
    r"""Taylor coefficients, in the drift's place u in its cell, of the window probabilities on one axis with a
    constant noise: shape=[T + 1, n + 1, 2K + 1] and T.

    With r = h/sigma and u = (mu - lo)/h - c in [0, 1), the window's edges are at :math:`z_e = (o_e - u) r`,
    :math:`o_e = -K .. K + 1`, so :math:`q_l = \Phi(z_{l+1}) - \Phi(z_l)` (the end edges at 0 and 1) depends on
    u alone, with :math:`\tfrac{d^k}{du^k}\Phi((o - u) r) = -r^k He_{k-1}(z)\phi(z)`.  Row t holds
    :math:`q_l^{(k)}(t/T)/k!`, k = 0..n; T is chosen so that :math:`r z_{max}/(2T) \le` ``_TAYLOR_STEP``,
    which bounds the relative remainder of every entry, the tails included, by about
    ``_TAYLOR_STEP**(n+1)/(n+1)!`` (q itself is taken from the side where it is small, so the upper tail keeps
    its relative accuracy, which the difference of two values near 1 loses)."""
    n = _TAYLOR_ORDER
    T = max(16, int(math.ceil(r * (K + 1) * r / (2 * _TAYLOR_STEP))))
    u = np.arange(T + 1) / T
    z = (np.arange(-K, K + 2)[None, :] - u[:, None]) * r  # [T + 1, 2K + 2] edges
    lower, upper = z[:, :-1], z[:, 1:]
    cdf_lo, cdf_up, sf_lo, sf_up = ndtr(lower), ndtr(upper), ndtr(-lower), ndtr(-upper)
    cdf_lo[:, 0], sf_lo[:, 0], cdf_up[:, -1], sf_up[:, -1] = 0.0, 1.0, 1.0, 0.0
    tab = np.empty((T + 1, n + 1, 2 * K + 1))
    tab[:, 0] = np.where(lower >= 0, sf_lo - sf_up, cdf_up - cdf_lo)
    phi = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    phi[:, 0] = phi[:, -1] = 0.0
    he_prev, he = np.zeros_like(z), np.ones_like(z)  # He_{k-2}, He_{k-1}
    for k in range(1, n + 1):
        g = he * phi
        tab[:, k] = -(r ** k / math.factorial(k)) * (g[:, 1:] - g[:, :-1])
        he_prev, he = he, z * he - (k - 1) * he_prev
    tab.setflags(write=False)
    return tab, T


def _q_taylor(d: _AxisDrift, sl: slice, table: tuple[np.ndarray, int], weights: np.ndarray | None = None) -> np.ndarray:
    """q (times ``weights`` when given) of the pairs sl on a 1-D axis with constant noise, shape=[C, 2K + 1],
    from the Taylor table."""
    tab, T = table
    x = ((d.mu[sl] - d.axis.lo) / d.axis.width - d.c[sl]) * T
    t = np.rint(x).astype(np.intp)
    delta = (x - t) / T
    powers = np.empty((t.size, tab.shape[1]))
    powers[:, 0] = 1.0 if weights is None else weights
    for k in range(1, tab.shape[1]):
        np.multiply(powers[:, k - 1], delta, out=powers[:, k])
    return np.einsum("pk,pkl->pl", powers, tab[t])


def _pair_q(drifts: list[_AxisDrift], sl: slice, weights: np.ndarray) -> np.ndarray:
    """Weighted q of the pairs sl, shape=[C, W0, W1, ...] (product over the axes), without cells or derivatives."""
    if len(drifts) == 1 and drifts[0].noise is not None:
        d = drifts[0]
        return _q_taylor(d, sl, _q_table(d.axis.width / d.noise, d.K), weights[sl])
    q = _window(drifts[0], sl, 0, cells=False).q
    for d in drifts[1:]:
        q1 = _window(d, sl, 0, cells=False).q
        q = q[..., None] * q1.reshape((q1.shape[0],) + (1,) * (q.ndim - 1) + (q1.shape[1],))
    q *= weights[sl].reshape((-1,) + (1,) * len(drifts))
    return q


def _assemble_band(fam, drifts: list[_AxisDrift], weights: np.ndarray, M: int):
    r"""P from pairs grouped by state (pair p = i M + m), or None when the bands would be too wide.

    Per state i and axis k, the windows of its M pairs lie in a band of B_k unfolded cells starting at
    base_k(i); their weighted probabilities are summed into the band by one bincount per chunk of states.
    Where the band lies inside the grid on every axis, its cells are distinct and increasing in the flat
    C order, so the band is the CSR row as it stands; only the rows whose band reaches a boundary (where the
    boundary rule maps several unfolded cells to one) are sorted and have their duplicates summed.
    """
    axes = [d.axis for d in drifts]
    N = fam.n_states
    widths = [2 * d.K + 1 for d in drifts]
    W = int(np.prod(widths))
    bases, offs, B = [], [], []
    for d, w in zip(drifts, widths):
        first = (d.c - d.K).reshape(N, M)
        base = first.min(axis=1)
        off = (first - base[:, None]).ravel()
        bases.append(base)
        offs.append(off)
        B.append(int(off.max()) + w)
    Btot = int(np.prod(B))
    if N * Btot > 4 * N * M * W + 4096:
        return None
    band = np.empty((N, Btot))

    def fill(ss):
        sl = slice(ss.start * M, ss.stop * M)
        n = ss.stop - ss.start
        q = _pair_q(drifts, sl, weights)
        idx = np.repeat(np.arange(0, n * B[0], B[0], dtype=np.int64), M) + offs[0][sl]
        if len(drifts) == 1:
            idx = idx[:, None] + np.arange(widths[0])
        else:
            idx = idx[:, None] + np.arange(widths[0])
            for k in range(1, len(drifts)):
                pos = offs[k][sl, None] + np.arange(widths[k])
                idx = idx[..., None] * B[k] + pos.reshape((pos.shape[0],) + (1,) * k + (widths[k],))
        band[ss] = np.bincount(idx.ravel(), q.ravel(), minlength=n * Btot).reshape(n, Btot)

    _each(fill, _chunks(N, M * W))
    # flat C-order cells: inside the grid, the band's first cell plus a fixed pattern
    good = np.ones(N, bool)
    start = np.zeros(N, np.int64)
    pattern = np.zeros(1, np.int64)
    for ax, base, b in zip(axes, bases, B):
        good &= (base >= 0) & (base + b <= ax.cells)
        start = start * ax.cells + base
        pattern = (pattern[:, None] * ax.cells + np.arange(b)).ravel()
    bad = np.flatnonzero(~good)
    bad_cols = np.zeros((bad.size, 1), np.int64)
    for ax, base, b in zip(axes, bases, B):
        cells = ax.cell_of(base[bad, None] + np.arange(b))
        bad_cols = (bad_cols[:, :, None] * ax.cells + cells[:, None, :]).reshape(bad.size, bad_cols.shape[1] * b)
    return _band_csr(N, band, start, pattern, good, bad, bad_cols)


def _band_csr(N: int, band: np.ndarray, start: np.ndarray, pattern: np.ndarray, good: np.ndarray,
              bad: np.ndarray, bad_cols: np.ndarray):
    """CSR matrix of the rows band[i]: at columns start[i] + pattern where ``good`` (distinct, increasing), at
    bad_cols (rows ``bad``) sorted with duplicates summed elsewhere."""
    Btot = band.shape[1]
    counts = np.full(N, Btot, np.int64)
    if bad.size:
        keys = (np.arange(bad.size, dtype=np.int64)[:, None] * N + bad_cols).ravel()
        uniq, inv = np.unique(keys, return_inverse=True)
        sums = np.bincount(inv.ravel(), band[bad].ravel(), minlength=uniq.size)
        urow = uniq // N
        ucount = np.bincount(urow, minlength=bad.size)
        counts[bad] = ucount
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    itype = np.int32 if max(nnz, N) < 2 ** 31 - 1 else np.int64
    start, pattern = start.astype(itype), pattern.astype(itype)
    if not bad.size:
        data = band.reshape(-1)
        indices = (start[:, None] + pattern).reshape(-1)
    else:
        data = np.empty(nnz)
        indices = np.empty(nnz, itype)
        flips = np.flatnonzero(np.diff(np.concatenate([[0], good.view(np.int8), [0]])))
        for a, b in zip(flips[::2], flips[1::2]):  # runs of good rows a..b-1: one contiguous block each
            i0, i1 = indptr[a], indptr[b]
            data[i0:i1] = band[a:b].reshape(-1)
            np.add(start[a:b, None], pattern, out=indices[i0:i1].reshape(b - a, Btot))
        first = np.zeros(bad.size, np.int64)
        np.cumsum(ucount[:-1], out=first[1:])
        dest = indptr[bad][urow] + (np.arange(uniq.size) - first[urow])
        data[dest] = sums
        indices[dest] = uniq % N
    return sparse.csr_matrix((data, indices, indptr.astype(itype)), shape=(N, N))


def _assemble_pairs(fam, drifts: list[_AxisDrift], weights: np.ndarray, states: np.ndarray):
    """P from pairs in any order: the windows' entries chunk by chunk, duplicates summed by the CSR build."""
    axes = [d.axis for d in drifts]
    N = fam.n_states
    P, W = states.shape[0], _window_size(drifts)
    rows = np.repeat(states, W)
    cols = np.empty(P * W, np.int64)
    data = np.empty(P * W)

    def fill(sl):
        cc, qq, _, _ = _combine(axes, [_window(d, sl, 0) for d in drifts], 0)
        cols[sl.start * W:sl.stop * W] = cc.ravel()
        data[sl.start * W:sl.stop * W] = (qq * weights[sl, None]).ravel()

    _each(fill, _chunks(P, W))
    return sparse.csr_matrix((data, (rows, cols)), shape=(N, N))


def _assemble(fam, drifts: list[_AxisDrift], weights: np.ndarray, states: np.ndarray, M: int):
    """P_pi(i, j) = sum_m w_im p(j | i, a_im) as CSR; pairs grouped by state (p = i M + m)."""
    P = _assemble_band(fam, drifts, weights, M)
    return P if P is not None else _assemble_pairs(fam, drifts, weights, states)


# ----------------------------------------------------------------------------- sum_j d^k p(j|pair) h(j)
def _contract(drifts: list[_AxisDrift], h: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray | None]:
    r""":math:`\sum_j \partial_a p(j\mid p)\,h(j)` and (order 2) :math:`\sum_j \partial_a^2 p(j\mid p)\,h(j)`
    per pair, chunk by chunk.

    One axis: summation by parts over the window's edges (the end edges have :math:`\phi = 0`),
    :math:`\sum_l \partial_a q_l h_l = \tfrac{\mu'}{\sigma}\sum_e \phi(z_e)\,\Delta h_e` and
    :math:`\sum_l \partial_a^2 q_l h_l = \tfrac{\mu'^2}{\sigma^2}\sum_e z_e\phi(z_e)\,\Delta h_e
    + \tfrac{\mu''}{\sigma}\sum_e\phi(z_e)\,\Delta h_e`, with :math:`\Delta h_e` the jump of h across the
    edge (of the unfolded line, computed once), so no [P, W] kernel is formed.  Several axes: the product
    kernel of each chunk against h at its cells.
    """
    P = drifts[0].mu.shape[0]
    G = np.empty(P)
    H = np.empty(P) if order >= 2 else None
    if len(drifts) == 1:
        d = drifts[0]
        K, axis = d.K, d.axis
        kmin, kmax = int(d.c.min()) - K, int(d.c.max()) + K
        if kmax - kmin <= 4 * axis.cells + 8 * K + (1 << 16):
            D = np.diff(h[axis.cell_of(np.arange(kmin, kmax + 1))])  # D[j]: jump at the edge after cell kmin + j
            Dw = np.lib.stride_tricks.sliding_window_view(D, 2 * K)
            o = np.arange(-K + 1, K + 1, dtype=float)  # the interior edges, z_e = z_c + o_e r
            basis = np.stack([np.ones(2 * K), o], axis=1)

            orow = None if d.noise is None else o * (axis.width / d.noise)

            def fill(sl):
                r = axis.width / d.std[sl]
                zc = -((d.mu[sl] - axis.lo) / axis.width - d.c[sl]) * r
                if orow is None:
                    z = o * r[:, None]
                    z += zc[:, None]
                else:
                    z = orow + zc[:, None]
                e = np.square(z)
                e *= -0.5
                np.exp(e, out=e)
                e *= Dw[d.c[sl] - K - kmin]
                S = e @ basis  # sum_e exp(-z_e^2/2) dh_e and sum_e o_e exp(-z_e^2/2) dh_e
                s = d.dmu[sl] / d.std[sl] * _INV_SQRT_2PI
                G[sl] = s * S[:, 0]
                if order >= 2:
                    H[sl] = (s * (d.dmu[sl] / d.std[sl])) * (zc * S[:, 0] + r * S[:, 1]) \
                        + (d.ddmu[sl] / d.std[sl] * _INV_SQRT_2PI) * S[:, 0]

            _each(fill, _chunks(P, 2 * K))
            return G, H
    axes = [d.axis for d in drifts]

    def fill(sl):
        cells, _, dq, ddq = _combine(axes, [_window(d, sl, order) for d in drifts], order)
        hw = h[cells]
        G[sl] = np.einsum("pw,pw->p", dq, hw)
        if order >= 2:
            H[sl] = np.einsum("pw,pw->p", ddq, hw)

    _each(fill, _chunks(P, _window_size(drifts)))
    return G, H


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
    if (P.data == 0).any():  # an explicitly stored zero is an edge to csgraph, not a transition
        P = P.copy()
        P.eliminate_zeros()
    k, labels = connected_components(P, directed=True, connection="strong")
    if k == 1:
        return [list(range(P.shape[0]))]
    coo = P.tocoo()
    leaving = np.zeros(k, bool)
    cross = labels[coo.row] != labels[coo.col]
    leaving[labels[coo.row[cross & (coo.data > 0)]]] = True
    return [np.flatnonzero(labels == c).tolist() for c in range(k) if not leaving[c]]


class _BandLU:
    """LU of a banded matrix by LAPACK (gbtrf) in a given order of the states, with SuperLU's ``solve(b, trans)``.

    ``rows``, ``cols``, ``data``: the matrix's entries; ``pos[i]``: the place of state i in the order."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, pos: np.ndarray, kl: int, ku: int):
        N = pos.size
        pi, pj = pos[rows], pos[cols]
        ab = np.zeros((2 * kl + ku + 1, N), order="F")
        ab[kl + ku + pi - pj, pj] = data
        self.lub, self.piv, info = dgbtrf(ab, kl, ku, overwrite_ab=1)
        if info != 0:  # pragma: no cover - A is non-singular for an irreducible chain
            raise np.linalg.LinAlgError(f"banded LU: zero pivot {info}")
        self.kl, self.ku, self.pos = kl, ku, pos

    def solve(self, b: np.ndarray, trans: str = "N") -> np.ndarray:
        y = np.empty(b.size)
        y[self.pos] = b
        x, info = dgbtrs(self.lub, self.kl, self.ku, y, self.piv, trans=0 if trans == "N" else 1)
        return x[self.pos]


#: The banded LU is used when its band storage takes at most this many bytes (else SuperLU).
_BAND_BYTES = 1 << 30


def _band_order(IP) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
    """(rows, cols, pos, kl, ku) of A^T (A = IP in CSR) in an order with a narrow band, or None.

    The natural order when its band is about as wide as a row (a 1-D grid); else, for short rows, the reverse
    Cuthill-McKee order (a 1-D grid that wraps around: band twice as wide); 2-D grids (rows of hundreds of
    entries spanning n_1 K columns) are left to SuperLU."""
    N = IP.shape[0]
    cols = np.repeat(np.arange(N), np.diff(IP.indptr))  # A^T's column = A's row
    rows = IP.indices.astype(np.int64)
    per_row = IP.nnz / max(N, 1)
    kl, ku = int(np.max(rows - cols, initial=0)), int(np.max(cols - rows, initial=0))
    pos = np.arange(N)
    if kl + ku > 2 * per_row:
        if per_row > 128:
            return None
        order = reverse_cuthill_mckee(IP, symmetric_mode=False)
        pos = np.empty(N, np.int64)
        pos[order] = np.arange(N)
        d = pos[rows] - pos[cols]
        kl, ku = int(np.max(d, initial=0)), int(np.max(-d, initial=0))
    if (2 * kl + ku + 1) * N * 8 > _BAND_BYTES or kl + ku > 4 * per_row + 16:
        return None
    return rows, cols, pos, kl, ku


def solve_sparse_chain(P, r: np.ndarray, owner: str = "grid chain") -> tuple[np.ndarray, float, np.ndarray, dict]:
    """rho, J, h and the certificates of a sparse stochastic matrix P (CSR) with one sparse LU (two when the
    first guess of a likely state was poor)."""
    N = P.shape[0]
    check_classes(_closed_classes_sparse(P), N, owner)
    IP = (sparse.identity(N, format="csr") - P).tocsr()
    IP.sum_duplicates()
    # A band about as wide as a row (a 1-D grid, also when it wraps around, in the reverse Cuthill-McKee order)
    # is factored by LAPACK's banded LU; otherwise (a 2-D grid, whose rows span n_1 K columns) by SuperLU with the
    # minimum degree ordering of A + A^T (the pattern is nearly symmetric), which had the least fill and time.
    band = _band_order(IP)

    def factor(k: int):
        """LU of A^T, A = I - P with row k replaced by e_k (CSR A read as CSC is A^T: no copy); A^T is column
        diagonally dominant, so its pivots stay on the diagonal."""
        row = slice(IP.indptr[k], IP.indptr[k + 1])
        keep = IP.data[row].copy()
        IP.data[row] = np.where(IP.indices[row] == k, 1.0, 0.0)
        try:
            if band is not None:
                return _BandLU(band[0], band[1], IP.data, *band[2:])
            return splu(IP.T, permc_spec="MMD_AT_PLUS_A")
        finally:
            IP.data[row] = keep

    def pk(k: int) -> np.ndarray:
        v = np.zeros(N)
        v[P.indices[P.indptr[k]:P.indptr[k + 1]]] = P.data[P.indptr[k]:P.indptr[k + 1]]
        return v

    # The replaced row should belong to a likely state: the equation of row k is met only through the others, so
    # its error is theirs divided by rho_k (from the corner state of a grid, h lost 5 digits).  First guess: the
    # state with the largest inflow sum_i P_ik; if rho says otherwise, factor again at its largest entry.
    k = int(np.argmax(np.asarray(P.sum(axis=0)).ravel()))
    lu = factor(k)
    rho = lu.solve(pk(k))
    rho = rho / rho.sum()
    i = int(np.argmin(rho))
    if not rho[i] > 0:
        raise RegularityError(f"{owner}: rho({i}) = {rho[i]:.3g} (R2 fails numerically: the stationary mass of state "
                              f"{i} is below the solver's resolution), so the metric is degenerate there",
                              {"state": i, "rho": float(rho[i])}, assumption="R2")
    if 10 * rho[k] < rho.max():
        k = int(np.argmax(rho))
        lu = factor(k)
    J = float(rho @ r)
    b = r - J
    b[k] = 0.0
    h = lu.solve(b, trans="T")
    h = h - rho @ h
    res_rho = float(np.abs(rho - P.T @ rho).sum())
    res_h = float(np.abs(h - P @ h - (r - J)).max())
    diag = P.diagonal()
    cert = {"irreducible": True, "aperiodic": True if (diag > 0).any() else None, "min_rho": float(rho[i]),
            "argmin_rho": i, "residual_rho": res_rho, "residual_h": res_h}
    return rho, J, h, cert


def particles_array(policy, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """(actions shape=[N, M], weights shape=[N, M]) of a ParticlePolicy / QuantilePolicy with d = 1."""
    x = np.asarray(policy.particles, float)
    if x.shape[0] != n_states:
        raise PolicyError(f"policy has {x.shape[0]} states but the grid has {n_states}")
    if x.shape[2] != 1:
        raise PolicyError(f"grid families have scalar actions; the policy has d = {x.shape[2]}")
    return x[:, :, 0], np.asarray(policy.weights, float)


def _finish(fam, P, r, kernel, weights, states, owner, boundary_tolerance, actions=None) -> GridChain:
    try:
        rho, J, h, cert = solve_sparse_chain(P, r, owner)
    except RegularityError as exc:
        transient = exc.diagnosis.get("transient")
        closed = exc.diagnosis.get("closed_classes") or []
        if not transient or len(closed) != 1:
            raise
        pts = fam.points[np.asarray(closed[0])]
        span = ", ".join(f"{n} in [{pts[:, j].min():.4g}, {pts[:, j].max():.4g}]"
                         for j, n in enumerate(fam.spec.state_names))
        raise RegularityError(
            f"{exc} -- on a grid this means the kernel windows ({TAIL_STDS} noise sd beyond the drift) never reach "
            f"the transient cells from the recurrent ones ({span}): their true stationary mass is below the "
            f"Gaussian tail at {TAIL_STDS} sd (about 1e-13 per step, far less after several); shrink the grid to "
            "about that range, or add noise", exc.diagnosis, assumption=exc.assumption, decided=exc.decided) from None
    if fam.n_states <= 300:
        Pd = P.toarray()
        cert["dobrushin"] = 0.5 * float(cdist(Pd, Pd, "cityblock").max())  # no [N, N, N] temporary
    cert["truncation"] = kernel.truncation
    per_state = np.bincount(states, weights=weights * kernel.outside, minlength=fam.n_states)
    cert["boundary_mass"] = float(rho @ per_state)
    i = int(np.argmax(per_state))
    cert["boundary_worst_state"] = i
    cert["boundary_worst_mass"] = float(per_state[i])
    if cert["boundary_mass"] > boundary_tolerance:
        warnings.warn(GridWarning(
            f"{owner}: {cert['boundary_mass']:.3g} of the stationary step mass leaves the domain through a "
            f"boundary (tolerance {boundary_tolerance:g}); worst at {fam.state_text(i, 4, 'state')}, where "
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
    drifts = _drifts(fam, states, actions, order)
    P = _assemble(fam, drifts, weights, states, M)
    with np.errstate(all="ignore"):
        c = fam.evaluate("cost", fam.points[states], actions)
    fam.require_finite("cost", c, states, actions)
    r = np.bincount(states, weights=weights * c, minlength=N)
    return _finish(fam, P, r, _LazyKernel(drifts, order), weights, states, owner, boundary_tolerance, actions)


def action_gradient(fam, chain: GridChain, states: np.ndarray | None = None, actions: np.ndarray | None = None,
                    order: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    r""":math:`\nabla_a Q` (and :math:`\nabla_a^2 Q` when order = 2) at pairs, with h frozen at the chain's.

    Without states/actions: at the chain's own pairs (its policy's particles), reusing their kernel windows.
    """
    if states is None:
        kernel, actions = chain.kernel, chain.actions
        if actions is None or kernel is None or not _has_order(kernel, max(order, 1)):
            raise ValueError("the chain was built without particles or without the action derivatives asked for")
        states = np.repeat(np.arange(fam.n_states), actions.size // fam.n_states)
        if isinstance(kernel, _LazyKernel):
            G, H = _contract(kernel.drifts, chain.h, order)
        else:
            hw = chain.h[kernel.cells]
            G = np.einsum("pw,pw->p", kernel.dq, hw)
            H = np.einsum("pw,pw->p", kernel.ddq, hw) if order >= 2 else None
    else:
        st = np.asarray(states, np.int64)
        G, H = _contract(_drifts(fam, st, np.asarray(actions, float), order), chain.h, order)
    X = fam.points[states]
    g = fam.evaluate("cost_a", X, actions) + G
    H = fam.evaluate("cost_aa", X, actions) + H if order >= 2 else None
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
    drifts = []
    for k, axis in enumerate(fam.axes):
        with np.errstate(all="ignore"):
            g = fam.evaluate("drift", X, zero, k)
            b = fam.evaluate("drift_a", X, zero, k) if k == k_aff else zero
        fam.require_finite(f"drift on axis {axis.name}", g, states, zero)
        fam.require_finite(f"action derivative of the drift on axis {axis.name}", b, states, zero)
        mu = g + b * mean
        _check_far(fam, axis, mu, states, mean)
        tau = np.sqrt(axis.noise ** 2 + (b * std) ** 2)
        drifts.append(_axis_drift(axis, mu, tau, b, zero))
    _check_budget(fam, drifts)
    z, w = np.polynomial.hermite_e.hermegauss(deg // 2 + 2)
    w = w / w.sum()
    A = mean[:, None] + std[:, None] * z[None, :]
    Xr = np.repeat(X, z.size, axis=0)
    moments = []
    for key in ("cost", "cost_a", "cost_aa"):
        with np.errstate(all="ignore"):
            v = fam.evaluate(key, Xr, A.ravel()).reshape(N, z.size)
        fam.require_finite(key.replace("cost_aa", "second action derivative of the cost")
                     .replace("cost_a", "action derivative of the cost"), v.ravel(), np.repeat(states, z.size),
                     A.ravel())
        moments.append(v @ w)
    weights = np.ones(N)
    P = _assemble(fam, drifts, weights, states, 1)
    chain = _finish(fam, P, moments[0], _LazyKernel(drifts, 2), weights, states, owner, boundary_tolerance)
    G, H = _contract(drifts, chain.h, 2)
    return chain, moments[1] + G, moments[2] + H
