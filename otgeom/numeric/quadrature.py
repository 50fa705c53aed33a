r"""Feature-resolving expectations under Gaussian laws: composite Gauss–Kronrod on scale-aware panels.

For :math:`\pi_s = \mathcal N(m_s, \Sigma_s)` write :math:`a = m_s + L_s U_s y` with :math:`L_sL_s^\top = \Sigma_s`,
:math:`U_s` orthogonal and :math:`y \sim \mathcal N(0, I_d)`, so that

.. math::
    \mathbb E_{\pi_s}[f] = \int_{\mathbb R^d} f(m_s + L_sU_s y)\,\prod_i \varphi(y_i)\,dy .

Each axis :math:`y_i \in [-T, T]` (T = 12 in d = 1, 9 in d = 2, 8 in d = 3) is cut into panels and every panel
carries the 21-point Kronrod rule K21 and the 10-point Gauss rule G10 embedded in it (two different rules on the
same nodes, QUADPACK's qk21).  The value is the tensor K21 rule; the error estimate of axis i is the difference
when axis i alone is integrated by G10 (the other axes by K21), summed over panels.  G10 is exact to degree 19,
K21 to degree 31, so on a panel that resolves the integrand :math:`|K - G|` bounds the error of G10 and
over-estimates that of K21 by orders of magnitude.

Where the panels come from (this is what makes the estimate honest):

* **feature hints**: the family's exp-of-quadratic factors :math:`e^{-(a-c)^\top H(a-c)}` (found in its own
  expressions by :func:`otgeom.families.features.feature_hints`).  In whitened coordinates a feature has
  precision :math:`L^\top H L`; :math:`U_s` is its eigenbasis (the narrowest feature of the state), so a
  bump narrow in one direction only is narrow along one axis, and that axis gets breakpoints at the
  feature centre :math:`\pm\{0, 1/2, 1, 2, 4, 8\}` widths.  A bump that falls between all Gauss–Hermite
  nodes therefore falls inside panels of its own width.
* **background panels** cover the Gaussian (width 2 in d = 1, 1.4 to 4.5 in d = 2, 1.5 to 4.5 in d = 3).
* **adaptive bisection**: the panels whose per-axis error is largest are bisected until every integrated
  component meets :math:`\mathrm{tol}\,(1 + \mathbb E|f|)`, or a node cap is hit (then the rule is returned
  with ``converged = False``; the outputs' bounds, :mod:`otgeom.numeric.witness`, still say how accurate they are).

Assumptions, stated: a family that declares no feature (no exp-of-quadratic factor) gets background panels
and bisection only, which cannot see a feature narrower than a panel that no node touches; the mass beyond
:math:`|y_i| > T` is bounded by :math:`2d\max|f|\,\varphi(T)/T` (:math:`4\cdot10^{-33}` for T = 12,
:math:`10^{-19}` for T = 8), which presumes that f grows at most polynomially beyond the nodes; several features narrow in different directions in one
state are aligned with the narrowest only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from otgeom.errors import PolicyError
from otgeom.numeric.policies import GaussianPolicy, WeightedPoints

__all__ = ["GaussianRule", "StateRule", "CachedPrimitives", "adapt_gaussian_rule", "kronrod21", "TAIL", "PANEL_NODES",
           "integrand_components", "component_layout"]

EPS = float(np.finfo(float).eps)
TAIL = 12.0

# Kronrod 21 / Gauss 10 on [-1, 1] (QUADPACK qk21); K21 is exact to degree 31, G10 to degree 19
_XK_HALF = np.array([0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
                     0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
                     0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
                     0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
                     0.294392862701460198131126603103866, 0.148874338981631210884826001129720, 0.0])
_WK_HALF = np.array([0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
                     0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
                     0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
                     0.123491976262065851077208980235005, 0.134709217311473325928054001771707,
                     0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
                     0.149445554002916905664936468389821])
_WG_HALF = np.array([0.0, 0.066671344308688137593568809893332, 0.0, 0.149451349150580593145776339657697, 0.0,
                     0.219086362515982043995534934228163, 0.0, 0.269266719309996355091226921569469, 0.0,
                     0.295524224714752870173892994651338, 0.0])
#: nodes per panel
PANEL_NODES = 21


def kronrod21() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes shape=[21] on [-1, 1], Kronrod weights, and Gauss-10 weights on the same nodes (0 at Kronrod-only nodes)."""
    x = np.concatenate([-_XK_HALF[:-1], _XK_HALF[::-1]])
    wk = np.concatenate([_WK_HALF[:-1], _WK_HALF[::-1]])
    wg = np.concatenate([_WG_HALF[:-1], _WG_HALF[::-1]])
    return x, wk, wg


