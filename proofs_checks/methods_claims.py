r"""Claims of THEORY.md section 8: the natural-gradient directions the compared methods step along.

A natural gradient d = B⁻¹ ∂J/∂θ is the Riesz representer of dJ in the metric B: B(d, v) = ∂J·v for every v.  The
witnesses evaluate B(d, v) without the formula for B, from the divergence the metric is the Hessian of, along
coordinate lines, by polarisation:

.. math::
    D(\theta, \theta + \epsilon(d + v)) - D(\theta, \theta + \epsilon(d - v)) = 2\epsilon^2 B(d, v) + O(\epsilon^3),

judged on its even part (odd orders cancel: slope 4 for the right d, 2 for a wrong one), with d and v normalised
separately so that the size of a wrong direction cannot hide it.  D is the ρ-weighted Kullback–Leibler divergence (Fisher; the textbook closed form for Gaussians) or the
ρ-weighted squared W2 distance (Wasserstein; POT's Bures–Wasserstein distance, an outside implementation).  ∂J·v
comes from the numeric policy gradient (quadrature of ∇_aQ, with ρ by GTH), not from the closed forms.
"""
from __future__ import annotations

import numpy as np

from otgeom.claims import Claim, Outcome
from otgeom.methods import fisher_matrix, fisher_natural_direction, wasserstein_natural_direction
from otgeom.numeric.geometry import gaussian_gradient, gaussian_metric_matrix
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.taylor import SLOPE_TOLERANCE, even_taylor_check
from otgeom.numeric.witness import gaussian_chain as witness_chain
from otgeom.sampling import random_gaussian_policy
from otgeom.theory import metric_weights
from proofs_checks._common import TAYLOR_REASON_EVEN, taylor_outcome
from proofs_checks.first_order_claims import bures_w2sq



def _coordinate_gradient(prims, w, pol) -> np.ndarray:
    """∂J/∂θ in the coordinates of GaussianPolicy.coordinates from the numeric policy gradient."""
    g = gaussian_gradient(prims, w.sol, pol, w.wp)
    n, d = pol.mean.shape
    out = []
    for s in range(n):
        out += list(np.atleast_1d(g["grad_mean"][s]))
        G = np.asarray(g["grad_cov"][s], float)
        if d == 1:
            out.append(2 * pol.std[s] * G[0, 0])  # dSigma = 2 sigma dsigma
        else:
            iu = np.triu_indices(d)
            out += list(np.where(iu[0] == iu[1], G[iu], 2 * G[iu]))
    return np.array(out)


def _kl(p: GaussianPolicy, q: GaussianPolicy, rho: np.ndarray) -> float:
    r""":math:`\sum_s \rho_s\,\mathrm{KL}(p_s \| q_s)`, the closed form for Gaussians."""
    d = p.mean.shape[1]
    tot = 0.0
    for s in range(p.mean.shape[0]):
        S1i = np.linalg.inv(q.cov[s])
        dm = q.mean[s] - p.mean[s]
        _, l1 = np.linalg.slogdet(q.cov[s])
        _, l0 = np.linalg.slogdet(p.cov[s])
        tot += rho[s] * 0.5 * (np.trace(S1i @ p.cov[s]) + dm @ S1i @ dm - d + l1 - l0)
    return float(tot)


def _w2(p: GaussianPolicy, q: GaussianPolicy, rho: np.ndarray) -> float:
    r""":math:`\sum_s w_s W_2^2(p_s, q_s)` with the theory's metric weights :math:`w = ` ``metric_weights(rho)``."""
    wts = metric_weights(rho)
    return float(sum(wts[s] * bures_w2sq(p.mean[s], p.cov[s], q.mean[s], q.cov[s])[0] for s in range(p.mean.shape[0])))


