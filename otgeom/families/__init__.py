"""The family registry: one small file per family (see ``_template.py``).

``family(name, **params)`` validates and returns a :class:`Family`;
``BUILTIN_CASES`` are the instances the claim suite runs on by default.
"""
from __future__ import annotations

from typing import Any

from otgeom.errors import ParameterError
from otgeom.families import modulated, switch2
from otgeom.families._base import Domain, Family, FamilySpec, Parameter, Primitives, Structural

__all__ = ["FAMILIES", "BUILTIN_CASES", "family", "builtin_cases", "Family", "FamilySpec", "Parameter",
           "Domain", "Structural", "Primitives"]

FAMILIES: dict[str, FamilySpec] = {m.SPEC.name: m.SPEC for m in (switch2, modulated)}

#: (family name, structural/parameter overrides) the claim suite runs on by default.
BUILTIN_CASES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("switch2", {}),
    ("modulated", {"n": 3, "d": 1}),
    ("modulated", {"n": 2, "d": 2}),
)


def family(name: str, **params: Any) -> Family:
    """Instantiate a registered family by name (unspecified parameters take their defaults)."""
    try:
        spec = FAMILIES[name]
    except KeyError:
        raise ParameterError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
    return spec.instantiate(**params)


def builtin_cases() -> list[Family]:
    """The built-in family instances of the claim suite."""
    return [family(name, **kw) for name, kw in BUILTIN_CASES]
