"""Regularity certificates (issue 17): against chains whose answers are known exactly, the structural "for every
policy" statements against the chains of random policies, R3 and measurability, and the counterexample families."""
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from otgeom import family
from otgeom.numeric.certificates import chain_certificates
from otgeom.numeric.stationary import stationary_gth
from otgeom.regularity import family_certificates, kernel_lipschitz, measurability_certificates, smoothness
from proofs_checks import claim
from proofs_checks.mixing_claims import policy_chain


def _cycle(n):
    return np.roll(np.eye(n), 1, axis=1)


# ----------------------------------------------------------------------------- known chains
@pytest.mark.parametrize("n", [2, 3, 5])
def test_cycle_has_period_n_and_no_gap(n):
    P = _cycle(n)
    c = chain_certificates(P, np.full(n, 1 / n))
    assert c["unique-stationary"].holds and c["irreducible"].holds
    assert c["aperiodic"].holds is False and c["aperiodic"].value == n
    assert c["spectral-gap"].value == pytest.approx(0, abs=1e-12)
    if n > 1:  # a permutation never contracts, because the chain is periodic
        assert c["dobrushin"].holds is False and c["dobrushin"].assumption == "aperiodic"
        assert c["doeblin"].holds is False and c["spectral-gap"].holds is False


def test_an_ergodic_chain_whose_doeblin_needs_a_later_power_than_dobrushin():
    P = np.array([[.5, .5, 0], [0, .5, .5], [.5, 0, .5]])
    c = chain_certificates(P, stationary_gth(P))
    assert c["dobrushin"].holds and c["dobrushin"].witness["k"] == 1
    assert c["doeblin"].holds and c["doeblin"].witness["k"] == 2 and c["doeblin"].value == pytest.approx(0.75)


@given(st.integers(0, 10**6))
def test_random_periodic_chains_never_get_a_contraction(seed):
    """Round-off makes delta(P^k) = 1 - 1e-16 on period-2 chains; the margin keeps it from passing as a contraction."""
    rng = np.random.default_rng(seed)
    A, B = rng.dirichlet(np.ones(2), 2), rng.dirichlet(np.ones(2), 2)
    P = np.block([[np.zeros((2, 2)), A], [B, np.zeros((2, 2))]])
    c = chain_certificates(P, stationary_gth(P))
    assert c["aperiodic"].holds is False
    for name in ("dobrushin", "doeblin", "spectral-gap"):
        assert c[name].holds is False and c[name].assumption == "aperiodic", name


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_two_state_chain(p, q):
    P = np.array([[1 - p, p], [q, 1 - q]])
    rho = np.array([q, p]) / (p + q)
    c = chain_certificates(P, rho)
    lam = abs(1 - p - q)
    assert c["dobrushin"].value == pytest.approx(lam, abs=1e-14) and c["dobrushin"].witness["k"] == 1
    assert c["doeblin"].value == pytest.approx(1 - lam, abs=1e-14)  # min(1-p, q) + min(p, 1-q)
    assert c["spectral-gap"].value == pytest.approx(1 - lam, abs=1e-12)
    assert c["positive-rho"].value == pytest.approx(min(rho), rel=1e-14)
    # the mixing bound is attained: TV(P^t(s,.), rho) = |1-p-q|^t max(rho) <= delta^t
    Pt = np.linalg.matrix_power(P, 5)
    assert 0.5 * np.abs(Pt - rho).sum(axis=1).max() <= c["dobrushin"].value ** 5 + 1e-15


@pytest.mark.parametrize("n", [3, 4, 7, 10])
def test_lazy_walk_on_a_cycle_has_the_known_gap(n):
    P = 0.5 * np.eye(n) + 0.25 * (_cycle(n) + _cycle(n).T)
    c = chain_certificates(P, np.full(n, 1 / n))
    assert c["aperiodic"].holds
    assert c["spectral-gap"].value == pytest.approx(0.5 * (1 - math.cos(2 * math.pi / n)), abs=1e-12)
    assert c["dobrushin"].holds and c["dobrushin"].value < 1


def test_block_diagonal_chain_names_its_classes():
    A = np.array([[0.5, 0.5], [0.2, 0.8]])
    P = np.zeros((5, 5))
    P[:2, :2] = A
    P[2:4, 2:4] = A[::-1, ::-1]
    P[4] = [0.1, 0.1, 0.1, 0.1, 0.6]  # transient
    c = chain_certificates(P)
    assert c["unique-stationary"].holds is False
    assert c["unique-stationary"].witness["closed_classes"] == [[0, 1], [2, 3]]
    assert c["irreducible"].witness["transient"] == [4]
    assert c["doeblin"].holds is False and c["dobrushin"].holds is False


