"""The sparse grid step (otgeom.numeric.grid) against the plain dense one (otgeom.numeric.grid_dense).

The dense step builds full rows of cell probabilities (no windows), a dense P and numpy solves, so it shares
nothing with the sparse code but the family's compiled expressions and the R1/R2 checks.  They may differ by
the windows' truncation (at most ``truncation`` of each row, about 6.4e-14 per axis) and round-off: P to
1e-13 absolutely, rho, J, h and the gradients to 1e-12 relative to their largest entry.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from otgeom.errors import RegularityError
from otgeom.families import family
from otgeom.numeric import grid
from otgeom.numeric.grid import action_gradient, gaussian_grid_chain, grid_chain, pair_kernel
from otgeom.numeric.grid_dense import (dense_action_gradient, dense_flow_step, dense_gaussian_chain,
                                       dense_grid_chain)
from otgeom.numeric.policies import ParticlePolicy

CASES = {
    "linear-clipped": ("grid-linear", dict(boundary="clipped", cells=41, half_width=4.0, noise=0.4, alpha=0.9)),
    "linear-reflecting": ("grid-linear", dict(boundary="reflecting", cells=41, half_width=4.0, noise=0.4, alpha=0.9)),
    "linear-circle": ("grid-linear", dict(boundary="circle", cells=41, half_width=4.0, noise=0.4, alpha=0.9)),
    # noise wider than the domain: every window wraps (or folds) onto the grid several times
    "circle-wide-noise": ("grid-linear", dict(boundary="circle", cells=20, half_width=3.0, noise=4.0, alpha=1.0)),
    "reflecting-wide-noise": ("grid-linear", dict(boundary="reflecting", cells=20, half_width=3.0, noise=4.0,
                                                  alpha=1.0)),
    "double-well": ("double-well", dict(cells=41)),
    "pendulum": ("pendulum", dict(cells_theta=20, cells_omega=14, noise_theta=0.4, noise_omega=0.5)),
}
TOL = 1e-12
pytestmark = pytest.mark.filterwarnings("ignore::otgeom.errors.GridWarning")  # wide noise leaves the domain


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _particles(fam, M=3, seed=0):
    rng = np.random.default_rng(seed)
    N = fam.n_states
    A = rng.normal(size=(N, M)) * 0.7 - 0.3 * fam.points[:, :1]
    w = rng.random((N, M))
    w[::5, 1] = 0.0  # zero weights are allowed
    return A, w / w.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name, params = CASES[request.param]
    return family(name, **params)


def test_sparse_step_equals_dense_step(case):
    fam = case
    A, w = _particles(fam)
    chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
    g, H = action_gradient(fam, chain, order=2)
    dense, dg, dH = dense_flow_step(fam, A, w)
    assert np.abs(chain.P.toarray() - dense.P).max() <= 1e-13 + 2 * chain.certificates["truncation"]
    assert np.allclose(chain.P.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    for got, want in ((chain.rho, dense.rho), (chain.J, dense.J), (chain.h, dense.h), (chain.r, dense.r),
                      (g, dg), (H, dH)):
        assert _rel(got, want) <= TOL
    assert abs(chain.rho @ chain.h) <= 1e-13 * np.abs(chain.h).max()
    assert chain.certificates["residual_h"] <= 1e-12 * max(1.0, np.abs(chain.h).max())


def test_gradient_at_other_actions_equals_dense(case):
    """The implicit step's Newton iterations ask for grad Q and its curvature at new actions, h frozen."""
    fam = case
    A, w = _particles(fam, seed=1)
    chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
    dense = dense_grid_chain(fam, A, w)
    rng = np.random.default_rng(2)
    states, actions = rng.integers(0, fam.n_states, 60), rng.normal(size=60) * 2
    for order in (1, 2):
        g, H = action_gradient(fam, chain, states, actions, order=order)
        dg, dH = dense_action_gradient(fam, dense, states, actions, order=order)
        assert _rel(g, dg) <= TOL
        assert (H is None) if order == 1 else _rel(H, dH) <= TOL


