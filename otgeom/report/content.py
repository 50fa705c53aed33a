r"""What a report says about a family: definitions, assumptions, chain, geometry, flow, optimum, claims, plots.

:func:`build_report` returns a :class:`~otgeom.report.document.Report` (data only, nothing written).
The sections are one function each, listed per family kind in ``SECTIONS``; a later capability adds
its section by adding a function there.  Every number comes from a fixed seed or a deterministic
computation, and the report states the otgeom version, the exact parameters and the seed, so the
same command gives the same bytes.

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
"""
from __future__ import annotations

import multiprocessing
import os
from typing import Any, Callable

import numpy as np
import sympy as sp

from otgeom.errors import NotConvergedError
from otgeom.report.document import Equation, Literal, Para, Report, Section, Table
from otgeom.report.plots import line_figure
from otgeom.textfmt import number as _fmt  # the one number formatter of text output
from otgeom.typeset import latex, latex_lines

__all__ = ["build_report", "rebuild_params", "SECTIONS", "REFERENCE_POLICY"]

#: the reference Gaussian policy of finite-family reports (certificates are computed there; the flow starts there)
REFERENCE_POLICY = "means 0 and covariances I in every state"

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


_WORKER_JOB: dict[str, Any] = {}  # set in each forked claim worker by _quiet_worker, never in the parent


def _quiet_worker(family, seed: int) -> None:
    """A claim worker: signals are the parent's business (it terminates the pool), and nothing reaches the terminal.
    ``family`` reaches the worker through fork (a fork context's initargs are not pickled)."""
    import signal

    _WORKER_JOB.update(family=family, seed=seed)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _run_claim(name: str):
    return _run_claim_here(name, _WORKER_JOB["family"], _WORKER_JOB["seed"])


class _PendingClaims:
    """The report's claims, run by two forked workers while the other sections are built (two cores), or in
    this process where fork is not available.  Results are the same either way: every claim seeds its own rng."""

    def __init__(self, family, seed: int):
        from proofs_checks import CLAIMS

        self.family, self.seed = family, seed
        self.names = [c.name for c in CLAIMS if c.applies_to(family)]
        self.pool = self.async_result = None
        if len(self.names) > 1 and (os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods():
            self.pool = multiprocessing.get_context("fork").Pool(2, initializer=_quiet_worker,
                                                                 initargs=(family, seed))
            self.async_result = self.pool.map_async(_run_claim, self.names, chunksize=1)

    def results(self) -> list:
        if self.pool is None:
            return [_run_claim_here(n, self.family, self.seed) for n in self.names]
        try:
            return self.async_result.get()
        finally:
            self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def _run_claim_here(name: str, family, seed: int):
    from proofs_checks import claim

    return claim(name).run(family, seed=seed)


def _claims_section(family, seed: int, pending: "_PendingClaims | None" = None) -> Section:
    pending = pending or _PendingClaims(family, seed)
    rows = []
    for r in pending.results():
        err = "-" if r.error is None else _fmt(r.error, 3)
        rows.append((r.claim, r.verdict, err, _fmt(r.tolerance, 3), r.tolerance_reason, r.witness))
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
def _finite_definitions(family, ctx) -> Section:
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


def _finite_regularity(family, ctx) -> Section:
    from otgeom.evaluate import evaluate

    ev = ctx["eval"] = evaluate(family, ctx["policy"], allow_unconverged=True)
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
    ))


def _finite_chain(family, ctx) -> Section:
    from otgeom.symbolic.chain import gaussian_chain

    C = gaussian_chain(family)
    n, d = family.n_states, family.action_dim
    pol = "\\mathcal{N}(m_s, \\sigma_s^2)" if d == 1 else "\\mathcal{N}(m_s, \\Sigma_s)"
    blocks: list[Any] = [Para(
        f"Gaussian policies $\\pi_s = {pol}$. Transition probabilities and costs are closed-form Gaussian "
        "expectations; $\\rho$ comes from the Markov chain tree theorem ($\\tau_s$ are spanning-tree sums), "
        "$h$ from the all-minors forest theorem, normalised so that $\\rho^\\top h = 0$. Named definitions, "
        "in dependency order:")]
    blocks += ctx["defs"].equations(C.definitions)
    blocks.append(Para("The action-value function and its action gradient:"))
    blocks += ctx["defs"].equations([(f"Q({s}, a)", C.outputs["Q"][s]) for s in range(n)])
    return Section("The chain: stationary law, ergodic cost, Poisson solution", tuple(blocks))


