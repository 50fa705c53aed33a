"""Issue 18: one formula contract (declared signatures, one Verdict type, --list), every kind of formula through
``otgeom check --claims``, critical points found by the checker, the Bures metric against POT, and ``--theory``."""
from __future__ import annotations

import inspect
import json
import textwrap

import numpy as np
import pytest

import otgeom
from otgeom.claimed import ClaimedFormula, check_claimed, check_formula, find_critical_points
from otgeom.claims import CLASSIFICATIONS, VERDICTS, ClaimResult, Verdict
from otgeom.examples import example
from otgeom.suite import run_suite, theory_diff
from otgeom.theory import Theory, active, using
from proofs_checks import CLAIMS, claim

from otgeom.cli import main


def _cli(args, capsys):
    """The CLI in this process: (exit status, stdout, stderr)."""
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


# ----------------------------------------------------------------------------- the contract
def test_every_claim_declares_the_signature_its_witness_calls():
    """The declared argument names are the theory formula's own, and every mutant accepts them: a mutant rejected
    for its signature would be an error verdict, not a caught mutant."""
    for c in CLAIMS:
        assert c.signature.startswith("(") and "->" in c.signature, c.name
        required = [p.name for p in inspect.signature(c.formula).parameters.values()
                    if p.default is inspect.Parameter.empty]
        assert list(c.parameters) == required, c.name
        assert c.signature_mismatch(c.formula) is None, c.name
        for m, f in c.mutants.items():
            assert c.signature_mismatch(f) is None, (c.name, m)
        assert c.example


def test_a_formula_with_the_wrong_signature_is_an_error_not_a_caught_failure():
    r = claim("stationary-gth-accuracy").with_formula(lambda P, r: P[0], "two-args").run(otgeom.family("switch2"))
    assert r.verdict == "error" and "formula(P)" in r.details["reason"] and r.error is None


def test_one_verdict_type_for_claims_and_the_classifier():
    assert ClaimResult is Verdict and set(VERDICTS) & set(CLASSIFICATIONS) == {"fails", "error", "inconclusive"}
    twin = example("twin-wells")
    v = check_formula(twin.family, lambda ctx: ctx.lin.hessian(ctx.u, ctx.v, "frozen"), n_random=1)
    assert isinstance(v, Verdict) and v.kind == "hessian" and not v.passed
    rec = v.to_json()  # the classifier's keys and the suite's keys
    assert {"name", "kind", "worst_error", "counterexample", "identified_as", "critical_points"} <= set(rec)
    assert {"claim", "error", "error_unit", "tolerance", "tolerance_reason", "witness", "where"} <= set(rec)
    assert Verdict.from_json(rec).to_json() == rec
    s = claim("gaussian-metric").run(otgeom.family("switch2"))
    assert isinstance(s, Verdict) and s.passed and s.kind is None and "kind" not in s.to_json()


def test_a_classified_formula_that_raises_is_an_error():
    twin = example("twin-wells")

    def broken(ctx):
        raise ZeroDivisionError("oops")

    v = check_formula(twin.family, broken, n_random=1, critical_points=[])
    assert v.verdict == "error" and "ZeroDivisionError" in v.details["reason"] and v.where["raised"]


def test_check_list_prints_every_claim_with_its_signature(capsys):
    rc, out, _ = _cli(["check", "--list"], capsys)
    assert rc == 0
    for c in CLAIMS:
        assert f"{c.name}  [" in out and f"formula{c.signature}" in out
    rc, out, _ = _cli(["check", "--list", "--json"], capsys)
    rows = json.loads(out)
    assert [r["claim"] for r in rows] == [c.name for c in CLAIMS]
    lc = next(r for r in rows if r["claim"] == "levi-civita-hessian")
    assert lc["parameters"] == ["lin", "V"] and "frozen-weights" in lc["mutants"]


