r"""The ergodic approximation of J (THEORY.md section 7): long trajectories, burn-in, batch means; its bias on ``lq``.

:math:`J_T(\theta) = \frac1{BT}\sum_{b<B}\sum_{t=t_0}^{t_0+T-1} c(x^b_t, a^b_t)` over B trajectories from x_0 = 0,
simulated with ``lax.scan``, after a burn-in of :math:`t_0` steps.  Its confidence interval is by batch means:
each trajectory's T costs are cut into ``blocks`` contiguous blocks, and the B·blocks block means are treated as
independent (valid when a block is much longer than the mixing time), with Student's t.

On ``lq`` with a linear policy (a = −Kx + Σ^{1/2}ξ) everything is known: :math:`E[x_tx_t^\top] = S_t` with
:math:`S_{t+1} = A_KS_tA_K^\top + B\Sigma B^\top + W`, :math:`S_0 = 0`, so the exact bias of :math:`E[J_T]` is
:math:`\frac1T\sum_t \mathrm{tr}(Q_K(S_t - X)) = -\frac1T\sum_t\mathrm{tr}(Q_KA_K^tXA_K^{t\top})`, and with
:math:`\|A_K^t\|_2 \le C\gamma^t` (γ between the spectral radius of :math:`A_K` and 1, C computed)

.. math::
    |E[J_T] - J| \le \|Q_K\|_2\,\mathrm{tr}(X)\,\frac{C^2\gamma^{2t_0}}{T(1 - \gamma^2)}\quad
    (Q_K = Q_c + K^\top RK;\ \mathrm{tr}(Q_KMXM^\top) \le \|Q_K\|_2\|M\|_2^2\mathrm{tr}(X)),

the mixing bound: geometric in the burn-in, 1/T in the horizon.  γ = ρ(A_K) + (1 − ρ(A_K))/4, and C is the largest
:math:`\|A_K^t\|_2/\gamma^t` up to the step where that ratio has fallen below 1e-3 of its maximum (past the transient
it decays like :math:`(\rho/\gamma)^t` times a polynomial).  Trajectories whose state leaves a ball of radius
``blow_up`` (or is not finite) raise :class:`~otgeom.errors.DivergenceError` naming the step.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from otgeom.errors import OtgeomError

__all__ = ["DivergenceError", "simulate", "sample_states", "ergodic_cost", "ErgodicEstimate", "lq_bias", "LQBias",
           "BLOW_UP"]

#: a state norm above this (or not finite) counts as a diverging trajectory
BLOW_UP = 1e6


class DivergenceError(OtgeomError, ArithmeticError):
    """Trajectories diverge (the closed loop is unstable): ``step`` is the first time step where a state norm
    exceeded :data:`BLOW_UP` or was not finite (None when only the total is known); ``training_step`` the training
    step it happened at (set by :func:`otgeom.neural.train.train`; None outside training)."""

    def __init__(self, message: str, step: int | None = None, training_step: int | None = None):
        super().__init__(message)
        self.step = step
        self.training_step = training_step


def noise(key, env, policy_action_dim: int, batch: int, steps: int):
    """(ξ [steps, batch, m], w [steps, batch, noise_dim]) standard normal: the common random numbers of a rollout."""
    k1, k2 = jax.random.split(key)
    return (jax.random.normal(k1, (steps, batch, policy_action_dim)),
            jax.random.normal(k2, (steps, batch, env.noise_dim)))


def simulate(env, policy, theta, xi, w, x0=None, states: bool = False):
    """Roll out with the given noise: (costs [batch, steps], the largest state norm per step [steps]) and, with
    ``states``, the states x_t the actions were taken in, [steps, batch, n].

    Differentiable in ``theta`` (the pathwise gradient of J_T is ``jax.grad`` of the mean cost)."""
    batch = xi.shape[1]
    x0 = jnp.zeros((batch, env.state_dim)) if x0 is None else x0

    def body(x, inputs):
        xi_t, w_t = inputs
        a = policy.push(theta, x, xi_t)
        c = env.cost(x, a)
        x2 = env.step(x, a, w_t)
        out = (c, jnp.max(jnp.linalg.norm(x2, axis=-1)))
        return x2, (out + (x,) if states else out)

    _, outs = jax.lax.scan(body, x0, (xi, w))
    return (outs[0].T, *outs[1:])


def sample_states(env, policy, theta, key, n: int, burn_in: int = 200):
    """``n`` independent states [n, state_dim]: the state after ``burn_in`` steps of ``n`` independent trajectories
    from x_0 = 0 (samples of the stationary law ρ up to the burn-in's bias; independent, so that the standard
    errors of the gradient estimators are honest; DivergenceError when the trajectories blow up)."""
    xi, w = noise(key, env, _action_dim(policy, env), n, burn_in + 1)
    _, norms, xs = simulate(env, policy, theta, xi, w, states=True)
    check_divergence(norms, "state sampling")
    return xs[burn_in]


def check_divergence(norms, owner: str = "rollout") -> None:
    """DivergenceError naming the first step where a state norm exceeds :data:`BLOW_UP` or is not finite."""
    norms = np.asarray(norms)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms > BLOW_UP))
    if bad.size:
        k = int(bad[0])
        raise DivergenceError(f"{owner}: trajectories diverge: the state norm is {norms[k]:.3g} at step {k + 1} "
                              f"(limit {BLOW_UP:g}); the closed loop is unstable", step=k + 1)


@dataclass(frozen=True)
class ErgodicEstimate:
    """J_T, the half-width of its 95 % batch-means interval, the block means, T, the burn-in and the batch."""

    J: float
    half_width: float
    block_means: np.ndarray
    T: int
    burn_in: int
    batch: int


def ergodic_cost(env, policy, theta, key, T: int = 2000, burn_in: int = 500, batch: int = 8,
                 blocks: int = 10) -> ErgodicEstimate:
    """:class:`ErgodicEstimate` of J at ``theta`` (DivergenceError when the trajectories blow up)."""
    from scipy.stats import t as student

    xi, w = noise(key, env, _action_dim(policy, env), batch, burn_in + T)
    costs, norms = jax.jit(lambda th, a, b: simulate(env, policy, th, a, b))(theta, xi, w)
    check_divergence(norms, "ergodic estimate")
    c = np.asarray(costs)[:, burn_in:]
    L = T // blocks
    bm = c[:, :L * blocks].reshape(batch, blocks, L).mean(axis=2).ravel()
    k = bm.size
    half = float(student.ppf(0.975, k - 1) * bm.std(ddof=1) / np.sqrt(k))
    return ErgodicEstimate(float(c.mean()), half, bm, T, burn_in, batch)


def _action_dim(policy, env) -> int:
    return int(getattr(policy, "action_dim", env.action_dim))


@dataclass(frozen=True)
class LQBias:
    """On ``lq`` with a linear policy: J (the Lyapunov closed form), the exact bias of E[J_T], and the mixing bound
    (γ, C and the bound itself)."""

    J: float
    bias: float
    bound: float
    gamma: float
    C: float
    spectral_radius: float


def lq_bias(family, K: np.ndarray, Sigma: np.ndarray, T: int, burn_in: int) -> LQBias:
    """:class:`LQBias` of J_T (x_0 = 0) for the policy a = −Kx + Σ^{1/2}ξ (module docstring)."""
    from otgeom.numeric.lq import LQPolicy, lq_point

    K, Sigma = np.atleast_2d(np.asarray(K, float)), np.atleast_2d(np.asarray(Sigma, float))
    pt = lq_point(family, LQPolicy(K, Sigma))
    AK = family.A - family.B @ K
    QK = family.Qc + K.T @ family.R @ K
    noise_cov = family.B @ Sigma @ family.B.T + family.W
    S = np.zeros_like(AK)
    total = 0.0
    for t in range(burn_in + T):
        if t >= burn_in:
            total += float(np.trace(QK @ S)) + float(np.trace(family.R @ Sigma))
        S = AK @ S @ AK.T + noise_cov
    bias = total / T - float(pt.J)
    rho = float(np.abs(np.linalg.eigvals(AK)).max())
    gamma = rho + (1 - rho) / 4
    C, M, t = 1.0, np.eye(AK.shape[0]), 0
    while True:  # C = sup_t ||A_K^t|| / gamma^t: the ratio decays geometrically once t is past the transient
        t += 1
        M = M @ AK
        r = float(np.linalg.norm(M, 2)) / gamma ** t
        C = max(C, r)
        if r < 1e-3 * C or t > 100_000:
            break
    bound = float(np.linalg.norm(QK, 2) * np.trace(pt.X)) * C ** 2 * gamma ** (2 * burn_in) / (T * (1 - gamma ** 2))
    return LQBias(float(pt.J), bias, bound, gamma, C, rho)
