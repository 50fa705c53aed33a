"""Claims of THEORY.md sections 2-3: metric, first variation, gradient, flows."""
from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import sympy as sp
from scipy.integrate import quad
from scipy.special import ndtri

from otgeom.claims import Claim, Outcome
from otgeom.errors import NotConvergedError
from otgeom.numeric.chain import evaluate_chain, gradient_field
from otgeom.numeric.flows import particle_gradient_flow
from otgeom.numeric.geometry import affine_field, gaussian_gradient, gaussian_metric_matrix, metric
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.quadrature import adapt_gaussian_rule
from otgeom.numeric.witness import gaussian_chain as witness_chain, gradient_with_bounds
from otgeom.numeric.taylor import SLOPE_TOLERANCE, even_taylor_check, taylor_check
from otgeom.sampling import random_family, random_gaussian_policy, random_particle_policy
from otgeom.symbolic.geometry import first_order
from otgeom.theory import metric_weights
from proofs_checks._common import TAYLOR_REASON, TAYLOR_REASON_EVEN, symbolic_args, taylor_outcome

# ----------------------------------------------------------------------------- policy gradient theorem
def _check_policy_gradient(family, rng, formula):
    worst, where, werr = 0.0, {}, 0.0
    for k in range(3):
        fam = random_family(family, rng)
        pol = random_gaussian_policy(fam, rng)
        prims = fam.primitives()
        w = witness_chain(prims, pol, tol=1e-12)
        sol, wp = w.sol, w.wp
        claimed = formula(w.prims, sol, pol, wp)
        dJ = np.array(first_order(fam).evaluator(["dJ_dtheta"])(*symbolic_args(fam, pol))["dJ_dtheta"], float)
        n, d = fam.n_states, fam.action_dim
        kdim = d + d * (d + 1) // 2
        # the quadrature and round-off bound of the numeric side, in the units of err (a bound on the
        # theory's numbers, used as the bound of the numbers the claimed formula computes on the same rule)
        _, gerr = gradient_with_bounds(w.prims, w, pol)
        bound = 2 * max(float(np.max(gerr["grad_mean"])), float(np.max(gerr["grad_cov"])))
        err = 0.0
        for s in range(n):
            blk = dJ[s * kdim:(s + 1) * kdim]
            gm = claimed["grad_mean"][s]
            G = claimed["grad_cov"][s]
            if d == 1:
                gs = 2 * pol.std[s] * G[0, 0]
                cmp = np.concatenate([blk[:1] - gm, [blk[1] - gs]])
                bound_s = bound * max(1.0, 2 * pol.std[s])
            else:
                iu = np.triu_indices(d)
                Gs = np.where(iu[0] == iu[1], G[iu], 2 * G[iu])
                cmp = np.concatenate([blk[:d] - gm, blk[d:] - Gs])
                bound_s = bound
            err = max(err, float(np.abs(cmp).max() / max(1.0, np.abs(blk).max())))
            werr = max(werr, bound_s / max(1.0, np.abs(blk).max()))
        if err >= worst:
            worst, where = err, {"parameters": fam.parameters_json(), "policy_mean": pol.mean.tolist(),
                                 "policy_cov": pol.cov.tolist(), "quadrature_error": w.scaled_error}
    return Outcome(worst, where, witness_error=werr)


def _no_rho(prims, sol, pol, wp):
    return gaussian_gradient(prims, dataclasses.replace(sol, rho=np.ones_like(sol.rho)), pol, wp)


def _no_h(prims, sol, pol, wp):
    return gaussian_gradient(prims, dataclasses.replace(sol, h=np.zeros_like(sol.h)), pol, wp)


def _neg(prims, sol, pol, wp):
    out = gaussian_gradient(prims, sol, pol, wp)
    return {k: -v for k, v in out.items()}