def _finite_geometry(family, ctx) -> Section:
    D = ctx["D"]
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
        blocks += _christoffel_blocks(family, ctx) + _curvature_blocks(family, ctx)
    else:
        blocks.append(Para("Christoffel symbols, geodesics and sectional curvature are derived in the coordinates "
                           "$\\theta = (m_s, \\sigma_s)$ of d = 1 families; for d > 1 the second-order objects are "
                           "bilinear forms on tangent fields (`otgeom.numeric.second_order.Linearization`)."))
    return Section("Geometry", tuple(blocks))


def _coord_tex(family) -> list[str]:
    from otgeom.symbolic.chain import gaussian_coordinates

    return [latex(x) for x in gaussian_coordinates(family.n_states, family.action_dim)[2]]


def _second_order_values(family, ctx) -> dict:
    """The symbolic second-order outputs (d = 1) evaluated at the reference policy, computed once per report."""
    if "S2" not in ctx:
        from otgeom.symbolic.second_order import second_order

        D2 = ctx["D2"] = second_order(family)
        args = [float(v) for v in family.parameter_values()] + list(ctx["policy"].coordinates()) \
            + [0.0] * (2 * family.n_states)
        ctx["S2_args"] = args
        ctx["S2"] = {k: np.array(v, float) for k, v in D2.evaluator(
            ["christoffel", "hessian_coords", "hessian_riemannian"])(*args).items()}
    return ctx["S2"]


#: the report lists every Christoffel symbol for families with at most this many states
CHRISTOFFEL_TABLE_MAX_STATES = 3


def _christoffel_blocks(family, ctx) -> list:
    S2 = _second_order_values(family, ctx)
    D2 = ctx["D2"]
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
                                 _fmt(S2["christoffel"][k, i, j], 6)))
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
                f"`otgeom derive {family.name}{_param_args(ctx['params'])} --second-order` "
                "prints them.")),
        *listed,
    ]


def _curvature_blocks(family, ctx) -> list:
    if family.n_states > 3:
        return [Para("Sectional curvatures are derived for n <= 3 (the Riemann tensor needs second derivatives of "
                     "every $\\rho_s$); this family has n = %d." % family.n_states)]
    from otgeom.symbolic.second_order import curvature

    _second_order_values(family, ctx)
    sec = np.array(curvature(family).evaluator(["sectional"])(*ctx["S2_args"])["sectional"], float)
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


def _finite_gradient(family, ctx) -> Section:
    from otgeom.symbolic.chain import gaussian_chain

    C = gaussian_chain(family)
    D = ctx["D"]
    n, d = family.n_states, family.action_dim
    blocks: list[Any] = [Para("The Wasserstein gradient of $J$ is the action gradient of $Q$ (THEORY.md section 3):"),
                         Equation(r"\operatorname{grad} J(s, a) = \nabla_a Q(s, a), \qquad "
                                  r"\frac{\partial J}{\partial m_s} = \rho_s\, \mathbb{E}_{\pi_s}[\nabla_a Q(s, \cdot)]",
                                  "grad J")]
    blocks += ctx["defs"].equations([(f"\\partial_{{a{'_' + str(i) if d > 1 else ''}}} Q({s}, a)", C.outputs["gradQ"][s][i])
                                     for s in range(n) for i in range(d)])
    coords = [x for x in D.inputs[len(family.parameter_symbols()):]]
    flow = D.outputs["flow"]
    blocks.append(Para("The Gaussian-projected gradient flow "
                       + ("$\\dot m_s = -\\mathbb{E}[\\partial_a Q]$, $\\dot\\sigma_s = -\\sigma_s \\mathbb{E}[\\partial_a^2 Q]$"
                          if d == 1 else "$\\dot m_s = -\\mathbb{E}[\\nabla_a Q]$, $\\dot\\Sigma_s = -(H_s\\Sigma_s + "
                          "\\Sigma_s H_s)$ with $H_s = \\mathbb{E}[\\nabla_a^2 Q]$")
                       + ", in closed form:"))
    blocks += ctx["defs"].equations([(f"\\dot{{{latex(x)}}}", v) for x, v in zip(coords, flow)])
    used = {s for v in flow for s in v.free_symbols}
    blocks += ctx["defs"].equations([(s, e) for s, e in D.definitions
                                     if s in used and str(s).startswith(("EgradQ", "EhessQ"))])
    extra = len(D.definitions) - len(C.definitions)
    blocks.append(Para(f"The coordinate gradient $\\partial J / \\partial \\theta$ is derived independently, by "
                       f"forward-mode differentiation of the closed-form $J(\\theta)$ through the named definitions "
                       f"({extra} further definitions, printed by `otgeom derive {family.name}`); the claim "
                       f"`policy-gradient` compares the two."))
    return Section("Gradient and flow equations", tuple(blocks))


