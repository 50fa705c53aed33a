r"""Methods compared: policy-gradient methods on the same policies, with exact gradients (THEORY.md section 8).

Every method minimises the same :class:`Objective`, J in the coordinates θ of the policy family (finite families:
Gaussian per state; ``lq``: the gain K with Σ fixed; grid families: Gaussian per cell), with its exact gradient
(closed forms: no sampling noise), and steps

.. math::
    \theta_{k+1} = \theta_k - \eta_k\, d_k,\qquad d_k = M(\theta_k)\,\partial J/\partial\theta(\theta_k),

the methods differing only in the map M:

* ``euclidean``: M = I, plain gradient descent on θ;
* ``fisher``: M = F(θ)⁻¹, Kakade's natural policy gradient, F the Fisher information of the policy weighted by the
  stationary law (d = 1: :math:`F = \rho_s\,\mathrm{diag}(1/\sigma_s^2, 2/\sigma_s^2)`; in (m, Σ):
  :math:`\rho_s\Sigma_s^{-1}` and :math:`\tfrac12\rho_s\mathrm{tr}(\Sigma_s^{-1}\dot\Sigma\Sigma_s^{-1}\dot\Sigma)`;
  ``lq``: :math:`\mathrm{tr}(\dot K X \dot K^\top\Sigma^{-1})`);
* ``wasserstein``: M = G(θ)⁻¹, the projected Wasserstein flow Euler-discretised (d = 1: :math:`G = \rho_s I`; d > 1:
  Bures on Σ_s; ``lq``: :math:`\mathrm{tr}(\dot K X\dot K^\top)`);
* ``wpo``: Wasserstein Policy Optimization (Pfau et al., 2025): the direction
  :math:`w = \mathbb{E}_{s\sim\rho,\,a\sim\pi_s}[\nabla_\theta(\nabla_a\log\pi_\theta(a|s))^\top\nabla_aQ(s,a)]`,
  preconditioned by the diagonal of the Fisher information, :math:`d = \mathrm{diag}(F)^{-1}w`.  On Gaussian
  policies :math:`w` is a linear map of :math:`\partial J/\partial\theta` (Stein's lemma): d = 1,
  :math:`w = \mathrm{diag}(1/\sigma_s^2, 2/\sigma_s^2)\,\partial J/\partial\theta`, so there ``wpo`` *is* the
  Wasserstein step (F is diagonal); (m, Σ): :math:`w_m = \Sigma_s^{-1}\partial J/\partial m_s`,
  :math:`w_{\Sigma} = 2\,\mathrm{tr}(E\,\Sigma_s^{-1}\,\partial J/\partial\Sigma_s)`; ``lq``:
  :math:`w = \Sigma^{-1}\partial J/\partial K`.  The tests check w against quadrature of the definition;
* ``newton``: Riemannian Newton (d = 1: the symbolic :math:`\mathrm{Hess}_{\rm sub}`; d > 1: the coordinate
  Hessian by central differences of the exact gradient, which agrees with it to second order at a critical point;
  where it is not positive definite, its |eigenvalue| modification); ``hewer`` (``lq``): K ← K − M⁻¹E_K.

Step rule, the same for every method: Armijo backtracking on the exact J from η₀ = 1, halving until
:math:`J(\theta - \eta d) \le J(\theta) - 10^{-4}\eta\,\partial J\cdot d` and the new point is a policy; where the
decrease :math:`\eta\,\partial J\cdot d` is below :data:`J_RESOLUTION` (J cannot resolve it in float64) a step that
lowers the gradient norm in the method's metric is accepted instead.  Stopping:
the gradient norm in the method's own metric, :math:`\sqrt{\partial J\cdot d}`, at most ``grad_tol``
max(1, |J_0|) (J_0 at the start; default 1e-12), or ``max_iter`` iterations.

Predicted rate (first-order methods): near a non-degenerate minimum θ* the step settles at a constant η and the
error obeys :math:`\theta_{k+1} - \theta^* \approx (I - \eta M(\theta^*)H)(\theta_k - \theta^*)`, H the coordinate
Hessian at θ*; the predicted contraction per iteration is the spectral radius q of that matrix and the predicted
rate is :math:`-\log q` (J − J* contracts by q²).  The measured rate is a log-linear fit of
:math:`\|\theta_k - \theta^*\|` over the iterations where it lies in [1e-11, 1e-4] and the step is that η.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from otgeom.errors import OtgeomError, ParameterError

__all__ = ["Objective", "Run", "MethodResult", "METHODS", "FIRST_ORDER", "gaussian_objective", "lq_objective",
           "objective", "run_method", "compare", "Comparison", "fisher_matrix",
           "wpo_direction", "fisher_natural_direction", "wasserstein_natural_direction"]

#: first-order methods (a metric or preconditioner M), then the second-order ones
FIRST_ORDER = ("euclidean", "fisher", "wasserstein", "wpo")
METHODS = FIRST_ORDER + ("newton", "hewer")
#: Armijo constant and the first step tried
ARMIJO_C, ETA0 = 1e-4, 1.0
#: the J gap the table reports iterations and time to
GAP_TARGET = 1e-8
#: below this decrease (relative to max(1, |J|)) J cannot tell a good step from a bad one in float64: there a step
#: is accepted when it lowers the gradient norm in the method's metric instead (the Armijo test would halve without
#: end; near a minimum both tests accept the same steps, |1 - eta lambda| < 1)
J_RESOLUTION = 1e-13


@dataclass(frozen=True)
class Objective:
    """J(θ) with its exact gradient and the maps M(θ) of the methods.

    ``directions[name](theta, grad) -> d`` for each first-order method; ``hessian(theta)`` the coordinate Hessian
    (exact or by central differences of the exact gradient); ``newton_hessian(theta)`` the Hessian Newton uses;
    ``feasible(theta)`` whether θ is a policy (σ ≠ 0, Σ positive definite, K stabilising); ``optimum`` the known
    optimum (θ*, J*) when there is an outside reference (the DARE for ``lq``), else None.
    """

    label: str
    kind: str
    theta0: np.ndarray
    J: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    directions: dict
    hessian: Callable[[np.ndarray], np.ndarray]
    newton_hessian: Callable[[np.ndarray], np.ndarray]
    feasible: Callable[[np.ndarray], bool]
    coordinates: tuple[str, ...]
    optimum: tuple[np.ndarray, float] | None = None
    hewer: Callable[[np.ndarray], np.ndarray] | None = None
    spread: Callable[[np.ndarray], float] | None = None
    notes: dict = field(default_factory=dict)


# ------------------------------------------------------------------ Gaussian policies on finite families
def _blocks(n: int, d: int) -> tuple[int, np.ndarray]:
    """Coordinates per state and the upper-triangle index of Σ (d > 1)."""
    return d + (1 if d == 1 else d * (d + 1) // 2), np.triu_indices(d)


def _sym_basis(d: int) -> list[np.ndarray]:
    """E for each upper-triangle coordinate of Σ: E_ii, and E_ij + E_ji for i < j."""
    out = []
    for i, j in zip(*np.triu_indices(d)):
        E = np.zeros((d, d))
        E[i, j] = E[j, i] = 1.0
        out.append(E)
    return out


def _unpack(theta: np.ndarray, n: int, d: int):
    """Per state (m_s [d], sigma_s or Sigma_s)."""
    k, iu = _blocks(n, d)
    out = []
    for s in range(n):
        b = theta[s * k:(s + 1) * k]
        if d == 1:
            out.append((b[:1], float(b[1])))
        else:
            S = np.zeros((d, d))
            S[iu] = b[d:]
            out.append((b[:d], S + np.triu(S, 1).T))
    return out


def fisher_matrix(theta: np.ndarray, rho: np.ndarray, n: int, d: int) -> np.ndarray:
    r"""The ρ-weighted Fisher information of the Gaussian policy in the coordinates θ (block diagonal over states).

    d = 1, (m, σ): :math:`\rho_s\,\mathrm{diag}(1/\sigma^2, 2/\sigma^2)`.  d > 1, (m, upper(Σ)):
    :math:`\rho_s\Sigma^{-1}` on m and :math:`\tfrac12\rho_s\,\mathrm{tr}(\Sigma^{-1}E_a\Sigma^{-1}E_b)` on Σ."""
    k, _ = _blocks(n, d)
    F = np.zeros((n * k, n * k))
    basis = _sym_basis(d) if d > 1 else []
    for s, (m, S) in enumerate(_unpack(theta, n, d)):
        o = s * k
        if d == 1:
            F[o, o], F[o + 1, o + 1] = rho[s] / S ** 2, 2 * rho[s] / S ** 2
            continue
        Si = np.linalg.inv(S)
        F[o:o + d, o:o + d] = rho[s] * Si
        for a, Ea in enumerate(basis):
            for b, Eb in enumerate(basis):
                F[o + d + a, o + d + b] = 0.5 * rho[s] * np.trace(Si @ Ea @ Si @ Eb)
    return F


def fisher_natural_direction(rho: np.ndarray, policy, grad: np.ndarray) -> np.ndarray:
    r"""Kakade's natural gradient :math:`F(\theta)^{-1}\partial J/\partial\theta` in the coordinates of
    :meth:`GaussianPolicy.coordinates` (claim ``fisher-natural-gradient``)."""
    n, d = policy.mean.shape
    return np.linalg.solve(fisher_matrix(policy.coordinates(), np.asarray(rho, float), n, d), grad)


def wasserstein_natural_direction(rho: np.ndarray, policy, grad: np.ndarray) -> np.ndarray:
    r"""The Wasserstein natural gradient :math:`G(\theta)^{-1}\partial J/\partial\theta`, G the metric of
    :func:`otgeom.numeric.geometry.gaussian_metric_matrix` (claim ``wasserstein-natural-gradient``)."""
    from otgeom.numeric.geometry import gaussian_metric_matrix

    return np.linalg.solve(gaussian_metric_matrix(np.asarray(rho, float), policy), grad)


def wpo_direction(theta: np.ndarray, grad: np.ndarray, n: int, d: int) -> np.ndarray:
    r"""The WPO vector :math:`w = \mathbb{E}[\nabla_\theta(\nabla_a\log\pi)^\top\nabla_aQ]` from the exact
    :math:`\partial J/\partial\theta` by Stein's lemma (the module docstring); the tests compare it with quadrature
    of the definition."""
    k, _ = _blocks(n, d)
    w = np.empty_like(grad)
    basis = _sym_basis(d) if d > 1 else []
    for s, (m, S) in enumerate(_unpack(theta, n, d)):
        o = s * k
        g = grad[o:o + k]
        if d == 1:
            w[o], w[o + 1] = g[0] / S ** 2, 2 * g[1] / S ** 2
            continue
        Si = np.linalg.inv(S)
        w[o:o + d] = Si @ g[:d]
        # dJ = sum_s tr(Gs dSigma_s): Gs from the upper-triangle gradient (off-diagonal entries counted twice)
        Gs = np.zeros((d, d))
        for a, (i, j) in enumerate(zip(*np.triu_indices(d))):
            Gs[i, j] = Gs[j, i] = g[d + a] if i == j else g[d + a] / 2
        for a, E in enumerate(basis):
            w[o + d + a] = 2 * np.trace(E @ Si @ Gs)
    return w


def _keyed(fn, key, th):
    return fn(th, key)


def gaussian_objective(family, theta0: np.ndarray | None = None) -> Objective:
    """The :class:`Objective` of a finite family in the Gaussian coordinates (the closed-form derivations).

    RegularityError when R1, R2 or R3 fails for every policy (J or its gradient is not defined everywhere);
    ExpressionError outside the closed-form class."""
    from otgeom.analysis import central_hessian, reference_policy
    from otgeom.errors import ExpressionError, RegularityError
    from otgeom.numeric.policies import GaussianPolicy
    from otgeom.regularity import family_certificates
    from otgeom.symbolic.chain import gaussian_coordinates
    from otgeom.symbolic.geometry import first_order

    failed = family_certificates(family).failed(("R1", "R2", "R3"))
    if failed:
        c = failed[0]
        raise RegularityError(f"{family.label}: the methods are compared where J and its gradient are defined for "
                              f"every policy; {c.name} ({c.assumption}) fails: {c.statement}",
                              assumption=c.assumption, decided=True)
    try:
        D = first_order(family)
    except ExpressionError as exc:
        raise ExpressionError(f"{family.label}: compare needs the closed-form class (exact J, gradient and "
                              f"Hessian): {exc}") from None
    n, d = family.n_states, family.action_dim
    params = [float(v) for v in family.parameter_values()]
    fJ, fg, frho = D.evaluator(["J"]), D.evaluator(["dJ_dtheta"]), D.evaluator(["rho"])
    theta0 = reference_policy(family).coordinates() if theta0 is None else np.asarray(theta0, float)

    def J(th):
        return float(fJ(*params, *th)["J"])

    def grad(th):
        return np.asarray(fg(*params, *th)["dJ_dtheta"], float).ravel()

    def rho(th):
        return np.asarray(frho(*params, *th)["rho"], float).ravel()

    def policy(th):
        return GaussianPolicy.from_coordinates(th, n, d)

    def feasible(th):
        if not np.all(np.isfinite(th)):
            return False
        if d == 1:
            return bool(np.all(th[1::d + 1] != 0))
        return all(np.linalg.eigvalsh(S).min() > 0 for _, S in _unpack(th, n, d))

    def wasserstein(th, g):
        return wasserstein_natural_direction(rho(th), policy(th), g)

    def fisher(th, g):
        return fisher_natural_direction(rho(th), policy(th), g)

    def wpo(th, g):
        return wpo_direction(th, g, n, d) / np.diag(fisher_matrix(th, rho(th), n, d))

    def fd_hessian(th):
        return central_hessian(grad, th)

    hessian = newton_hessian = fd_hessian
    if d == 1:
        cache: dict = {}

        def second(th, key):
            """The symbolic Hessians, derived on first use; where that fails, central differences (said once)."""
            if "f2" not in cache:
                from otgeom.symbolic.second_order import second_order

                try:
                    cache["f2"] = second_order(family).evaluator(["hessian_coords", "hessian_riemannian"])
                except (OtgeomError, KeyError, ValueError, TypeError, ZeroDivisionError) as exc:
                    cache["f2"] = None
                    notes["newton"] = f"Newton with central differences of the exact gradient (no symbolic Hessian: {exc})"
            if cache["f2"] is None:
                return fd_hessian(th)
            return np.asarray(cache["f2"](*params, *th, *([0.0] * (2 * n)))[key], float)

        hessian = functools.partial(_keyed, second, "hessian_coords")
        newton_hessian = functools.partial(_keyed, second, "hessian_riemannian")

    def spread(th):
        """The smallest standard deviation of the policy (d > 1: square root of the smallest eigenvalue of Σ_s)."""
        if d == 1:
            return float(np.abs(th[1::2]).min())
        return float(np.sqrt(max(min(np.linalg.eigvalsh(S).min() for _, S in _unpack(th, n, d)), 0.0)))

    names = tuple(str(x) for x in gaussian_coordinates(n, d)[2])
    notes = {"d": d, "newton": "Riemannian Newton (symbolic Hess_sub)" if d == 1 else
             "Newton with the coordinate Hessian (central differences of the exact gradient; Hess_sub to second "
             "order at a critical point)"}
    return Objective(family.label, "finite", theta0, J, grad,
                     {"euclidean": lambda th, g: g, "fisher": fisher, "wasserstein": wasserstein, "wpo": wpo},
                     hessian, newton_hessian, feasible, names, spread=spread, notes=notes)


# ------------------------------------------------------------------ LQ
def lq_objective(family, K0: np.ndarray | None = None, sigma2: float = 1.0) -> Objective:
    r"""The LQ family in θ = vec(K) (row-major), with Σ = ``sigma2`` I held fixed (THEORY.md section 8): J(K), its
    gradient :math:`2E_KX`, the metrics :math:`I\otimes X` (Wasserstein) and :math:`\Sigma^{-1}\otimes X` (Fisher), the
    WPO direction :math:`\mathrm{diag}(\Sigma^{-1}\otimes X)^{-1}\Sigma^{-1}\partial J/\partial K`, Hewer's step, and
    the DARE optimum as the outside reference (K* does not depend on Σ)."""
    from otgeom.numeric.lq import LQPolicy, hessian_vector_K, lq_optimum, lq_point, riemannian_hessian_matrix_K
    from otgeom.numeric.lq_solvers import stabilising_gain

    m, n = family.m, family.n
    if not (np.isfinite(sigma2) and sigma2 > 0):
        raise ParameterError(f"sigma2 = {sigma2!r} must be a positive number")
    Sigma = sigma2 * np.eye(m)
    K0 = stabilising_gain(family) if K0 is None else np.atleast_2d(np.asarray(K0, float))
    opt = lq_optimum(family)

    def point(th):
        return lq_point(family, LQPolicy(th.reshape(m, n), Sigma))

    def J(th):
        return float(point(th).J)

    def parts(th):
        p = point(th)
        M = family.R + family.B.T @ p.P @ family.B
        E = M @ th.reshape(m, n) - family.B.T @ p.P @ family.A
        return p, M, E

    def grad(th):
        p, _, E = parts(th)
        return (2 * E @ p.X).ravel()

    def feasible(th):
        if not np.all(np.isfinite(th)):
            return False
        return float(np.abs(np.linalg.eigvals(family.A - family.B @ th.reshape(m, n))).max()) < 1

    def wasserstein(th, g):
        X = point(th).X
        return np.linalg.solve(X, g.reshape(m, n).T).T.ravel()  # g X^-1 (X symmetric)

    def fisher(th, g):
        return (Sigma @ wasserstein(th, g).reshape(m, n)).ravel()

    def wpo(th, g):
        X = point(th).X
        w = np.linalg.solve(Sigma, g.reshape(m, n))
        diagF = np.outer(np.diag(np.linalg.inv(Sigma)), np.diag(X))
        return (w / diagF).ravel()

    def hessian(th):  # exact: one Hessian-vector product (two Stein solves) per column
        p = point(th)
        H = np.column_stack([hessian_vector_K(p, e.reshape(m, n)).ravel() for e in np.eye(m * n)])
        return 0.5 * (H + H.T)

    def newton_hessian(th):
        return riemannian_hessian_matrix_K(point(th))

    def hewer(th):
        _, M, E = parts(th)
        return np.linalg.solve(M, E).ravel()

    names = tuple(f"K[{i},{j}]" for i in range(m) for j in range(n))
    return Objective(family.label, "lq", K0.ravel().astype(float), J, grad,
                     {"euclidean": lambda th, g: g, "fisher": fisher, "wasserstein": wasserstein, "wpo": wpo},
                     hessian, newton_hessian, feasible, names, optimum=(opt.K.ravel(), float(J(opt.K.ravel()))),
                     hewer=hewer, notes={"sigma2": sigma2, "newton": "Riemannian Newton in K (the Levi-Civita "
                                                                       "Hessian of the metric tr(dK X dK^T))"})


#: grid objectives: the Hessian (for the predicted rates and Newton) by central differences costs 2 chains per
#: coordinate; above this many coordinates (2 per cell) it is not computed and the rows say so
GRID_HESSIAN_LIMIT = 400


def grid_objective(family, theta0: np.ndarray | None = None) -> Objective:
    r"""A grid family (THEORY.md section 6) with a Gaussian policy per cell, :math:`\theta = (m_i, s_i)_i` (the layout
    of the finite families, d = 1), from the family's initial policy.

    J and :math:`\mathbb E[\partial_aQ]`, :math:`\mathbb E[\partial_a^2Q]` per cell in closed form
    (:func:`otgeom.numeric.grid.gaussian_grid_chain`; needs a drift affine in a and a polynomial cost, else
    ParameterError): :math:`\partial J/\partial m_i = \rho_i\mathbb E[\partial_aQ]`,
    :math:`\partial J/\partial s_i = \rho_i s_i\mathbb E[\partial_a^2Q]` (checked by the claim
    ``grid-gaussian-gradient``).  J is even in each :math:`s_i`.  The Hessian is central differences of that gradient,
    up to :data:`GRID_HESSIAN_LIMIT` coordinates."""
    import warnings

    from otgeom.analysis import central_hessian
    from otgeom.errors import GridWarning
    from otgeom.numeric.grid import gaussian_grid_chain

    N = family.n_states
    if family.affine_axis is None or family.cost_degree is None:
        raise ParameterError(f"{family.label}: methods are compared on grid families with a closed-form Gaussian chain "
                             "(a drift affine in a and a cost polynomial in a); this one has none")
    mean, std = family.initial_policy()
    if theta0 is None:
        theta0 = np.empty(2 * N)
        theta0[0::2], theta0[1::2] = mean, std
    cache: dict = {}

    def chain(th):
        key = th.tobytes()
        if cache.get("key") != key:
            with warnings.catch_warnings():  # boundary mass: the grid report states it
                warnings.simplefilter("ignore", GridWarning)
                cache["key"], cache["value"] = key, gaussian_grid_chain(family, th[0::2], np.abs(th[1::2]))
        return cache["value"]

    def J(th):
        return float(chain(th)[0].J)

    def grad(th):
        ch, E1, E2 = chain(th)
        g = np.empty_like(th)
        g[0::2], g[1::2] = ch.rho * E1, ch.rho * th[1::2] * E2
        return g

    def rho(th):
        return np.asarray(chain(th)[0].rho, float)

    def wasserstein(th, g):
        r = np.repeat(rho(th), 2)
        return g / r

    def fisher(th, g):
        return np.linalg.solve(fisher_matrix(th, rho(th), N, 1), g)

    def wpo(th, g):
        return wpo_direction(th, g, N, 1) / np.diag(fisher_matrix(th, rho(th), N, 1))

    def hessian(th):
        if th.size > GRID_HESSIAN_LIMIT:
            raise OtgeomError(f"{family.label}: {th.size} coordinates, so the Hessian by central differences would "
                              f"take {2 * th.size} chains (the limit is {GRID_HESSIAN_LIMIT} coordinates)")
        return central_hessian(grad, th)

    def feasible(th):
        return bool(np.all(np.isfinite(th)) and np.all(th[1::2] != 0))

    names = tuple(f"{c}_{i}" for i in range(N) for c in ("m", "s"))
    return Objective(family.label, "grid", np.asarray(theta0, float), J, grad,
                     {"euclidean": lambda th, g: g, "fisher": fisher, "wasserstein": wasserstein, "wpo": wpo},
                     hessian, hessian, feasible, names, spread=lambda th: float(np.abs(th[1::2]).min()),
                     notes={"d": 1, "newton": "Newton with the coordinate Hessian (central differences of the exact "
                                              "gradient; the Riemannian Hessian at a critical point)"})


def objective(family, **kw) -> Objective:
    """:func:`gaussian_objective`, :func:`lq_objective` or :func:`grid_objective` by the family's kind."""
    from otgeom.families.protocol import supports

    kind = supports(family).kind
    if kind == "finite":
        return gaussian_objective(family, **kw)
    if kind == "lq":
        return lq_objective(family, **kw)
    return grid_objective(family, **kw)


