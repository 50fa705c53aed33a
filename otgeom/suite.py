r"""Run the claim suite: on which families, which claims, under which theory, in how many processes.

:func:`run_suite` is the one entry point of the command line (``otgeom check``), the reports and the Python API;
:func:`suite_records` streams the same records (the CLI prints them as they arrive); :func:`theory_diff` compares
two runs (``otgeom check --theory FILE.py``).  Every claim seeds its own generator, so the verdicts do not
depend on the number of processes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Any, Iterator, Sequence

from otgeom.claims import Claim, Verdict
from otgeom.errors import ParameterError
from otgeom.theory import Theory, using

__all__ = ["run_suite", "run_under", "suite_pairs", "suite_records", "theory_diff", "theory_claims"]


def suite_pairs(families: Sequence[Any] | None = None, claims: Sequence[Any] | None = None
                ) -> list[tuple[Any, str, dict, Claim]]:
    """The (family, family name, its parameters, claim) pairs of a run, in suite order.

    ``families``: None (the built-in cases), or items that are a family instance, a family name, ``(name, params)``,
    or ``(name, params, instance)`` (an instance already built from them: forked workers find it under that name).  ``claims``: None (every claim, each paired with the families of its kind), or claim names
    or :class:`~otgeom.claims.Claim` objects (each paired with every family: a claim about another kind of family
    says ``not-applicable``).
    """
    from otgeom.families import BUILTIN_CASES, family as make
    from proofs_checks import CLAIMS, claim

    items = list(BUILTIN_CASES) if families is None else list(families)
    fams: list[tuple[Any, str, dict]] = []
    for item in items:
        if isinstance(item, str):
            fams.append((make(item), item, {}))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            fams.append((make(item[0], **dict(item[1])), item[0], dict(item[1])))
        elif isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], str):
            fams.append((item[2], item[0], dict(item[1])))
        else:  # an instance: forked workers find it under a key of its own
            fams.append((item, f"<instance {id(item):x}>", {}))
    chosen = CLAIMS if claims is None else [c if isinstance(c, Claim) else claim(c) for c in claims]
    return [(fam, name, kw, c) for fam, name, kw in fams for c in chosen
            if claims is not None or c.applies_to(fam)]


@contextlib.contextmanager
def suite_records(pairs: Sequence[tuple[Any, str, dict, Claim]], seed: int = 0, workers: int | None = 1,
                  scheduler: str | None = None) -> Iterator[Iterator[dict[str, Any]]]:
    """Each pair's ``Verdict.to_json()``, in suite order: in this process (``workers=1``), by forked workers
    (``None``: one per core; they start in milliseconds and inherit the families built here), or on a Dask
    scheduler.  The records are the same either way; a task that raised in a worker is run again here, so that
    its exception reaches the caller as in the serial run."""
    from otgeom.sweep import Task, default_workers, executing, remember_family

    workers = default_workers() if workers is None else workers
    if scheduler is None and (workers == 1 or len(pairs) <= 1):
        yield (c.run(fam, seed=seed).to_json() for fam, _, _, c in pairs)
        return
    tasks = []
    for fam, name, kw, c in pairs:
        remember_family(name, kw, fam)  # a forked worker finds it built
        tasks.append(Task(c.name, name, kw, seed))
    backend = "dask" if scheduler else "fork"

    def results(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for (fam, _, _, c), rec in zip(pairs, records):
            for (category, text), cls in zip(rec["warnings"], rec.get("_warning_classes", ())):
                warnings.warn(text, cls if isinstance(cls, type) and issubclass(cls, Warning) else RuntimeWarning)
            if rec["failure"] is not None or c.formula_name != "theory":
                # raised there (or a lost worker's task): raises here as it did there; a formula other than the
                # suite's is not known to the workers, so it runs here
                yield c.run(fam, seed=seed).to_json()
                continue
            yield rec["result"]

    with executing(tasks, workers, scheduler, backend=backend) as records:
        yield results(records)


def theory_claims(theory: Theory | None, claims: Sequence[Claim]) -> list[Claim]:
    """The claims with the theory's formulas under test (``theory.formulas``; unknown claim names are an error)."""
    if theory is None or not theory.formulas:
        return list(claims)
    from proofs_checks import CLAIMS

    known = {c.name for c in CLAIMS}
    unknown = [k for k in theory.formulas if not isinstance(k, str) or k not in known]
    if unknown:
        raise ParameterError(f"theory {theory.name!r}: formulas for unknown claim(s) "
                             f"{', '.join(repr(k)[:40] for k in unknown[:3])}; the keys are claim names "
                             "(otgeom check --list names every claim)")
    return [c.with_formula(theory.formulas[c.name], f"theory:{theory.name}") if c.name in theory.formulas else c
            for c in claims]