def _finite_flow(family, ctx):
    """Integrate the derived flow from the reference policy; the plot data and the end point."""
    from otgeom.numeric.flows import integrate

    D = ctx["D"]
    params = [float(v) for v in family.parameter_values()]
    f_flow = D.evaluator(["flow"])
    f_J = D.evaluator(["J", "grad_norm2"])
    theta0 = ctx["policy"].coordinates()
    t = np.linspace(0.0, ctx["t_end"], 121)
    Y = integrate(lambda _t, y: np.asarray(f_flow(*params, *y)["flow"], float), theta0, t, max_evaluations=20_000)
    vals = [f_J(*params, *y) for y in Y]
    J = np.array([float(v["J"]) for v in vals])
    g2 = np.array([float(v["grad_norm2"]) for v in vals])
    return t, Y, J, g2, params


def _finite_optimum(family, ctx) -> Section:
    import scipy.linalg

    from otgeom.symbolic.chain import gaussian_coordinates

    try:
        t, Y, J, g2, params = ctx["flow"] = _finite_flow(family, ctx)
    except NotConvergedError as exc:
        return Section("Optimum and local convexity", (Para(f"The derived flow was not integrated to the end, so no "
                                                            f"optimum is reported: {exc}."),))
    D = ctx["D"]
    n, d = family.n_states, family.action_dim
    names = [str(x) for x in gaussian_coordinates(n, d)[2]]
    theta = Y[-1]
    blocks: list[Any] = [Para(f"The flow is integrated from the reference policy to $t = {_fmt(t[-1])}$ (DOP853, "
                              f"rtol 1e-10). At the end point $J = {_fmt(J[-1], 10)}$ and "
                              f"$g(\\operatorname{{grad}} J, \\operatorname{{grad}} J) = {_fmt(g2[-1], 3)}$.")]
    if not g2[-1] < 1e-12:
        blocks.append(Para("The gradient norm is not below 1e-12 there, so no optimum is claimed and no Hessian "
                           "spectrum is reported."))
        return Section("Optimum and local convexity", tuple(blocks))
    grad = D.evaluator(["dJ_dtheta"])
    k = theta.size
    H = np.empty((k, k))
    for j in range(k):
        step = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = step
        gp = np.asarray(grad(*params, *(theta + e))["dJ_dtheta"], float)
        gm = np.asarray(grad(*params, *(theta - e))["dJ_dtheta"], float)
        H[:, j] = (gp - gm) / (2 * step)
    H = 0.5 * (H + H.T)
    rows = [(nm, _fmt(v, 6)) for nm, v in zip(names, theta)]
    blocks += [Para("End point of the flow (the optimum found):"), Table(("coordinate", "value"), tuple(rows))]
    if d == 1:
        G = np.asarray(D.evaluator(["metric"])(*params, *theta)["metric"], float)
        lam = scipy.linalg.eigh(H, G, eigvals_only=True)
        blocks += [Para("Spectrum of the Riemannian Hessian relative to the metric, $\\operatorname{eig}(G^{-1}H)$, "
                        "with $H$ the coordinate Hessian of $J(\\theta)$ by central differences of the derived gradient "
                        "(step $10^{-5}$, error about $10^{-9}$); at a critical point the connection term vanishes, so "
                        "this is the Riemannian Hessian:"),
                   Equation(r"\operatorname{eig}(G^{-1}H) = \left(" + ", ".join(_fmt(x, 5) for x in lam) + r"\right)",
                            "spectrum")]
        verdict = ("all positive: $J$ is locally geodesically convex at this point" if lam.min() > 0 else
                   "not all positive: not a strict local minimum")
        blocks.append(Para(f"Smallest eigenvalue {_fmt(lam.min(), 5)}, {verdict}."))
        if np.abs(theta[1::2]).min() < 1e-6:
            blocks.append(Para(
                "The end point lies at the boundary $\\sigma \\to 0$ (a deterministic policy). This is expected: on a "
                "finite family $J$ restricted to one state's $(m_s, \\sigma_s^2)$ is a ratio of two solutions of the "
                "heat equation, so $\\partial^2 J/\\partial m_s^2 = 0$ at every interior critical point and the "
                "Gaussian family has no non-degenerate interior minimum (see `otgeom.examples`). $J$ is even in "
                "$\\sigma_s$, so the central differences above, which step across $\\sigma_s = 0$, are those of a "
                "smooth function."))
        ctx["lambda_min"] = float(lam.min())
    else:
        lam = np.linalg.eigvalsh(H)
        blocks.append(Para("Eigenvalues of the coordinate Hessian (central differences of the derived gradient): "
                           "(" + ", ".join(_fmt(x, 5) for x in lam) + ")."))
        k, iu = d + d * (d + 1) // 2, np.triu_indices(d)
        smallest = np.inf
        for s in range(n):  # the end point's covariances, unvalidated (they may have left the open cone)
            C = np.zeros((d, d))
            C[iu] = theta[s * k + d:(s + 1) * k]
            smallest = min(smallest, float(np.linalg.eigvalsh(C + np.triu(C, 1).T).min()))
        if smallest < 1e-6:
            blocks.append(Para(
                "The end point lies at the boundary of the covariance cone ($\\Sigma_s \\to 0$, a deterministic "
                "policy), where the upper-triangle coordinates of $\\Sigma_s$ are not smooth coordinates of the "
                "family, so these eigenvalues certify nothing about convexity; the next section gives the spectrum of "
                "the full-space Hessian at the particle optimum."))
    return Section("Optimum and local convexity", tuple(blocks))