# ------------------------------------------------------------------ running a method
@dataclass(frozen=True)
class Run:
    """What one method did: iterates θ_k, J_k, the gradient norm in its metric, accepted steps η_k, the time since
    the start after each iteration, why it stopped, and whether it converged (gradient norm ≤ tolerance)."""

    method: str
    theta: np.ndarray
    J: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    seconds: np.ndarray
    converged: bool
    reason: str

    @property
    def iterations(self) -> int:
        return len(self.J) - 1


def _direction(obj: Objective, method: str, th: np.ndarray, g: np.ndarray) -> np.ndarray:
    if method in obj.directions:
        return obj.directions[method](th, g)
    if method == "newton":
        from otgeom.numeric.newton import newton_direction

        H = obj.newton_hessian(th)
        eta, _, _ = newton_direction(H, np.eye(len(th)), g)
        return -eta
    if method == "hewer":
        if obj.hewer is None:
            raise ParameterError(f"{obj.label}: Hewer's iteration is for the lq family")
        return obj.hewer(th)
    raise ParameterError(f"unknown method {method!r}; known: {', '.join(METHODS)}")


def _J_or_none(obj: Objective, th: np.ndarray) -> float | None:
    """J at ``th``, or None where the objective refuses the point (e.g. a grid chain whose kernel windows would
    span too many cells): a trial step there counts as leaving the policy family."""
    try:
        return obj.J(th)
    except OtgeomError:
        return None


