"""The claim suite: the claims of THEORY.md sections 1-6, each with an independent witness and mutants.

``CLAIMS`` is ordered by section; ``claim(name)`` looks one up.
"""
from __future__ import annotations

from otgeom.claims import Claim
from otgeom.errors import ParameterError
from proofs_checks import (chain_claims, first_order_claims, flow_claims, grid_claims, lq_claims, methods_claims,
                           mixing_claims, second_order_claims)

CLAIMS: list[Claim] = (chain_claims.CLAIMS + mixing_claims.CLAIMS + first_order_claims.CLAIMS + second_order_claims.CLAIMS
                       + lq_claims.CLAIMS + flow_claims.CLAIMS + grid_claims.CLAIMS + methods_claims.CLAIMS)


def unknown_claim(name: str) -> ParameterError:
    """The error for a claim name the suite does not have: the closest names, and where the whole list is."""
    import difflib

    from otgeom.limits import excerpt

    close = difflib.get_close_matches(name, [c.name for c in CLAIMS], n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ParameterError(f"unknown claim {excerpt(name)}; {hint}otgeom check --list lists all {len(CLAIMS)}")


def check_claim_names(names) -> None:
    """ParameterError (:func:`unknown_claim`) for the first name that is not a claim of the suite."""
    known = {c.name for c in CLAIMS}
    for name in names:
        if name not in known:
            raise unknown_claim(name)


def claim(name: str) -> Claim:
    for c in CLAIMS:
        if c.name == name:
            return c
    raise unknown_claim(name)