def _finite_second_order(family, ctx) -> Section:
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
    from otgeom.errors import OtgeomError
    from otgeom.numeric.second_order import coordinate_fields, gaussian_second_order

    S2 = _second_order_values(family, ctx)
    try:
        so = gaussian_second_order(ctx["prims"], ctx["policy"])
    except OtgeomError as exc:  # e.g. the quadrature does not converge: say so instead of failing the report
        blocks.append(Para(f"The numeric second-order matrices could not be computed at the reference policy: {exc}"))
        return Section("Second order: Hessians on the Gaussian family and on the full space", tuple(blocks))
    lin = so.lin
    perp = lin.gradient - lin.project_affine(lin.gradient)
    fields = coordinate_fields(ctx["policy"], lin.wp)
    K = len(fields)
    II = np.array([[lin.connection(perp, fields[i], fields[j]) for j in range(K)] for i in range(K)])
    II = 0.5 * (II + II.T)
    routes = float(np.abs(S2["hessian_riemannian"] - so.hessian_riemannian).max())
    relation = float(np.abs(so.hessian_riemannian - so.hessian_full - II).max())
    names = ", ".join(_coord_tex(family))
    blocks += [
        Para(f"At the reference policy, in the coordinates $\\theta = ({names})$: the coordinate Hessian and "
             "$\\operatorname{Hess}_{\\text{sub}}$ from the symbolic derivation, $\\operatorname{Hess}_g$ on the same "
             "tangent vectors from quadrature, linear solves and the Hessian-vector product:"),
        Equation(f"\\frac{{\\partial^2 J}}{{\\partial\\theta^2}} = {_mat(S2['hessian_coords'])}", "hessian_coords"),
        Equation(f"\\operatorname{{Hess}}_{{\\text{{sub}}}} J = {_mat(S2['hessian_riemannian'])}", "hessian_riemannian"),
        Equation(f"\\operatorname{{Hess}}_g J = {_mat(so.hessian_full)}", "hessian_full"),
        Table(("quantity", "value", "what it shows"), (
            ("$\\max|\\operatorname{Hess}_{\\text{sub}}^{\\text{symbolic}} - \\operatorname{Hess}_{\\text{sub}}^{"
             "\\text{quadrature}}|$", _fmt(routes, 3),
             f"two independent routes (closed form vs {lin.wp.points.shape[1]}-node feature-resolving quadrature and "
             "linear solves)"),
            ("$|\\operatorname{grad}^\\perp J|_g$", _fmt(np.sqrt(max(lin.metric(perp, perp), 0.0)), 4),
             "the part of $\\nabla_a Q$ the Gaussian family cannot follow"),
            ("$\\max|\\operatorname{Hess}_{\\text{sub}} - \\operatorname{Hess}_g|$",
             _fmt(float(np.abs(so.hessian_riemannian - so.hessian_full).max()), 4),
             "the submanifold and full-space Hessians differ here"),
            ("$\\max|\\operatorname{Hess}_{\\text{sub}} - \\operatorname{Hess}_g - g(\\operatorname{grad}^\\perp J, "
             "\\mathrm{II})|$", _fmt(relation, 3), "the Gauss-formula relation, numerically"))),
        Para("The claims `frozen-second-variation`, `levi-civita-hessian`, `submanifold-hessian`, "
             "`second-fundamental-form` and `connection-term` check these forms against second derivatives of $J$ "
             "along push-forward curves and numerically integrated geodesics (Taylor-remainder slopes)."),
    ]
    return Section("Second order: Hessians on the Gaussian family and on the full space", tuple(blocks))


