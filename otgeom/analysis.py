r"""The numbers a family's report shows, computed once, as records: ``analyse(family) -> FiniteAnalysis | ...``.

The report (:mod:`otgeom.report.content`) only typesets these records; notebooks and tests call the same
functions and read the same fields.  One function per kind of family (:data:`ANALYSES`, keyed by
:attr:`otgeom.families.protocol.Supports.kind`), each built from the numeric and symbolic layers:

* finite families (THEORY.md sections 1-4): the certificates; at the reference policy (means 0, covariances I)
  the quadrature evaluation, the symbolic second order (d = 1: Christoffel symbols, coordinate Hessians,
  sectional curvatures for n <= 3) and the numeric second-order forms; the derived gradient flow from the
  reference policy, its end point as an optimum when :math:`g(\operatorname{grad} J, \operatorname{grad} J) < 10^{-12}`
  there, the spectrum of :math:`G^{-1}H` (H by central differences of the derived gradient) and the predicted
  linear rate :math:`2\lambda_{\min}` of :math:`J(t) - J^*` beside the measured one; Riemannian Newton on
  particles from a fixed seed.  A family on which R1 or R2 fails for every policy gets the certificates and the
  reason only (``degenerate``).  A family outside the closed-form class takes the numeric route (d = 1: the flow
  with its velocity by quadrature and the Hessian at its end point from ``evaluate(hessian=True)``; any d: the
  evaluation and Newton on particles), unless R1, R2 or R3 fails for every policy or the evaluation at the
  reference policy fails (then ``degenerate``, with the reason).
* ``lq`` (section 5): the DARE optimum, a stabilising start, the Hessian spectrum there, the gradient flow and
  its predicted and measured rates.
* grid families (section 6): the chain at the initial policy, the Gaussian and particle flows, the LQ reference
  of the linearisation at 0 and either the comparison with it (``grid-linear``) or the end point against the zero
  action.

Every number is deterministic (fixed seeds, fixed step caps), so the same call gives the same record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from otgeom.errors import OtgeomError
from otgeom.families.protocol import supports
from otgeom.numeric.rates import MeasuredRate, log_linear_rate, window_rate
from otgeom.textfmt import number as _fmt

__all__ = ["analyse", "ANALYSES", "FiniteAnalysis", "LQAnalysis", "GridAnalysis", "FlowRecord", "OptimumRecord",
           "SecondOrderValues", "SecondOrderForms", "NewtonRecord", "GridRun", "GridLQCheck", "GridZeroCheck",
           "reference_policy", "central_hessian", "derived_flow", "quadrature_flow", "flow_optimum", "quadrature_optimum", "particle_newton_record", "grid_flow_run",
           "grid_linearisation", "grid_lq_reference", "REFERENCE_POLICY", "NEWTON_PARTICLES", "NEWTON_SPREAD",
           "NEWTON_SEED", "GRID_PARTICLES", "GRID_TOL", "GRID_MAX_STEPS", "GRID_STEP_BUDGET", "UPRIGHT"]

#: the reference Gaussian policy of finite-family reports (certificates are computed there; the flow starts there)
REFERENCE_POLICY = "means 0 and covariances I in every state"
#: particle Newton: particles per state, initial spread and seed (fixed, so the record is reproducible)
NEWTON_PARTICLES, NEWTON_SPREAD, NEWTON_SEED = 3, 0.5, 0
#: grid flows: quantile particles per state, the stopping tolerance on the gradient g-norm, and the step cap.  The
#: tolerance stays above the level where the flows' Armijo test is decided by round-off: a step of size eta must
#: lower J by eta g^2 / 2, less than an ulp of J once g < sqrt(2 ulp(J) / eta), about 6e-8 on grid-linear
#: (J = 2.29, eta = 0.23), where the particle flow then halves its steps without end
GRID_PARTICLES, GRID_TOL, GRID_MAX_STEPS = 8, 1e-7, 300
#: step budgets (grid states x steps): a flow stops after min(GRID_MAX_STEPS, budget // states) steps, which keeps a
#: grid report near half a minute on two cores (pendulum, 1536 states: at most 97 Gaussian and 31 particle steps)
GRID_STEP_BUDGET = {"gaussian": 150_000, "particles": 48_000}
#: the pendulum counts as upright where |theta| < UPRIGHT
UPRIGHT = np.pi / 4
#: central-difference step (relative) of the coordinate Hessian at the flow's end point
HESSIAN_STEP = 1e-5


# ================================================================= finite families
def reference_policy(family):
    """The reference Gaussian policy: means 0 and covariances I in every state."""
    from otgeom.numeric.policies import GaussianPolicy

    n, d = family.n_states, family.action_dim
    return GaussianPolicy(np.zeros((n, d)), np.broadcast_to(np.eye(d), (n, d, d)).copy())


@dataclass(frozen=True)
class FlowRecord:
    r"""The derived Gaussian-projected gradient flow: times ``t`` [T], coordinates ``Y`` [T, k], ``J`` [T] and
    :math:`g(\operatorname{grad} J, \operatorname{grad} J)` ``g2`` [T] from the closed forms; ``params`` the
    family's parameter values as floats."""

    t: np.ndarray
    Y: np.ndarray
    J: np.ndarray
    g2: np.ndarray
    params: tuple[float, ...]
    route: str = "closed form"


