"""Methods compared (issue 20): Euclidean, Fisher, Wasserstein, WPO, Newton and Hewer on the same policies.

Every method converges to the same optimum or its failure is reported with the reason; the measured rate of each
first-order method matches the rate predicted from the spectrum of M(θ*)H(θ*) within 5 %; the WPO vector is
checked against quadrature of its definition (not against the formula the method uses), and on d = 1 it gives the
Wasserstein step; on ``lq`` the Fisher and Wasserstein iterations coincide when their steps differ by σ².
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otgeom import family
from otgeom.examples import example
from otgeom.methods import (FIRST_ORDER, GAP_TARGET, compare, fisher_matrix, gaussian_objective, lq_objective,
                            objective, run_method, wpo_direction)
from otgeom.numeric.chain import gradient_field
from otgeom.numeric.policies import GaussianPolicy
from otgeom.numeric.witness import gaussian_chain
from otgeom.sampling import random_gaussian_policy


def _random_lq(n: int, seed: int):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    A *= 0.9 / np.abs(np.linalg.eigvals(A)).max()
    return family("lq", A=A.tolist(), B=rng.normal(size=(n, n)).tolist(), Qc=np.eye(n).tolist(),
                  R=np.eye(n).tolist(), W=np.eye(n).tolist())


def _assert_comparison(c, expect_fail=()):
    """Every method reaches J* (the gap target) or is reported with its reason; rates within 5 %."""
    scale = max(1.0, abs(c.J_star))
    for r in c.results:
        if r.method in expect_fail:
            assert not r.run.converged and r.note, (r.method, r.note)
            continue
        assert r.run.converged, (r.method, r.run.reason)
        assert abs(r.run.J[-1] - c.J_star) <= GAP_TARGET * scale, (r.method, r.final_gap)
        if r.method in FIRST_ORDER:
            assert r.predicted_rate is not None and r.measured_rate is not None, (r.method, r.note)
            assert r.measured_rate == pytest.approx(r.predicted_rate, rel=0.05), r.method
        else:
            assert r.order is not None and r.order > 1.7, (r.method, r.order)


@pytest.mark.parametrize("make", [lambda: family("switch2"), lambda: family("modulated", n=3, d=1),
                                  lambda: example("twin-wells").family],
                         ids=["switch2", "modulated-n3-d1", "twin-wells"])
def test_finite_families_d1(make):
    """d = 1: every method but Fisher converges to the same deterministic optimum (σ* = 0) at its predicted rate;
    Fisher's steps vanish there, and the note says why."""
    c = compare(make(), max_iter=1500)
    _assert_comparison(c, expect_fail=("fisher",))
    fisher = next(r for r in c.results if r.method == "fisher")
    assert "sigma -> 0" in fisher.note and "sublinear" in fisher.note


@pytest.mark.parametrize("make", [lambda: family("lq"), lambda: family("lq", example="dean"),
                                  lambda: _random_lq(3, 0)], ids=["scalar", "dean", "random-n3"])
def test_lq(make):
    c = compare(make(), max_iter=3000)
    assert c.reference.startswith("the DARE optimum")
    _assert_comparison(c)


def test_modulated_d2_reports_the_boundary_minimum():
    """n = 2, d = 2: the minimum is deterministic (Σ = 0), on the boundary of the coordinates upper(Σ); no method's
    rate is predicted there, and every method that does not reach it says why (no traceback, no silent number)."""
    c = compare(family("modulated", n=2, d=2), max_iter=400)
    for r in c.results:
        assert r.predicted_rate is None
        ok = r.run.converged and abs(r.final_gap) <= GAP_TARGET * max(1.0, abs(c.J_star))
        assert ok or r.note, r.method
    w = next(r for r in c.results if r.method == "wasserstein")
    assert w.run.converged and "boundary Sigma = 0" in w.note
    # near the boundary the diagonal-Fisher WPO direction turns uphill: reported as such, not as convergence
    wpo = next(r for r in c.results if r.method == "wpo")
    assert not wpo.run.converged and "not a descent direction" in wpo.note


