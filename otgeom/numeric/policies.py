r"""Policies: one action law per state, and their discretisation into weighted points.

* :class:`GaussianPolicy` -- :math:`\pi_s = \mathcal N(m_s, \Sigma_s)`, mean shape=[n, d], cov shape=[n, d, d].
* :class:`ParticlePolicy` -- :math:`\pi_s = \sum_i w_{si}\delta_{a_{si}}`, particles shape=[n, N, d], weights shape=[n, N].
* :class:`QuantilePolicy` -- d = 1, :math:`X_s(u_i)` at :math:`u_i = (i + 1/2)/N`; W2 is flat in these
  coordinates: :math:`W_2(\mu,\nu)^2 = \int_0^1 |X_\mu(u) - X_\nu(u)|^2 du`.

Every numeric computation works on :class:`WeightedPoints` (the nodes of a quadrature rule for a Gaussian,
:mod:`otgeom.numeric.quadrature`, or of Gauss–Hermite by :meth:`GaussianPolicy.discretize`; the particles
themselves otherwise), so one code path serves all policies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otgeom.errors import PolicyError, check_finite

__all__ = ["WeightedPoints", "GaussianPolicy", "ParticlePolicy", "QuantilePolicy", "gauss_hermite", "weighted_sum",
           "sum_roundoff"]


@dataclass(frozen=True)
class WeightedPoints:
    """points shape=[n, N, d], weights shape=[n, N] (each row sums to 1)."""

    points: np.ndarray
    weights: np.ndarray

    @property
    def n_states(self) -> int:
        return self.points.shape[0]

    @property
    def action_dim(self) -> int:
        return self.points.shape[2]

    def expect(self, values: np.ndarray) -> np.ndarray:
        r"""Per-state expectation of values shape=[n, N, ...] -> shape=[n, ...], by pairwise summation.

        Round-off: at most :func:`sum_roundoff` (N) times :math:`\sum_i w_i|f_i|` (numpy's pairwise sum over a
        contiguous last axis, see :func:`weighted_sum`).
        """
        values = np.asarray(values, float)
        return np.stack([weighted_sum(self.weights[s], values[s]) for s in range(self.n_states)])


def weighted_sum(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i w_i f_i` over the first axis of values [N, ...], by numpy's pairwise summation.

    The products are laid out with N as the contiguous last axis, where ``np.add.reduce`` sums pairwise (blocks of
    at most 128 summed by 8 accumulators, then halves): the round-off is at most ``sum_roundoff(N)`` times
    :math:`\sum_i |w_i f_i|`, instead of :math:`N\epsilon` for a sequential dot product.
    """
    values = np.asarray(values, float)
    prod = np.ascontiguousarray(np.moveaxis(values, 0, -1)) * w
    return prod.sum(axis=-1)


def sum_roundoff(N: int) -> float:
    r"""Relative round-off bound of :func:`weighted_sum` over N terms: :math:`(24 + \log_2 N)\,\epsilon`.

    numpy's pairwise sum adds at most 16 terms sequentially per accumulator, combines 8 accumulators in 3 levels and
    halves recursively above 128 terms (log2(N/128) levels); one more rounding for each product.
    """
    return (24 + float(np.log2(max(N, 2)))) * float(np.finfo(float).eps)


