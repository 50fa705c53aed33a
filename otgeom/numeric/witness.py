r"""The numeric witness with error bounds that travel with the numbers.

:func:`gaussian_chain` evaluates the chain of a Gaussian policy from the definitions on a feature-resolving
rule (:mod:`otgeom.numeric.quadrature`) and attaches to :math:`\rho`, J and h an estimate of their absolute
error made of two parts:

* **quadrature**: the outputs are computed with the Kronrod tensor rule and, for each axis, with that axis
  integrated by the embedded Gauss rule (same nodes, different weights); the sum over axes of the
  differences is one part.  It covers every output computed downstream the same way
  (:func:`two_rule`), including nonlinear ones (:math:`g(\mathrm{grad}J,\mathrm{grad}J)`, Hessians).  The other
  part is the rule's per-panel absolute error estimate of each integrated primitive (P, r, the derivatives of c
  and p; the tail included), propagated through the perturbation bounds below, where errors of opposite sign
  in different panels cannot cancel.
* **round-off and conditioning** (:func:`chain_rounding_bounds`), first-order perturbation bounds with
  :math:`Z = (I - P + \mathbf 1\rho^\top)^{-1}` and the group inverse :math:`Z^\# = Z - \mathbf 1\rho^\top`:

  .. math::
      |\delta\rho|^\top \le \min\big(\rho^\top|\delta P|\,|Z^\#|,\ \rho^\top((1+\delta_{rel})^{2n}-1)\big)
      + 4n^2\epsilon\rho^\top,\qquad
      |\delta J| \le |\delta\rho|^\top|r - J| + \rho^\top\delta r + (n+2)\epsilon\rho^\top|r|,

      |\delta h| \le |Z|\big(\delta r + \delta J + \epsilon(|r| + |J|) + (|\delta P| + \mathbf 1|\delta\rho|^\top)|h|\big)
      + (n+2)\epsilon|Z|\big(|A||h| + |r - J|\big),

  where :math:`\delta P, \delta r` bound the round-off of the quadrature sums (pairwise summation,
  :math:`(24 + \log_2 N)\epsilon\,\mathbb E|f|`),
  plus that of evaluating p and c at the nodes, :math:`\epsilon\,\mathbb E[E_f]` with the running error
  coefficient :math:`E_f` of :mod:`otgeom.families.rounding` (so :math:`1-\phi` is accurate to
  :math:`\epsilon` absolutely, a tiny :math:`(1-\phi)M_{st}` relatively), and :math:`\delta_{rel}` is the largest relative error of an
  off-diagonal transition probability (O'Cinneide's entrywise bound for GTH: relative perturbations of P move
  each :math:`\rho_i` relatively by at most :math:`(1+\delta_{rel})^{2n} - 1`).  A large common cost offset
  shows up in :math:`\epsilon|r|`; a nearly reducible chain in :math:`|Z|`.

The first-order bounds are multiplied by :math:`1/(1-\kappa)`, :math:`\kappa = \||Z|(|\delta P| + \mathbf 1
|\delta\rho|^\top)\|_\infty`, and refused when :math:`\kappa \ge 1/2`; the rounding of the nodes a = m + LUy
themselves enters :math:`\delta P, \delta r` as :math:`\mathbb E[|\nabla f|\,|\delta a|]`.

``converged`` is true when the rule met its own target, can vouch that it sees the family's features
(``GaussianRule.verified``) and every bound is at most ``tol * max(1, |value|)``; otherwise ``reason`` names the
state and the quantity (or the factor that cannot be located).  Callers decide: ``otgeom eval`` exits with
status 3, claims say ``inconclusive``.  The bounds are estimates with worst-case constants, not proofs: they
presume that the rule resolves what it was told about, which is why an unverified rule is never converged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.linalg import inv

from otgeom.errors import NotConvergedError
from otgeom.numeric.chain import ChainSolution, action_value_grad, action_value_hess, evaluate_chain
from otgeom.numeric.policies import GaussianPolicy, WeightedPoints, sum_roundoff
from otgeom.numeric.quadrature import PANEL_NODES, CachedPrimitives, GaussianRule, adapt_gaussian_rule, component_layout

__all__ = ["GaussianChainWitness", "gaussian_chain", "gaussian_points", "two_rule", "chain_rounding_bounds",
           "gradient_with_bounds", "DEFAULT_TOLERANCE", "unmet", "rule_tolerance"]

EPS = float(np.finfo(float).eps)
#: default target of ``otgeom eval``: every output's bound <= tol * max(1, |value|)
DEFAULT_TOLERANCE = 1e-10


@dataclass(frozen=True)
class GaussianChainWitness:
    """The chain at a Gaussian policy with error bounds.

    prims : the family's primitives, memoised on the rule's points (use them for further outputs); sol : ChainSolution
    on the Kronrod rule; wp : its weighted points; rule : the adapted
    :class:`~otgeom.numeric.quadrature.GaussianRule`; variant_wps / variant_sols : the Gauss-on-one-axis rules
    and their chains; error : ``{"rho", "J", "h"}`` total bounds; quadrature_error / rounding_error : the two parts;
    converged, reason, tolerance.
    """

    prims: CachedPrimitives
    sol: ChainSolution
    wp: WeightedPoints
    rule: GaussianRule
    variant_wps: tuple
    variant_sols: tuple
    error: dict
    quadrature_error: dict
    rounding_error: dict
    converged: bool
    reason: str
    tolerance: float

    @property
    def nodes_per_axis(self) -> int:
        """Largest number of nodes on one axis of one state (reported as ``quadrature_order``)."""
        return int(max(PANEL_NODES * p for axes in self.rule.panels_per_axis for p in axes))

    @property
    def scaled_error(self) -> float:
        """The old ``quadrature_error`` meaning: max of the rho, J/max(1,|J|), h/max(1,|h|) error estimates."""
        e = self.error
        return float(max(np.max(e["rho"]), e["J"] / max(1.0, abs(self.sol.J)),
                         np.max(e["h"]) / max(1.0, float(np.abs(self.sol.h).max()))))


def two_rule(witness: GaussianChainWitness, fn: Callable[[WeightedPoints, ChainSolution], dict]) -> tuple[dict, dict]:
    """``fn(wp, sol) -> {name: array}`` on the Kronrod rule and on every Gauss variant.

    Returns (values, quadrature error estimates = sum over variants of |value - variant value|).
    """
    return _spread(fn, (witness.wp, witness.sol), zip(witness.variant_wps, witness.variant_sols))


def _spread(fn, base: tuple, variants) -> tuple[dict, dict]:
    """``fn`` at the base (points, chain) and the sum over the variants of |fn(variant) - fn(base)|."""
    vals = {k: np.asarray(v, float) for k, v in fn(*base).items()}
    err = {k: np.zeros_like(v) for k, v in vals.items()}
    for wp, sol in variants:
        other = fn(wp, sol)
        for k in vals:
            err[k] = err[k] + np.abs(np.asarray(other[k], float) - vals[k])
    return vals, err


def _sum_roundoff(wp: WeightedPoints) -> float:
    """Relative round-off bound of a weighted (pairwise) sum over one state's points (:func:`sum_roundoff`)."""
    return sum_roundoff(wp.points.shape[1])