# ----------------------------------------------------------------------------- every kind through --claims
_CLAIMS_FILE = '''
import numpy as np
from scipy.linalg import solve_continuous_lyapunov

from otgeom.claimed import ClaimedFormula
from otgeom.numeric.geometry import gaussian_metric_matrix
from otgeom.numeric.lq import lq_point
from otgeom.symbolic.second_order import second_order

D2 = dict(family="modulated", params={"n": 2, "d": 2, "q": ["1/2", "3/5"]})
S2 = dict(family="switch2", params={"q": ["7/10", "1/2"], "b": ["3/4", "-1"]})
LQ = dict(family="lq", params={"A": [["11/10", "1/5"], [0, "9/10"]], "B": [[0], [1]], "Qc": [[1, 0], [0, 2]],
                               "R": [["1/2"]], "W": [["1/10", 0], [0, "1/10"]]})


def fisher_covariance(rho, pol):
    """A wrong metric: the Fisher information 1/2 tr(dS Sigma^-1 dS Sigma^-1) on the covariance, not Bures."""
    G = gaussian_metric_matrix(rho, pol)
    n, d = pol.mean.shape
    iu = np.triu_indices(d)
    k = d + len(iu[0])
    for s in range(n):
        Si = np.linalg.inv(pol.cov[s])
        Es = []
        for i, j in zip(*iu):
            E = np.zeros((d, d)); E[i, j] = E[j, i] = 1.0; Es.append(E)
        for a, Ea in enumerate(Es):
            for b, Eb in enumerate(Es):
                G[s * k + d + a, s * k + d + b] = 0.5 * rho[s] * np.trace(Ea @ Si @ Eb @ Si)
    return G


def christoffel(family):
    f = second_order(family).evaluator(["christoffel"])
    params = [float(v) for v in family.parameter_values()]
    return lambda th: np.array(f(*params, *th, *[0.0] * len(th))["christoffel"], float)


def grad_a_q(pt, x, a):
    fam = pt.family
    return 2 * a @ (fam.R + fam.B.T @ pt.P @ fam.B).T + 2 * x @ (fam.B.T @ pt.P @ fam.A).T


def lq_cost(family, pol):
    X = lq_point(family, pol).X
    return float(np.trace(family.Qc @ X) + np.trace(family.R @ (pol.K @ X @ pol.K.T + pol.Sigma)))


CLAIMED = [
    ClaimedFormula("bures", lambda rho, pol: gaussian_metric_matrix(rho, pol), claim="gaussian-metric-bures", **D2),
    ClaimedFormula("bures-unweighted", lambda rho, pol: gaussian_metric_matrix(np.ones_like(rho), pol),
                   claim="gaussian-metric-bures", **D2),
    ClaimedFormula("fisher-covariance", fisher_covariance, claim="gaussian-metric-bures", **D2),
    ClaimedFormula("christoffel", christoffel, claim="geodesic-speed", **S2),
    ClaimedFormula("christoffel-no-half", lambda fam: (lambda th: 2 * christoffel(fam)(th)), claim="geodesic-speed",
                   **S2),
    ClaimedFormula("lq-grad", grad_a_q, claim="lq-action-gradient", **LQ),
    ClaimedFormula("lq-grad-no-BPB", lambda pt, x, a: 2 * a @ pt.family.R.T
                   + 2 * x @ (pt.family.B.T @ pt.P @ pt.family.A).T, claim="lq-action-gradient", **LQ),
    ClaimedFormula("lq-cost", lq_cost, claim="lq-ergodic-cost-mc", **LQ),
    ClaimedFormula("lq-cost-no-noise", lambda fam, pol: lq_cost(fam, pol) - float(np.trace(fam.R @ pol.Sigma)),
                   claim="lq-ergodic-cost-mc", **LQ),
    ClaimedFormula("hessian-d2", lambda lin, V: lin.hessian(V, V, "levi-civita"), claim="levi-civita-hessian", **D2),
    ClaimedFormula("hessian-d2-frozen", lambda lin, V: lin.a_local(V, V) + lin.a_transport(V, V),
                   claim="levi-civita-hessian", **D2),
]
'''


@pytest.fixture(scope="module")
def claimed_records(tmp_path_factory):
    f = tmp_path_factory.mktemp("claims") / "kinds.py"
    f.write_text(_CLAIMS_FILE)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["check", "--claims", str(f), "--json"])
    return rc, {r["name"]: r for r in json.loads(buf.getvalue())}


@pytest.mark.parametrize("right,wrong,claim_name", [
    ("bures", ("bures-unweighted", "fisher-covariance"), "gaussian-metric-bures"),
    ("christoffel", ("christoffel-no-half",), "geodesic-speed"),
    ("lq-grad", ("lq-grad-no-BPB",), "lq-action-gradient"),
    ("lq-cost", ("lq-cost-no-noise",), "lq-ergodic-cost-mc"),
    ("hessian-d2", ("hessian-d2-frozen",), "levi-civita-hessian"),
])
def test_every_kind_of_formula_through_check_claims(claimed_records, right, wrong, claim_name):
    """On families the example files do not name: the right formula holds, each wrong one fails on its numbers
    (not an exception) with a counterexample point."""
    rc, recs = claimed_records
    assert rc == 1  # some entries fail
    r = recs[right]
    assert r["claim"] == claim_name and r["kind"] == claim_name and r["verdict"] == "holds", r
    for name in wrong:
        w = recs[name]
        assert w["verdict"] == "fails" and w["error"] is not None and w["error"] > w["tolerance"], w
        assert "exception" not in w["details"] and w["counterexample"], w


