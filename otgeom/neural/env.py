r"""Models with a known differentiable step x' = f(x, a, w), w ~ N(0, I), and a cost c(x, a), in JAX.

* :class:`LQEnv` (:func:`lq_env`): the ``lq`` family, x' = A x + B a + W^{1/2} w, c = xᵀQ_c x + aᵀR a, in any
  dimension; its optimum is the DARE's (:func:`otgeom.numeric.lq.lq_optimum`).
* :class:`PendulumChain`: k pendulums (state (θ_1..θ_k, ω_1..ω_k), dimension 2k) each with the dynamics of
  Gymnasium's ``Pendulum-v1`` (θ = 0 upright, g = 10, m = l = 1, dt = 0.05), coupled to their neighbours by springs
  of stiffness κ and driven by noise of size σ on the velocities; one torque per pendulum; cost per pendulum
  angle_normalize(θ)² + 0.1 ω² + 0.001 u² (Gymnasium's).  Unlike Gymnasium the chain clips neither torque nor speed
  (so that the step is differentiable everywhere); :func:`gym_pendulum_step` is Gymnasium's step with its clips,
  and the tests check it, and the chain's uncoupled noise-free step inside the clip limits, against Gymnasium.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["LQEnv", "lq_env", "PendulumChain", "gym_pendulum_step", "angle_normalize"]


@dataclass(frozen=True)
class LQEnv:
    """x' = A x + B a + L w (L Lᵀ = W), c(x, a) = xᵀ Qc x + aᵀ R a."""

    A: jnp.ndarray
    B: jnp.ndarray
    Qc: jnp.ndarray
    R: jnp.ndarray
    L: jnp.ndarray

    @property
    def state_dim(self) -> int:
        return int(self.A.shape[0])

    @property
    def action_dim(self) -> int:
        return int(self.B.shape[1])

    @property
    def noise_dim(self) -> int:
        return int(self.A.shape[0])

    def step(self, x, a, w):
        return x @ self.A.T + a @ self.B.T + w @ self.L.T

    def cost(self, x, a):
        return jnp.einsum("...i,ij,...j->...", x, self.Qc, x) + jnp.einsum("...i,ij,...j->...", a, self.R, a)


def lq_env(family) -> LQEnv:
    """The :class:`LQEnv` of an ``lq`` family (its τ must be 0: the entropy term is not simulated)."""
    from otgeom.errors import ParameterError

    if family.tau != 0:
        raise ParameterError(f"{family.label}: the neural methods simulate the cost without the entropy term; tau "
                             f"= {family.tau:g} must be 0")
    return LQEnv(*(jnp.asarray(M, jnp.float64) for M in (family.A, family.B, family.Qc, family.R)),
                 jnp.asarray(np.linalg.cholesky(family.W), jnp.float64))


def angle_normalize(th):
    """Gymnasium's angle_normalize: θ mapped to [-π, π)."""
    return ((th + jnp.pi) % (2 * jnp.pi)) - jnp.pi


#: Gymnasium Pendulum-v1's constants
G, MASS, LENGTH, DT, MAX_SPEED, MAX_TORQUE = 10.0, 1.0, 1.0, 0.05, 8.0, 2.0


def gym_pendulum_step(th, thdot, u):
    """Gymnasium ``Pendulum-v1``'s step (its clips included): (new θ, new ω, cost)."""
    u = jnp.clip(u, -MAX_TORQUE, MAX_TORQUE)
    cost = angle_normalize(th) ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2
    newthdot = thdot + (3 * G / (2 * LENGTH) * jnp.sin(th) + 3.0 / (MASS * LENGTH ** 2) * u) * DT
    newthdot = jnp.clip(newthdot, -MAX_SPEED, MAX_SPEED)
    return th + newthdot * DT, newthdot, cost


@dataclass(frozen=True)
class PendulumChain:
    """k coupled noisy pendulums: state x = (θ, ω) ∈ R^{2k}, action u ∈ R^k.

    ω' = ω + (3g/(2l) sin θ + 3/(m l²)(u + κ Δθ)) dt + σ √dt w,  θ' = θ + ω' dt, with (Δθ)_i = θ_{i-1} - 2θ_i +
    θ_{i+1} (free ends), w ~ N(0, I_k); c(x, u) = Σ_i angle_normalize(θ_i)² + 0.1 ω_i² + 0.001 u_i²."""

    k: int = 10
    kappa: float = 1.0
    sigma: float = 0.1

    @property
    def state_dim(self) -> int:
        return 2 * self.k

    @property
    def action_dim(self) -> int:
        return self.k

    def step(self, x, u, w):
        th, om = x[..., :self.k], x[..., self.k:]
        pad = jnp.concatenate([th[..., :1], th, th[..., -1:]], axis=-1)  # free ends: no spring beyond them
        lap = pad[..., :-2] - 2 * th + pad[..., 2:]
        acc = 3 * G / (2 * LENGTH) * jnp.sin(th) + 3.0 / (MASS * LENGTH ** 2) * (u + self.kappa * lap)
        om2 = om + acc * DT + self.sigma * jnp.sqrt(DT) * w[..., :self.k]
        return jnp.concatenate([th + om2 * DT, om2], axis=-1)

    def cost(self, x, u):
        th, om = x[..., :self.k], x[..., self.k:]
        return jnp.sum(angle_normalize(th) ** 2 + 0.1 * om ** 2 + 0.001 * u ** 2, axis=-1)

    @property
    def noise_dim(self) -> int:
        return self.state_dim

    def linearisation(self) -> tuple[np.ndarray, np.ndarray]:
        r"""(A, B) of the step linearised at the upright rest x = 0, u = 0: with
        :math:`M = \tfrac{3g}{2l}I + \tfrac{3\kappa}{ml^2}\Delta` and :math:`b = \tfrac{3}{ml^2}`,
        :math:`\omega' = \omega + (M\theta + bu)\,dt`, :math:`\theta' = \theta + \omega'dt`."""
        k, dt = self.k, DT
        lap = -2 * np.eye(k) + np.eye(k, k=1) + np.eye(k, k=-1)
        lap[0, 0] += 1.0  # free ends: the end's missing neighbour is itself (k = 1: no spring at all)
        lap[-1, -1] += 1.0
        M = 3 * G / (2 * LENGTH) * np.eye(k) + 3.0 / (MASS * LENGTH ** 2) * self.kappa * lap
        b = 3.0 / (MASS * LENGTH ** 2)
        I = np.eye(k)
        A = np.block([[I + dt * dt * M, dt * I], [dt * M, I]])
        B = np.vstack([dt * dt * b * I, dt * b * I])
        return A, B

    def upright_gain(self) -> np.ndarray:
        """The LQR gain K (u = −Kx) of :meth:`linearisation` with the chain's quadratic cost (θ² + 0.1 ω² + 0.001 u²
        per pendulum), from scipy's discrete algebraic Riccati solver: it holds the chain upright near x = 0."""
        from scipy.linalg import solve_discrete_are

        A, B = self.linearisation()
        Qc = np.diag(np.r_[np.ones(self.k), 0.1 * np.ones(self.k)])
        R = 0.001 * np.eye(self.k)
        P = solve_discrete_are(A, B, Qc, R)
        return np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
