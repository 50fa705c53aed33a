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


def claim(name: str) -> Claim:
    for c in CLAIMS:
        if c.name == name:
            return c
    raise ParameterError(f"unknown claim {name!r}; known: {', '.join(c.name for c in CLAIMS)}")