def gauss_hermite(mean: np.ndarray, cov: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Tensor Gauss–Hermite rule for :math:`\mathcal N(m, \Sigma)`: nodes shape=[order^d, d], weights shape=[order^d].

    Exact for polynomials of degree < 2*order in each coordinate.  Nodes are
    :math:`m + L z` with :math:`LL^\top = \Sigma` (Cholesky).
    """
    with np.errstate(all="ignore"):
        z, w = np.polynomial.hermite_e.hermegauss(order)
    if not np.isfinite(w).all():
        raise PolicyError(f"Gauss-Hermite order {order} is beyond numpy's range (its weights overflow); use <= 360")
    w = w / w.sum()
    d = mean.shape[0]
    Z = np.stack(np.meshgrid(*([z] * d), indexing="ij"), axis=-1).reshape(-1, d)
    W = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), axis=-1).reshape(-1, d), axis=1)
    L = np.linalg.cholesky(cov)
    return mean + Z @ L.T, W


@dataclass(frozen=True)
class GaussianPolicy:
    """:math:`\\pi_s = \\mathcal N(m_s, \\Sigma_s)`; mean shape=[n, d], cov shape=[n, d, d] (SPD, checked)."""

    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self) -> None:
        mean = check_finite(self.mean, "mean", "policy")
        cov = check_finite(self.cov, "cov", "policy")
        if mean.ndim != 2:
            raise PolicyError(f"policy: mean must have shape [n_states, d], got {list(mean.shape)}")
        n, d = mean.shape
        if cov.shape != (n, d, d):
            raise PolicyError(f"policy: cov must have shape [{n}, {d}, {d}] to match mean, got {list(cov.shape)}")
        for s in range(n):
            if not np.allclose(cov[s], cov[s].T, rtol=0, atol=1e-14 * max(1.0, np.abs(cov[s]).max())):
                raise PolicyError(f"policy: covariance of state {s} is not symmetric: {cov[s].tolist()}")
            ev = np.linalg.eigvalsh(cov[s])
            if ev.min() <= 0:
                raise PolicyError(
                    f"policy: covariance of state {s} is not positive definite (smallest eigenvalue {ev.min():.6g})"
                )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", 0.5 * (cov + np.swapaxes(cov, 1, 2)))

    @classmethod
    def from_std(cls, mean, std) -> "GaussianPolicy":
        """d = 1 convenience: means shape=[n], standard deviations shape=[n] (> 0)."""
        mean = check_finite(mean, "mean", "policy").reshape(-1)
        std = check_finite(std, "std", "policy").reshape(-1)
        if mean.shape != std.shape:
            raise PolicyError(f"policy: mean has {mean.size} entries but std has {std.size}")
        bad = np.flatnonzero(std <= 0)
        if bad.size:
            raise PolicyError(f"policy: std of state {bad[0]} is {std[bad[0]]:g}, must be > 0")
        return cls(mean[:, None], (std**2)[:, None, None])

    @property
    def n_states(self) -> int:
        return self.mean.shape[0]

    @property
    def action_dim(self) -> int:
        return self.mean.shape[1]

    @property
    def std(self) -> np.ndarray:
        """d = 1: standard deviations shape=[n]."""
        return np.sqrt(self.cov[:, 0, 0])

    def discretize(self, order: int = 40) -> WeightedPoints:
        pts, wts = zip(*(gauss_hermite(self.mean[s], self.cov[s], order) for s in range(self.n_states)))
        return WeightedPoints(np.stack(pts), np.stack(wts))

    def pushforward(self, dm: np.ndarray, S: np.ndarray, eps: float) -> "GaussianPolicy":
        r""":math:`(\mathrm{id} + \epsilon v)_\#\pi` for the affine field :math:`v_s(a) = dm_s + S_s(a - m_s)`:
        :math:`\mathcal N(m + \epsilon\, dm,\ (I + \epsilon S)\Sigma(I + \epsilon S))`."""
        A = np.eye(self.action_dim)[None] + eps * S
        return GaussianPolicy(self.mean + eps * dm, A @ self.cov @ np.swapaxes(A, 1, 2))

    def coordinates(self) -> np.ndarray:
        """Flat coordinates in the order of the symbolic layer: d = 1 (m_s, sigma_s)_s; else (m_s, upper(Sigma_s))_s."""
        d = self.action_dim
        iu = np.triu_indices(d)
        parts = []
        for s in range(self.n_states):
            parts.append(self.mean[s])
            parts.append(np.sqrt(self.cov[s, :1, 0]) if d == 1 else self.cov[s][iu])
        return np.concatenate(parts)

    @classmethod
    def from_coordinates(cls, theta: np.ndarray, n: int, d: int) -> "GaussianPolicy":
        theta = np.asarray(theta, float)
        k = d + d * (d + 1) // 2
        if theta.shape != (n * k,):
            raise PolicyError(f"policy: expected {n * k} coordinates for n={n}, d={d}, got {theta.size}")
        mean = np.empty((n, d))
        cov = np.empty((n, d, d))
        iu = np.triu_indices(d)
        for s in range(n):
            block = theta[s * k:(s + 1) * k]
            mean[s] = block[:d]
            if d == 1:
                cov[s] = block[1] ** 2
            else:
                C = np.zeros((d, d))
                C[iu] = block[d:]
                cov[s] = C + np.triu(C, 1).T
        return cls(mean, cov)


@dataclass(frozen=True)
class ParticlePolicy:
    """Weighted particles per state: particles shape=[n, N, d], weights shape=[n, N] (default uniform)."""

    particles: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = check_finite(self.particles, "particles", "policy")
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3:
            raise PolicyError(f"policy: particles must have shape [n_states, N, d], got {list(x.shape)}")
        w = np.full(x.shape[:2], 1.0 / x.shape[1]) if self.weights is None else check_finite(self.weights, "weights", "policy")
        if w.shape != x.shape[:2]:
            raise PolicyError(f"policy: weights must have shape {list(x.shape[:2])}, got {list(w.shape)}")
        if (w < 0).any():
            s, i = np.argwhere(w < 0)[0]
            raise PolicyError(f"policy: weight {i} of state {s} is negative ({w[s, i]:g})")
        sums = w.sum(axis=1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-12):
            s = int(np.argmax(np.abs(sums - 1)))
            raise PolicyError(f"policy: weights of state {s} sum to {sums[s]:.17g}, not 1")
        object.__setattr__(self, "particles", x)
        object.__setattr__(self, "weights", w)

    @property
    def n_states(self) -> int:
        return self.particles.shape[0]

    @property
    def action_dim(self) -> int:
        return self.particles.shape[2]

    def discretize(self, order: int | None = None) -> WeightedPoints:
        return WeightedPoints(self.particles, self.weights)

    def pushforward(self, V: np.ndarray, eps: float) -> "ParticlePolicy":
        """Move every particle by eps times its velocity V shape=[n, N, d]."""
        V = np.asarray(V, float)
        if V.shape != self.particles.shape:
            raise PolicyError(f"tangent vector has shape {list(V.shape)}, expected {list(self.particles.shape)}")
        return ParticlePolicy(self.particles + eps * V, self.weights)

    @classmethod
    def sample_gaussian(cls, policy: GaussianPolicy, n_particles: int, rng: np.random.Generator) -> "ParticlePolicy":
        z = rng.standard_normal((policy.n_states, n_particles, policy.action_dim))
        L = np.linalg.cholesky(policy.cov)
        return cls(policy.mean[:, None, :] + np.einsum("sij,snj->sni", L, z))


@dataclass(frozen=True)
class QuantilePolicy(ParticlePolicy):
    """d = 1 quantile representation: sorted values X_s(u_i) at u_i = (i + 1/2)/N, equal weights."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action_dim != 1:
            raise PolicyError(f"policy: the quantile representation needs d = 1, got d = {self.action_dim}")
        if not np.allclose(self.weights, self.weights[:, :1]):
            raise PolicyError("policy: a quantile representation has equal weights")
        if (np.diff(self.particles[:, :, 0], axis=1) < 0).any():
            s = int(np.argwhere(np.diff(self.particles[:, :, 0], axis=1) < 0)[0, 0])
            raise PolicyError(f"policy: quantiles of state {s} are not non-decreasing")

    @classmethod
    def from_gaussian(cls, policy: GaussianPolicy, n_quantiles: int) -> "QuantilePolicy":
        return cls.from_mean_std(policy.mean[:, 0], policy.std, n_quantiles)

    @classmethod
    def from_mean_std(cls, mean: np.ndarray, std: np.ndarray, n_quantiles: int) -> "QuantilePolicy":
        r"""Quantiles :math:`m_s + s_s\Phi^{-1}(u_i)` of :math:`\mathcal N(m_s, s_s^2)` per state, shape=[n] each; a
        state with :math:`s_s = 0` has all its quantiles at :math:`m_s`."""
        from scipy.special import ndtri

        u = (np.arange(n_quantiles) + 0.5) / n_quantiles
        X = np.asarray(mean, float)[:, None] + np.asarray(std, float)[:, None] * ndtri(u)[None, :]
        return cls(X[:, :, None])

    def w2_squared(self, other: "QuantilePolicy") -> np.ndarray:
        r"""Per-state :math:`W_2^2 = \int_0^1 |X(u) - Y(u)|^2 du` (midpoint rule), shape=[n]."""
        return np.mean((self.particles[:, :, 0] - other.particles[:, :, 0]) ** 2, axis=1)

    def geodesic(self, other: "QuantilePolicy", t: float) -> "QuantilePolicy":
        """W2 geodesic per state (frozen weights): quantiles interpolate linearly."""
        return QuantilePolicy((1 - t) * self.particles + t * other.particles)
