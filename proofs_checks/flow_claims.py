r"""Claims: the symbolic Gaussian-projected flow against the particle flow of the full law (THEORY.md sections 3, 5).

Here the symbolic layer (the derived velocities) meets the numeric one (:mod:`otgeom.numeric.flow_compare`, which
moves particles by :math:`-\nabla_a Q` from the definitions and never imports sympy).

* ``particle-vs-gaussian-flow`` (finite families, d = 1): the Gaussian ODE is the per-state :math:`L^2(\pi_s)`
  projection of :math:`-\partial_a Q` onto affine fields, so it follows the :math:`W_2`-nearest Gaussian of the
  full law's flow to :math:`O(t^2)` (the tangential defect); a wrong affine velocity leaves :math:`O(t)`.  The full
  :math:`W_2` defect is :math:`O(t)` for *every* Gaussian ODE (the law leaves the family at the rate
  :math:`\|v - \Pi v\|`), which is why the claim is about the tangential part.
* ``lq-particle-vs-gaussian-flow`` (scalar LQ, tau = 0): :math:`\partial_a Q` is affine, the projected ODE is the
  flow itself: the defect is at the integrators' tolerance and the particle gap is pure sampling.

Helpers (also for tests and notebooks): :func:`symbolic_velocity` compiles ``first_order(family).outputs["flow"]``
(or a formula under test) into :math:`\theta\mapsto\dot\theta`; :func:`lq_projected_velocity` is the scalar LQ
Gaussian ODE from the symbolic derivation's :math:`\partial_a Q`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp

from otgeom.claims import Claim, Outcome
from otgeom.numeric.flow_compare import compare_flows, compare_lq_flows
from otgeom.numeric.taylor import SLOPE_TOLERANCE, taylor_check
from otgeom.sampling import random_gaussian_policy, random_lq_policy
from otgeom.symbolic.chain import gaussian_coordinates
from otgeom.symbolic.geometry import first_order
from otgeom.symbolic.lq import SYMBOLS, scalar_lq
from proofs_checks._common import taylor_outcome

__all__ = ["CLAIMS", "symbolic_velocity", "gaussian_flow_formula", "lq_projected_velocity", "lq_flow_formula",
           "CLAIM_TIMES"]

#: times of the finite claim: 0 and 2^-k, k = 3..13 (0.125 down to 1.2e-4).  The slope is fitted on the smallest
#: resolved ones: the t^3 term can be large (local slopes up to 2.7 at t ~ 0.03 on switch2 with means near -1),
#: and only below t ~ 4e-3 is the t^2 term alone
CLAIM_TIMES = np.concatenate([[0.0], 2.0 ** -np.arange(3, 14)[::-1]])


# ----------------------------------------------------------------------------------------------- finite families
def gaussian_flow_formula(family) -> list:
    r"""Formula under test: the symbolic projected flow :math:`\dot\theta`, :math:`\theta = (m_s, \sigma_s)_s`, as
    sympy expressions in the symbols of :func:`~otgeom.symbolic.geometry.first_order` (list over coordinates)."""
    return list(first_order(family).outputs["flow"])


def symbolic_velocity(family, exprs: list | None = None) -> Callable[[np.ndarray], np.ndarray]:
    r""":math:`\theta\mapsto\dot\theta` compiled from ``exprs`` (default: the derived ``flow``) at the family's
    parameter values, float64."""
    D = first_order(family)
    exprs = gaussian_flow_formula(family) if exprs is None else list(exprs)
    f = D.with_outputs("flow-under-test", {"flow": exprs}).evaluator(["flow"])
    params = [float(v) for v in family.parameter_values()]
    return lambda theta: np.array([float(v) for v in f(*params, *theta)["flow"]])


def _sigmas(family):
    return gaussian_coordinates(family.n_states, 1)[2][1::2]


def _missing_sigma(family) -> list:
    r"""Mutant :math:`\dot\sigma_s = -\mathbb E[\partial_a^2Q]` (the factor :math:`\sigma_s` dropped)."""
    fl = gaussian_flow_formula(family)
    for s, sig in enumerate(_sigmas(family)):
        fl[2 * s + 1] = fl[2 * s + 1] / sig
    return fl


def _mean_sign(family) -> list:
    r"""Mutant :math:`\dot m_s = +\mathbb E[\partial_a Q]` (ascent in the mean)."""
    return [-x if i % 2 == 0 else x for i, x in enumerate(gaussian_flow_formula(family))]


def _sigma_rate_doubled(family) -> list:
    r"""Mutant :math:`\dot\sigma_s = -2\sigma_s\mathbb E[\partial_a^2Q]` (the factor 2 of :math:`\dot\Sigma = -2\Sigma H`
    carried over to :math:`\sigma`)."""
    return [2 * x if i % 2 else x for i, x in enumerate(gaussian_flow_formula(family))]


def _check_particle_vs_gaussian(family, rng, formula):
    velocity = symbolic_velocity(family, formula(family))
    t = CLAIM_TIMES
    eps = t[1:][::-1]
    results, wheres, details = [], [], []
    for k in range(2):
        pol = random_gaussian_policy(family, rng)
        cmp = compare_flows(family, pol, t, n_particles=(), seeds=(), velocity=velocity)
        tang = dict(zip(t.tolist(), cmp.tangential_total))
        results.append(taylor_check(lambda e: tang[float(e)], lambda e: 0.0, order=1, eps=eps,
                                    curve="tangential W2 defect of the Gaussian ODE against the full law's flow, in t"))
        wheres.append({"sample": k, "policy_mean": pol.mean[:, 0].tolist(), "policy_std": pol.std.tolist()})
        details.append({"t": t.tolist(), "tangential": cmp.tangential_total.tolist(),
                        "defect": cmp.defect_total.tolist(), "normal": cmp.normal_total.tolist(),
                        "normal_rate": cmp.normal_rate,
                        "defect_over_t_at_smallest_t": float(cmp.defect_total[1] / t[1])})
    out = taylor_outcome(results, wheres)
    worst = int(np.argmax([r.error if r.error is not None else np.inf for r in results]))
    info = {**out.details, **details[worst]}
    if out.verdict is None and out.error is not None and out.error > SLOPE_TOLERANCE:
        # A wrong ODE leaves an O(t) tangential defect of the size of its velocity error; the right one can show an
        # O(t) term only through the reference flow's own quadrature error (transported nodes), which on families
        # with very narrow features is about 1e-3 of the flow's normal rate.  Below 1 % of that rate the slope
        # cannot tell a wrong formula from the witness's error: say so.
        d = details[worst]
        c1 = d["tangential"][1] / d["t"][1]
        if c1 < 1e-2 * d["normal_rate"]:
            info["reason"] = (f"the tangential defect's O(t) coefficient {c1:.3g} is below 1% of the flow's normal rate "
                              f"{d['normal_rate']:.3g}: within the reference flow's quadrature error on this family")
            return Outcome(None, out.where, info, verdict="inconclusive")
    return Outcome(out.error, out.where, info, out.verdict)


PARTICLE_VS_GAUSSIAN = Claim(
    name="particle-vs-gaussian-flow",
    signature="(family: Family) -> list of 2n sympy.Expr, d theta/dt in theta = (m_s, sigma_s)_s (d = 1)",
    statement=r"W_2\big(\hat\pi_{t,s},\ \mathcal N(m_s(t), \sigma_s(t)^2)\big) = O(t^2),\ \hat\pi_{t,s} = "
              r"W_2\text{-nearest Gaussian of } \pi_{t,s},\ \partial_t\pi_s = \mathrm{div}_a(\pi_s\nabla_aQ),\quad "
              r"\dot m_s = -\mathbb E_{\pi_s}[\partial_aQ],\ \dot\sigma_s = -\sigma_s\mathbb E_{\pi_s}[\partial_a^2Q]",
    section="3 (flow projected on the Gaussian family, against the particle flow)",
    assumptions=("R1", "R2", "R3", "R4", "d = 1"),
    witness="the full law's flow: the feature-resolving rule of pi_0 transported by da/dt = -d_a Q of the law it "
            "represents (DOP853, rtol 1e-10), its W2-nearest Gaussian per state by weighted least squares of the "
            "transported nodes on the standard normal quantiles; the claimed ODE integrated alike; rho-weighted",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=(f"slope of the tangential defect against t on the smallest resolved times (0.25 * 2^-k): the "
                      f"L2 projection gives 2 (observed 1.96-2.06 over seeds 0-9 on switch2, modulated n=3 and n=5), "
                      f"a wrong affine velocity 1 (mutants 0.97-1.00): |slope - 2| <= {SLOPE_TOLERANCE}; "
                      "inconclusive when the O(t) part is below 1% of the flow's normal rate (the reference flow's "
                      "own quadrature error on families with very narrow features)"),
    check=_check_particle_vs_gaussian,
    formula=gaussian_flow_formula,
    mutants={"missing-sigma-factor": _missing_sigma, "mean-sign": _mean_sign,
             "sigma-rate-doubled": _sigma_rate_doubled},
    applies=lambda fam: None if fam.action_dim == 1 else "the quantile distances need d = 1",
)


# ----------------------------------------------------------------------------------------------- scalar LQ
@lru_cache(maxsize=None)
def _lq_projection():
    r"""Compiled :math:`(c_a, c_x, c_0)` of :math:`\partial_aQ = c_a a + c_x x + c_0` from the symbolic scalar derivation
    (affine in (x, a): checked symbolically)."""
    D = scalar_lq()
    x, a = SYMBOLS["x"], SYMBOLS["a"]
    dQ = D.outputs["dQ_da"]
    ca, cx = sp.diff(dQ, a), sp.diff(dQ, x)
    c0 = dQ.subs({x: 0, a: 0})
    if sp.simplify(dQ - (ca * a + cx * x + c0)) != 0 or ca.has(x, a) or cx.has(x, a):
        raise AssertionError("scalar LQ: d_a Q is not affine in (x, a)")
    return D.with_outputs("projected-flow", {"ca": ca, "cx": cx, "c0": c0}).evaluator(["ca", "cx", "c0"])


def lq_projected_velocity(family, K: float, Sigma: float) -> tuple[float, float]:
    r"""The Gaussian-projected ODE of :math:`\pi_x = \mathcal N(-Kx, \Sigma)` from the symbolic :math:`\partial_aQ =
    c_a a + c_x x + c_0`: the mean :math:`-Kx` moves by :math:`-\mathbb E[\partial_aQ] = (c_aK - c_x)x - c_0`, so
    :math:`\dot K = c_x - c_aK` (:math:`c_0 = 0`), and :math:`\dot\sigma = -\sigma\,\mathbb E[\partial_a^2Q] = -c_a\sigma`,
    :math:`\dot\Sigma = -2c_a\Sigma` (= :math:`-2E_K` and :math:`-4M\Sigma`).  Scalar family, tau = 0."""
    vals = [float(family.A[0, 0]), float(family.B[0, 0]), float(family.Qc[0, 0]), float(family.R[0, 0]),
            float(family.W[0, 0]), float(family.tau), float(K), float(Sigma), 0.0, 0.0]
    out = _lq_projection()(*vals)
    ca, cx, c0 = float(out["ca"]), float(out["cx"]), float(out["c0"])
    if c0 != 0.0:
        raise AssertionError(f"scalar LQ: d_a Q has a constant term {c0}: the mean would leave the family N(-Kx, Sigma)")
    return cx - ca * K, -2 * ca * Sigma


def lq_flow_formula(family, K: float, Sigma: float) -> tuple[float, float]:
    """Formula under test: (dK/dt, dSigma/dt) of the scalar LQ Gaussian ODE (:func:`lq_projected_velocity`)."""
    return lq_projected_velocity(family, K, Sigma)


#: short, so that a mutant Gaussian ODE (e.g. ascent in K) has not yet left the stabilising set, where it blows up
LQ_TIMES = np.array([0.0, 0.025, 0.05, 0.1])
LQ_PARTICLES = (16, 64, 256)


def _check_lq_particle_vs_gaussian(family, rng, formula):
    pol = random_lq_policy(family, rng)
    K0, S0 = float(pol.K[0, 0]), float(pol.Sigma[0, 0])
    cmp = compare_lq_flows(family, K0, S0, LQ_TIMES, n_particles=LQ_PARTICLES, seeds=(0, 1, 2),
                           velocity=lambda K, S: formula(family, K, S))
    k = int(np.argmax(cmp.defect_total))
    err = float(cmp.defect_total[k])
    return Outcome(err, {"K0": K0, "Sigma0": S0, "t": float(cmp.t[k])},
                   {"t": cmp.t.tolist(), "defect": cmp.defect_total.tolist(), "n_particles": list(cmp.n_particles),
                    "gap": cmp.gap_total.tolist(), "gap_exponent": cmp.mean_exponent("gap"),
                    "lsq_residual": cmp.lsq_residual})


def _lq_missing_sigma(family, K, Sigma):
    dK, dS = lq_projected_velocity(family, K, Sigma)
    return dK, dS / Sigma


def _lq_gain_sign(family, K, Sigma):
    dK, dS = lq_projected_velocity(family, K, Sigma)
    return -dK, dS


def _lq_euclidean_gain(family, K, Sigma):
    r"""Mutant: the Euclidean gradient :math:`\dot K = -\partial J/\partial K = -2E_KX` (not the Wasserstein one)."""
    from otgeom.numeric.lq import LQPolicy, lq_point

    pt = lq_point(family, LQPolicy(np.array([[K]]), np.array([[Sigma]])))
    return -float(pt.grad_K[0, 0]), lq_projected_velocity(family, K, Sigma)[1]


def _lq_applies(family):
    if family.n != 1 or family.m != 1:
        return "needs the scalar family (n = m = 1)"
    return None if family.tau == 0 else "the particle flow needs tau = 0 (an empirical law has no score)"


LQ_PARTICLE_VS_GAUSSIAN = Claim(
    name="lq-particle-vs-gaussian-flow",
    signature="(family: LQFamily, K: float, Sigma: float) -> (dK/dt, dSigma/dt): floats (scalar LQ)",
    statement=r"\dot a = -\nabla_aQ_{\pi_t}(x,a)\ \text{keeps}\ \pi_x = \mathcal N(-K(t)x, \Sigma(t)),\quad "
              r"\dot K = -2E_K,\ \dot\Sigma = -2(M\Sigma + \Sigma M)\ \text{(from the symbolic } \partial_aQ)",
    section="5 (flow on the LQ family, against the particle flow)",
    assumptions=("R1: |A - BK| < 1 along the flow", "scalar, tau = 0"),
    witness="the particle flow of a = -K x + xi_j from the definition (Q of the particles' own law: Lyapunov solve "
            "for P, Poisson linear term q, evaluated at x in {0, +-1}, K and xi recovered by least squares), from "
            "20 Gauss-Hermite nodes of N(0, Sigma0); DOP853 rtol 1e-10; W2 averaged over x ~ N(0, X)",
    tolerance=1e-7,
    tolerance_reason="absolute W2 (in units of a) between the Gaussian ODE and the law of the transported nodes, "
                     "largest over t <= 0.1: both integrated to rtol 1e-10 (observed 1e-11 to 4e-11 over seeds 0-9); "
                     "a wrong factor, sign or metric moves them apart by O(t) (the mutants: 0.012 to 1.2)",
    check=_check_lq_particle_vs_gaussian,
    formula=lq_flow_formula,
    mutants={"missing-sigma-factor": _lq_missing_sigma, "gain-sign": _lq_gain_sign,
             "euclidean-gain-gradient": _lq_euclidean_gain},
    applies=_lq_applies,
    family_kind="lq",
)

CLAIMS = [PARTICLE_VS_GAUSSIAN, LQ_PARTICLE_VS_GAUSSIAN]