def test_poisson_condition_grows_as_the_chain_nearly_splits():
    kappas = []
    for eps in (1e-2, 1e-4, 1e-6):
        P = np.array([[1 - eps, eps], [eps, 1 - eps]])
        kappas.append(chain_certificates(P, np.array([0.5, 0.5]))["poisson-condition"].value)
    assert kappas[1] > 50 * kappas[0] and kappas[2] > 50 * kappas[1]


def test_rho_below_float_resolution_is_undecided_not_a_pass():
    P = np.array([[1.0, 0.0], [1.0, 0.0]])
    P[0, 1] = 0.0
    c = chain_certificates(np.array([[1 - 1e-320, 1e-320], [0.5, 0.5]]), np.array([1.0, 2e-320]))
    assert c["positive-rho"].holds is None


# ----------------------------------------------------------------------------- every policy
def test_modulated_is_irreducible_for_every_policy_with_its_doeblin_bound():
    fam = family("modulated", n=3, d=1)
    c = family_certificates(fam)
    assert c["irreducible"].holds and c["irreducible"].scope == "every policy"
    assert c["doeblin"].holds and c["positive-rho"].holds


@given(st.integers(0, 10**6))
def test_every_policy_bounds_hold_at_random_policies(seed):
    """P_pi >= L entrywise gives rho_pi >= the certified bound and Doeblin eps <= that of P_pi, whatever the policy."""
    fam = family("modulated", n=3, d=1)
    c = family_certificates(fam)
    rng = np.random.default_rng(seed)
    P, _ = policy_chain(fam, rng)
    rho = stationary_gth(P)
    assert rho.min() >= c["positive-rho"].value * (1 - 1e-12)
    k = c["doeblin"].witness["k"]
    assert np.linalg.matrix_power(P, k).min(axis=0).sum() >= c["doeblin"].value * (1 - 1e-12)
    L = c["doeblin"].witness["L"]
    assert (P >= L - 1e-15).all()


def test_modulated_with_reducible_M_and_N_is_reducible_for_every_policy():
    block = [[sp.Rational(1, 2), sp.Rational(1, 2), 0, 0], [sp.Rational(1, 2), sp.Rational(1, 2), 0, 0],
             [0, 0, sp.Rational(1, 2), sp.Rational(1, 2)], [0, 0, sp.Rational(1, 2), sp.Rational(1, 2)]]
    fam = family("modulated", n=4, d=1, M=block, N=np.eye(4, dtype=int).tolist())
    c = family_certificates(fam)
    assert c["unique-stationary"].holds is False and c["unique-stationary"].scope == "every policy"
    assert claim("riemannian-gradient").run(fam).verdict == "not-applicable"


def test_reducible_M_with_mixing_N_is_still_irreducible_for_every_policy():
    """The bump phi_s(a) = q_s exp(...) is positive for every a, so N's positive entries are always switched on a
    little: with N > 0 every controlled chain is irreducible even though M is not -- checked at random policies."""
    block = [[1, 0, 0], [0, sp.Rational(1, 2), sp.Rational(1, 2)], [0, sp.Rational(1, 2), sp.Rational(1, 2)]]
    third = [[sp.Rational(1, 3)] * 3] * 3
    fam = family("modulated", n=3, d=1, M=block, N=third)
    c = family_certificates(fam)
    assert c["irreducible"].holds is True and c["irreducible"].scope == "every policy"
    for seed in range(5):
        P, _ = policy_chain(fam, np.random.default_rng(seed))
        assert chain_certificates(P)["irreducible"].holds


def test_no_statement_for_every_policy_when_the_kernel_is_outside_the_analysed_forms():
    c = family_certificates(family("kinked"))
    assert c["structure"].holds is None and c["structure"].witness["undecided"]


# ----------------------------------------------------------------------------- R3
def test_smoothness_from_the_expression_tree():
    a = sp.Symbol("a", real=True)
    assert smoothness(sp.exp(-(a - 1) ** 2) * a ** 3, (a,))[0] is True
    assert smoothness(sp.Abs(a), (a,))[0] is None  # a kink: C^2 not decided from the tree (|a|^3 is C^2)
    assert smoothness(sp.Abs(a) ** 3, (a,))[0] is None
    assert smoothness(sp.sqrt(a), (a,))[0] is None
    assert smoothness(sp.sqrt(1 + a ** 2), (a,))[0] is True


def test_switch2_kernel_lipschitz_constant_is_exact():
    """|d/da q e^{-k(a-b)^2}| is largest at |a - b| = 1/sqrt(2k): q sqrt(2k/e); the TV slope is that value."""
    fam = family("switch2")
    L = kernel_lipschitz(fam)
    q, k = [float(x) for x in fam.values["q"]], [float(x) for x in fam.values["k"]]
    for s in range(2):
        assert L[s]["bounded"] is True
        assert L[s]["value"] == pytest.approx(q[s] * math.sqrt(2 * k[s] / math.e), rel=1e-9)


