r"""Gradients of J for push-forward policies (THEORY.md section 7), and the projected Wasserstein step.

* **Pathwise (Wasserstein) gradient**, :math:`\nabla_\theta J = E_{x\sim\rho,\xi}[\partial_\theta T_\theta(x,\xi)^\top
  \nabla_aQ(x, T_\theta(x, \xi))]`.  Two realisations: :func:`pathwise_samples` with a given ∇_aQ (e.g. the closed
  form on ``lq``), one sample per (x, ξ); and :func:`jt_gradient`, ``jax.grad`` of the simulated J_T through the
  model: by the chain rule it sums :math:`\partial_\theta T(x_t,\xi_t)^\top\nabla_{a_t}\sum_{s\ge t}c_s`, the same
  estimator with ∇_aQ obtained by differentiating the simulated future cost (exact up to the horizon's end).
* **Score-function baseline**, :math:`E[Q(x,a)\nabla_\theta\log\pi_\theta(a|x)]` (:func:`score_samples`; Gaussian
  policies only): the same expectation, with a variance the tests compare.
* **Projected Wasserstein step** :math:`\theta' = \theta - \eta\,G(\theta)^{-1}\nabla_\theta J`,
  :math:`G(\theta) = E[\partial_\theta T^\top\partial_\theta T]`, applied matrix-free: :func:`metric_vector_product`
  is one Jacobian-vector product and one vector-Jacobian product per sample (``jax.jvp``, ``jax.vjp``), and
  :func:`natural_direction` solves :math:`(G + \lambda I)d = \nabla J` by conjugate gradients.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from otgeom.neural.ergodic import simulate

__all__ = ["jt_loss", "jt_gradient", "pathwise_samples", "score_samples", "metric_vector_product",
           "natural_direction", "NaturalDirection"]


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


def metric_vector_product(policy, theta, x, xi, v, weights=None):
    r""":math:`G v = \sum_i w_i J_i^\top J_i v`, :math:`J_i = \partial_\theta T(x_i, \xi_i)` (weights default 1/N)."""
    flat, push = _flat_push(policy, theta)
    n = x.shape[0]
    wts = jnp.full(n, 1.0 / n) if weights is None else weights

    def one(xk, xik, wk):
        _, jv = jax.jvp(lambda f: push(f, xk, xik), (flat,), (v,))
        _, vjp = jax.vjp(lambda f: push(f, xk, xik), flat)
        return wk * vjp(jv)[0]

    return jnp.sum(jax.vmap(one)(x, xi, wts), axis=0)


@dataclass(frozen=True)
class NaturalDirection:
    """The solution d of (G + λI) d = g, the relative residual, and the CG iterations used (None: not reported)."""

    direction: jnp.ndarray
    residual: float
    damping: float


def natural_direction(policy, theta, x, xi, grad_flat, weights=None, damping: float = 1e-8, tol: float = 1e-10,
                      maxiter: int = 500) -> NaturalDirection:
    """(G + λI)⁻¹ ∇J by conjugate gradients on :func:`metric_vector_product` (G is symmetric positive
    semi-definite, so G + λI is positive definite for λ > 0)."""
    def op(v):
        return metric_vector_product(policy, theta, x, xi, v, weights) + damping * v

    d, _ = jax.scipy.sparse.linalg.cg(op, grad_flat, tol=tol, maxiter=maxiter)
    res = float(jnp.linalg.norm(op(d) - grad_flat) / jnp.maximum(jnp.linalg.norm(grad_flat), 1e-300))
    return NaturalDirection(d, res, damping)
