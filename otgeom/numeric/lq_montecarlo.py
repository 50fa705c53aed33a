r"""Monte Carlo witness for the LQ family: simulate the closed loop, estimate J and X by ergodic averages.

.. math::
    x_{t+1} = Ax_t + Ba_t + w_t,\quad a_t = -Kx_t + \Sigma^{1/2}\xi_t,\qquad
    \hat J = \frac1T\sum_t x_t^\top Q_c x_t + a_t^\top R a_t \;[-\ \tau\,\mathcal H(\Sigma)],
    \quad \hat X = \frac1T\sum_t x_t x_t^\top.

``replicas`` independent chains start at x = 0 and run ``burn_in`` steps first (default: until
:math:`\rho(A_K)^{2t} < 10^{-12}`); each chain's remaining steps are cut into consecutive batches
and the confidence interval is the Student-t interval of all batch means (batch means method).
The lag-1 correlation of consecutive batch means is reported: near 0 means the batches are long
enough to be treated as independent.  Uses none of the closed forms it is compared with (only the
spectral radius, to size the burn-in).  The entropy term of the regularised cost is a constant
of the policy and is added exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from otgeom.numeric.lq import LQPolicy, closed_loop, gaussian_entropy

__all__ = ["MonteCarloEstimate", "simulate"]


@dataclass(frozen=True)
class MonteCarloEstimate:
    """J with standard error and confidence interval; X entrywise with standard errors; the design."""

    J: float
    J_se: float
    level: float
    ci: tuple[float, float]
    X: np.ndarray
    X_se: np.ndarray
    replicas: int
    steps: int
    burn_in: int
    batches: int
    batch_length: int
    batch_lag1: float

    def z(self, value: float) -> float:
        """Standardised distance of a claimed J from the estimate."""
        return (value - self.J) / self.J_se

    def to_json(self) -> dict:
        return {"J": self.J, "J_se": self.J_se, "level": self.level, "ci": list(self.ci), "X": self.X.tolist(),
                "X_se": self.X_se.tolist(), "replicas": self.replicas, "steps": self.steps, "burn_in": self.burn_in,
                "batches": self.batches, "batch_length": self.batch_length, "batch_lag1": self.batch_lag1}


def _sqrt_psd(S: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(S)
    return V * np.sqrt(np.maximum(w, 0))


def simulate(family, policy: LQPolicy, steps: int = 4000, replicas: int = 128, batches_per_replica: int = 4,
             burn_in: int | None = None, rng: np.random.Generator | None = None, level: float = 0.99,
             chunk: int = 500) -> MonteCarloEstimate:
    """Ergodic averages of the cost and of x x^T over ``replicas`` x ``steps`` closed-loop steps (vectorised over replicas)."""
    rng = np.random.default_rng(0) if rng is None else rng
    A_K, radius = closed_loop(family, policy.K)
    if burn_in is None:
        burn_in = int(math.ceil(math.log(1e-12) / (2 * math.log(max(radius, 1e-3))))) + 10
    A, B, K, Qc, R = family.A, family.B, policy.K, family.Qc, family.R
    n, m = family.n, family.m
    LS, LW = _sqrt_psd(policy.Sigma), _sqrt_psd(family.W)
    nb = batches_per_replica
    blen = steps // nb
    steps = blen * nb
    cost_b = np.zeros((replicas, nb))
    xx_b = np.zeros((replicas, nb, n, n))
    x = np.zeros((replicas, n))
    total = burn_in + steps
    t = 0
    while t < total:
        c = min(chunk, total - t)
        xi = rng.standard_normal((c, replicas, m)) @ LS.T
        w = rng.standard_normal((c, replicas, n)) @ LW.T
        for k in range(c):
            a = -x @ K.T + xi[k]
            if t >= burn_in:
                b = (t - burn_in) // blen
                cost_b[:, b] += np.einsum("ri,ij,rj->r", x, Qc, x) + np.einsum("ri,ij,rj->r", a, R, a)
                xx_b[:, b] += np.einsum("ri,rj->rij", x, x)
            x = x @ A.T + a @ B.T + w[k]
            t += 1
    cost_b /= blen
    xx_b /= blen
    means = cost_b.ravel()
    N = means.size
    q = float(student_t.ppf(0.5 + level / 2, N - 1))
    entropy = -family.tau * gaussian_entropy(policy.Sigma) if family.tau > 0 else 0.0
    J = float(means.mean()) + entropy
    se = float(means.std(ddof=1) / math.sqrt(N))
    X = xx_b.reshape(N, n, n).mean(axis=0)
    X_se = xx_b.reshape(N, n, n).std(axis=0, ddof=1) / math.sqrt(N)
    lag1 = float(np.corrcoef(cost_b[:, :-1].ravel(), cost_b[:, 1:].ravel())[0, 1]) if nb > 1 else float("nan")
    return MonteCarloEstimate(J, se, level, (J - q * se, J + q * se), 0.5 * (X + X.T), X_se, replicas, steps,
                              burn_in, N, blen, lag1)