def run_suite(families: Sequence[Any] | None = None, claims: Sequence[Any] | None = None, seed: int = 0,
              theory: Theory | None = None, workers: int | None = 1, scheduler: str | None = None) -> list[Verdict]:
    """Run the claims on the families (see :func:`suite_pairs`) and return their :class:`~otgeom.claims.Verdict`\\ s.

    ``theory``: run under a changed theory (:mod:`otgeom.theory`): its definitions are read by the witnesses and
    its formulas replace the claims'.  A changed theory runs in this process (``workers`` is then ignored): its
    definitions are Python objects of the caller.  A claim the theory does not affect (:meth:`Theory.affects`:
    neither its formula nor a definition its witness reads changes) says so in ``details["theory"]``.
    ``workers``: 1 (default), N forked processes, or None (one per core); ``scheduler``: a Dask scheduler's
    address.
    """
    pairs = suite_pairs(families, claims)
    if theory is not None and not theory.is_reference:
        return run_under(theory, pairs, seed)
    from otgeom.sweep import default_workers

    if scheduler is None and ((default_workers() if workers is None else workers) == 1 or len(pairs) <= 1):
        return [c.run(fam, seed=seed) for fam, _, _, c in pairs]
    with suite_records(pairs, seed, workers, scheduler) as records:
        return [Verdict.from_json(rec) for rec in records]


def run_under(theory: Theory, pairs: Sequence[tuple[Any, str, dict, Claim]], seed: int = 0,
              reference: Sequence[Verdict] | None = None) -> list[Verdict]:
    """The pairs' verdicts under ``theory`` (in this process).  A claim the theory does not affect
    (:meth:`Theory.affects`) is marked in ``details["theory"]``; with ``reference`` (the same pairs' reference
    verdicts) it is not run again but its reference verdict is carried over, marked the same way."""
    claims = theory_claims(theory, [c for _, _, _, c in pairs])
    note = _NOT_READ.format(", ".join(theory.changed) or "nothing")
    out = []
    with using(theory):
        for k, ((fam, _, _, original), c) in enumerate(zip(pairs, claims)):
            if theory.affects(original):
                out.append(c.run(fam, seed=seed))
                continue
            v = reference[k] if reference is not None else c.run(fam, seed=seed)
            out.append(dataclasses.replace(v, details={**v.details, "theory": note}))
    return out


_NOT_READ = "not re-tested: this claim's witness does not read the changed definitions ({}) and its formula is the same"


def theory_diff(reference: Sequence[Verdict], changed: Sequence[Verdict]) -> list[dict[str, Any]]:
    """One row per (claim, family) of two runs of the same pairs: both verdicts and errors, ``changed`` (the verdict
    differs) and ``retested`` (False when the theory does not affect the claim, see :meth:`Theory.affects`).
    JSON-ready."""
    rows = []
    for a, b in zip(reference, changed):
        if (a.claim, a.family) != (b.claim, b.family):
            raise ParameterError(f"theory_diff: runs of different pairs ({a.claim} on {a.family} vs {b.claim} on "
                                 f"{b.family})")
        rows.append({"claim": a.claim, "family": a.family, "reference": a.verdict, "changed_verdict": b.verdict,
                     "reference_error": _num(a.error), "changed_error": _num(b.error), "error_unit": a.error_unit,
                     "tolerance": a.tolerance, "changed": a.verdict != b.verdict,
                     "retested": "theory" not in (b.details or {}),
                     "formula": b.formula, "reason": (b.details or {}).get("reason") or (b.details or {}).get("theory")})
    return rows


def _num(x: Any) -> Any:
    import math

    return str(x) if isinstance(x, float) and not math.isfinite(x) else x
