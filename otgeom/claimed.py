r"""Check a claimed gradient or Hessian formula against every ground truth, and say which one it is.

A claim is either

* a **sympy expression** in a family's coordinates :math:`\theta = (m_0, \sigma_0, m_1, \sigma_1, \dots)` (d = 1):
  a K x K Matrix (Hessian, evaluated as :math:`\xi^\top M\zeta`) or a length-K vector (gradient
  :math:`\partial J/\partial\theta`).  Its free symbols may be parameter symbols, coordinates and the names of
  the second-order derivation's definitions (``rho_0``, ``J``, ``h_1``, ``dJ_dm_0``, ``d2J_0_1``,
  ``Gamma_k_i_j``, ...); any other symbol is an ExpressionError naming it.
* a **Python callable** ``f(ctx)`` of a :class:`Context` (documented below) returning the claimed
  :math:`\mathrm{Hess}(u, v)` (a float) or the claimed gradient field at the points ([n, N, d]).

Ground truths, each computed without the claim:

* ``hessian-submanifold`` (the target of a Hessian claim): the Levi-Civita Hessian of J restricted to the
  Gaussian family, :math:`\partial^2J - \Gamma^k\partial_kJ` from the *symbolic* derivation;
* ``hessian-full``: the full-space Levi-Civita Hessian on the same tangent vectors (numeric, linear solves);
* ``hessian-frozen``: the second derivative along :math:`(\mathrm{id}+\epsilon v)_\#\pi` (= the coordinate
  Hessian in d = 1, symbolic);  ``a-local``: :math:`A_{\rm local}` alone (numeric);
* ``gradient`` (the target of a gradient claim): :math:`\partial J/\partial\theta` by direct symbolic
  differentiation.

Points: random parameters, random Gaussian policies and random tangent vectors, plus critical points of J
on the Gaussian family: those :func:`find_critical_points` finds on the family itself (Levenberg–Marquardt
Newton on :math:`\partial J/\partial\theta = 0` from several starts, each confirmed by the numeric gradient), the
named examples on it (e.g. ``twin-wells``), or those passed in.  Verdicts (:data:`otgeom.claims.CLASSIFICATIONS`):
``matches`` (within tolerance everywhere), ``matches-only-at-critical-points`` (fails at a random point,
holds at every critical point), ``fails`` (fails at a critical point, or at a random point with no
critical point to test), ``error`` (the formula raised: not refuted on its numbers), with the worst error and
the counterexample point, in the JSON form that ``otgeom eval`` reads back.  The result is a
:class:`otgeom.claims.Verdict`, the type every claim of the suite returns.

A :class:`ClaimedFormula` with ``claim="NAME"`` is instead tested by the suite's claim NAME (any claim: the
metric, Christoffel symbols, d = 2 Hessians, the LQ gradient and cost, ...), called as that claim's declared
signature says (``otgeom check --list``); :func:`check_claimed` runs either kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from otgeom.claims import CLASSIFICATIONS, Verdict
from otgeom.errors import ExpressionError, OtgeomError, ParameterError
from otgeom.families.protocol import supports
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.second_order import Linearization, coordinate_fields, linearize_gaussian

__all__ = ["Context", "ClaimedFormula", "FormulaVerdict", "check_formula", "check_claimed", "find_critical_points",
           "GROUND_TRUTHS", "FORMULA_VERDICTS"]

#: the classifier's verdicts (:data:`otgeom.claims.CLASSIFICATIONS`)
FORMULA_VERDICTS = CLASSIFICATIONS
#: the classifier's record is the suite's :class:`~otgeom.claims.Verdict` (this name is kept for scripts)
FormulaVerdict = Verdict
GROUND_TRUTHS = {"hessian": ("hessian-submanifold", "hessian-full", "hessian-frozen", "a-local"),
                 "gradient": ("gradient",)}
#: Accepted relative error: the symbolic truths are exact closed forms evaluated in float64, the numeric ones
#: use quadrature converged to 1e-13; second derivatives through the chain lose a few digits (observed < 1e-9).
TOLERANCE = 1e-7
TOLERANCE_REASON = ("relative error max(1, |truth|): the symbolic truths are closed forms in float64, the numeric ones "
                    "quadrature converged to 1e-13; second derivatives through the chain lose a few digits (< 1e-9)")
WITNESS = {"hessian": "the Levi-Civita Hessian of J on the Gaussian family (symbolic: d2J - Gamma dJ), compared "
                      "also with the full-space, frozen-weight and A_local Hessians (numeric linear solves)",
           "gradient": "dJ/dtheta by direct symbolic differentiation of J(theta)"}


@dataclass(frozen=True)
class Context:
    """What a claimed formula (callable) receives at one point.

    ``family``, ``policy`` (Gaussian), ``theta`` [K]; the policy on its quadrature nodes: ``points`` [n, N, d],
    ``weights`` [n, N]; the chain: ``rho`` [n], ``h`` [n], ``J``; at the points ``Q`` [n, N], ``grad_q`` [n, N, d],
    ``hess_q`` [n, N, d, d]; the tangent vectors ``u``, ``v`` as fields [n, N, d] and in coordinates ``u_coords``,
    ``v_coords`` [K].  Methods: ``drho(V)``, ``dh(V)``, ``grad_dq(V)`` (:math:`\\nabla_a dQ[V]`), ``metric(U, V)``,
    ``expect(values)`` (per-state expectation), ``project(V)`` (onto the Gaussian tangent space).
    """

    family: Any
    policy: GaussianPolicy
    theta: np.ndarray
    u_coords: np.ndarray
    v_coords: np.ndarray
    u: np.ndarray
    v: np.ndarray
    Q: np.ndarray
    lin: Linearization = field(repr=False)

    points = property(lambda self: self.lin.wp.points)
    weights = property(lambda self: self.lin.wp.weights)
    rho = property(lambda self: self.lin.sol.rho)
    h = property(lambda self: self.lin.sol.h)
    J = property(lambda self: self.lin.sol.J)
    grad_q = property(lambda self: self.lin.grad_q)
    hess_q = property(lambda self: self.lin.hess_q)

    def drho(self, V):
        return self.lin.drho(V)

    def dh(self, V):
        return self.lin.dh(V)

    def grad_dq(self, V):
        return self.lin.grad_dq(self.lin.dh(V))

    def metric(self, U, V) -> float:
        return self.lin.metric(U, V)

    def expect(self, values):
        return self.lin.wp.expect(values)

    def project(self, V):
        return self.lin.project_affine(V)


@dataclass(frozen=True)
class ClaimedFormula:
    """A named claimed formula for ``otgeom check --claims FILE.py`` (FILE.py defines ``CLAIMED = [ClaimedFormula(...)]``).

    Two ways to test it:

    * ``claim="NAME"``: the suite's claim NAME tests it (its witness, tolerance and verdicts; the formula is called as
      the claim's ``signature`` says, see ``otgeom check --list``).  ``family`` defaults to the first built-in case
      of the claim's kind.
    * ``kind="hessian"`` or ``"gradient"`` (no ``claim``): classified against every ground truth by
      :func:`check_formula` (finite families, d = 1); ``family`` defaults to the ``twin-wells`` example.

    ``family`` is a family name or instance, ``params`` its parameters.
    """

    name: str
    formula: Any
    kind: str = "hessian"
    family: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    claim: str | None = None


def _symbolic_evaluator(family, expr) -> Callable[..., np.ndarray]:
    from otgeom.symbolic.second_order import second_order

    D = second_order(family)
    M = sp.Matrix(expr) if not isinstance(expr, sp.MatrixBase) else expr
    allowed = set(D.inputs) | {s for s, _ in D.definitions}
    by_name = {s.name: s for s in allowed}
    subs = {}
    for s in sorted(M.free_symbols, key=sp.default_sort_key):
        if s in allowed:
            continue
        if s.name in by_name:  # the same name with other assumptions: the user's Symbol("rho_0")
            subs[s] = by_name[s.name]
            continue
        raise ExpressionError(f"claimed formula: symbol {s.name!r} is neither a parameter, a coordinate "
                              f"(m_s, sigma_s) nor a definition of the derivation (e.g. rho_0, J, h_1, dJ_dm_0)")
    M = M.xreplace(subs)
    f = D.with_outputs("claim", {"claim": M}).evaluator(["claim"])
    params = [float(v) for v in family.parameter_values()]
    return lambda theta: np.array(f(*params, *theta, *([0.0] * len(theta)))["claim"], float)


def _truths(family):
    from otgeom.symbolic.second_order import second_order

    D = second_order(family)
    f = D.evaluator(["hessian_riemannian", "hessian_coords", "dJ_dtheta"])
    params = [float(v) for v in family.parameter_values()]
    return lambda theta: {k: np.array(v, float) for k, v in f(*params, *theta, *([0.0] * len(theta))).items()}


def _truth_values(family, lin: Linearization, theta, xi, zeta, U, V, kind) -> dict[str, float]:
    """{ground truth: value} at one point (none of them uses the claim)."""
    T = _truths(family)(theta)
    if kind == "gradient":
        return {"gradient": float(T["dJ_dtheta"] @ zeta)}
    return {"hessian-submanifold": float(xi @ T["hessian_riemannian"] @ zeta),
            "hessian-full": float(0.5 * (lin.hessian(U, V, "levi-civita") + lin.hessian(V, U, "levi-civita"))),
            "hessian-frozen": float(xi @ T["hessian_coords"] @ zeta),
            "a-local": lin.a_local(U, V)}


def _claimed_value(family, prims, policy, lin: Linearization, theta, xi, zeta, U, V, formula, kind, sym_eval) -> float:
    """The claimed Hess(u, v), or dJ[v] = g(claimed gradient, v), at one point."""
    if sym_eval is not None:
        val = sym_eval(theta)
        return float(xi @ val.reshape(len(theta), len(theta)) @ zeta) if kind == "hessian" \
            else float(val.reshape(-1) @ zeta)
    Q = np.stack([prims.cost(s, lin.wp.points[s]) + prims.kernel(s, lin.wp.points[s]) @ lin.sol.h - lin.sol.J
                  for s in range(family.n_states)])
    out = formula(Context(family, policy, theta, xi, zeta, U, V, Q, lin))
    return float(out) if kind == "hessian" else lin.metric(np.asarray(out, float), V)


def _point_json(family, policy, xi, zeta) -> dict[str, Any]:
    return {"family": family.spec.name, "parameters": family.parameters_json(),
            "policy": {"mean": policy.mean[:, 0].tolist(), "std": policy.std.tolist()},
            "u": list(map(float, xi)), "v": list(map(float, zeta))}


def _named_critical_points(family) -> list[GaussianPolicy]:
    from otgeom.examples import EXAMPLES, example

    out = []
    for name in EXAMPLES:
        ex = example(name)
        if ex.family.label == family.label and ex.family.parameters_json() == family.parameters_json():
            out.append(ex.policy)
    return out


#: a critical point is accepted when the root finder's residual |dJ/dtheta| (symbolic closed form) is below
#: ROOT_TOLERANCE (Levenberg-Marquardt reaches ~1e-16; at a residual r the coordinate and Levi-Civita Hessians differ
#: by |Gamma| r, |Gamma| ~ 1/sigma <= 1e2 on sigma_range, far below the classifier's 1e-7) and the numeric
#: policy-gradient formula on its own quadrature (converged to ~1e-13) confirms |dJ/dtheta| <= CRITICAL_TOLERANCE
ROOT_TOLERANCE = 1e-12
CRITICAL_TOLERANCE = 1e-9


def find_critical_points(family, starts: int = 8, seed: int = 0, sigma_range: tuple[float, float] = (1e-2, 1e2)
                         ) -> list[GaussianPolicy]:
    r"""Critical points of J restricted to the Gaussian family (d = 1): :math:`\partial J/\partial\theta = 0`,
    :math:`\theta = (m_s, \sigma_s)_s`, with every :math:`\sigma_s` in ``sigma_range``.

    Newton's method damped by Levenberg–Marquardt (scipy's ``root(method="lm")``) on the symbolic gradient with
    the symbolic coordinate Hessian as Jacobian, in :math:`(m_s, \log\sigma_s)` (so :math:`\sigma_s > 0`), from
    ``starts`` random starts (means in [-2, 3], std in [0.2, 1.5]).  A root is kept only when its residual is at
    most :data:`ROOT_TOLERANCE` and the numeric policy-gradient formula, a computation independent of the symbolic
    derivation, confirms :math:`|\partial J/\partial\theta| \le` :data:`CRITICAL_TOLERANCE`.  Interior critical points of finite
    families are degenerate (:mod:`otgeom.examples`), so the rate is linear, not quadratic; most starts head for
    the boundary :math:`\sigma \to 0`, which is not a critical point and is discarded.  Distinct points only.
    """
    from scipy.optimize import root

    from otgeom.numeric.geometry import gaussian_gradient
    from otgeom.numeric.witness import gaussian_chain
    from otgeom.symbolic.second_order import second_order

    if not supports(family).second_order:
        raise ParameterError(f"{family.label}: critical points are searched on finite families with d = 1")
    f = second_order(family).evaluator(["dJ_dtheta", "hessian_coords"])
    params = [float(v) for v in family.parameter_values()]
    n = family.n_states
    lo, hi = np.log(sigma_range[0]) - 2, np.log(sigma_range[1]) + 2

    def theta_of(u):
        th = np.array(u, float)
        th[1::2] = np.exp(np.clip(th[1::2], lo, hi))
        return th

    def system(u):
        th = theta_of(u)
        out = f(*params, *th, *([0.0] * len(th)))
        g = np.array(out["dJ_dtheta"], float).ravel()
        H = np.array(out["hessian_coords"], float)
        H[:, 1::2] *= th[1::2]  # d sigma / d log sigma
        return g, H

    rng = np.random.default_rng(seed)
    prims = family.primitives()
    found: list[np.ndarray] = []
    for _ in range(starts):
        u0 = np.empty(2 * n)
        u0[0::2] = rng.uniform(-2.0, 3.0, n)
        u0[1::2] = np.log(rng.uniform(0.2, 1.5, n))
        with np.errstate(all="ignore"):
            try:
                r = root(system, u0, jac=True, method="lm",  # one evaluation gives the gradient and its Jacobian
                         options={"xtol": 1e-15, "ftol": 1e-15, "maxiter": 2000})
            except (ArithmeticError, ValueError, np.linalg.LinAlgError):
                continue
            th = theta_of(r.x)
            g = system(r.x)[0]
        if not (np.all(np.isfinite(g)) and np.abs(g).max() <= ROOT_TOLERANCE):
            continue
        if not ((th[1::2] >= sigma_range[0]) & (th[1::2] <= sigma_range[1])).all():
            continue
        if any(np.abs(th - t).max() < 1e-6 for t in found):
            continue
        pol = GaussianPolicy.from_coordinates(th, n, 1)
        try:
            w = gaussian_chain(prims, pol, tol=1e-12)
            num = gaussian_gradient(prims, w.sol, pol, w.wp)
        except OtgeomError:
            continue
        if max(np.abs(num["grad_mean"]).max(), np.abs(num["grad_std"]).max()) <= CRITICAL_TOLERANCE:
            found.append(th)
    return [GaussianPolicy.from_coordinates(t, n, 1) for t in found]


def _critical_points(family, seed: int = 0) -> list[GaussianPolicy]:
    """The named examples' critical points on this family, and those :func:`find_critical_points` finds."""
    named = _named_critical_points(family)
    out = list(named)
    for pol in find_critical_points(family, seed=seed):
        if not any(np.abs(pol.coordinates() - q.coordinates()).max() < 1e-6 for q in named):
            out.append(pol)
    return out


