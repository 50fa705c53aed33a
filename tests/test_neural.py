"""Neural policies (issue 21), with the ``neural`` extra (JAX, optax; Gymnasium for the pendulum reference).

Small dimensions, few iterations, fixed seeds: the larger runs are in ``benchmarks/bench_neural.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402

from otgeom import family  # noqa: E402
from otgeom.neural.env import PendulumChain, gym_pendulum_step, lq_env  # noqa: E402
from otgeom.neural.ergodic import DivergenceError, ergodic_cost, lq_bias, sample_states  # noqa: E402
from otgeom.neural.gradients import (estimator_variance, natural_direction, pathwise_samples,  # noqa: E402
                                     rollout_samples, score_samples)
from otgeom.neural.policies import LinearGaussian, MLPGaussian  # noqa: E402
from otgeom.neural.train import train  # noqa: E402
from otgeom.numeric.lq import LQPolicy, action_value, action_value_grad, lq_optimum, lq_point  # noqa: E402
from otgeom.numeric.lq_solvers import stabilising_gain  # noqa: E402


def test_pendulum_step_is_gymnasium_pendulum_v1():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    chain = PendulumChain(k=3, kappa=0.0, sigma=0.0)
    for _ in range(50):
        th, om, u = rng.uniform(-np.pi, np.pi), rng.uniform(-8, 8), rng.uniform(-3, 3)
        env.state = np.array([th, om])
        _, reward, *_ = env.step(np.array([u]))
        th2, om2, cost = (float(v) for v in gym_pendulum_step(th, om, u))
        assert np.allclose(env.state, [th2, om2], rtol=0, atol=1e-12) and cost == pytest.approx(-reward, abs=1e-5)
        # the chain, uncoupled and noise-free, inside the clip limits, takes the same step per pendulum
        if abs(u) <= 2 and abs(om + (15 * np.sin(th) + 3 * u) * 0.05) <= 8:
            x = jnp.array([th, th, th, om, om, om])
            x2 = chain.step(x, jnp.full(3, u), jnp.zeros(6))
            assert np.allclose(np.asarray(x2), [th2] * 3 + [om2] * 3, rtol=0, atol=1e-12)


def _cubature(n_x: int, m: int, X: np.ndarray):
    """Points ±sqrt(n+m) e_k of N(0, I_{n+m}), weights 1/(2(n+m)): exact for polynomials of degree <= 3; x = L z."""
    d = n_x + m
    Z = np.concatenate([np.sqrt(d) * np.eye(d), -np.sqrt(d) * np.eye(d)])
    L = np.linalg.cholesky(X)
    return jnp.asarray(Z[:, :n_x] @ L.T), jnp.asarray(Z[:, n_x:]), jnp.full(2 * d, 1.0 / (2 * d))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pendulum_chain_linearisation_is_the_jacobian_of_its_step(k):
    """(A, B) of the chain at the upright rest against ``jax.jacfwd`` of its step (one pendulum: no spring), and the
    upright LQR gain stabilises the linearisation."""
    env = PendulumChain(k=k, kappa=1.3)
    A, B = env.linearisation()
    x0, u0, w0 = jnp.zeros(2 * k), jnp.zeros(k), jnp.zeros(2 * k)
    assert np.allclose(A, np.asarray(jax.jacfwd(lambda x: env.step(x, u0, w0))(x0)), rtol=0, atol=1e-14)
    assert np.allclose(B, np.asarray(jax.jacfwd(lambda u: env.step(x0, u, w0))(u0)), rtol=0, atol=1e-14)
    assert np.abs(np.linalg.eigvals(A - B @ env.upright_gain())).max() < 1


def test_linear_policy_natural_step_is_the_closed_form_flow_step():
    """With a linear policy a = -Kx + σξ the projected Wasserstein step (CG on Jacobian-vector products) moves K
    along -2E_K and log σ along -2 diag(M): the closed-form flow of THEORY.md section 5 (its Σ part projected onto
    diagonal Σ = diag(σ²)).  Expectations by a cubature exact for these degree-2 integrands."""
    fam = family("lq", example="dean")
    n, m = fam.n, fam.m
    K = stabilising_gain(fam)
    std = np.array([0.7, 0.5, 0.9])
    pol = LinearGaussian(n, m, K0=K)
    theta = {"K": jnp.asarray(K), "log_std": jnp.log(jnp.asarray(std))}
    pt = lq_point(fam, LQPolicy(K, np.diag(std ** 2)))
    x, xi, wts = _cubature(n, m, pt.X)
    samples = pathwise_samples(pol, theta, x, xi, lambda xx, aa: jnp.asarray(action_value_grad(pt, np.asarray(xx),
                                                                                                np.asarray(aa))))
    g = jnp.sum(wts[:, None] * samples, axis=0)
    d = natural_direction(pol, theta, x, xi, g, weights=wts, damping=0.0, tol=1e-14)
    assert d.residual < 1e-10
    M = fam.R + fam.B.T @ pt.P @ fam.B
    E = M @ K - fam.B.T @ pt.P @ fam.A
    # ravel_pytree orders dict keys: K then log_std
    assert np.allclose(np.asarray(d.direction[:m * n]).reshape(m, n), 2 * E, rtol=1e-9, atol=1e-11)
    assert np.allclose(np.asarray(d.direction[m * n:]), 2 * np.diag(M), rtol=1e-9, atol=1e-11)
    # and the gradient itself is the closed form dJ/dK = 2 E_K X
    assert np.allclose(np.asarray(g[:m * n]).reshape(m, n), 2 * E @ pt.X, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("policy", ["mlp", "implicit"])
def test_metric_vector_product_is_the_sum_of_per_sample_jacobians(policy):
    """G v by one jvp and one vjp of the batched push-forward against Σ_i w_i J_iᵀ(J_i v) with each J_i formed
    explicitly (``jax.jacfwd`` per sample): the same to round-off, on nonlinear policies (an MLP mean and an
    implicit push-forward, with a linear skip term); and the compiled CG solver (as training uses it) gives the
    dense solve of (G + λI)d = v with G assembled from those Jacobians."""
    from jax.flatten_util import ravel_pytree

    from otgeom.neural.gradients import metric_vector_product, natural_solver
    from otgeom.neural.policies import ImplicitMLP

    cls = MLPGaussian if policy == "mlp" else ImplicitMLP
    pol = cls(3, 2, hidden=(5,), linear_init=0.3 * np.ones((2, 3)))
    theta = pol.init(jax.random.PRNGKey(0))
    if policy == "mlp":
        theta["mlp"][-1]["W"] = 0.2 * jnp.ones_like(theta["mlp"][-1]["W"])  # the output layer starts at 0
    flat, unravel = ravel_pytree(theta)
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
    xi = jax.random.normal(jax.random.PRNGKey(2), (7, 2))
    w = jnp.arange(1.0, 8.0) / 28.0
    v = jax.random.normal(jax.random.PRNGKey(3), flat.shape)
    jacobians = [jax.jacfwd(lambda f, i=i: pol.push(unravel(f), x[i], xi[i]))(flat) for i in range(7)]
    explicit = sum(w[i] * (J.T @ (J @ v)) for i, J in enumerate(jacobians))
    Gv = metric_vector_product(pol, theta, x, xi, v, weights=w)
    assert np.allclose(np.asarray(Gv), np.asarray(explicit), rtol=1e-12, atol=1e-14)
    G = sum(w[i] * (J.T @ J) for i, J in enumerate(jacobians))
    dense = np.linalg.solve(np.asarray(G) + 1e-3 * np.eye(flat.size), np.asarray(v))
    b = natural_solver(pol, damping=1e-3, tol=1e-13)(theta, x, xi, v, w)
    assert np.allclose(np.asarray(b.direction), dense, rtol=1e-8, atol=1e-10)  # CG to 1e-13 on κ ≤ ~1e4
    assert b.metric_norm2 == pytest.approx(float(b.direction @ metric_vector_product(pol, theta, x, xi, b.direction,
                                                                                     weights=w)), rel=1e-12)


def test_pathwise_variance_is_far_below_the_score_function_on_lq():
    """Same expectation (the gradient), at equal sample counts: the pathwise estimator's variance is a small fraction
    of the score-function one's (with Q from the closed form)."""
    fam = family("lq", example="dean")
    n, m = fam.n, fam.m
    K = stabilising_gain(fam)
    std = 0.5 * np.ones(m)
    pol = LinearGaussian(n, m, K0=K)
    theta = {"K": jnp.asarray(K), "log_std": jnp.log(jnp.asarray(std))}
    pt = lq_point(fam, LQPolicy(K, np.diag(std ** 2)))
    rng = np.random.default_rng(0)
    N = 4000
    x = jnp.asarray(rng.standard_normal((N, n)) @ np.linalg.cholesky(pt.X).T)
    xi = jnp.asarray(rng.standard_normal((N, m)))
    pw = np.asarray(pathwise_samples(pol, theta, x, xi, lambda xx, aa: jnp.asarray(
        action_value_grad(pt, np.asarray(xx), np.asarray(aa)))))
    sf = np.asarray(score_samples(pol, theta, x, xi, lambda xx, aa: jnp.asarray(
        action_value(pt, np.asarray(xx), np.asarray(aa)))))
    v_pw, v_sf = pw.var(axis=0).sum(), sf.var(axis=0).sum()
    assert v_pw < 0.1 * v_sf, (v_pw, v_sf)  # measured: 80 against 1407, a ratio of 0.057 (both vary with x too)
    se = np.sqrt(sf.var(axis=0) / N + pw.var(axis=0) / N)
    assert np.all(np.abs(pw.mean(axis=0) - sf.mean(axis=0)) < 5 * se)  # the same gradient