def test_claimed_formula_with_a_claim_runs_through_the_suite_claim():
    fam = otgeom.family("switch2", q=["7/10", "1/2"])
    c = ClaimedFormula("mine", claim("gaussian-metric").mutants["unweighted"], claim="gaussian-metric")
    v = check_claimed(c, fam)
    assert v.claim == "gaussian-metric" and v.formula == "mine" and v.verdict == "fails"


# ----------------------------------------------------------------------------- critical points found by the checker
_OWN = dict(n=2, d=1, M=[[0, 1], [0, 1]], N=[[1, 0], [1, 0]], q=["4/5", "17/20"], K=[[[3]], [[5]]],
            b=[["1/5"], ["6/5"]], t=[[0], ["3/2"]], e=[2, "1/2"])


def test_checker_finds_a_critical_point_no_example_names():
    """An asymmetric twin-wells: no named example is on it; the checker finds the Gaussian-restricted critical
    point itself and classifies the frozen-weight Hessian (= the coordinate Hessian) as right only there."""
    fam = otgeom.family("modulated", **_OWN)
    found = find_critical_points(fam)
    assert len(found) >= 1
    pol = found[0]
    assert (pol.std > 0.1).all() and not np.allclose(pol.mean[:, 0], [0.0, 1.0])  # not twin-wells' point
    from otgeom.numeric.geometry import gaussian_gradient
    from otgeom.numeric.witness import gaussian_chain

    w = gaussian_chain(fam.primitives(), pol, tol=1e-12)
    g = gaussian_gradient(fam.primitives(), w.sol, pol, w.wp)
    assert max(np.abs(g["grad_mean"]).max(), np.abs(g["grad_std"]).max()) < 1e-9
    v = check_formula(fam, lambda ctx: ctx.lin.hessian(ctx.u, ctx.v, "frozen"), n_random=2)
    assert v.verdict == "matches-only-at-critical-points" and v.critical_points >= 1
    assert v.identified_as == ("hessian-frozen",)


# ----------------------------------------------------------------------------- the Bures metric against POT
def test_pot_bures_distance_agrees_with_samples_and_the_closed_form():
    """POT is a test dependency: its closed form against its own exact OT on samples (ot.emd2) and against the
    closed form with scipy's sqrtm."""
    import ot
    from scipy.linalg import sqrtm

    from proofs_checks.first_order_claims import bures_w2sq

    rng = np.random.default_rng(3)
    m0, m1 = np.array([0.0, 0.5]), np.array([1.0, -0.5])
    A = rng.standard_normal((2, 2))
    S0, S1 = np.array([[1.0, 0.3], [0.3, 0.5]]), A @ A.T + 0.2 * np.eye(2)
    w2, who = bures_w2sq(m0, S0, m1, S1)
    assert who.startswith("POT")
    r0 = np.real(sqrtm(S0))
    closed = float(np.sum((m0 - m1) ** 2) + np.trace(S0 + S1 - 2 * np.real(sqrtm(r0 @ S1 @ r0))))
    assert w2 == pytest.approx(closed, rel=1e-10)
    N = 1500
    X = rng.multivariate_normal(m0, S0, N)
    Y = rng.multivariate_normal(m1, S1, N)
    emp = ot.emd2(np.full(N, 1 / N), np.full(N, 1 / N), ot.dist(X, Y))
    assert emp == pytest.approx(w2, rel=0.1)  # sampling error of the empirical W2^2 at N = 1500 in d = 2: a few %


def test_gaussian_metric_matrix_is_the_quadrature_metric_of_the_coordinate_fields():
    """The closed form (Lyapunov) against E[F_i . F_j] of the coordinate velocity fields on quadrature points."""
    from otgeom.numeric.geometry import gaussian_metric_matrix, metric
    from otgeom.numeric.second_order import coordinate_fields
    from otgeom.numeric.witness import gaussian_points
    from otgeom.sampling import random_gaussian_policy

    fam = otgeom.family("modulated", n=2, d=2)
    pol = random_gaussian_policy(fam, np.random.default_rng(1))
    wp = gaussian_points(fam.primitives(), pol, "test", order=6)
    F = coordinate_fields(pol, wp)
    rho = np.array([0.3, 0.7])
    Gq = np.array([[metric(rho, wp, Fi, Fj) for Fj in F] for Fi in F])
    assert np.allclose(gaussian_metric_matrix(rho, pol), Gq, rtol=1e-10, atol=1e-12)