#: particle Newton in reports: particles per state, initial spread and seed (fixed, so the report is reproducible)
NEWTON_PARTICLES, NEWTON_SPREAD, NEWTON_SEED = 3, 0.5, 0


def _finite_newton(family, ctx) -> Section:
    """Riemannian Newton on particles (the full space), its error sequence, and the Hessian spectrum at the optimum."""
    from otgeom.errors import OtgeomError
    from otgeom.numeric.newton import error_order, particle_hessian_rate, particle_newton
    from otgeom.numeric.policies import ParticlePolicy

    n, d = family.n_states, family.action_dim
    rng = np.random.default_rng(NEWTON_SEED)
    shape = (n, NEWTON_PARTICLES, d)
    start = ParticlePolicy(rng.normal(0.0, NEWTON_SPREAD, shape))
    blocks: list[Any] = [Para(
        f"Riemannian Newton on particle policies ({NEWTON_PARTICLES} equally weighted particles per state, drawn "
        f"from $\\mathcal{{N}}(0, {NEWTON_SPREAD}^2)$ with seed {NEWTON_SEED}), the full space discretised: metric "
        "$\\operatorname{diag}(\\rho_s w_{si})$ on the positions, gradient $\\nabla_a Q$ at the particles, Hessian "
        "$\\operatorname{Hess}_g J$ from the Hessian-vector product. Each step solves "
        "$\\operatorname{Hess}_g J(\\eta, \\cdot) = -g(\\operatorname{grad} J, \\cdot)$; where the Hessian is "
        "indefinite it is replaced by its positive-definite modification (|eigenvalues|), reported as "
        "`pd-modified`; a backtracking line search keeps $J$ decreasing.")]
    try:
        r = particle_newton(ctx["prims"], start)
    except OtgeomError as exc:
        blocks.append(Para(f"Newton did not run: {exc}"))
        return Section("Newton on particles", tuple(blocks))
    errs = r.errors
    rows = tuple((str(k), _fmt(st.J, 12), _fmt(st.grad_norm, 3), _fmt(e, 3), st.kind)
                 for k, (st, e) in enumerate(zip(r.steps, errs)))
    blocks.append(Table(("step", "J", "$|\\operatorname{grad} J|_g$", "$\\max|x_k - x_{\\text{final}}|$", "step kind"),
                        rows))
    if not r.converged:
        blocks.append(Para(f"Newton did not reach the tolerance in {len(r.steps)} steps; no optimum is claimed."))
        return Section("Newton on particles", tuple(blocks))
    order = error_order(errs)
    lam = particle_hessian_rate(ctx["prims"], ParticlePolicy(r.theta.reshape(shape), start.weights))["eigenvalues"]
    text = (f"Estimated order of convergence from the last three errors above 1e-12: "
            f"{'-' if order is None else _fmt(order, 3)} (2 is quadratic). Spectrum of $\\operatorname{{Hess}}_g J$ "
            f"relative to the metric at the optimum: smallest {_fmt(lam.min(), 5)}, largest {_fmt(lam.max(), 5)}"
            f"{' (a non-degenerate local minimum)' if lam.min() > 0 else ''}.")
    if "flow" in ctx:
        J_flow = float(ctx["flow"][2][-1])
        text += (f" The Gaussian flow's end point has $J = {_fmt(J_flow, 12)}$, the particle optimum "
                 f"$J = {_fmt(r.J, 12)}$ (difference {_fmt(abs(J_flow - r.J), 2)}).")
    blocks.append(Para(text))
    return Section("Newton on particles", tuple(blocks))