def test_pathwise_variance_is_zero_for_the_mean_when_Q_is_linear_in_a():
    """Q(x, a) = v.a + f(x): at a fixed state, ∂_θμ(x)^T ∇_aQ does not depend on ξ, so the pathwise estimator of
    the mean network's gradient has variance exactly 0 over ξ; the score-function one does not."""
    pol = MLPGaussian(4, 2, hidden=(8,))
    theta = pol.init(jax.random.PRNGKey(0))
    theta["mlp"][-1]["W"] = 0.1 * jnp.ones_like(theta["mlp"][-1]["W"])  # a non-trivial mean
    v = jnp.array([1.5, -0.5])
    x = jnp.tile(jnp.array([[0.3, -0.2, 0.5, 1.0]]), (256, 1))
    xi = jax.random.normal(jax.random.PRNGKey(1), (256, 2))
    pw = np.asarray(pathwise_samples(pol, theta, x, xi, lambda xx, aa: jnp.broadcast_to(v, aa.shape)))
    sf = np.asarray(score_samples(pol, theta, x, xi, lambda xx, aa: aa @ v))
    n_mean = sum(int(np.prod(layer[k].shape)) for layer in theta["mlp"] for k in ("W", "b"))
    # ravel_pytree orders the dict keys: log_std, then mlp
    mean_part = slice(2, 2 + n_mean)
    assert np.max(np.ptp(pw[:, mean_part], axis=0)) == 0.0
    assert np.max(np.var(sf[:, mean_part], axis=0)) > 1e-3