def _safe_scale(pol: GaussianPolicy, directions: list[np.ndarray]) -> float:
    """A factor c <= 1 such that theta + eps c u stays a policy with room to spare for |eps| <= 1/4 and each u of
    ``directions``: |eps c dsigma_s| <= sigma_s / 2 (d = 1), ||eps c dSigma_s||_2 <= lambda_min(Sigma_s) / 2 (d > 1)."""
    n, d = pol.mean.shape
    k = d + (1 if d == 1 else d * (d + 1) // 2)
    iu = np.triu_indices(d)
    c = 1.0
    for u in directions:
        for s in range(n):
            b = u[s * k:(s + 1) * k]
            if d == 1:
                size, room = abs(float(b[1])), float(pol.std[s])
            else:
                S = np.zeros((d, d))
                S[iu] = b[d:]
                size = float(np.abs(np.linalg.eigvalsh(S + np.triu(S, 1).T)).max())
                room = float(np.linalg.eigvalsh(pol.cov[s]).min())
            if size > 0:
                c = min(c, 2.0 * room / size)
    return c


def _polarised_check(divergence, name: str, exact_when_1d: bool):
    """The check: d and v normalised separately (so the size of a wrong direction cannot shrink the remainder), both
    scaled by c (:func:`_safe_scale`), and the even part of the polarised divergence judged by its Taylor slope."""
    def check(family, rng, formula):
        prims = family.primitives()
        n, d = family.n_states, family.action_dim
        results, wheres = [], []
        for k in range(2):
            pol = random_gaussian_policy(family, rng)
            w = witness_chain(prims, pol, tol=1e-12, owner="witness")
            rho = w.sol.rho
            grad = _coordinate_gradient(prims, w, pol)
            direction = np.asarray(formula(rho, pol, grad), float).ravel()
            if direction.shape != grad.shape or not np.all(np.isfinite(direction)):
                return Outcome(float("inf"), {"sample": k}, {"reason": f"the direction has shape "
                                                             f"{list(direction.shape)} or is not finite"})
            norm_d = float(np.linalg.norm(direction))
            if norm_d == 0:
                return Outcome(float("inf"), {"sample": k}, {"reason": "the direction is 0 where dJ is not"})
            th = pol.coordinates()
            v = rng.standard_normal(th.size)
            dh, vh = direction / norm_d, v / np.linalg.norm(v)
            c = _safe_scale(pol, [dh + vh, dh - vh])
            plus, minus = c * (dh + vh), c * (dh - vh)

            def f(e):
                at_p = GaussianPolicy.from_coordinates(th + e * plus, n, d)
                at_m = GaussianPolicy.from_coordinates(th + e * minus, n, d)
                return divergence(pol, at_p, rho) - divergence(pol, at_m, rho)

            # B(c dh, c vh) = c^2 B(d, v) / (|d| |v|) = c^2 dJ.v / (|d| |v|) for the right d; f = 2 eps^2 B + O(eps^3),
            # and its even part (f(eps) + f(-eps)) / 2 = 2 eps^2 B + O(eps^4)
            second = 4.0 * c * c * float(grad @ v) / (norm_d * float(np.linalg.norm(v)))
            results.append(even_taylor_check(f, 0.0, second, "coordinate lines theta + eps c (d/|d| +- v/|v|), both "
                                             "directions", 2.0 ** -np.arange(3, 23), resolve_factor=30.0))
            wheres.append({"sample": k, "family": family.spec.name, "parameters": family.parameters_json(),
                           "policy": {"mean": pol.mean.tolist(), "cov": pol.cov.tolist()}, "rho": rho.tolist(),
                           "v": v.tolist(), "dJ.v": float(grad @ v), "direction": direction.tolist(), "scale": c})
        exact = exact_when_1d and d == 1
        if exact and all(r.verdict == "model-exact" for r in results):
            # W2^2 between 1-D Gaussians is exactly quadratic in (dm, dsigma): the remainder of the right d is
            # round-off at every step, where a wrong one leaves eps^2 |B - claimed|, resolved at the larger steps
            return Outcome(0.0, wheres[0], {"reason": "the remainder is at round-off for every step: W2^2 is exactly "
                                                      "quadratic on 1-D Gaussians and d is right"})
        return taylor_outcome(results, wheres)
    check.__name__ = f"_check_{name}"
    return check


def _unweighted_fisher(rho, policy, grad):
    """Mutant: the Fisher information without the stationary weights."""
    n, d = policy.mean.shape
    return np.linalg.solve(fisher_matrix(policy.coordinates(), np.ones(n), n, d), grad)


def _unweighted_wasserstein(rho, policy, grad):
    """Mutant: the Wasserstein metric without the stationary weights."""
    return np.linalg.solve(gaussian_metric_matrix(np.ones_like(rho), policy), grad)


_SIGNATURE = ("(rho: ndarray [n], policy: GaussianPolicy, grad: ndarray [K]) -> d: ndarray [K] in theta = "
              "GaussianPolicy.coordinates()")

FISHER_NATURAL_GRADIENT = Claim(
    name="fisher-natural-gradient",
    signature=_SIGNATURE,
    statement=r"d = F(\theta)^{-1}\partial J/\partial\theta\ \text{satisfies}\ F(d, v) = \partial J\cdot v,\quad "
              r"F(v, v) = \frac{d^2}{d\epsilon^2}\sum_s\rho_s\,\mathrm{KL}(\pi_s^\theta\,\|\,\pi_s^{\theta+\epsilon v})",
    section="8 (the Fisher natural policy gradient, Kakade)",
    assumptions=("R1", "R2"),
    witness="the rho-weighted Kullback-Leibler divergence (closed form for Gaussians) along theta + eps(d +- v), "
            "polarised; dJ.v from the numeric policy gradient (quadrature, GTH)",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON_EVEN,
    check=_polarised_check(_kl, "fisher_natural_gradient", exact_when_1d=False),
    formula=fisher_natural_direction,
    mutants={"wasserstein-direction": wasserstein_natural_direction,
             "euclidean": lambda rho, policy, grad: np.asarray(grad, float),
             "unweighted": _unweighted_fisher},
)

WASSERSTEIN_NATURAL_GRADIENT = Claim(
    name="wasserstein-natural-gradient",
    signature=_SIGNATURE,
    reads=("metric_weights",),
    statement=r"d = G(\theta)^{-1}\partial J/\partial\theta\ \text{satisfies}\ G(d, v) = \partial J\cdot v,\quad "
              r"G(v, v) = \frac{d^2}{d\epsilon^2}\,\tfrac12\sum_s\rho_s W_2^2(\pi_s^\theta, \pi_s^{\theta+\epsilon v})",
    section="8 (the Wasserstein natural gradient: the projected flow's direction)",
    assumptions=("R1", "R2"),
    witness="the rho-weighted squared W2 distance (POT's ot.gaussian.bures_wasserstein_distance; without POT the "
            "closed form with scipy's sqrtm) along theta + eps(d +- v), polarised; dJ.v from the numeric policy "
            "gradient (quadrature, GTH)",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON_EVEN,
    check=_polarised_check(lambda p, q, rho: 0.5 * _w2(p, q, rho), "wasserstein_natural_gradient",
                           exact_when_1d=True),
    formula=wasserstein_natural_direction,
    mutants={"fisher-direction": fisher_natural_direction,
             "euclidean": lambda rho, policy, grad: np.asarray(grad, float),
             "unweighted": _unweighted_wasserstein},
)

CLAIMS = [FISHER_NATURAL_GRADIENT, WASSERSTEIN_NATURAL_GRADIENT]