def run_method(obj: Objective, method: str, max_iter: int = 2000, grad_tol: float = 1e-12,
               fixed_step: float | None = None) -> Run:
    r"""Run ``method`` on ``obj`` from ``obj.theta0`` (Armijo from η₀ = 1; first-order methods with ``fixed_step``
    take that step every iteration and stop, saying so, when it leaves the policy family or J blows up; Hewer takes
    the full step, Newton keeps Armijo).  Stops when :math:`\sqrt{\partial J\cdot d} \le` ``grad_tol``
    max(1, |J_0|) (J_0 at the start) or after ``max_iter`` iterations; a direction that is not a descent direction,
    or no feasible step above 1e-20, stops it with the reason."""
    th = obj.theta0.copy()
    t0 = time.perf_counter()
    thetas, Js, gns, etas, secs = [th.copy()], [obj.J(th)], [], [], [0.0]
    reason, converged = f"stopped after max_iter = {max_iter} iterations", False
    for _ in range(max_iter + 1):
        g = obj.grad(th)
        try:
            d = _direction(obj, method, th, g)
        except (np.linalg.LinAlgError, ValueError, OtgeomError) as exc:
            reason = f"the direction could not be computed: {exc}"
            break
        slope = float(g @ d)
        gns.append(float(np.sqrt(max(slope, 0.0))))
        if not (np.isfinite(slope) and np.isfinite(Js[-1])):
            reason = "J or the direction is not finite"
            break
        if slope < 0 or (slope == 0 and np.any(g != 0)):  # checked before convergence: sqrt(max(slope, 0)) is 0 here
            reason = f"not a descent direction (dJ . d = {slope:.3g})"
            break
        if gns[-1] <= grad_tol * max(1.0, abs(Js[0])):
            reason, converged = f"gradient norm {gns[-1]:.2g} <= {grad_tol:g} max(1, |J_0|) in its metric", True
            break
        if len(Js) > max_iter:
            break
        fixed = fixed_step is not None and method in FIRST_ORDER
        eta = fixed_step if fixed else (1.0 if method == "hewer" else ETA0)
        J0 = Js[-1]
        floor = J_RESOLUTION * max(1.0, abs(J0))
        if fixed:
            new = th - eta * d
            Jn = _J_or_none(obj, new) if obj.feasible(new) else None
            if Jn is None:
                reason = f"the fixed step {eta:g} leaves the policy family at iteration {len(Js) - 1}"
                break
            if not np.isfinite(Jn) or Jn > Js[0] + 1e6 * max(1.0, abs(Js[0])):
                reason = f"the fixed step {eta:g} diverges (J = {Jn:.3g} at iteration {len(Js)})"
                break
        while not fixed:
            new = th - eta * d
            Jn = _J_or_none(obj, new) if obj.feasible(new) else None
            if Jn is not None:
                if method == "hewer":
                    break
                if eta * slope > floor:
                    if Jn <= J0 - ARMIJO_C * eta * slope:
                        break
                else:  # J cannot resolve this decrease (its round-off decides the test): the gradient norm does
                    try:
                        gn = obj.grad(new)
                        lower = float(np.sqrt(max(gn @ _direction(obj, method, new, gn), 0.0))) < gns[-1]
                    except (np.linalg.LinAlgError, ValueError, OtgeomError):
                        lower = False
                    if lower:
                        break
            eta /= 2
            if eta < 1e-20:
                break
        if eta < 1e-20:
            reason = ("the fixed step is below 1e-20" if fixed else "no step above 1e-20 decreases J (Armijo)")
            break
        th = new
        thetas.append(th.copy())
        Js.append(Jn)
        etas.append(eta)
        secs.append(time.perf_counter() - t0)
    k = len(Js)
    gns = (gns + [np.nan] * k)[:k]
    return Run(method, np.array(thetas), np.array(Js), np.array(gns), np.array(etas), np.array(secs), converged,
               reason)


