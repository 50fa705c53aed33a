r"""Riemannian Newton's method on the Gaussian family (d = 1), and the first-order flow it is compared with.

Newton's equation in coordinates :math:`\theta = (m_s,\sigma_s)_s`:

.. math::
    \mathrm{Hess}_{\rm sub}J\,\eta = -\partial J/\partial\theta,\qquad \theta \leftarrow \theta + t\,\eta,

with :math:`\mathrm{Hess}_{\rm sub} = \partial^2J - \Gamma^k\partial_kJ` the Levi-Civita Hessian of J
restricted to the family (:func:`otgeom.numeric.second_order.gaussian_second_order`) and the coordinate
retraction (any retraction keeps the quadratic rate).  When the Hessian is not positive definite
relative to G, the step uses the positive-definite modification
:math:`G^{1/2}V\max(|\Lambda|, \delta)V^\top G^{1/2}` of :math:`G^{-1/2}HG^{-1/2} = V\Lambda V^\top`, and the
history says so, with the smallest eigenvalue.  A backtracking line search on J (Armijo) keeps
:math:`\sigma_s > 0` and only engages when the full step does not decrease J; near a non-degenerate
minimum the full Newton step is taken and the error contracts quadratically.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import eigh

from otgeom.errors import OtgeomError, PolicyError, RegularityError
from otgeom.numeric.chain import evaluate_chain
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, WeightedPoints
from otgeom.numeric.second_order import Linearization, gaussian_second_order, linearize
from otgeom.numeric.witness import gaussian_points

__all__ = ["NewtonStep", "NewtonResult", "gaussian_newton", "particle_newton", "particle_hessian_matrix",
           "particle_metric_matrix", "newton_direction", "error_order",
           "hessian_rate", "particle_hessian_rate"]


@dataclass(frozen=True)
class NewtonStep:
    """One iteration: theta before the step, J, |grad|_G, the step kind and the smallest eigenvalue of G^-1 H."""

    theta: np.ndarray
    J: float
    grad_norm: float
    kind: str  # "newton", "pd-modified", "converged"
    min_eigenvalue: float
    step_length: float


@dataclass(frozen=True)
class NewtonResult:
    steps: tuple[NewtonStep, ...] = field(repr=False)
    theta: np.ndarray
    J: float
    converged: bool

    @property
    def errors(self) -> np.ndarray:
        """|theta_k - theta_final| (max norm): the error sequence."""
        return np.array([np.abs(s.theta - self.theta).max() for s in self.steps])

    @property
    def fallbacks(self) -> int:
        return sum(s.kind == "pd-modified" for s in self.steps)


def newton_direction(H: np.ndarray, G: np.ndarray, grad: np.ndarray, delta: float = 1e-8) -> tuple[np.ndarray, str, float]:
    """Solve the Newton equation, modifying H to be positive definite relative to G when needed.

    Returns (eta, kind, smallest eigenvalue of G^-1 H).
    """
    lam, V = eigh(H, G)  # H V = G V diag(lam), V^T G V = I
    lmin = float(lam.min())
    if lmin > delta * max(1.0, float(np.abs(lam).max())):
        return -np.linalg.solve(H, grad), "newton", lmin
    lam_mod = np.maximum(np.abs(lam), delta * max(1.0, float(np.abs(lam).max())))
    # H_mod = G V diag(lam_mod) V^T G, so H_mod^-1 = V diag(1/lam_mod) V^T
    return -(V @ ((V.T @ grad) / lam_mod)), "pd-modified", lmin


def _newton_loop(x0: np.ndarray, local, value, feasible, max_iter: int, tol: float) -> NewtonResult:
    """Newton iterations on coordinates x: ``local(x) -> (J, grad, H, G)``, ``value(x) -> J``, ``feasible(x) -> bool``."""
    x = np.asarray(x0, float)
    steps = []
    for _ in range(max_iter):
        J, grad, H, G = local(x)
        gnorm = float(np.sqrt(grad @ np.linalg.solve(G, grad)))
        if gnorm < tol * max(1.0, abs(J)):
            lmin = float(eigh(H, G, eigvals_only=True).min())
            steps.append(NewtonStep(x, J, gnorm, "converged", lmin, 0.0))
            return NewtonResult(tuple(steps), x, J, True)
        eta, kind, lmin = newton_direction(H, G, grad)
        t = 1.0
        while True:
            new = x + t * eta
            ok = feasible(new)
            if ok:
                try:
                    Jn = value(new)
                except RegularityError:
                    ok = False
            # near the solution the full Newton step is accepted as is (quadratic phase)
            if ok and ((kind == "newton" and t == 1.0 and gnorm < 1e-3) or Jn <= J + 1e-4 * t * float(grad @ eta)):
                break
            t *= 0.5
            if t < 1e-12:
                raise OtgeomError(f"Newton line search failed at {x.tolist()} (|grad| = {gnorm:.3g})")
        steps.append(NewtonStep(x, J, gnorm, kind, lmin, t))
        x = new
    return NewtonResult(tuple(steps), x, steps[-1].J, False)


def gaussian_newton(prims, policy: GaussianPolicy, max_iter: int = 30, tol: float = 1e-13,
                    order: int | None = None) -> NewtonResult:
    """Riemannian Newton on the Gaussian family (d = 1, theta = (m_s, sigma_s)) with Hess_sub, until |grad J|_G < tol.

    Interior minima with sigma_s > 0 are degenerate on finite families (see :mod:`otgeom.examples`),
    so from most starts this heads for the boundary sigma -> 0, where it converges only linearly.
    """
    if policy.action_dim != 1:
        raise PolicyError("gaussian_newton works in the d = 1 coordinates (m_s, sigma_s)")
    n = policy.n_states

    def local(theta):
        so = gaussian_second_order(prims, GaussianPolicy.from_coordinates(theta, n, 1), order)
        return so.lin.sol.J, so.grad, so.hessian_riemannian, so.metric

    return _newton_loop(policy.coordinates(), local,
                        lambda th: evaluate_chain(prims, gaussian_points(
                            prims, GaussianPolicy.from_coordinates(th, n, 1), "Gaussian Newton", order=order)).J,
                        lambda th: bool((th[1::2] > 0).all()), max_iter, tol)


def particle_hessian_matrix(lin: Linearization) -> np.ndarray:
    """The Levi-Civita Hessian on particle positions as a matrix in flat coordinates: H_ij = Hess_g(e_i, e_j).

    Built column by column from the matrix-free product (:meth:`Linearization.hvp`), then symmetrised.
    """
    shape = lin.wp.points.shape
    k = int(np.prod(shape))
    D = particle_metric_matrix(lin)
    cols = []
    for i in range(k):
        e = np.zeros(k)
        e[i] = 1.0
        cols.append(D @ lin.hvp(e.reshape(shape)).ravel())
    H = np.array(cols).T
    return 0.5 * (H + H.T)


def particle_metric_matrix(lin: Linearization) -> np.ndarray:
    """g on particle positions in flat coordinates: diag(rho_s w_si) repeated over the d components."""
    n, N, d = lin.wp.points.shape
    return np.diag(np.repeat((lin.sol.rho[:, None] * lin.wp.weights).ravel(), d))


def particle_newton(prims, policy: ParticlePolicy, max_iter: int = 30, tol: float = 1e-13) -> NewtonResult:
    """Riemannian Newton for J on particle positions (the full space, discretised), metric diag(rho_s w_si).

    The gradient is grad J = grad_a Q at the particles; the Hessian is Hess_g (:meth:`Linearization.hvp`).
    """
    shape, w = policy.particles.shape, policy.weights

    def lin_at(x):
        return linearize(prims, WeightedPoints(x.reshape(shape), w), "particle Newton")

    def local(x):
        lin = lin_at(x)
        D = particle_metric_matrix(lin)
        return lin.sol.J, D @ lin.gradient.ravel(), particle_hessian_matrix(lin), D

    return _newton_loop(policy.particles.ravel(), local, lambda x: evaluate_chain(prims, WeightedPoints(
        x.reshape(shape), w), "particle Newton").J, lambda x: True, max_iter, tol)


def error_order(errors: np.ndarray, floor: float = 1e-12) -> float | None:
    """Estimated convergence order log(e_{k+1}/e_k)/log(e_k/e_{k-1}) on the last three errors above the floor."""
    e = np.asarray(errors, float)
    e = e[e > floor]
    if e.size < 3:
        return None
    e0, e1, e2 = e[-3:]
    return float(np.log(e2 / e1) / np.log(e1 / e0))


def hessian_rate(H: np.ndarray, G: np.ndarray) -> dict:
    r"""Linear rates of the first-order flow :math:`\dot\theta = -G^{-1}\partial J` near a minimum.

    Linearised, :math:`\theta - \theta^* \sim e^{-\lambda_{\min}t}` and :math:`J - J^* \sim e^{-2\lambda_{\min}t}`,
    :math:`\lambda` the eigenvalues of :math:`G^{-1}H` (the Riemannian Hessian relative to the metric).
    """
    lam = eigh(H, G, eigvals_only=True)
    return {"eigenvalues": lam, "theta_rate": float(lam.min()), "J_rate": float(2 * lam.min())}


def particle_hessian_rate(prims, policy: ParticlePolicy) -> dict:
    r""":func:`hessian_rate` of :math:`\mathrm{Hess}_gJ` on particle positions (e.g. at the optimum Newton found)."""
    lin = linearize(prims, policy.discretize(), "particle Hessian")
    return hessian_rate(particle_hessian_matrix(lin), particle_metric_matrix(lin))