def derived_flow(D, family, theta0: np.ndarray, t_end: float, n_eval: int = 121) -> FlowRecord:
    r"""Integrate :math:`\dot\theta` = the derivation's ``flow`` output (DOP853, rtol 1e-10) from ``theta0`` to
    ``t_end`` and evaluate J and the squared gradient norm at ``n_eval`` equally spaced times.

    NotConvergedError when the integrator needs more than 20,000 right-hand sides."""
    from otgeom.numeric.flows import integrate

    params = [float(v) for v in family.parameter_values()]
    f_flow = D.evaluator(["flow"])
    f_J = D.evaluator(["J", "grad_norm2"])
    t = np.linspace(0.0, t_end, n_eval)
    Y = integrate(lambda _t, y: np.asarray(f_flow(*params, *y)["flow"], float), theta0, t, max_evaluations=20_000)
    vals = [f_J(*params, *y) for y in Y]
    J = np.array([float(v["J"]) for v in vals])
    g2 = np.array([float(v["grad_norm2"]) for v in vals])
    return FlowRecord(t, Y, J, g2, tuple(params))


def quadrature_flow(family, policy, t_end: float, n_eval: int = 121) -> FlowRecord:
    r"""The same flow with the velocity by quadrature (:func:`otgeom.numeric.flows.gaussian_projected_flow`): the
    route of a family outside the closed-form class.  ``route`` is ``"quadrature"``."""
    from otgeom.numeric.flows import gaussian_projected_flow

    t = np.linspace(0.0, t_end, n_eval)
    r = gaussian_projected_flow(family.primitives(), policy, t, max_evaluations=20_000)
    return FlowRecord(r.t, r.y, r.J, r.grad_norm2, tuple(float(v) for v in family.parameter_values()), "quadrature")


@dataclass(frozen=True)
class OptimumRecord:
    r"""The flow's end point ``theta`` and what is known there.

    ``critical``: :math:`g(\operatorname{grad} J, \operatorname{grad} J) < 10^{-12}`; only then are the rest set:
    ``H`` the coordinate Hessian (central differences of the derived :math:`\partial J/\partial\theta`, step
    :data:`HESSIAN_STEP`), ``spectrum`` the eigenvalues of :math:`G^{-1}H` (d = 1; at a critical point the
    Riemannian Hessian relative to the metric) or of H (d > 1, ``relative_to_metric`` False), ``sigma_boundary``
    (d = 1: the smallest :math:`|\sigma_s|`) or ``smallest_covariance_eigenvalue`` (d > 1) to tell a boundary end
    point."""

    theta: np.ndarray
    J: float
    g2: float
    critical: bool
    H: np.ndarray | None = None
    spectrum: np.ndarray | None = None
    relative_to_metric: bool = False
    sigma_boundary: float | None = None
    smallest_covariance_eigenvalue: float | None = None
    spectrum_error_estimate: float | None = None

    @property
    def lambda_min(self) -> float | None:
        """The smallest eigenvalue of :math:`G^{-1}H` (None unless critical, d = 1)."""
        return float(self.spectrum.min()) if self.critical and self.relative_to_metric else None


