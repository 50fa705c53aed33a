"""Formula snapshots: every derived formula of the built-in families against tests/snapshots/.

Update after a deliberate change: ``.venv/bin/python -m pytest tests/test_snapshots.py --update-snapshots``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from otgeom.snapshots import builtin_derivations, derivation_text, snapshot_diff, snapshot_name
from otgeom.symbolic.derivation import Derivation

SNAPSHOTS = Path(__file__).parent / "snapshots"
DERIVATIONS = builtin_derivations()


@pytest.mark.parametrize("D", DERIVATIONS, ids=[D.name for D in DERIVATIONS])
def test_formulas_match_snapshot(D, request):
    path = SNAPSHOTS / snapshot_name(D)
    text = derivation_text(D)
    if request.config.getoption("otgeom_update_snapshots"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path.name}; create it with pytest tests/test_snapshots.py --update-snapshots"
    diff = snapshot_diff(path.read_text(), text, path.name)
    assert not diff, f"derived formulas changed (update with --update-snapshots if deliberate):\n{diff}"


def test_no_stale_snapshot_files():
    names = {snapshot_name(D) for D in DERIVATIONS}
    stale = sorted(p.name for p in SNAPSHOTS.glob("*.txt") if p.name not in names)
    assert not stale, f"snapshot files of no built-in derivation: {stale}"


def test_a_changed_formula_shows_as_a_diff():
    """A deliberately changed definition (r_0 gains + 1) makes the comparison fail, naming the formula."""
    D = DERIVATIONS[0]
    stored = (SNAPSHOTS / snapshot_name(D)).read_text()
    defs = tuple((s, e + 1 if str(s) == "r_0" else e) for s, e in D.definitions)
    changed = Derivation(D.name, D.inputs, defs, D.outputs)
    diff = snapshot_diff(stored, derivation_text(changed), "x")
    assert diff
    removed = [ln for ln in diff.splitlines() if ln.startswith("-r_0 = ")]
    added = [ln for ln in diff.splitlines() if ln.startswith("+r_0 = ")]
    assert len(removed) == 1 and len(added) == 1
    assert sp.sympify(added[0][len("+r_0 = "):]) - sp.sympify(removed[0][len("-r_0 = "):]) == 1


def test_snapshot_text_does_not_depend_on_hash_seed():
    """Two interpreters with different PYTHONHASHSEED derive byte-identical text (definitions in a fixed order).

    The second-order derivation of switch2 contains its first-order one, so both are covered."""
    code = ("from otgeom.families import family; from otgeom.symbolic.second_order import second_order; "
            "from otgeom.snapshots import derivation_text; import hashlib; "
            "print(hashlib.sha256(derivation_text(second_order(family('switch2'))).encode()).hexdigest())")
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) == 1
