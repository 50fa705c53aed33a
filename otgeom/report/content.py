r"""What a report says about a family: definitions, assumptions, chain, geometry, flow, optimum, claims, plots.

:func:`build_report` returns a :class:`~otgeom.report.document.Report` (data only, nothing written).
The sections are one function each, listed per family kind in ``SECTIONS``; a later capability adds
its section by adding a function there.  Sections only typeset: every number they show comes from the family's
record (:func:`otgeom.analysis.analyse`, the same functions notebooks and tests call) and the claim verdicts
(:func:`otgeom.suite.run_suite`), both computed once by :func:`build_report` or passed in
(``tests/test_report_records.py`` renders a report with every numeric entry point disabled).  Every number comes from a fixed seed or a deterministic
computation, and the report states the otgeom version, the exact parameters and the seed, so the
same command gives the same bytes.

A finite family outside the closed-form class (a family file with, say, a logistic kernel) takes the same path:
its record has no derivation, the sections that print derived formulas are left out with the reason, and the flow,
its end point's Hessian and Newton take the numeric route (quadrature, linear solves, particles).

Finite families (Gaussian policies, THEORY.md sections 1-3): the formulas are the named definitions
of :func:`otgeom.symbolic.chain.gaussian_chain` and :func:`otgeom.symbolic.geometry.first_order`;
long definitions are shown with named common subexpressions :math:`\xi_k` (sympy's ``cse``).  The
flow is integrated from the reference policy (means 0, covariances I) with the derived closed-form
velocity; its end point is reported as the optimum only if the Riemannian gradient norm there is
below 1e-12, and then the coordinate Hessian (central differences of the derived gradient
:math:`\partial J/\partial\theta`) gives the spectrum of :math:`G^{-1}H`, which at a critical
point is the spectrum of the Riemannian Hessian.

Second order (THEORY.md section 4; d = 1 coordinates): the Christoffel symbols of G as derived by
:func:`otgeom.symbolic.second_order.second_order` with their values at the reference policy, the sectional
curvatures (:func:`~otgeom.symbolic.second_order.curvature`, n <= 3), the coordinate Hessian and
:math:`\mathrm{Hess}_{\rm sub}` from the symbolic derivation beside :math:`\mathrm{Hess}_g` from quadrature and
the Hessian-vector product, with the two-route difference and the Gauss-formula residual
:math:`\mathrm{Hess}_{\rm sub} - \mathrm{Hess}_g - g(\mathrm{grad}^\perp J, \mathrm{II})`; and Riemannian Newton on
particles (any d) from a fixed seed: its error sequence, the estimated order, the Hessian spectrum at the
particle optimum and its cost beside the Gaussian flow's end point.

LQ family (THEORY.md section 5): the matrix formulas, the scalar derivation when n = m = 1, the
optimum from scipy's DARE and the Hessian spectrum there, the gradient flow.

Grid families (THEORY.md section 6): the drift and cost (in the parameter symbols and with the values), the
kernel as cell probabilities with its closed-form action derivatives, the grid, boundary and noise; the sparse
chain at the family's initial policy with its certificates (irreducible, aperiodic, min rho, the residuals of
the rho and h solves, window truncation, boundary mass); the Gaussian flow per state (closed form) and the
particle flow (8 quantiles per state) from that policy, with J(t), the gradient g-norm, the policy (quantile
bands against the state in 1-D, the mean action as an image in 2-D) and rho on the grid.  Then ``grid-linear``
against the LQ closed form (the policy error on the inner half of the grid and J against the Riccati J*), and
the other grid families against the zero action (the pendulum also: the share of time upright).  Step caps per
flow keep a grid report near half a minute.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from otgeom.analysis import (GRID_MAX_STEPS, GRID_TOL, NEWTON_PARTICLES, NEWTON_SEED, NEWTON_SPREAD, REFERENCE_POLICY,
                             FiniteAnalysis, FlowRecord, GridAnalysis, GridRun, LQAnalysis, analyse, grid_particles)
from otgeom.families.protocol import supports
from otgeom.report.document import Equation, Literal, Para, Report, Section, Table
from otgeom.report.plots import line_figure
from otgeom.textfmt import number as _fmt  # the one number formatter of text output
from otgeom.typeset import latex, latex_lines

__all__ = ["build_report", "rebuild_params", "SECTIONS", "REFERENCE_POLICY"]

#: definitions longer than this (LaTeX characters) are shown with named common subexpressions
CSE_THRESHOLD = 400


def _exact(value) -> str:
    """Exact rationals as text: nested lists for arrays (``[3/5, 4/5]``)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list):
        return "[" + ", ".join(_exact(v) for v in value) + "]"
    return str(value)


# ----------------------------------------------------------------- shared pieces
class _Definitions:
    """Equations for named definitions; long ones use common subexpressions ξ_1, ξ_2, ... (numbered per report)."""

    def __init__(self) -> None:
        self.count = 0

    def equations(self, pairs) -> list[Equation]:
        out = []
        for sym, expr in pairs:
            lhs = latex(sym) if isinstance(sym, sp.Basic) else sym  # a symbol, or the LaTeX of the left side
            name = str(sym)
            if len(latex(expr)) > CSE_THRESHOLD and not isinstance(expr, sp.MatrixBase):
                start = self.count + 1
                gen = sp.numbered_symbols("xi_", start=start)
                subs, (reduced,) = sp.cse([expr], symbols=gen, order="canonical")
                self.count += len(subs)
                for s, e in subs:
                    out.append(Equation(latex_lines(latex(s), e), f"{name}: {s}"))
                out.append(Equation(latex_lines(lhs, reduced), name))
            else:
                out.append(Equation(latex_lines(lhs, expr), name))
        return out


@dataclass
class _View:
    """What the sections of one report read: the family's record (:func:`otgeom.analysis.analyse`), the user's
    parameter overrides (for commands quoted in the text) and the numbering of the named subexpressions."""

    a: Any
    params: dict
    defs: _Definitions


def _claims_section(family, seed: int, verdicts: Sequence[Any]) -> Section:
    """The suite's claims on this family: the ``verdicts`` of :func:`otgeom.suite.run_suite` (seed ``seed``)."""
    rows = []
    for r in verdicts:
        err = "-" if r.error is None else _fmt(r.error, 3)
        rows.append((r.claim, r.verdict, err, _fmt(r.tolerance, 3), r.tolerance_reason, r.witness))
    if not rows:
        from proofs_checks import CLAIMS

        kinds = sorted({c.family_kind for c in CLAIMS})
        return Section("Claims", (Para(
            f"No claim of the suite is about families of kind {getattr(family, 'kind', 'finite')}: its {len(CLAIMS)} "
            f"claims are about {', '.join(kinds)} families and are not applicable here. The checks of this report "
            "are its certificates and comparisons above."),))
    counts = {v: sum(row[1] == v for row in rows) for v in ("holds", "fails", "inconclusive", "not-applicable")}
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items() if v)
    return Section("Claims", (
        Para(f"The claim suite on this family (seed {seed}); each claim is compared with a witness that does "
             f"not use the formula under test, and each check is shown in the tests to reject deliberately "
             f"wrong formulas. {summary}."),
        Table(("claim", "verdict", "worst error", "tolerance", "why this tolerance", "witness"), tuple(rows)),
    ))


def _meta(family, seed: int, command: str, extra: tuple = ()) -> tuple[tuple[str, str], ...]:
    from otgeom import __version__

    return (("otgeom version", __version__), ("family", family.label), *extra, ("seed", str(seed)),
            ("reproduce", Literal(command)))  # code: pasted into a shell as it reads, in every format


# ----------------------------------------------------------------- finite families
def _finite_definitions(family, v: _View) -> Section:
    n, d = family.n_states, family.action_dim
    a = family.action
    blocks: list[Any] = [Para(f"{family.spec.description}. States $s \\in \\{{0, \\dots, {n - 1}\\}}$, "
                              f"actions $a \\in \\mathbb{{R}}^{{{d}}}$" + (f" with $a = ({', '.join(map(str, a))})$" if d > 1 else "")
                              + ". Kernel and cost, in the parameter symbols:")]
    for s in range(n):
        blocks.append(Equation(f"c({s}, a) = {latex(family.cost[s])}", f"c({s},a)"))
        for t in range(n):
            if family.kernel[s][t] != 0:
                blocks.append(Equation(f"p({t} \\mid {s}, a) = {latex(family.kernel[s][t])}", f"p({t}|{s},a)"))
    rows = []
    for p in family.spec.parameters(family.structure):
        vals = family.values[p.name]
        rows.append((p.name, f"${latex(sp.Matrix(vals) if vals.ndim == 2 else (sp.Matrix(vals).T if vals.ndim == 1 else vals))}$"
                     if vals.ndim <= 2 else str(vals.tolist()), p.domain.describe, p.doc))
    blocks += [Para("Parameter values (exact rationals):"), Table(("parameter", "value", "domain", "meaning"), tuple(rows))]
    return Section("Definitions", tuple(blocks))