POLICY_GRADIENT = Claim(
    name="policy-gradient",
    signature="(prims: Primitives, sol: ChainSolution, policy: GaussianPolicy, wp: WeightedPoints) -> dict grad_mean [n, d], grad_cov [n, d, d]",
    statement=r"\partial J/\partial m_s = \rho_s\mathbb E_{\pi_s}[\nabla_a Q],\quad "
              r"\partial J/\partial \Sigma_s = \tfrac12\rho_s\mathbb E_{\pi_s}[\nabla_a^2 Q]",
    section="3 (first variation in Gaussian coordinates)",
    assumptions=("R1", "R2", "R3: c, p smooth in a"),
    witness="direct symbolic differentiation of the closed-form J(theta) (no policy-gradient theorem), float64",
    tolerance=1e-9,
    tolerance_reason="float64 evaluation of both sides plus the quadrature error of the numeric side, bounded by "
                     "its two embedded rules (inconclusive when that bound could decide); a missing factor or term "
                     "errs by O(1)",
    check=_check_policy_gradient,
    formula=gaussian_gradient,
    mutants={"no-rho-weight": _no_rho, "no-h-term": _no_h, "wrong-sign": _neg},
)


# ----------------------------------------------------------------------------- first variation (particles)
def _dJ_theory(prims, sol, wp, V):
    return metric(sol.rho, wp, gradient_field(prims, sol, wp), V)


def _check_first_variation(family, rng, formula):
    prims = family.primitives()
    results, wheres = [], []
    for k in range(2):
        pol = random_particle_policy(family, rng, n_particles=12)
        V = rng.standard_normal(pol.particles.shape)
        wp = pol.discretize()
        sol = evaluate_chain(prims, wp)
        dJ = float(formula(prims, sol, wp, V))
        res = taylor_check(lambda e: evaluate_chain(prims, pol.pushforward(V, e).discretize()).J,
                           lambda e: sol.J + e * dJ, order=1, curve="push-forward (id + eps v)#pi, particles")
        results.append(res)
        wheres.append({"sample": k, "dJ": dJ})
    return taylor_outcome(results, wheres)


FIRST_VARIATION = Claim(
    name="first-variation",
    signature="(prims: Primitives, sol: ChainSolution, wp: WeightedPoints, V: ndarray [n, N, d]) -> dJ[V]: float",
    statement=r"\frac{d}{d\epsilon}J((\mathrm{id}+\epsilon v)_\#\pi)\big|_0 = \sum_s\rho(s)\int\langle\nabla_a Q(s,a), v_s(a)\rangle d\pi_s",
    section="3 (average-cost policy-gradient theorem)",
    assumptions=("R1", "R2", "R3"),
    witness="J recomputed from its definition (GTH + solve) along the push-forward of random particle policies",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON,
    check=_check_first_variation,
    formula=_dJ_theory,
    mutants={
        "no-rho-weight": lambda pr, sol, wp, V: metric(np.ones_like(sol.rho), wp, gradient_field(pr, sol, wp), V),
        "no-h-term": lambda pr, sol, wp, V: _dJ_theory(pr, dataclasses.replace(sol, h=0 * sol.h), wp, V),
        "wrong-sign": lambda pr, sol, wp, V: -_dJ_theory(pr, sol, wp, V),
    },
)


# ----------------------------------------------------------------------------- Riemannian gradient (Gaussian)
def _check_riemannian_gradient(family, rng, formula):
    prims = family.primitives()
    results, wheres = [], []
    for k in range(2):
        pol = random_gaussian_policy(family, rng)
        n, d = family.n_states, family.action_dim
        dm = rng.standard_normal((n, d))
        S = rng.standard_normal((n, d, d))
        S = 0.5 * (S + np.swapaxes(S, 1, 2))
        # one feature-resolving rule, adapted at pol and mapped onto every push-forward: J(eps) is then a smooth
        # function of eps (a rule re-adapted at each eps would add panel-switching noise to the remainders)
        rule = adapt_gaussian_rule(prims, pol)
        if not rule.converged:
            raise NotConvergedError(f"witness: quadrature: {rule.reason}")
        wp = rule.weighted_points(pol)
        sol = evaluate_chain(prims, wp)
        V = affine_field(pol, wp, dm, S)
        # the metric's weights are a definition of the theory (otgeom.theory: rho in the reference)
        model_slope = metric(metric_weights(sol.rho), wp, formula(prims, sol, wp), V)
        res = taylor_check(lambda e: evaluate_chain(prims, rule.weighted_points(pol.pushforward(dm, S, e))).J,
                           lambda e: sol.J + e * model_slope, order=1,
                           curve="push-forward of a Gaussian by an affine field (stays Gaussian)",
                           eps=2.0 ** -np.arange(2, 24))
        results.append(res)
        wheres.append({"sample": k, "family": family.spec.name, "parameters": family.parameters_json(),
                       "policy": {"mean": pol.mean.tolist(), "cov": pol.cov.tolist()},
                       "dm": dm.tolist(), "S": S.tolist(), "g(grad J, v)": model_slope})
    return taylor_outcome(results, wheres)


