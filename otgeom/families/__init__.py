"""The family registry: one small file per family (see ``_template.py``).

``family(name, **params)`` validates and returns a :class:`Family` (finite states, symbolic
primitives), for ``lq`` an :class:`~otgeom.families.lq.LQFamily` (continuous states, closed forms), or
for a grid family (``grid-linear``, ``double-well``, ``pendulum``) a :class:`~otgeom.families.grid.GridFamily`
(continuous states on a grid, sparse numeric chain).  Each declares what it supports (``supports``, a
:class:`~otgeom.families.protocol.Supports`: its kind, which decides the claims that apply and the report's
sections, the symbolic layer, the second order, the route of ``eval``, the policy file); :data:`KINDS` registers
the kinds with their names, constructors and ``otgeom families`` lines.
``BUILTIN_CASES`` are the instances the claim suite runs on by default.
"""
from __future__ import annotations

from typing import Any

from otgeom.errors import ParameterError
from otgeom.families import (double_well, grid_linear, kinked, modulated, pendulum, periodic, reducible, relay,
                             switch2, transient)
from otgeom.families._base import Domain, Family, FamilySpec, Parameter, Primitives, Structural
from otgeom.families.grid import GridFamily, GridSpec
from otgeom.families.lq import LQFamily, lq_family
from otgeom.families.protocol import FamilyKind, Supports, supports

__all__ = ["FAMILIES", "BUILTIN_CASES", "family", "builtin_cases", "Family", "FamilySpec", "Parameter",
           "Domain", "Structural", "Primitives", "LQFamily", "family_names", "GRID_FAMILIES", "GridFamily",
           "COUNTEREXAMPLES", "KINDS", "FamilyKind", "Supports", "supports"]

FAMILIES: dict[str, FamilySpec] = {m.SPEC.name: m.SPEC for m in (switch2, modulated, reducible, transient, periodic,
                                                                   kinked)}

#: the counterexample families (issue 17): each breaks one assumption for every policy; not in the default suite,
#: ``otgeom check --family NAME`` runs the suite on one, ``otgeom check --counterexamples`` on all of them
COUNTEREXAMPLES: tuple[str, ...] = ("reducible", "transient", "periodic", "kinked", "relay")

#: Grid families (continuous states on a grid, kind ``"grid"``, :mod:`otgeom.families.grid`).
GRID_FAMILIES: dict[str, GridSpec] = {m.SPEC.name: m.SPEC for m in (grid_linear, double_well, pendulum, relay)}

#: (family name, structural/parameter overrides) the claim suite runs on by default.
BUILTIN_CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("switch2", {}),
    ("modulated", {"n": 3, "d": 1}),
    ("modulated", {"n": 2, "d": 2}),
    ("lq", {}),
    ("lq", {"example": "dean"}),
    ("lq", {"tau": "1/2"}),
    ("grid-linear", {}),
    ("double-well", {}),
    # a coarser pendulum (24 x 16 cells, twice the noise) keeps the default suite fast; the default 48 x 32 grid
    # is checked by the tests and shown in the notebook
    ("pendulum", {"cells_theta": 24, "cells_omega": 16, "noise_theta": 0.2, "noise_omega": 0.4}),
)


def _describe_finite(name: str) -> list[str]:
    spec = FAMILIES[name]
    lines = [f"{name}: {spec.description}"]
    for st in spec.structural:
        lines.append(f"    {st.name} (integer {st.low}..{st.high}, default {st.default}): {st.doc}")
    structure = {st.name: st.default for st in spec.structural}
    default = spec.instantiate()
    fixed = {"n": str(default.n_states), "d": str(default.action_dim)}  # sizes that are not structural integers
    for p in spec.parameters(structure):
        shape = " x ".join(k if k in structure else fixed.get(k, k) for k in p.shape)
        lines.append(f"    {p.name} [{shape}] {p.domain.describe}: {p.doc}")
    return lines


def _describe_lq(name: str) -> list[str]:
    from otgeom.families.lq import DESCRIPTION, EXAMPLES, PARAMETER_DOCS

    return [f"lq: {DESCRIPTION}", *(f"    {k}: {doc}" for k, doc in PARAMETER_DOCS.items()),
            f"    examples: {', '.join(EXAMPLES)} (default: scalar)"]


def _describe_grid(name: str) -> list[str]:
    gspec = GRID_FAMILIES[name]
    return [f"{name}: {gspec.description} (grid family: continuous states on a grid, THEORY.md section 6)",
            *(f"    {p.name} ({p.domain}, default {p.default}): {p.doc}" for p in gspec.all_parameters)]


#: the kinds of family (:mod:`otgeom.families.protocol`), in the order ``otgeom families`` lists them; a new kind
#: of family is its module plus one entry here
KINDS: dict[str, FamilyKind] = {
    "finite": FamilyKind("finite", lambda: sorted(FAMILIES), lambda name, **kw: FAMILIES[name].instantiate(**kw),
                         _describe_finite),
    "lq": FamilyKind("lq", lambda: ["lq"], lambda name, **kw: lq_family(**kw), _describe_lq),
    "grid": FamilyKind("grid", lambda: sorted(GRID_FAMILIES),
                       lambda name, **kw: GRID_FAMILIES[name].instantiate(**kw), _describe_grid),
}


def family_names() -> list[str]:
    """Every family name, finite-state and continuous."""
    return sorted(n for k in KINDS.values() for n in k.names())


def family(name: str, **params: Any) -> Family | LQFamily | GridFamily:
    """Instantiate a registered family by name (unspecified parameters take their defaults)."""
    for k in KINDS.values():
        if name in k.names():
            return k.make(name, **params)
    raise ParameterError(f"unknown family {name!r}; known: {', '.join(family_names())}")


def builtin_cases() -> list[Family]:
    """The built-in family instances of the claim suite."""
    return [family(name, **kw) for name, kw in BUILTIN_CASES]
