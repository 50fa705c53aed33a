"""Claims: a statement of the theory, how it is witnessed, and a verdict that can be ``fails``.

A :class:`Claim` holds the statement (LaTeX), its assumptions, the witness (a
computation that does not use the formula under test), a tolerance with its
reason, the *formula under test* and a set of deliberately wrong formulas
(mutants).  :meth:`Claim.run` returns a frozen :class:`Verdict`; nothing is
printed.  :meth:`Claim.with_formula` swaps the formula under test, which is how
the tests show that every check rejects its mutants and how users test their own
variants of a formula.

The symbolic and numeric layers never import each other; they meet only in the
check functions of ``proofs_checks`` and in the front ends (``otgeom.evaluate``, the CLI).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from otgeom.errors import ExpressionError, NotConvergedError, ParameterError, RegularityError
from otgeom.families import Family
from otgeom.numeric.certificates import UNIT_ROUNDOFF

__all__ = ["VERDICTS", "CLASSIFICATIONS", "Outcome", "Verdict", "ClaimResult", "Claim", "error_unit",
           "signature_parameters", "formula_example"]

#: ``error``: the formula under test (a user's or a mutant) raised instead of returning numbers; it is neither
#: confirmed nor refuted on its numbers, so a mutant that raises is not a caught mutant
VERDICTS = ("holds", "fails", "inconclusive", "not-applicable", "error")
#: the verdicts of a Hessian or gradient classified against every ground truth (:func:`otgeom.claimed.check_formula`):
#: right everywhere, right only at critical points of J on the Gaussian family, wrong, or raised
CLASSIFICATIONS = ("matches", "matches-only-at-critical-points", "fails", "error", "inconclusive")


@dataclass(frozen=True)
class Outcome:
    """What a check function returns: the worst error, where it occurred, and (rarely) a forced verdict.

    ``verdict`` is None to let :meth:`Claim.run` compare ``error`` with the tolerance;
    ``inconclusive`` or ``not-applicable`` when the witness cannot decide (the reason goes in ``details``).
    """

    error: float | None
    where: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    #: bound on the witness's own error, in the units of ``error`` (None: negligible or not known).  With it,
    #: ``holds`` needs error <= tolerance and witness_error <= tolerance, ``fails`` needs
    #: error - witness_error > tolerance; anything between is ``inconclusive``.
    witness_error: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The verdict on one formula: a claim of the suite on one family, or a claimed formula classified by
    :func:`otgeom.claimed.check_formula`.  One type for both; ``to_json`` keys are a stable contract.

    ``verdict`` is one of :data:`VERDICTS` for a claim of the suite, one of :data:`CLASSIFICATIONS` for a
    classified Hessian or gradient (``kind`` is then ``"hessian"`` or ``"gradient"``, and ``identified_as``,
    ``errors`` and ``critical_points`` say which ground truths it matched, with what error, at how many critical
    points).  ``where`` is the counterexample point (or the worst point), in the JSON form ``otgeom eval`` reads.
    """

    claim: str
    family: str
    verdict: str
    error: float | None
    tolerance: float
    tolerance_reason: str
    witness: str
    formula: str
    where: Mapping[str, Any]
    seed: int
    details: Mapping[str, Any]
    #: None for a claim of the suite; "hessian" or "gradient" for a formula classified against ground truths
    kind: str | None = None
    identified_as: tuple[str, ...] = ()
    errors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    critical_points: int | None = None

    @property
    def passed(self) -> bool:
        """The formula is right: ``holds`` (a claim) or ``matches`` (a classified formula)."""
        return self.verdict in ("holds", "matches")

    # the names of the classifier's original record (``FormulaVerdict``), kept for scripts and notebooks
    name = property(lambda self: self.claim)
    worst_error = property(lambda self: self.error)
    counterexample = property(lambda self: self.where)

    @classmethod
    def from_json(cls, rec: Mapping[str, Any]) -> "Verdict":
        """The record back from :meth:`to_json` (e.g. from a worker process); ``where`` and ``details`` stay JSON."""
        err = rec.get("error")
        return cls(claim=rec["claim"], family=rec["family"], verdict=rec["verdict"],
                   error=float(err) if isinstance(err, str) else err, tolerance=rec["tolerance"],
                   tolerance_reason=rec.get("tolerance_reason", ""), witness=rec.get("witness", ""),
                   formula=rec.get("formula", "theory"), where=rec.get("where", rec.get("counterexample", {})),
                   seed=rec.get("seed", 0), details=rec.get("details", {}),
                   kind=rec.get("kind") if "identified_as" in rec else None,
                   identified_as=tuple(rec.get("identified_as", ())), errors=rec.get("errors", {}),
                   critical_points=rec.get("critical_points"))

    @property
    def error_unit(self) -> str:
        """What ``error`` (and ``tolerance``) measure, read off the tolerance's reason: ``|slope - 2|`` (or 3, 4) of a
        Taylor remainder, ``standard errors`` of a Monte Carlo estimate, ``relative`` or ``absolute`` error."""
        return error_unit(self.tolerance_reason)

    def to_json(self) -> dict[str, Any]:
        err = self.error
        if err is not None and not math.isfinite(err):
            err = str(err)
        rec = {
            "claim": self.claim,
            "family": self.family,
            "verdict": self.verdict,
            "error": err,
            "error_unit": self.error_unit,
            "tolerance": self.tolerance,
            "tolerance_reason": self.tolerance_reason,
            "witness": self.witness,
            "formula": self.formula,
            "where": _jsonable(self.where),
            "seed": self.seed,
            "details": _jsonable(self.details),
        }
        if self.kind is not None:  # the classifier's keys, as ``otgeom check --claims --json`` has always written them
            rec.update(name=self.claim, kind=self.kind, worst_error=err, counterexample=rec["where"],
                       identified_as=list(self.identified_as), errors=_jsonable(self.errors),
                       critical_points=self.critical_points)
        return rec


