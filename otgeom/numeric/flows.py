r"""Gradient flows of J (THEORY.md section 3), integrated with scipy.

* Particles / quantiles (Lagrangian form of :math:`\partial_t\pi_s = \mathrm{div}_a(\pi_s\nabla_a Q_{\pi_t}(s,\cdot))`):
  every sample moves by :math:`\dot a = -\nabla_a Q_{\pi_t}(s, a)`.
* Gaussian projection: :math:`\dot m_s = -\mathbb E_{\pi_s}[\nabla_a Q]`,
  :math:`\dot\Sigma_s = -(H_s\Sigma_s + \Sigma_s H_s)`, :math:`H_s = \mathbb E_{\pi_s}[\nabla_a^2 Q]`
  (d = 1: :math:`\dot\sigma_s = -\sigma_s\,\mathbb E[\partial_a^2 Q]`), here by quadrature.

Energy decay along the exact flow: :math:`dJ/dt = -g(\mathrm{grad}\,J, \mathrm{grad}\,J)`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

from otgeom.errors import NotConvergedError, OtgeomError
from otgeom.numeric.chain import evaluate_chain, gradient_field
from otgeom.numeric.geometry import expected_action_hessian, metric
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy
from otgeom.numeric.witness import gaussian_points

__all__ = ["FlowResult", "progress_bar", "integrate", "particle_gradient_flow", "gaussian_projected_flow", "gaussian_flow_rhs"]


@dataclass(frozen=True)
class FlowResult:
    """t shape=[T], J shape=[T], grad_norm2 shape=[T], y shape=[T, k] (flattened state)."""

    t: np.ndarray
    J: np.ndarray
    grad_norm2: np.ndarray
    y: np.ndarray = field(repr=False)


def progress_bar(total: int, enabled: bool | None, desc: str):
    """A tqdm bar on stderr; ``enabled=None``: only when stderr is a terminal."""
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, leave=False)


class _TooManyEvaluations(Exception):
    def __init__(self, t: float):
        self.t = t


def integrate(rhs: Callable[[float, np.ndarray], np.ndarray], y0: np.ndarray, t_eval: np.ndarray,
              rtol: float = 1e-10, atol: float = 1e-12, progress: bool = False,
              max_evaluations: int = 100_000) -> np.ndarray:
    """Integrate dy/dt = rhs(t, y) with scipy's DOP853; return y at t_eval, shape=[T, k].

    A flow that needs more than ``max_evaluations`` right-hand sides (stiff or very fast, e.g. with costs of
    size 1e6) raises :class:`~otgeom.errors.NotConvergedError` saying where it stopped, instead of running on.
    """
    t0, t_end = float(t_eval[0]), float(t_eval[-1])
    count = [0]

    with progress_bar(100, progress, "flow (% of t)") as bar:
        def f(t, y):
            count[0] += 1
            if count[0] > max_evaluations:
                raise _TooManyEvaluations(float(t))
            pct = int(100 * (t - t0) / (t_end - t0)) if t_end > t0 else 100
            if pct > bar.n:
                bar.update(pct - bar.n)
            return rhs(t, y)

        try:
            sol = solve_ivp(f, (t0, t_end), np.asarray(y0, float), t_eval=t_eval, method="DOP853", rtol=rtol,
                            atol=atol)
        except _TooManyEvaluations as stop:
            raise NotConvergedError(f"flow integration stopped at t = {stop.t:.4g} of {t_end:g} after "
                                    f"{max_evaluations} right-hand-side evaluations (the flow is stiff or very fast "
                                    "there: rescale the costs or shorten the horizon)") from None
        bar.update(100 - bar.n)
    if not sol.success:
        raise OtgeomError(f"flow integration failed at t = {sol.t[-1] if sol.t.size else t_eval[0]:g}: {sol.message}")
    return sol.y.T


def particle_gradient_flow(prims, policy: ParticlePolicy, t_eval: np.ndarray, progress: bool = False,
                           rtol: float = 1e-10, atol: float = 1e-12, max_evaluations: int = 100_000) -> FlowResult:
    """Move every particle by -grad_a Q of the current policy; record J and g(grad J, grad J).

    At most ``max_evaluations`` right-hand sides (see :func:`integrate`)."""
    shape, w = policy.particles.shape, policy.weights

    def rhs(t, y):
        pol = ParticlePolicy(y.reshape(shape), w)
        wp = pol.discretize()
        return -gradient_field(prims, evaluate_chain(prims, wp, "particle flow"), wp).ravel()

    Y = integrate(rhs, policy.particles.ravel(), np.asarray(t_eval, float), rtol, atol, progress, max_evaluations)
    J, G2 = [], []
    for y in Y:
        wp = ParticlePolicy(y.reshape(shape), w).discretize()
        sol = evaluate_chain(prims, wp, "particle flow")
        G = gradient_field(prims, sol, wp)
        J.append(sol.J)
        G2.append(metric(sol.rho, wp, G, G))
    return FlowResult(np.asarray(t_eval, float), np.array(J), np.array(G2), Y)


def gaussian_flow_rhs(prims, policy: GaussianPolicy, order: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dm/dt shape=[n, d], dSigma/dt shape=[n, d, d]) of the projected flow, by quadrature on the feature-resolving
    rule (:func:`otgeom.numeric.witness.gaussian_points`; ``order``: Gauss–Hermite of that order instead)."""
    wp = gaussian_points(prims, policy, "Gaussian flow", order=order)
    sol = evaluate_chain(prims, wp, "Gaussian flow")
    Gm = wp.expect(gradient_field(prims, sol, wp))
    H = expected_action_hessian(prims, sol, wp)
    return -Gm, -(H @ policy.cov + policy.cov @ H)


def gaussian_projected_flow(prims, policy: GaussianPolicy, t_eval: np.ndarray, order: int | None = None,
                            progress: bool = False, rtol: float = 1e-10, atol: float = 1e-12,
                            max_evaluations: int = 100_000) -> FlowResult:
    """Integrate the Gaussian-projected flow in the coordinates of :meth:`GaussianPolicy.coordinates` (at most
    ``max_evaluations`` right-hand sides, see :func:`integrate`)."""
    n, d = policy.n_states, policy.action_dim
    iu = np.triu_indices(d)

    def rhs(t, y):
        pol = GaussianPolicy.from_coordinates(y, n, d)
        dm, dS = gaussian_flow_rhs(prims, pol, order)
        parts = []
        for s in range(n):
            parts.append(dm[s])
            # d = 1: sigma' = Sigma' / (2 sigma) with the signed coordinate sigma (J is even in it), not |sigma|:
            # dividing by |sigma| flips the sign of sigma' once an integrator step overshoots below 0
            parts.append(dS[s, :1, 0] / (2 * y[s * 2 + 1:s * 2 + 2]) if d == 1 else dS[s][iu])
        return np.concatenate(parts)

    Y = integrate(rhs, policy.coordinates(), np.asarray(t_eval, float), rtol, atol, progress, max_evaluations)
    J, G2 = [], []
    for y in Y:
        pol = GaussianPolicy.from_coordinates(y, n, d)
        wp = gaussian_points(prims, pol, "Gaussian flow", order=order)
        sol = evaluate_chain(prims, wp, "Gaussian flow")
        G = gradient_field(prims, sol, wp)
        J.append(sol.J)
        G2.append(metric(sol.rho, wp, G, G))
    return FlowResult(np.asarray(t_eval, float), np.array(J), np.array(G2), Y)