def check_formula(family, formula, kind: str = "hessian", n_random: int = 4, seed: int = 0,
                  critical_points: Sequence[GaussianPolicy] | None = None, name: str = "claim",
                  tolerance: float = TOLERANCE) -> FormulaVerdict:
    """Classify a claimed Hessian or gradient of J on the Gaussian family of ``family`` (d = 1).

    Random points use random parameters of the family's structure (the first one the family's own), random
    policies (std in [0.3, 0.7]) and random unit tangent vectors.  ``critical_points`` default to the named
    examples on this very family and the critical points :func:`find_critical_points` finds on it.  Returns a
    :class:`~otgeom.claims.Verdict` (``kind`` set; ``where`` the counterexample); nothing is printed.
    """
    from otgeom.sampling import random_family, random_gaussian_policy

    if kind not in GROUND_TRUTHS:
        raise ParameterError(f"claimed formula kind {kind!r}: expected 'hessian' or 'gradient'")
    if not supports(family).second_order:
        raise ParameterError(f"{family.label}: claimed formulas are checked on finite families with d = 1")
    is_sym = isinstance(formula, (sp.Basic, sp.MatrixBase, list, tuple))
    if not is_sym and not callable(formula):
        raise ParameterError("a claimed formula is a sympy expression (Matrix or vector) or a callable f(ctx)")
    rng = np.random.default_rng(seed)
    target = GROUND_TRUTHS[kind][0]
    K = 2 * family.n_states
    rows = []  # (label, family, policy, xi, zeta)
    for k in range(n_random):
        fam = family if k == 0 else random_family(family, rng)
        pol = random_gaussian_policy(fam, rng, (0.3, 0.7))
        xi, zeta = rng.standard_normal((2, K))
        rows.append(("random", fam, pol, xi / np.linalg.norm(xi), zeta / np.linalg.norm(zeta)))
    crit = list(critical_points) if critical_points is not None else _critical_points(family, seed)
    for pol in crit:
        for _ in range(2):
            xi, zeta = rng.standard_normal((2, K))
            rows.append(("critical", family, pol, xi / np.linalg.norm(xi), zeta / np.linalg.norm(zeta)))
    worst = {"random": (0.0, {}), "critical": (0.0, {})}
    errors: dict[str, dict[str, float]] = {t: {"random": 0.0, "critical": 0.0} for t in GROUND_TRUTHS[kind]}
    raised_at: dict[str, Any] = {}
    sym_evals: dict[str, Any] = {}
    for label, fam, pol, xi, zeta in rows:
        sym_eval = None
        if is_sym:
            key = fam.label + str(fam.parameters_json())
            if key not in sym_evals:
                sym_evals[key] = _symbolic_evaluator(fam, formula)
            sym_eval = sym_evals[key]
        prims = fam.primitives()
        theta = pol.coordinates()
        lin = linearize_gaussian(prims, pol, owner="claim check")
        F = coordinate_fields(pol, lin.wp)
        U, V = np.tensordot(xi, F, 1), np.tensordot(zeta, F, 1)
        truths = _truth_values(fam, lin, theta, xi, zeta, U, V, kind)
        raised = None
        try:
            claimed = _claimed_value(fam, prims, pol, lin, theta, xi, zeta, U, V, formula, kind, sym_eval)
        except Exception as exc:  # the user's formula could not be evaluated here: its own verdict, error
            claimed, raised = float("inf"), f"{type(exc).__name__}: {exc}"
            raised_at = raised_at or {**_point_json(fam, pol, xi, zeta), "raised": raised}
        for t, val in truths.items():
            err = abs(claimed - val) / max(1.0, abs(val)) if np.isfinite(claimed) else float("inf")
            errors[t][label] = max(errors[t][label], err)
            if t == target and err >= worst[label][0]:
                worst[label] = (err, {**_point_json(fam, pol, xi, zeta), "claimed": claimed, "truth": val,
                                      **({"raised": raised} if raised else {})})
    rand_ok = worst["random"][0] <= tolerance
    crit_ok = worst["critical"][0] <= tolerance
    if raised_at:  # not refuted on its numbers: a formula that raises is neither right nor caught wrong
        verdict, err, where = "error", None, raised_at
    elif rand_ok and crit_ok:
        verdict, err, where = "matches", max(worst["random"][0], worst["critical"][0]), {}
    elif not rand_ok and crit and crit_ok:
        verdict, (err, where) = "matches-only-at-critical-points", worst["random"]
    else:
        verdict, (err, where) = "fails", (worst["critical"] if crit and not crit_ok else worst["random"])
    identified = tuple(t for t in GROUND_TRUTHS[kind] if max(errors[t].values()) <= tolerance)
    details = {"reason": f"the formula raised {raised_at['raised']}"} if raised_at else {}
    return Verdict(claim=name, family=family.label, verdict=verdict, error=None if err is None else float(err),
                   tolerance=tolerance, tolerance_reason=TOLERANCE_REASON, witness=WITNESS[kind], formula=name,
                   where=where, seed=seed, details=details, kind=kind, identified_as=identified,
                   errors={t: dict(v) for t, v in errors.items()}, critical_points=len(crit))


