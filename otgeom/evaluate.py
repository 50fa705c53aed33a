r"""The numbers at one point: chain, gradient and certificates for a Gaussian policy (``otgeom eval``).

Keys (a stable contract, extend but never rename): ``family``, ``parameters``, ``method``,
``rho`` [n], ``J``, ``h`` [n] (:math:`\rho^\top h = 0`), ``grad_mean`` [n][d] (:math:`\partial J/\partial m_s`),
``grad_cov`` [n][d][d] (symmetric :math:`G_s`, :math:`dJ = \sum_s \operatorname{tr}(G_s\,d\Sigma_s)`),
``grad_std`` [n] (d = 1, :math:`\partial J/\partial\sigma_s`), ``grad_norm2``
(:math:`g(\mathrm{grad}J,\mathrm{grad}J) = \sum_s\rho_s\mathbb E|\nabla_a Q|^2`), ``regularity``
(R1/R2 certificates), and for the numeric path ``quadrature_order``, ``quadrature_error``.

The numeric path evaluates the definitions (Gauss–Hermite quadrature with order doubling,
GTH, linear solve, the policy-gradient formula); the symbolic path evaluates the closed
forms (tree theorem, closed-form expectations, direct differentiation of J(theta)).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from otgeom.errors import PolicyError
from otgeom.families import Family
from otgeom.numeric.chain import evaluate_gaussian_chain
from otgeom.numeric.geometry import gaussian_gradient
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.stationary import regularity

__all__ = ["evaluate", "policy_from_json"]


def policy_from_json(data: Any, family: Family) -> GaussianPolicy:
    """Parse ``{"mean": [[..]..], "cov": [[[..]]..]}`` or (d = 1) ``{"mean": [..], "std": [..]}``."""
    if not isinstance(data, dict) or "mean" not in data or ("cov" not in data and "std" not in data):
        raise PolicyError('policy file must be a JSON object with "mean" and "cov" (or, for d = 1, "std")')
    unknown = sorted(set(data) - {"mean", "cov", "std"})
    if unknown:
        raise PolicyError(f"policy file has unknown key(s) {', '.join(unknown)}; expected mean and cov or std")
    n, d = family.n_states, family.action_dim
    try:
        if "std" in data:
            if d != 1:
                raise PolicyError(f'"std" is only for d = 1; {family.label} has d = {d}: give "cov"')
            pol = GaussianPolicy.from_std(np.asarray(data["mean"], float), np.asarray(data["std"], float))
        else:
            mean = np.asarray(data["mean"], float)
            if d == 1 and mean.ndim == 1:
                mean = mean[:, None]
            cov = np.asarray(data["cov"], float)
            if d == 1 and cov.ndim == 1:
                cov = cov[:, None, None]
            pol = GaussianPolicy(mean, cov)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"policy file: mean/cov/std must be nested lists of numbers ({exc})") from None
    if pol.n_states != n or pol.action_dim != d:
        raise PolicyError(f"policy has {pol.n_states} states and d = {pol.action_dim}; "
                          f"{family.label} needs {n} states and d = {d}")
    return pol


def _numeric(family: Family, policy: GaussianPolicy, target: float = 1e-12) -> dict[str, Any]:
    prims = family.primitives()
    sol, wp, order, qerr = evaluate_gaussian_chain(prims, policy, 40, target, family.label)
    out = {"rho": sol.rho, "J": sol.J, "h": sol.h, **gaussian_gradient(prims, sol, policy, wp),
           "regularity": sol.regularity.to_dict(), "quadrature_order": order, "quadrature_error": qerr}
    return out


def _symbolic(family: Family, policy: GaussianPolicy) -> dict[str, Any]:
    from otgeom.errors import RegularityError
    from otgeom.symbolic.geometry import first_order

    D = first_order(family)
    args = [float(v) for v in family.parameter_values()] + list(policy.coordinates())
    v = D.evaluator(["P", "rho", "J", "h", "dJ_dtheta", "grad_norm2"])(*args)
    P = np.array(v["P"], float)
    rho = np.array(v["rho"], float)
    reg = regularity(P, rho)
    if not reg.irreducible:
        raise RegularityError(f"{family.label}: the controlled chain is reducible (R1 fails): closed classes "
                              f"{reg.closed_classes}", {"closed_classes": reg.closed_classes})
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
    return {"rho": rho, "J": float(v["J"]), "h": np.array(v["h"], float), "grad_mean": grad_mean,
            "grad_cov": grad_cov, **out, "grad_norm2": float(v["grad_norm2"]), "regularity": reg.to_dict()}


def evaluate(family: Family, policy: GaussianPolicy, symbolic: bool = False) -> dict[str, Any]:
    """All first-order numbers of ``family`` at ``policy`` as JSON-ready data (see module docstring)."""
    body = _symbolic(family, policy) if symbolic else _numeric(family, policy)
    out = {"family": family.label, "parameters": family.parameters_json(),
           "method": "symbolic" if symbolic else "numeric"}
    for key, val in body.items():
        out[key] = val.tolist() if isinstance(val, np.ndarray) else val
    json.dumps(out)  # contract: everything is JSON
    return out