RIEMANNIAN_GRADIENT = Claim(
    name="riemannian-gradient",
    reads=("metric_weights",),
    signature="(prims: Primitives, sol: ChainSolution, wp: WeightedPoints) -> grad J: ndarray [n, N, d], the field at wp.points",
    statement=r"\mathrm{grad}\,J(\pi)(s,a) = \nabla_a Q_\pi(s,a):\quad g_\pi(\mathrm{grad}\,J, v) = dJ[v]",
    section="3 (Riemannian gradient for the rho-weighted metric)",
    assumptions=("R1", "R2", "R3"),
    witness="J by quadrature (one feature-resolving rule mapped along the curve) + GTH along Gaussian "
            "push-forwards (id + eps v)#pi with random affine v",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON,
    check=_check_riemannian_gradient,
    formula=lambda prims, sol, wp: gradient_field(prims, sol, wp),
    mutants={"extra-rho-factor": lambda prims, sol, wp: sol.rho[:, None, None] * gradient_field(prims, sol, wp),
             "wrong-sign": lambda prims, sol, wp: -gradient_field(prims, sol, wp)},
)


# ----------------------------------------------------------------------------- energy decay along the flow
def _decay_theory(sol, wp, G):
    return -metric(sol.rho, wp, G, G)


def _check_energy_decay(family, rng, formula):
    prims = family.primitives()
    pol = random_particle_policy(family, rng, n_particles=6)
    wp = pol.discretize()
    sol = evaluate_chain(prims, wp)
    rate = float(formula(sol, wp, gradient_field(prims, sol, wp)))
    eps = 2.0 ** -np.arange(3, 20)
    flow = particle_gradient_flow(prims, pol, np.concatenate([[0.0], eps[::-1]]), rtol=1e-13, atol=1e-15,
                                  max_evaluations=20_000)  # a stiff flow (a very narrow bump): inconclusive
    J_at = dict(zip(flow.t.tolist(), flow.J))
    res = taylor_check(lambda t: J_at[float(t)], lambda t: sol.J + t * rate, order=1,
                       curve="particle gradient flow da/dt = -grad_a Q", eps=eps)
    return taylor_outcome([res], [{"dJ/dt": rate}])


ENERGY_DECAY = Claim(
    name="energy-decay",
    signature="(sol: ChainSolution, wp: WeightedPoints, G: ndarray [n, N, d] (the gradient field)) -> dJ/dt: float along the flow a' = -G",
    statement=r"\frac{d}{dt}J(\pi_t) = -g_{\pi_t}(\mathrm{grad}\,J, \mathrm{grad}\,J) = -\sum_s\rho(s)\int|\nabla_a Q|^2 d\pi_s",
    section="3 (gradient flow)",
    assumptions=("R1", "R2", "R3"),
    witness="J along the particle flow integrated by DOP853 (rtol 1e-13), Taylor remainder in t",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON,
    check=_check_energy_decay,
    formula=_decay_theory,
    mutants={"unweighted": lambda sol, wp, G: -metric(np.ones_like(sol.rho), wp, G, G),
             "half-rate": lambda sol, wp, G: 0.5 * _decay_theory(sol, wp, G)},
)