def _finite_plots(family, ctx) -> Section:
    from otgeom.symbolic.chain import gaussian_coordinates

    if "flow" not in ctx:
        return Section("Flow trajectories", (Para("No flow plot: the flow was not integrated to the end (see the "
                                                  "optimum section)."),))
    t, Y, J, g2, _ = ctx["flow"]
    names = [str(x) for x in gaussian_coordinates(family.n_states, family.action_dim)[2]]
    gap = J - J[-1]
    # below the round-off floor of J (a few ulps of |J|) the differences are noise: each log curve ends where it
    # first reaches its floor, instead of scattering fragments near 1e-16 after the flow has converged
    floor = 64 * np.finfo(float).eps * max(1.0, float(np.abs(J).max()))
    fig = line_figure("flow", "The derived gradient flow from the reference policy: coordinates, J(t) - J(end) and "
                      "the squared gradient norm.", [
                          {"x": t, "ys": [(nm, Y[:, i]) for i, nm in enumerate(names)], "xlabel": "t",
                           "ylabel": "coordinate"},
                          {"x": t[:-1], "ys": [("J(t) - J(end)", _until_floor(gap[:-1], floor)),
                                               ("|grad J|^2", _until_floor(g2[:-1], floor ** 2))], "xlabel": "t",
                           "ylabel": "", "logy": True}])
    blocks: list[Any] = []
    lam = ctx.get("lambda_min")
    window = (t > t[-1] / 4) & (t < t[-1] / 2) & (gap > 1e-13)
    if lam is not None and window.sum() >= 5:
        measured = -np.polyfit(t[window], np.log(gap[window]), 1)[0]
        blocks.append(Para(f"Predicted linear rate of $J(t) - J^*$ from the Hessian spectrum at the optimum: "
                           f"$2\\lambda_{{\\min}}(G^{{-1}}H) = {_fmt(2 * lam, 5)}$; measured (log-linear fit of "
                           f"$J(t) - J(\\text{{end}})$ on $t \\in [{_fmt(t[-1] / 4, 3)}, {_fmt(t[-1] / 2, 3)}]$): "
                           f"{_fmt(measured, 5)}."))
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


