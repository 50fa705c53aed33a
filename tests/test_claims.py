"""Every claim holds on the built-in families and rejects each of its mutants."""
import pytest

from otgeom import family
from otgeom.families import builtin_cases
from proofs_checks import CLAIMS

SWITCH2 = family("switch2")


def test_every_claim_has_a_mutant_and_a_reasoned_tolerance():
    names = [c.name for c in CLAIMS]
    assert len(names) == len(set(names))
    for c in CLAIMS:
        assert c.mutants, c.name
        assert c.tolerance_reason and c.witness and c.statement


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.name)
def test_claim_holds_on_switch2(claim):
    r = claim.run(SWITCH2, seed=0)
    assert r.verdict == "holds", (r.error, r.details)


@pytest.mark.parametrize("claim, mutant", [(c, m) for c in CLAIMS for m in c.mutants],
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_claim_rejects_mutant(claim, mutant):
    r = claim.mutant(mutant).run(SWITCH2, seed=0)
    assert r.verdict == "fails", (claim.name, mutant, r.error, r.details)
    assert r.formula == f"mutant:{mutant}"


@pytest.mark.slow
@pytest.mark.parametrize("fam", builtin_cases()[1:], ids=lambda f: f.label)
@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.name)
def test_claim_holds_on_other_builtins(claim, fam):
    r = claim.run(fam, seed=1)
    assert r.verdict in ("holds", "not-applicable"), (r.verdict, r.error, r.details)