def quadrature_optimum(family, flow: FlowRecord) -> OptimumRecord:
    r"""The end point of a quadrature ``flow``: at a critical point (d = 1) the spectrum of :math:`G^{-1}H` with H and
    G from :func:`otgeom.evaluate.evaluate` (``hessian=True``, the numeric route: quadrature and linear solves) and
    ``spectrum_error_estimate`` the first-order perturbation :math:`(\|\Delta H\|_F + |\lambda|_{\max}\|\Delta G\|_F)
    /\lambda_{\min}(G)` of their entrywise error estimates.  An estimate, not a bound: the round-off part of those
    estimates is a heuristic, and at the deterministic end points of finite families (sigma about 1e-12) it can
    miss: on ``examples/families/logistic_ring.toml`` the sigma-sigma entry is off by 6e-6 against an estimate of
    1.9e-6 (a test pins this).  d > 1: critical or not, no spectrum (there is no numeric coordinate Hessian
    for d > 1)."""
    import scipy.linalg

    from otgeom.evaluate import evaluate
    from otgeom.numeric.policies import GaussianPolicy

    theta = flow.Y[-1]
    J, g2 = float(flow.J[-1]), float(flow.g2[-1])
    if not g2 < 1e-12:
        return OptimumRecord(theta, J, g2, False)
    if family.action_dim != 1:  # pragma: no cover - the numeric route integrates the flow for d = 1 only
        return OptimumRecord(theta, J, g2, True)
    try:
        ev = evaluate(family, GaussianPolicy.from_coordinates(theta, family.n_states, 1), hessian=True,
                      allow_unconverged=True)
    except OtgeomError:  # e.g. primitives not finite at some node: critical, but no spectrum
        return OptimumRecord(theta, J, g2, True)
    H, G = np.asarray(ev["hessian_coords"], float), np.asarray(ev["metric"], float)
    H = 0.5 * (H + H.T)
    lam = scipy.linalg.eigh(H, G, eigvals_only=True)
    dH = float(np.linalg.norm(np.asarray(ev["error"]["hessian_coords"], float)))
    dG = float(np.linalg.norm(np.asarray(ev["error"]["metric"], float)))
    bound = (dH + float(np.abs(lam).max()) * dG) / float(np.linalg.eigvalsh(G).min())
    return OptimumRecord(theta, J, g2, True, H, lam, True, sigma_boundary=float(np.abs(theta[1::2]).min()),
                         spectrum_error_estimate=bound)


def central_hessian(grad: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                    rel_step: float = HESSIAN_STEP) -> np.ndarray:
    r"""The symmetrised central-difference Jacobian of ``grad`` at ``theta``: column j is
    :math:`(\nabla J(\theta + h_je_j) - \nabla J(\theta - h_je_j))/(2h_j)`, :math:`h_j = ` ``rel_step``
    :math:`\max(1, |\theta_j|)` (error :math:`O(h^2)`, about 1e-10 with the default step on smooth closed forms)."""
    k = theta.size
    H = np.empty((k, k))
    for j in range(k):
        step = rel_step * max(1.0, abs(theta[j]))
        e = np.zeros(k)
        e[j] = step
        H[:, j] = (np.asarray(grad(theta + e), float) - np.asarray(grad(theta - e), float)) / (2 * step)
    return 0.5 * (H + H.T)


def flow_optimum(D, family, flow: FlowRecord) -> OptimumRecord:
    """The end point of ``flow`` as an :class:`OptimumRecord` (Hessian and spectrum only at a critical point)."""
    import scipy.linalg

    theta, params = flow.Y[-1], flow.params
    J, g2 = float(flow.J[-1]), float(flow.g2[-1])
    if not g2 < 1e-12:
        return OptimumRecord(theta, J, g2, False)
    n, d = family.n_states, family.action_dim
    f = D.evaluator(["dJ_dtheta"])
    H = central_hessian(lambda th: f(*params, *th)["dJ_dtheta"], theta)
    if d == 1:
        G = np.asarray(D.evaluator(["metric"])(*params, *theta)["metric"], float)
        lam = scipy.linalg.eigh(H, G, eigvals_only=True)
        return OptimumRecord(theta, J, g2, True, H, lam, True, sigma_boundary=float(np.abs(theta[1::2]).min()))
    lam = np.linalg.eigvalsh(H)
    kk, iu = d + d * (d + 1) // 2, np.triu_indices(d)
    smallest = np.inf
    for s in range(n):  # the end point's covariances, unvalidated (they may have left the open cone)
        C = np.zeros((d, d))
        C[iu] = theta[s * kk + d:(s + 1) * kk]
        smallest = min(smallest, float(np.linalg.eigvalsh(C + np.triu(C, 1).T).min()))
    return OptimumRecord(theta, J, g2, True, H, lam, False, smallest_covariance_eigenvalue=smallest)


@dataclass(frozen=True)
class SecondOrderValues:
    """The symbolic second order (d = 1) at the reference policy: the derivation ``D2``, its evaluation arguments,
    the Christoffel symbols [K, K, K], the coordinate Hessian and Hess_sub [K, K], and the sectional curvatures
    [K, K] (None for n > 3, where the Riemann tensor is not derived)."""

    D2: Any
    args: tuple[float, ...]
    christoffel: np.ndarray
    hessian_coords: np.ndarray
    hessian_riemannian: np.ndarray
    sectional: np.ndarray | None


