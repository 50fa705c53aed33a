"""Second order: chain derivatives, Hessian forms, Newton, the twin-wells example, the claimed-formula checker,
eval --hessian and bad input."""
import json
from pathlib import Path

import numpy as np
import pytest

import otgeom
from otgeom.claimed import check_formula
from otgeom.errors import PolicyError, RegularityError, ParameterError
from otgeom.examples import example
from otgeom.numeric.chain import evaluate_chain
from otgeom.numeric.flows import particle_gradient_flow
from otgeom.numeric.newton import (error_order, gaussian_newton, particle_hessian_matrix, particle_hessian_rate,
                                   particle_newton)
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy
from otgeom.numeric.second_order import coordinate_fields, gaussian_second_order, linearize, linearize_gaussian
from otgeom.sampling import random_particle_policy

SWITCH2 = otgeom.family("switch2")


def _particles(fam=SWITCH2, seed=0, n=6):
    rng = np.random.default_rng(seed)
    pol = random_particle_policy(fam, rng, n)
    return pol, linearize(fam.primitives(), pol.discretize()), rng


def test_chain_derivative_matches_central_differences():
    pol, lin, rng = _particles()
    V = rng.standard_normal(pol.particles.shape)
    der = lin.chain_derivative(V)
    h = 1e-6
    solp = evaluate_chain(SWITCH2.primitives(), pol.pushforward(V, h).discretize())
    solm = evaluate_chain(SWITCH2.primitives(), pol.pushforward(V, -h).discretize())
    # central differences: error O(h^2) ~ 1e-12 plus round-off 1e-16/h ~ 1e-10
    assert np.abs(der.drho - (solp.rho - solm.rho) / (2 * h)).max() < 1e-8
    assert np.abs(der.dh - (solp.h - solm.h) / (2 * h)).max() < 1e-8
    assert abs(der.dJ - (solp.J - solm.J) / (2 * h)) < 1e-8
    assert abs(der.drho.sum()) < 1e-14


def test_hvp_is_the_riesz_representative_and_symmetric():
    pol, lin, rng = _particles(otgeom.family("modulated", n=3, d=1))
    U, V = rng.standard_normal((2,) + pol.particles.shape)
    assert lin.metric(lin.hvp(U), V) == pytest.approx(lin.metric(U, lin.hvp(V)), rel=1e-12)
    H = particle_hessian_matrix(lin)
    assert np.allclose(H, H.T)
    # Hess_g = frozen - g(grad J, C(v,v)) as quadratic forms
    assert lin.hessian(V, V) == pytest.approx(lin.hessian(V, V, "frozen") - lin.connection(lin.gradient, V, V),
                                              rel=1e-12)


def test_gaussian_matrices_two_routes_and_symbolic():
    from otgeom.symbolic.second_order import second_order

    pol = GaussianPolicy.from_std([0.2, -0.3], [0.7, 0.9])
    so = gaussian_second_order(SWITCH2.primitives(), pol)
    F = coordinate_fields(pol, so.lin.wp)
    K = F.shape[0]
    direct = np.array([[so.lin.hessian(F[i], F[j], "submanifold") for j in range(K)] for i in range(K)])
    assert np.abs(0.5 * (direct + direct.T) - so.hessian_riemannian).max() < 1e-12
    v = second_order(SWITCH2).evaluator(["hessian_coords", "hessian_riemannian", "metric"])(
        *[float(x) for x in SWITCH2.parameter_values()], *pol.coordinates(), 0, 0, 0, 0)
    # symbolic closed forms vs quadrature + linear solves: quadrature converged to 1e-13
    assert np.abs(np.array(v["hessian_coords"], float) - so.hessian_coords).max() < 1e-9
    assert np.abs(np.array(v["hessian_riemannian"], float) - so.hessian_riemannian).max() < 1e-9
    assert np.abs(np.array(v["metric"], float) - so.metric).max() < 1e-12


@pytest.mark.parametrize("name, kw", [("switch2", {}), ("modulated", {"n": 3, "d": 1}), ("modulated", {"n": 2, "d": 2})])
def test_particle_newton_converges_quadratically(name, kw):
    fam = otgeom.family(name, **kw)
    rng = np.random.default_rng(0)
    pol = ParticlePolicy(rng.normal(0, 0.5, (fam.n_states, 3, fam.action_dim)))
    r = particle_newton(fam.primitives(), pol)
    assert r.converged
    e = r.errors
    order = error_order(e)
    assert order is not None and order > 1.7, e
    # in the quadratic phase e_{k+1} <= C e_k^2 with a moderate C
    tail = e[(e > 1e-12) & (e < 1e-1)]
    assert np.all(tail[1:] <= 10 * tail[:-1] ** 2), tail