def test_without_a_converged_run_no_gap_is_claimed():
    """A fixed step that leaves the policy family at once: no method converges, there is no outside reference, so
    J* and every gap are absent (not J(theta_0) dressed up as an optimum)."""
    c = compare(family("modulated", n=2, d=2), methods=("euclidean", "wasserstein"), fixed_step=0.5, max_iter=50)
    assert c.J_star is None and c.theta_star is None and "no method converged" in c.reference
    assert all(r.final_gap is None and r.iterations_to_gap is None for r in c.results)
    assert json.loads(json.dumps(c.to_json(), allow_nan=False))["J_star"] is None


def test_lq_directions_against_their_definitions_by_quadrature():
    """lq (dean, n = m = 3, row-major vec(K)): the Wasserstein, Fisher and WPO directions against the definitions
    evaluated by a tensor Gauss–Hermite rule over x ~ N(0, X) and xi ~ N(0, Sigma) (exact for these degree-2
    integrands): G(U, V) = E[(Ux).(Vx)], F(U, V) = E[(Ux)^T Sigma^-1 (Vx)], w = E[d_K(grad_a log pi)^T grad_a Q]."""
    import itertools

    from otgeom.numeric.lq import LQPolicy, action_value_grad, lq_point

    fam = family("lq", example="dean")
    sigma2 = 0.3
    obj = lq_objective(fam, sigma2=sigma2)
    m, n = fam.m, fam.n
    K = obj.theta0.reshape(m, n) + 0.05 * np.arange(m * n).reshape(m, n) / (m * n)
    pt = lq_point(fam, LQPolicy(K, sigma2 * np.eye(m)))
    z, wz = np.polynomial.hermite_e.hermegauss(3)
    wz = wz / wz.sum()
    Lx, Lxi = np.linalg.cholesky(pt.X), np.sqrt(sigma2) * np.eye(m)
    nodes = np.array(list(itertools.product(z, repeat=n + m)))
    weights = np.prod(np.array(list(itertools.product(wz, repeat=n + m))), axis=1)
    x, xi = nodes[:, :n] @ Lx.T, nodes[:, n:] @ Lxi.T
    a = -x @ K.T + xi
    gQ = action_value_grad(pt, x, a)  # [N, m]
    Si = np.linalg.inv(sigma2 * np.eye(m))
    basis = [np.eye(m * n)[k].reshape(m, n) for k in range(m * n)]
    G = np.array([[np.sum(weights * np.einsum("ni,ni->n", x @ U.T, x @ V.T)) for V in basis] for U in basis])
    F = np.array([[np.sum(weights * np.einsum("ni,ij,nj->n", x @ U.T, Si, x @ V.T)) for V in basis] for U in basis])
    # d/dK_ij of grad_a log pi = d/dK_ij [-Sigma^-1 (a + K x)] = -Sigma^-1 e_i x_j
    w = np.array([np.sum(weights * (-x[:, j]) * (gQ @ Si.T)[:, i]) for i in range(m) for j in range(n)])
    g = obj.grad(K.ravel())
    assert np.allclose(obj.directions["wasserstein"](K.ravel(), g), np.linalg.solve(G, g), rtol=1e-9, atol=1e-12)
    assert np.allclose(obj.directions["fisher"](K.ravel(), g), np.linalg.solve(F, g), rtol=1e-9, atol=1e-12)
    assert np.allclose(w, (Si @ g.reshape(m, n)).ravel(), rtol=1e-9, atol=1e-12)  # w = Sigma^-1 dJ/dK
    assert np.allclose(obj.directions["wpo"](K.ravel(), g), w / np.diag(F), rtol=1e-9, atol=1e-12)
    # with the full Fisher information instead of its diagonal, WPO is the Wasserstein step
    assert np.allclose(np.linalg.solve(F, w), obj.directions["wasserstein"](K.ravel(), g), rtol=1e-9, atol=1e-12)