def second_order_values(family, policy) -> SecondOrderValues:
    """:class:`SecondOrderValues` of a d = 1 finite family at ``policy``."""
    from otgeom.symbolic.second_order import curvature, second_order

    D2 = second_order(family)
    args = [float(v) for v in family.parameter_values()] + list(policy.coordinates()) + [0.0] * (2 * family.n_states)
    S2 = {k: np.array(v, float) for k, v in D2.evaluator(
        ["christoffel", "hessian_coords", "hessian_riemannian"])(*args).items()}
    sec = (np.array(curvature(family).evaluator(["sectional"])(*args)["sectional"], float)
           if family.n_states <= 3 else None)
    return SecondOrderValues(D2, tuple(args), S2["christoffel"], S2["hessian_coords"], S2["hessian_riemannian"], sec)


@dataclass(frozen=True)
class SecondOrderForms:
    r"""The numeric second-order forms at the reference policy (d = 1 coordinates): ``hessian_full``
    (:math:`\operatorname{Hess}_g` on the coordinate fields, quadrature and linear solves), ``hessian_riemannian``
    (:math:`\operatorname{Hess}_{\rm sub}` by the same route), ``routes`` (max difference to the symbolic
    :math:`\operatorname{Hess}_{\rm sub}`), ``grad_perp_norm`` (:math:`|\operatorname{grad}^\perp J|_g`), ``relation``
    (the Gauss-formula residual) and ``nodes`` (quadrature nodes per state)."""

    hessian_full: np.ndarray
    hessian_riemannian: np.ndarray
    routes: float
    grad_perp_norm: float
    relation: float
    nodes: int

    @property
    def sub_minus_full(self) -> float:
        return float(np.abs(self.hessian_riemannian - self.hessian_full).max())


def second_order_forms(prims, policy, values: SecondOrderValues) -> SecondOrderForms:
    """:class:`SecondOrderForms` at ``policy`` (OtgeomError, e.g. when the quadrature does not converge)."""
    from otgeom.numeric.second_order import coordinate_fields, gaussian_second_order

    so = gaussian_second_order(prims, policy)
    lin = so.lin
    perp = lin.gradient - lin.project_affine(lin.gradient)
    fields = coordinate_fields(policy, lin.wp)
    K = len(fields)
    II = np.array([[lin.connection(perp, fields[i], fields[j]) for j in range(K)] for i in range(K)])
    II = 0.5 * (II + II.T)
    return SecondOrderForms(
        so.hessian_full, so.hessian_riemannian, float(np.abs(values.hessian_riemannian - so.hessian_riemannian).max()),
        float(np.sqrt(max(lin.metric(perp, perp), 0.0))), float(np.abs(so.hessian_riemannian - so.hessian_full - II).max()),
        int(lin.wp.points.shape[1]))


@dataclass(frozen=True)
class NewtonRecord:
    r"""Riemannian Newton on particles from ``start`` (``particles`` per state, N(0, ``spread``²), ``seed``): the
    result, its error sequence, the estimated order (None: too few errors above 1e-12) and, when it converged, the
    eigenvalues of :math:`\operatorname{Hess}_g J` relative to the metric at the optimum."""

    particles: int
    spread: float
    seed: int
    result: Any
    errors: np.ndarray
    order: float | None
    eigenvalues: np.ndarray | None


def particle_newton_record(prims, n: int, d: int, particles: int = NEWTON_PARTICLES, spread: float = NEWTON_SPREAD,
                           seed: int = NEWTON_SEED) -> NewtonRecord:
    """:func:`otgeom.numeric.newton.particle_newton` from ``particles`` draws of N(0, spread²) per state (``seed``)
    with the order and the Hessian spectrum at its end (OtgeomError when Newton cannot run)."""
    from otgeom.numeric.newton import error_order, particle_hessian_rate, particle_newton
    from otgeom.numeric.policies import ParticlePolicy

    rng = np.random.default_rng(seed)
    shape = (n, particles, d)
    start = ParticlePolicy(rng.normal(0.0, spread, shape))
    r = particle_newton(prims, start)
    errs = r.errors
    if not r.converged:
        return NewtonRecord(particles, spread, seed, r, errs, None, None)
    lam = particle_hessian_rate(prims, ParticlePolicy(r.theta.reshape(shape), start.weights))["eigenvalues"]
    return NewtonRecord(particles, spread, seed, r, errs, error_order(errs), lam)


