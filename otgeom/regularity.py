r"""Every regularity assumption of the theory as a computed certificate (THEORY.md section 1, R1-R4).

One entry point per question:

* :func:`family_certificates` -- what holds for **every** policy of a finite family: the structural
  bounds of :mod:`otgeom.symbolic.structure` (irreducible / aperiodic / Doeblin / min rho for every
  policy, or reducible, transient, periodic for every policy) and R3, the smoothness of c and p in the
  action and the Lipschitz constant of :math:`a \mapsto p(\cdot\mid s,a)` in total variation,
  :math:`L_s = \sup_a \tfrac12\sum_t |\nabla_a p(t\mid s,a)|` (an exact upper bound when every entry is a
  constant or one Gaussian bump; otherwise a grid search refined by zooming, an estimate only, except that a
  supremum that keeps growing under refinement certifies that the kernel is *not* Lipschitz);
* :func:`policy_certificates` -- at one Gaussian policy: the chain's certificates
  (:func:`otgeom.numeric.certificates.chain_certificates`: classes, period, Dobrushin, Doeblin, spectral
  gap, min rho, the Poisson system's condition number), R4 (:math:`\sum_s\rho_s\mathbb E|a|^2`) and the
  local Lipschitz constant of the cost on the policy's bulk;
* :func:`measurability_certificates` -- for continuous-state families (``lq``, grid families): a computed
  sufficient condition for the joint measurability of :math:`(x,a) \mapsto \nabla_aQ(x,a)`.

A claim lists what it needs (:attr:`otgeom.claims.Claim.requires`); :meth:`otgeom.claims.Claim.run` asks
:func:`family_certificates` first and reports ``not-applicable`` with the certificate that failed.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from otgeom.numeric.certificates import ASSUMPTIONS, Certificate, Certificates, chain_certificates
from otgeom.families.protocol import supports

__all__ = ["family_certificates", "policy_certificates", "measurability_certificates", "smoothness",
           "kernel_lipschitz", "ASSUMPTIONS", "Certificate", "Certificates", "certify"]

_NONSMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Min, sp.Max, sp.floor, sp.ceiling)


def smoothness(expr: sp.Expr, action: tuple) -> tuple[bool | None, str]:
    """Whether ``expr`` is at least :math:`C^2` in the action (what R3 needs), decided from its expression tree.

    True when it is built from +, *, integer powers, exp, sin, cos, tanh of the action (and powers or logs of
    action-dependent bases that are provably positive); None (undecided, the factor named) when it holds a kink
    or a jump (Abs, sign, Heaviside, Piecewise, Min, Max, floor, ceiling of the action: :math:`|x|^3 = x^2|x|` is
    C^2, :math:`|x|` is not, and the tree alone does not tell them apart) or a power or log of a base not known
    to be positive.  Never False: R3 failures are certified by :func:`kernel_lipschitz`."""
    act = set(action)
    stack = [expr]
    while stack:
        node = stack.pop()
        if not getattr(node, "free_symbols", set()) & act:
            continue
        if isinstance(node, _NONSMOOTH):
            # a kink or a jump; whether the whole is C^2 depends on what multiplies it (|x|^3 = x^2 |x| is C^2),
            # so the tree does not decide: the Lipschitz scan (kernel-lipschitz) decides what it can numerically
            return None, (f"{sp.sstr(node)} is not smooth where its argument changes sign; whether the expression is "
                          "C^2 there is not decided from its tree")
        stack.extend(node.args)
    for node in sp.preorder_traversal(expr):
        if not getattr(node, "free_symbols", set()) & act:
            continue
        if isinstance(node, sp.Pow) and not (node.exp.is_Integer and node.exp >= 0):
            if node.base.free_symbols & act and not node.base.is_positive:
                return None, f"{sp.sstr(node)}: a non-integer or negative power of a base not known to be positive"
        if isinstance(node, sp.log) and not node.args[0].is_positive:
            return None, f"{sp.sstr(node)}: a log of a base not known to be positive"
    return True, ""


def _tv_slope(prims, s: int, A: np.ndarray) -> np.ndarray:
    """g(a) = 1/2 sum_t |grad_a p(t|s,a)|_2 at actions A shape=[N, d] (nan where not finite)."""
    with np.errstate(all="ignore"):
        G = prims.kernel_grad(s, A)
    g = 0.5 * np.sqrt((G ** 2).sum(axis=2)).sum(axis=1)
    return np.where(np.isfinite(g), g, np.inf)


def kernel_lipschitz(family, zooms: int = 10) -> list[dict[str, Any]]:
    r"""Per state, the TV Lipschitz constant of :math:`a \mapsto p(\cdot\mid s,a)` on :math:`[-L, L]^d`.

    A grid search (the family's validation grid) locates the steepest point; then ``zooms`` times a local
    grid four times finer around it.  Returns per state ``{"state", "value", "at", "bounded", "growth"}``:
    ``bounded`` True when the supremum settles (relative change < 1e-3 on the last two zooms), False when
    it is infinite or keeps growing (the last six zooms multiply it by more than 1.5 each on geometric
    average: a singular derivative, :math:`|\nabla p| \sim |a-a_0|^{-\alpha}` with :math:`\alpha` = ``growth``),
    None otherwise."""
    prims = family.primitives()
    grid = family._action_grid()
    d = family.action_dim
    h0 = 2 * family.spec.grid_half_width / (round(grid.shape[0] ** (1 / d)) - 1)
    out = []
    for s in range(family.n_states):
        g = _tv_slope(prims, s, grid)
        k = int(np.argmax(g))
        at, sup, h, sups = grid[k].copy(), float(g[k]), h0, [float(g[k])]
        for _ in range(zooms):
            if not math.isfinite(sup):
                break
            h /= 4
            offs = np.arange(-8, 9) * h if d == 1 else np.arange(-4, 5) * 2 * h
            local = at + np.stack(np.meshgrid(*([offs] * d), indexing="ij"), axis=-1).reshape(-1, d)
            gl = _tv_slope(prims, s, local)
            j = int(np.argmax(gl))
            if gl[j] > sup:
                at, sup = local[j].copy(), float(gl[j])
            sups.append(sup)
        ratios = [b / a for a, b in zip(sups[:-1], sups[1:]) if a > 0 and math.isfinite(b)]
        if not math.isfinite(sup):
            bounded, growth = False, math.inf
        elif len(ratios) >= 6 and math.prod(ratios[-6:]) > 1.5 ** 6:
            bounded, growth = False, math.log(math.prod(ratios[-6:])) / (6 * math.log(4))
        elif len(ratios) >= 2 and all(abs(r - 1) < 1e-3 for r in ratios[-2:]):
            bounded, growth = True, 0.0
        else:
            bounded, growth = None, None
        out.append({"state": s, "value": sup, "at": at.tolist(), "bounded": bounded, "growth": growth})
    return out


def _r3_certificates(family) -> list[Certificate]:
    out = []
    a = family.action
    bad = []
    for s in range(family.n_states):
        for label, e in [(f"c({s},a)", family.cost_at(s))] + [(f"p({t}|{s},a)", family.kernel_at(s, t))
                                                             for t in range(family.n_states)]:
            ok, why = smoothness(e, a)
            if ok is not True:
                bad.append((ok, label, why))
    worst = bad[0] if bad else None
    out.append(Certificate(
        "smooth", "R3", True if worst is None else worst[0],
        None if worst is None else worst[1],
        "c and p are C^2 in the action (built from smooth functions of it)" if worst is None else
        f"{worst[1]}: {worst[2]}", "family", "symbolic (expression tree)",
        {} if worst is None else {"entry": worst[1]}))
    lips = kernel_lipschitz(family)
    L = family.spec.grid_half_width
    failing = [x for x in lips if x["bounded"] is False]
    undecided = [x for x in lips if x["bounded"] is None]
    if failing:
        x = failing[0]
        at = ", ".join(f"{v:.6g}" for v in x["at"])
        grow = "is not finite" if x["growth"] == math.inf else (
            f"keeps growing under refinement (like |a - a0|^-{x['growth']:.2g})")
        stmt = (f"state {x['state']}: the TV slope 1/2 sum_t |grad_a p(t|{x['state']},a)| {grow} near a = ({at}): "
                "the kernel is not Lipschitz in the action")
        holds = False
        value, method = max(x["value"] for x in lips), "grid search + 10 four-fold zooms at the steepest point"
    else:
        from otgeom.symbolic.structure import kernel_structure

        exact = kernel_structure(family).tv_lipschitz()
        worst_l = max(lips, key=lambda x: x["value"])
        scan = (f"the grid search finds {worst_l['value']:.6g} (state {worst_l['state']}, at a = "
                f"({', '.join(f'{v:.4g}' for v in worst_l['at'])}))")
        if exact is not None:  # every entry constant or one Gaussian bump: an exact upper bound over all of R^d
            s_max = int(np.argmax(exact))
            value, holds, method = exact[s_max], True, "symbolic bound on every entry (otgeom.symbolic.structure)"
            stmt = (f"||p(.|s,a) - p(.|s,a')||_TV <= L_s |a - a'| with max_s L_s <= {exact[s_max]:.6g} (state {s_max}; "
                    f"1/2 sum_t |c1| E_max sqrt(2 lambda_max / e) over the bump entries); {scan}")
        else:
            value, holds, method = worst_l["value"], None, "grid search + 10 four-fold zooms at the steepest point"
            stmt = (f"an estimate, not a bound: {scan} on [-{L:g}, {L:g}]^{family.action_dim}, and the supremum "
                    + ("did not settle under refinement at states " + str([x["state"] for x in undecided])
                       if undecided else "settles under refinement") + "; outside that box nothing is checked")
    out.append(Certificate("kernel-lipschitz", "R3", holds, value, stmt, "family", method,
                           {"per_state": [{k: v for k, v in x.items()} for x in lips]}))
    return out


_STRUCTURAL = frozenset({"R1", "R2", "aperiodic"})


def family_certificates(family, assumptions=None) -> Certificates:
    """Certificates that hold for every policy of a finite family (each part cached on the family).

    ``assumptions`` (keys of :data:`ASSUMPTIONS`) limits the work to the parts that can decide them: the
    structural bounds for R1, R2 and aperiodicity, the R3 scan for R3 (what :meth:`otgeom.claims.Claim.run`
    asks).  For the other kinds of family the assumptions depend on the policy and are certified where the
    policy is known."""
    if supports(family).kind != "finite":
        return Certificates(())
    need = set(ASSUMPTIONS) if assumptions is None else set(assumptions)
    parts = Certificates(())
    if need & _STRUCTURAL:
        cached = family.__dict__.get("_structural_certificates")
        if cached is None:
            from otgeom.symbolic.structure import structural_certificates

            cached = structural_certificates(family)
            object.__setattr__(family, "_structural_certificates", cached)
        parts = parts + cached
    if "R3" in need:
        cached = family.__dict__.get("_r3_certificates")
        if cached is None:
            cached = Certificates(tuple(_r3_certificates(family)))
            object.__setattr__(family, "_r3_certificates", cached)
        parts = parts + cached
    return parts


def policy_certificates(family, policy, P: np.ndarray, rho: np.ndarray) -> Certificates:
    """At one policy of a finite family, given its chain (P, rho): the chain's certificates, R4 and the
    cost's local Lipschitz constant on the bulk of each pi_s (mean +- 6 standard deviations)."""
    certs = list(chain_certificates(P, rho))
    mean = np.asarray(policy.mean, float).reshape(family.n_states, -1)
    cov = np.asarray(policy.cov, float).reshape(family.n_states, mean.shape[1], mean.shape[1])
    second = (mean ** 2).sum(axis=1) + np.trace(cov, axis1=1, axis2=2)
    m4 = float(rho @ second)
    certs.append(Certificate("moments", "R4", bool(math.isfinite(m4)), m4,
                             f"sum_s rho(s) E|a|^2 = {m4:.6g} (Gaussian: |m_s|^2 + tr Sigma_s)", "policy", "exact"))
    prims = family.primitives()
    worst, where = 0.0, 0
    for s in range(family.n_states):
        sd = np.sqrt(np.diag(cov[s]))
        axes = [np.linspace(mean[s, i] - 6 * sd[i], mean[s, i] + 6 * sd[i], 201 if mean.shape[1] == 1 else 41)
                for i in range(mean.shape[1])]
        A = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, mean.shape[1])
        g = float(np.sqrt((prims.cost_grad(s, A) ** 2).sum(axis=1)).max())
        if g > worst:
            worst, where = g, s
    certs.append(Certificate("cost-lipschitz", "R3", bool(math.isfinite(worst)), worst,
                             f"|grad_a c(s,a)| <= {worst:.6g} on m_s +- 6 sd (largest at state {where}); c has at most "
                             "polynomial growth, so it is integrable against every Gaussian pi_s",
                             "policy", "grid on the policy's bulk", {"state": where}))
    return Certificates(tuple(certs))