# ----------------------------------------------------------------------------- projected flow = natural gradient
def gaussian_flow_formula(family):
    """Formula under test: the symbolic projected-flow right-hand side (list over coordinates)."""
    return first_order(family).outputs["flow"]


def _check_gaussian_flow(family, rng, formula):
    D = first_order(family)
    worst, where = 0.0, {}
    n, d = family.n_states, family.action_dim
    kdim = d + d * (d + 1) // 2
    flow_exprs = formula(family)
    fn = D.evaluator(["dJ_dtheta", "rho"], backend="mpmath")
    with mpmath.workdps(50):
        fflow = _mp_evaluator(D, flow_exprs)
        for k in range(3):
            fam = random_family(family, rng)
            pol = random_gaussian_policy(fam, rng)
            args = symbolic_args(fam, pol, kind=mpmath.mpf)
            out = fn(*args)
            flow = fflow(*args)
            dJ, rho = out["dJ_dtheta"], out["rho"]
            nat = []
            for s in range(n):
                blk = dJ[s * kdim:(s + 1) * kdim]
                nat += [-x / rho[s] for x in blk[:d]]
                if d == 1:
                    nat.append(-blk[1] / rho[s])
                else:
                    G = mpmath.matrix(d, d)
                    idx = 0
                    for i in range(d):
                        for j in range(i, d):
                            G[i, j] = G[j, i] = blk[d + idx] * (1 if i == j else mpmath.mpf(1) / 2)
                            idx += 1
                    Sig = mpmath.matrix(pol.cov[s].tolist())
                    Sg = 2 * G / rho[s]
                    dS = -(Sg * Sig + Sig * Sg)
                    nat += [dS[i, j] for i in range(d) for j in range(i, d)]
            err = max(float(abs(a - b)) for a, b in zip(flow, nat)) / max(1, float(max(abs(x) for x in nat)))
            if err >= worst:
                worst, where = err, {"parameters": fam.parameters_json(), "policy_mean": pol.mean.tolist(),
                                     "policy_cov": pol.cov.tolist()}
    return Outcome(worst, where, {"digits": 50})


def _mp_evaluator(D, exprs):
    f = D.with_outputs("flow", {"flow": list(exprs)}).evaluator(["flow"], backend="mpmath")
    return lambda *args: f(*args)["flow"]


def _flow_without_sigma(family):
    fl = list(gaussian_flow_formula(family))
    if family.action_dim == 1:
        from otgeom.symbolic.chain import gaussian_coordinates
        coords = gaussian_coordinates(family.n_states, 1)[2]
        for s in range(family.n_states):
            fl[2 * s + 1] = fl[2 * s + 1] / coords[2 * s + 1]
    else:
        fl = [2 * x for x in fl]
    return fl


GAUSSIAN_FLOW = Claim(
    name="gaussian-projected-flow",
    signature="(family: Family) -> list of 2n sympy.Expr, d theta/dt in theta = (m_s, sigma_s)_s (d = 1)",
    statement=r"\dot m_s = -\mathbb E_{\pi_s}[\nabla_a Q],\ \dot\sigma_s = -\sigma_s\mathbb E_{\pi_s}[\partial_a^2 Q]"
              r"\ \ (\dot\Sigma_s = -(H_s\Sigma_s+\Sigma_s H_s))\ =\ -G(\theta)^{-1}\nabla_\theta J",
    section="3 (flow projected on the Gaussian family)",
    assumptions=("R1", "R2", "R3", "R4"),
    witness="natural gradient -G^{-1} dJ/dtheta from direct symbolic differentiation of J(theta) and the metric "
            "G = diag(rho_s, rho_s) (Bures-Wasserstein in Sigma), both evaluated at 50 digits at random points",
    tolerance=1e-35,
    tolerance_reason="both sides are closed forms evaluated in 50-digit arithmetic (round-off ~1e-45 after "
                     "cancellation); a wrong factor errs by O(1)",
    check=_check_gaussian_flow,
    formula=gaussian_flow_formula,
    mutants={"missing-sigma-factor": _flow_without_sigma},
)