def test_kinked_kernel_is_certified_not_lipschitz():
    L = kernel_lipschitz(family("kinked"))
    for x in L:
        assert x["bounded"] is False and x["growth"] == pytest.approx(0.75, abs=0.05)


# ----------------------------------------------------------------------------- measurability
def test_lq_measurability_constant():
    fam = family("lq")
    c = measurability_certificates(fam)["measurable"]
    from otgeom.numeric.lq import lq_optimum

    opt = lq_optimum(fam)
    assert c.holds and c.value == pytest.approx(np.linalg.norm(2 * fam.B.T @ opt.P @ fam.A, 2))


def test_grid_measurability_by_continuity_and_by_piecewise_continuity_on_relay():
    c = measurability_certificates(family("double-well"))
    assert c["state-continuity"].holds is True and c["measurable"].holds is True
    assert "continuity in the state" == c["measurable"].witness["condition"]
    r = measurability_certificates(family("relay"))
    cont = r["state-continuity"]
    assert cont.holds is False and "jumps near x" in cont.statement
    assert abs(cont.witness["jump_at"][0]) < 0.05  # the switch at x = 0
    # the jump is one located point: piecewise continuous, Borel in x, smooth in a: still Caratheodory
    assert r["measurable"].holds is True and "piecewise" in r["measurable"].witness["condition"]
    assert "Borel" in r["measurable"].statement


@pytest.mark.filterwarnings("ignore::otgeom.errors.GridWarning")
def test_a_policy_with_a_dense_set_of_jumps_is_not_certified():
    """A policy mean that alternates sign from cell to cell jumps everywhere: neither route certifies it."""
    fam = family("double-well")
    r = measurability_certificates(fam, lambda X: (np.where(np.arange(len(X)) % 2 == 0, 0.5, -0.5),
                                                   np.full(len(X), 0.5)))
    assert r["state-continuity"].holds is not True and r["measurable"].holds is not True


def test_measurability_is_automatic_on_finite_families():
    (c,) = measurability_certificates(family("switch2"))
    assert c.holds is True


# ----------------------------------------------------------------------------- counterexample families
COUNTER = {
    # family: (assumption that fails, its certificate, claims that must be not-applicable, claims that must hold)
    "reducible": ("R1", "unique-stationary", ["riemannian-gradient", "ergodic-average", "symbolic-equals-numeric"],
                  ["gaussian-expectation", "stationary-tree-theorem", "gradient-projection"]),
    "transient": ("R2", "irreducible", ["riemannian-gradient", "gaussian-metric"],
                  ["ergodic-average", "power-convergence", "q-integrates-to-h", "gaussian-expectation"]),
    "periodic": ("aperiodic", "aperiodic", ["power-convergence"],
                 ["ergodic-average", "riemannian-gradient", "gaussian-metric", "symbolic-equals-numeric"]),
    "kinked": ("R3", "kernel-lipschitz", ["riemannian-gradient", "first-variation", "energy-decay"],
               ["ergodic-average", "power-convergence", "stationary-tree-theorem"]),
}


@pytest.mark.parametrize("name", sorted(COUNTER))
def test_counterexample_family_reports_the_failing_assumption(name):
    assumption, cert, gone, kept = COUNTER[name]
    fam = family(name)
    failed = family_certificates(fam).failed([assumption])
    assert cert in [c.name for c in failed]
    for c in gone:
        r = claim(c).run(fam)
        assert r.verdict == "not-applicable", (c, r.verdict, r.details)
        assert r.details["assumption"] == assumption or assumption == "R3" and r.details["assumption"] == "R3"
        assert "certificate" in r.details
    for c in kept:
        r = claim(c).run(fam)
        assert r.verdict == "holds", (c, r.verdict, r.error, r.details)


def test_claims_list_what_they_need():
    assert claim("riemannian-gradient").requires == ("R1", "R2", "R3")
    assert claim("power-convergence").requires == ("R1", "aperiodic")
    assert claim("ergodic-average").requires == ("R1",)
    assert claim("stationary-tree-theorem").requires == ()  # checked on random irreducible P, not on the family


def test_periodic_chain_keeps_ergodic_averages_but_not_powers():
    fam = family("periodic")
    P, r = policy_chain(fam, np.random.default_rng(3))
    rho = stationary_gth(P)
    P50, P51 = np.linalg.matrix_power(P, 50), np.linalg.matrix_power(P, 51)
    assert np.abs(P50 - P51).max() > 0.1  # P^t alternates
    avg = sum(np.linalg.matrix_power(P, t) for t in range(2000)) / 2000
    assert np.abs(avg - rho).max() < 2e-3  # Cesaro averages converge (O(1/T))