@dataclass(frozen=True)
class FiniteAnalysis:
    """Everything a finite family's report shows.  ``degenerate``: R1 or R2 fails for every policy (without a closed
    form also: R3 fails, or the evaluation at the reference policy fails); then only ``family_certificates`` (and
    ``no_closed_form``, with the reason) are set.  Without a closed form (``derivation`` None, ``no_closed_form``
    says why) the flow and the optimum take the quadrature route (d = 1) and the symbolic records (``chain``,
    ``second_order_values``, ``second_order_forms``) are None.  A string in place of a record is why it
    could not be computed (``flow``, ``second_order_forms``, ``newton``)."""

    policy: Any
    derivation: Any
    no_closed_form: str | None
    family_certificates: Any
    degenerate: bool
    chain: Any = None
    evaluation: dict | None = None
    policy_certificates: Any = None
    second_order_values: SecondOrderValues | None = None
    second_order_forms: SecondOrderForms | str | None = None
    flow: FlowRecord | str | None = None
    optimum: OptimumRecord | None = None
    measured_rate: MeasuredRate | None = None
    newton: NewtonRecord | str | None = None
    family: str = ""
    t_end: float | None = None

    @property
    def predicted_rate(self) -> float | None:
        r"""The linear rate :math:`2\lambda_{\min}(G^{-1}H)` of :math:`J(t) - J^*` predicted at the optimum."""
        lam = None if self.optimum is None else self.optimum.lambda_min
        return None if lam is None else 2 * lam


def finite_analysis(family, t_end: float = 12.0) -> FiniteAnalysis:
    """:class:`FiniteAnalysis` of a finite family (flow horizon ``t_end``)."""
    from otgeom.errors import ExpressionError
    from otgeom.evaluate import evaluate
    from otgeom.regularity import family_certificates, policy_certificates
    from otgeom.symbolic.chain import gaussian_chain
    from otgeom.symbolic.geometry import first_order

    policy = reference_policy(family)
    try:
        D, why = first_order(family), None
    except ExpressionError as exc:
        D, why = None, str(exc)
    certs = family_certificates(family)
    # the numeric route needs what the closed forms guarantee: no assumption may fail for every policy (a family
    # outside the class can break R3, e.g. a kernel that is not Lipschitz in a, where grad J is not defined)
    if certs.failed(("R1", "R2") if D is not None else ("R1", "R2", "R3")):
        return FiniteAnalysis(policy, D, why, certs, True)
    prims = family.primitives()
    try:
        ev = evaluate(family, policy, allow_unconverged=True)
    except OtgeomError as exc:
        if D is not None:
            raise
        return FiniteAnalysis(policy, D, f"{why}; and the numeric route failed at the reference policy: {exc}", certs,
                              True)
    pol_certs = policy_certificates(family, policy, np.asarray(ev["P"], float), np.asarray(ev["rho"], float))
    values = forms = None
    if D is not None and family.action_dim == 1:
        values = second_order_values(family, policy)
        try:
            forms = second_order_forms(prims, policy, values)
        except OtgeomError as exc:  # e.g. the quadrature does not converge: the report says so
            forms = str(exc)
    try:
        if D is not None:
            flow: FlowRecord | str = derived_flow(D, family, policy.coordinates(), t_end)
        elif family.action_dim == 1:
            flow = quadrature_flow(family, policy, t_end)
        else:
            flow = ("for d > 1 the numeric route does not integrate the flow: in the coordinates upper(Sigma) it "
                    "heads for the boundary Sigma = 0, leaves the positive-definite cone by round-off, and each "
                    "step costs a quadrature (Newton on particles below covers the optimum)")
    except OtgeomError as exc:  # NotConvergedError (too many evaluations), a failed integration or quadrature
        flow = str(exc)
    optimum = measured = None
    if isinstance(flow, FlowRecord):
        optimum = flow_optimum(D, family, flow) if D is not None else quadrature_optimum(family, flow)
        if optimum.lambda_min is not None:
            t, gap = flow.t, flow.J - flow.J[-1]
            measured = window_rate(t, gap, t[-1] / 4, t[-1] / 2, floor=1e-13)
    try:
        newton: NewtonRecord | str = particle_newton_record(prims, family.n_states, family.action_dim)
    except OtgeomError as exc:
        newton = str(exc)
    return FiniteAnalysis(policy, D, why, certs, False, gaussian_chain(family) if D is not None else None, ev,
                          pol_certs, values, forms, flow, optimum, measured, newton)