def test_flow_rate_predicted_by_hessian_spectrum():
    prims = SWITCH2.primitives()
    rng = np.random.default_rng(0)
    opt = particle_newton(prims, ParticlePolicy(rng.normal(0, 0.5, (2, 3, 1))))
    shape, w = (2, 3, 1), np.full((2, 3), 1 / 3)
    predicted = particle_hessian_rate(prims, ParticlePolicy(opt.theta.reshape(shape), w))["J_rate"]
    start = ParticlePolicy(opt.theta.reshape(shape) + 1e-3 * rng.standard_normal(shape), w)
    t = np.linspace(0, 8, 17)
    flow = particle_gradient_flow(prims, start, t, rtol=1e-12, atol=1e-14)
    gap = flow.J - opt.J
    late = (t >= 3) & (gap > 1e-13)
    measured = -np.polyfit(t[late], np.log(gap[late]), 1)[0]
    assert measured == pytest.approx(predicted, rel=0.05), (measured, predicted)


def test_gaussian_newton_heads_for_the_boundary_on_switch2():
    """No interior Gaussian minimum (the m-curvature vanishes at interior critical points): sigma -> 0 linearly."""
    r = gaussian_newton(SWITCH2.primitives(), GaussianPolicy.from_std([0, 0], [1, 1]), max_iter=12)
    assert r.theta[1::2].max() < 0.05


def test_twin_wells_submanifold_and_full_hessians_differ():
    ex = example("twin-wells")
    so = gaussian_second_order(ex.family.primitives(), ex.policy)
    assert np.abs(so.grad).max() < 1e-12                      # a restricted critical point
    lin = so.lin
    perp = lin.gradient - lin.project_affine(lin.gradient)
    assert np.sqrt(lin.metric(perp, perp)) > 0.1              # grad^perp J != 0 there
    assert np.abs(so.hessian_riemannian - so.hessian_full).max() > 0.5
    assert so.hessian_riemannian[2, 2] == pytest.approx(0, abs=1e-10) and so.hessian_full[2, 2] < -0.5
    # heat-equation degeneracy: d^2 J / d m_s^2 = 0 at an interior critical point
    assert abs(so.hessian_riemannian[0, 0]) < 1e-10 and abs(so.hessian_riemannian[2, 2]) < 1e-10


def test_lq_gradient_is_tangent_so_hessians_agree():
    """LQ: grad_a Q is affine in a and linear in x, so grad^perp J = 0 and Hess_sub = Hess_full."""
    from otgeom.numeric.lq import LQPolicy, lq_point

    fam = otgeom.family("lq", example="dean")
    K = fam.K0
    pol = LQPolicy(K, 0.1 * np.eye(fam.m))
    pt = lq_point(fam, pol)
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal(np.zeros(fam.n), pt.X, 200)
    A = -X @ K.T + rng.multivariate_normal(np.zeros(fam.m), pol.Sigma, 200)

    def Q(x, a):  # from the definition: c + E[h(x')], h(x) = x^T P x (constants dropped)
        y = fam.A @ x + fam.B @ a
        return x @ fam.Qc @ x + a @ fam.R @ a + y @ pt.P @ y

    h = 1e-5
    G = np.array([[(Q(x, a + h * e) - Q(x, a - h * e)) / (2 * h) for e in np.eye(fam.m)] for x, a in zip(X, A)])
    # tangent fields of the linear-Gaussian family: v(x, a) = -dK x + S (a + K x), S symmetric
    feats = []
    for i in range(fam.m):
        for j in range(fam.n):
            f = np.zeros((len(X), fam.m))
            f[:, i] = -X[:, j]
            feats.append(f)
    for i in range(fam.m):
        for j in range(i, fam.m):
            S = np.zeros((fam.m, fam.m))
            S[i, j] = S[j, i] = 1
            feats.append((A + X @ K.T) @ S.T)
    B = np.stack(feats, -1).reshape(len(X) * fam.m, -1)
    coef = np.linalg.lstsq(B, G.ravel(), rcond=None)[0]
    resid = np.linalg.norm(B @ coef - G.ravel()) / np.linalg.norm(G)
    assert resid < 1e-8   # central-difference error only; a non-tangent gradient leaves O(1)


def test_bad_tangent_vectors_and_degenerate_metric():
    pol, lin, rng = _particles()
    with pytest.raises(PolicyError, match="shape"):
        lin.hvp(np.zeros((2, 5, 1)))
    g = GaussianPolicy.from_std([0, 0], [1, 1])
    glin = linearize_gaussian(SWITCH2.primitives(), g)
    V = np.zeros_like(glin.wp.points)
    V[1] = glin.wp.points[1] ** 2  # quadratic: not tangent to the Gaussian family
    with pytest.raises(PolicyError, match="not tangent to the Gaussian family at state 1"):
        glin.hessian(V, V, "submanifold")
    with pytest.raises(PolicyError, match="non-finite"):
        glin.hvp(np.full_like(glin.wp.points, np.nan))
    # M at the edge of its domain (a zero column): state 1 is transient, rho(1) = 0
    fam = otgeom.family("modulated", n=2, d=1, M=[[1, 0], [1, 0]], N=[[1, 0], [0, 1]])
    with pytest.raises(RegularityError, match=r"rho\(1\) = 0 .*degenerate") as exc:
        gaussian_second_order(fam.primitives(), g)
    assert exc.value.diagnosis["state"] == 1


