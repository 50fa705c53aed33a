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

Points: random parameters, random Gaussian policies and random tangent vectors, plus the known critical
points of J on the Gaussian family (named examples, e.g. ``twin-wells``; or passed in).  Verdicts:
``matches`` (within tolerance everywhere), ``matches-only-at-critical-points`` (fails at a random point,
holds at every critical point), ``fails`` (fails at a critical point, or at a random point with no
critical point to test), with the worst error and the counterexample point, in the JSON form that
``otgeom eval`` reads back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from otgeom.errors import ExpressionError, OtgeomError, ParameterError
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.second_order import Linearization, coordinate_fields, linearize_gaussian

__all__ = ["Context", "ClaimedFormula", "FormulaVerdict", "check_formula", "GROUND_TRUTHS", "FORMULA_VERDICTS"]

FORMULA_VERDICTS = ("matches", "matches-only-at-critical-points", "fails")
GROUND_TRUTHS = {"hessian": ("hessian-submanifold", "hessian-full", "hessian-frozen", "a-local"),
                 "gradient": ("gradient",)}
#: Accepted relative error: the symbolic truths are exact closed forms evaluated in float64, the numeric ones
#: use quadrature converged to 1e-13; second derivatives through the chain lose a few digits (observed < 1e-9).
TOLERANCE = 1e-7


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
    """A named claim for ``otgeom check --claims FILE.py`` (FILE.py defines ``CLAIMED = [ClaimedFormula(...)]``).

    ``kind`` is ``"hessian"`` or ``"gradient"``; ``family`` a family name or instance (default: the
    ``twin-wells`` example, which has a critical point); ``params`` its parameters.
    """

    name: str
    formula: Any
    kind: str = "hessian"
    family: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FormulaVerdict:
    name: str
    kind: str
    family: str
    verdict: str
    worst_error: float
    counterexample: Mapping[str, Any]
    identified_as: tuple[str, ...]
    errors: Mapping[str, Mapping[str, float]]
    tolerance: float
    critical_points: int

    def to_json(self) -> dict[str, Any]:
        from otgeom.claims import _jsonable

        # ``claim`` and ``error`` repeat ``name`` and ``worst_error`` under the claim suite's key names
        return _jsonable({"name": self.name, "kind": self.kind, "family": self.family, "verdict": self.verdict,
                          "worst_error": self.worst_error, "counterexample": self.counterexample,
                          "identified_as": list(self.identified_as), "errors": self.errors,
                          "tolerance": self.tolerance, "critical_points": self.critical_points,
                          "claim": self.name, "error": self.worst_error})


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


def _critical_points(family) -> list[GaussianPolicy]:
    from otgeom.examples import EXAMPLES, example

    out = []
    for name in EXAMPLES:
        ex = example(name)
        if ex.family.label == family.label and ex.family.parameters_json() == family.parameters_json():
            out.append(ex.policy)
    return out


def check_formula(family, formula, kind: str = "hessian", n_random: int = 4, seed: int = 0,
                  critical_points: Sequence[GaussianPolicy] | None = None, name: str = "claim",
                  tolerance: float = TOLERANCE) -> FormulaVerdict:
    """Classify a claimed Hessian or gradient of J on the Gaussian family of ``family`` (d = 1).

    Random points use random parameters of the family's structure (the first one the family's own), random
    policies (std in [0.3, 0.7]) and random unit tangent vectors.  ``critical_points`` default to the named
    examples on this very family.  Returns a :class:`FormulaVerdict`; nothing is printed.
    """
    from otgeom.sampling import random_family, random_gaussian_policy

    if kind not in GROUND_TRUTHS:
        raise ParameterError(f"claimed formula kind {kind!r}: expected 'hessian' or 'gradient'")
    if getattr(family, "kind", "finite") != "finite" or family.action_dim != 1:
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
    crit = list(critical_points) if critical_points is not None else _critical_points(family)
    for pol in crit:
        for _ in range(2):
            xi, zeta = rng.standard_normal((2, K))
            rows.append(("critical", family, pol, xi / np.linalg.norm(xi), zeta / np.linalg.norm(zeta)))
    worst = {"random": (0.0, {}), "critical": (0.0, {})}
    errors: dict[str, dict[str, float]] = {t: {"random": 0.0, "critical": 0.0} for t in GROUND_TRUTHS[kind]}
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
        except OtgeomError:
            raise
        except Exception as exc:  # the user's formula could not be evaluated here: that is a failure
            claimed, raised = float("inf"), f"{type(exc).__name__}: {exc}"
        for t, val in truths.items():
            err = abs(claimed - val) / max(1.0, abs(val)) if np.isfinite(claimed) else float("inf")
            errors[t][label] = max(errors[t][label], err)
            if t == target and err >= worst[label][0]:
                worst[label] = (err, {**_point_json(fam, pol, xi, zeta), "claimed": claimed, "truth": val,
                                      **({"raised": raised} if raised else {})})
    rand_ok = worst["random"][0] <= tolerance
    crit_ok = worst["critical"][0] <= tolerance
    if rand_ok and crit_ok:
        verdict, err, where = "matches", max(worst["random"][0], worst["critical"][0]), {}
    elif not rand_ok and crit and crit_ok:
        verdict, (err, where) = "matches-only-at-critical-points", worst["random"]
    else:
        verdict, (err, where) = "fails", (worst["critical"] if crit and not crit_ok else worst["random"])
    identified = tuple(t for t in GROUND_TRUTHS[kind] if max(errors[t].values()) <= tolerance)
    return FormulaVerdict(name, kind, family.label, verdict, float(err), where, identified,
                          {t: dict(v) for t, v in errors.items()}, tolerance, len(crit))