def test_rollout_estimators_are_the_closed_form_gradient_on_lq():
    """The estimators from simulated futures (no closed form used) against the pathwise estimator with the closed-form
    ∇_aQ, at the same (x, ξ): paired differences.  With a horizon of 160 steps (ρ(A_K)^160 ≈ 3e-6) they agree
    within the sampling error; with 5 steps the truncation bias is found (measured: paired |z| 26 against 1.8)."""
    fam = family("lq", example="dean")
    env = lq_env(fam)
    K = stabilising_gain(fam)
    std = 0.5 * np.ones(fam.m)
    pol = LinearGaussian(fam.n, fam.m, K0=K)
    theta = {"K": jnp.asarray(K), "log_std": jnp.log(jnp.asarray(std))}
    pt = lq_point(fam, LQPolicy(K, np.diag(std ** 2)))
    N = 2000
    x = sample_states(env, pol, theta, jax.random.PRNGKey(1), N)
    xi = jax.random.normal(jax.random.PRNGKey(2), (N, fam.m))
    closed = np.asarray(pathwise_samples(pol, theta, x, xi, lambda xx, aa: jnp.asarray(
        action_value_grad(pt, np.asarray(xx), np.asarray(aa)))))
    long = rollout_samples(env, pol, theta, x, xi, jax.random.PRNGKey(3), horizon=160)
    # paired |z| over 12 parameters from 2000 independent pairs: above 4 by chance with probability below 1e-3
    assert estimator_variance(long.pathwise, closed).max_z < 4
    assert estimator_variance(long.score, closed).max_z < 4  # the score-function mean: the same gradient
    assert estimator_variance(long.pathwise, long.score).ratio < 0.01  # measured 0.002 (the cost-to-go's spread)
    short = rollout_samples(env, pol, theta, x, xi, jax.random.PRNGKey(3), horizon=5)
    assert estimator_variance(short.pathwise, closed).max_z > 10  # a truncated horizon biases ∇_aQ: it is seen