def _expect_error(prims, which: str, wp: WeightedPoints, s: int) -> np.ndarray:
    """2u E_w[E_f]: the evaluation round-off of ``which`` averaged by the rule (running error coefficient E_f, see
    :mod:`otgeom.families.rounding`; the unit eps = 2u leaves a factor 2 for library functions such as numpy's exp
    that round to within 2 ulp rather than 1)."""
    return EPS * np.tensordot(wp.weights[s], prims.eval_error(which, s, wp.points[s]), axes=(0, 0))


def _node_error(prims, which: str, wp: WeightedPoints, s: int, mean: np.ndarray) -> np.ndarray:
    """Effect of the rounding of the nodes themselves, a = m + L U y computed with |da_i| <= eps (|m_i| + d |a_i - m_i|):
    E_w[|grad f| |da|], with ``which`` the derivative of f (``kernel_grad`` for p, ``cost_hess`` for grad c, ...)."""
    A = wp.points[s]
    d = A.shape[1]
    da = EPS * (np.abs(mean[s])[None, :] + d * np.abs(A - mean[s][None, :]))  # [N, d]
    D = np.abs(getattr(prims, which)(s, A))  # [N, ..., d]
    return np.tensordot(wp.weights[s], np.einsum("n...i,ni->n...", D, da), axes=(0, 0))


def _component_errors(rule: GaussianRule, n: int, d: int) -> dict[str, np.ndarray]:
    """The rule's per-panel absolute error estimates of the integrated primitives, by name and state:
    c [n], p [n, n], gc [n, d], gp [n, n, d], hc [n, d, d], hp [n, n, d, d] (zeros where not recorded)."""
    sizes = {k: sh for k, _, sh in component_layout(n, d)}
    out = {k: np.zeros((n,) + sh) for k, sh in sizes.items()}
    for s, st in enumerate(rule.states):
        e, i = np.asarray(st.error, float), 0
        for k, sh in sizes.items():
            size = int(np.prod(sh))
            if e.size >= i + size:
                out[k][s] = e[i:i + size].reshape(sh)
            i += size
    return out