#: The original name of :class:`Verdict` (a claim's result), kept for users' scripts.
ClaimResult = Verdict


def error_unit(tolerance_reason: str) -> str:
    """The unit of a claim's error, from the first words of its tolerance's reason (see :attr:`Verdict.error_unit`)."""
    reason = tolerance_reason.lower()
    if reason.startswith("slope"):
        if "polarised" in reason or "slope 3" in reason:
            return "|slope - 3|"
        return "|slope - 4|" if "symmetrised" in reason or "second" in reason else "|slope - 2|"
    if "standard error" in reason:
        return "standard errors"
    if reason.startswith(("relative", "largest of the relative")) or "componentwise relative" in reason:
        return "relative"
    return "absolute"


def signature_parameters(signature: str) -> tuple[str, ...]:
    """The argument names without a default in a declared signature ``"(P: ndarray [n, n], r: ...) -> ..."``."""
    if not signature.startswith("("):
        return ()
    depth, cut = 0, None
    for i, ch in enumerate(signature):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            cut = i
            break
    inner, names, depth, part = signature[1:cut], [], 0, ""
    for ch in inner + ",":
        if ch == "," and depth == 0:
            name = part.split(":")[0].strip()
            if name and "=" not in part:
                names.append(name)
            part = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        part += ch
    return tuple(names)


def formula_example(formula: Any) -> str:
    """``module.name`` of a named function, or the source of a lambda (one line), or the object's type."""
    name = getattr(formula, "__qualname__", "")
    mod = getattr(formula, "__module__", "")
    if name and "<lambda>" not in name and "<locals>" not in name and mod:
        return f"{mod}.{name}"
    try:
        src = " ".join(inspect.getsource(formula).split())
    except (OSError, TypeError):
        return type(formula).__name__
    i = src.find("lambda")
    return src[i:].rstrip(",") if i >= 0 else src


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (int, str, bool)) or x is None:
        return x
    return str(x)


