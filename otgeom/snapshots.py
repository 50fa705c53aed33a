"""Formula snapshots: a canonical, stable text of every derived formula, kept under version control.

A change to the theory or to the derivation code then shows up in review as a readable diff of
formulas.  One file per derivation of the built-in families (``tests/snapshots/<name>.txt``);
``tests/test_snapshots.py`` compares them and prints the diff.  After a deliberate change, update
them with one command::

    .venv/bin/python -m pytest tests/test_snapshots.py --update-snapshots

Text form: a header (derivation name, inputs), then every named definition ``name = expr`` in
dependency order, then every output ``[key] = expr`` (matrices and lists flattened with indices),
each printed by :func:`otgeom.typeset.canonical_text` (sympy's str printer, canonical term order).
The definitions are built in a fixed order (not set order), so the text does not depend on
``PYTHONHASHSEED``.
"""
from __future__ import annotations

import difflib
import re

from otgeom.typeset import canonical_text

__all__ = ["derivation_text", "builtin_derivations", "snapshot_name", "snapshot_diff"]


def derivation_text(D) -> str:
    """The canonical text of a :class:`~otgeom.symbolic.derivation.Derivation`."""
    lines = [f"# derivation {D.name}", f"# inputs: {', '.join(map(str, D.inputs))}", "# definitions"]
    lines += [f"{s} = {canonical_text(e)}" for s, e in D.definitions]
    lines.append("# outputs")
    for key in D.outputs:
        lines += [f"[{k}] = {canonical_text(e)}" for k, e in D.items(key)]
    return "\n".join(lines) + "\n"


def snapshot_name(D) -> str:
    """File name of a derivation's snapshot: its name with non-word characters as ``-``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", D.name).strip("-") + ".txt"


def builtin_derivations() -> list:
    """Every derivation of the built-in families (``BUILTIN_CASES``), each once.

    Finite families give :func:`~otgeom.symbolic.geometry.first_order`, and for d = 1 also
    :func:`~otgeom.symbolic.second_order.second_order` (G, Christoffel symbols, the Hessians, drho/dh/dQ);
    the LQ family gives the scalar derivation.
    """
    from otgeom.families import BUILTIN_CASES, family
    from otgeom.symbolic.geometry import first_order
    from otgeom.families.protocol import supports
    from otgeom.symbolic.lq import scalar_lq
    from otgeom.symbolic.second_order import second_order

    out, seen = [], set()
    for name, kw in BUILTIN_CASES:
        fam = family(name, **kw)
        kind = supports(fam).kind
        if kind == "grid":
            continue  # numeric families: their drift and cost derivatives are one sympy diff each, no derivation
        if kind == "lq":
            ders = [scalar_lq()]
        else:
            ders = [first_order(fam)] + ([second_order(fam)] if fam.action_dim == 1 else [])
        for D in ders:
            if D.name not in seen:
                seen.add(D.name)
                out.append(D)
    return out


def snapshot_diff(expected: str, actual: str, name: str) -> str:
    """Unified diff (empty when equal) between a stored snapshot and the current text."""
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=f"{name} (stored)", tofile=f"{name} (derived now)", n=1))