# ================================================================= LQ family
@dataclass(frozen=True)
class LQAnalysis:
    """An LQ family's record: the DARE ``optimum``, the start ``K0``, the spectral radii of A and A - B K0, the
    measurability certificates, the scalar symbolic derivation (n = m = 1, else None), the Hessian ``spectrum`` at
    the optimum (per part), the gradient ``flow`` history, and its measured rate of the gain error (log-linear fit
    over the second half of the samples above 1e-12; None with fewer than three there)."""

    optimum: Any
    K0: np.ndarray
    open_loop_radius: float
    K0_radius: float
    measurability: Any
    scalar: Any
    spectrum: dict
    flow: Any
    measured_rate: float | None
    family: str = ""
    t_end: float | None = None

    @property
    def predicted_rate(self) -> float:
        r""":math:`2\mu_{\min}(M^*)`, the predicted linear rate of the gain error along the flow."""
        return float(self.flow.details["predicted_K_rate"])


def lq_analysis(family, t_end: float = 12.0) -> LQAnalysis:
    """:class:`LQAnalysis` of an LQ family (``t_end`` is unused: the flow's horizon is 12 / mu_min(M*))."""
    from otgeom.numeric.lq import hessian_spectrum_at_optimum, lq_optimum, spectral_radius
    from otgeom.numeric.lq_solvers import gradient_flow, stabilising_gain
    from otgeom.regularity import measurability_certificates

    opt = lq_optimum(family)
    K0 = stabilising_gain(family)
    scalar = None
    if family.n == 1 and family.m == 1:
        from otgeom.symbolic.lq import scalar_lq

        scalar = scalar_lq()
    spec = hessian_spectrum_at_optimum(family, opt)
    hist = gradient_flow(family, K0=K0, n_eval=121)
    t = np.asarray(hist.t, float)
    keep = hist.K_error > 1e-12
    half = len(t[keep]) // 2
    measured = (log_linear_rate(t[keep][half:], hist.K_error[keep][half:]) if len(t[keep]) - half >= 3 else None)
    return LQAnalysis(opt, K0, spectral_radius(family.A), spectral_radius(family.A - family.B @ K0),
                      measurability_certificates(family), scalar, spec, hist, measured)


# ================================================================= grid families
@dataclass
class GridRun:
    """One gradient flow on a grid family: per accepted step J, the g-norm and the flow time; the policy at every
    step (``snaps``: (mean, std) or particles [N, M]); its chain at the end; why it stopped."""

    kind: str
    J: np.ndarray
    G: np.ndarray
    times: np.ndarray
    snaps: dict
    final: Any
    chain: Any
    converged: bool
    reason: str
    backtracks: int

    @property
    def steps(self) -> int:
        return self.J.size - 1

    @property
    def monotone(self) -> bool:
        """J decreased (or stayed) at every accepted step, as the Armijo rule guarantees."""
        return bool(np.all(np.diff(self.J) <= 0))

    def means(self, policy=None) -> np.ndarray:
        """The mean action per state of ``policy`` (default: the end point)."""
        policy = self.final if policy is None else policy
        return policy[0] if self.kind == "gaussian" else np.mean(policy, axis=1)


def _quiet(fn, *args):
    """A grid computation with its GridWarning (boundary mass) kept out of the terminal: the records state it."""
    import warnings

    from otgeom.errors import GridWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)
        return fn(*args)


def grid_flow_run(family, kind: str, x0, cap: int, tol: float = GRID_TOL) -> GridRun | str:
    """Run the ``"gaussian"`` (``x0 = (mean, std)``) or ``"particles"`` (``x0`` [N, M]) flow for at most ``cap``
    steps to g-norm ``tol``, every step's policy kept; the reason (a string) when it fails."""
    from otgeom.numeric.grid_flow import gaussian_flow, particle_flow
    from otgeom.numeric.policies import ParticlePolicy

    try:
        if kind == "gaussian":
            res = _quiet(lambda: gaussian_flow(family, x0[0], x0[1], max_steps=cap, tol=tol, snapshot_every=1,
                                               progress=False))
        else:
            res = _quiet(lambda: particle_flow(family, ParticlePolicy(x0[:, :, None]), max_steps=cap, tol=tol,
                                               snapshot_every=1, progress=False))
    except OtgeomError as exc:
        return f"the flow failed: {exc}"
    k = res.steps.size
    if res.converged:
        reason = f"converged: g-norm {_fmt(res.grad_norm[-1], 3)} <= {_fmt(tol)} after {k} steps"
    else:
        reason = f"not converged: stopped at the report's cap of {cap} steps with g-norm {_fmt(res.grad_norm[-1], 3)}"
    return GridRun(kind, res.J, res.grad_norm, res.times, res.snapshots, res.final, res.chain, res.converged, reason,
                   res.backtracks)