def test_pathwise_variance_on_the_pendulum_chain():
    """The nonlinear system (2 coupled pendulums here, 10 in the benchmark), an MLP policy at equal sample counts.
    Held upright by the LQR gain of its linearisation (the skip term of the MLP), the closed loop mixes: both
    estimators have the same mean and the pathwise variance is a small fraction of the score-function one
    (measured 0.018 at H = 50 and 0.008 at H = 100: it falls like 1/H because the cost-to-go's spread grows with H
    while ∇_aQ_H has converged).  Without the gain the pendulums fall and spin, the dynamics are chaotic, and the
    pathwise estimator's variance grows exponentially with the horizon: at H = 150 it is far larger than the
    score-function one (measured ratios 500 to 35000 over three seeds of the states; at H = 100, 6 to 180).  The
    claim "far lower variance" holds where the closed loop contracts, not in general."""
    env = PendulumChain(k=2)
    N = 1000
    xi = jax.random.normal(jax.random.PRNGKey(2), (N, env.action_dim))
    held = MLPGaussian(env.state_dim, env.action_dim, hidden=(8,), std0=0.3, linear_init=env.upright_gain())
    theta = held.init(jax.random.PRNGKey(0))
    x = sample_states(env, held, theta, jax.random.PRNGKey(1), N)
    r = rollout_samples(env, held, theta, x, xi, jax.random.PRNGKey(3), horizon=50)
    ev = estimator_variance(r.pathwise, r.score)
    assert ev.ratio < 0.05 and ev.max_z < 4.5, ev  # max |z| over 68 parameters: below 4.5 unless the means differ
    falling = MLPGaussian(env.state_dim, env.action_dim, hidden=(8,), std0=0.3)
    theta_f = falling.init(jax.random.PRNGKey(0))
    x_f = sample_states(env, falling, theta_f, jax.random.PRNGKey(1), N)
    r_f = rollout_samples(env, falling, theta_f, x_f, xi, jax.random.PRNGKey(3), horizon=150)
    assert estimator_variance(r_f.pathwise, r_f.score).ratio > 10


def test_ergodic_estimate_bias_and_mixing_bound_on_lq():
    fam = family("lq")
    env = lq_env(fam)
    opt = lq_optimum(fam)
    std = np.array([0.3])
    pol = LinearGaussian(1, 1, K0=opt.K)
    theta = pol.init()
    theta["log_std"] = jnp.log(jnp.asarray(std))
    est = ergodic_cost(env, pol, theta, jax.random.PRNGKey(0), T=4000, burn_in=200, batch=8)
    b = lq_bias(fam, opt.K, np.diag(std ** 2), T=4000, burn_in=200)
    assert abs(est.J - b.J) <= 3 * est.half_width and est.half_width < 0.05 * b.J
    assert abs(b.bias) <= b.bound + 1e-12 * b.J  # the exact bias is a float64 sum of T terms: round-off ~1e-13
    # without burn-in the bias is visible and the simulation measures it: many short trajectories from x_0 = 0
    short = ergodic_cost(env, pol, theta, jax.random.PRNGKey(1), T=20, burn_in=0, batch=4000, blocks=2)
    b0 = lq_bias(fam, opt.K, np.diag(std ** 2), T=20, burn_in=0)
    assert abs((short.J - b0.J) - b0.bias) <= 3 * short.half_width and abs(b0.bias) > 3 * short.half_width
    assert abs(b0.bias) <= b0.bound