def _polish(obj: Objective, th: np.ndarray, steps: int = 8) -> np.ndarray:
    """A few Newton steps from ``th`` (the limit of a converged run, to round-off): they stop once a step is at the
    round-off level of θ, or where the Hessian is not available or the step leaves the family."""
    for _ in range(steps):
        g = obj.grad(th)
        if not np.all(np.isfinite(g)):
            break
        try:
            step = np.linalg.solve(obj.hessian(th), g)
        except (np.linalg.LinAlgError, OtgeomError):
            break
        new = th - step
        if not obj.feasible(new):
            break
        th = new
        if np.abs(step).max() <= 1e-14 * max(1.0, float(np.abs(th).max())):
            break
    return th


@dataclass(frozen=True)
class MethodResult:
    """One row of a comparison: the run, iterations and seconds to the J gap :data:`GAP_TARGET` (None: not
    reached), the final gap, the limit θ* it approaches, the eigenvalues μ of M(θ*)H(θ*), the steps η the rule took
    in the rate window, the predicted and measured mean rates per iteration there (first-order methods; None where
    the window is too short or the method does not converge linearly), the convergence order (second-order
    methods), and what went wrong, if anything."""

    method: str
    run: Run
    iterations_to_gap: int | None
    seconds_to_gap: float | None
    final_gap: float | None
    theta_star: np.ndarray | None
    mu: np.ndarray | None
    steps: tuple[float, ...]
    predicted_rate: float | None
    measured_rate: float | None
    norm_rate: float | None
    order: float | None
    note: str

    def to_json(self) -> dict:
        return {"method": self.method, "converged": self.run.converged, "reason": self.run.reason,
                "iterations": self.run.iterations, "iterations_to_gap": self.iterations_to_gap,
                "seconds_to_gap": self.seconds_to_gap, "seconds": float(self.run.seconds[-1]),
                "final_J": float(self.run.J[-1]), "final_gap": self.final_gap, "steps": list(self.steps),
                "spectrum": None if self.mu is None else [[float(z.real), float(z.imag)] for z in self.mu],
                "predicted_rate": self.predicted_rate, "norm_rate": self.norm_rate,
                "measured_rate": self.measured_rate, "order": self.order, "note": self.note}