def test_reducible_family_rho_is_a_choice_that_moves_the_gradient():
    """Two stationary laws of the same policy give two different weighted metrics and J values."""
    fam = family("reducible")
    P, r = policy_chain(fam, np.random.default_rng(0))
    A, B = [0, 1], [2, 3]
    rhoA = np.zeros(4)
    rhoA[A] = stationary_gth(P[np.ix_(A, A)])
    rhoB = np.zeros(4)
    rhoB[B] = stationary_gth(P[np.ix_(B, B)])
    for rho in (rhoA, rhoB, 0.5 * (rhoA + rhoB)):
        assert np.allclose(rho @ P, rho, atol=1e-15)
    assert abs(rhoA @ r - rhoB @ r) > 0.1


# ----------------------------------------------------------------------------- near-degenerate: inconclusive, with kappa
def _nearly_split(eps):
    e, h = sp.Rational(eps), sp.Rational(1, 2)
    M = [[h - e, h, e, 0], [h, h - e, 0, e], [e, 0, h - e, h], [0, e, h, h - e]]
    return family("modulated", n=4, d=1, M=M, N=np.eye(4, dtype=int).tolist())


def test_near_degenerate_chain_is_inconclusive_with_its_condition_number():
    """Two blocks coupled by 1e-9: cond(I - P + 1 rho^T) ~ 1e9, so round-off alone could exceed the absolute
    tolerance 1e-10 of hessian-symmetry (h enters it): neither a pass nor a fail is trustworthy.  It holds when
    the coupling is 1e-2.  gaussian-metric depends on rho only (GTH: componentwise accurate whatever kappa is),
    so it still decides on the nearly split chain."""
    r = claim("hessian-symmetry").run(_nearly_split("1/1000000000"))
    assert r.verdict == "inconclusive", (r.verdict, r.error, r.details)
    assert "condition number" in r.details["reason"] and r.details["poisson_condition"] > 1e8
    ok = claim("hessian-symmetry").run(_nearly_split("1/100"))
    assert ok.verdict == "holds" and ok.details["poisson_condition"] < 1e4
    g = claim("gaussian-metric").run(_nearly_split("1/1000000000"))
    assert g.verdict == "holds", (g.verdict, g.details)


def test_a_wrong_formula_that_claims_an_assumption_fails_is_rejected_not_excused():
    """modulated is irreducible for every policy (certified); a formula that makes state 0 absorbing and then
    raises 'R1 fails' is wrong: its verdict is error (it raised), never not-applicable."""
    from proofs_checks.mixing_claims import ergodic_cost_theory

    def absorbing(P, r):
        P = P.copy()
        P[0] = 0
        P[0, 0] = 1
        P[1:, 0] += 0  # leaves the other rows
        P[1] = np.eye(len(P))[1]
        return ergodic_cost_theory(P, r)

    r = claim("ergodic-average").with_formula(absorbing, "absorbing").run(family("modulated", n=3, d=1))
    assert r.verdict == "error" and "certifies it" in r.details["reason"]


def test_eval_says_the_gradient_norm_is_infinite_on_a_kernel_with_a_cusp():
    from otgeom.evaluate import evaluate
    from otgeom.numeric.policies import GaussianPolicy

    out = evaluate(family("kinked"), GaussianPolicy.from_std(np.array([[3.0], [-3.0]]), np.array([0.3, 0.3])),
                   allow_unconverged=True)
    assert out["grad_norm2"] is None and out["converged"] is False
    assert "infinite" in out["not_converged"]
    assert any(c["name"] == "kernel-lipschitz" and c["holds"] is False for c in out["family_certificates"])


# ----------------------------------------------------------------------------- counterexample search
@pytest.mark.slow
def test_search_finds_the_smallest_counterexample_when_R1_is_dropped():
    """Dropping R1 from ergodic-average (and presuming it: rho = any stationary law), hypothesis finds and shrinks a
    parameter point where the ergodic averages from two starts differ: M = N = I, two absorbing states."""
    from proofs_checks.search import any_stationary_cost, search_counterexample

    c = search_counterexample("ergodic-average", "R1", n=2, formula=any_stationary_cost, max_examples=100)
    assert c is not None and c.result.verdict == "fails"
    assert c.parameters["M"] == [["1", "0"], ["0", "1"]] and c.parameters["N"] == [["1", "0"], ["0", "1"]]
    assert c.result.details["cesaro_spread_over_starts"] > 0.1  # J depends on the start
    # with its assumption checked, the same point is not-applicable, never a pass
    fam = family("modulated", n=2, d=1, M=[[1, 0], [0, 1]], N=[[1, 0], [0, 1]])
    r = claim("ergodic-average").run(fam)
    assert r.verdict == "not-applicable" and r.details["assumption"] == "R1"
