r"""The numbers at one point: chain, gradient and certificates for a Gaussian policy (``otgeom eval``).

Keys (a stable contract, extend but never rename): ``family``, ``parameters``, ``method``,
``rho`` [n], ``J``, ``h`` [n] (:math:`\rho^\top h = 0`), ``grad_mean`` [n][d] (:math:`\partial J/\partial m_s`),
``grad_cov`` [n][d][d] (symmetric :math:`G_s`, :math:`dJ = \sum_s \operatorname{tr}(G_s\,d\Sigma_s)`),
``grad_std`` [n] (d = 1, :math:`\partial J/\partial\sigma_s`), ``grad_norm2``
(:math:`g(\mathrm{grad}J,\mathrm{grad}J) = \sum_s\rho_s\mathbb E|\nabla_a Q|^2`), ``regularity``
(R1/R2 certificates), ``P`` [n][n] (the controlled chain), ``family_certificates`` (what holds for every policy: the structural
bounds and R3, :func:`otgeom.regularity.family_certificates`; when the kernel is certified not Lipschitz with
:math:`|\partial_ap| \sim |a-a_0|^{-\alpha}`, :math:`\alpha \ge 1/2`, d = 1, ``grad_norm2`` is null: it is
infinite), ``certificates`` (a list of
:class:`~otgeom.numeric.certificates.Certificate` dicts: name, assumption, holds, value, statement, scope, method,
witness -- classes, period, Dobrushin and Doeblin with their mixing bounds, spectral gap, min rho, the Poisson
system's condition number, R4 moments, the cost's local Lipschitz constant; :mod:`otgeom.regularity`), and for the
numeric path ``quadrature_order`` (the largest number of nodes on one axis of
one state's rule) and ``quadrature_error`` (the largest of the error bounds of rho, J/max(1,|J|), h/max(1,|h|)).

Accuracy (numeric path; added keys): ``error`` has one entry per output above (same shapes, and the
``--hessian`` matrices), an estimate of its absolute error: the two-rule quadrature difference (Kronrod against
the embedded Gauss rule, per axis) plus round-off and conditioning bounds (:mod:`otgeom.numeric.witness`);
``tolerance`` the target; ``error_kind`` is ``bound`` when the rule met its own target and can vouch that it sees
the family's features (every ``exp(quadratic)`` located, no narrow features in two directions), else
``estimate`` (then ``converged`` is false); ``converged`` is true when every bound is at most
``tolerance * max(1, |value|)``,
otherwise ``not_converged`` names the state and the quantity (and :func:`evaluate` raises
:class:`~otgeom.errors.NotConvergedError` carrying this JSON unless ``allow_unconverged``); ``quadrature``
describes the rule (panels per axis, nodes per state, function evaluations, feature hints used).  The symbolic
path reports ``converged: true`` (closed forms evaluated in float64).

``error_kind_hessian`` (with ``--hessian``, numeric path) is ``estimate`` whatever ``error_kind`` says: the
round-off part of the Hessian matrices' errors is a heuristic, and at sigma about 1e-12 it has been seen to miss
(``tests/test_report_records.py``).

With ``--hessian`` (finite families, d = 1, coordinates :math:`\theta = (m_0, \sigma_0, m_1, \sigma_1, \dots)`
listed in ``hessian_coordinates``): ``hessian_coords`` (:math:`\partial^2J/\partial\theta^2`), ``metric``
(:math:`G(\theta) = \mathrm{diag}(\rho_s, \rho_s)`), ``hessian_riemannian`` (the Levi-Civita Hessian of J
restricted to the Gaussian family, :math:`\partial^2J - \Gamma^k\partial_kJ`), and on the numeric path
``hessian_full`` (the full-space Levi-Civita Hessian on the same coordinate tangent vectors).  The numeric
path computes them from linear solves (A_local + A_transport and drho); the symbolic path differentiates
the closed-form J and G.

The numeric path evaluates the definitions (feature-resolving composite Gauss–Kronrod quadrature with
error bounds, GTH, linear solve, the policy-gradient formula); the symbolic path evaluates the closed
forms (tree theorem, closed-form expectations, direct differentiation of J(theta)).

For the ``lq`` family (policy ``{"K": [[..]], "Sigma": [[..]]}``) the keys are ``family``,
``parameters``, ``method``, ``X``, ``P``, ``J`` (with the entropy term when tau > 0), ``cost``
(without it), ``M``, ``E_K``, ``grad_K`` (:math:`\partial J/\partial K = 2E_KX`), ``grad_Sigma``
(symmetric :math:`\partial J/\partial\Sigma = M - \tfrac\tau2\Sigma^{-1}`), ``riemannian_grad_K``
(:math:`2E_K`), ``riemannian_grad_Sigma`` (the covariance velocity :math:`2(G\Sigma + \Sigma G)`),
``grad_norm2``, ``K_opt``, ``Sigma_opt``, ``J_opt``, ``hessian_opt_eigenvalues`` (Riemannian Hessian
at the optimum relative to the metric) and ``regularity`` (spectral radius of A - BK, Riccati residual).

For the grid families (kind ``grid``; policy ``{"mean": .., "std": ..}`` (numbers or one per state; or
``{"gain": k, "std": ..}`` on a 1-D grid for the mean -k x), a Gaussian law per state in closed form, or
``{"particles": [[..], ..]}`` (M per state), or ``{"mean": .., "std": .., "quantiles": M}``) the keys are
``family``, ``parameters``, ``method`` (``grid``), ``policy_kind`` (``gaussian`` / ``particles``), ``grid``
(the axes and ``n_states``), ``rho`` [N], ``J``, ``h`` [N], ``grad_norm2`` (:math:`g(\mathrm{grad}J,
\mathrm{grad}J)`), ``gradient`` (Gaussian: ``grad_mean`` [N] = :math:`\partial J/\partial m_i =
\rho_i\mathbb E[\partial_aQ]` and ``grad_std`` [N]; particles: ``grad_particles`` [N][M] =
:math:`\nabla_aQ` at each particle), ``regularity`` (irreducible, aperiodic, min_rho, argmin_rho, the solves'
residuals, ``truncation`` (mass moved by the kernel windows), ``boundary_mass``), ``error`` (an estimate of the
absolute error of J as the grid chain's, from the truncation and the residuals: the grid's own discretisation of
the continuous problem is not included; ``otgeom check`` measures that), ``error_kind`` (``estimate``),
``converged`` (false, with ``not_converged`` and exit status 3 on the command line, when ``error`` exceeds
``tolerance * max(1, |J|)``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from otgeom.errors import PolicyError
from otgeom.families import Family
from otgeom.numeric.lq import LQPolicy, gaussian_entropy
from otgeom.numeric.witness import DEFAULT_TOLERANCE, unmet, gaussian_chain, gradient_with_bounds, two_rule
from otgeom.numeric.policies import GaussianPolicy, sum_roundoff
from otgeom.numeric.stationary import regularity

__all__ = ["evaluate", "policy_from_json", "lq_policy_from_json", "grid_policy_from_json", "hessian_coordinates"]


def policy_from_json(data: Any, family: Family) -> GaussianPolicy:
    """Parse ``{"mean": [[..]..], "cov": [[[..]]..]}`` or (d = 1) ``{"mean": [..], "std": [..]}``.

    Every entry must be a number (not a boolean) within the magnitudes of :mod:`otgeom.limits`; the
    error names the key and the index.
    """
    from otgeom.limits import excerpt, float_array

    if isinstance(data, dict) and "otgeom_result" in data:  # a saved result (otgeom.results): its policy
        saved = data.get("family")
        name = saved.get("name") if isinstance(saved, dict) else None
        if name is not None and name != family.name:
            raise PolicyError(f"policy file: a saved result for the family {excerpt(name)}, not {family.name}")
        inner = data.get("data")
        if not isinstance(inner, dict):
            raise PolicyError('policy file: a saved result whose "data" is not an object with mean and cov')
        data = {k: v for k, v in inner.items() if k in ("mean", "cov", "std")}
    if not isinstance(data, dict) or "mean" not in data or ("cov" not in data and "std" not in data):
        raise PolicyError('policy file must be a JSON object with "mean" and "cov" (or, for d = 1, "std")')
    unknown = sorted(set(data) - {"mean", "cov", "std"})
    if unknown:
        raise PolicyError(f"policy file has unknown key(s) {', '.join(map(excerpt, unknown[:3]))}; "
                          "expected mean and cov or std")
    if "cov" in data and "std" in data:
        raise PolicyError('policy file has both "cov" and "std"; give one of them')
    n, d = family.n_states, family.action_dim
    mean = float_array(data["mean"], "policy mean", PolicyError)
    if "std" in data:
        if d != 1:
            raise PolicyError(f'"std" is only for d = 1; {family.label} has d = {d}: give "cov"')
        std = float_array(data["std"], "policy std", PolicyError)
        if mean.ndim > 1 or std.ndim > 1:
            raise PolicyError(f"policy: with \"std\", mean and std are lists of {n} numbers (one per state)")
        tiny = np.flatnonzero((std != 0) & (std * std == 0)).tolist()
        if tiny:
            raise PolicyError(f"policy std[{tiny[0]}] = {std[tiny[0]]:g}: its square, the variance, underflows to 0 "
                              "in float64")
        pol = GaussianPolicy.from_std(mean, std)
    else:
        if d == 1 and mean.ndim == 1:
            mean = mean[:, None]
        cov = float_array(data["cov"], "policy cov", PolicyError)
        if d == 1 and cov.ndim == 1:
            cov = cov[:, None, None]
        pol = GaussianPolicy(mean, cov)
    if pol.n_states != n or pol.action_dim != d:
        raise PolicyError(f"policy has {pol.n_states} states and d = {pol.action_dim}; "
                          f"{family.label} needs {n} states and d = {d}")
    return pol


def _numeric(family: Family, policy: GaussianPolicy, tolerance: float, hessian: bool) -> tuple[dict, list[str]]:
    prims = family.primitives()
    w = gaussian_chain(prims, policy, tol=tolerance, owner=family.label)
    vals, errs = gradient_with_bounds(prims, w, policy)
    values = {"rho": w.sol.rho, "J": w.sol.J, "h": w.sol.h, **vals}
    extra = {"P": w.sol.P}
    error = {"rho": w.error["rho"], "J": w.error["J"], "h": w.error["h"], **errs}
    if hessian:
        hv, he = _hessian_numeric(prims, w, policy)
        values.update(hv)
        error.update(he)
    reasons = [w.reason] if w.reason else []
    rest = [k for k in values if k not in ("rho", "J", "h")]
    reasons += unmet(family.label, {k: values[k] for k in rest if k not in _HESSIAN_KEYS}, error, tolerance)
    reasons += unmet(family.label, {k: values[k] for k in rest if k in _HESSIAN_KEYS}, error, tolerance,
                      per_state=False)
    rule = w.rule
    out = {**values, **extra, "regularity": w.sol.regularity.to_dict(), "quadrature_order": w.nodes_per_axis,
           "quadrature_error": w.scaled_error, "error": _jsonify(error), "tolerance": tolerance,
           "converged": not reasons, "not_converged": "; ".join(reasons) or None,
           # "bound" when the rule met its own target and can vouch that it sees the family's features; otherwise the
           # error entries are the best estimates otgeom has, not bounds (a feature no node saw is in none of them)
           "error_kind": "bound" if rule.converged and rule.verified else "estimate",
           **({"error_kind_hessian": "estimate"} if hessian else {}),
           "quadrature": {"rule": "composite Gauss-Kronrod 21 (value) / Gauss 10 (error) per axis, on panels at the "
                                  "family's exp-of-quadratic features, adaptively bisected",
                          "verified": rule.verified,
                          "unverified": "; ".join(st.unverified for st in rule.states if st.unverified) or None,
                          "panels_per_axis": rule.panels_per_axis, "nodes_per_state": rule.nodes_per_state,
                          "evaluations": rule.evaluations, "rule_converged": rule.converged,
                          "features": [len(f) for f in (prims.features or [[]] * family.n_states)]}}
    return out, reasons


def _symbolic(family: Family, policy: GaussianPolicy) -> dict[str, Any]:
    from otgeom.symbolic.geometry import first_order

    D = first_order(family)
    args = [float(v) for v in family.parameter_values()] + list(policy.coordinates())
    v = D.evaluator(["P", "rho", "J", "h", "dJ_dtheta", "grad_norm2"])(*args)
    P = np.array(v["P"], float)
    rho = np.array(v["rho"], float)
    reg = regularity(P, rho)
    if not reg.irreducible:
        from otgeom.numeric.chain import check_classes

        check_classes(reg.closed_classes, family.n_states, family.label)  # R1 (classes) or R2 (transient states)
    n, d = family.n_states, family.action_dim
    k = d + d * (d + 1) // 2
    dJ = np.array(v["dJ_dtheta"], float).reshape(n, k)
    grad_mean = dJ[:, :d]
    grad_cov = np.empty((n, d, d))
    out: dict[str, Any] = {}
    if d == 1:
        out["grad_std"] = dJ[:, 1]
        grad_cov[:, 0, 0] = dJ[:, 1] / (2 * policy.std)
    else:
        iu = np.triu_indices(d)
        for s in range(n):
            G = np.zeros((d, d))
            G[iu] = dJ[s, d:]
            grad_cov[s] = np.where(np.eye(d, dtype=bool), G, 0.5 * (G + G.T))
    return {"rho": rho, "J": float(v["J"]), "h": np.array(v["h"], float), "P": P, "grad_mean": grad_mean,
            "grad_cov": grad_cov, **out, "grad_norm2": float(v["grad_norm2"]), "regularity": reg.to_dict()}


def lq_policy_from_json(data: Any, family) -> LQPolicy:
    """Parse ``{"K": [[..]], "Sigma": [[..]]}`` (Sigma may be omitted when tau = 0: deterministic policy).

    Entries as in :func:`policy_from_json`; K must be m x n and Sigma m x m for the family's n and m.
    """
    from otgeom.limits import excerpt, float_array

    if not isinstance(data, dict) or "K" not in data:
        raise PolicyError('LQ policy file must be a JSON object with "K" (m x n) and "Sigma" (m x m)')
    unknown = sorted(set(data) - {"K", "Sigma"})
    if unknown:
        raise PolicyError(f"LQ policy file has unknown key(s) {', '.join(map(excerpt, unknown[:3]))}; "
                          "expected K and Sigma")
    K = float_array(data["K"], "policy K", PolicyError)
    K = np.atleast_2d(K)  # a number or one row: 1 x n
    if K.shape != (family.m, family.n):
        raise PolicyError(f"policy K has shape {list(K.shape)}; {family.label} needs m x n = {family.m} x {family.n}")
    if "Sigma" not in data:
        if family.tau > 0:
            raise PolicyError(f'LQ policy file: "Sigma" is required when tau = {family.tau:g} > 0')
        return LQPolicy.deterministic(K)
    Sigma = float_array(data["Sigma"], "policy Sigma", PolicyError)
    Sigma = np.atleast_2d(Sigma)
    if Sigma.shape != (family.m, family.m):
        raise PolicyError(f"policy Sigma has shape {list(Sigma.shape)}; {family.label} needs m x m = "
                          f"{family.m} x {family.m}")
    return LQPolicy(K, Sigma)


def grid_policy_from_json(data: Any, family) -> Any:
    """Parse a grid family's policy (see the module docstring): a ``("gaussian", mean, std)`` triple or a
    :class:`~otgeom.numeric.policies.ParticlePolicy`."""
    from otgeom.limits import excerpt, float_array
    from otgeom.numeric.policies import ParticlePolicy, QuantilePolicy

    N = family.n_states
    keys = {"mean", "std", "gain", "particles", "quantiles"}
    if not isinstance(data, dict) or not data.keys() & keys:
        raise PolicyError(f'{family.label}: a grid policy file is a JSON object with "mean" and "std" (a Gaussian '
                          f'law per state), "gain" and "std" (1-D: mean -gain x), or "particles" ({N} rows of M '
                          'actions)')
    unknown = sorted(set(data) - keys)
    if unknown:
        raise PolicyError(f"{family.label}: grid policy file has unknown key(s) {', '.join(map(excerpt, unknown[:3]))}"
                          f"; expected {', '.join(sorted(keys))}")
    if "particles" in data:
        if data.keys() - {"particles"}:
            raise PolicyError(f'{family.label}: "particles" is a policy on its own; drop '
                              f"{', '.join(sorted(data.keys() - {'particles'}))}")
        A = float_array(data["particles"], "policy particles", PolicyError)
        if A.ndim != 2 or A.shape[0] != N or A.shape[1] < 1:
            raise PolicyError(f"{family.label}: policy particles have shape {list(A.shape)}; expected [{N}, M] "
                              f"(one row of M >= 1 actions per grid state)")
        return ParticlePolicy(A[:, :, None])

    def per_state(key: str) -> np.ndarray:
        v = float_array(data[key], f"policy {key}", PolicyError)
        if v.ndim == 0:
            return np.full(N, float(v))
        if v.shape != (N,):
            raise PolicyError(f"{family.label}: policy {key} has shape {list(v.shape)}; expected a number or {N} "
                              "numbers (one per grid state)")
        return v

    if "gain" in data:
        if "mean" in data:
            raise PolicyError(f'{family.label}: give "mean" or "gain", not both')
        if len(family.axes) != 1:
            raise PolicyError(f'{family.label}: "gain" (mean -gain x) needs a 1-D grid; give "mean" per state')
        gain = float_array(data["gain"], "policy gain", PolicyError)
        if gain.ndim != 0:
            raise PolicyError(f'{family.label}: policy "gain" must be one number (the mean is -gain x), got shape '
                              f"{list(gain.shape)}")
        mean = -float(gain) * family.points[:, 0]
    elif "mean" in data:
        mean = per_state("mean")
    else:
        raise PolicyError(f'{family.label}: the policy needs "mean" (or "gain") with "std"')
    if "std" not in data:
        raise PolicyError(f'{family.label}: the policy needs "std" (0 for a deterministic policy)')
    std = per_state("std")
    bad = np.flatnonzero(std < 0)
    if bad.size:
        raise PolicyError(f"{family.label}: policy std of state {bad[0]} is {std[bad[0]]:g}; it must be >= 0")
    if "quantiles" in data:
        M = data["quantiles"]
        if isinstance(M, bool) or not isinstance(M, int) or not 1 <= M <= 4096:
            raise PolicyError(f"{family.label}: policy quantiles = {excerpt(M)} must be an integer in 1..4096")
        return QuantilePolicy.from_mean_std(mean, std, M)  # a state with std 0 has all M at its mean
    return ("gaussian", mean, std)


def _grid(family, policy) -> dict[str, Any]:
    from otgeom.numeric.grid import action_gradient, gaussian_grid_chain, grid_chain

    out: dict[str, Any] = {"grid": {"n_states": family.n_states, "axes": [ax.to_json() for ax in family.axes]}}
    if isinstance(policy, tuple):
        _, mean, std = policy
        ch, E1, E2 = gaussian_grid_chain(family, mean, std)
        out.update(policy_kind="gaussian", grad_mean=ch.rho * E1, grad_std=ch.rho * std * E2,
                   grad_norm2=float(np.sum(ch.rho * (E1 ** 2 + (std * E2) ** 2))))
    else:
        ch = grid_chain(family, policy)
        g, _ = action_gradient(family, ch)
        G = g.reshape(family.n_states, -1)
        out.update(policy_kind="particles", grad_particles=G,
                   grad_norm2=float(np.sum(ch.rho[:, None] * policy.weights * G * G)))
    cert = ch.certificates
    scale = float(np.abs(ch.r).max() + 2 * np.abs(ch.h).max())
    error = cert["truncation"] * scale + cert["residual_h"] + cert["residual_rho"] * float(np.abs(ch.r).max())
    out.update(rho=ch.rho, J=ch.J, h=ch.h, regularity=cert, error=error, error_kind="estimate", converged=True)
    return out


def _lq(family, policy: LQPolicy, symbolic: bool) -> dict[str, Any]:
    from otgeom.numeric.lq import hessian_spectrum_at_optimum, lq_optimum, lq_point

    pt = lq_point(family, policy)
    opt = lq_optimum(family)
    out = {"X": pt.X, "P": pt.P, "J": pt.J, "cost": pt.cost, "M": pt.M, "E_K": pt.E, "grad_K": pt.grad_K,
           "grad_Sigma": pt.grad_Sigma, "riemannian_grad_K": pt.riemannian_grad_K,
           "riemannian_grad_Sigma": pt.riemannian_grad_Sigma, "grad_norm2": pt.grad_norm2, "K_opt": opt.K,
           "Sigma_opt": opt.Sigma, "J_opt": opt.J,
           "hessian_opt_eigenvalues": {k: v.tolist() for k, v in hessian_spectrum_at_optimum(family, opt).items()},
           "regularity": {"spectral_radius": pt.spectral_radius, "stable": True,
                          "min_eig_X": float(np.linalg.eigvalsh(pt.X).min()),
                          "riccati_residual": opt.riccati_residual,
                          "optimum_spectral_radius": opt.spectral_radius}}
    if symbolic:
        out.update(_lq_symbolic(family, policy))
    return out


def _lq_symbolic(family, policy: LQPolicy) -> dict[str, Any]:
    """The scalar closed forms (sympy, derived from the definitions) evaluated at the exact parameters."""
    import sympy as sp

    from otgeom.errors import ParameterError
    from otgeom.symbolic.lq import SYMBOLS, scalar_lq

    if family.n != 1 or family.m != 1:
        raise ParameterError(f"{family.label}: --symbolic is available for the scalar LQ family only "
                             f"(n = m = 1); this one has n = {family.n}, m = {family.m}")
    D = scalar_lq()
    ex = family.exact
    vals = {SYMBOLS["A"]: ex["A"][0, 0], SYMBOLS["B"]: ex["B"][0, 0], SYMBOLS["Qc"]: ex["Qc"][0, 0],
            SYMBOLS["R"]: ex["R"][0, 0], SYMBOLS["W"]: ex["W"][0, 0], SYMBOLS["tau"]: ex["tau"],
            SYMBOLS["K"]: sp.Rational(float(policy.K[0, 0]))}
    s = float(policy.Sigma[0, 0])
    num = lambda e: float(sp.N(e.subs(vals), 30))  # noqa: E731
    X = num(D.outputs["X"].subs(SYMBOLS["Sigma"], sp.Rational(s)))
    P = num(D.outputs["P"])
    cost = num(D.outputs["J_cost"].subs(SYMBOLS["Sigma"], sp.Rational(s)))
    J = cost - family.tau * gaussian_entropy(policy.Sigma) if family.tau > 0 else cost
    dK = num(D.outputs["dJ_dK"].subs(SYMBOLS["Sigma"], sp.Rational(s)))
    Kopt = num(D.outputs["K_opt"])
    Sopt = num(D.outputs["Sigma_opt"])
    Jopt = num(D.outputs["J_cost"].subs({SYMBOLS["K"]: D.outputs["K_opt"], SYMBOLS["Sigma"]: D.outputs["Sigma_opt"]}))
    if family.tau > 0:
        Jopt -= family.tau * gaussian_entropy(np.array([[Sopt]]))
    M = float(family.R[0, 0] + family.B[0, 0] ** 2 * P)
    gS = num(D.outputs["dJ_dSigma"].subs(SYMBOLS["Sigma"], sp.Rational(s))) if s > 0 else M
    return {"method": "symbolic", "X": [[X]], "P": [[P]], "J": J, "cost": cost, "grad_K": [[dK]],
            "grad_Sigma": [[gS]], "riemannian_grad_K": [[dK / X]], "K_opt": [[Kopt]], "Sigma_opt": [[Sopt]],
            "J_opt": Jopt}


_HESSIAN_KEYS = ("hessian_coords", "metric", "hessian_riemannian", "hessian_full")


def _hessian_numeric(prims, w, policy: GaussianPolicy) -> tuple[dict, dict]:
    """The --hessian matrices on the witness's rule, with two-rule quadrature errors plus a round-off term
    gamma_N (1 + cond(I - P + 1 rho^T)) max|H|, gamma_N the pairwise-sum round-off (a heuristic for these nonlinear
    outputs, stated as such)."""
    from otgeom.numeric.second_order import gaussian_second_order

    prims = w.prims

    def fn(wp, sol):
        so = gaussian_second_order(prims, policy, wp=wp)
        return {k: getattr(so, k) for k in _HESSIAN_KEYS}

    vals, quad = two_rule(w, fn)
    N = w.wp.points.shape[1]
    Z = w.rounding_error["Z"]
    cond = float(np.abs(Z).sum(axis=1).max() * (2 + np.abs(w.sol.rho).max()))
    err = {k: quad[k] + sum_roundoff(N) * (1 + cond) * np.abs(vals[k]).max() for k in vals}
    return vals, err


def _hessian_symbolic(family: Family, policy: GaussianPolicy) -> dict[str, Any]:
    from otgeom.symbolic.second_order import second_order

    D = second_order(family)
    args = [float(v) for v in family.parameter_values()] + list(policy.coordinates()) + [0.0] * (2 * family.n_states)
    v = D.evaluator(["hessian_coords", "metric", "hessian_riemannian"])(*args)
    return {k: np.array(v[k], float) for k in ("hessian_coords", "metric", "hessian_riemannian")}


def hessian_coordinates(family: Family) -> list[str]:
    """Names of the coordinates of the ``--hessian`` matrices: m_0, sigma_0, m_1, sigma_1, ..."""
    return [f"{x}_{s}" for s in range(family.n_states) for x in ("m", "sigma")]


def evaluate(family, policy, symbolic: bool = False, hessian: bool = False, tolerance: float = DEFAULT_TOLERANCE,
             allow_unconverged: bool = False) -> dict[str, Any]:
    """All first-order numbers of ``family`` at ``policy`` as JSON-ready data (see module docstring).

    ``hessian=True`` (finite families, d = 1) adds ``hessian_coords``, ``metric``, ``hessian_riemannian``
    (and on the numeric path ``hessian_full``) in the coordinates ``hessian_coordinates``.  On the numeric path,
    when an error bound exceeds ``tolerance * max(1, |value|)``, raises :class:`~otgeom.errors.NotConvergedError`
    whose ``result`` is this JSON (with ``converged: false``), unless ``allow_unconverged``.
    """
    from otgeom.errors import NotConvergedError, ParameterError

    if not (isinstance(tolerance, (int, float)) and np.isfinite(tolerance) and tolerance > 0):
        raise ParameterError(f"tolerance = {tolerance!r} must be a positive number")
    from otgeom.families.protocol import supports

    can = supports(family)  # the family declares its evaluation route (otgeom.families.protocol)
    if can.evaluation == "sparse-grid":
        if hessian or symbolic:
            raise ParameterError(f"{family.label}: --{'hessian' if hessian else 'symbolic'} is for finite families "
                                 "with symbolic primitives; a grid family is evaluated on its sparse chain (otgeom "
                                 "check runs its claims)")
        out = {"family": family.label, "parameters": family.parameters_json(), "method": "grid"}
        out.update(_jsonify(_grid(family, policy)))
        out["tolerance"] = float(tolerance)
        target = float(tolerance) * max(1.0, abs(out["J"]))
        if out["error"] > target:
            reason = (f"{family.label}: the grid chain's error estimate for J, {out['error']:.3g}, exceeds "
                      f"tolerance * max(1, |J|) = {target:.3g} (the solves' residuals and the kernel windows' "
                      "truncation; a coarser --tolerance or a better conditioned grid)")
            out["converged"] = False
            out["not_converged"] = [reason]
            json.dumps(out)
            if not allow_unconverged:
                raise NotConvergedError(reason, out)
        json.dumps(out)
        return out
    if hessian and not can.second_order:
        what = "the lq family (its Hessians are in K, Sigma: see hessian_opt_eigenvalues)" \
            if can.kind == "lq" else f"d = {family.action_dim}"
        raise ParameterError(f"{family.label}: --hessian is defined for finite families with d = 1 in the "
                             f"coordinates (m_0, sigma_0, m_1, sigma_1, ...), not for {what}")
    if can.evaluation == "lyapunov":
        body = _lq(family, policy, symbolic)
        method = body.pop("method", "numeric")
        out = {"family": family.label, "parameters": family.parameters_json(), "method": method}
        out.update(_jsonify(body))
        json.dumps(out)
        return out
    reasons: list[str] = []
    if symbolic:
        body = _symbolic(family, policy)
        if hessian:
            body.update(_hessian_symbolic(family, policy))
        body["converged"] = True
    else:
        body, reasons = _numeric(family, policy, float(tolerance), hessian)
    from otgeom.regularity import family_certificates, policy_certificates

    body["certificates"] = policy_certificates(family, policy, np.asarray(body["P"], float),
                                               np.asarray(body["rho"], float)).to_list()
    fam_certs = family_certificates(family)
    body["family_certificates"] = fam_certs.to_list()
    lip = fam_certs.get("kernel-lipschitz")
    if lip is not None and lip.holds is False and family.action_dim == 1:
        alpha = max((x["growth"] for x in lip.witness["per_state"] if x["bounded"] is False), default=0.0)
        if alpha >= 0.5:  # |d_a p| ~ |a - a0|^-alpha: E|d_a Q|^2 diverges against any density positive at a0
            body["grad_norm2"] = None
            why = (f"{family.label}: g(grad J, grad J) is infinite: {lip.statement}; with |d_a p| ~ |a - a0|^-"
                   f"{alpha:.2g} (>= 1/2) the square of grad_a Q is not integrable against a Gaussian policy")
            reasons = [why, *reasons]
            body["converged"] = False
            body["not_converged"] = "; ".join(reasons)
    if hessian:
        body["hessian_coordinates"] = hessian_coordinates(family)
    out = {"family": family.label, "parameters": family.parameters_json(),
           "method": "symbolic" if symbolic else "numeric"}
    out.update(_jsonify(body))
    json.dumps(out)  # contract: everything is JSON
    if reasons and not allow_unconverged:
        more = f" (and {len(reasons) - 1} more: see not_converged in the JSON)" if len(reasons) > 1 else ""
        raise NotConvergedError(reasons[0] + more, out)
    return out


def _jsonify(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v.tolist() if isinstance(v, np.ndarray) else (_jsonify(v) if isinstance(v, dict) else v)
            for k, v in body.items()}