def check_claimed(c: ClaimedFormula, family=None, seed: int = 0) -> Verdict:
    """Test one :class:`ClaimedFormula`: by the suite's claim ``c.claim`` (its witness and tolerance), or else by
    :func:`check_formula` (a Hessian or gradient classified against every ground truth).  ``family`` overrides
    the entry's own family (an instance)."""
    if c.claim is None:
        return check_formula(family if family is not None else _entry_family(c), c.formula, c.kind, seed=seed,
                             name=c.name)
    from proofs_checks import claim

    cl = claim(c.claim)
    fam = family if family is not None else _entry_family(c, cl.family_kind)
    return cl.with_formula(c.formula, c.name).run(fam, seed=seed)


def _entry_family(c: ClaimedFormula, kind: str = "finite"):
    """The family a claimed-formula entry names (its default: twin-wells for a classified Hessian or gradient, the
    first built-in case of the claim's kind otherwise)."""
    from otgeom.examples import example
    from otgeom.families import BUILTIN_CASES, family as make

    if c.family is not None and not isinstance(c.family, str):
        return c.family
    if c.family is not None:
        return make(c.family, **dict(c.params))
    if c.claim is None:
        return example("twin-wells").family
    from proofs_checks import claim

    cl = claim(c.claim)
    for name, kw in BUILTIN_CASES:  # the first built-in case the claim applies to (gaussian-metric-bures: d >= 2)
        fam = make(name, **dict(kw))
        if supports(fam).kind == kind and (cl.applies is None or cl.applies(fam) is None):
            return fam
    raise ParameterError(f"no built-in family the claim {c.claim!r} applies to: give family=")
