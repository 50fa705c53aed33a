r"""Gradients of J for push-forward policies (THEORY.md section 7), and the projected Wasserstein step.

* **Pathwise (Wasserstein) gradient**, :math:`\nabla_\theta J = E_{x\sim\rho,\xi}[\partial_\theta T_\theta(x,\xi)^\top
  \nabla_aQ(x, T_\theta(x, \xi))]`.  Two realisations: :func:`pathwise_samples` with a given ∇_aQ (e.g. the closed
  form on ``lq``), one sample per (x, ξ); and :func:`jt_gradient`, ``jax.grad`` of the simulated J_T through the
  model: by the chain rule it sums :math:`\partial_\theta T(x_t,\xi_t)^\top\nabla_{a_t}\sum_{s\ge t}c_s`, the same
  estimator with ∇_aQ obtained by differentiating the simulated future cost (exact up to the horizon's end).
* **Score-function baseline**, :math:`E[Q(x,a)\nabla_\theta\log\pi_\theta(a|x)]` (:func:`score_samples`; Gaussian
  policies only): the same expectation, with a variance the tests compare.
* **Both estimators from simulated futures** (:func:`rollout_samples`): where Q has no closed form (the pendulum
  chain), each sample (x_i, ξ_i) gets one simulated future of H steps with common random numbers, whose cost
  :math:`C_i(a)` is a differentiable function of the first action a; the pathwise sample is
  :math:`\partial_\theta T(x_i,\xi_i)^\top\nabla_aC_i(a_i)` and the score-function sample
  :math:`(C_i(a_i) - b)\nabla_\theta\log\pi_\theta(a_i|x_i)` from the same rollout, so the two are compared at
  equal sample counts and equal simulation cost; :func:`estimator_variance` compares them.
* **Projected Wasserstein step** :math:`\theta' = \theta - \eta\,G(\theta)^{-1}\nabla_\theta J`,
  :math:`G(\theta) = E[\partial_\theta T^\top\partial_\theta T]`, applied matrix-free: :func:`metric_vector_product`
  is one Jacobian-vector product and one vector-Jacobian product of the push-forward batched over the samples
  (``jax.jvp``, ``jax.vjp``; no per-sample Jacobian is formed), and :func:`natural_direction` (or, compiled once
  for a training run, :func:`natural_solver`) solves :math:`(G + \lambda I)d = \nabla J` by conjugate gradients.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from otgeom.neural.ergodic import simulate

__all__ = ["jt_loss", "jt_gradient", "pathwise_samples", "score_samples", "rollout_samples", "RolloutSamples",
           "estimator_variance", "EstimatorVariance", "metric_vector_product", "natural_direction",
           "natural_solver", "NaturalDirection"]


def jt_loss(env, policy, theta, xi, w, burn_in: int):
    """J_T with the given noise: the mean cost after ``burn_in`` steps (differentiable in ``theta``)."""
    costs, _ = simulate(env, policy, theta, xi, w)
    return jnp.mean(costs[:, burn_in:])


def jt_gradient(env, policy, theta, xi, w, burn_in: int):
    """(J_T, ∇_θ J_T, largest state norm per step): the pathwise gradient through the simulated model."""
    def loss(th):
        costs, norms = simulate(env, policy, th, xi, w)
        return jnp.mean(costs[:, burn_in:]), norms

    (J, norms), g = jax.value_and_grad(loss, has_aux=True)(theta)
    return J, g, norms


def _flat_push(policy, theta):
    flat, unravel = ravel_pytree(theta)
    return flat, (lambda f, x, xi: policy.push(unravel(f), x, xi))


def pathwise_samples(policy, theta, x, xi, grad_a_Q):
    r"""Per-sample :math:`\partial_\theta T(x_i,\xi_i)^\top\nabla_aQ(x_i, a_i)`, shape [N, P] (P parameters, flattened
    as ``jax.flatten_util.ravel_pytree(theta)``); ``grad_a_Q(x, a)`` batched."""
    flat, push = _flat_push(policy, theta)
    a = push(flat, x, xi)
    gq = grad_a_Q(x, a)

    def one(xk, xik, gk):
        _, vjp = jax.vjp(lambda f: push(f, xk, xik), flat)
        return vjp(gk)[0]

    return jax.vmap(one)(x, xi, gq)


def score_samples(policy, theta, x, xi, Q):
    r"""Per-sample :math:`Q(x_i,a_i)\nabla_\theta\log\pi_\theta(a_i|x_i)`, shape [N, P] (Gaussian policies)."""
    flat, unravel = ravel_pytree(theta)
    a = policy.push(theta, x, xi)
    q = Q(x, a)

    def one(xk, ak, qk):
        return qk * jax.grad(lambda f: policy.log_prob(unravel(f), xk, ak))(flat)

    return jax.vmap(one)(x, a, q)


@dataclass(frozen=True)
class RolloutSamples:
    """Per-sample estimates of ∇_θJ from simulated futures: ``pathwise`` and ``score`` [N, P] (``score`` None for a
    policy without a density), the futures' costs C_i(a_i) [N], the horizon H, and the baseline b."""

    pathwise: jnp.ndarray
    score: jnp.ndarray | None
    cost_to_go: jnp.ndarray
    horizon: int
    baseline: float