def _lq_definitions(family, ctx) -> Section:
    blocks = [Para("Linear dynamics with Gaussian noise, quadratic cost (plus $\\tau$ times the negative entropy of "
                   "the policy), linear-Gaussian policies (THEORY.md section 5):"),
              Equation(r"x' = A x + B a + w,\quad w \sim \mathcal{N}(0, W),\qquad c(x, a) = x^\top Q_c x + a^\top R a,"
                       r"\qquad \pi_x = \mathcal{N}(-K x, \Sigma)", "model"),
              Table(("parameter", "value"), tuple(
                  (nm, f"${_mat(getattr(family, nm))}$") for nm in ("A", "B", "Qc", "R", "W")) + (
                  ("tau", _fmt(family.tau, 10)),))]
    return Section("Definitions", tuple(blocks))


def _lq_regularity(family, ctx) -> Section:
    from otgeom.numeric.lq import lq_optimum, spectral_radius
    from otgeom.numeric.lq_solvers import stabilising_gain

    opt = ctx["opt"] = lq_optimum(family)
    K0 = ctx["K0"] = stabilising_gain(family)
    rows = (("(A, B) stabilisable", "PBH test on every mode with $|\\lambda| \\ge 1$ (checked when the family is built)"),
            ("open-loop spectral radius $\\rho(A)$", _fmt(spectral_radius(family.A), 6)),
            ("initial gain $K_0$ stabilising", f"$\\rho(A - BK_0) = {_fmt(spectral_radius(family.A - family.B @ K0), 6)}$ < 1"),
            ("optimal closed loop stable", f"$\\rho(A - BK^*) = {_fmt(opt.spectral_radius, 6)}$ < 1"),
            ("Riccati residual (relative)", _fmt(opt.riccati_residual, 2)),
            ("$Q_c \\succeq 0$, $R \\succ 0$, $W \\succ 0$", "checked when the family is built (smallest eigenvalue named "
                                                            "on failure)"))
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


def _lq_chain(family, ctx) -> Section:
    blocks: list[Any] = [Equation(tex, name) for tex, name in _LQ_FORMULAS]
    if family.n == 1 and family.m == 1:
        from otgeom.symbolic.lq import scalar_lq

        S = scalar_lq()
        blocks.append(Para("The scalar case derived by sympy from the definitions (stationarity and the Poisson "
                           "equation solved with a quadratic ansatz, then differentiated):"))
        blocks += [Equation(latex_lines(latex(sp.Symbol(k)), v), k) for k, v in S.outputs.items()
                   if not isinstance(v, (list, tuple))]
    return Section("Chain, geometry, gradient, flow and Hessian", tuple(blocks))


def _lq_optimum(family, ctx) -> Section:
    from otgeom.numeric.lq import hessian_spectrum_at_optimum

    opt = ctx["opt"]
    spec = hessian_spectrum_at_optimum(family, opt)
    blocks: list[Any] = [Para("The optimum from scipy's discrete algebraic Riccati solver (an outside reference):"),
                         Equation(f"K^* = {_mat(opt.K)},\\qquad J^* = {_fmt(opt.J, 10)}", "K*")]
    for key, vals in spec.items():
        vals = np.sort(np.asarray(vals, float))
        blocks.append(Para(f"Riemannian Hessian spectrum at the optimum, {key} part: "
                           f"({', '.join(_fmt(v, 6) for v in vals)}); smallest {_fmt(vals.min(), 6)}, so $J$ is "
                           f"{'locally geodesically strictly convex' if vals.min() > 0 else 'not strictly convex'} "
                           "there."))
    return Section("Optimum and local convexity", tuple(blocks))