def _propagate(sol: ChainSolution, Z: np.ndarray, dP: np.ndarray, dr: np.ndarray) -> tuple:
    """First-order bounds on (rho, J, h) from entrywise input bounds dP, dr, scaled by 1/(1 - kappa) with
    kappa = || |Z| (|dP| + 1 |drho|^T) ||_inf (the first-order terms dominate when kappa < 1/2; else inf)."""
    n = sol.P.shape[0]
    Zs = Z - np.outer(np.ones(n), sol.rho)
    pert = (sol.rho @ dP) @ np.abs(Zs)
    off = ~np.eye(n, dtype=bool) & (sol.P > 0)
    rel = float((dP[off] / sol.P[off]).max()) if off.any() else 0.0
    ocin = sol.rho * ((1 + rel) ** (2 * n) - 1) if rel < 0.5 else np.full(n, np.inf)
    drho = np.minimum(pert, ocin)
    aZ = np.abs(Z)
    dA = dP + np.outer(np.ones(n), drho)
    kappa = float((aZ @ dA).sum(axis=1).max())
    if not kappa < 0.5:
        inf = np.full(n, np.inf)
        return inf, np.inf, inf, kappa
    dJ = float(drho @ np.abs(sol.r - sol.J) + sol.rho @ dr)
    dh = aZ @ (dr + dJ + dA @ np.abs(sol.h))
    f = 1.0 / (1.0 - kappa)
    return f * drho, f * dJ, f * dh, kappa


def chain_rounding_bounds(prims, sol: ChainSolution, wp: WeightedPoints, mean: np.ndarray | None = None) -> dict:
    """Round-off and conditioning bounds of rho, J, h (module docstring), plus Z and the input bounds dP, dr.

    Inputs: the pairwise sums, the running error of p and c at the nodes and (with ``mean``) the rounding of the
    nodes themselves; then GTH's own rounding (4 n^2 eps rho) and that of J's sum and of the solve for h.  The
    solve's backward error is taken as (n + 2) eps |A| |h|, which presumes LU with partial pivoting without growth
    (true of these diagonally dominant-like I - P + 1 rho^T; a growth factor would multiply it).
    """
    n = sol.P.shape[0]
    g = _sum_roundoff(wp)
    Ec = np.array([wp.weights[s] @ np.abs(prims.cost(s, wp.points[s])) for s in range(n)])
    dP = g * sol.P + np.stack([_expect_error(prims, "kernel", wp, s) for s in range(n)])
    dr = g * Ec + np.array([float(_expect_error(prims, "cost", wp, s)) for s in range(n)])
    if mean is not None:
        dP = dP + np.stack([_node_error(prims, "kernel_grad", wp, s, mean) for s in range(n)])
        dr = dr + np.array([float(_node_error(prims, "cost_grad", wp, s, mean)) for s in range(n)])
    A = np.eye(n) - sol.P + np.outer(np.ones(n), sol.rho)
    Z = inv(A)
    drho, dJ, dh, kappa = _propagate(sol, Z, dP, dr)
    drho = drho + 4 * n * n * EPS * sol.rho
    dJ = dJ + (n + 2) * EPS * float(sol.rho @ np.abs(sol.r))
    aZ, b = np.abs(Z), sol.r - sol.J
    dh = dh + aZ @ (EPS * (np.abs(sol.r) + abs(sol.J)) + (n + 2) * EPS * (np.abs(A) @ np.abs(sol.h) + np.abs(b)))
    return {"rho": drho, "J": dJ, "h": dh, "Z": Z, "dP": dP, "dr": dr, "kappa": kappa,
            "condition": float(np.abs(Z).sum(axis=1).max() * np.abs(A).sum(axis=1).max())}