def test_wpo_with_the_full_fisher_is_the_wasserstein_step_in_d2():
    """d = 2: diag(F) differs from F (so WPO is not the Wasserstein step), but F^-1 w is."""
    fam = family("modulated", n=2, d=2)
    obj = gaussian_objective(fam)
    rng = np.random.default_rng(7)
    th = random_gaussian_policy(fam, rng).coordinates()
    g = obj.grad(th)
    w = wpo_direction(th, g, fam.n_states, fam.action_dim)
    assert np.allclose(obj.directions["fisher"](th, w), obj.directions["wasserstein"](th, g), rtol=1e-10, atol=1e-13)
    assert not np.allclose(obj.directions["wpo"](th, g), obj.directions["wasserstein"](th, g), rtol=1e-3)


def test_fisher_and_wasserstein_iterates_coincide_on_lq_up_to_sigma2():
    """THEORY.md section 8: with Σ = σ² I the Fisher direction is σ² times the Wasserstein one (each checked against
    its definition above), so Fisher with step η/σ² retraces Wasserstein with step η iterate for iterate."""
    fam = family("lq", example="dean")
    obj = lq_objective(fam, sigma2=0.3)
    w = run_method(obj, "wasserstein", max_iter=40, fixed_step=0.2)
    f = run_method(obj, "fisher", max_iter=40, fixed_step=0.2 / 0.3)
    assert np.allclose(w.theta, f.theta, rtol=0, atol=1e-12)
    g = obj.grad(obj.theta0)
    assert np.allclose(obj.directions["fisher"](obj.theta0, g), 0.3 * obj.directions["wasserstein"](obj.theta0, g),
                       rtol=1e-13, atol=0)


def _wpo_by_quadrature(fam, pol: GaussianPolicy) -> np.ndarray:
    r"""E_{s~rho, a~pi_s}[∇_θ(∇_a log π(a|s))^T ∇_a Q(s, a)] from the definition: ∇_a Q at the nodes of the
    feature-resolving rule (otgeom.numeric, no closed form), ∇_θ∇_a log π of the Gaussian written out."""
    prims = fam.primitives()
    w = gaussian_chain(prims, pol, tol=1e-12)
    gQ = gradient_field(prims, w.sol, w.wp)  # [n, N, d]
    n, d = pol.mean.shape
    out = []
    for s in range(n):
        a, wt = w.wp.points[s], w.wp.weights[s]
        m, S = pol.mean[s], pol.cov[s]
        Si = np.linalg.inv(S)
        z = (a - m) @ Si  # Σ^{-1}(a - m), rows
        rho = w.sol.rho[s]
        # ∂/∂m_i of ∇_a log π = ∂/∂m_i [-Σ^{-1}(a - m)] = Σ^{-1} e_i
        out += [rho * np.sum(wt * (gQ[s] @ Si[:, i])) for i in range(d)]
        if d == 1:  # θ has σ: ∂/∂σ [-(a - m)/σ²] = 2 (a - m)/σ³
            sig = np.sqrt(S[0, 0])
            out.append(rho * np.sum(wt * gQ[s][:, 0] * 2 * (a[:, 0] - m[0]) / sig ** 3))
            continue
        for i, j in zip(*np.triu_indices(d)):  # ∂/∂Σ_ij [-Σ^{-1}(a - m)] = Σ^{-1} E Σ^{-1}(a - m)
            E = np.zeros((d, d))
            E[i, j] = E[j, i] = 1.0
            out.append(rho * np.sum(wt * np.einsum("nk,kl,nl->n", gQ[s], Si @ E, z)))
    return np.array(out)


@pytest.mark.parametrize("make", [lambda: family("switch2"), lambda: family("modulated", n=2, d=2)],
                         ids=["d1", "d2"])
