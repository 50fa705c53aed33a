"""The family registry: one small file per family (see ``_template.py``).

``family(name, **params)`` validates and returns a :class:`Family` (finite states, symbolic
primitives), for ``lq`` an :class:`~otgeom.families.lq.LQFamily` (continuous states, closed forms), or
for a grid family (``grid-linear``, ``double-well``, ``pendulum``) a :class:`~otgeom.families.grid.GridFamily`
(continuous states on a grid, sparse numeric chain); each carries ``kind`` (``"finite"`` / ``"lq"`` /
``"grid"``), which decides the claims that apply.
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

__all__ = ["FAMILIES", "BUILTIN_CASES", "family", "builtin_cases", "Family", "FamilySpec", "Parameter",
           "Domain", "Structural", "Primitives", "LQFamily", "family_names", "GRID_FAMILIES", "GridFamily",
           "COUNTEREXAMPLES"]

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


def family_names() -> list[str]:
    """Every family name, finite-state and continuous."""
    return sorted([*FAMILIES, *GRID_FAMILIES, "lq"])


def family(name: str, **params: Any) -> Family | LQFamily | GridFamily:
    """Instantiate a registered family by name (unspecified parameters take their defaults)."""
    if name == "lq":
        return lq_family(**params)
    if name in GRID_FAMILIES:
        return GRID_FAMILIES[name].instantiate(**params)
    try:
        spec = FAMILIES[name]
    except KeyError:
        raise ParameterError(f"unknown family {name!r}; known: {', '.join(family_names())}") from None
    return spec.instantiate(**params)


def builtin_cases() -> list[Family]:
    """The built-in family instances of the claim suite."""
    return [family(name, **kw) for name, kw in BUILTIN_CASES]