_X, _WK, _WG = kronrod21()
#: background breakpoints (in standard deviations) per action dimension; the tail beyond them is bounded
_BACKGROUND = {1: np.linspace(-TAIL, TAIL, 13),
               2: np.array([-9, -4.5, -2.2, -0.8, 0.8, 2.2, 4.5, 9], float),
               3: np.array([-8, -3.5, -1.5, 0, 1.5, 3.5, 8], float)}
_FEATURE_OFFSETS = np.array([-8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8], float)
#: a feature wider than this (in standard deviations of the policy) is smooth for the background panels
_SMOOTH_WIDTH = 1.0


def _phi(y: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * y * y) / np.sqrt(2 * np.pi)


def _axis_rule(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite K21/G10 on the panels ``breaks``, times the standard normal density: nodes, wK, wG ([P*21])."""
    lo, hi = breaks[:-1], breaks[1:]
    c, r = 0.5 * (lo + hi), 0.5 * (hi - lo)
    y = (c[:, None] + r[:, None] * _X[None, :]).reshape(-1)
    dens = _phi(y)
    wk = (r[:, None] * _WK[None, :]).reshape(-1) * dens
    wg = (r[:, None] * _WG[None, :]).reshape(-1) * dens
    return y, wk, wg


def _whitened_features(features, mean: np.ndarray, L: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Features (objects with ``centre`` [d] and ``precision`` [d, d]) in whitened coordinates z = L^{-1}(a - m)."""
    out = []
    for f in features:
        c = np.asarray(f.centre, float)
        H = np.asarray(f.precision, float)
        Hz = L.T @ H @ L
        zc = np.linalg.solve(L, c - mean)
        if np.all(np.isfinite(Hz)) and np.all(np.isfinite(zc)):
            out.append((zc, 0.5 * (Hz + Hz.T)))
    return out


def _initial_breaks(d: int, wfeat, U: np.ndarray) -> list[np.ndarray]:
    """Background breakpoints of each axis plus, for every feature narrower than the policy, its scale ladder."""
    base = _BACKGROUND[min(d, 3)]
    lim = base[-1]
    breaks = [list(base) for _ in range(d)]
    for zc, Hz in wfeat:
        yc = U.T @ zc
        Hy = U.T @ Hz @ U
        for i in range(d):
            lam = Hy[i, i]
            if not lam > 0:
                continue
            width = 1.0 / np.sqrt(lam)
            if width >= _SMOOTH_WIDTH:
                continue
            pts = yc[i] + width * _FEATURE_OFFSETS
            breaks[i].extend(p for p in pts if -lim < p < lim)
    out = []
    for b in breaks:
        b = np.unique(np.asarray(b, float))
        keep = np.concatenate([[True], np.diff(b) > 1e-13 * lim])
        out.append(b[keep])
    return out


def _misaligned(wfeat, U: np.ndarray) -> str:
    """A phrase when a feature narrower than the policy is not aligned with the rule's axes (the tensor rule
    resolves narrow features along its axes only), else ""."""
    for zc, Hz in wfeat:
        Hy = U.T @ Hz @ U
        diag = np.sqrt(np.abs(np.diag(Hy)))
        off = np.abs(Hy - np.diag(np.diag(Hy)))
        if np.linalg.eigvalsh(Hz).max() * _SMOOTH_WIDTH ** 2 > 1 and off.max() > 1e-6 * max(1.0, np.outer(diag, diag).max()):
            return ("two features narrower than the policy lie in different directions; the tensor rule is aligned "
                    "with the narrowest only")
    return ""


def _rotation(d: int, wfeat) -> np.ndarray:
    """Eigenbasis of the narrowest feature's whitened precision (identity without features)."""
    if d == 1 or not wfeat:
        return np.eye(d)
    best = max(wfeat, key=lambda f: np.linalg.eigvalsh(f[1]).max())
    _, vecs = np.linalg.eigh(best[1])
    return vecs


def _tensor_nodes(ax) -> np.ndarray:
    """Tensor grid of the axes' nodes, y shape=[N, d] (first axis slowest)."""
    grids = np.meshgrid(*[a[0] for a in ax], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1)


@dataclass(frozen=True)
class StateRule:
    """One state's tensor rule in the coordinates y: per-axis breakpoints and the rotation U.

    ``error`` [k]: the estimate of the absolute quadrature error of each integrated component of
    :func:`integrand_components` (sum over axes and panels of |K - G|, plus the tail), at the policy the rule was
    adapted for; ``unverified``: why the rule cannot certify that it sees every feature ("" when it can).
    """

    breaks: tuple
    U: np.ndarray
    error: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unverified: str = ""

    def axes(self):
        return [_axis_rule(b) for b in self.breaks]

    def nodes(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Tensor nodes y shape=[N, d], Kronrod weights [N], and per axis the weights with that axis by Gauss."""
        ax = self.axes()
        d = len(ax)
        Y = _tensor_nodes(ax)
        wK = _outer([a[1] for a in ax])
        wG = [_outer([ax[j][2] if j == i else ax[j][1] for j in range(d)]) for i in range(d)]
        return Y, wK, wG


def _outer(ws: list[np.ndarray]) -> np.ndarray:
    out = ws[0]
    for w in ws[1:]:
        out = np.multiply.outer(out, w)
    return out.reshape(-1)


@dataclass(frozen=True)
class GaussianRule:
    """An adapted rule for a Gaussian policy: per state a :class:`StateRule` and its adaptation record.

    ``weighted_points(policy)`` maps it onto a Gaussian policy (the one it was adapted for, or a nearby one,
    e.g. along a push-forward curve, where the same y-rule gives a smooth function of the curve parameter).
    ``all_points(policy)`` gives it together with the rules that integrate one axis by G10: the same points,
    other weights.  ``component_error`` [n]: per state, the largest ratio of a component's estimated error to its
    budget (at most 1 when the rule met its target).
    """

    states: tuple
    converged: bool
    component_error: np.ndarray
    evaluations: int
    reason: str = ""

    @property
    def n_states(self) -> int:
        return len(self.states)

    def _per_state(self, policy: GaussianPolicy):
        if policy.n_states != self.n_states:
            raise PolicyError(f"rule has {self.n_states} states, policy {policy.n_states}")
        L = np.linalg.cholesky(policy.cov)
        per = []
        for s, st in enumerate(self.states):
            Y, wK, wG = st.nodes()
            A = policy.mean[s][None, :] + Y @ (L[s] @ st.U).T
            per.append((A, wK, wG))
        return per

    def weighted_points(self, policy: GaussianPolicy, variant: int | None = None) -> WeightedPoints:
        """The Kronrod tensor rule (variant None) or the rule with axis ``variant`` by Gauss, normalised per state.

        States with fewer nodes are padded with zero-weight copies of their mean, so that every state has
        the same number of points (what :class:`WeightedPoints` needs).
        """
        return self.all_points(policy)[0 if variant is None else variant + 1]

    def all_points(self, policy: GaussianPolicy) -> list[WeightedPoints]:
        """[Kronrod rule, Gauss-on-axis-0 rule, ...]: one points array shared by all (only the weights differ)."""
        per = self._per_state(policy)
        N = max(p[0].shape[0] for p in per)
        d = policy.action_dim
        pts = np.empty((self.n_states, N, d))
        wts = np.zeros((d + 1, self.n_states, N))
        for s, (A, wK, wG) in enumerate(per):
            k = A.shape[0]
            pts[s, :k] = A
            pts[s, k:] = policy.mean[s]
            for j, w in enumerate([wK, *wG]):
                wts[j, s, :k] = w / w.sum()
        return [WeightedPoints(pts, wts[j]) for j in range(d + 1)]

    @property
    def verified(self) -> bool:
        """True when every state's rule can vouch that it sees the family's features (see ``StateRule.unverified``)."""
        return not any(st.unverified for st in self.states)

    @property
    def nodes_per_state(self) -> list[int]:
        return [int(np.prod([PANEL_NODES * (len(b) - 1) for b in st.breaks])) for st in self.states]

    @property
    def panels_per_axis(self) -> list[list[int]]:
        return [[len(b) - 1 for b in st.breaks] for st in self.states]


class CachedPrimitives:
    """The family's primitives with their values memoised per (function, state, points array).

    The rules of one :class:`GaussianRule` share their points (:meth:`GaussianRule.all_points`), so the two-rule
    error estimate evaluates c, p and their derivatives once.  The cache holds a reference to every array it
    has seen (so no address is reused while it lives); make one per computation, never a global one.
    """

    def __init__(self, prims):
        self._prims = prims
        self._memo_table: dict = {}
        self.n_states = prims.n_states
        self.action_dim = prims.action_dim
        self.features = getattr(prims, "features", ())

    def _memo(self, key_name: str, compute, s: int, A: np.ndarray) -> np.ndarray:
        A = np.asarray(A)
        key = (key_name, s, A.__array_interface__["data"][0], A.shape, A.strides)
        hit = self._memo_table.get(key)
        if hit is None:
            hit = (A, compute(s, A))
            self._memo_table[key] = hit
        return hit[1]

    def _get(self, name: str, s: int, A: np.ndarray) -> np.ndarray:
        return self._memo(name, getattr(self._prims, name), s, A)

    def cost(self, s, A):
        return self._get("cost", s, A)

    def cost_grad(self, s, A):
        return self._get("cost_grad", s, A)

    def cost_hess(self, s, A):
        return self._get("cost_hess", s, A)

    def kernel(self, s, A):
        return self._get("kernel", s, A)

    def kernel_grad(self, s, A):
        return self._get("kernel_grad", s, A)

    def kernel_hess(self, s, A):
        return self._get("kernel_hess", s, A)

    def eval_error(self, which: str, s: int, A: np.ndarray) -> np.ndarray:
        """The running-error coefficient of ``which`` (see :meth:`otgeom.families.Primitives.eval_error`)."""
        if not hasattr(self._prims, "eval_error"):
            return 9 * np.abs(self._get(which, s, A))
        return self._memo("error:" + which, lambda s_, A_: self._prims.eval_error(which, s_, A_), s, A)


def component_layout(n: int, d: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """The integrated components, in column order: (short name, primitive, shape per point).

    The one definition of the column layout of :func:`integrand_components` and of ``StateRule.error``."""
    return [("c", "cost", ()), ("p", "kernel", (n,)), ("gc", "cost_grad", (d,)), ("gp", "kernel_grad", (n, d)),
            ("hc", "cost_hess", (d, d)), ("hp", "kernel_hess", (n, d, d))]


def integrand_components(prims, s: int, A: np.ndarray) -> np.ndarray:
    """The family's primitives stacked as columns [N, k] in the order of :func:`component_layout`."""
    N = A.shape[0]
    return np.concatenate([getattr(prims, fn)(s, A).reshape(N, -1)
                           for _, fn, _ in component_layout(prims.n_states, prims.action_dim)], axis=1)


def adapt_gaussian_rule(prims, policy: GaussianPolicy, features=None, tol: float = 1e-13,
                        max_nodes: int | None = None, max_iter: int = 40) -> GaussianRule:
    r"""Adapt a :class:`GaussianRule` to the family's primitives (c, p and their action derivatives) at ``policy``.

    ``features[s]`` is a list of :class:`Feature` (see :func:`otgeom.families.features.feature_hints`; the
    family's :class:`~otgeom.families.Primitives` carry them as ``prims.features``).  Every integrated component
    :math:`\mathbb E_{\pi_s}[f_k]` must satisfy :math:`\mathrm{err}_k \le \mathrm{tol}\,(1 + \mathbb E|f_k|)`,
    where err is the sum over axes and panels of :math:`|K - G|`, plus the tail estimate and the round-off of
    the sums (reported with the outputs, :mod:`otgeom.numeric.witness`, not used to steer the panels).  Panels with the largest error are bisected; when
    the nodes of one state would exceed ``max_nodes`` the rule stops with ``converged = False``.
    """
    if features is None:
        features = getattr(prims, "features", None) or [[] for _ in range(policy.n_states)]
    unlocated = getattr(prims, "unlocated", None) or [""] * policy.n_states
    n, d = policy.n_states, policy.action_dim
    L = np.linalg.cholesky(policy.cov)
    tol = max(tol, 64 * EPS)
    max_nodes = max_nodes or {1: 100_000, 2: 400_000}.get(d, 2_500_000)
    states, ratios, evals, reasons = [], np.zeros(n), 0, []
    converged = True
    for s in range(n):
        wfeat = _whitened_features(features[s], policy.mean[s], L[s])
        U = _rotation(d, wfeat)
        breaks = _initial_breaks(d, wfeat, U)
        M = L[s] @ U
        ok = False
        ratio = np.inf
        for _ in range(max_iter):
            ax = [_axis_rule(b) for b in breaks]
            sizes = [a[0].size for a in ax]
            A = policy.mean[s][None, :] + _tensor_nodes(ax) @ M.T
            with np.errstate(all="ignore"):
                F = integrand_components(prims, s, A)
            evals += A.shape[0]
            if not np.isfinite(F).all():
                bad = np.argwhere(~np.isfinite(F))[0]
                raise PolicyError(f"state {s}: the family's primitives are not finite at a = {A[bad[0]].tolist()} "
                                  f"(a quadrature node within {TAIL:g} standard deviations of the policy mean)")
            k = F.shape[1]
            V = F.reshape(*sizes, k)
            wk = [a[1] for a in ax]
            total = V
            absV = np.abs(V)
            for i in range(d):
                total = np.tensordot(wk[i], total, axes=(0, 0))
                absV = np.tensordot(wk[i], absV, axes=(0, 0))
            errs = []
            for i in range(d):
                R = _reduce_others(np.moveaxis(V, i, 0), [wk[j] for j in range(d) if j != i])
                diff = (ax[i][1] - ax[i][2])[:, None] * R
                errs.append(np.abs(diff.reshape(-1, PANEL_NODES, k).sum(axis=1)))
            # tail: |f| at the ends of each axis times the normal tail mass beyond T (polynomial growth assumed)
            lim = breaks[0][-1]
            tail = 2 * d * np.abs(V.reshape(-1, k)).max(axis=0) * _phi(np.array(lim)) / lim
            # the round-off of the sums is not reduced by refinement: it is reported with the
            # outputs' bounds (otgeom.numeric.witness), not used to drive the panels
            est = sum(e.sum(axis=0) for e in errs) + tail
            budget = tol * (1.0 + absV)
            ratio = float((est / budget).max())
            if ratio <= 1.0:
                ok = True
                break
            # bisect the panels carrying the most error (relative to the component budgets)
            scores = [(e / budget[None, :]).max(axis=1) for e in errs]
            top = max(sc.max() for sc in scores)
            new_breaks = []
            grow = 1
            for i in range(d):
                b = breaks[i]
                split = np.flatnonzero(scores[i] >= 0.25 * top)
                mids = 0.5 * (b[split] + b[split + 1])
                nb = np.sort(np.concatenate([b, mids]))
                new_breaks.append(nb)
                grow *= PANEL_NODES * (len(nb) - 1)
            if grow > max_nodes:
                reasons.append(f"state {s}: panel cap reached ({max_nodes} nodes) with estimated quadrature error "
                               f"{ratio:.2g} times the target")
                break
            if _ == max_iter - 1:
                reasons.append(f"state {s}: no convergence after {max_iter} refinements")
                break
            breaks = new_breaks
        converged &= ok
        ratios[s] = ratio
        why = [f"state {s}: {unlocated[s]}, whose features (their centres and widths) otgeom cannot locate, so no "
               "rule sampling it at finitely many nodes can certify that it saw them"] if unlocated[s] else []
        skew = _misaligned(wfeat, U)
        if skew:
            why.append(f"state {s}: {skew}")
        states.append(StateRule(tuple(breaks), U, est, "; ".join(why)))
    return GaussianRule(tuple(states), converged, ratios, evals, "; ".join(reasons))


def _reduce_others(R: np.ndarray, ws: list[np.ndarray]) -> np.ndarray:
    """Contract axes 1..len(ws) of R [N_i, N_j..., k] with the weights ws, in order -> [N_i, k]."""
    for w in ws:
        R = np.tensordot(R, w, axes=(1, 0))
    return R