def rollout_samples(env, policy, theta, x, xi, key, horizon: int) -> RolloutSamples:
    r"""Pathwise and score-function samples of :math:`\nabla_\theta J` at the states ``x`` [N, n] with the action
    noise ``xi`` [N, m], each from one simulated future of ``horizon`` steps (module docstring).

    :math:`C_i(a) = c(x_i, a) + \sum_{t=1}^{H-1} c(x^i_t, a^i_t)`, the future following the policy with fresh noise
    (from ``key``) and θ held fixed, estimates :math:`Q_H(x_i, a)`; :math:`\nabla_aQ_H \to \nabla_aQ` as H grows
    (the effect of the first action decays with the closed loop's mixing), and a constant shift of Q changes
    neither :math:`\nabla_aQ` nor the expectation of the score term.  The score samples use the baseline
    b = mean of the C_i (the usual variance reduction; its O(1/N) correlation with the samples is negligible next
    to their spread).  Both samples of one i share a_i and the future, so their means estimate the same vector
    :math:`E_{x,\xi}[\partial_\theta T^\top\nabla_aQ_H] = E_{x,a}[Q_H\nabla_\theta\log\pi]` (Gaussian integration by
    parts in a): the two can be compared at equal sample counts."""
    if horizon < 1:
        from otgeom.errors import ParameterError

        raise ParameterError(f"the horizon of the simulated futures must be at least 1 step, got {horizon}")
    flat, push = _flat_push(policy, theta)
    n_samples, m = xi.shape
    k1, k2 = jax.random.split(key)
    fxi = jax.random.normal(k1, (n_samples, max(horizon - 1, 0), m))
    fw = jax.random.normal(k2, (n_samples, horizon, env.noise_dim))

    def cost_to_go(a0, x0, fxi_i, fw_i):
        x1 = env.step(x0, a0, fw_i[0])

        def body(xc, inputs):
            xi_t, w_t = inputs
            a = policy.push(theta, xc, xi_t)
            return env.step(xc, a, w_t), env.cost(xc, a)

        _, cs = jax.lax.scan(body, x1, (fxi_i, fw_i[1:]))
        return env.cost(x0, a0) + jnp.sum(cs)

    def one(xk, xik, fxik, fwk):
        a, vjp = jax.vjp(lambda f: push(f, xk, xik), flat)
        C, gC = jax.value_and_grad(cost_to_go)(a, xk, fxik, fwk)
        pw = vjp(gC)[0]
        if not hasattr(policy, "log_prob"):
            return pw, C, jnp.zeros_like(flat)
        unravel = ravel_pytree(theta)[1]
        return pw, C, jax.grad(lambda f: policy.log_prob(unravel(f), xk, a))(flat)

    pw, C, score_fn = jax.jit(jax.vmap(one))(x, xi, fxi, fw)
    b = float(jnp.mean(C))
    score = (C - b)[:, None] * score_fn if hasattr(policy, "log_prob") else None
    return RolloutSamples(pw, score, C, horizon, b)


@dataclass(frozen=True)
class EstimatorVariance:
    """Two estimators of the same vector from N sample pairs: the total variance per sample (the trace of each
    covariance), their ratio (first / second), and the largest |z| over the P coordinates of the mean paired
    difference, z = mean(a_i − b_i) / (std(a_i − b_i)/√N).  The pairs must be independent across i (each pair may
    share its state and noise, as the samples of :func:`rollout_samples` do); then each z is approximately standard
    normal when the two estimate the same vector, and the largest of P is rarely above 4.5 for P in the hundreds."""

    first: float
    second: float
    ratio: float
    max_z: float
    samples: int
    parameters: int


