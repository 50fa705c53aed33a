r"""Search for counterexamples: where does a claim fail once one of its assumptions is dropped?

:func:`search_counterexample` runs a claim on ``modulated`` families whose transition matrices M and N are drawn
by hypothesis *without* the construction that guarantees the dropped assumption (for R1 and R2: any
row-stochastic M and N, so reducible and transient chains occur), with the claim's gate for that assumption
removed (:attr:`otgeom.claims.Claim.needs`), and optionally with ``formula``, the formula as one would evaluate
it when the assumption is simply presumed (for J = rho^T r without R1: rho any stationary law, from least
squares).  The first parameter point where the verdict is ``fails`` is shrunk by hypothesis to the smallest it
can find (fewest and smallest integer weights), and returned with the claim's result there.

Hypothesis is a test dependency (``pip install -e ".[test]"``); this module imports it when called.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import sympy as sp

from otgeom.claims import ClaimResult
from otgeom.errors import OtgeomError, ParameterError

__all__ = ["Counterexample", "search_counterexample", "any_stationary_cost"]


@dataclass(frozen=True)
class Counterexample:
    """The smallest failing parameter point found: the family's parameters (exact, as JSON) and the result."""

    claim: str
    dropped: str
    parameters: dict[str, Any]
    result: ClaimResult
    examples_tried: int

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "dropped": self.dropped, "parameters": self.parameters,
                "examples_tried": self.examples_tried, "result": self.result.to_json()}


def any_stationary_cost(P: np.ndarray, r: np.ndarray) -> float:
    r""":math:`J = \rho^\top r` with :math:`\rho` *a* stationary law (least squares,
    :func:`proofs_checks.chain_claims.lstsq_stationary`): the formula as evaluated when R1 is presumed, not checked."""
    from proofs_checks.chain_claims import lstsq_stationary

    return float(lstsq_stationary(P) @ r)


def _matrices(n: int):
    from hypothesis import strategies as st

    def row(i):
        # any non-negative integer weights (at least one positive): zeros make reducible and transient chains
        return st.lists(st.integers(0, 2), min_size=n, max_size=n).filter(lambda w: sum(w) > 0)

    return st.lists(st.tuples(*[row(i) for i in range(n)]), min_size=2, max_size=2).map(
        lambda mats: [[[sp.Rational(x, sum(w)) for x in w] for w in m] for m in mats])


def search_counterexample(claim_name: str, drop: str, *, n: int = 3, formula: Callable | None = None,
                          max_examples: int = 100, seed: int = 0) -> Counterexample | None:
    """The smallest ``modulated(n, d=1)`` parameter point (M, N) where ``claim_name`` fails without ``drop``.

    Returns None when no failing point was found in ``max_examples`` draws (which proves nothing)."""
    try:
        from hypothesis import HealthCheck, find, settings
        from hypothesis.errors import NoSuchExample
    except ImportError:  # pragma: no cover - hypothesis is in the test extra
        raise ParameterError("the counterexample search needs hypothesis: pip install -e \".[test]\"") from None
    from otgeom.families import family
    from proofs_checks import claim

    base = claim(claim_name)
    if drop not in base.requires:
        raise ParameterError(f"{claim_name} does not need {drop}; it needs {', '.join(base.requires) or 'nothing'}")
    probe = dataclasses.replace(base, needs=tuple(r for r in base.requires if r != drop))
    if formula is not None:
        probe = probe.with_formula(formula, f"{claim_name} without {drop}")
    tried = [0]
    last: dict[str, ClaimResult] = {}

    def fails(mats) -> bool:
        tried[0] += 1
        try:
            fam = family("modulated", n=n, d=1, M=mats[0], N=mats[1])
        except OtgeomError:
            return False
        r = probe.run(fam, seed=seed)
        key = repr(mats)
        last[key] = r
        return r.verdict == "fails"

    try:
        found = find(_matrices(n), fails, settings=settings(max_examples=max_examples, database=None, deadline=None,
                                                            derandomize=True,
                                                            suppress_health_check=list(HealthCheck)))
    except NoSuchExample:
        return None
    params = {"n": n, "d": 1, "M": [[str(x) for x in row] for row in found[0]],
              "N": [[str(x) for x in row] for row in found[1]]}
    return Counterexample(claim_name, drop, params, last[repr(found)], tried[0])