def test_bures_claim_rejects_its_mutants_on_a_d2_family():
    fam = otgeom.family("modulated", n=2, d=2)
    c = claim("gaussian-metric-bures")
    r = c.run(fam)
    assert r.verdict == "holds" and r.details["witness_backend"].startswith("POT")
    for m in c.mutants:
        v = c.mutant(m).run(fam)
        assert v.verdict == "fails" and v.error > 1.5, (m, v)  # slope 2 instead of 4
    assert c.run(otgeom.family("switch2")).verdict == "not-applicable"


# ----------------------------------------------------------------------------- theory regression
UNIFORM = Theory("uniform-weights", metric_weights=lambda rho: np.ones_like(rho))


def test_uniform_weights_make_grad_j_equal_grad_a_q_fail():
    """Under the uniformly weighted metric the gradient is rho(s) grad_a Q: the reference formula fails, the
    corrected one holds, and the reference theory is untouched outside ``using``."""
    from otgeom.numeric.chain import gradient_field

    fam = ["switch2"]
    ref = run_suite(fam, ["riemannian-gradient"])
    changed = run_suite(fam, ["riemannian-gradient"], theory=UNIFORM)
    assert ref[0].verdict == "holds" and changed[0].verdict == "fails" and changed[0].where["slope"] < 1.5
    rows = theory_diff(ref, changed)
    assert rows[0]["changed"] and rows[0]["reference"] == "holds" and rows[0]["changed_verdict"] == "fails"
    corrected = Theory("uniform-corrected", metric_weights=lambda rho: np.ones_like(rho), formulas={
        "riemannian-gradient": lambda prims, sol, wp: sol.rho[:, None, None] * gradient_field(prims, sol, wp)})
    fixed = run_suite(fam, ["riemannian-gradient"], theory=corrected)
    assert fixed[0].verdict == "holds" and fixed[0].formula == "theory:uniform-corrected"
    assert active().is_reference


def test_theory_weights_are_checked():
    bad = Theory("bad", metric_weights=lambda rho: -rho)
    with using(bad), pytest.raises(otgeom.ParameterError, match="state 0"):
        active().weights(np.array([0.5, 0.5]))
    with pytest.raises(otgeom.ParameterError, match="unknown claim"):
        run_suite(["switch2"], ["gaussian-metric"], theory=Theory("t", formulas={"no-such-claim": None}))


def test_check_theory_prints_the_diff_table(tmp_path, capsys):
    rc, out, _ = _cli(["check", "--theory", "examples/theory_uniform_weights.py", "--family", "switch2",
                       "--claim", "riemannian-gradient", "--claim", "gaussian-metric", "--claim", "policy-gradient"],
                      capsys)
    assert rc == 1  # claims that held no longer do
    lines = out.splitlines()
    assert lines[0].startswith("theory uniform-weights")
    assert any(line.split()[:4] == ["riemannian-gradient", "switch2", "holds", "fails"] for line in lines)
    assert any(line.split()[:4] == ["gaussian-metric", "switch2", "holds", "fails"] for line in lines)
    assert not any(line.startswith("policy-gradient") for line in lines)  # unchanged: not in the diff
    # policy-gradient's witness does not read the metric's weights: not re-tested, and said so
    assert "2 of 3 (claim, family) pairs re-tested under the theory: 2 change verdict, 0 unchanged" in out
    assert "1 not re-tested (their witnesses do not read metric_weights" in out
    rc, out, _ = _cli(["check", "--theory", "examples/theory_uniform_weights.py", "--family", "switch2",
                       "--claim", "policy-gradient", "--json"], capsys)
    rec = json.loads(out)
    assert rc == 0 and rec["changed"] == 0 and rec["rows"][0]["reference"] == "holds"
    assert rec["retested"] == 0 and not rec["rows"][0]["retested"] and "not re-tested" in rec["rows"][0]["reason"]


def test_check_theory_file_errors(tmp_path, capsys):
    f = tmp_path / "t.py"
    f.write_text("THEORY = 3\n")
    rc, _, err = _cli(["check", "--theory", str(f)], capsys)
    assert rc == 2 and "must define THEORY = otgeom.theory.Theory" in err
    f.write_text("from otgeom.theory import Theory\nTHEORY = Theory('same')\n")
    rc, _, err = _cli(["check", "--theory", str(f)], capsys)
    assert rc == 2 and "changes nothing" in err
    f.write_text(textwrap.dedent("""
        from otgeom.theory import Theory
        THEORY = Theory('broken', metric_weights=lambda rho: rho[:1])
    """))
    rc, _, err = _cli(["check", "--theory", str(f), "--family", "switch2", "--claim", "gaussian-metric"], capsys)
    assert rc == 2 and "metric_weights(rho) has shape [1], expected [2]" in err