# ----------------------------------------------------------------------------- metric vs W2
def gaussian_metric_formula(family):
    """Formula under test: the metric tensor G(theta) in (m_s, sigma_s) coordinates (d = 1)."""
    return first_order(family).outputs["metric"]


def _w2sq_quantile(m0, s0, m1, s1):
    """W2^2 between two 1-D Gaussians from the quantile integral (independent of the closed form)."""
    f = lambda u: ((m1 - m0) + (s1 - s0) * ndtri(u)) ** 2  # noqa: E731
    return quad(f, 0, 1, epsabs=0, epsrel=1e-13, limit=200)[0]


def _check_gaussian_metric(family, rng, formula):
    D = first_order(family)
    Gexpr = formula(family)
    fG = D.with_outputs("G", {"G": sp.Matrix(Gexpr)}).evaluator(["G"])
    worst, where = 0.0, {}
    prims = family.primitives()
    n = family.n_states
    werr_max = 0.0
    for k in range(3):
        pol = random_gaussian_policy(family, rng)
        G = np.array(fG(*symbolic_args(family, pol))["G"], float)
        bad = _not_a_metric(G, 2 * n)
        if bad:
            return Outcome(float("inf"), {"policy_mean": pol.mean.tolist(), "policy_std": pol.std.tolist()},
                           {"reason": bad})
        v = rng.standard_normal(2 * n)
        claimed = float(v @ G @ v)
        w = witness_chain(prims, pol, tol=1e-12, owner="witness")  # rho with its error bound
        eps = 1e-3
        w2s = [_w2sq_quantile(pol.mean[s, 0], pol.std[s], pol.mean[s, 0] + eps * v[2 * s],
                              pol.std[s] + eps * v[2 * s + 1]) / eps**2 for s in range(n)]
        wts = metric_weights(w.sol.rho)  # the theory's weights (rho in the reference)
        w2 = float(wts @ w2s)
        err = abs(claimed - w2) / max(1.0, abs(w2))
        # the witness's own error: the weights' change within rho's bound times the per-state W2 terms, and quad's
        # relative error (1e-12)
        dw = np.abs(metric_weights(w.sol.rho + w.error["rho"]) - wts)
        werr = float(dw @ np.abs(w2s) + 1e-12 * np.abs(w2s).sum()) / max(1.0, abs(w2))
        if err >= worst:
            worst, where = err, {"policy_mean": pol.mean.tolist(), "policy_std": pol.std.tolist(), "v": v.tolist()}
        werr_max = max(werr_max, werr)
    return Outcome(worst, where, {"witness_error": werr_max}, witness_error=werr_max)


GAUSSIAN_METRIC = Claim(
    name="gaussian-metric",
    reads=("metric_weights",),
    signature="(family: Family) -> sympy.Matrix [2n, 2n], G(theta) in theta = (m_s, sigma_s)_s (d = 1)",
    statement=r"g = \sum_s \rho_s (dm_s^2 + d\sigma_s^2):\ G(\theta) = \mathrm{diag}_s(\rho_s,\rho_s)",
    section="2 (metric in Gaussian coordinates, d = 1)",
    assumptions=("R1", "R2"),
    witness="sum_s rho_s W2^2(pi_s, pi_s^eps)/eps^2 with W2 from the quantile integral (scipy quad of "
            "(X - Y)^2 over u), rho by GTH on the feature-resolving rule, with its error bound",
    tolerance=1e-8,
    tolerance_reason="W2^2 between 1-D Gaussians is exactly quadratic in (dm, dsigma), so eps = 1e-3 adds no "
                     "truncation; quad's relative error is ~1e-13; dropping the rho weights errs by >= 1e-2",
    check=_check_gaussian_metric,
    formula=gaussian_metric_formula,
    mutants={"unweighted": lambda fam: sp.eye(2 * fam.n_states)},
    applies=lambda fam: None if fam.action_dim == 1 else "the (m, sigma) chart is for d = 1",
    conditioning=False,  # G = diag(rho): GTH is componentwise accurate whatever cond(I - P + 1 rho^T) is
)