def gaussian_chain(prims, policy: GaussianPolicy, tol: float = DEFAULT_TOLERANCE, owner: str = "chain",
                   rule: GaussianRule | None = None) -> GaussianChainWitness:
    """Chain of a Gaussian policy with error bounds (module docstring); the rule is adapted unless given.

    The quadrature part of each bound is the two-rule difference of the output plus the rule's per-panel absolute
    error estimates of P and r propagated through the same perturbation bounds (per-panel errors of opposite sign
    cancel in the first, never in the second).  ``converged`` also needs the rule to have met its own target and to
    vouch that it sees the family's features (``GaussianRule.verified``).
    """
    if rule is None:
        rule = adapt_gaussian_rule(prims, policy, tol=rule_tolerance(tol, policy.action_dim))
    prims = CachedPrimitives(prims)
    wp, *vwps = rule.all_points(policy)
    sol = evaluate_chain(prims, wp, owner)
    vwps = tuple(vwps)
    vsols = tuple(evaluate_chain(prims, v, owner) for v in vwps)
    n = sol.P.shape[0]
    rnd = chain_rounding_bounds(prims, sol, wp, policy.mean)
    comp = _component_errors(rule, n, policy.action_dim)
    prho, pJ, ph, _ = _propagate(sol, rnd["Z"], comp["p"], comp["c"])
    _, spread = _spread(lambda _wp, c: {"rho": c.rho, "J": c.J, "h": c.h}, (wp, sol), zip(vwps, vsols))
    quad = {"rho": spread["rho"] + prho, "J": float(spread["J"]) + pJ, "h": spread["h"] + ph}
    err = {k: quad[k] + rnd[k] for k in ("rho", "J", "h")}
    reasons = [f"{owner}: quadrature: {rule.reason}"] if not rule.converged else []
    reasons += [f"{owner}: quadrature unverified: " + "; ".join(st.unverified for st in rule.states if st.unverified)] \
        if not rule.verified else []
    if not rnd["kappa"] < 0.5:
        reasons.append(f"{owner}: the chain is too ill-conditioned for first-order error bounds (|Z| |dP| = "
                       f"{rnd['kappa']:.2g} >= 1/2)")
    reasons += unmet(owner, {"rho": sol.rho, "J": sol.J, "h": sol.h}, err, tol)
    return GaussianChainWitness(prims, sol, wp, rule, vwps, vsols, err, quad,
                                {k: rnd[k] for k in ("rho", "J", "h", "Z")}, not reasons, "; ".join(reasons), tol)


def rule_tolerance(tol: float, d: int) -> float:
    """Target of the rule's integrated primitives for an output tolerance ``tol``: 1000 times tighter, but not
    below 1e-14 (d = 1), 1e-12 (d = 2) or 1e-11 (d = 3), where each bisection multiplies the tensor nodes."""
    return float(np.clip(tol * 1e-3, {1: 1e-14, 2: 1e-12}.get(d, 1e-11), max(1e-11, tol * 1e-2)))


def gaussian_points(prims, policy: GaussianPolicy, owner: str = "chain", tol: float = 1e-12,
                    order: int | None = None) -> WeightedPoints:
    """The feature-resolving rule of ``policy`` as weighted points; :class:`NotConvergedError` if it cannot be adapted
    or cannot vouch that it sees the family's features (``GaussianRule.verified``).

    ``tol`` is the accuracy goal of every integrated primitive (c, p and their action derivatives), relative
    to :math:`1 + \\mathbb E|f|` (see :func:`~otgeom.numeric.quadrature.adapt_gaussian_rule`).  ``order`` asks
    for a plain Gauss–Hermite rule of that order instead (exact for polynomials of degree < 2 order per axis;
    for callers that need one fixed rule and say why).
    """
    if order is not None:
        return policy.discretize(order)
    rule = adapt_gaussian_rule(prims, policy, tol=tol)
    if not rule.converged:
        raise NotConvergedError(f"{owner}: quadrature: {rule.reason}")
    if not rule.verified:  # as in gaussian_chain: a witness never rests on a rule that cannot vouch for itself
        raise NotConvergedError(f"{owner}: quadrature unverified: "
                                + "; ".join(st.unverified for st in rule.states if st.unverified))
    return rule.weighted_points(policy)


def unmet(owner: str, values: dict, errors: dict, tol: float, per_state: bool = True) -> list[str]:
    """One phrase per quantity whose bound exceeds tol * max(1, |value|), naming the worst entry and its state.

    Arrays are indexed by state first (rho, h, grad_mean, ...) unless ``per_state`` is false (Hessian matrices).
    """
    out = []
    for k, v in values.items():
        v = np.asarray(v, float)
        e = np.asarray(errors[k], float)
        ratio = e / (tol * np.maximum(1.0, np.abs(v)))
        if np.all(ratio <= 1):
            continue
        idx = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
        where = k if not idx else (f"{k} of state {idx[0]}" + (f" {list(map(int, idx[1:]))}" if len(idx) > 1 else "")
                                   if per_state else f"{k}{list(map(int, idx))}")
        out.append(f"{owner}: {where} = {float(v[idx]):.6g} has error bound {float(e[idx]):.2g} > tolerance "
                   f"{tol:.2g} x max(1, |value|)")
    return out


