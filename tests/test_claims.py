"""Every claim holds on the built-in families and rejects each of its mutants."""
import pytest

from otgeom import family
from otgeom.families import builtin_cases
from proofs_checks import CLAIMS

SWITCH2 = family("switch2")
LQ_SCALAR = family("lq")
GRID_LINEAR = family("grid-linear")
#: the family each claim is shown on in the fast tests: the first built-in of its kind
DEFAULT = {"finite": SWITCH2, "lq": LQ_SCALAR, "grid": GRID_LINEAR}


def _shown_on(claim):
    """The first built-in of the claim's kind, or the first built-in it applies to (gaussian-metric-bures: d >= 2)."""
    fam = DEFAULT[claim.family_kind]
    if claim.applies is None or claim.applies(fam) is None:
        return fam
    return next(f for f in builtin_cases() if claim.applies_to(f) and claim.applies(f) is None)


def test_every_claim_has_a_mutant_and_a_reasoned_tolerance():
    names = [c.name for c in CLAIMS]
    assert len(names) == len(set(names))
    for c in CLAIMS:
        assert c.mutants, c.name
        assert c.tolerance_reason and c.witness and c.statement


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.name)
def test_claim_holds_on_first_builtin(claim):
    r = claim.run(_shown_on(claim), seed=0)
    assert r.verdict == "holds", (r.error, r.details)


@pytest.mark.parametrize("claim, mutant", [(c, m) for c in CLAIMS for m in c.mutants],
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_claim_rejects_mutant(claim, mutant):
    """Rejected on its numbers: a mutant whose call raises would be verdict "error", not a caught mutant."""
    r = claim.mutant(mutant).run(_shown_on(claim), seed=0)
    assert r.verdict == "fails", (claim.name, mutant, r.verdict, r.error, r.details)
    assert "exception" not in r.details  # not an exception caught as a failure
    assert r.formula == f"mutant:{mutant}"


def test_a_formula_that_raises_is_its_own_verdict_not_a_failure():
    c = CLAIMS[[x.name for x in CLAIMS].index("riemannian-gradient")]

    def broken(*args):
        raise TypeError("wrong signature")

    r = c.with_formula(broken, "broken").run(SWITCH2, seed=0)
    assert r.verdict == "error" and r.details["exception"] == "TypeError" and r.error is None


OTHER_BUILTINS = [f for f in builtin_cases() if f.label not in {d.label for d in DEFAULT.values()}]


@pytest.mark.slow
@pytest.mark.parametrize("fam", OTHER_BUILTINS, ids=lambda f: f.label)
def test_claim_holds_on_other_builtins(fam):
    """Every claim about the family's kind holds (or does not apply) at seed 1; the claims run in forked workers,
    one per core (otgeom.suite.run_suite: the same verdicts as one by one in this process)."""
    from otgeom.suite import run_suite

    bad = [(r.claim, r.verdict, r.error, r.details) for r in run_suite([fam], seed=1, workers=None)
           if r.verdict not in ("holds", "not-applicable")]
    assert not bad, bad


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.name)
def test_claim_of_another_kind_is_not_applicable(claim):
    other = LQ_SCALAR if claim.family_kind == "finite" else SWITCH2
    assert claim.run(other).verdict == "not-applicable"