def test_unstable_closed_loop_is_reported_with_its_step(tmp_path):
    fam = family("lq", A=1.2, B=1, Qc=1, R=1, W=1)
    env = lq_env(fam)
    pol = LinearGaussian(1, 1, K0=np.zeros((1, 1)))  # A - BK = 1.2: unstable
    with pytest.raises(DivergenceError) as exc:
        ergodic_cost(env, pol, pol.init(), jax.random.PRNGKey(0), T=500, burn_in=0, batch=2)
    assert exc.value.step is not None and 50 < exc.value.step < 120  # 1.2^t passes 1e6 after about 76 steps
    ck = tmp_path / "ck.npz"
    with pytest.raises(DivergenceError) as exc:
        train(env, pol, pol.init(), method="adam", steps=3, T=300, burn_in=0, checkpoint=ck, progress=False)
    assert exc.value.training_step == 1 and "training step 1" in str(exc.value)
    assert not ck.exists() and not list(tmp_path.glob(".*tmp"))


def _setup_small_lq():
    fam = family("lq", example="dean")
    env = lq_env(fam)
    K0 = stabilising_gain(fam)
    pol = LinearGaussian(fam.n, fam.m, K0=K0, std0=0.3)
    return fam, env, pol


def test_checkpoints_resume_exactly_and_are_written_atomically(tmp_path, monkeypatch):
    fam, env, pol = _setup_small_lq()
    kw = dict(method="adam", lr=0.02, T=100, burn_in=20, batch=4, progress=False)
    full = train(env, pol, pol.init(), steps=6, **kw)
    ck = tmp_path / "run.npz"
    train(env, pol, pol.init(), steps=4, checkpoint=ck, checkpoint_every=2, **kw)
    resumed = train(env, pol, pol.init(), steps=6, checkpoint=ck, checkpoint_every=2, **kw)
    assert resumed.resumed_from == 4 and [h["step"] for h in resumed.history] == list(range(1, 7))
    for key in ("K", "log_std"):
        assert np.allclose(np.asarray(resumed.theta[key]), np.asarray(full.theta[key]), rtol=0, atol=1e-12)
    # a write that fails half-way leaves the previous checkpoint whole and no temporary file
    before = ck.read_bytes()

    def broken(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        train(env, pol, pol.init(), steps=8, checkpoint=ck, checkpoint_every=2, **kw)
    assert ck.read_bytes() == before and not list(tmp_path.glob(".*tmp"))


def test_natural_training_reaches_the_riccati_optimum():
    """dean (n = m = 3), linear policy from a stabilising gain, σ learned too: 12 projected Wasserstein steps bring
    the closed-form cost of the learned policy within 1 % of the Riccati J* (σ heads to 0 as the flow's Σ does:
    with τ = 0 the optimum is deterministic)."""
    fam, env, pol = _setup_small_lq()
    res = train(env, pol, pol.init(), method="natural", steps=12, lr=0.25, T=400, burn_in=50, batch=16,
                progress=False)
    K = np.asarray(res.theta["K"])
    std = np.exp(np.asarray(res.theta["log_std"]))
    J_K = lq_point(fam, LQPolicy(K, np.diag(std ** 2))).J
    opt = lq_optimum(fam)
    assert J_K <= 1.01 * opt.J
    assert np.linalg.norm(K - opt.K) / np.linalg.norm(opt.K) < 0.1 and std.max() < 0.01