@dataclass(frozen=True)
class Claim:
    """One claim of THEORY.md, checkable on any applicable family.

    Attributes
    ----------
    name : str
        Stable identifier (``otgeom check --claim NAME``).
    statement : str
        The claim in LaTeX.
    section : str
        Where it stands in THEORY.md.
    assumptions : tuple of str
        Which regularity assumptions (R1-R4) it needs; they are checked by the witness.
    witness : str
        The independent computation it is compared with.
    tolerance, tolerance_reason : float, str
        Accepted error and why that number.
    check : callable
        ``check(family, rng, formula) -> Outcome``.
    formula : object
        The formula under test (a callable of documented arguments).
    formula_name : str
    mutants : mapping of str to object
        Deliberately wrong formulas the check must reject.
    applies : callable, optional
        ``applies(family) -> None`` or the reason it does not apply.
    family_kind : str
        ``"finite"`` (finite-state families) or ``"lq"`` (the linear-quadratic family); a claim
        run on a family of the other kind is ``not-applicable``.
    needs : tuple of str, optional
        The regularity conditions it needs, keys of :data:`otgeom.numeric.certificates.ASSUMPTIONS`
        (``R1``..``R4``, ``aperiodic``); default: the ``R1``..``R4`` named in ``assumptions``.  See
        :attr:`requires`.
    """

    name: str
    statement: str
    section: str
    assumptions: tuple[str, ...]
    witness: str
    tolerance: float
    tolerance_reason: str
    check: Callable[[Family, np.random.Generator, Any], Outcome]
    formula: Any
    formula_name: str = "theory"
    mutants: Mapping[str, Any] = field(default_factory=dict)
    applies: Callable[[Family], str | None] | None = None
    family_kind: str = "finite"
    needs: tuple[str, ...] | None = None
    #: False for claims whose numbers depend on rho only (GTH is componentwise accurate whatever the Poisson
    #: system's condition number), so a near-degenerate chain's kappa does not make them inconclusive
    conditioning: bool = True
    #: The contract of the formula under test: ``(name: type, ...) -> what it returns``.  The witness calls the
    #: formula with exactly these arguments, positionally; :meth:`run` checks that a formula other than the
    #: theory's accepts them before calling it (``otgeom check --list`` prints every signature).
    signature: str = ""
    #: the definitions of :class:`otgeom.theory.Theory` this claim's witness reads (e.g. ``("metric_weights",)``):
    #: a changed theory re-tests the claim only when it changes one of them or the claim's formula
    reads: tuple[str, ...] = ()

    @property
    def parameters(self) -> tuple[str, ...]:
        """The argument names of :attr:`signature` (those without a default), in call order."""
        return signature_parameters(self.signature)

    @property
    def example(self) -> str:
        """Where the theory's own formula lives (``module.name``, a function to wrap or copy), or its source when it is
        a lambda: the example ``otgeom check --list`` prints."""
        return formula_example(self.formula)

    @property
    def requires(self) -> tuple[str, ...]:
        """The regularity conditions this claim needs.  :meth:`run` certifies them first: a condition that is
        certified to fail (for every policy of the family, or at the policy the witness uses) makes the claim
        ``not-applicable`` with the failing certificate, never a pass."""
        if self.needs is not None:
            return self.needs
        found = []
        for text in self.assumptions:
            for tok in re.findall(r"\bR[1-4]\b", text):
                if tok not in found:
                    found.append(tok)
        return tuple(sorted(found))

    def applies_to(self, family: Any) -> bool:
        """Whether the claim is about families of this kind (finite-state or LQ)."""
        from otgeom.families.protocol import supports

        return supports(family).kind == self.family_kind

    def with_formula(self, formula: Any, name: str = "user") -> "Claim":
        """The same check with another formula under test (called as :attr:`signature` says).  ``name`` may not be
        ``"theory"``, the name of the suite's own formula (whose exceptions are the suite's, not a verdict)."""
        if name == "theory":
            raise ParameterError(f"claim {self.name}: 'theory' is the name of the suite's own formula; give your "
                                 "formula another name")
        return dataclasses.replace(self, formula=formula, formula_name=name)

    def signature_mismatch(self, formula: Any) -> str | None:
        """Why ``formula`` cannot be called as :attr:`signature` says (None: it can, or it is not a Python callable:
        sympy objects and classes are taken as they are)."""
        if not callable(formula) or isinstance(formula, type):
            return None
        try:
            sig = inspect.signature(formula)
        except (TypeError, ValueError):  # a builtin without a signature: let the call decide
            return None
        try:
            sig.bind(*self.parameters)
        except TypeError as exc:
            return (f"the formula takes {sig}, but the claim {self.name} calls it as formula"
                    f"({', '.join(self.parameters)}) ({exc})")
        return None

    def mutant(self, name: str) -> "Claim":
        return self.with_formula(self.mutants[name], f"mutant:{name}")

    def run(self, family: Family, seed: int = 0) -> Verdict:
        base = dict(claim=self.name, family=family.label, tolerance=self.tolerance,
                    tolerance_reason=self.tolerance_reason, witness=self.witness, formula=self.formula_name,
                    seed=seed)
        reason = None if self.applies_to(family) else f"a claim about {self.family_kind} families"
        reason = reason or (self.applies(family) if self.applies else None)
        if reason:
            return Verdict(verdict="not-applicable", error=None, where={}, details={"reason": reason}, **base)
        from otgeom.regularity import family_certificates

        failed = family_certificates(family, self.requires).failed(self.requires)
        if failed:
            c = failed[0]
            return Verdict(verdict="not-applicable", error=None, where=dict(c.witness), details={
                "reason": f"assumption {c.assumption} fails ({c.name}, {c.scope}): {c.statement}",
                "assumption": c.assumption, "certificate": c.to_dict()}, **base)
        if self.formula_name != "theory":
            mismatch = self.signature_mismatch(self.formula)
            if mismatch:
                return Verdict(verdict="error", error=None, where={}, details={
                    "reason": mismatch, "exception": "TypeError", "signature": self.signature}, **base)
        rng = np.random.default_rng(seed)
        from otgeom.numeric.chain import track_condition

        try:
            with track_condition() as kappa:
                out = self.check(family, rng, self.formula)
        except NotConvergedError as exc:
            return Verdict(verdict="inconclusive", error=None, where={},
                               details={"reason": f"witness not accurate enough: {exc.reason}"}, **base)
        except ExpressionError as exc:
            # the symbolic layer's closed forms (polynomial times exp-quadratic) do not cover this family's c or p
            return Verdict(verdict="not-applicable", error=None, where={}, details={
                "reason": f"outside the closed-form class of the symbolic layer: {exc}",
                "limitation": "no closed form"}, **base)
        except RegularityError as exc:
            proved = [c for c in family_certificates(family, [exc.assumption] if exc.assumption else [])
                      if c.assumption == exc.assumption and c.holds is True] if exc.decided else []
            if proved:
                # the family certifies the assumption for every policy, so the failure came from the computation
                why = (f"raised that {exc.assumption} fails ({exc}), but {proved[0].name} certifies it: "
                       f"{proved[0].statement}")
                if self.formula_name != "theory":
                    return Verdict(verdict="error", error=None, where=exc.diagnosis, details={
                        "reason": f"the formula {why}", "exception": type(exc).__name__}, **base)
                return Verdict(verdict="inconclusive", error=None, where=exc.diagnosis,
                                   details={"reason": f"the witness {why}"}, **base)
            if exc.decided and exc.assumption in self.requires:
                return Verdict(verdict="not-applicable", error=None, where=exc.diagnosis, details={
                    "reason": f"assumption {exc.assumption} fails at the witness's policy: {exc}",
                    "assumption": exc.assumption}, **base)
            why = ("assumption failed" if exc.decided else "assumption not decided in float64") + \
                (f" ({exc.assumption}, which this claim does not list: its list of needs is incomplete)"
                 if exc.decided and exc.assumption not in self.requires else "")
            return Verdict(verdict="inconclusive", error=None, where=exc.diagnosis,
                               details={"reason": f"{why}: {exc}"}, **base)
        except (Exception, SystemExit) as exc:  # whatever a user's formula raises (even sys.exit) is its verdict
            if self.formula_name == "theory":
                raise
            # a user's or mutant formula that cannot even be evaluated is not refuted on its numbers: its own verdict
            return Verdict(verdict="error", error=None, where={}, details={
                "reason": f"formula raised {type(exc).__name__}: {exc}", "exception": type(exc).__name__}, **base)
        if out.verdict is not None:
            verdict = out.verdict
        elif out.error is None or not math.isfinite(out.error):
            verdict = "fails"
        else:
            verdict = "holds" if out.error <= self.tolerance else "fails"
            w = out.witness_error
            if w is not None and (verdict == "holds" and w > self.tolerance
                                  or verdict == "fails" and out.error - w <= self.tolerance):
                verdict = "inconclusive"
        details = dict(out.details)
        unit = error_unit(self.tolerance_reason)
        floor = None if not kappa else UNIT_ROUNDOFF * (kappa[0] if unit == "relative" else kappa[1])
        if self.conditioning and floor is not None and verdict in ("holds", "fails") \
                and unit in ("absolute", "relative") and floor > self.tolerance:
            # near-degenerate chain: round-off alone, amplified by the Poisson system's conditioning, could
            # exceed the tolerance, so neither a pass nor a fail is trustworthy
            verdict = "inconclusive"
            details["reason"] = (f"floating point could exceed the tolerance: the Poisson system's condition number "
                                 f"cond_2(I - P + 1 rho^T) = {kappa[0]:.3g}, times the unit round-off "
                                 + ("" if unit == "relative" else "and max(1, |h|) ")
                                 + f"is {floor:.2g} > tolerance {self.tolerance:.3g}")
        if kappa:
            details["poisson_condition"] = kappa[0]
        if out.witness_error is not None:
            details["witness_error"] = out.witness_error
            if verdict == "inconclusive" and "reason" not in details:
                details["reason"] = (f"the witness's error bound {out.witness_error:.2g} does not allow a decision "
                                     f"between error {out.error:.3g} and tolerance {self.tolerance:.3g}")
        return Verdict(verdict=verdict, error=out.error, where=dict(out.where), details=details, **base)
