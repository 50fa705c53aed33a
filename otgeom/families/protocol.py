r"""The family protocol: what a family supports, and the registry of kinds of family.

Every family class declares a :class:`Supports` record (its ``supports`` property): the kind of family (which
claims are about it and which report sections it gets), whether the symbolic layer can be tried on it, whether
it has the symbolic second order, the route ``otgeom eval`` takes and the policy file it reads.  The command
line, ``check``, ``report``, ``eval`` and the certificates ask :func:`supports` instead of testing classes.

:data:`KINDS` registers each kind with its names, its constructor and its lines in ``otgeom families``; a new kind
of family is its module plus one :class:`FamilyKind` entry in :mod:`otgeom.families` and, keyed by the same kind,
its record (:data:`otgeom.analysis.ANALYSES`), its report sections (:data:`otgeom.report.content.SECTIONS`) and its
``otgeom derive`` printer (:data:`otgeom.cli.DERIVE`); a test checks the four registries name the same kinds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from otgeom.errors import ParameterError

__all__ = ["Supports", "FamilyKind", "supports"]


@dataclass(frozen=True)
class Supports:
    """What a family supports.

    ``kind``: ``"finite"``, ``"lq"`` or ``"grid"``: the claims about it (``Claim.family_kind``), its report
    sections (``otgeom.report.content.SECTIONS``) and its certificates.  ``symbolic``: the closed-form
    derivations can be tried (a finite family may still be outside the closed-form class: ExpressionError then
    says why).  ``second_order``: the symbolic second order and ``eval --hessian`` (finite families, d = 1).
    ``evaluation``: the route of ``otgeom eval`` (``"quadrature"``: Gaussian quadrature and GTH; ``"lyapunov"``: the
    LQ closed forms; ``"sparse-grid"``: the grid chain).  ``policy_format``: the policy file ``eval`` reads
    (``"gaussian"``: mean and cov or std; ``"lq"``: K and Sigma; ``"grid"``: mean and std per cell).
    """

    kind: str
    symbolic: bool
    second_order: bool
    evaluation: str
    policy_format: str


def supports(family: Any) -> Supports:
    """The :class:`Supports` a family declares (ParameterError for an object that is not a family)."""
    out = getattr(family, "supports", None)
    if not isinstance(out, Supports):
        raise ParameterError(f"{type(family).__name__} is not an otgeom family (it declares no supports)")
    return out


@dataclass(frozen=True)
class FamilyKind:
    """One kind of family in the registry: its family names, how to build one, its lines in ``otgeom families``."""

    name: str
    names: Callable[[], list[str]]
    make: Callable[..., Any]
    describe: Callable[[str], list[str]]