def grid_linearisation(family) -> tuple[float, float, float, float] | None:
    """(A, B, Q_c, R) of the LQ problem of the drift and cost linearised at x = 0, a = 0 (one state axis), or None
    when the origin is not a fixed point of the uncontrolled drift or the cost is not stationary there."""
    import sympy as sp

    if len(family.axes) != 1:
        return None
    (x,), a = family.symbols
    f, c = family.expressions["drift"][0], family.expressions["cost"]
    at = {x: 0, a: 0}
    try:
        vals = [float(e.subs(at)) for e in (f, sp.diff(c, x), sp.diff(c, a), sp.diff(c, x, a))]
        A, B = float(sp.diff(f, x).subs(at)), float(sp.diff(f, a).subs(at))
        Qc, R = 0.5 * float(sp.diff(c, x, 2).subs(at)), 0.5 * float(sp.diff(c, a, 2).subs(at))
    except (TypeError, ValueError):
        return None
    if any(abs(v) > 1e-14 for v in vals) or not (Qc > 0 and R > 0):
        return None
    return A, B, Qc, R


def grid_lq_reference(family):
    """The LQ optimum of the linearisation at 0 (W = noise²), or None: (A, B, Qc, R, optimum)."""
    from otgeom.families import family as make
    from otgeom.numeric.lq import lq_optimum

    lin = grid_linearisation(family)
    if lin is None:
        return None
    A, B, Qc, R = lin
    try:
        opt = lq_optimum(make("lq", A=A, B=B, Qc=Qc, R=R, W=family.axes[0].noise ** 2))
    except OtgeomError:
        return None
    return (*lin, opt)


@dataclass(frozen=True)
class GridLQCheck:
    """``grid-linear`` against the Riccati answer: K*, J*, P*, the predicted gap P* h²/12, the run compared
    (``best``: the Gaussian flow if it ran), and per run the policy error max |m_i + K* x_i| on the inner half of the
    grid at every recorded step (``inner_error[run] = (times, errors)``) and its largest spread at the end."""

    K: float
    J_star: float
    P_star: float
    predicted_gap: float
    best: str
    inner_error: dict
    spread: dict

    @property
    def policy_error(self) -> dict:
        return {k: float(e[-1]) for k, (_, e) in self.inner_error.items()}


def _inner_error(family, run: GridRun, K: float) -> tuple[np.ndarray, np.ndarray]:
    """max over the inner half of the grid of |m_i + K x_i| at every recorded step: (times, errors)."""
    x = family.points[:, 0]
    ax = family.axes[0]
    inner = np.abs(x - 0.5 * (ax.lo + ax.hi)) <= 0.25 * (ax.hi - ax.lo)
    steps = sorted(run.snaps)
    err = np.array([float(np.abs(run.means(run.snaps[s]) + K * x)[inner].max()) for s in steps])
    return run.times[steps], err


def grid_lq_check(family, runs: dict, ref) -> GridLQCheck | None:
    """:class:`GridLQCheck` of the finished ``runs`` against ``ref`` (:func:`grid_lq_reference`), or None."""
    if ref is None or not runs:
        return None
    opt = ref[-1]
    K, Jstar, Pstar = float(opt.K[0, 0]), float(opt.J), float(opt.P[0, 0])
    h = family.axes[0].width
    best = "gaussian" if "gaussian" in runs else "particles"
    inner = {k: _inner_error(family, r, K) for k, r in runs.items()}
    spread = {k: (float(r.final[1].max()) if r.kind == "gaussian" else float(np.ptp(r.final, axis=1).max()))
              for k, r in runs.items()}
    return GridLQCheck(K, Jstar, Pstar, Pstar * h * h / 12, best, inner, spread)


@dataclass(frozen=True)
class GridZeroCheck:
    """A grid family's flows against the zero action: its chain, the best run (lowest end J), the share of time
    upright per policy (pendulum, else None), and with an LQ linearisation at 0 the end point's feedback slope at the
    origin (central difference over the cells beside it, ``slope_cell``) against -K of the linearisation, and the
    largest |m_i + K x_i| with where it is."""

    zero: Any
    best: str
    upright: dict | None = None
    slope_at_0: float | None = None
    slope_cell: float | None = None
    K_linearised: float | None = None
    largest_gap: float | None = None
    largest_gap_at: float | None = None