def estimator_variance(first, second) -> EstimatorVariance:
    """:class:`EstimatorVariance` of per-sample estimates ``first`` and ``second`` [N, P] (the pathwise and the
    score-function ones, say)."""
    import numpy as np

    a, b = np.asarray(first, float), np.asarray(second, float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 2:
        from otgeom.errors import ParameterError

        raise ParameterError(f"two [N, P] sample arrays with N >= 2 are needed, got {a.shape} and {b.shape}")
    n = a.shape[0]
    va, vb = a.var(axis=0, ddof=1), b.var(axis=0, ddof=1)
    d = a - b
    se = d.std(axis=0, ddof=1) / np.sqrt(n)
    diff = np.abs(d.mean(axis=0))
    z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), np.where(diff > 0, np.inf, 0.0))
    return EstimatorVariance(float(va.sum()), float(vb.sum()), float(va.sum() / vb.sum()) if vb.sum() > 0
                             else float("inf"), float(z.max()), n, a.shape[1])


def metric_vector_product(policy, theta, x, xi, v, weights=None):
    r""":math:`G v = \sum_i w_i J_i^\top J_i v`, :math:`J_i = \partial_\theta T(x_i, \xi_i)` (weights default 1/N).

    One Jacobian-vector product and one vector-Jacobian product of the batched push-forward (all samples at once,
    the cotangent weighted per sample), so no per-sample [N, P] Jacobian is ever formed."""
    flat, push = _flat_push(policy, theta)
    n = x.shape[0]
    wts = jnp.full(n, 1.0 / n) if weights is None else weights

    def batched(f):
        return push(f, x, xi)

    jv = jax.jvp(batched, (flat,), (v,))[1]
    _, vjp = jax.vjp(batched, flat)
    return vjp(wts[:, None] * jv)[0]


@dataclass(frozen=True)
class NaturalDirection:
    """The solution d of (G + λI) d = g, the relative residual of that solve, the damping λ, and dᵀGd: the squared
    root-mean-square displacement of the actions along d at the sampled (x, ξ), per unit step size.  That is the
    cost of one coupling (the same ξ before and after), so to first order an upper bound on the W2 length of the
    step, averaged over the states."""

    direction: jnp.ndarray
    residual: float
    damping: float
    metric_norm2: float = float("nan")


def natural_solver(policy, damping: float = 1e-8, tol: float = 1e-10, maxiter: int = 500):
    """``solve(theta, x, xi, grad_flat, weights=None) -> NaturalDirection``: :func:`natural_direction` for one
    policy, compiled once (``jax.jit`` of the whole CG solve) and reused across training steps.  A fresh
    :func:`natural_direction` call traces and compiles the solve again (about 0.3 s even for a 110-parameter
    linear policy), which dominated a training step."""

    @jax.jit
    def _solve(theta, x, xi, grad_flat, weights):
        def op(v):
            return metric_vector_product(policy, theta, x, xi, v, weights) + damping * v

        d, _ = jax.scipy.sparse.linalg.cg(op, grad_flat, tol=tol, maxiter=maxiter)
        Gd = metric_vector_product(policy, theta, x, xi, d, weights)
        res = jnp.linalg.norm(Gd + damping * d - grad_flat) / jnp.maximum(jnp.linalg.norm(grad_flat), 1e-300)
        return d, res, d @ Gd

    def solve(theta, x, xi, grad_flat, weights=None) -> NaturalDirection:
        wts = jnp.full(x.shape[0], 1.0 / x.shape[0]) if weights is None else weights
        d, res, dGd = _solve(theta, x, xi, grad_flat, wts)
        return NaturalDirection(d, float(res), damping, float(dGd))

    return solve


def natural_direction(policy, theta, x, xi, grad_flat, weights=None, damping: float = 1e-8, tol: float = 1e-10,
                      maxiter: int = 500) -> NaturalDirection:
    """(G + λI)⁻¹ ∇J by conjugate gradients on :func:`metric_vector_product` (G is symmetric positive
    semi-definite, so G + λI is positive definite for λ > 0).  One call; a training loop uses
    :func:`natural_solver`, which compiles once."""
    return natural_solver(policy, damping, tol, maxiter)(theta, x, xi, grad_flat, weights)