def gradient_with_bounds(prims, witness: GaussianChainWitness, policy: GaussianPolicy) -> tuple[dict, dict]:
    r"""The coordinate gradient of J (grad_mean, grad_cov, grad_std for d = 1, grad_norm2) with error bounds.

    Quadrature part by :func:`two_rule`; round-off part from the chain's bounds:
    :math:`\delta(\rho_s\mathbb E[\nabla Q]) \le \delta\rho_s|\mathbb E\nabla Q| + \rho_s(\sum_t\mathbb E|\nabla p_t|\,\delta h_t
    + \gamma_N\mathbb E(|\nabla c| + \sum_t|\nabla p_t||h_t|))`, the same with second derivatives for
    grad_cov, and :math:`2\sum_s\rho_s\mathbb E[|\nabla Q|\,\delta|\nabla Q|] + \delta\rho^\top\mathbb E|\nabla Q|^2`
    for grad_norm2.
    """
    from otgeom.numeric.geometry import gaussian_gradient

    prims = witness.prims
    vals, quad = two_rule(witness, lambda wp, sol: gaussian_gradient(prims, sol, policy, wp))
    sol, wp = witness.sol, witness.wp
    drho, dh = witness.error["rho"], witness.error["h"]
    g = _sum_roundoff(wp)
    n, N, d = wp.points.shape
    comp = _component_errors(witness.rule, n, d)
    mean = policy.mean
    gm = np.zeros((n, d))
    gc = np.zeros((n, d, d))
    gn = 0.0
    for s in range(n):
        A, w = wp.points[s], wp.weights[s]
        kg, cg = prims.kernel_grad(s, A), prims.cost_grad(s, A)  # [N, n, d], [N, d]
        kh, ch = prims.kernel_hess(s, A), prims.cost_hess(s, A)
        gq = action_value_grad(prims, sol, s, A)
        hq = action_value_hess(prims, sol, s, A)
        # h enters linearly and is constant in a: its error moves E[grad Q] by sum_t E[grad p_t] dh_t exactly
        ekg, ekh = np.einsum("n,ntd->td", w, kg), np.einsum("n,ntde->tde", w, kh)
        # round-off at each point: the sums over t and over the points, and evaluating the derivatives themselves
        # (running error coefficients): gamma (|grad c| + sum_t |grad p_t||h_t|) + u (E_c + sum_t E_p_t |h_t|)
        gg = g + (n + 2) * EPS
        ah = np.abs(sol.h)
        rg = gg * (np.abs(cg) + np.einsum("ntd,t->nd", np.abs(kg), ah)) + EPS * (
            prims.eval_error("cost_grad", s, A) + np.einsum("ntd,t->nd", prims.eval_error("kernel_grad", s, A), ah))
        rh = gg * (np.abs(ch) + np.einsum("ntde,t->nde", np.abs(kh), ah)) + EPS * (
            prims.eval_error("cost_hess", s, A) + np.einsum("ntde,t->nde", prims.eval_error("kernel_hess", s, A), ah))
        # the rule's per-panel absolute errors of E[grad c], E[grad p_t] (and the Hessians), and the rounding of the
        # nodes themselves (moving a by da moves grad f by about |Hess f| |da|; third derivatives are not
        # available for the Hessian outputs, whose node rounding is left out: it is below the sums' round-off)
        qg = comp["gc"][s] + np.einsum("td,t->d", comp["gp"][s], ah) + _node_error(prims, "cost_hess", wp, s, mean) \
            + np.einsum("td,t->d", _node_error(prims, "kernel_hess", wp, s, mean), ah)
        qh = comp["hc"][s] + np.einsum("tde,t->de", comp["hp"][s], ah)
        gm[s] = drho[s] * np.abs(w @ gq) + sol.rho[s] * (np.abs(ekg).T @ dh + w @ rg + qg)
        gc[s] = 0.5 * (drho[s] * np.abs(np.einsum("n,nde->de", w, hq))
                       + sol.rho[s] * (np.einsum("tde,t->de", np.abs(ekh), dh) + np.einsum("n,nde->de", w, rh) + qh))
        dgq = np.einsum("ntd,t->nd", np.abs(kg), dh) + rg
        norm = np.linalg.norm(gq, axis=1)
        gn += drho[s] * (w @ norm**2) + sol.rho[s] * 2 * (w @ (norm * np.linalg.norm(dgq, axis=1)))
    rnd = {"grad_mean": gm, "grad_cov": gc, "grad_norm2": gn}
    if d == 1:
        rnd["grad_std"] = policy.std * gc[:, 0, 0] * 2
    err = {k: quad[k] + rnd[k] for k in vals}
    return vals, err