#: the error window of the rate measurement: from the first iterate with max|θ - θ*| below RATE_WINDOW[1] to the last
#: one above RATE_WINDOW[0] (after the transient, before round-off), at least RATE_MIN_STEPS steps
RATE_WINDOW, RATE_MIN_STEPS = (1e-11, 1e-4), 4


def rate_window(run: Run, theta_star: np.ndarray) -> tuple[int, int] | None:
    """(a, b): the iterations of the rate measurement (see :data:`RATE_WINDOW`), or None when too short."""
    e = np.abs(run.theta - theta_star).max(axis=1)
    below = np.flatnonzero(e < RATE_WINDOW[1])
    above = np.flatnonzero(e > RATE_WINDOW[0])
    if not below.size or not above.size:
        return None
    a, b = int(below[0]), int(above[-1])
    return (a, b) if b - a >= RATE_MIN_STEPS else None


def predicted_rate(mu: np.ndarray, steps: np.ndarray) -> float:
    r"""The mean rate per iteration of the linearised iteration over ``steps``:
    :math:`-\frac1N\log\max_i\prod_k|1 - \eta_k\mu_i|` (the matrices :math:`I - \eta_kMH` commute, so this is
    exact for the linearisation; with one step size it is :math:`-\log\max_i|1 - \eta\mu_i|`)."""
    logs = np.sum(np.log(np.abs(1 - np.outer(steps, mu))), axis=0)
    return float(-logs.max() / len(steps))