def _finite_regularity(family, v: _View) -> Section:
    a: FiniteAnalysis = v.a
    ev = a.evaluation
    reg = ev["regularity"]
    rows = [("kernel rows sum to 1", family.validation["rows-sum-to-one"]),
            ("kernel entries $\\ge 0$", family.validation["nonnegative"]),
            ("(R1) irreducible", f"{reg['irreducible']}; closed classes {reg['closed_classes']}"),
            ("(R1) aperiodic", f"{reg['aperiodic']} (period {reg['period']})"),
            ("Dobrushin coefficient $\\delta(P)$", f"{_fmt(reg['dobrushin'])} (< 1 certifies uniform ergodicity in one step)"),
            ("(R2) $\\min_s \\rho_s > 0$", f"{_fmt(reg['min_rho'])} at state {reg['argmin_rho']}"),
            ("quadrature", f"composite Gauss–Kronrod (21 nodes a panel; panels at the family's bumps), at most "
                           f"{ev['quadrature_order']} nodes on one axis; error bounds (two rules, round-off, "
                           f"conditioning): $\\rho$ {_fmt(max(ev['error']['rho']), 2)}, $J$ {_fmt(ev['error']['J'], 2)}, "
                           f"$h$ {_fmt(max(ev['error']['h']), 2)}; "
                           + ("every output within the target " if ev["converged"] else "NOT converged: ")
                           + (_fmt(ev['tolerance'], 2) if ev["converged"] else str(ev["not_converged"])))]
    return Section("Regularity assumptions and their certificates", (
        Para(f"Certificates at the reference policy ({REFERENCE_POLICY}), computed from the definitions "
             "(GTH elimination for $\\rho$, closed classes of the transition graph, the period):"),
        Table(("assumption", "certificate"), tuple(rows)),
        Para(f"At that policy: $J = {_fmt(ev['J'], 10)}$, $\\rho = ({', '.join(_fmt(x, 6) for x in ev['rho'])})$, "
             f"$h = ({', '.join(_fmt(x, 6) for x in ev['h'])})$."),
        Para("Mixing, conditioning, moments and Lipschitz constants at that policy (otgeom.regularity):"),
        _certificate_table(a.policy_certificates, skip=("unique-stationary", "irreducible", "aperiodic",
                                                        "positive-rho")),
        Para("For every policy of the family (a symbolic argument on the kernel's entries, and R3 from c and p "
             "themselves; the statements hold whatever the policy is):"),
        _certificate_table(a.family_certificates),
    ))


def _certificate_table(certs, skip=()) -> Table:
    """One row per certificate: the assumption it serves, the verdict, and what the number implies."""
    verdict = {True: "holds", False: "FAILS", None: "undecided"}
    return Table(("certificate", "assumption", "verdict", "statement", "how"), tuple(
        (c.name, c.assumption, verdict[c.holds], c.statement, c.method) for c in certs if c.name not in skip))


def _finite_degenerate(family, v: _View) -> Section:
    """The report of a finite family on which an assumption fails for every policy (or c, p have no closed form):
    the certificates, what breaks, and which sections are left out."""
    certs = v.a.family_certificates
    failed = [c for c in certs if c.holds is False]
    blocks: list[Any] = [Para("Computed for every policy of the family (a symbolic argument on the kernel's entries, "
                              "and R3 from c and p themselves):"), _certificate_table(certs)]
    if failed:
        blocks.append(Para("What breaks: " + " ".join(f"{c.name} ({c.assumption}): {c.statement}." for c in failed)))
    if v.a.no_closed_form:
        blocks.append(Para(f"The symbolic layer has no closed form here: {v.a.no_closed_form}."))
    blocks.append(Para("The sections that need the failing assumptions or the closed forms (the chain, the geometry, "
                       "the gradient, the second order, the optimum, the flows) are left out; the claim table says "
                       "which claims still apply and hold."))
    return Section("Regularity assumptions and their certificates", tuple(blocks))


def _finite_no_closed_form(family, v: _View) -> Section:
    """A finite family outside the closed-form class: why, and which sections take the numeric route."""
    return Section("Outside the closed-form class", (
        Para(f"The symbolic layer has no closed form here: {v.a.no_closed_form}."),
        Para("So the sections that print derived formulas (the chain, the geometry with its Christoffel symbols and "
             "curvatures, the gradient and flow equations, the second-order matrices) are left out, and the claims "
             "that test a symbolic output say not-applicable. Everything else takes the numeric route: the "
             "certificates at the reference policy from quadrature and GTH, "
             + ("the Gaussian flow below with its velocity $\\dot m_s = -\\mathbb{E}[\\partial_a Q]$, "
                "$\\dot\\sigma_s = -\\sigma_s \\mathbb{E}[\\partial_a^2 Q]$ by quadrature "
                "(`otgeom.numeric.flows.gaussian_projected_flow`), the Hessian at its end point by quadrature and "
                "linear solves (`otgeom eval --hessian`), and Newton on particles."
                if family.action_dim == 1 else
                "and Newton on particles; for d > 1 the Gaussian flow is not integrated on this route (the "
                "optimum section says why).")),
    ))


def _finite_chain(family, v: _View) -> Section:
    C = v.a.chain
    n, d = family.n_states, family.action_dim
    pol = "\\mathcal{N}(m_s, \\sigma_s^2)" if d == 1 else "\\mathcal{N}(m_s, \\Sigma_s)"
    blocks: list[Any] = [Para(
        f"Gaussian policies $\\pi_s = {pol}$. Transition probabilities and costs are closed-form Gaussian "
        "expectations; $\\rho$ comes from the Markov chain tree theorem ($\\tau_s$ are spanning-tree sums), "
        "$h$ from the all-minors forest theorem, normalised so that $\\rho^\\top h = 0$. Named definitions, "
        "in dependency order:")]
    blocks += v.defs.equations(C.definitions)
    blocks.append(Para("The action-value function and its action gradient:"))
    blocks += v.defs.equations([(f"Q({s}, a)", C.outputs["Q"][s]) for s in range(n)])
    return Section("The chain: stationary law, ergodic cost, Poisson solution", tuple(blocks))


def _finite_geometry(family, v: _View) -> Section:
    D = v.a.derivation
    d = family.action_dim
    blocks: list[Any] = [Para(
        "The metric (THEORY.md section 2) weights the per-state Otto metric by the stationary law: "
        "for tangent vectors (gradient fields) $v, w$,"),
        Equation(r"g_\pi(v, w) = \sum_s \rho_s \, \mathbb{E}_{a \sim \pi_s}\left[ v_s(a) \cdot w_s(a) \right]", "metric")]
    if d == 1:
        blocks += [Para("Coordinates $\\theta = (m_0, \\sigma_0, m_1, \\sigma_1, \\dots)$; the tangent vectors of the "
                        "coordinate curves are $\\partial_{m_s} \\mapsto v_s(a) = 1$ and "
                        "$\\partial_{\\sigma_s} \\mapsto v_s(a) = (a - m_s)/\\sigma_s$ (zero at the other states), so the "
                        "metric tensor is"),
                   Equation(f"G(\\theta) = {latex(D.outputs['metric'])}", "G(theta)")]
    else:
        blocks.append(Para("Coordinates: $m_s$ and the upper triangle of $\\Sigma_s$. A mean direction is the constant "
                           "field $e_i$; a covariance direction $\\dot\\Sigma_s$ is the linear field $v_s(a) = S(a - m_s)$ "
                           "with $S\\Sigma_s + \\Sigma_s S = \\dot\\Sigma_s$ (the Bures–Wasserstein tangent)."))
    if d == 1:
        blocks += _christoffel_blocks(family, v) + _curvature_blocks(family, v)
    else:
        blocks.append(Para("Christoffel symbols, geodesics and sectional curvature are derived in the coordinates "
                           "$\\theta = (m_s, \\sigma_s)$ of d = 1 families; for d > 1 the second-order objects are "
                           "bilinear forms on tangent fields (`otgeom.numeric.second_order.Linearization`)."))
    return Section("Geometry", tuple(blocks))


def _coord_tex(family) -> list[str]:
    from otgeom.symbolic.chain import gaussian_coordinates

    return [latex(x) for x in gaussian_coordinates(family.n_states, family.action_dim)[2]]


#: the report lists every Christoffel symbol for families with at most this many states
CHRISTOFFEL_TABLE_MAX_STATES = 3


def _christoffel_blocks(family, v: _View) -> list:
    S2 = v.a.second_order_values
    D2 = S2.D2
    defs = dict(D2.definitions)
    names = _coord_tex(family)
    chris = D2.outputs["christoffel"]
    K = len(names)
    rows = []
    for k in range(K):
        for i in range(K):
            for j in range(i, K):
                sym = chris[k][i][j]
                if sym != 0:
                    rows.append((f"$\\Gamma^{{{names[k]}}}_{{{names[i]} {names[j]}}}$", f"${latex(defs.get(sym, sym))}$",
                                 _fmt(S2.christoffel[k, i, j], 6)))
    listed = [Table(("symbol", "derived", "value at the reference policy"), tuple(rows))] \
        if family.n_states <= CHRISTOFFEL_TABLE_MAX_STATES else []
    return [
        Para("Christoffel symbols of $G$, derived symbolically from $G$ (forward-mode derivatives "
             "$\\partial_i \\rho_s$ of the closed-form stationary law through the named definitions). With "
             "$G = \\operatorname{diag}(\\rho_{s(i)})$, $s(i)$ the state of coordinate $i$:"),
        Equation(r"\Gamma^k_{ij} = \tfrac12 G^{kl}\left(\partial_i G_{lj} + \partial_j G_{li} - \partial_l G_{ij}\right)"
                 r" = \frac{\delta_{kj}\,\partial_i \rho_{s(k)} + \delta_{ki}\,\partial_j \rho_{s(k)}"
                 r" - \delta_{ij}\,\partial_k \rho_{s(i)}}{2 \rho_{s(k)}}", "Christoffel"),
        Para("Geodesics of the Gaussian family solve $\\ddot\\theta^k = -\\Gamma^k_{ij}\\dot\\theta^i\\dot\\theta^j$ "
             "(`otgeom.numeric.geodesics`: initial-value integration, the exponential map, and boundary values by "
             "shooting; the claim `geodesic-speed` checks that $|\\dot\\theta|_G$ stays constant along them). "
             + (f"The {len(rows)} nonzero symbols ($i \\le j$; $\\Gamma^k_{{ij}} = \\Gamma^k_{{ji}}$) and their values "
                "at the reference policy:" if listed else
                f"There are {len(rows)} nonzero symbols ($i \\le j$); "
                f"`otgeom derive {_cli_family(family)}{_param_args(v.params)} --second-order` "
                "prints them.")),
        *listed,
    ]