def test_wpo_vector_against_quadrature_of_its_definition(make):
    fam = make()
    obj = gaussian_objective(fam)
    rng = np.random.default_rng(3)
    for _ in range(2):
        pol = random_gaussian_policy(fam, rng)
        th = pol.coordinates()
        g = obj.grad(th)
        w_formula = wpo_direction(th, g, fam.n_states, fam.action_dim)
        w_quad = _wpo_by_quadrature(fam, pol)
        assert np.allclose(w_formula, w_quad, rtol=1e-8, atol=1e-9), (w_formula, w_quad)
        # a mutant (the factor 2 of the covariance part dropped) is rejected by the same comparison
        k = fam.action_dim + (1 if fam.action_dim == 1 else 3)
        mutant = w_formula.copy()
        for s in range(fam.n_states):
            mutant[s * k + fam.action_dim:(s + 1) * k] /= 2
        assert not np.allclose(mutant, w_quad, rtol=1e-8, atol=1e-9)


def test_wpo_is_the_wasserstein_step_in_d1():
    """d = 1: diag(F)^{-1} w = G^{-1} ∂J exactly (F is diagonal, w = F ρ^{-1} ∂J)."""
    fam = family("modulated", n=3, d=1)
    obj = gaussian_objective(fam)
    rng = np.random.default_rng(5)
    for _ in range(3):
        th = random_gaussian_policy(fam, rng).coordinates()
        g = obj.grad(th)
        assert np.allclose(obj.directions["wpo"](th, g), obj.directions["wasserstein"](th, g), rtol=1e-12, atol=0)


def test_wpo_on_lq_against_gauss_hermite():
    """lq (scalar): w = E_{x~N(0,X), a=-Kx+ξ}[∂_K(∇_a log π)·∇_a Q] by a tensor Gauss–Hermite rule (exact for these
    polynomials) against Σ^{-1} ∂J/∂K."""
    from otgeom.numeric.lq import LQPolicy, action_value_grad, lq_point

    fam = family("lq")
    sigma2 = 0.7
    obj = lq_objective(fam, sigma2=sigma2)
    K = obj.theta0 + 0.1
    pt = lq_point(fam, LQPolicy(K.reshape(1, 1), sigma2 * np.eye(1)))
    z, wz = np.polynomial.hermite_e.hermegauss(12)
    wz = wz / wz.sum()
    x = np.sqrt(pt.X[0, 0]) * z
    xi = np.sqrt(sigma2) * z
    X, XI = np.meshgrid(x, xi, indexing="ij")
    Wt = np.outer(wz, wz)
    a = -K[0] * X + XI
    gQ = action_value_grad(pt, X.reshape(-1, 1), a.reshape(-1, 1)).reshape(X.shape)
    # ∂/∂K [-(a + K x)/Σ] = -x/Σ
    w_quad = np.sum(Wt * (-X / sigma2) * gQ)
    assert w_quad == pytest.approx(obj.grad(K)[0] / sigma2, rel=1e-10)


def test_fisher_matrix_is_the_kl_hessian():
    """d = 1 and d = 2: v^T F v = d²/dε² Σ_s ρ_s KL(π_s(θ) || π_s(θ + εv)) at 0 (central second difference of the
    closed-form Gaussian KL, O(ε²) error)."""
    for fam in (family("switch2"), family("modulated", n=2, d=2)):
        n, d = fam.n_states, fam.action_dim
        rng = np.random.default_rng(1)
        pol = random_gaussian_policy(fam, rng)
        th = pol.coordinates()
        rho = rng.uniform(0.2, 1.0, n)
        F = fisher_matrix(th, rho, n, d)
        v = rng.standard_normal(th.size) * 0.3

        def kl(e):
            q = GaussianPolicy.from_coordinates(th + e * v, n, d)
            tot = 0.0
            for s in range(n):
                S0, S1 = pol.cov[s], q.cov[s]
                S1i = np.linalg.inv(S1)
                dm = q.mean[s] - pol.mean[s]
                tot += rho[s] * 0.5 * (np.trace(S1i @ S0) + dm @ S1i @ dm - d
                                       + np.log(np.linalg.det(S1) / np.linalg.det(S0)))
            return tot

        eps = 1e-3
        second = (kl(eps) - 2 * kl(0.0) + kl(-eps)) / eps ** 2
        assert second == pytest.approx(float(v @ F @ v), rel=1e-5)


def _cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "otgeom.cli", *args], capture_output=True, text=True, **kw)