def norm_rate(run: Run, theta_star: np.ndarray, window: tuple[int, int]) -> float:
    """The mean rate per iteration of max|θ_k - θ*| over ``window``: -log(e_b / e_a) / (b - a).  Over a short
    window (a fast method) it mixes the modes' rates; :func:`mode_rates` separates them."""
    e = np.abs(run.theta - theta_star).max(axis=1)
    a, b = window
    return float(-np.log(e[b] / e[a]) / (b - a))


#: a mode carries error at the start of the window when its component is at least this share of the largest one
MODE_SHARE = 1e-6


def mode_rates(A: np.ndarray, run: Run, theta_star: np.ndarray, window: tuple[int, int]):
    r"""(predicted, measured, μ, skipped) for the slowest mode that carries error.

    The linearised iteration :math:`e_{k+1} = (I - \eta_kA)e_k`, A = M(θ*)H(θ*), acts on the component
    :math:`c_i = l_i^\top e` along each left eigenvector (:math:`l_i^\top A = \mu_i l_i^\top`) as
    :math:`c_i \leftarrow (1 - \eta_k\mu_i)c_i`.  Predicted: :func:`predicted_rate` of μ_i over the steps taken;
    measured: :math:`-\frac1N\log|c_i(b)/c_i(a)|` from the actual iterates.  The mode is the slowest one whose
    component at the start is at least :data:`MODE_SHARE` of the largest (a mode with no error, e.g. by symmetry,
    sets no rate); ``skipped`` lists the slower modes left out that way."""
    mu, V = np.linalg.eig(A.T)
    a, b = window
    taken = run.steps[a:b]
    e_a, e_b = run.theta[a] - theta_star, run.theta[b] - theta_star
    c_a, c_b = np.abs(V.T @ e_a), np.abs(V.T @ e_b)
    pred = np.array([predicted_rate(np.array([x]), taken) for x in mu])
    carries = c_a >= MODE_SHARE * c_a.max()
    order = np.argsort(pred)
    i = next(j for j in order if carries[j])
    skipped = [complex(mu[j]) for j in order if pred[j] < pred[i] and not carries[j]]
    return float(pred[i]), float(-np.log(c_b[i] / c_a[i]) / (b - a)), complex(mu[i]), skipped