def _curvature_blocks(family, v: _View) -> list:
    sec = v.a.second_order_values.sectional
    if sec is None:
        return [Para("Sectional curvatures are derived for n <= 3 (the Riemann tensor needs second derivatives of "
                     "every $\\rho_s$); this family has n = %d." % family.n_states)]
    names = _coord_tex(family)
    K = len(names)
    rows = tuple((f"$(\\partial_{{{names[i]}}}, \\partial_{{{names[j]}}})$", _fmt(sec[i, j], 6))
                 for i in range(K) for j in range(i + 1, K))
    big = float(np.abs(sec).max())
    return [
        Para("Sectional curvatures of $G$ on the coordinate planes, from the Riemann tensor "
             "$R^l{}_{ijk} = \\partial_i\\Gamma^l_{jk} - \\partial_j\\Gamma^l_{ik} + \\Gamma^l_{im}\\Gamma^m_{jk} - "
             "\\Gamma^l_{jm}\\Gamma^m_{ik}$ (derived symbolically; the claim `sectional-curvature` compares it with "
             "central differences of numerically computed Christoffel symbols), at the reference policy:"),
        Table(("plane", "sectional curvature"), rows),
        Para(f"Largest $|K| = {_fmt(big, 4)}$. With frozen weights each state's block "
             "$\\rho_s(dm_s^2 + d\\sigma_s^2)$ would be flat (one-dimensional Gaussians with the Wasserstein metric form "
             "a Euclidean half-plane); the curvature comes from the weighting by the stationary law $\\rho(\\theta)$."
             if big > 1e-12 else "All sectional curvatures vanish at this point."),
    ]


def _finite_gradient(family, v: _View) -> Section:
    C = v.a.chain
    D = v.a.derivation
    n, d = family.n_states, family.action_dim
    blocks: list[Any] = [Para("The Wasserstein gradient of $J$ is the action gradient of $Q$ (THEORY.md section 3):"),
                         Equation(r"\operatorname{grad} J(s, a) = \nabla_a Q(s, a), \qquad "
                                  r"\frac{\partial J}{\partial m_s} = \rho_s\, \mathbb{E}_{\pi_s}[\nabla_a Q(s, \cdot)]",
                                  "grad J")]
    blocks += v.defs.equations([(f"\\partial_{{a{'_' + str(i) if d > 1 else ''}}} Q({s}, a)", C.outputs["gradQ"][s][i])
                                     for s in range(n) for i in range(d)])
    coords = [x for x in D.inputs[len(family.parameter_symbols()):]]
    flow = D.outputs["flow"]
    blocks.append(Para("The Gaussian-projected gradient flow "
                       + ("$\\dot m_s = -\\mathbb{E}[\\partial_a Q]$, $\\dot\\sigma_s = -\\sigma_s \\mathbb{E}[\\partial_a^2 Q]$"
                          if d == 1 else "$\\dot m_s = -\\mathbb{E}[\\nabla_a Q]$, $\\dot\\Sigma_s = -(H_s\\Sigma_s + "
                          "\\Sigma_s H_s)$ with $H_s = \\mathbb{E}[\\nabla_a^2 Q]$")
                       + ", in closed form:"))
    blocks += v.defs.equations([(f"\\dot{{{latex(x)}}}", e) for x, e in zip(coords, flow)])
    used = {s for e in flow for s in e.free_symbols}
    blocks += v.defs.equations([(s, e) for s, e in D.definitions
                                     if s in used and str(s).startswith(("EgradQ", "EhessQ"))])
    extra = len(D.definitions) - len(C.definitions)
    blocks.append(Para(f"The coordinate gradient $\\partial J / \\partial \\theta$ is derived independently, by "
                       f"forward-mode differentiation of the closed-form $J(\\theta)$ through the named definitions "
                       f"({extra} further definitions, printed by `otgeom derive {_cli_family(family)}`); the claim "
                       f"`policy-gradient` compares the two."))
    return Section("Gradient and flow equations", tuple(blocks))


def _finite_optimum(family, v: _View) -> Section:
    from otgeom.symbolic.chain import gaussian_coordinates

    a: FiniteAnalysis = v.a
    if not isinstance(a.flow, FlowRecord):
        return Section("Optimum and local convexity", (Para(f"The {'derived ' if a.derivation is not None else ''}flow could "
                                                            f"not be integrated, so no optimum is reported: "
                                                            f"{a.flow}."),))
    opt = a.optimum
    n, d = family.n_states, family.action_dim
    names = [str(x) for x in gaussian_coordinates(n, d)[2]]
    theta = opt.theta
    how = "" if a.flow.route == "closed form" else ", the velocity by quadrature"
    blocks: list[Any] = [Para(f"The flow is integrated from the reference policy to $t = {_fmt(a.flow.t[-1])}$ (DOP853, "
                              f"rtol 1e-10{how}). At the end point $J = {_fmt(opt.J, 10)}$ and "
                              f"$g(\\operatorname{{grad}} J, \\operatorname{{grad}} J) = {_fmt(opt.g2, 3)}$.")]
    if not opt.critical:
        blocks.append(Para("The gradient norm is not below 1e-12 there, so no optimum is claimed and no Hessian "
                           "spectrum is reported."))
        return Section("Optimum and local convexity", tuple(blocks))
    rows = [(nm, _fmt(x, 6)) for nm, x in zip(names, theta)]
    blocks += [Para("End point of the flow (the optimum found):"), Table(("coordinate", "value"), tuple(rows))]
    lam = opt.spectrum
    if lam is None:
        blocks.append(Para("No Hessian spectrum on the numeric route for d > 1 (the numeric coordinate Hessian is "
                           "for d = 1); the next section gives the spectrum of the full-space Hessian at the particle "
                           "optimum."))
    elif opt.relative_to_metric:
        H_how = ("by central differences of the derived gradient (step $10^{-5}$, error about $10^{-9}$)"
                 if opt.spectrum_error_estimate is None else
                 "and $G$ by quadrature and linear solves (`otgeom eval --hessian`; their error estimates move "
                 f"the eigenvalues by about {_fmt(opt.spectrum_error_estimate, 2)}, an estimate and not a bound: its "
                 "round-off part is a heuristic that can miss near $\\sigma = 0$)")
        blocks += [Para("Spectrum of the Riemannian Hessian relative to the metric, $\\operatorname{eig}(G^{-1}H)$, "
                        f"with $H$ the coordinate Hessian of $J(\\theta)$ {H_how}; at a critical point the connection "
                        "term vanishes, so this is the Riemannian Hessian:"),
                   Equation(r"\operatorname{eig}(G^{-1}H) = \left(" + ", ".join(_fmt(x, 5) for x in lam) + r"\right)",
                            "spectrum")]
        verdict = ("all positive: $J$ is locally geodesically convex at this point" if lam.min() > 0 else
                   "not all positive: not a strict local minimum")
        blocks.append(Para(f"Smallest eigenvalue {_fmt(lam.min(), 5)}, {verdict}."))
        if opt.sigma_boundary < 1e-6:
            blocks.append(Para(
                "The end point lies at the boundary $\\sigma \\to 0$ (a deterministic policy). This is expected: on a "
                "finite family $J$ restricted to one state's $(m_s, \\sigma_s^2)$ is a ratio of two solutions of the "
                "heat equation, so $\\partial^2 J/\\partial m_s^2 = 0$ at every interior critical point and the "
                "Gaussian family has no non-degenerate interior minimum (see `otgeom.examples`)."
                + (" $J$ is even in $\\sigma_s$, so the central differences above, which step across $\\sigma_s = 0$, "
                   "are those of a smooth function." if opt.spectrum_error_estimate is None else "")))
    else:
        blocks.append(Para("Eigenvalues of the coordinate Hessian (central differences of the derived gradient): "
                           "(" + ", ".join(_fmt(x, 5) for x in lam) + ")."))
        if opt.smallest_covariance_eigenvalue < 1e-6:
            blocks.append(Para(
                "The end point lies at the boundary of the covariance cone ($\\Sigma_s \\to 0$, a deterministic "
                "policy), where the upper-triangle coordinates of $\\Sigma_s$ are not smooth coordinates of the "
                "family, so these eigenvalues certify nothing about convexity; the next section gives the spectrum of "
                "the full-space Hessian at the particle optimum."))
    return Section("Optimum and local convexity", tuple(blocks))