def test_cli_text_json_and_report(tmp_path, capsys):
    from otgeom.cli import main

    assert main(["compare", "lq", "--param", "example=dean"]) == 0
    text = capsys.readouterr().out
    assert "wasserstein" in text and "predicted rate" in text
    r = _cli(["compare", "switch2", "--json", "--methods", "wasserstein,newton"])  # through a real process once
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"family", "J_star", "reference", "methods", "gap_target", "otgeom_version"} <= set(out)
    assert [m["method"] for m in out["methods"]] == ["wasserstein", "newton"]
    assert {"predicted_rate", "measured_rate", "iterations_to_gap", "seconds_to_gap", "final_gap", "order",
            "note", "steps", "spectrum"} <= set(out["methods"][0])
    path = tmp_path / "cmp.md"
    assert main(["compare", "switch2", "--methods", "euclidean,wasserstein", "-o", str(path)]) == 0
    md = path.read_text()
    assert "## Methods compared" in md and (tmp_path / "cmp-figures" / "methods.svg").exists()


@pytest.mark.parametrize("args, message", [
    (["compare", "switch2", "--methods", "newtonish"], "unknown method(s) newtonish"),
    (["compare", "switch2", "--sigma2", "2"], "--sigma2 is the fixed action variance"),
    (["compare", "switch2", "--methods", "hewer"], "Hewer's iteration is for the lq family"),
    (["compare", "reducible"], "unique-stationary (R1) fails"),
    (["compare", "transient", "--methods", "wasserstein"], "irreducible (R2) fails"),
    (["compare", "kinked"], "kernel-lipschitz (R3) fails"),
    (["compare", "switch2", "--json", "--format", "md"], "give -o PATH"),
    (["compare", "--file", str(Path(__file__).resolve().parents[1] / "examples" / "families" / "logistic_ring.toml")],
     "compare needs the closed-form class"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys):
    from otgeom.cli import main

    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_grid_family():
    """double-well (81 cells, a Gaussian per cell): Wasserstein and WPO reach the optimum at their predicted rate;
    Euclidean, whose step in a cell is the Wasserstein step times rho_i (about 0 in the cells the chain hardly
    visits), does not within the iterations given, and says so."""
    c = compare(family("double-well"), methods=("euclidean", "wasserstein", "wpo"), max_iter=200)
    assert c.kind == "grid"
    _assert_comparison(c, expect_fail=("euclidean",))


def test_grid_family_without_a_closed_form_gaussian_chain_is_refused(monkeypatch):
    from otgeom.errors import ParameterError
    from otgeom.families.grid import GridFamily

    monkeypatch.setattr(GridFamily, "cost_degree", property(lambda self: None))
    with pytest.raises(ParameterError, match="closed-form Gaussian chain"):
        objective(family("double-well"))


def test_a_fixed_step_is_predicted_and_a_too_large_one_is_reported():
    """--step: with a fixed η the predicted rate is -log max|1 - η μ_i| and the measured one matches it; a step
    beyond 2/μ_max blows J up, and the run says so instead of 'converging' far away."""
    c = compare(family("lq", example="dean"), methods=("wasserstein", "wpo"), fixed_step=0.4)
    for r in c.results:
        assert r.run.converged and r.steps == (0.4,)
        assert r.predicted_rate == pytest.approx(-np.log(np.abs(1 - 0.4 * r.mu).max()), rel=1e-12)
        assert r.measured_rate == pytest.approx(r.predicted_rate, rel=0.05)
    c = compare(family("switch2"), methods=("wasserstein",), fixed_step=3.0)
    (r,) = c.results
    assert not r.run.converged and "the fixed step 3 diverges" in r.note


def test_report_with_the_comparison_section(tmp_path, capsys):
    from otgeom.cli import main

    out = tmp_path / "r.md"
    assert main(["report", "switch2", "--no-claims", "--compare", "-o", str(out)]) == 0
    md = out.read_text()
    assert "## Methods compared" in md and "--no-claims --compare" in md
    assert (tmp_path / "r-figures" / "methods.svg").exists()
