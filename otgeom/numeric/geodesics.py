r"""Geodesics of the stationary-weighted metric, integrated numerically (THEORY.md section 2).

* Particles: the metric :math:`g_X(U,V) = \sum_s\rho_s(X)\sum_i w_{si}\langle U_{si},V_{si}\rangle` on point
  positions.  Its Euler–Lagrange equations (Lagrangian :math:`\tfrac12 g_X(\dot X,\dot X)`) are

  .. math::
      \ddot X_{si} = -\frac{d\rho[\dot X]_s}{\rho_s}\dot X_{si}
                     + \tfrac12\sum_{s'}\nabla_a p(s'|s, X_{si})\,\phi(s'),\qquad
      (I - P + \mathbf 1\rho^\top)\phi = e,\ e_t = \textstyle\sum_i w_{ti}|\dot X_{ti}|^2 .

  With frozen weights (:math:`\rho` constant) the particles would move on straight lines; the two
  terms are the connection tensor C.  On Gauss–Hermite nodes of a Gaussian this is the full-space
  geodesic in Lagrangian form, discretised by the quadrature.
* Coordinates: :math:`\ddot\theta^k = -\Gamma^k_{ij}(\theta)\dot\theta^i\dot\theta^j` for any Christoffel
  map (symbolic or numeric); the exponential map is the solution at t = 1, and the boundary-value
  problem is solved by shooting on the initial velocity (scipy ``root``).

Integration: scipy DOP853 with rtol 1e-12 by default; the speed :math:`|\dot\gamma|_g` is returned so
callers can check metric compatibility (it must stay constant).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

from otgeom.errors import OtgeomError, PolicyError
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy
from otgeom.numeric.second_order import Linearization, gaussian_second_order, linearize

__all__ = ["GeodesicPath", "geodesic_acceleration", "particle_geodesic", "coordinate_geodesic", "exp_map",
           "shoot", "gaussian_christoffel"]


@dataclass(frozen=True)
class GeodesicPath:
    """t [T], position [T, ...], velocity [T, ...], speed2 [T] (:math:`g(\\dot\\gamma,\\dot\\gamma)`)."""

    t: np.ndarray
    position: np.ndarray = field(repr=False)
    velocity: np.ndarray = field(repr=False)
    speed2: np.ndarray

    @property
    def speed_drift(self) -> float:
        """max |speed^2(t) / speed^2(0) - 1| (0 for an exact geodesic: metric compatibility)."""
        return float(np.max(np.abs(self.speed2 / self.speed2[0] - 1)))


def geodesic_acceleration(lin: Linearization, V: np.ndarray) -> np.ndarray:
    """:math:`\\ddot X` of the particle geodesic through the linearised point with velocity V, shape=[n, N, d]."""
    V = lin.check(V, "velocity")
    drho = lin.drho(V)
    e = lin.state_inner(V, V)
    return -(drho / lin.sol.rho)[:, None, None] * V + 0.5 * lin.rho_adjoint(e)


def _ivp(rhs, y0, t_eval, rtol, atol, what):
    t_eval = np.asarray(t_eval, float)
    sol = solve_ivp(rhs, (float(t_eval[0]), float(t_eval[-1])), y0, t_eval=t_eval, method="DOP853",
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise OtgeomError(f"{what}: integration failed at t = {sol.t[-1] if sol.t.size else t_eval[0]:g}: {sol.message}")
    return sol.y.T


def particle_geodesic(prims, policy: ParticlePolicy, V: np.ndarray, t_eval, rtol: float = 1e-12,
                      atol: float = 1e-13) -> GeodesicPath:
    """The geodesic of g through the particle policy with initial velocity V [n, N, d]."""
    shape, w = policy.particles.shape, policy.weights
    V = np.asarray(V, float)
    if V.shape != shape:
        raise PolicyError(f"velocity has shape {list(V.shape)}, expected {list(shape)} (one per state and particle)")
    k = int(np.prod(shape))

    def state(y):
        pol = ParticlePolicy(y[:k].reshape(shape), w)
        return linearize(prims, pol.discretize(), "particle geodesic"), y[k:].reshape(shape)

    def rhs(t, y):
        lin, Xd = state(y)
        return np.concatenate([Xd.ravel(), geodesic_acceleration(lin, Xd).ravel()])

    Y = _ivp(rhs, np.concatenate([policy.particles.ravel(), V.ravel()]), t_eval, rtol, atol, "particle geodesic")
    speed2 = []
    for y in Y:
        lin, Xd = state(y)
        speed2.append(lin.metric(Xd, Xd))
    T = len(Y)
    return GeodesicPath(np.asarray(t_eval, float), Y[:, :k].reshape((T,) + shape), Y[:, k:].reshape((T,) + shape),
                        np.array(speed2))


def coordinate_geodesic(christoffel: Callable[[np.ndarray], np.ndarray], theta0, velocity0, t_eval,
                        metric: Callable[[np.ndarray], np.ndarray] | None = None, rtol: float = 1e-12,
                        atol: float = 1e-13) -> GeodesicPath:
    """Solve :math:`\\ddot\\theta^k = -\\Gamma^k_{ij}\\dot\\theta^i\\dot\\theta^j`; ``christoffel(theta)`` -> [K, K, K].

    With ``metric(theta)`` -> G [K, K] the speed :math:`\\dot\\theta^\\top G\\dot\\theta` is recorded (else NaN).
    """
    theta0 = np.asarray(theta0, float)
    v0 = np.asarray(velocity0, float)
    if v0.shape != theta0.shape:
        raise PolicyError(f"velocity has {v0.size} coordinates, the point {theta0.size}")
    K = theta0.size

    def rhs(t, y):
        x, v = y[:K], y[K:]
        return np.concatenate([v, -np.einsum("kij,i,j->k", christoffel(x), v, v)])

    Y = _ivp(rhs, np.concatenate([theta0, v0]), t_eval, rtol, atol, "coordinate geodesic")
    speed2 = np.array([y[K:] @ metric(y[:K]) @ y[K:] for y in Y]) if metric else np.full(len(Y), np.nan)
    return GeodesicPath(np.asarray(t_eval, float), Y[:, :K], Y[:, K:], speed2)


def exp_map(christoffel: Callable[[np.ndarray], np.ndarray], theta, velocity, rtol: float = 1e-12) -> np.ndarray:
    """:math:`\\exp_\\theta(v)`: the geodesic with :math:`\\gamma(0)=\\theta`, :math:`\\dot\\gamma(0)=v`, at t = 1."""
    return coordinate_geodesic(christoffel, theta, velocity, [0.0, 1.0], rtol=rtol).position[-1]


def shoot(christoffel: Callable[[np.ndarray], np.ndarray], theta0, theta1, tol: float = 1e-11) -> np.ndarray:
    """The initial velocity v with :math:`\\exp_{\\theta_0}(v) = \\theta_1` (boundary-value problem by shooting).

    Starts from the chord :math:`\\theta_1 - \\theta_0` and solves the endpoint equation with scipy's
    hybrid method; raises OtgeomError (with the residual) when it does not converge.
    """
    theta0, theta1 = np.asarray(theta0, float), np.asarray(theta1, float)
    sol = root(lambda v: exp_map(christoffel, theta0, v) - theta1, theta1 - theta0, method="hybr", tol=tol)
    res = float(np.abs(exp_map(christoffel, theta0, sol.x) - theta1).max())
    if res > 1e3 * tol * max(1.0, float(np.abs(theta1).max())):
        raise OtgeomError(f"shooting did not reach the end point: residual {res:.3g} ({sol.message})")
    return sol.x


def gaussian_christoffel(prims, n: int, order: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Numeric :math:`\\Gamma^k_{ij}(\\theta)` of G(theta) = diag(rho_s, rho_s), d = 1, from quadrature and drho solves."""
    def christoffel(theta):
        return gaussian_second_order(prims, GaussianPolicy.from_coordinates(theta, n, 1), order).christoffel

    return christoffel