def _finite_second_order(family, v: _View) -> Section:
    """Hessian forms (THEORY.md section 4) and, for d = 1, the coordinate matrices at the reference policy."""
    blocks: list[Any] = [
        Para("Second order (THEORY.md section 4). For tangent fields $u, v$, with $h_s(u, v) = "
             "\\mathbb{E}_{\\pi_s}[u_s \\cdot v_s]$ and the chain derivatives $d\\rho[u]$, $dh[u]$ from one linear "
             "solve each:"),
        Equation(r"A_{\text{local}}(u, v) = \sum_s \rho_s\, \mathbb{E}_{\pi_s}\left[\langle \nabla_a^2 Q(s, \cdot)\, u_s,"
                 r" v_s\rangle\right]", "A_local"),
        Equation(r"A_{\text{transport}}(u, v) = \sum_s d\rho[u]_s\, \mathbb{E}_{\pi_s}\left[\langle \nabla_a Q, v_s"
                 r"\rangle\right] + \sum_s \rho_s\, \mathbb{E}_{\pi_s}\left[\langle \nabla_a dQ[u], v_s\rangle\right],"
                 r"\qquad \nabla_a dQ[u](s, a) = \sum_{s'} \nabla_a p(s' \mid s, a)\, dh[u](s')", "A_transport"),
        Equation(r"\operatorname{Hess}_g J(u, v) = A_{\text{local}} + A_{\text{transport}} - g(\operatorname{grad} J,"
                 r" C(u, v)),\qquad g(Z, C(u, v)) = \tfrac12 \sum_s \left(d\rho[u]_s h_s(v, Z) + d\rho[v]_s h_s(u, Z)"
                 r" - d\rho[Z]_s h_s(u, v)\right)", "Hess_g"),
        Equation(r"\operatorname{Hess}_{\text{sub}} J(\partial_i, \partial_j) = \frac{\partial^2 J}{\partial\theta_i"
                 r"\partial\theta_j} - \Gamma^k_{ij}\frac{\partial J}{\partial\theta_k} = \operatorname{Hess}_g J"
                 r"(\partial_i, \partial_j) + g\left(\operatorname{grad}^\perp J, \mathrm{II}(\partial_i, \partial_j)"
                 r"\right)", "Hess_sub"),
        Para("$A_{\\text{local}} + A_{\\text{transport}}$ is the second derivative along the frozen-weight curve "
             "$(\\mathrm{id} + \\epsilon v)_\\# \\pi$; $\\operatorname{Hess}_g$ is the Levi-Civita Hessian on the full "
             "space (any tangent field; on particles as a matrix-free product); $\\operatorname{Hess}_{\\text{sub}}$ is "
             "the Hessian of $J$ restricted to the Gaussian family, which is not totally geodesic: "
             "$\\mathrm{II}(u, v) = C(u, v)^\\perp$ and $\\operatorname{grad}^\\perp J = \\nabla_a Q - \\Pi\\nabla_a Q$, the "
             "residual of the per-state projection onto affine fields. The two agree where $\\nabla_a Q$ is affine in "
             "$a$ (the LQ family) and generally differ at a critical point of the restricted problem (the example "
             "`twin-wells`, notebook 05)."),
    ]
    if family.action_dim != 1:
        blocks.append(Para("Coordinate matrices of these forms are reported for d = 1 families; for d > 1 they are "
                           "evaluated on tangent fields (`Linearization.hessian`), and the section on Newton below "
                           "uses $\\operatorname{Hess}_g$ on particles."))
        return Section("Second order: Hessians on the Gaussian family and on the full space", tuple(blocks))
    S2, so = v.a.second_order_values, v.a.second_order_forms
    if isinstance(so, str):  # e.g. the quadrature does not converge: say so instead of failing the report
        blocks.append(Para(f"The numeric second-order matrices could not be computed at the reference policy: {so}"))
        return Section("Second order: Hessians on the Gaussian family and on the full space", tuple(blocks))
    names = ", ".join(_coord_tex(family))
    blocks += [
        Para(f"At the reference policy, in the coordinates $\\theta = ({names})$: the coordinate Hessian and "
             "$\\operatorname{Hess}_{\\text{sub}}$ from the symbolic derivation, $\\operatorname{Hess}_g$ on the same "
             "tangent vectors from quadrature, linear solves and the Hessian-vector product:"),
        Equation(f"\\frac{{\\partial^2 J}}{{\\partial\\theta^2}} = {_mat(S2.hessian_coords)}", "hessian_coords"),
        Equation(f"\\operatorname{{Hess}}_{{\\text{{sub}}}} J = {_mat(S2.hessian_riemannian)}", "hessian_riemannian"),
        Equation(f"\\operatorname{{Hess}}_g J = {_mat(so.hessian_full)}", "hessian_full"),
        Table(("quantity", "value", "what it shows"), (
            ("$\\max|\\operatorname{Hess}_{\\text{sub}}^{\\text{symbolic}} - \\operatorname{Hess}_{\\text{sub}}^{"
             "\\text{quadrature}}|$", _fmt(so.routes, 3),
             f"two independent routes (closed form vs {so.nodes}-node feature-resolving quadrature and "
             "linear solves)"),
            ("$|\\operatorname{grad}^\\perp J|_g$", _fmt(so.grad_perp_norm, 4),
             "the part of $\\nabla_a Q$ the Gaussian family cannot follow"),
            ("$\\max|\\operatorname{Hess}_{\\text{sub}} - \\operatorname{Hess}_g|$",
             _fmt(so.sub_minus_full, 4),
             "the submanifold and full-space Hessians differ here"),
            ("$\\max|\\operatorname{Hess}_{\\text{sub}} - \\operatorname{Hess}_g - g(\\operatorname{grad}^\\perp J, "
             "\\mathrm{II})|$", _fmt(so.relation, 3), "the Gauss-formula relation, numerically"))),
        Para("The claims `frozen-second-variation`, `levi-civita-hessian`, `submanifold-hessian`, "
             "`second-fundamental-form` and `connection-term` check these forms against second derivatives of $J$ "
             "along push-forward curves and numerically integrated geodesics (Taylor-remainder slopes)."),
    ]
    return Section("Second order: Hessians on the Gaussian family and on the full space", tuple(blocks))


def _finite_newton(family, v: _View) -> Section:
    """Riemannian Newton on particles (the full space), its error sequence, and the Hessian spectrum at the optimum."""
    a: FiniteAnalysis = v.a
    nr = a.newton
    P, S, seed = ((nr.particles, nr.spread, nr.seed) if not isinstance(nr, str) else
                  (NEWTON_PARTICLES, NEWTON_SPREAD, NEWTON_SEED))
    blocks: list[Any] = [Para(
        f"Riemannian Newton on particle policies ({P} equally weighted particles per state, drawn "
        f"from $\\mathcal{{N}}(0, {S}^2)$ with seed {seed}), the full space discretised: metric "
        "$\\operatorname{diag}(\\rho_s w_{si})$ on the positions, gradient $\\nabla_a Q$ at the particles, Hessian "
        "$\\operatorname{Hess}_g J$ from the Hessian-vector product. Each step solves "
        "$\\operatorname{Hess}_g J(\\eta, \\cdot) = -g(\\operatorname{grad} J, \\cdot)$; where the Hessian is "
        "indefinite it is replaced by its positive-definite modification (|eigenvalues|), reported as "
        "`pd-modified`; a backtracking line search keeps $J$ decreasing.")]
    if isinstance(nr, str):
        blocks.append(Para(f"Newton did not run: {nr}"))
        return Section("Newton on particles", tuple(blocks))
    r = nr.result
    rows = tuple((str(k), _fmt(st.J, 12), _fmt(st.grad_norm, 3), _fmt(e, 3), st.kind)
                 for k, (st, e) in enumerate(zip(r.steps, nr.errors)))
    blocks.append(Table(("step", "J", "$|\\operatorname{grad} J|_g$", "$\\max|x_k - x_{\\text{final}}|$", "step kind"),
                        rows))
    if not r.converged:
        blocks.append(Para(f"Newton did not reach the tolerance in {len(r.steps)} steps; no optimum is claimed."))
        return Section("Newton on particles", tuple(blocks))
    order, lam = nr.order, nr.eigenvalues
    text = (f"Estimated order of convergence from the last three errors above 1e-12: "
            f"{'-' if order is None else _fmt(order, 3)} (2 is quadratic). Spectrum of $\\operatorname{{Hess}}_g J$ "
            f"relative to the metric at the optimum: smallest {_fmt(lam.min(), 5)}, largest {_fmt(lam.max(), 5)}"
            f"{' (a non-degenerate local minimum)' if lam.min() > 0 else ''}.")
    if isinstance(a.flow, FlowRecord):
        J_flow = float(a.flow.J[-1])
        text += (f" The Gaussian flow's end point has $J = {_fmt(J_flow, 12)}$, the particle optimum "
                 f"$J = {_fmt(r.J, 12)}$ (difference {_fmt(abs(J_flow - r.J), 2)}).")
    blocks.append(Para(text))
    return Section("Newton on particles", tuple(blocks))


def _finite_plots(family, v: _View) -> Section:
    from otgeom.symbolic.chain import gaussian_coordinates

    a: FiniteAnalysis = v.a
    if not isinstance(a.flow, FlowRecord):
        return Section("Flow trajectories", (Para("No flow plot: the flow was not integrated to the end (see the "
                                                  "optimum section)."),))
    t, Y, J, g2 = a.flow.t, a.flow.Y, a.flow.J, a.flow.g2
    names = [str(x) for x in gaussian_coordinates(family.n_states, family.action_dim)[2]]
    gap = J - J[-1]
    # below the round-off floor of J (a few ulps of |J|) the differences are noise: each log curve ends where it
    # first reaches its floor, instead of scattering fragments near 1e-16 after the flow has converged
    floor = 64 * np.finfo(float).eps * max(1.0, float(np.abs(J).max()))
    what = "derived gradient flow" if a.flow.route == "closed form" else "Gaussian flow (velocity by quadrature)"
    fig = line_figure("flow", f"The {what} from the reference policy: coordinates, J(t) - J(end) and "
                      "the squared gradient norm.", [
                          {"x": t, "ys": [(nm, Y[:, i]) for i, nm in enumerate(names)], "xlabel": "t",
                           "ylabel": "coordinate"},
                          {"x": t[:-1], "ys": [("J(t) - J(end)", _until_floor(gap[:-1], floor)),
                                               ("|grad J|^2", _until_floor(g2[:-1], floor ** 2))], "xlabel": "t",
                           "ylabel": "", "logy": True}])
    blocks: list[Any] = []
    m = a.measured_rate
    if a.predicted_rate is not None and m is not None:
        blocks.append(Para(f"Predicted linear rate of $J(t) - J^*$ from the Hessian spectrum at the optimum: "
                           f"$2\\lambda_{{\\min}}(G^{{-1}}H) = {_fmt(a.predicted_rate, 5)}$; measured (log-linear fit "
                           f"of $J(t) - J(\\text{{end}})$ on $t \\in [{_fmt(m.t_lo, 3)}, {_fmt(m.t_hi, 3)}]$): "
                           f"{_fmt(m.rate, 5)}."))
    return Section("Flow trajectories", (*blocks, fig))


def _until_floor(y: np.ndarray, floor: float) -> np.ndarray:
    """``y`` up to the first value at or below ``floor`` (NaN from there on: not drawn on a log axis)."""
    y = np.asarray(y, float).copy()
    below = np.flatnonzero(~(y > floor))
    if below.size:
        y[below[0]:] = np.nan
    return y