# ----------------------------------------------------------------------------- metric vs Bures-Wasserstein (d >= 2)
def bures_w2sq(m0, S0, m1, S1) -> tuple[float, str]:
    r"""W2^2 between N(m0, S0) and N(m1, S1), and who computed it: POT's ``ot.gaussian.bures_wasserstein_distance``
    (an outside implementation nobody here wrote) when POT is installed, else the closed form
    :math:`|m_0 - m_1|^2 + \mathrm{tr}(S_0 + S_1 - 2(S_0^{1/2}S_1S_0^{1/2})^{1/2})` with scipy's ``sqrtm``."""
    try:
        import ot
    except ImportError:
        from scipy.linalg import sqrtm

        r0 = np.real(sqrtm(S0))
        cross = np.real(sqrtm(r0 @ S1 @ r0))
        return float(np.sum((m0 - m1) ** 2) + np.trace(S0 + S1 - 2 * cross)), "scipy sqrtm closed form"
    W = ot.gaussian.bures_wasserstein_distance(np.asarray(m0, float), np.asarray(m1, float), np.asarray(S0, float),
                                               np.asarray(S1, float))
    return float(W) ** 2, f"POT {ot.__version__} ot.gaussian.bures_wasserstein_distance"


def _not_a_metric(G: np.ndarray, K: int) -> str | None:
    """Why G cannot be a metric tensor in K coordinates (its shape, non-finite entries, asymmetry), or None."""
    if G.shape != (K, K):
        return f"G has shape {list(G.shape)}, expected [{K}, {K}]"
    if not np.all(np.isfinite(G)):
        return "G has entries that are not finite"
    asym = float(np.abs(G - G.T).max())
    if asym > 1e-12 * max(1.0, float(np.abs(G).max())):
        return f"G is not symmetric (max |G - G^T| = {asym:.3g}): not a metric tensor"
    return None


def gaussian_metric_bures_formula(rho, policy):
    """Formula under test: G(theta) in (m_s, upper(Sigma_s)) coordinates, by Lyapunov solves (any d)."""
    return gaussian_metric_matrix(rho, policy)


def _check_gaussian_metric_bures(family, rng, formula):
    prims = family.primitives()
    n, d = family.n_states, family.action_dim
    results, wheres, backend = [], [], ""
    for k in range(2):
        pol = random_gaussian_policy(family, rng)
        w = witness_chain(prims, pol, tol=1e-12, owner="witness")
        G = np.asarray(formula(w.sol.rho, pol), float)
        K = len(pol.coordinates())
        bad = _not_a_metric(G, K)
        if bad:  # the Taylor check sees only v^T G v: a non-symmetric G would pass on its symmetric part
            return Outcome(float("inf"), {"sample": k, "policy": {"mean": pol.mean.tolist(), "cov": pol.cov.tolist()}},
                           {"reason": bad})
        v = rng.standard_normal(K)
        # scale so that Sigma_s + eps dSigma_s stays positive definite for eps <= 1/4
        iu, kk = np.triu_indices(d), d + d * (d + 1) // 2
        size = 0.0
        for s in range(n):
            dS = np.zeros((d, d))
            dS[iu] = v[s * kk + d:(s + 1) * kk]
            dS = dS + np.triu(dS, 1).T
            size = max(size, float(np.abs(np.linalg.eigvalsh(dS)).max()))
        lam = min(float(np.linalg.eigvalsh(pol.cov[s]).min()) for s in range(n))
        v *= min(1.0, 2.0 * lam / max(size, 1e-300))
        wts = metric_weights(w.sol.rho)

        def f(e):
            at = GaussianPolicy.from_coordinates(pol.coordinates() + e * v, n, d)
            total = 0.0
            for s in range(n):
                w2, who = bures_w2sq(pol.mean[s], pol.cov[s], at.mean[s], at.cov[s])
                total += wts[s] * w2
            nonlocal backend
            backend = who
            return total

        g = float(v @ G @ v)
        results.append(even_taylor_check(lambda e: 0.0 if e == 0 else f(e), 0.0, 2.0 * g,
                                         "coordinate line theta + eps v (both directions)", 2.0 ** -np.arange(2, 22)))
        wheres.append({"sample": k, "family": family.spec.name, "parameters": family.parameters_json(),
                       "policy": {"mean": pol.mean.tolist(), "cov": pol.cov.tolist()}, "rho": w.sol.rho.tolist(),
                       "v": v.tolist(), "claimed g(v, v)": g})
    out = taylor_outcome(results, wheres)
    return dataclasses.replace(out, details={**out.details, "witness_backend": backend})