def grid_zero_check(family, runs: dict, ref) -> GridZeroCheck | None:
    """:class:`GridZeroCheck` of the finished ``runs`` (None when none finished)."""
    from otgeom.numeric.grid import grid_chain
    from otgeom.numeric.policies import ParticlePolicy

    if not runs:
        return None
    zero = _quiet(grid_chain, family, ParticlePolicy(np.zeros((family.n_states, 1, 1))))
    best = min(runs, key=lambda k: float(runs[k].J[-1]))
    upright = None
    if family.name == "pendulum":
        up = np.abs(family.points[:, 0]) < UPRIGHT
        upright = {"zero action": float(zero.rho[up].sum()),
                   **{k: float(r.chain.rho[up].sum()) for k, r in runs.items()}}
    if len(family.axes) != 1 or ref is None:
        return GridZeroCheck(zero, best, upright)
    x = family.points[:, 0]
    K = float(ref[-1].K[0, 0])
    m = runs[best].means()
    i = min(max(int(np.argmin(np.abs(x))), 1), x.size - 2)
    slope = float((m[i + 1] - m[i - 1]) / (x[i + 1] - x[i - 1]))
    gap = np.abs(m + K * x)
    return GridZeroCheck(zero, best, upright, slope, float(x[i]), K, float(gap.max()), float(x[np.argmax(gap)]))


@dataclass(frozen=True)
class GridAnalysis:
    """A grid family's record: the initial policy (mean, std) and its chain (``chain_how``: closed form or
    quantiles, and why), the measurability certificates, the step caps, the ``runs`` (a string where a flow failed),
    the LQ reference of the linearisation at 0, and the LQ comparison (``grid-linear``) or the zero-action one."""

    initial: tuple
    initial_chain: Any
    chain_how: str
    measurability: Any
    caps: dict
    runs: dict
    lq_reference: Any
    lq_check: GridLQCheck | None
    zero_check: GridZeroCheck | None
    family: str = ""
    t_end: float | None = None

    @property
    def finished(self) -> dict:
        """The runs that ran (no failure string)."""
        return {k: r for k, r in self.runs.items() if not isinstance(r, str)}


def grid_particles(family) -> int:
    """Quantile particles per state of a grid record's particle flow: the family's ``particles`` parameter."""
    return int(family.values.get("particles", GRID_PARTICLES))


def grid_analysis(family, t_end: float = 12.0) -> GridAnalysis:
    """:class:`GridAnalysis` of a grid family (``t_end`` unused: the flows stop by tolerance or step cap)."""
    from otgeom.numeric.grid import gaussian_grid_chain, grid_chain
    from otgeom.numeric.policies import QuantilePolicy
    from otgeom.regularity import measurability_certificates

    mean, std = family.initial_policy()
    try:
        chain, _, _ = _quiet(gaussian_grid_chain, family, mean, std)
        how = ("Gaussian action laws in closed form (the step on the axis where the drift is affine in $a$ is "
               "Gaussian with variance $\\sigma^2 + b^2 s_i^2$; see the flow section)")
    except OtgeomError as exc:  # no closed form for this family: quantiles of the same laws
        chain = _quiet(grid_chain, family, QuantilePolicy.from_mean_std(mean, std, grid_particles(family)))
        how = f"{grid_particles(family)} quantiles of these laws per state (no closed form: {exc})"
    meas = _quiet(measurability_certificates, family)
    caps = {k: max(1, min(GRID_MAX_STEPS, b // family.n_states)) for k, b in GRID_STEP_BUDGET.items()}
    runs: dict[str, Any] = {}
    # without a drift affine in a (or a cost polynomial in a) the Gaussian flow says why it has no closed form
    runs["gaussian"] = grid_flow_run(family, "gaussian", (np.asarray(mean, float), np.asarray(std, float)),
                                     caps["gaussian"])
    q = QuantilePolicy.from_mean_std(mean, std, grid_particles(family))
    runs["particles"] = grid_flow_run(family, "particles", q.particles[:, :, 0].copy(), caps["particles"])
    done = {k: r for k, r in runs.items() if not isinstance(r, str)}
    ref = grid_lq_reference(family)
    lq_check = grid_lq_check(family, done, ref) if family.name == "grid-linear" else None
    zero_check = None if family.name == "grid-linear" else grid_zero_check(family, done, ref)
    return GridAnalysis((mean, std), chain, how, meas, caps, runs, ref, lq_check, zero_check)


#: the analysis of each kind of family (``Supports.kind``)
ANALYSES: dict[str, Callable[..., Any]] = {"finite": finite_analysis, "lq": lq_analysis, "grid": grid_analysis}


def analyse(family, t_end: float = 12.0):
    """The record of ``family`` for its kind (:data:`ANALYSES`); ``t_end`` is the finite families' flow horizon.
    The record names the family (its label) and ``t_end``, so that a report can refuse a record of another one."""
    import dataclasses

    return dataclasses.replace(ANALYSES[supports(family).kind](family, t_end=t_end), family=family.label, t_end=t_end)