# ----------------------------------------------------------------- LQ family
def _mat(M: np.ndarray, digits: int = 6) -> str:
    rows = [" & ".join(_fmt(x, digits) for x in row) for row in np.atleast_2d(M)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _lq_definitions(family, v: _View) -> Section:
    blocks = [Para("Linear dynamics with Gaussian noise, quadratic cost (plus $\\tau$ times the negative entropy of "
                   "the policy), linear-Gaussian policies (THEORY.md section 5):"),
              Equation(r"x' = A x + B a + w,\quad w \sim \mathcal{N}(0, W),\qquad c(x, a) = x^\top Q_c x + a^\top R a,"
                       r"\qquad \pi_x = \mathcal{N}(-K x, \Sigma)", "model"),
              Table(("parameter", "value"), tuple(
                  (nm, f"${_mat(getattr(family, nm))}$") for nm in ("A", "B", "Qc", "R", "W")) + (
                  ("tau", _fmt(family.tau, 10)),))]
    return Section("Definitions", tuple(blocks))


def _lq_regularity(family, v: _View) -> Section:
    a: LQAnalysis = v.a
    opt = a.optimum
    rows = (("(A, B) stabilisable", "PBH test on every mode with $|\\lambda| \\ge 1$ (checked when the family is built)"),
            ("open-loop spectral radius $\\rho(A)$", _fmt(a.open_loop_radius, 6)),
            ("initial gain $K_0$ stabilising", f"$\\rho(A - BK_0) = {_fmt(a.K0_radius, 6)}$ < 1"),
            ("optimal closed loop stable", f"$\\rho(A - BK^*) = {_fmt(opt.spectral_radius, 6)}$ < 1"),
            ("Riccati residual (relative)", _fmt(opt.riccati_residual, 2)),
            ("$Q_c \\succeq 0$, $R \\succ 0$, $W \\succ 0$", "checked when the family is built (smallest eigenvalue named "
                                                            "on failure)"),
            ("measurability of $x \\mapsto \\nabla_aQ(x, \\cdot)$", _measurability_text(a.measurability)))
    return Section("Regularity assumptions and their certificates", (Table(("assumption", "certificate"), rows),))


_LQ_FORMULAS = (
    ("X = A_K X A_K^\\top + B\\Sigma B^\\top + W,\\qquad A_K = A - BK", "stationary covariance (discrete Lyapunov)"),
    ("P = Q_c + K^\\top R K + A_K^\\top P A_K,\\qquad h(x) = x^\\top P x + \\text{const}", "value matrix"),
    ("J = \\operatorname{tr}\\big((Q_c + K^\\top R K)X\\big) + \\operatorname{tr}(R\\Sigma) - \\tfrac{\\tau}{2}"
     "\\log\\det(2\\pi e\\Sigma)", "ergodic cost"),
    ("\\nabla_a Q(x, a) = 2 M a + 2 B^\\top P A x,\\qquad M = R + B^\\top P B,\\qquad E_K = M K - B^\\top P A", "gradQ"),
    ("g\\big((\\dot K, S), (\\dot K, S)\\big) = \\operatorname{tr}(\\dot K X \\dot K^\\top) + \\operatorname{tr}(S\\Sigma S),"
     "\\qquad \\dot\\Sigma = S\\Sigma + \\Sigma S", "metric"),
    ("\\operatorname{grad}_K J = 2E_K,\\qquad \\frac{\\partial J}{\\partial K} = 2E_K X,\\qquad "
     "\\frac{\\partial J}{\\partial \\Sigma} = M - \\tfrac{\\tau}{2}\\Sigma^{-1}", "gradient"),
    ("\\dot K = -2E_K,\\qquad \\dot\\Sigma = -2(M\\Sigma + \\Sigma M) + 2\\tau I", "flow"),
    ("\\operatorname{Hess} J_{K^*}(U, U) = 2\\operatorname{tr}(U^\\top M^* U X^*),\\qquad "
     "J(K) - J(K^*) = \\operatorname{tr}\\big(X_K (K - K^*)^\\top M^* (K - K^*)\\big)\\ (\\Sigma = 0)", "hessian"),
)


def _lq_chain(family, v: _View) -> Section:
    blocks: list[Any] = [Equation(tex, name) for tex, name in _LQ_FORMULAS]
    S = v.a.scalar
    if S is not None:
        blocks.append(Para("The scalar case derived by sympy from the definitions (stationarity and the Poisson "
                           "equation solved with a quadratic ansatz, then differentiated):"))
        blocks += [Equation(latex_lines(latex(sp.Symbol(k)), e), k) for k, e in S.outputs.items()
                   if not isinstance(e, (list, tuple))]
    return Section("Chain, geometry, gradient, flow and Hessian", tuple(blocks))


def _lq_optimum(family, v: _View) -> Section:
    opt, spec = v.a.optimum, v.a.spectrum
    blocks: list[Any] = [Para("The optimum from scipy's discrete algebraic Riccati solver (an outside reference):"),
                         Equation(f"K^* = {_mat(opt.K)},\\qquad J^* = {_fmt(opt.J, 10)}", "K*")]
    for key, vals in spec.items():
        vals = np.sort(np.asarray(vals, float))
        blocks.append(Para(f"Riemannian Hessian spectrum at the optimum, {key} part: "
                           f"({', '.join(_fmt(v, 6) for v in vals)}); smallest {_fmt(vals.min(), 6)}, so $J$ is "
                           f"{'locally geodesically strictly convex' if vals.min() > 0 else 'not strictly convex'} "
                           "there."))
    return Section("Optimum and local convexity", tuple(blocks))


def _lq_plots(family, v: _View) -> Section:
    a: LQAnalysis = v.a
    hist = a.flow
    rate = a.predicted_rate
    t = np.asarray(hist.t, float)
    keep = hist.K_error > 1e-12
    fig = line_figure("flow", "The gradient flow dK/dt = -2 E_K from K0: relative gain error, relative cost gap, and "
                      "the predicted rate exp(-2 mu_min(M*) t).", [
                          {"x": t[keep], "ys": [("|K - K*| / |K*|", hist.K_error[keep]),
                                                ("(J - J*) / |J*|", np.abs(hist.gap[keep])),
                                                ("predicted exp(-2 mu_min t)", hist.K_error[0] * np.exp(-rate * t[keep]))],
                           "xlabel": "t", "ylabel": "", "logy": True}])
    measured = (f"measured (log-linear fit over the second half of the run): {_fmt(a.measured_rate, 5)}"
                if a.measured_rate is not None else
                "not measured: the gain error is below 1e-12 at fewer than six of the recorded times")
    return Section("Flow trajectories", (
        Para(f"Predicted linear rate of the gain error from the Hessian spectrum at the optimum: "
             f"$2\\mu_{{\\min}}(M^*) = {_fmt(rate, 5)}$; {measured}."),
        fig))


# ----------------------------------------------------------------- grid families
_BOUNDARY_TEXT = {
    "clipped": "clipped (the mass beyond an end of the interval goes into the end cell)",
    "reflecting": "reflecting (the cells mirror across both ends: the mass beyond an end is folded back)",
    "circle": "a circle (the cells wrap around)",
}


def _grid_state(family, i: int) -> str:
    x, _ = family.symbols
    at = ", ".join(f"{latex(s)} = {_fmt(family.points[i, j], 4)}" for j, s in enumerate(x))
    return f"state {i} (${at}$)"


def _grid_axes_text(family) -> str:
    return " x ".join(f"${latex(s)}$: {ax.cells} cells on [{_fmt(ax.lo, 6)}, {_fmt(ax.hi, 6)}], {ax.boundary}, "
                      f"noise {_fmt(ax.noise, 4)}" for s, ax in zip(family.symbols[0], family.axes))


def _grid_policy_text(family, mean: np.ndarray, std: np.ndarray) -> str:
    """The initial policy in words: constant or linear in the single state, else its range."""
    def part(v, sym):
        if np.ptp(v) == 0:
            return f"{sym} = {_fmt(v[0], 6)}"
        if len(family.axes) == 1:
            x = family.points[:, 0]
            k = float(v @ x / (x @ x))
            if np.allclose(v, k * x, rtol=0, atol=1e-12 * max(1.0, np.abs(v).max())):
                return f"{sym} = {_fmt(k, 6)}\\,{latex(family.symbols[0][0])}_i"
        return f"{sym} \\in [{_fmt(v.min(), 4)}, {_fmt(v.max(), 4)}]"
    return f"$\\pi_i = \\mathcal{{N}}(m_i, s_i^2)$ with ${part(mean, 'm_i')}$, ${part(std, 's_i')}$"


def _grid_definitions(family, v: _View) -> Section:
    from otgeom.numeric.grid import TAIL_STDS

    x, a = family.symbols
    ex = family.expressions
    k = len(family.axes)
    blocks: list[Any] = [Para(
        f"{family.spec.description}. A grid family (THEORY.md section 6): the states are the cells of a grid "
        f"({_grid_axes_text(family)}; {family.n_states} states), the actions $a \\in \\mathbb{{R}}$. From the centre "
        "$x_i$ of cell $i$ under action $a$ the continuous step is"),
        Equation(r"x' = f(x_i, a) + \sigma\,\xi,\qquad \xi \sim \mathcal{N}(0, I)\ \text{(independent per axis)}",
                 "step")]
    try:  # the drift and cost in the parameter symbols (a family file may compute with the values instead)
        P = {p.name: sp.Symbol(p.name, real=True) for p in family.spec.parameters
             if p.domain not in ("cells", "boundary", "count")}
        sym = [*(sp.sympify(d) for d in family.spec.drift(x, a, P)), sp.sympify(family.spec.cost(x, a, P))]
    except Exception:  # noqa: BLE001 - then only the numeric form is shown
        sym = None
    for j, s in enumerate(x):
        lhs = f"f_{{{latex(s)}}}(x, a)" if k > 1 else "f(x, a)"
        rhs = (f"{latex(sym[j])} = " if sym is not None else "") + latex(ex["drift"][j])
        blocks.append(Equation(f"{lhs} = {rhs}", f"drift {family.axes[j].name}"))
    blocks.append(Equation("c(x, a) = " + (f"{latex(sym[-1])} = " if sym is not None else "") + latex(ex["cost"]),
                           "cost"))
    blocks += [
        Para("The kernel is the probability of each cell, " + ("per axis, then the product over the axes (the "
             "noise is independent per axis), " if k > 1 else "") + "with $e_l$ the cell edges, $\\Phi$ and "
             "$\\phi$ the standard normal distribution function and density:"),
        Equation((r"p(j \mid i, a) = \prod_{k} q^{(k)}_{j_k}(x_i, a),\qquad " if k > 1 else
                  r"p(j \mid i, a) = q_j(x_i, a),\qquad ")
                 + r"q_l = \Phi(z_{l+1}) - \Phi(z_l),\qquad z_l = \frac{e_l - f(x_i, a)}{\sigma}", "kernel"),
        Para("The rows sum to 1 exactly (the differences telescope), with no normalising quotient, and the action "
             "derivatives are closed forms" + (" (of the product by the product rule)" if k > 1 else "") + ":"),
        Equation(r"\partial_a q_l = -\frac{\partial_a f}{\sigma}\big[\phi(z_{l+1}) - \phi(z_l)\big],\qquad "
                 r"\partial_a^2 q_l = -\frac{(\partial_a f)^2}{\sigma^2}\big[z_{l+1}\phi(z_{l+1}) - z_l\phi(z_l)\big]"
                 r" - \frac{\partial_a^2 f}{\sigma}\big[\phi(z_{l+1}) - \phi(z_l)\big]", "dq"),
        Para("The cell masses are the continuous transition law coarse-grained (the state is snapped to a cell "
             "centre each step), so as the grid is refined the chain converges to the continuous one. Boundaries: "
             + "; ".join(f"${latex(s)}$ is {_BOUNDARY_TEXT[ax.boundary]}" for s, ax in zip(x, family.axes))
             + f". Each row is computed on a window of cells reaching {_fmt(TAIL_STDS)} noise standard deviations "
             "beyond the drift on each side (plus one cell); the mass beyond the window goes into its outer cells, so "
             "rows still sum to 1 and move by at most the tail mass, reported below as the truncation."),
        Table(("axis", "interval", "cells", "width $h$", "$h/\\sigma$", "boundary", "noise $\\sigma$"), tuple(
            (f"${latex(s)}$", f"[{_fmt(ax.lo, 6)}, {_fmt(ax.hi, 6)}]", str(ax.cells), _fmt(ax.width, 4),
             _fmt(ax.width / ax.noise, 4), ax.boundary, _fmt(ax.noise, 4)) for s, ax in zip(x, family.axes))),
        Para("Parameter values:"),
        Table(("parameter", "value", "domain", "meaning"), tuple(
            (p.name, str(family.values[p.name]) if isinstance(family.values[p.name], str)
             else _fmt(family.values[p.name], 10), p.domain, p.doc) for p in family.spec.all_parameters)),
    ]
    return Section("Definitions", tuple(blocks))


def _grid_certificates(family, chain, tolerance: float) -> Table:
    c = chain.certificates
    h_scale = max(1.0, float(np.abs(chain.h).max()))
    rows = [("(R1) irreducible", f"{c['irreducible']} (strongly connected components of the sparse transition graph: "
                                 "one closed class)"),
            ("(R1) aperiodic", "True (some $P_{ii} > 0$)" if c["aperiodic"] else "not decided (no $P_{ii} > 0$)")]
    if "dobrushin" in c:
        rows.append(("Dobrushin coefficient $\\delta(P)$", f"{_fmt(c['dobrushin'], 6)} (< 1 certifies uniform "
                                                           "ergodicity in one step)"))
    rows += [("(R2) $\\min_i \\rho_i > 0$", f"{_fmt(c['min_rho'], 3)} at {_grid_state(family, c['argmin_rho'])}"),
             ("residual of $\\rho$", f"$\\|\\rho^\\top (I - P)\\|_1 = {_fmt(c['residual_rho'], 2)}$"),
             ("residual of $h$", f"$\\|(I - P)h - r + J\\|_\\infty = {_fmt(c['residual_h'], 2)}$, "
                                 f"{_fmt(c['residual_h'] / h_scale, 2)} relative to $\\max(1, |h|)$"),
             ("truncation", f"{_fmt(c['truncation'], 2)} (largest mass moved by the kernel windows)"),
             ("boundary mass", f"{_fmt(c['boundary_mass'], 3)} of the stationary step mass leaves the domain "
                               f"(tolerance {_fmt(tolerance)}"
                               + ("; ABOVE it: the boundary rule, not the dynamics, shapes the chain there" if
                                  c["boundary_mass"] > tolerance else "") + "); most from "
                               f"{_grid_state(family, c['boundary_worst_state'])}, {_fmt(c['boundary_worst_mass'], 3)} "
                               "of its step")]
    return Table(("assumption", "certificate"), tuple(rows))


def _measurability_text(certs) -> str:
    """The measurability certificates (:func:`otgeom.regularity.measurability_certificates`) in words."""
    c = certs["measurable"]
    verdict = {True: f"certified by {c.witness.get('condition', c.method)}", False: "NOT certified",
               None: "NOT certified (undecided)"}[c.holds]
    cont = certs.get("state-continuity")
    lead = "" if cont is None else ("continuity in the state: " + {True: "holds", False: "FAILS", None: "undecided"}[
        cont.holds] + ("" if cont.holds else f" ({cont.statement}); "))
    return f"{lead}{'; ' if lead and cont.holds else ''}measurability {verdict}: {c.statement}"


def _grid_chain(family, v: _View) -> Section:
    from otgeom.numeric.grid import BOUNDARY_TOLERANCE

    a: GridAnalysis = v.a
    mean, std = a.initial
    chain, how = a.initial_chain, a.chain_how
    blocks: list[Any] = [Para(f"At the family's initial policy, {_grid_policy_text(family, mean, std)}, the start of "
                              "the flows below.")]
    blocks += [
        Para(f"The chain from {how}; $P_\\pi$ is a sparse matrix ({chain.P.nnz} nonzeros, {family.n_states} states). "
             "$\\rho$ and $h$ come from one sparse LU factorisation of $I - P$ with one row replaced by the "
             "normalisation; the residuals of both solves are certificates, not assumptions:"),
        _grid_certificates(family, chain, BOUNDARY_TOLERANCE),
        Para("Measurability of the tangent field $x \\mapsto \\nabla_aQ(x, \\cdot)$ (needed for the metric on a "
             "continuous state space), by continuity in the state: " + _measurability_text(a.measurability)
             + "."),
        Para(f"There: $J = {_fmt(chain.J, 10)}$, $\\rho$ ranges over [{_fmt(chain.rho.min(), 3)}, "
             f"{_fmt(chain.rho.max(), 3)}], $h$ over [{_fmt(chain.h.min(), 4)}, {_fmt(chain.h.max(), 4)}]."),
    ]
    return Section("The chain at the initial policy and its certificates", tuple(blocks))


def _run_name(key: str, family) -> str:
    return {"gaussian": "Gaussian per state (derived closed form)",
            "particles": f"{_particles(family)} quantile particles"}[key]


_particles = grid_particles
_RUN_SHORT = {"gaussian": "Gaussian flow", "particles": "particle flow"}


def _snapshot_steps(run: GridRun, count: int = 4) -> list[int]:
    """Steps to show: the start, the end, and the steps nearest to 5 % and 25 % of the flow time."""
    T = float(run.times[-1])
    want = [0.0, 0.05 * T, 0.25 * T, T][:count] if count >= 4 else [0.0, 0.5 * T, T][:count]
    steps = sorted({int(np.argmin(np.abs(run.times - t))) for t in want} | {run.steps})
    return [k for k in steps if k in run.snaps]


def _grid_flow(family, v: _View) -> Section:
    from otgeom.report.plots import band_figure, gaussian_bands, image_figure, line_figure, quantile_bands

    a: GridAnalysis = v.a
    runs, caps = a.runs, a.caps
    ax_aff = family.affine_axis
    blocks: list[Any] = [
        Para("The Wasserstein gradient flow of $J$ (THEORY.md section 3): every action moves against the gradient "
             "field $\\nabla_a Q$, with $h$ the Poisson solution of the current policy:"),
        Equation(r"\frac{d a_{im}}{dt} = -\nabla_a Q_\pi(x_i, a_{im}),\qquad \nabla_a Q(i, a) = \partial_a c(x_i, a) + "
                 r"\sum_j \partial_a p(j \mid i, a)\, h(j)", "particle flow"),
        Para("Projected onto Gaussian laws per state (the derived flow; within a state the weight $\\rho_i$ is "
             "constant, so the weighted and unweighted projections agree):"),
        Equation(r"\dot m_i = -\mathbb{E}_{\pi_i}[\partial_a Q(i, \cdot)],\qquad \dot s_i = -s_i\, "
                 r"\mathbb{E}_{\pi_i}[\partial_a^2 Q(i, \cdot)]", "Gaussian flow"),
    ]
    if ax_aff is not None:
        blocks.append(Para(
            f"Here the drift is affine in $a$ on the axis ${latex(family.symbols[0][ax_aff])}$ "
            "($f = g + b\\,a$) and independent of $a$ on the others, so under $\\mathcal{N}(m_i, s_i^2)$ the step on "
            "that axis is Gaussian with mean $g + b\\,m_i$ and variance $\\sigma^2 + b^2 s_i^2$: $P_\\pi$, "
            "$\\mathbb{E}[\\partial_a p] = \\partial_{m_i} P_\\pi$ and $\\mathbb{E}[\\partial_a^2 p] = "
            "\\partial_{m_i}^2 P_\\pi$ are the cell probabilities above with that variance, in closed form, and the "
            "expectations of the cost (a polynomial in $a$) are exact by Gauss–Hermite."))
    blocks.append(Para(
        "Steps: $\\eta = \\min(\\eta_{\\max}, 1/(2\\kappa))$ with $\\kappa$ the largest local curvature "
        "$(\\partial_a^2 Q)_+$, halved until $J$ falls by at least $\\tfrac12\\eta\\,\\|\\operatorname{grad} J\\|_g^2$ "
        "(Armijo), so $J$ decreases at every accepted step; the flow time $t$ is the sum of the accepted step sizes. "
        "The g-norm is $\\|\\operatorname{grad} J\\|_g^2 = \\sum_i \\rho_i \\sum_m w_{im} |\\nabla_a Q(x_i, a_{im})|^2$ "
        "(Gaussian: $\\sum_i \\rho_i (\\mathbb{E}[\\partial_a Q]^2 + s_i^2 \\mathbb{E}[\\partial_a^2 Q]^2)$). "
        f"Both flows start from the initial policy (the particles: its {_particles(family)} quantiles at levels "
        f"$(m + 1/2)/{_particles(family)}$ per state) and stop when the g-norm is below {_fmt(GRID_TOL)} or after "
        f"min({GRID_MAX_STEPS}, budget / states) steps: here {caps['gaussian']} (Gaussian) and {caps['particles']} "
        "(particles), which keeps the report near half a minute."))
    rows = []
    for key, r in runs.items():
        if isinstance(r, str):
            rows.append((_run_name(key, family), "-", "-", "-", "-", "-", "-", r))
            continue
        rows.append((_run_name(key, family), str(r.steps), _fmt(r.times[-1], 4), _fmt(r.J[0], 10), _fmt(r.J[-1], 10),
                     _fmt(r.G[-1], 3), str(r.backtracks), r.reason))
    blocks.append(Table(("flow", "steps", "flow time", "J at start", "J at end", "g-norm at end", "halvings",
                         "outcome"), tuple(rows)))
    done = a.finished
    if not done:
        return Section("Gradient flows", tuple(blocks))
    monotone = all(r.monotone for r in done.values())
    blocks.append(Para("$J$ decreases at every step of " + ("both flows" if len(done) > 1 else "the flow")
                       + (": yes." if monotone else ": NO (a step increased it; a bug).")))
    floor = 64 * np.finfo(float).eps * max(1.0, max(float(np.abs(r.J).max()) for r in done.values()))
    blocks.append(line_figure("flow", "J and the g-norm of its gradient against flow time.", [
        {"ys": [(_run_name(k, family), r.times, r.J) for k, r in done.items()], "xlabel": "flow time t", "ylabel": "J"},
        {"ys": [(_run_name(k, family), r.times, _until_floor(r.G, floor)) for k, r in done.items()], "xlabel": "flow time t",
         "ylabel": "|grad J|_g", "logy": True}]))
    xname = family.spec.state_names[0]
    if len(family.axes) == 1:
        x = family.points[:, 0]
        ref = a.lq_reference
        reference = None
        if ref is not None:
            K = float(ref[-1].K[0, 0])
            reference = (("LQ optimum -K* x" if family.name == "grid-linear" else
                          "LQ feedback of the linearisation at 0"),
                         -K * x)
        band_rows = []
        for k, r in done.items():
            frames = []
            for s in _snapshot_steps(r):
                pol = r.snaps[s]
                Q = gaussian_bands(*pol) if r.kind == "gaussian" else quantile_bands(pol)
                frames.append((f"t = {_fmt(r.times[s], 3)} (step {s})", Q))
            band_rows.append(("Gaussian" if k == "gaussian" else "particles", frames))
        blocks.append(band_figure(
            "policy", "The policy along the flows: quantile bands of the action law against the state (10-90 % light, "
            "25-75 % dark, median line; particles: quantiles interpolated between the particles' levels)"
            + (f", with the {reference[0]} dashed" if reference else "") + ".", x, band_rows, xname, "action a",
            reference))
        curves = [("initial policy", a.initial_chain.rho)]
        curves += [(f"end of the {_RUN_SHORT[k]}", r.chain.rho) for k, r in done.items()]
        blocks.append(line_figure("rho", "The stationary law on the grid at the initial policy and at the flows' "
                                  "end points.", [{"x": x, "ys": curves, "xlabel": xname, "ylabel": "rho",
                                                   "logy": True}]))
    elif len(family.axes) == 2:
        ax0, ax1 = family.axes
        ext = (ax0.lo, ax0.hi, ax1.lo, ax1.hi)
        names = family.spec.state_names
        panels = []
        for k, r in done.items():
            steps = _snapshot_steps(r, 3)
            for s in (steps[1:] if k == "gaussian" else steps[-1:]):
                panels.append({"z": r.means(r.snaps[s]).reshape(family.shape), "extent": ext, "xlabel": names[0],
                               "ylabel": names[1], "centered": True, "label": "mean action",
                               "title": f"{'Gaussian' if k == 'gaussian' else 'particles'}, t = {_fmt(r.times[s], 3)}"})
        blocks.append(image_figure("policy", "The mean action per grid state along the flows (blue negative, red "
                                   "positive).", panels[:3]))
        rho_panels = [{"z": a.initial_chain.rho.reshape(family.shape), "extent": ext, "xlabel": names[0],
                       "ylabel": names[1], "log": True, "label": "rho", "title": "initial policy"}]
        rho_panels += [{"z": r.chain.rho.reshape(family.shape), "extent": ext, "xlabel": names[0], "ylabel": names[1],
                        "log": True, "label": "rho", "title": f"end of the {_RUN_SHORT[k]}"} for k, r in done.items()]
        blocks.append(image_figure("rho", "The stationary law on the grid (logarithmic colour scale, cut at 1e-12 of "
                                   "the largest value) at the initial policy and at the flows' end points.",
                                   rho_panels))
    return Section("Gradient flows", tuple(blocks))


def _grid_vs_lq(family, v: _View) -> Section:
    from otgeom.report.plots import line_figure

    a: GridAnalysis = v.a
    runs, chk = a.finished, a.lq_check
    title = "Against the LQ closed form: the seed's own test"
    if chk is None:
        return Section(title, (Para("No LQ reference: the linearisation at 0 has no stabilising Riccati solution "
                                    "or no flow ran." ),))
    A, B, Qc, R, _ = a.lq_reference
    K, Jstar, predicted = chk.K, chk.J_star, chk.predicted_gap
    ax = family.axes[0]
    h, sigma = ax.width, ax.noise
    best = runs[chk.best]
    Jgrid = float(best.J[-1])
    blocks: list[Any] = [
        Para("Where the optimal policy is known analytically, the gradient flow computed from the derived formulas "
             f"must converge to it. This family is the scalar LQ system $A = {_fmt(A, 6)}$, $B = {_fmt(B, 6)}$, "
             f"$Q_c = {_fmt(Qc, 6)}$, $R = {_fmt(R, 6)}$, $W = \\sigma^2 = {_fmt(sigma ** 2, 6)}$ (THEORY.md section 5) "
             "on a grid; its optimum, from scipy's discrete algebraic Riccati solver (an outside reference), is the "
             "deterministic linear feedback"),
        Equation(f"a = -K^* x,\\qquad K^* = {_fmt(K, 10)},\\qquad J^* = P^* W = {_fmt(Jstar, 10)}", "LQ optimum"),
        Para("The grid snaps the state to a cell centre every step. With $\\sigma/h = "
             f"{_fmt(sigma / h, 4)}$ the rounding error is uniform on $[-h/2, h/2]$ and independent of the step up to "
             f"terms of order $e^{{-2\\pi^2\\sigma^2/h^2}} = e^{{-{_fmt(2 * np.pi ** 2 * sigma ** 2 / h ** 2, 4)}}}$, "
             "so away from the boundary the grid chain is the LQ system with noise variance $W + h^2/12$: the same "
             "optimal gain (it does not depend on $W$) and the optimal cost larger by $P^* h^2/12$. The policy error "
             "below is $\\max_i |m_i + K^* x_i|$ over the inner half of the grid ($|x_i| \\le L/2$), $m_i$ the mean "
             "action of state $i$."),
    ]
    rows = [("LQ optimum $J^*$ (Riccati)", _fmt(Jstar, 10), ""),
            ("grid: $J$ at the end of the " + ("Gaussian" if best.kind == "gaussian" else "particle") + " flow",
             _fmt(Jgrid, 10), best.reason),
            ("$J_{\\text{grid}} - J^*$", _fmt(Jgrid - Jstar, 8), ""),
            ("predicted $P^* h^2/12$", _fmt(predicted, 8),
             f"relative difference {_fmt(abs(Jgrid - Jstar - predicted) / predicted, 2)}")]
    curves, gaps = [], []
    for k, r in runs.items():
        t, err = chk.inner_error[k]
        curves.append((_run_name(k, family), t, err))
        spread = chk.spread[k]
        rows.append((f"policy error at the end, {_RUN_SHORT[k]}", _fmt(err[-1], 3),
                     f"from {_fmt(err[0], 3)} at $t = 0$; largest " + ("$s_i$" if r.kind == "gaussian" else
                                                                        "particle spread")
                     + f" at the end {_fmt(spread, 3)}"))
        floor = 64 * np.finfo(float).eps * max(1.0, float(np.abs(r.J).max()))
        gaps.append((f"J - J(end), {k}", r.times, _until_floor(r.J - r.J[-1], floor)))
    gaps.append(("J - J* (LQ), Gaussian" if best.kind == "gaussian" else "J - J* (LQ), particles", best.times,
                 best.J - Jstar))
    gaps.append(("reference P* h^2/12", best.times, np.full(best.times.size, predicted)))
    blocks += [
        Table(("quantity", "value", "note"), tuple(rows)),
        line_figure("lq", "The flows against the LQ answer: the policy error on the inner half of the grid, and J(t) "
                    "against the flow's own end point and against the Riccati optimum J*.", [
                        {"ys": curves, "xlabel": "flow time t", "ylabel": "max |m_i + K* x_i|, |x_i| <= L/2",
                         "logy": True},
                        {"ys": gaps, "xlabel": "flow time t", "ylabel": "", "logy": True}]),
    ]
    return Section(title, tuple(blocks))


def _grid_end_point(family, v: _View) -> Section:
    """A grid family without an analytic optimum: the flows' end point against the zero action, and its shape."""
    from otgeom.numeric.grid import BOUNDARY_TOLERANCE
    from otgeom.report.plots import line_figure

    a: GridAnalysis = v.a
    runs, chk = a.finished, a.zero_check
    title = "The flows' end point against the zero action"
    if chk is None:
        return Section(title, (Para("No flow ran (see the flow section)."),))
    zero = chk.zero
    best = runs[chk.best]
    rows = [("zero action ($a = 0$ in every state)", _fmt(zero.J, 8))]
    rows += [(f"end of the {_RUN_SHORT[k]}", _fmt(r.J[-1], 8)) for k, r in runs.items()]
    blocks: list[Any] = [
        Para("No closed-form optimum is known for this family, so the flows' end point is compared with doing "
             "nothing: the deterministic policy $a = 0$ in every state (one particle at 0), through the same chain "
             "code. Average cost $J$:"),
        Table(("policy", "average cost J"), tuple(rows)),
        Para(f"The best end point costs {_fmt(best.J[-1] / zero.J, 4)} times the zero action "
             f"({_fmt(100 * (1 - best.J[-1] / zero.J), 3)} % less); "
             + ("it is a converged optimum (g-norm below the tolerance)." if best.converged else
                "it is where the flow stopped, not a certified optimum (the g-norm was still "
                f"{_fmt(best.G[-1], 3)}).")),
    ]
    if chk.upright is not None:
        share = {(k if k == "zero action" else f"end of the {_RUN_SHORT[k]}"): x for k, x in chk.upright.items()}
        blocks += [Para("Measured share of time upright, the stationary mass of the states with $|\\theta| < \\pi/4$ "
                        "(a quarter of the circle; $\\theta = 0$ is upright):"),
                   Table(("policy", "share of time upright"), tuple((k, _fmt(x, 4)) for k, x in share.items()))]
    blocks += [Para("Certificates of the chain at the best end point:"),
               _grid_certificates(family, best.chain, BOUNDARY_TOLERANCE)]
    if len(family.axes) == 1:
        x = family.points[:, 0]
        ys = [(f"end of the {_RUN_SHORT[k]}", r.means()) for k, r in runs.items()]
        ref = a.lq_reference
        text = ""
        if ref is not None:
            K = chk.K_linearised
            ys.append(("reference: LQ of the linearisation at 0, -K x", -K * x))
            text = (f"At the origin the end point's feedback has slope {_fmt(chk.slope_at_0, 4)} (central difference "
                    f"over the cells beside ${latex(family.symbols[0][0])} = {_fmt(chk.slope_cell, 4)}$); the LQ "
                    "problem of the "
                    "dynamics and cost linearised there "
                    f"($A = {_fmt(ref[0], 6)}$, $B = {_fmt(ref[1], 6)}$, $Q_c = {_fmt(ref[2], 6)}$, "
                    f"$R = {_fmt(ref[3], 6)}$, $W = \\sigma^2$) has $-K = {_fmt(-K, 4)}$. Away from the origin they "
                    f"differ: the largest $|m_i + K x_i|$ on the grid is {_fmt(chk.largest_gap, 4)}, at "
                    f"$x = {_fmt(chk.largest_gap_at, 4)}$: the optimal feedback is nonlinear.")
        blocks.append(line_figure("endpoint", "The mean action of the flows' end points against the state"
                                  + (", and the LQ feedback of the linearisation at 0 (dashed)." if ref else "."),
                                  [{"x": x, "ys": ys, "xlabel": family.spec.state_names[0], "ylabel": "mean action"}]))
        if text:
            blocks.insert(len(blocks) - 1, Para(text))
    return Section(title, tuple(blocks))


def _grid_result(family, v: _View) -> Section:
    return _grid_vs_lq(family, v) if family.name == "grid-linear" else _grid_end_point(family, v)


SECTIONS: dict[str, tuple[Callable, ...]] = {
    "finite": (_finite_definitions, _finite_regularity, _finite_chain, _finite_geometry, _finite_gradient,
               _finite_second_order, _finite_optimum, _finite_newton, _finite_plots),
    "lq": (_lq_definitions, _lq_regularity, _lq_chain, _lq_optimum, _lq_plots),
    "grid": (_grid_definitions, _grid_chain, _grid_flow, _grid_result),
}


def _param_args(params: dict | None) -> str:
    """The user's parameter overrides as command-line text: `` --param k=v`` for each (empty if none); v is JSON,
    except lq's ``example``, a bare word as the command line takes it."""
    import shlex

    text = {k: _json(v) if k == "example" else _json_value(v) for k, v in (params or {}).items()}
    return "".join(f" --param {shlex.quote(f'{k}={text[k]}')}" for k in sorted(text))


def _exact_json(v):
    """An exact value as JSON-able data the family constructors accept: ints, ``"p/q"`` strings, nested lists."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [_exact_json(x) for x in v]
    r = sp.Rational(v)
    return int(r) if r.q == 1 else f"{r.p}/{r.q}"


def _same_exact(a, b) -> bool:
    return _exact_json(a) == _exact_json(b)


def rebuild_params(family) -> dict:
    """Parameter overrides that rebuild ``family`` from its defaults: what ``--param`` must say to reproduce it.

    Used for the reproduce command when the caller (the Python API) gave none.  Finite families: the
    structural integers and the parameter values that differ from the defaults; LQ: ``example`` when the
    family is that example unchanged, otherwise every matrix; grid families: the values that differ.
    """
    from otgeom.families import family as make
    from otgeom.familyfile import family_source, load_family

    source = family_source(family)
    if source is not None:  # a family file: the values that differ from the file's defaults
        base = load_family(source).values
        return {k: _exact_json(v) for k, v in family.values.items() if not _same_exact(base[k], v)}
    kind = supports(family).kind
    if kind == "grid":  # floats, integers and words: the values that differ
        default = family.spec.instantiate().values
        return {k: v for k, v in family.values.items() if default.get(k) != v}
    if kind == "lq":
        if family.example:
            ref = make("lq", example=family.example).exact
            if all(_same_exact(ref[k], v) for k, v in family.exact.items()):
                return {"example": family.example}
        return {k: _exact_json(v) for k, v in family.exact.items()}
    default = make(family.name).structure
    out: dict = {k: v for k, v in family.structure.items() if default.get(k) != v}
    base = make(family.name, **out).values
    out.update({k: _exact_json(v) for k, v in family.values.items() if not _same_exact(base[k], v)})
    return out


def _cli_family(family) -> str:
    """How the command line names ``family``: its name, or ``--file PATH`` for a family file."""
    import shlex

    from otgeom.familyfile import family_source

    source = family_source(family)
    return family.name if source is None else f"--file {shlex.quote(source)}"


def _command(family, params: dict | None) -> str:
    return f"otgeom report {_cli_family(family)}{_param_args(params)} --format FORMAT"


def _json(v) -> str:
    import json

    return v if isinstance(v, str) and v.isidentifier() else json.dumps(v, separators=(",", ":"))


def _json_value(v) -> str:
    """A parameter value as the JSON ``--param`` reads (a word such as a boundary rule in quotes)."""
    import json

    return json.dumps(v, separators=(",", ":"))


def build_report(family, seed: int = 0, claims: bool = True, params: dict | None = None,
                 t_end: float = 12.0, analysis: Any = None, verdicts: Sequence[Any] | None = None,
                 comparison: Any = None) -> Report:
    """The report of ``family`` (a :class:`~otgeom.families.Family`, an LQ family or a grid family).

    The numbers come from ``analysis`` (default: :func:`otgeom.analysis.analyse` with flow horizon ``t_end``) and
    the claim table from ``verdicts`` (default: :func:`otgeom.suite.run_suite` with ``seed``, one forked process per
    core); the sections only typeset them, so a notebook that computed either can pass it in.  ``comparison`` (an
    :class:`otgeom.methods.Comparison` of this family) adds the section "Methods compared" before the claims.
    ``claims=False`` leaves the claim table out (faster); ``params`` are the user's parameter overrides, echoed in
    the reproduce command (default: :func:`rebuild_params`, the overrides that rebuild ``family`` from its defaults).
    """
    kind = supports(family).kind  # the family's kind picks its sections (otgeom.families.protocol)
    if params is None:
        params = rebuild_params(family)
    if analysis is None:
        analysis = analyse(family, t_end=t_end)
    elif (analysis.family, analysis.t_end) != (family.label, t_end):
        from otgeom.errors import ParameterError

        raise ParameterError(f"the record given is of {analysis.family or 'an unnamed family'} with t_end = "
                             f"{analysis.t_end}, not of {family.label} with t_end = {t_end}: pass "
                             "otgeom.analysis.analyse(family, t_end) for this family")
    view = _View(analysis, params, _Definitions())
    extra: tuple = ()
    sections_of = SECTIONS[kind]
    if kind == "finite":
        if analysis.degenerate:
            sections_of = (_finite_definitions, _finite_degenerate)
        elif analysis.derivation is None:  # outside the closed-form class: the numeric route
            sections_of = (_finite_definitions, _finite_regularity, _finite_no_closed_form, _finite_optimum,
                           _finite_newton, _finite_plots)
        values = "; ".join([f"{k} = {v}" for k, v in family.structure.items()]
                           + [f"{k} = {_exact(v)}" for k, v in family.values.items()])
        D = analysis.derivation
        extra = (("parameters (exact)", values),
                 ("derivation digest", D.digest if D is not None else "none (no closed form)"),
                 ("reference policy", REFERENCE_POLICY))
    elif kind == "grid":
        values = "; ".join(f"{k} = {v}" for k, v in family.values.items())
        extra = (("parameters", values), ("grid", f"{family.n_states} states: " + "; ".join(
            f"{ax.name} {ax.cells} cells on [{_fmt(ax.lo, 6)}, {_fmt(ax.hi, 6)}], {ax.boundary}, noise {_fmt(ax.noise, 4)}"
            for ax in family.axes)), ("flows", f"Gaussian per state and {_particles(family)} quantile particles per state, "
                                               f"from the family's initial policy; tolerance {_fmt(GRID_TOL)}"))
    else:
        values = "; ".join(f"{k} = {_exact(v)}" for k, v in family.exact.items())
        extra = (("parameters (exact)", values),) + ((("example", family.example),) if family.example else ())
    sections = [fn(family, view) for fn in sections_of]
    if comparison is not None:
        from otgeom.report.compare import compare_section

        if comparison.label != family.label:
            from otgeom.errors import ParameterError

            raise ParameterError(f"the comparison given is of {comparison.label}, not of {family.label}")
        sections.append(compare_section(comparison))
    if claims:
        if verdicts is None:
            from otgeom.suite import run_suite

            verdicts = run_suite([family], seed=seed, workers=None)
        sections.append(_claims_section(family, seed, verdicts))
    cmd = (_command(family, params) + (f" --seed {seed}" if seed else "") + ("" if claims else " --no-claims")
           + (" --compare" if comparison is not None else ""))
    return Report(f"otgeom report: {family.label}", _meta(family, seed, cmd, extra), tuple(sections))
