r"""Policies as push-forwards a = T_θ(x, ξ), ξ ~ N(0, I_m), with θ a JAX pytree (a dict of arrays).

* :class:`LinearGaussian`: T = −K x + σ ⊙ ξ (θ = {K, log_std}); on ``lq`` this is the family of THEORY.md section 5
  with Σ = diag(σ²), so its projected Wasserstein step can be compared with the closed-form flow.
* :class:`MLPGaussian`: T = μ_θ(x) + σ ⊙ ξ, μ an MLP (tanh hidden layers, linear output; the output layer starts
  at 0), σ = exp(log_std) learned and state-independent.
* :class:`ImplicitMLP`: T = g_θ([x, ξ]), an MLP of the state and the noise: an implicit push-forward policy
  without a density (the score-function estimator does not apply to it; the pathwise one does).

Each has ``init(key)``, ``push(theta, x, xi)`` (batched over leading axes) and, for the Gaussian ones,
``log_prob(theta, x, a)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["LinearGaussian", "MLPGaussian", "ImplicitMLP", "init_mlp", "mlp"]


def init_mlp(key, sizes: tuple[int, ...], zero_last: bool = True) -> list[dict]:
    """Weights of an MLP with layer widths ``sizes``: Glorot-normal, biases 0, the last layer 0 if ``zero_last``."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        W = jnp.zeros((a, b)) if (last and zero_last) else jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / (a + b))
        layers.append({"W": W, "b": jnp.zeros(b)})
    return layers


def mlp(layers: list[dict], x):
    """tanh hidden layers, linear output."""
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["W"] + layer["b"])
    return x @ layers[-1]["W"] + layers[-1]["b"]


def _log_std0(action_dim: int, std0: float):
    """The initial log standard deviations, strong float64 (a weak-typed leaf would recompile jitted code)."""
    return jnp.full(action_dim, np.log(std0), dtype=jnp.float64)


def _skip(theta, x, out):
    """``out`` minus the linear skip term K x when θ has one (``linear_init``: e.g. a stabilising gain)."""
    return out - x @ theta["K"].T if "K" in theta else out


class _DiagonalGaussian:
    """a = mean(θ, x) + exp(log_std) ⊙ ξ: the push-forward and the log-density of a Gaussian with a
    state-independent diagonal covariance, for any ``mean``."""

    def push(self, theta, x, xi):
        return self.mean(theta, x) + jnp.exp(theta["log_std"]) * xi

    def log_prob(self, theta, x, a):
        z = (a - self.mean(theta, x)) * jnp.exp(-theta["log_std"])
        return jnp.sum(-0.5 * z ** 2 - theta["log_std"] - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


@dataclass(frozen=True)
class LinearGaussian(_DiagonalGaussian):
    """a = −K x + exp(log_std) ⊙ ξ."""

    state_dim: int
    action_dim: int
    K0: jnp.ndarray | None = None
    std0: float = 1.0

    def init(self, key=None) -> dict:
        K = jnp.zeros((self.action_dim, self.state_dim)) if self.K0 is None else jnp.asarray(self.K0, jnp.float64)
        return {"K": K, "log_std": _log_std0(self.action_dim, self.std0)}

    def mean(self, theta, x):
        return -x @ theta["K"].T


@dataclass(frozen=True)
class MLPGaussian(_DiagonalGaussian):
    """a = μ_θ(x) + exp(log_std) ⊙ ξ, μ an MLP with hidden widths ``hidden``."""

    state_dim: int
    action_dim: int
    hidden: tuple[int, ...] = (32,)
    std0: float = 0.5
    linear_init: jnp.ndarray | None = field(default=None)

    def init(self, key) -> dict:
        theta = {"mlp": init_mlp(key, (self.state_dim, *self.hidden, self.action_dim)),
                 "log_std": _log_std0(self.action_dim, self.std0)}
        if self.linear_init is not None:  # a linear skip term -K0 x, e.g. a stabilising gain to start from
            theta["K"] = jnp.asarray(self.linear_init, jnp.float64)
        return theta

    def mean(self, theta, x):
        return _skip(theta, x, mlp(theta["mlp"], x))


@dataclass(frozen=True)
class ImplicitMLP:
    """a = g_θ([x, ξ]) (+ −K0 x when ``linear_init`` is given): no density, so no score-function estimator."""

    state_dim: int
    action_dim: int
    hidden: tuple[int, ...] = (32,)
    linear_init: jnp.ndarray | None = field(default=None)

    def init(self, key) -> dict:
        theta = {"mlp": init_mlp(key, (self.state_dim + self.action_dim, *self.hidden, self.action_dim),
                                 zero_last=False)}
        if self.linear_init is not None:
            theta["K"] = jnp.asarray(self.linear_init, jnp.float64)
        return theta

    def push(self, theta, x, xi):
        return _skip(theta, x, mlp(theta["mlp"], jnp.concatenate([x, xi], axis=-1)))
