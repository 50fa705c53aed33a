r"""First-order Wasserstein geometry on weighted points (THEORY.md sections 2-3).

.. math::
    g_\pi(v, w) = \sum_s \rho(s) \int \langle v_s, w_s\rangle\, d\pi_s,\qquad
    dJ[v] = \sum_s \rho(s) \int \langle \nabla_a Q(s,a), v_s(a)\rangle\, d\pi_s(a).

Gaussian coordinates (d = 1, :math:`\pi_s = \mathcal N(m_s,\sigma_s^2)`):
:math:`\partial J/\partial m_s = \rho_s\,\mathbb E[\partial_a Q]`,
:math:`\partial J/\partial \sigma_s = \rho_s\,\sigma_s\,\mathbb E[\partial_a^2 Q]` (Stein), and in general d
:math:`dJ = \sum_s \operatorname{tr}(G_s\, d\Sigma_s)` with :math:`G_s = \tfrac12 \rho_s \mathbb E[\nabla_a^2 Q]`.
"""
from __future__ import annotations

import numpy as np

from otgeom.errors import PolicyError
from otgeom.numeric.chain import ChainSolution, action_value_hess, gradient_field
from otgeom.numeric.policies import GaussianPolicy, WeightedPoints, weighted_sum

__all__ = ["metric", "first_variation", "affine_field", "gaussian_gradient", "check_tangent",
           "expected_action_hessian"]


def check_tangent(wp: WeightedPoints, V: np.ndarray, name: str = "tangent vector") -> np.ndarray:
    V = np.asarray(V, float)
    if V.shape != wp.points.shape:
        raise PolicyError(f"{name} has shape {list(V.shape)}, expected {list(wp.points.shape)} "
                          "(one velocity per state and point)")
    if not np.isfinite(V).all():
        raise PolicyError(f"{name} has non-finite entries")
    return V


def metric(rho: np.ndarray, wp: WeightedPoints, V: np.ndarray, W: np.ndarray) -> float:
    """g_pi(V, W) for fields given at the points, V, W shape=[n, N, d]."""
    V = check_tangent(wp, V)
    W = check_tangent(wp, W)
    return float(rho @ wp.expect(np.einsum("snd,snd->sn", V, W)))


def gaussian_metric_matrix(rho: np.ndarray, policy: GaussianPolicy) -> np.ndarray:
    r"""The metric :math:`G(\theta)` of the Gaussian family in the coordinates of :meth:`GaussianPolicy.coordinates`.

    d = 1, :math:`\theta = (m_s, \sigma_s)_s`: :math:`G = \mathrm{diag}_s(\rho_s, \rho_s)`.  d > 1,
    :math:`\theta = (m_s, \mathrm{upper}(\Sigma_s))_s`: block diagonal over states, :math:`\rho_s I_d` on the
    means and the Bures–Wasserstein metric on the covariance,

    .. math::
        G_{\Sigma_{ij},\Sigma_{kl}} = \rho_s\,\mathrm{tr}(S_{ij}\Sigma_s S_{kl}),\qquad
        S_{ij}\Sigma_s + \Sigma_s S_{ij} = E_{ij} + E_{ji}\ (E_{ii}\text{ on the diagonal}),

    the velocity field of :math:`\dot\Sigma` being :math:`a \mapsto S(a - m_s)` (Takatsu 2011, Bhatia, Jain & Lim
    2019).  Closed form by Lyapunov solves; the claim ``gaussian-metric-bures`` compares it with POT's Bures
    distances.
    """
    from scipy.linalg import solve_continuous_lyapunov

    rho = np.asarray(rho, float)
    n, d = policy.mean.shape
    iu = np.triu_indices(d)
    k = d + len(iu[0])
    G = np.zeros((n * k, n * k))
    for s in range(n):
        o = s * k
        G[o:o + d, o:o + d] = rho[s] * np.eye(d)
        if d == 1:
            G[o + 1, o + 1] = rho[s]
            continue
        Ss = []
        for i, j in zip(*iu):
            E = np.zeros((d, d))
            E[i, j] = E[j, i] = 1.0
            Ss.append(solve_continuous_lyapunov(policy.cov[s], E))
        for a, Sa in enumerate(Ss):
            for b, Sb in enumerate(Ss):
                G[o + d + a, o + d + b] = rho[s] * float(np.trace(Sa @ policy.cov[s] @ Sb))
    return G


def first_variation(prims, sol: ChainSolution, wp: WeightedPoints, V: np.ndarray) -> float:
    """dJ[v] by the average-cost policy-gradient formula."""
    return metric(sol.rho, wp, gradient_field(prims, sol, wp), V)


def affine_field(policy: GaussianPolicy, wp: WeightedPoints, dm: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Values of v_s(a) = dm_s + S_s (a - m_s) at the points, shape=[n, N, d]."""
    dm = np.asarray(dm, float).reshape(policy.mean.shape)
    S = np.asarray(S, float).reshape(policy.cov.shape)
    if not np.allclose(S, np.swapaxes(S, 1, 2)):
        raise PolicyError("Gaussian tangent S must be symmetric in every state (a gradient of a quadratic)")
    return dm[:, None, :] + np.einsum("sij,snj->sni", S, wp.points - policy.mean[:, None, :])


def expected_action_hessian(prims, sol: ChainSolution, wp: WeightedPoints) -> np.ndarray:
    """:math:`H_s = \\mathbb E_{\\pi_s}[\\nabla_a^2 Q(s,\\cdot)]` (symmetrised), shape=[n, d, d]."""
    n, N, d = wp.points.shape
    H = np.stack([weighted_sum(wp.weights[s], action_value_hess(prims, sol, s, wp.points[s]).reshape(N, -1))
                  for s in range(n)]).reshape(n, d, d)
    return 0.5 * (H + np.swapaxes(H, 1, 2))


def gaussian_gradient(prims, sol: ChainSolution, policy: GaussianPolicy, wp: WeightedPoints) -> dict:
    """Coordinate gradient of J for a Gaussian policy from the policy-gradient formula (numeric path).

    Returns grad_mean shape=[n, d], grad_cov shape=[n, d, d], for d = 1 grad_std shape=[n], and
    grad_norm2 = g(grad J, grad J) = sum_s rho_s E|grad_a Q|^2.
    """
    G = gradient_field(prims, sol, wp)
    H = expected_action_hessian(prims, sol, wp)
    out = {
        "grad_mean": sol.rho[:, None] * wp.expect(G),
        "grad_cov": 0.5 * sol.rho[:, None, None] * H,
        "grad_norm2": metric(sol.rho, wp, G, G),
    }
    if policy.action_dim == 1:
        out["grad_std"] = sol.rho * policy.std * H[:, 0, 0]
    return out