@dataclass(frozen=True)
class Comparison:
    """Every method on one objective: J* (Newton's limit, or the outside reference), θ*, and a
    :class:`MethodResult` per method."""

    label: str
    kind: str
    J_star: float | None
    theta_star: np.ndarray | None
    reference: str
    results: tuple[MethodResult, ...]

    def to_json(self) -> dict:
        return {"family": self.label, "kind": self.kind, "J_star": self.J_star, "reference": self.reference,
                "theta_star": None if self.theta_star is None else self.theta_star.tolist(), "gap_target": GAP_TARGET,
                "methods": [r.to_json() for r in self.results]}


def compare(family_or_objective: Any, methods: tuple[str, ...] | None = None, max_iter: int = 2000,
            grad_tol: float = 1e-12, fixed_step: float | None = None) -> Comparison:
    """Run ``methods`` (default: every method that applies) on one objective and compare them (see the module
    docstring for the predicted and measured rates)."""
    obj = family_or_objective if isinstance(family_or_objective, Objective) else objective(family_or_objective)
    if methods is None:
        methods = FIRST_ORDER + (("newton", "hewer") if obj.kind == "lq" else ("newton",))
        if obj.kind == "grid":  # Newton: 4N chains per step for its Hessian (README); ask for it by name
            methods = FIRST_ORDER
    for m in methods:
        if m not in METHODS:
            raise ParameterError(f"unknown method {m!r}; known: {', '.join(METHODS)}")
        if m == "hewer" and obj.kind != "lq":
            raise ParameterError(f"{obj.label}: Hewer's iteration is for the lq family")
    runs = {m: run_method(obj, m, max_iter=max_iter, grad_tol=grad_tol, fixed_step=fixed_step) for m in methods}
    if obj.optimum is not None:
        theta_star, J_star = obj.optimum
        reference = "the DARE optimum (scipy's solve_discrete_are)"
    else:
        done = [r for r in runs.values() if r.converged]
        limits = {r.method: _polish(obj, r.theta[-1]) for r in done}
        limits = {k: v for k, v in limits.items() if np.isfinite(obj.J(v))}
        if limits:
            best = min(limits, key=lambda k: obj.J(limits[k]))
            theta_star, J_star = limits[best], obj.J(limits[best])
            reference = f"the lowest limit of the converged runs ({best}'s), polished by Newton steps"
        else:
            theta_star, J_star = None, None
            reference = "none: no method converged and there is no outside reference, so no gap is reported"
    results = []
    scale = None if J_star is None else max(1.0, abs(J_star))
    for m, r in runs.items():
        note = r.reason if not r.converged else ""
        if (not r.converged and "Armijo" in r.reason and obj.spread is not None
                and obj.spread(r.theta[-1]) < 1e-2):
            note += (f"; the iterate is at the edge of the policy family (smallest standard deviation "
                     f"{obj.spread(r.theta[-1]):.2g}): the minimum is a deterministic policy, which these "
                     "coordinates reach only in the limit, and every step along this direction leaves the family "
                     "or raises J")
        moves = np.abs(np.diff(r.theta, axis=0)).max(axis=1) if r.iterations >= 100 else np.zeros(0)
        if (not r.converged and m == "fisher" and "max_iter" in r.reason and moves.size
                and theta_star is not None and obj.spread is not None and obj.spread(theta_star) < 1e-6
                and obj.spread(r.theta[-1]) < 0.1 * obj.spread(r.theta[0]) and moves[-1] < 1e-2 * moves[:10].max()):
            note += (f"; the minimum is a deterministic policy (sigma -> 0), where the Fisher metric grows like "
                     f"1/sigma^2 and its steps vanish: sublinear convergence (smallest sigma "
                     f"{obj.spread(r.theta[0]):.2g} -> {obj.spread(r.theta[-1]):.2g}, step length "
                     f"{moves[:10].max():.2g} -> {moves[-1]:.2g})")
        if J_star is None:
            results.append(MethodResult(m, r, None, None, None, None, None, (), None, None, None, None, note))
            continue
        gap = r.J - J_star
        hit = np.flatnonzero(gap <= GAP_TARGET * scale)
        it = int(hit[0]) if hit.size else None
        reached = abs(float(r.J[-1]) - J_star) <= GAP_TARGET * scale  # judged on the run's own last J
        elsewhere = r.converged and not reached
        own = _polish(obj, r.theta[-1]) if r.converged and reached else np.asarray(theta_star, float)
        if elsewhere:
            g = float(np.abs(obj.grad(r.theta[-1])).max())
            note = (f"stopped at J = {float(r.J[-1]):.12g}, {float(r.J[-1]) - J_star:.3g} above J*: "
                    + ("another critical point" if g < 1e-8 else
                       f"its gradient norm in its own metric vanishes there while dJ/dtheta does not ({g:.3g}): its "
                       "metric degenerates"))
        mu = pred = meas = nrate = order = None
        steps: tuple[float, ...] = ()
        boundary = (obj.spread is not None and obj.kind == "finite" and obj.notes.get("d", 1) > 1
                    and obj.spread(own) < 1e-6)
        if elsewhere or not reached:
            pass  # no rate: it does not reach the optimum
        elif m in FIRST_ORDER and boundary:
            note = (note + "; " if note else "") + (
                "the minimum lies on the boundary Sigma = 0 of the coordinates upper(Sigma), where dJ/dSigma does not "
                "vanish: no linear rate is predicted from the spectrum there")
        elif m in FIRST_ORDER:  # reached J*: converged, or stopped by max_iter after passing the error window
            window = rate_window(r, own)
            try:
                H = obj.hessian(own)
                Mmat = np.column_stack([obj.directions[m](own, e) for e in np.eye(len(own))])
                mu = np.linalg.eigvals(Mmat @ H)
            except (np.linalg.LinAlgError, ValueError, OtgeomError) as exc:
                note = (note + "; " if note else "") + f"no prediction: {exc}"
            if window is None:
                note = (note + "; " if note else "") + ("too few iterations between errors 1e-4 and 1e-11 to "
                                                        "measure a rate")
            elif mu is not None:
                taken = r.steps[window[0]:window[1]]
                steps = tuple(sorted({float(x) for x in taken}))
                pred, meas, mode, skipped = mode_rates(Mmat @ H, r, own, window)
                nrate = norm_rate(r, own, window)
                if skipped:
                    note = (note + "; " if note else "") + (
                        f"the modes mu = {', '.join(f'{z.real:.3g}' for z in skipped)}, slower at these steps, carry "
                        f"no error at the start of the window (below {MODE_SHARE:g} of the largest component)")
        elif m in ("newton", "hewer") and r.converged:
            from otgeom.numeric.newton import error_order

            order = error_order(np.abs(r.theta - own).max(axis=1))
        results.append(MethodResult(m, r, it, float(r.seconds[it]) if it is not None else None,
                                    float(r.J[-1] - J_star), own, mu, steps, pred, meas, nrate, order, note))
    return Comparison(obj.label, obj.kind, None if J_star is None else float(J_star),
                      None if theta_star is None else np.asarray(theta_star, float), reference, tuple(results))
