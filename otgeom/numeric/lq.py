r"""The linear-quadratic family in closed form, for any n, m (THEORY.md section 5).

For :math:`x' = Ax + Ba + w`, :math:`w\sim\mathcal N(0,W)`, cost :math:`x^\top Q_c x + a^\top R a`
and the linear-Gaussian policy :math:`\pi_x = \mathcal N(-Kx, \Sigma)`, with
:math:`A_K = A - BK` stable (spectral radius < 1, checked):

.. math::
    X = A_K X A_K^\top + B\Sigma B^\top + W,\qquad P = Q_c + K^\top R K + A_K^\top P A_K,

    J = \operatorname{tr}((Q_c + K^\top R K)X) + \operatorname{tr}(R\Sigma)
        \;-\; \tau\,\tfrac12\log\det(2\pi e\,\Sigma),

    M = R + B^\top P B,\quad E_K = MK - B^\top P A,\quad \nabla_a Q(x,a) = 2Ma + 2B^\top P A x,

    \frac{\partial J}{\partial K} = 2E_K X,\quad \frac{\partial J}{\partial\Sigma} = M - \tfrac\tau2\Sigma^{-1},
    \quad \mathrm{grad}_K J = 2E_K \text{ for } g_K(U,U) = \operatorname{tr}(UXU^\top).

The metric on the family is :math:`g((U,S),(U,S)) = \operatorname{tr}(UXU^\top) + \operatorname{tr}(S\Sigma S)`
(the :math:`\rho`-weighted Otto metric of the affine field :math:`v(x,a) = -Ux + S(a + Kx)`, whose
covariance velocity is :math:`S\Sigma + \Sigma S`: Bures-Wasserstein in :math:`\Sigma`).
Second order (Σ fixed): :math:`dX[U]`, :math:`dP[U]` by Stein (discrete Lyapunov) equations,

.. math::
    D^2J[U,U] = \langle 2(MU - B^\top dP[U] A_K)X + 2E_K\,dX[U],\ U\rangle,\qquad
    \mathrm{Hess}\,J(U,U) = D^2J[U,U] - \langle\partial J/\partial K,\ \Gamma(U,U)\rangle,

with the Christoffel map of :math:`g_K`, :math:`\Gamma(U,V) = \tfrac12(U\,dX[V] + V\,dX[U])X^{-1} + B^\top Y A_K`,
:math:`Y = A_K^\top Y A_K + \tfrac12(U^\top V + V^\top U)`.  At the optimum (Riccati),
:math:`\mathrm{Hess}\,J(U,U) = 2\operatorname{tr}(U^\top M^* U X^*)`.

Everything here is numpy/scipy; Stein equations are solved by scipy's
``solve_discrete_lyapunov`` (reference results) or, for many right-hand sides with the
same :math:`A_K` (Hessian-vector products), by one eigendecomposition plus a refinement step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.linalg import LinAlgError, solve_discrete_are, solve_discrete_lyapunov

from otgeom.errors import PolicyError, RegularityError, check_definite, check_finite, check_symmetric

__all__ = ["flow_velocity", "gain_point", "LQPolicy", "LQPoint", "LQOptimum", "Stein", "lq_point", "lq_optimum", "closed_loop",
           "spectral_radius", "stationary_covariance", "action_value", "action_value_grad", "cov_derivative",
           "value_derivative", "hessian_K", "hessian_vector_K", "christoffel_K", "riemannian_hessian_K",
           "riemannian_hessian_vector_K", "riemannian_hessian_matrix_K", "metric", "hessian",
           "hessian_spectrum_at_optimum", "gaussian_entropy", "geodesic_K", "geodesic_speed2"]


def _sym(M: np.ndarray) -> np.ndarray:
    return 0.5 * (M + M.T)


def spectral_radius(M: np.ndarray) -> float:
    return float(np.abs(np.linalg.eigvals(M)).max()) if M.size else 0.0


def gaussian_entropy(Sigma: np.ndarray) -> float:
    r"""Differential entropy :math:`\tfrac12\log\det(2\pi e\,\Sigma)`; -inf when Σ is singular."""
    sign, logdet = np.linalg.slogdet(Sigma)
    if sign <= 0:
        return -np.inf
    return 0.5 * (Sigma.shape[0] * np.log(2 * np.pi * np.e) + logdet)


@dataclass(frozen=True, eq=False)
class LQPolicy:
    r"""Linear-Gaussian policy :math:`\pi_x = \mathcal N(-Kx, \Sigma)`: K shape=[m, n], Sigma shape=[m, m] (symmetric PSD)."""

    K: np.ndarray
    Sigma: np.ndarray

    def __post_init__(self) -> None:
        K = np.atleast_2d(check_finite(self.K, "K", "policy"))
        S = np.atleast_2d(check_finite(self.Sigma, "Sigma", "policy"))
        if K.ndim != 2:
            raise PolicyError(f"policy: K must be an m x n matrix, got shape {list(K.shape)}")
        if S.ndim != 2 or S.shape != (K.shape[0], K.shape[0]):
            raise PolicyError(f"policy: Sigma has shape {list(S.shape)}; K is {K.shape[0]} x {K.shape[1]}, so Sigma "
                              f"must be {K.shape[0]} x {K.shape[0]}")
        S = check_symmetric(S, "Sigma", "policy", PolicyError)
        check_definite(S, "Sigma", "policy", strict=False, error=PolicyError)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "Sigma", S)

    @classmethod
    def deterministic(cls, K) -> "LQPolicy":
        K = np.atleast_2d(np.asarray(K, float))
        return cls(K, np.zeros((K.shape[0], K.shape[0])))


class Stein:
    r"""Solver of the Stein (discrete Lyapunov) equation :math:`X - AXA^\top = C` for one A, many C.

    One eigendecomposition :math:`A = V\Lambda V^{-1}` turns every solve into
    :math:`\tilde X_{ij} = \tilde C_{ij} / (1 - \lambda_i\bar\lambda_j)`, followed by one step of
    iterative refinement on the residual.  When V is ill-conditioned (cond > 1e8) every solve
    falls back to scipy's ``solve_discrete_lyapunov`` (Bartels-Stewart).
    """

    def __init__(self, A: np.ndarray):
        self.A = np.asarray(A, float)
        lam, V = np.linalg.eig(self.A)
        self._fast = np.linalg.cond(V) < 1e8
        if self._fast:
            self._lam, self._V, self._Vinv = lam, V, np.linalg.inv(V)
            self._den = 1.0 - np.outer(lam, lam.conj())

    def _once(self, C: np.ndarray) -> np.ndarray:
        Ct = self._Vinv @ C @ self._Vinv.conj().T
        return (self._V @ (Ct / self._den) @ self._V.conj().T).real

    def solve(self, C: np.ndarray) -> np.ndarray:
        C = np.asarray(C, float)
        if not self._fast:
            return solve_discrete_lyapunov(self.A, C)
        X = self._once(C)
        X = X + self._once(C - (X - self.A @ X @ self.A.T))
        return X


def closed_loop(family, K: np.ndarray, owner: str = "") -> tuple[np.ndarray, float]:
    r""":math:`A_K = A - BK` and its spectral radius; :class:`RegularityError` when it is >= 1 (no stationary law)."""
    A_K = family.A - family.B @ K
    radius = spectral_radius(A_K)
    if not radius < 1:
        raise RegularityError(
            f"{owner or family.label}: K is not stabilising: the spectral radius of A - B K is {radius:.6g} >= 1, "
            "so the closed loop has no stationary law (R1 fails) and J is infinite",
            {"spectral_radius": radius}, assumption="R1", decided=True)
    return A_K, radius


def stationary_covariance(family, K: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    r"""X solving :math:`X = A_K X A_K^\top + B\Sigma B^\top + W` (scipy's discrete Lyapunov solver)."""
    A_K, _ = closed_loop(family, K)
    return _sym(solve_discrete_lyapunov(A_K, family.B @ Sigma @ family.B.T + family.W))


def _check_shapes(family, policy: LQPolicy) -> None:
    m, n = family.m, family.n
    if policy.K.shape != (m, n):
        raise PolicyError(f"policy: K is {policy.K.shape[0]} x {policy.K.shape[1]}; {family.label} needs m x n = "
                          f"{m} x {n}")
    lo = float(np.linalg.eigvalsh(policy.Sigma).min()) if family.tau > 0 else 1.0
    if not lo > 0:
        raise PolicyError(f"policy: with entropy weight tau = {family.tau:g} > 0, Sigma must be positive definite "
                          f"(smallest eigenvalue {lo:.3g}; the entropy of a degenerate Gaussian is -infinity)")


@dataclass(frozen=True, eq=False)
class LQPoint:
    """Every first-order object of the LQ family at one policy (see the module docstring for formulas).

    ``J`` includes the entropy term when tau > 0 (``cost`` is the plain ergodic cost).
    ``riemannian_grad_Sigma`` is the covariance velocity of the gradient,
    :math:`2(G\\Sigma + \\Sigma G)`, :math:`G = \\partial J/\\partial\\Sigma`.
    """

    family: object = field(repr=False)
    policy: LQPolicy = field(repr=False)
    A_K: np.ndarray
    spectral_radius: float
    X: np.ndarray
    P: np.ndarray
    M: np.ndarray
    E: np.ndarray
    cost: float
    J: float

    @property
    def K(self) -> np.ndarray:
        return self.policy.K

    @property
    def Sigma(self) -> np.ndarray:
        return self.policy.Sigma

    @property
    def grad_K(self) -> np.ndarray:
        r""":math:`\partial J/\partial K = 2E_K X`."""
        return 2 * self.E @ self.X

    @property
    def grad_Sigma(self) -> np.ndarray:
        r""":math:`\partial J/\partial\Sigma = M - \tfrac\tau2\Sigma^{-1}` (symmetric)."""
        if self.family.tau > 0:
            return _sym(self.M - 0.5 * self.family.tau * np.linalg.inv(self.Sigma))
        return self.M.copy()

    @property
    def riemannian_grad_K(self) -> np.ndarray:
        r""":math:`\mathrm{grad}_K J = 2E_K` for :math:`g_K(U,U) = \operatorname{tr}(UXU^\top)`."""
        return 2 * self.E

    @property
    def riemannian_grad_Sigma(self) -> np.ndarray:
        G = self.grad_Sigma
        return 2 * (G @ self.Sigma + self.Sigma @ G)

    @property
    def grad_norm2(self) -> float:
        r""":math:`g(\mathrm{grad}J,\mathrm{grad}J) = \operatorname{tr}(4E_KXE_K^\top) + \operatorname{tr}(S\Sigma S)`, S = 2 dJ/dSigma."""
        S = 2 * self.grad_Sigma
        return float(np.trace(4 * self.E @ self.X @ self.E.T) + np.trace(S @ self.Sigma @ S))

    @property
    def entropy(self) -> float:
        return gaussian_entropy(self.Sigma)

    @cached_property
    def stein(self) -> Stein:
        """Solver of :math:`Y - A_K Y A_K^\\top = C` (covariance-type equations)."""
        return Stein(self.A_K)

    @cached_property
    def stein_adjoint(self) -> Stein:
        """Solver of :math:`Y - A_K^\\top Y A_K = C` (value-type equations)."""
        return Stein(self.A_K.T)

    @cached_property
    def X_inv(self) -> np.ndarray:
        return np.linalg.inv(self.X)

    @cached_property
    def cov_derivative_of_gradient(self) -> np.ndarray:
        r""":math:`dX[\mathrm{grad}_K J]`, shared by every Riemannian Hessian-vector product at this point."""
        return cov_derivative(self, self.riemannian_grad_K)


def lq_point(family, policy: LQPolicy) -> LQPoint:
    """Solve the two Lyapunov equations and assemble :class:`LQPoint` (assumptions checked)."""
    _check_shapes(family, policy)
    K, Sigma = policy.K, policy.Sigma
    A_K, radius = closed_loop(family, K)
    A, B, R = family.A, family.B, family.R
    X = _sym(solve_discrete_lyapunov(A_K, B @ Sigma @ B.T + family.W))
    P = _sym(solve_discrete_lyapunov(A_K.T, family.Qc + K.T @ R @ K))
    M = _sym(R + B.T @ P @ B)
    E = M @ K - B.T @ P @ A
    cost = float(np.trace((family.Qc + K.T @ R @ K) @ X) + np.trace(R @ Sigma))
    J = cost - family.tau * gaussian_entropy(Sigma) if family.tau > 0 else cost
    return LQPoint(family, policy, A_K, radius, X, P, M, E, cost, float(J))


def action_value(point: LQPoint, x: np.ndarray, a: np.ndarray) -> np.ndarray:
    r""":math:`Q(x,a) = c(x,a) - J + \mathbb E[h(x')]`, :math:`h(x) = x^\top Px - \operatorname{tr}(PX)` (so E_rho h = 0).

    x shape=[N, n], a shape=[N, m] -> shape=[N].  (For tau > 0 the per-state entropy term is a
    constant of the policy, not of a; it cancels against J in Q up to that constant.)
    """
    fam = point.family
    x, a = np.atleast_2d(x), np.atleast_2d(a)
    nxt = x @ fam.A.T + a @ fam.B.T
    c = np.einsum("ni,ij,nj->n", x, fam.Qc, x) + np.einsum("ni,ij,nj->n", a, fam.R, a)
    Eh = np.einsum("ni,ij,nj->n", nxt, point.P, nxt) + np.trace(point.P @ fam.W) - np.trace(point.P @ point.X)
    return c - point.cost + Eh


def action_value_grad(point: LQPoint, x: np.ndarray, a: np.ndarray) -> np.ndarray:
    r""":math:`\nabla_a Q(x,a) = 2Ma + 2B^\top PAx`, x shape=[N, n], a shape=[N, m] -> shape=[N, m]."""
    fam = point.family
    return 2 * np.atleast_2d(a) @ point.M.T + 2 * np.atleast_2d(x) @ (fam.B.T @ point.P @ fam.A).T


def gain_point(family, K: np.ndarray) -> "LQPoint":
    """The LQ point at K with a fixed admissible Sigma (I if tau > 0, else 0), for P_K, M_K and E_K, which ignore Sigma."""
    m = family.m
    return lq_point(family, LQPolicy(K, np.eye(m) if family.tau > 0 else np.zeros((m, m))))


def flow_velocity(family, K: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Velocity of the Wasserstein gradient flow on the family: :math:`(\dot K, \dot\Sigma) = (-2E_K,\ -2(M\Sigma + \Sigma M) + 2\tau I)`.

    The field :math:`-\nabla_a Q - \tau\nabla_a\log\pi_x` is affine in a, so the flow stays
    linear-Gaussian: the mean :math:`-Kx` moves by :math:`2E_Kx` and the covariance by the
    Bures-Wasserstein velocity of :math:`S = -2M + \tau\Sigma^{-1}`.  M and E_K depend on K only.
    """
    pt = gain_point(family, K)
    return -2 * pt.E, -2 * (pt.M @ Sigma + Sigma @ pt.M) + 2 * family.tau * np.eye(family.m)


# ------------------------------------------------------------------------------------------ optimum
@dataclass(frozen=True, eq=False)
class LQOptimum:
    r"""The optimum: :math:`P^*` (DARE), :math:`K^* = M^{*-1}B^\top P^*A`, :math:`\Sigma^* = \tfrac\tau2 M^{*-1}` (0 if tau = 0)."""

    K: np.ndarray
    Sigma: np.ndarray
    P: np.ndarray
    M: np.ndarray
    X: np.ndarray
    J: float
    riccati_residual: float
    spectral_radius: float

    @property
    def policy(self) -> LQPolicy:
        return LQPolicy(self.K, self.Sigma)


def lq_optimum(family) -> LQOptimum:
    r"""The optimal policy from scipy's ``solve_discrete_are`` (an outside reference solver).

    Checks, not assumes: the relative DARE residual and that :math:`A - BK^*` is stable
    (a stabilising solution needs (A, B) stabilisable, checked by the family, and no
    unobservable mode of :math:`(A, Q_c)` on the unit circle).
    """
    A, B, Qc, R = family.A, family.B, family.Qc, family.R
    try:
        P = _sym(solve_discrete_are(A, B, Qc, R))
    except (LinAlgError, ValueError) as exc:
        raise RegularityError(f"{family.label}: the discrete Riccati equation has no stabilising solution ({exc}); "
                              "check for modes of A on the unit circle that Qc does not see",
                              {"reason": str(exc)}) from None
    M = _sym(R + B.T @ P @ B)
    K = np.linalg.solve(M, B.T @ P @ A)
    res = Qc + A.T @ P @ A - A.T @ P @ B @ K - P
    residual = float(np.abs(res).max() / max(1.0, np.abs(P).max()))
    A_K, radius = closed_loop(family, K, f"{family.label} (Riccati gain)")
    Sigma = 0.5 * family.tau * np.linalg.inv(M) if family.tau > 0 else np.zeros_like(R)
    Sigma = _sym(Sigma)
    X = _sym(solve_discrete_lyapunov(A_K, B @ Sigma @ B.T + family.W))
    J = float(np.trace(P @ family.W) + np.trace(M @ Sigma))
    if family.tau > 0:
        J -= family.tau * gaussian_entropy(Sigma)
    return LQOptimum(K, Sigma, P, M, X, J, residual, radius)


# ------------------------------------------------------------------------------------------ second order
def cov_derivative(point: LQPoint, U: np.ndarray, dSigma: np.ndarray | None = None) -> np.ndarray:
    r""":math:`dX[U, d\Sigma]`: :math:`dX - A_K dX A_K^\top = -BUXA_K^\top - A_KXU^\top B^\top + B\,d\Sigma\,B^\top`."""
    B = point.family.B
    C = B @ U @ point.X @ point.A_K.T
    rhs = -(C + C.T)
    if dSigma is not None:
        rhs = rhs + B @ dSigma @ B.T
    return _sym(point.stein.solve(rhs))


def value_derivative(point: LQPoint, U: np.ndarray) -> np.ndarray:
    r""":math:`dP[U]`: :math:`dP - A_K^\top dP A_K = U^\top E_K + E_K^\top U`."""
    C = U.T @ point.E
    return _sym(point.stein_adjoint.solve(C + C.T))


def hessian_vector_K(point: LQPoint, U: np.ndarray) -> np.ndarray:
    r"""The ordinary Hessian of J in K (Σ fixed) applied to U, as a matrix: :math:`2(MU - B^\top dP[U]A_K)X + 2E_K\,dX[U]`."""
    B = point.family.B
    dP = value_derivative(point, U)
    dX = cov_derivative(point, U)
    return 2 * (point.M @ U - B.T @ dP @ point.A_K) @ point.X + 2 * point.E @ dX


def hessian_K(point: LQPoint, U: np.ndarray, V: np.ndarray | None = None) -> float:
    r""":math:`D^2J[U,V]` in the coordinates K (Σ fixed)."""
    return float(np.sum(hessian_vector_K(point, U) * (U if V is None else V)))


def metric(point: LQPoint, U: np.ndarray, S: np.ndarray | None = None, V: np.ndarray | None = None,
           T: np.ndarray | None = None) -> float:
    r""":math:`g((U,S),(V,T)) = \operatorname{tr}(UXV^\top) + \operatorname{tr}(S\Sigma T)` (S, T symmetric BW velocities)."""
    V = U if V is None else V
    out = float(np.trace(U @ point.X @ V.T))
    if S is not None:
        T = S if T is None else T
        out += float(np.trace(S @ point.Sigma @ T))
    return out


def _stein_adjoint_gradient(point: LQPoint, C: np.ndarray) -> np.ndarray:
    r"""Gradient in Z of :math:`\langle dX[Z], C\rangle` (C symmetric): :math:`-2B^\top Y A_K X`, :math:`Y - A_K^\top YA_K = C`."""
    Y = point.stein_adjoint.solve(_sym(C))
    return -2 * point.family.B.T @ Y @ point.A_K @ point.X


def christoffel_K(point: LQPoint, U: np.ndarray, V: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\Gamma(U,V)` of :math:`g_K(U,V) = \operatorname{tr}(UX_KV^\top)` (Koszul formula), as an m x n matrix.

    :math:`g(\Gamma(U,V), Z) = \tfrac12[Dg[U](V,Z) + Dg[V](U,Z) - Dg[Z](U,V)]`, giving
    :math:`\Gamma(U,V) = \tfrac12(U\,dX[V] + V\,dX[U])X^{-1} + B^\top Y A_K`,
    :math:`Y - A_K^\top Y A_K = \tfrac12(U^\top V + V^\top U)`.  Geodesics: :math:`\ddot K = -\Gamma(\dot K,\dot K)`.
    """
    V = U if V is None else V
    dXU = cov_derivative(point, U)
    dXV = dXU if V is U else cov_derivative(point, V)
    first = 0.5 * (U @ dXV + V @ dXU) @ point.X_inv
    Y = point.stein_adjoint.solve(_sym(U.T @ V))
    return first + point.family.B.T @ Y @ point.A_K


def riemannian_hessian_K(point: LQPoint, U: np.ndarray, V: np.ndarray | None = None) -> float:
    r"""Levi-Civita Hessian of J in K for :math:`g_K` (Σ fixed): :math:`D^2J[U,V] - \langle\partial J/\partial K, \Gamma(U,V)\rangle`."""
    V = U if V is None else V
    return hessian_K(point, U, V) - float(np.sum(point.grad_K * christoffel_K(point, U, V)))


def riemannian_hessian_vector_K(point: LQPoint, U: np.ndarray) -> np.ndarray:
    r"""The covector :math:`V \mapsto \mathrm{Hess}\,J(U,V)` as an m x n matrix (matrix-free, 4 Stein solves).

    With :math:`Z = \mathrm{grad}_K J = 2E_K`, :math:`\langle\partial J/\partial K, \Gamma(U,V)\rangle =
    \tfrac12[\operatorname{tr}(V\,dX[U]Z^\top) + \operatorname{tr}(U\,dX[V]Z^\top) - \operatorname{tr}(U\,dX[Z]V^\top)]`,
    whose gradient in V is :math:`\tfrac12[Z\,dX[U] - 2B^\top Y A_K X - U\,dX[Z]]`,
    :math:`Y - A_K^\top Y A_K = \operatorname{sym}(U^\top Z)`.
    """
    Z = point.riemannian_grad_K
    dXU = cov_derivative(point, U)
    dXZ = point.cov_derivative_of_gradient
    conn = 0.5 * (Z @ dXU + _stein_adjoint_gradient(point, U.T @ Z) - U @ dXZ)
    B = point.family.B
    dP = value_derivative(point, U)
    euclid = 2 * (point.M @ U - B.T @ dP @ point.A_K) @ point.X + 2 * point.E @ dXU
    return euclid - conn


def riemannian_hessian_matrix_K(point: LQPoint) -> np.ndarray:
    """Dense matrix of the Levi-Civita Hessian in vec(K) (row-major), shape=[m*n, m*n], symmetrised."""
    m, n = point.K.shape
    H = np.empty((m * n, m * n))
    for k in range(m * n):
        U = np.zeros(m * n)
        U[k] = 1.0
        H[:, k] = riemannian_hessian_vector_K(point, U.reshape(m, n)).ravel()
    return _sym(H)


def hessian(point: LQPoint, U: np.ndarray, S: np.ndarray, V: np.ndarray | None = None,
            T: np.ndarray | None = None) -> float:
    r"""Ordinary Hessian of J in the coordinates (K, Σ) on directions (U, S), (V, T) (S, T symmetric):

    .. math::
        D^2J = D^2_{KK}J[U,V] + \langle B^\top dP[U]B, T\rangle + \langle B^\top dP[V]B, S\rangle
               + \tfrac\tau2\operatorname{tr}(\Sigma^{-1}S\Sigma^{-1}T),

    with the KK block evaluated at the covariance X of (K, Σ) (whose Σ-derivative enters
    through the cross terms via :math:`\partial J/\partial\Sigma = M - \tfrac\tau2\Sigma^{-1}`).
    """
    V = U if V is None else V
    T = S if T is None else T
    B = point.family.B
    out = hessian_K(point, U, V)
    out += float(np.sum(B.T @ value_derivative(point, U) @ B * T) + np.sum(B.T @ value_derivative(point, V) @ B * S))
    if point.family.tau > 0:
        Si = np.linalg.inv(point.Sigma)
        out += 0.5 * point.family.tau * float(np.trace(Si @ S @ Si @ T))
    return out


def hessian_spectrum_at_optimum(family, optimum: LQOptimum | None = None) -> dict[str, np.ndarray]:
    r"""Eigenvalues of the Riemannian Hessian at the optimum relative to the metric (local geodesic convexity).

    K-part: :math:`\mathrm{Hess}(U,U) = 2\operatorname{tr}(U^\top M^*UX^*)` against
    :math:`\operatorname{tr}(UX^*U^\top)`: eigenvalues :math:`2\mu_i(M^*)`, each n times.
    Σ-part (tau > 0, Bures-Wasserstein velocities S with :math:`d\Sigma = S\Sigma^* + \Sigma^*S`):
    :math:`2(\mu_i + \mu_j)`, i <= j.  These are also the linear rates of the gradient flow near
    the optimum: :math:`K - K^*` decays like :math:`e^{-2\mu_{\min}t}`.
    """
    opt = optimum or lq_optimum(family)
    mu = np.linalg.eigvalsh(opt.M)
    out = {"K": np.sort(np.repeat(2 * mu, family.n))}
    if family.tau > 0:
        iu = np.triu_indices(len(mu))
        out["Sigma"] = np.sort(2 * (mu[iu[0]] + mu[iu[1]]))
    return out


def geodesic_K(family, policy: LQPolicy, U: np.ndarray, t: np.ndarray, rtol: float = 1e-12,
               atol: float = 1e-14, max_evaluations: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    r"""The geodesic of :math:`g_K(U,U) = \operatorname{tr}(UX_KU^\top)` (Σ fixed) with :math:`K(0) = K`, :math:`\dot K(0) = U`.

    Integrates :math:`\ddot K = -\Gamma_K(\dot K,\dot K)` with scipy's DOP853 (dense output);
    returns K and :math:`\dot K` at the times ``t`` (>= 0), each shape=[len(t), m, n].  Along it the
    speed :math:`g_K(\dot K,\dot K)` is constant (metric compatibility; :func:`geodesic_speed2`).
    Geodesics heading for the boundary :math:`\rho(A - BK) = 1` slow down there (the metric blows up)
    and the equation stiffens; more than ``max_evaluations`` right-hand sides raise RegularityError.
    """
    from scipy.integrate import solve_ivp

    m, n = policy.K.shape
    k = m * n
    calls = [0]

    def rhs(_, y):
        calls[0] += 1
        if calls[0] > max_evaluations:
            raise RegularityError(
                f"{family.label}: the geodesic did not reach t = {float(np.max(t)):g} within {max_evaluations} "
                f"right-hand-side evaluations (it approaches the boundary rho(A - BK) = 1, where X and the metric "
                f"blow up; integrate a shorter time)", {"t_max": float(np.max(t))})
        pt = lq_point(family, LQPolicy(y[:k].reshape(m, n), policy.Sigma))
        V = y[k:].reshape(m, n)
        return np.concatenate([V.ravel(), -christoffel_K(pt, V).ravel()])

    t = np.asarray(t, float)
    y0 = np.concatenate([policy.K.ravel(), np.asarray(U, float).ravel()])
    sol = solve_ivp(rhs, (0.0, float(t.max())), y0, method="DOP853", rtol=rtol, atol=atol, dense_output=True)
    if not sol.success:
        raise RegularityError(f"{family.label}: geodesic integration failed: {sol.message}", {"reason": sol.message})
    Y = np.stack([sol.sol(ti) if ti > 0 else y0 for ti in t])
    return Y[:, :k].reshape(-1, m, n), Y[:, k:].reshape(-1, m, n)


def geodesic_speed2(family, policy: LQPolicy, K: np.ndarray, Kdot: np.ndarray) -> np.ndarray:
    r""":math:`g_{K(t)}(\dot K, \dot K)` at the points of :func:`geodesic_K`, shape=[T]."""
    return np.array([metric(lq_point(family, LQPolicy(Kt, policy.Sigma)), Vt) for Kt, Vt in zip(K, Kdot)])