def _lq_plots(family, ctx) -> Section:
    from otgeom.numeric.lq_solvers import gradient_flow

    hist = gradient_flow(family, K0=ctx["K0"], n_eval=121)
    rate = float(hist.details["predicted_K_rate"])
    t = np.asarray(hist.t, float)
    keep = hist.K_error > 1e-12
    fig = line_figure("flow", "The gradient flow dK/dt = -2 E_K from K0: relative gain error, relative cost gap, and "
                      "the predicted rate exp(-2 mu_min(M*) t).", [
                          {"x": t[keep], "ys": [("|K - K*| / |K*|", hist.K_error[keep]),
                                                ("(J - J*) / |J*|", np.abs(hist.gap[keep])),
                                                ("predicted exp(-2 mu_min t)", hist.K_error[0] * np.exp(-rate * t[keep]))],
                           "xlabel": "t", "ylabel": "", "logy": True}])
    half = len(t[keep]) // 2
    measured = (f"measured (log-linear fit over the second half of the run): "
                f"{_fmt(-np.polyfit(t[keep][half:], np.log(hist.K_error[keep][half:]), 1)[0], 5)}"
                if len(t[keep]) - half >= 3 else
                "not measured: the gain error is below 1e-12 at fewer than six of the recorded times")
    return Section("Flow trajectories", (
        Para(f"Predicted linear rate of the gain error from the Hessian spectrum at the optimum: "
             f"$2\\mu_{{\\min}}(M^*) = {_fmt(rate, 5)}$; {measured}."),
        fig))


SECTIONS: dict[str, tuple[Callable, ...]] = {
    "finite": (_finite_definitions, _finite_regularity, _finite_chain, _finite_geometry, _finite_gradient,
               _finite_second_order, _finite_optimum, _finite_newton, _finite_plots),
    "lq": (_lq_definitions, _lq_regularity, _lq_chain, _lq_optimum, _lq_plots),
}


def _param_args(params: dict | None) -> str:
    """The user's parameter overrides as command-line text: `` --param k=v`` for each (empty if none)."""
    import shlex

    return "".join(f" --param {shlex.quote(f'{k}={_json(v)}')}" for k, v in sorted((params or {}).items()))


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
    family is that example unchanged, otherwise every matrix.
    """
    from otgeom.families import family as make

    if getattr(family, "kind", "finite") == "lq":
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


def _command(family, params: dict | None) -> str:
    return f"otgeom report {family.name}{_param_args(params)} --format FORMAT"


def _json(v) -> str:
    import json

    return v if isinstance(v, str) and v.isidentifier() else json.dumps(v, separators=(",", ":"))


def build_report(family, seed: int = 0, claims: bool = True, params: dict | None = None,
                 t_end: float = 12.0) -> Report:
    """The report of ``family`` (a :class:`~otgeom.families.Family` or an LQ family).

    ``seed`` drives the claim suite; ``claims=False`` leaves the claim table out (faster);
    ``params`` are the user's parameter overrides, echoed in the reproduce command (default:
    :func:`rebuild_params`, the overrides that rebuild ``family`` from its defaults);
    ``t_end`` is the flow horizon for finite families.
    """
    from otgeom.numeric.policies import GaussianPolicy

    kind = getattr(family, "kind", "finite")
    if params is None:
        params = rebuild_params(family)
    ctx: dict[str, Any] = {"t_end": t_end, "params": params}
    extra: tuple = ()
    if kind == "finite":
        from otgeom.symbolic.geometry import first_order

        ctx["D"] = first_order(family)
        ctx["prims"] = family.primitives()
        ctx["defs"] = _Definitions()
        n, d = family.n_states, family.action_dim
        ctx["policy"] = GaussianPolicy(np.zeros((n, d)), np.broadcast_to(np.eye(d), (n, d, d)).copy())
        values = "; ".join([f"{k} = {v}" for k, v in family.structure.items()]
                           + [f"{k} = {_exact(v)}" for k, v in family.values.items()])
        extra = (("parameters (exact)", values), ("derivation digest", ctx["D"].digest), ("reference policy", REFERENCE_POLICY))
    else:
        values = "; ".join(f"{k} = {_exact(v)}" for k, v in family.exact.items())
        extra = (("parameters (exact)", values),) + ((("example", family.example),) if family.example else ())
    pending = _PendingClaims(family, seed) if claims else None  # the claims run while the sections are built
    try:
        sections = [fn(family, ctx) for fn in SECTIONS[kind]]
        if claims:
            sections.append(_claims_section(family, seed, pending))
    finally:
        if pending is not None:
            pending.close()
    cmd = _command(family, params) + (f" --seed {seed}" if seed else "") + ("" if claims else " --no-claims")
    return Report(f"otgeom report: {family.label}", _meta(family, seed, cmd, extra), tuple(sections))
