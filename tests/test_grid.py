"""The grid method (THEORY.md section 6): grid families, the sparse chain, Gaussian laws in closed form, flows."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.special import ndtr

from otgeom import family
from otgeom.errors import FamilyError, GridWarning, ParameterError, RegularityError
from otgeom.families.grid import Axis, GridParameter, GridSpec
from otgeom.numeric.chain import solve_chain
from otgeom.numeric.grid import gaussian_grid_chain, grid_chain, pair_kernel
from otgeom.numeric.grid_flow import gaussian_flow, particle_flow
from otgeom.numeric.lq import lq_optimum
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, QuantilePolicy


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridWarning)
        return fn(*a, **k)


# ----------------------------------------------------------------------------- families and bad input
def test_cell_maps_of_the_three_boundaries():
    k = np.arange(-7, 12)
    clipped = Axis("x", 0, 5, 5, "clipped", 1).cell_of(k)
    circle = Axis("x", 0, 5, 5, "circle", 1).cell_of(k)
    reflect = Axis("x", 0, 5, 5, "reflecting", 1).cell_of(k)
    assert clipped.tolist() == [0] * 7 + [0, 1, 2, 3, 4] + [4] * 7
    assert circle.tolist() == [(i % 5) for i in k]
    # cells mirror across the ends: -1 -> 0, -2 -> 1, 5 -> 4, 6 -> 3
    assert reflect[k.tolist().index(-1)] == 0 and reflect[k.tolist().index(-2)] == 1
    assert reflect[k.tolist().index(5)] == 4 and reflect[k.tolist().index(6)] == 3


def test_grid_too_coarse_for_the_noise_is_refused_with_the_numbers():
    with pytest.raises(ParameterError) as e:
        family("grid-linear", cells=11, noise=0.5)
    msg = str(e.value)
    assert "too coarse" in msg and "noise standard deviations" in msg and "single cell" in msg
    assert "use at least 24 cells" in msg


def test_nan_from_the_drift_names_state_and_action():
    spec = GridSpec("sqrt-drift", "x' = sqrt(x) + a", ("x",),
                    (GridParameter("cells", 21, "cells", "cells"),),
                    axes=lambda p: (Axis("x", -1, 1, p["cells"], "clipped", 0.2),),
                    drift=lambda x, a, p: [__import__("sympy").sqrt(x[0]) + a],
                    cost=lambda x, a, p: a ** 2)
    with pytest.raises(FamilyError) as e:
        spec.instantiate()
    assert "drift on axis x is nan at grid state 0 (x = -0.952381)" in str(e.value)


@pytest.mark.parametrize("params, words", [
    ({"boundary": "open"}, "must be one of clipped, reflecting, circle"),
    ({"cells": 2}, "integer >= 3"),
    ({"cells": 10.5}, "integer >= 3"),
    ({"noise": -1}, "must be > 0"),
    ({"gamma": 1}, "unknown parameter(s)"),
    ({"alpha": float("inf")}, "not a finite number"),
])
def test_bad_grid_parameters(params, words):
    with pytest.raises(ParameterError, match="grid-linear") as e:
        family("grid-linear", **params)
    assert words in str(e.value)


def test_drift_pushing_mass_out_of_the_domain_warns_with_the_numbers():
    fam = family("grid-linear")  # alpha = 1.1: with no control the state runs to the clipped ends
    with pytest.warns(GridWarning, match=r"of the stationary step mass leaves the domain.*worst at state"):
        grid_chain(fam, ParticlePolicy(np.zeros((fam.n_states, 1, 1))))


def test_transient_states_are_a_diagnosis_not_a_nan():
    # pure noise around 0: from the middle the 7.5-sd windows never reach the far cells, which are transient
    fam = family("grid-linear", alpha=0, beta=0, noise=0.5, half_width=8, cells=41)
    with pytest.raises(RegularityError, match=r"rho\(0\) = 0 \(R2 fails\).*transient"):
        grid_chain(fam, ParticlePolicy(np.zeros((fam.n_states, 1, 1))))


# ----------------------------------------------------------------------------- the kernel
@pytest.mark.parametrize("boundary", ["clipped", "reflecting", "circle"])
def test_kernel_rows_sum_to_one_and_derivatives_match_differences(boundary):
    fam = family("double-well", boundary=boundary, cells=41)
    rng = np.random.default_rng(1)
    states = rng.integers(0, fam.n_states, 50)
    a = rng.normal(0, 2, 50)
    k = pair_kernel(fam, states, a, order=2)
    N = fam.n_states

    def dense(kern):
        out = np.zeros((states.size, N))
        for p in range(states.size):
            np.add.at(out[p], kern.cells[p], kern.q[p])
        return out

    def dense_d(kern, which):
        out = np.zeros((states.size, N))
        for p in range(states.size):
            np.add.at(out[p], kern.cells[p], getattr(kern, which)[p])
        return out

    assert np.allclose(dense(k).sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert k.truncation < 1e-13
    e = 1e-5
    kp, km = pair_kernel(fam, states, a + e, 1), pair_kernel(fam, states, a - e, 1)
    fd = (dense(kp) - dense(km)) / (2 * e)
    assert np.abs(fd - dense_d(k, "dq")).max() < 1e-7 * max(1, np.abs(fd).max())
    fd2 = (dense_d(kp, "dq") - dense_d(km, "dq")) / (2 * e)
    assert np.abs(fd2 - dense_d(k, "ddq")).max() < 1e-5 * max(1, np.abs(fd2).max())


def test_cell_probabilities_against_the_normal_cdf_directly():
    fam = family("grid-linear", cells=41, half_width=4, noise=0.5, boundary="clipped")
    ax = fam.axes[0]
    k = pair_kernel(fam, np.array([20]), np.array([0.3]), order=0)
    row = np.zeros(fam.n_states)
    np.add.at(row, k.cells[0], k.q[0])
    mu = 1.1 * ax.points[20] + 0.5 * 0.3
    edges = ax.lo + np.arange(ax.cells + 1) * ax.width
    cdf = ndtr((edges - mu) / ax.noise)
    cdf[0], cdf[-1] = 0.0, 1.0
    assert np.abs(row - np.diff(cdf)).max() < 1e-13


# ----------------------------------------------------------------------------- the chain
@pytest.mark.parametrize("name, params", [("grid-linear", {"cells": 61}), ("double-well", {"cells": 41}),
                                          ("pendulum", {"cells_theta": 16, "cells_omega": 12, "noise_theta": 0.4,
                                                        "noise_omega": 0.6})])
def test_sparse_chain_matches_dense_gth(name, params):
    fam = family(name, **params)
    rng = np.random.default_rng(0)
    m, s = fam.initial_policy()
    pol = ParticlePolicy((m[:, None] + 0.5 * rng.standard_normal((fam.n_states, 3)))[:, :, None])
    ch = _quiet(grid_chain, fam, pol)
    ref = solve_chain(ch.P.toarray(), ch.r)
    assert np.abs(ch.rho - ref.rho).max() <= 1e-12 * ref.rho.max()
    assert abs(ch.J - ref.J) <= 1e-12 * abs(ref.J)
    assert np.abs(ch.h - ref.h).max() <= 1e-9 * np.abs(ref.h).max()
    assert ch.certificates["irreducible"] and ch.certificates["min_rho"] > 0


def test_gaussian_closed_form_against_gauss_hermite_particles():
    """The closed form (noise variance sigma^2 + b^2 s^2) against the definition: the particle chain on 60
    Gauss-Hermite nodes per state (the kernel is smooth on the scale of the policy: exact to ~1e-13)."""
    fam = family("double-well", cells=41)
    x = fam.points[:, 0]
    m, s = -0.5 * x, np.full(fam.n_states, 0.3)
    ch, E1, E2 = _quiet(gaussian_grid_chain, fam, m, s)
    wp = GaussianPolicy.from_std(m, s).discretize(60)
    ref = _quiet(grid_chain, fam, ParticlePolicy(wp.points, wp.weights), order=2)
    assert abs(ch.J - ref.J) < 1e-12 * abs(ref.J)
    assert np.abs(ch.rho - ref.rho).max() < 1e-13
    from otgeom.numeric.grid import action_gradient

    g, H = action_gradient(fam, ref, order=2)
    w = wp.weights
    assert np.abs(E1 - (w * g.reshape(w.shape)).sum(axis=1)).max() < 1e-10
    assert np.abs(E2 - (w * H.reshape(w.shape)).sum(axis=1)).max() < 1e-9


# ----------------------------------------------------------------------------- flows
def test_gaussian_flow_from_the_derived_formulas_converges_to_the_lq_optimum():
    fam = family("grid-linear")
    m, s = fam.initial_policy()
    res = gaussian_flow(fam, m, s, max_steps=200, tol=1e-7, progress=False)  # float64 J resolves ~2e-8
    assert res.converged and np.all(np.diff(res.J) <= 0)
    opt = lq_optimum(family("lq"))
    x = fam.points[:, 0]
    inner = np.abs(x) < 4
    mean, std = res.final
    assert np.abs(mean[inner] + opt.K[0, 0] * x[inner]).max() < 1e-5
    assert std.max() < 1e-6
    assert abs(res.J[-1] - opt.J) / opt.J < 1e-3  # the grid's h^2 snapping error at h = 0.1


@pytest.mark.parametrize("implicit", [False, True])
def test_particle_flow_decreases_J_and_converges(implicit):
    fam = family("double-well", cells=41)
    m, s = fam.initial_policy()
    q = QuantilePolicy.from_gaussian(GaussianPolicy.from_std(m, np.full_like(s, 0.5)), 4)
    res = _quiet(particle_flow, fam, q, max_steps=300, tol=1e-6, progress=False, implicit=implicit)
    assert res.converged, res.reason
    assert np.all(np.diff(res.J) <= 0)
    ref = _quiet(gaussian_flow, fam, m, s, max_steps=300, tol=1e-8, progress=False)
    assert abs(res.J[-1] - ref.J[-1]) < 1e-6 * abs(ref.J[-1])  # both reach the deterministic optimum


@pytest.mark.slow
def test_pendulum_flow_keeps_it_upright_on_average():
    fam = family("pendulum")
    m, s = fam.initial_policy()
    res = _quiet(gaussian_flow, fam, m, s, max_steps=400, tol=1e-4, progress=False)
    zero = _quiet(grid_chain, fam, ParticlePolicy(np.zeros((fam.n_states, 1, 1))))
    final = _quiet(grid_chain, fam, ParticlePolicy(res.final[0][:, None, None]))
    theta = fam.points[:, 0]
    upright = final.rho[np.abs(theta) < np.pi / 4].sum()
    print(f"pendulum: J zero torque {zero.J:.4f}, flow {final.J:.4f}, upright share {upright:.3f}")
    assert final.J < 0.2 * zero.J and upright > 0.9
    assert res.grad_norm[-1] < 1e-3


# ----------------------------------------------------------------------------- the claims
@pytest.mark.parametrize("fam_name", ["grid-linear", "double-well"])
def test_grid_claims_hold_and_mutants_fail(fam_name):
    from proofs_checks.grid_claims import CLAIMS

    fam = family(fam_name)
    for c in CLAIMS:
        r = c.run(fam, seed=3)
        if r.verdict == "not-applicable":
            assert c.name == "grid-lq-limit" and fam_name != "grid-linear"
            continue
        assert r.verdict == "holds", (c.name, r.error, r.details)
        for name in c.mutants:
            m = c.mutant(name).run(fam, seed=3)
            assert m.verdict == "fails" and np.isfinite(m.error), (c.name, name, m.error, m.details)


def test_lq_limit_reports_order_two():
    from proofs_checks.grid_claims import GRID_LQ_LIMIT

    r = GRID_LQ_LIMIT.run(family("grid-linear"), seed=0)
    assert r.verdict == "holds"
    assert all(abs(p - 2) < 0.1 for p in r.details["observed_order"])


# ----------------------------------------------------------------------------- command line
def _otgeom(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "otgeom.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_eval_on_grid_families(tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"gain": 1.17494076, "std": 0}))
    out = _otgeom("eval", "grid-linear", "--policy", str(pol))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["method"] == "grid" and d["policy_kind"] == "gaussian" and len(d["rho"]) == 161
    assert abs(d["J"] - 2.2943215375794854) < 1e-9 and d["grad_norm2"] < 1e-12
    pol.write_text(json.dumps({"mean": 0, "std": 0.5, "quantiles": 4}))
    d = json.loads(_otgeom("eval", "double-well", "--policy", str(pol)).stdout)
    assert d["policy_kind"] == "particles" and len(d["grad_particles"][0]) == 4
    pol.write_text(json.dumps({"particles": [[0.0]] * 5}))
    bad = _otgeom("eval", "double-well", "--policy", str(pol))
    assert bad.returncode == 2 and "expected [81, M]" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_families_and_derive_list_grid_families():
    out = _otgeom("families").stdout
    for name in ("grid-linear", "double-well", "pendulum"):
        assert f"{name}:" in out
    d = _otgeom("derive", "pendulum").stdout
    assert "drift_a[omega] = 0.1" in d and "cost_a = 0.1*a" in d


# ----------------------------------------------------------------------------- more bad input (review findings)
def test_quantile_policy_with_one_deterministic_state_keeps_the_others_spread(tmp_path):
    from otgeom.evaluate import grid_policy_from_json

    fam = family("grid-linear")
    pol = grid_policy_from_json({"mean": 0, "std": [0] + [1] * 160, "quantiles": 4}, fam)
    A = pol.particles[:, :, 0]
    assert np.all(A[0] == 0) and np.ptp(A[1]) > 1  # state 0 deterministic, the others spread


@pytest.mark.parametrize("policy, words", [
    ({"gain": [1, 2], "std": 1}, "must be one number"),
    ({"particles": [[]] * 81}, "M >= 1"),
    ({"mean": 0}, 'needs "std"'),
    ({"mean": 0, "std": -1}, "must be >= 0"),
    ({"mean": [0, 1], "std": 1}, "expected a number or 81 numbers"),
])
def test_bad_grid_policies_are_named(policy, words, tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps(policy))
    out = _otgeom("eval", "double-well", "--policy", str(pol))
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("params, words", [
    (["--param", "cells=10000"], "more than 4096"),
    (["--param", "noise=1e6"], "more than 4096"),
    (["--param", "half_width=1e-300"], "more than 4096"),
    (["--param", "noise=1e-300"], "more than the limit of 1000000"),
])
def test_grids_the_machine_cannot_hold_are_refused_with_numbers(params, words, tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"gain": 1, "std": 0}))
    out = _otgeom("eval", "grid-linear", *params, "--policy", str(pol))
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_too_many_states_are_refused():
    with pytest.raises(ParameterError, match="grid states is more than the limit"):
        family("pendulum", cells_theta=100000, cells_omega=100000)


def test_eval_tolerance_applies_to_grid_families(tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"gain": 1, "std": 0}))
    out = _otgeom("eval", "grid-linear", "--policy", str(pol), "--tolerance", "1e-14")
    assert out.returncode == 3 and "error estimate for J" in out.stderr
    assert json.loads(out.stdout)["converged"] is False


def test_a_kernel_independent_of_the_action_has_the_gaussian_closed_form():
    fam = family("grid-linear", beta=0, alpha=0.5)
    ch, E1, E2 = gaussian_grid_chain(fam, np.zeros(fam.n_states), np.ones(fam.n_states))
    assert np.allclose(E1, 0, atol=1e-12) and np.allclose(E2, 2 * 0.5, atol=1e-12)  # d_a c = 2 r a, E = 0; 2r


def test_unreachable_grid_cells_are_explained():
    fam = family("grid-linear", half_width=20, cells=401)
    x = fam.points[:, 0]
    with pytest.raises(RegularityError, match=r"on a grid this means the kernel windows.*x in \[-15.76, 15.76\]"):
        gaussian_grid_chain(fam, -1.17 * x, np.zeros_like(x))


def test_grid_warnings_are_printed_whole(tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"mean": 0, "std": 1}))
    out = _otgeom("eval", "grid-linear", "--policy", str(pol))
    assert out.returncode == 0
    assert "worst at state 0 (x = -7.95)" in out.stderr and "(widen the grid or change the policy)" in out.stderr


def test_particles_is_a_parameter_of_every_grid_family():
    from proofs_checks.grid_claims import random_grid_particles

    fam = family("double-well", particles=3)
    assert random_grid_particles(fam, np.random.default_rng(0)).particles.shape == (fam.n_states, 3, 1)
    with pytest.raises(ParameterError, match="integer in 1..4096"):
        family("double-well", particles=0)