def test_gaussian_chain_equals_dense(case):
    fam = case
    if fam.affine_axis is None:
        pytest.skip("no closed-form Gaussian chain")
    rng = np.random.default_rng(3)
    N = fam.n_states
    mean, std = rng.normal(size=N) * 0.5, rng.random(N) * 0.8
    std[::7] = 0.0  # point masses too
    chain, E1, E2 = gaussian_grid_chain(fam, mean, std)
    dense, F1, F2 = dense_gaussian_chain(fam, mean, std)
    assert np.abs(chain.P.toarray() - dense.P).max() <= 1e-13 + 2 * chain.certificates["truncation"]
    for got, want in ((chain.rho, dense.rho), (chain.J, dense.J), (chain.h, dense.h), (E1, F1), (E2, F2)):
        assert _rel(got, want) <= TOL


def test_kernel_arrays_on_demand_agree_with_the_chain(case):
    """chain.kernel builds its [pairs, window] arrays only when asked; they are pair_kernel's and sum to P."""
    fam = case
    A, w = _particles(fam, seed=4)
    chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
    k = chain.kernel
    N, M = A.shape
    k2 = pair_kernel(fam, np.repeat(np.arange(N), M), A.ravel(), order=2)
    for name in ("cells", "q", "dq", "ddq", "outside"):
        assert np.array_equal(getattr(k, name), getattr(k2, name))
    assert k.truncation == k2.truncation
    P = np.zeros((N, N))
    np.add.at(P, (np.repeat(np.arange(N), M)[:, None], k.cells), k.q * w.ravel()[:, None])
    assert np.abs(P - chain.P.toarray()).max() <= 1e-15
    hw = chain.h[k.cells]
    g, H = action_gradient(fam, chain, order=2)
    X, a = fam.points[np.repeat(np.arange(N), M)], A.ravel()
    assert _rel(g, fam.evaluate("cost_a", X, a) + np.einsum("pw,pw->p", k.dq, hw)) <= TOL
    assert _rel(H, fam.evaluate("cost_aa", X, a) + np.einsum("pw,pw->p", k.ddq, hw)) <= TOL


def test_spread_particles_take_the_general_assembly():
    """A state whose particles lie far apart makes the per-state bands too wide: P is then assembled from the
    pairs' windows directly, with the same result."""
    fam = family("grid-linear", boundary="reflecting", cells=81, half_width=8.0, noise=0.4, alpha=1.0)
    _, w = _particles(fam, M=2, seed=5)
    A = np.random.default_rng(5).normal(size=w.shape)
    A[40] = [-100.0, 100.0]  # drifts 50 away, each side: 250 cells apart
    drifts = grid._drifts(fam, np.repeat(np.arange(81), 2), A.ravel(), 0)
    assert grid._assemble_band(fam, drifts, w.ravel(), 2) is None
    chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
    dense = dense_grid_chain(fam, A, w)
    assert np.abs(chain.P.toarray() - dense.P).max() <= 1e-13
    assert _rel(chain.h, dense.h) <= TOL
    assert _rel(action_gradient(fam, chain)[0], dense_action_gradient(fam, dense)[0]) <= TOL


def test_a_reducible_chain_is_refused_by_both():
    """Drift to -5 from the left half and to +5 from the right (noise 0.1): two closed classes, 100 sigma apart,
    further than any window reaches and further than the normal cdf resolves (R1 fails)."""
    fam = family("grid-linear", alpha=1.0, beta=1.0, noise=0.1, half_width=8.0, cells=161)
    x = fam.points[:, 0]
    A = (np.where(x < 0, -5.0, 5.0) - x)[:, None]
    with pytest.raises(RegularityError, match="reducible"):
        grid_chain(fam, ParticlePolicy(A[:, :, None]))
    with pytest.raises(RegularityError, match="reducible"):
        dense_grid_chain(fam, A)