def test_run_suite_is_the_same_in_parallel():
    a = run_suite(["switch2"], ["gaussian-metric", "stationary-gth-accuracy", "policy-gradient"], workers=1)
    b = run_suite(["switch2"], ["gaussian-metric", "stationary-gth-accuracy", "policy-gradient"], workers=2)
    assert [v.to_json() for v in a] == [v.to_json() for v in b]


def test_example_claimed_formulas_file(capsys):
    """examples/claimed_formulas.py: every right formula holds, every wrong one fails on its numbers."""
    rc, out, _ = _cli(["check", "--claims", "examples/claimed_formulas.py", "--json"], capsys)
    recs = json.loads(out)
    assert rc == 1 and len(recs) == 8
    for r in recs:
        wrong = any(w in r["name"] for w in ("times-rho", "unweighted", "without"))
        assert r["verdict"] == ("fails" if wrong else "holds"), r
        if wrong:
            assert r["counterexample"] and "exception" not in r["details"]


# ----------------------------------------------------------------------------- review: what a user's formula can do
def test_a_formula_raising_anything_is_an_error_verdict():
    fam = otgeom.family("switch2")

    def index_error(prims, sol, wp):
        return [][1]

    r = claim("riemannian-gradient").with_formula(index_error, "mine").run(fam)
    assert r.verdict == "error" and r.details["exception"] == "IndexError"
    with pytest.raises(otgeom.ParameterError, match="'theory' is the name of the suite's own formula"):
        claim("riemannian-gradient").with_formula(index_error, "theory")

    def policy_error(ctx):
        raise otgeom.PolicyError("mine")

    v = check_formula(example("twin-wells").family, policy_error, n_random=1, critical_points=[])
    assert v.verdict == "error" and "PolicyError" in v.details["reason"]


def test_metric_formulas_must_be_symmetric_and_finite():
    """The witnesses see only v^T G v: an antisymmetric part would pass unseen, so it is refused explicitly; a
    formula returning nan fails (it is not inconclusive)."""
    from otgeom.numeric.geometry import gaussian_metric_matrix

    fam = otgeom.family("modulated", n=2, d=2)
    bures = claim("gaussian-metric-bures")
    skew = lambda rho, pol: gaussian_metric_matrix(rho, pol) + 5 * (np.triu(np.ones((10, 10)), 1)  # noqa: E731
                                                                     - np.tril(np.ones((10, 10)), -1))
    r = bures.with_formula(skew, "skew").run(fam)
    assert r.verdict == "fails" and "not symmetric" in r.details["reason"]
    r = bures.with_formula(lambda rho, pol: np.full((10, 10), np.nan), "nan").run(fam)
    assert r.verdict == "fails" and "not finite" in r.details["reason"]
    r = claim("first-variation").with_formula(lambda prims, sol, wp, V: float("nan"), "nan").run(otgeom.family("switch2"))
    assert r.verdict == "fails" and "not finite" in r.details["reason"]


def test_claimed_entry_defaults_to_a_family_the_claim_applies_to():
    v = check_claimed(ClaimedFormula("eye", lambda rho, pol: np.eye(10), claim="gaussian-metric-bures"))
    assert v.family == "modulated(n=2,d=2)" and v.verdict == "fails"


def test_check_theory_and_claims_input_errors(tmp_path, capsys):
    f = tmp_path / "t.py"
    f.write_text("from otgeom.theory import Theory\nTHEORY = Theory('t', formulas={1: print})\n")
    rc, _, err = _cli(["check", "--theory", str(f), "--family", "switch2", "--claim", "gaussian-metric"], capsys)
    assert rc == 2 and "formulas for unknown claim(s) 1" in err
    g = tmp_path / "c.py"
    g.write_text("from otgeom.claimed import ClaimedFormula\nCLAIMED = [ClaimedFormula('x', lambda ctx: 0.0)]\n")
    rc, _, err = _cli(["check", "--claims", str(g), "--param", "q=[7,7]"], capsys)
    assert rc == 2 and "--param needs --family or --file" in err
    rc, _, err = _cli(["check", "--claims", str(g), "--claim", "gaussian-metric"], capsys)
    assert rc == 2 and "no --claim" in err