def measurability_certificates(family, policy=None) -> Certificates:
    """A computed sufficient condition for the joint measurability of the tangent field (continuous states).

    Finite families: automatic (every function on a finite set is measurable).  ``lq``: :math:`\\nabla_aQ(x,a)
    = 2Ra + 2B^\\top P(Ax + Ba)` is affine in (x, a), hence continuous, hence jointly measurable; the Lipschitz
    constant in x, :math:`\\|2B^\\top PA\\|_2`, is reported.  Grid families: see
    difference quotients under refinement
    (:func:`otgeom.numeric.measurability.grid_measurability`)."""
    kind = supports(family).kind
    if kind == "finite":
        return Certificates((Certificate("measurable", "measurable", True, None,
                                         "finite state space: every function of the state is measurable", "family",
                                         "structural"),))
    if kind == "lq":
        from otgeom.numeric.measurability import lq_measurability

        return Certificates((lq_measurability(family, policy),))
    from otgeom.numeric.measurability import grid_measurability

    return Certificates(grid_measurability(family, policy))


def certify(family, policy=None) -> Certificates:
    """Everything that can be certified for ``family``: :func:`family_certificates` (every policy), at ``policy``
    (a Gaussian policy of a finite family) :func:`policy_certificates`, and :func:`measurability_certificates`
    (for lq at ``policy``, an :class:`~otgeom.numeric.lq.LQPolicy`, default the optimum; for grid families
    ``policy(points) -> (mean, std)``, default the family's initial policy)."""
    certs = family_certificates(family)
    if policy is not None and supports(family).kind == "finite":
        from otgeom.numeric.witness import gaussian_chain

        sol = gaussian_chain(family.primitives(), policy, owner=family.label).sol  # P and rho, no gradient
        certs = certs + policy_certificates(family, policy, sol.P, sol.rho)
    return certs + measurability_certificates(family, policy)