@pytest.fixture(scope="module")
def twin():
    return example("twin-wells")


def _lc(ctx):
    return 0.5 * (ctx.lin.hessian(ctx.u, ctx.v, "submanifold") + ctx.lin.hessian(ctx.v, ctx.u, "submanifold"))


def test_checker_exact_levi_civita_matches(twin):
    from otgeom.symbolic.second_order import second_order

    r = check_formula(twin.family, second_order(twin.family).outputs["hessian_riemannian"], n_random=2)
    assert r.verdict == "matches" and "hessian-submanifold" in r.identified_as
    assert check_formula(twin.family, _lc, n_random=2).verdict == "matches"


def test_checker_frozen_matches_only_at_critical_points(twin):
    r = check_formula(twin.family, lambda ctx: ctx.lin.hessian(ctx.u, ctx.v, "frozen"), n_random=2)
    assert r.verdict == "matches-only-at-critical-points" and r.identified_as == ("hessian-frozen",)
    assert r.counterexample["policy"]["std"] != list(twin.policy.std)


def test_checker_full_space_fails_at_the_critical_point(twin):
    r = check_formula(twin.family, lambda ctx: 0.5 * (ctx.lin.hessian(ctx.u, ctx.v) + ctx.lin.hessian(ctx.v, ctx.u)),
                      n_random=2)
    assert r.verdict == "fails" and r.worst_error > 0.1
    assert r.counterexample["policy"]["std"] == pytest.approx(list(twin.policy.std))  # the restricted critical point
    assert r.identified_as == ("hessian-full",)


def test_checker_a_local_and_wrong_sign_fail_with_counterexample(twin):
    r = check_formula(SWITCH2, lambda ctx: ctx.lin.a_local(ctx.u, ctx.v), n_random=3)
    assert r.verdict == "fails" and r.identified_as == ("a-local",)
    pt = r.counterexample
    # the counterexample can be pasted back: a policy file for otgeom eval and the family's parameters
    pol = otgeom.policy_from_json(pt["policy"], otgeom.family("switch2", **pt["parameters"]))
    assert pol.n_states == 2
    r = check_formula(twin.family, lambda ctx: -_lc(ctx), n_random=2)
    assert r.verdict == "fails" and r.identified_as == ()


def test_checker_rejects_unknown_symbol(twin):
    import sympy as sp

    with pytest.raises(otgeom.ExpressionError, match="'zeta'"):
        check_formula(twin.family, sp.Matrix(4, 4, lambda i, j: sp.Symbol("zeta")), n_random=1)
    with pytest.raises(ParameterError):
        check_formula(otgeom.family("modulated", n=2, d=2), _lc)


def test_eval_hessian_keys(tmp_path, capsys):
    from otgeom.cli import main

    p = tmp_path / "pol.json"
    p.write_text(json.dumps({"mean": [0.2, -0.3], "std": [0.7, 0.9]}))
    assert main(["eval", "switch2", "--policy", str(p), "--hessian"]) == 0
    num = json.loads(capsys.readouterr().out)
    assert main(["eval", "switch2", "--policy", str(p), "--hessian", "--symbolic"]) == 0
    sym = json.loads(capsys.readouterr().out)
    for key in ("hessian_coords", "metric", "hessian_riemannian"):
        assert np.array(num[key]).shape == (4, 4)
        assert np.abs(np.array(num[key]) - np.array(sym[key])).max() < 1e-9
    assert num["hessian_coordinates"] == ["m_0", "sigma_0", "m_1", "sigma_1"]
    assert np.allclose(np.array(num["metric"]), np.diag(np.repeat(num["rho"], 2)))
    p2 = tmp_path / "p2.json"
    p2.write_text(json.dumps({"mean": [[0, 0], [0, 0]], "cov": [np.eye(2).tolist()] * 2}))
    assert main(["eval", "modulated", "--param", "n=2", "--param", "d=2", "--policy", str(p2), "--hessian"]) == 2
    assert "d = 1" in capsys.readouterr().err


def test_check_claims_file(capsys):
    from otgeom.cli import main

    claims = Path(__file__).resolve().parent.parent / "examples" / "claimed_hessians.py"
    assert main(["check", "--claims", str(claims), "--json"]) == 1
    out = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert out["levi-civita"]["verdict"] == "matches"
    assert out["coordinate-hessian"]["verdict"] == "matches-only-at-critical-points"
    assert out["full-space"]["verdict"] == "fails"
    assert out["wrong-sign"]["verdict"] == "fails"