GAUSSIAN_METRIC_BURES = Claim(
    name="gaussian-metric-bures",
    reads=("metric_weights",),
    signature="(rho: ndarray [n], policy: GaussianPolicy) -> G: ndarray [K, K] in theta = (m_s, upper(Sigma_s))_s",
    statement=r"g(\dot\theta,\dot\theta) = \sum_s \rho_s\left(|\dot m_s|^2 + \mathrm{tr}(S_s\Sigma_s S_s)\right),"
              r"\quad S_s\Sigma_s + \Sigma_s S_s = \dot\Sigma_s",
    section="2 (metric in Gaussian coordinates, d >= 2: Bures-Wasserstein)",
    assumptions=("R1", "R2"),
    witness="sum_s rho_s W2^2(pi_s, pi_s(theta + eps v)) with W2 from POT's ot.gaussian.bures_wasserstein_distance "
            "(an outside reference; without POT, the closed form with scipy's sqrtm), rho by GTH; symmetrised "
            "Taylor remainder in eps",
    tolerance=SLOPE_TOLERANCE,
    tolerance_reason=TAYLOR_REASON_EVEN,
    check=_check_gaussian_metric_bures,
    formula=gaussian_metric_bures_formula,
    mutants={"unweighted": lambda rho, pol: gaussian_metric_matrix(np.ones_like(rho), pol),
             "euclidean-covariance": lambda rho, pol: _euclidean_covariance_metric(rho, pol),
             "bures-factor-2": lambda rho, pol: _scaled_covariance_block(rho, pol, 2.0)},
    applies=lambda fam: None if fam.action_dim >= 2 else "d = 1 is the claim gaussian-metric",
)


def _covariance_mask(pol) -> np.ndarray:
    n, d = pol.mean.shape
    k = d + d * (d + 1) // 2
    mask = np.zeros(n * k, bool)
    for s in range(n):
        mask[s * k + d:(s + 1) * k] = True
    return mask


def _scaled_covariance_block(rho, pol, factor: float) -> np.ndarray:
    """Mutant: the covariance block of G times ``factor`` (a wrong Bures factor)."""
    G = gaussian_metric_matrix(rho, pol)
    m = _covariance_mask(pol)
    G[np.ix_(m, m)] *= factor
    return G


def _euclidean_covariance_metric(rho, pol) -> np.ndarray:
    """Mutant: the flat (Frobenius) metric tr(dSigma dSigma) on the covariance instead of Bures-Wasserstein."""
    n, d = pol.mean.shape
    iu = np.triu_indices(d)
    G = gaussian_metric_matrix(rho, pol)
    k = d + len(iu[0])
    for s in range(n):
        o = s * k + d
        block = np.zeros((len(iu[0]), len(iu[0])))
        for a, (i, j) in enumerate(zip(*iu)):
            block[a, a] = rho[s] * (1.0 if i == j else 2.0)
        G[o:o + len(iu[0]), o:o + len(iu[0])] = block
    return G


CLAIMS = [POLICY_GRADIENT, FIRST_VARIATION, RIEMANNIAN_GRADIENT, ENERGY_DECAY, GAUSSIAN_FLOW, GAUSSIAN_METRIC,
          GAUSSIAN_METRIC_BURES]