def test_taylor_table_is_as_accurate_as_the_cdf():
    """The 1-D window probabilities from the Taylor table against the cdf at the same drift: 1e-13 relative in
    every entry (the far tails included, where the difference of two cdf values near 1 loses everything)."""
    rng = np.random.default_rng(6)
    for r in (1.3, 1.0, 0.5, 0.1):
        fam = family("grid-linear", boundary="circle", cells=200, half_width=10.0, noise=0.1 / r, alpha=1.0)
        states, actions = rng.integers(0, 200, 400), rng.normal(size=400) * 3
        d = grid._drifts(fam, states, actions, 0)[0]
        q = grid._q_taylor(d, slice(None), grid._q_table(d.axis.width / d.noise, d.K))
        u = (d.mu - d.axis.lo) / d.axis.width - d.c
        z = (np.arange(-d.K, d.K + 2)[None, :] - u[:, None]) * (d.axis.width / d.noise)
        lower, upper = z[:, :-1], z[:, 1:]
        want = np.where(lower >= 0, ndtr(-lower) - ndtr(-upper), ndtr(upper) - ndtr(lower))
        want[:, 0], want[:, -1] = ndtr(upper[:, 0]), ndtr(-lower[:, -1])
        assert np.all(want > 0)
        assert np.max(np.abs(q - want) / want) <= 1e-13
        assert np.max(np.abs(q.sum(axis=1) - 1)) <= 1e-15


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    monkeypatch.setattr(grid, "_CHUNK", 1 << 12)
    fam = family("grid-linear", boundary="circle", cells=3000, half_width=3.0, noise=2e-3, alpha=1.0)
    _, w = _particles(fam, M=4, seed=7)
    A = np.random.default_rng(8).normal(size=w.shape) * 4e-3  # a random walk: rho spreads over the circle
    out = []
    for n in ("1", "3"):
        monkeypatch.setenv("OTGEOM_THREADS", n)
        chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
        out.append((chain.P, chain.h, *action_gradient(fam, chain, order=2)))
    (P1, h1, g1, H1), (P3, h3, g3, H3) = out
    assert len(grid._chunks(A.size, 2 * 9 + 1)) > 20
    assert (P1 != P3).nnz == 0
    assert np.array_equal(h1, h3) and np.array_equal(g1, g3) and np.array_equal(H1, H3)


@pytest.mark.parametrize("name", ["linear-reflecting", "linear-circle", "pendulum"])
def test_superlu_and_the_banded_lu_agree(name, monkeypatch):
    """1-D grids are factored by LAPACK's banded LU (the circle in reverse Cuthill-McKee order), 2-D ones beyond a
    few cells by SuperLU: both against the dense step."""
    fam = family(CASES[name][0], **CASES[name][1])
    A, w = _particles(fam, seed=9)
    dense, dg, _ = dense_flow_step(fam, A, w)
    for limit in (grid._BAND_BYTES, 0):
        monkeypatch.setattr(grid, "_BAND_BYTES", limit)
        chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
        g, _ = action_gradient(fam, chain, order=2)
        for got, want in ((chain.rho, dense.rho), (chain.J, dense.J), (chain.h, dense.h), (g, dg)):
            assert _rel(got, want) <= TOL


_FORKED_JOB: dict = {}  # reaches the forked child by fork (a family's compiled lambdas do not pickle)


def _chain_J(_=None):
    fam, A = _FORKED_JOB["job"]
    return grid_chain(fam, ParticlePolicy(A[:, :, None])).J


def test_a_forked_process_computes_chains_after_the_parent_did(monkeypatch):
    """The chunks' thread pool belongs to the process that made it: a child forked afterwards (the report's
    claim workers) makes its own instead of waiting forever on the parent's, which has no threads there."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork")
    monkeypatch.setenv("OTGEOM_THREADS", "2")
    monkeypatch.setattr(grid, "_CHUNK", 1 << 10)
    fam = family("grid-linear", boundary="circle", cells=400, half_width=3.0, noise=0.015, alpha=1.0)
    A = np.random.default_rng(10).normal(size=(400, 2)) * 0.03
    _FORKED_JOB["job"] = (fam, A)
    J = _chain_J()  # the parent's pool exists now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_chain_J).get(timeout=60) == J
