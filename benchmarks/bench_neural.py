"""Neural policies (issue 21): training on lq against the Riccati optimum, estimator variance, the ergodic bias, and
the cost of a step.

``lq``        random systems with state dimension n (= action dimension) 10, 50 and 100, a linear Gaussian policy
              from a stabilising gain and σ = 0.3, both learned: iterations and wall time until the closed-form cost
              of the learned policy (its σ included) is within 1 % of the Riccati J*, for the projected
              Wasserstein (natural) step, plain gradient descent and Adam on θ, each at three step sizes
              (:data:`STEPS`), and the relative error of K against K* there; then on to 0.1 % (or
              :data:`MAX_STEPS`).  The seconds are training time only: the closed-form check after each step is not
              counted; each run's JIT compilation (about 1 s) is, and in the first row JAX's start-up (a few s).
``variance``  pathwise against score-function gradient estimators at equal sample counts (one simulated future of
              H steps per sample, :func:`otgeom.neural.gradients.rollout_samples`): on lq (n = 10) and on the
              pendulum chain (k = 10, state dimension 20, MLP policy) held upright by its LQR gain and falling.
``bias``      the ergodic estimate against T on lq (n = 10, σ = 0.3, at the training start K0 and at K*): the
              measured bias of E[J_T] (many independent trajectories), the exact bias, the mixing bound, and the
              batch-means interval of one estimate (8 trajectories).
``timing``    time per training iteration (Adam, natural) and per natural step (the CG solve alone) against the
              state dimension (pendulum chain, 2k = 20, 40, 80) and the network width (hidden 32, 128).

    .venv/bin/python benchmarks/bench_neural.py [lq|variance|bias|timing ...] [--quick]

Needs the ``neural`` extra.  Prints Markdown and writes nothing.  Without a section name, all of them.  ``--quick``:
the smallest size of each.
"""
from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from otgeom import family
from otgeom.neural.env import PendulumChain, lq_env
from otgeom.neural.ergodic import DivergenceError, ergodic_cost, lq_bias, noise, sample_states, simulate
from otgeom.neural.gradients import estimator_variance, natural_solver, pathwise_samples, rollout_samples
from otgeom.neural.policies import LinearGaussian, MLPGaussian
from otgeom.neural.train import train
from otgeom.numeric.lq import LQPolicy, action_value_grad, lq_optimum, lq_point
from otgeom.numeric.lq_solvers import stabilising_gain

STD = 0.3
#: the step sizes tried per method (each row is one; a step that destabilises the closed loop says so)
#: chosen around each method's stability limit on these systems, where λ_max(R + BᵀPB) ≈ 63-75 and λ_max(X) ≈ 58-74
#: at the start: the natural step needs η < 1/λ_max(R + BᵀPB) ≈ 0.014, the Euclidean one about 1/(λ_max(M)λ_max(X))
STEPS = {"natural": (0.003, 0.006, 0.012), "sgd": (3e-5, 1e-4, 2.5e-4), "adam": (0.01, 0.03, 0.1)}
MAX_STEPS = 1000


def random_lq(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    A *= 0.95 / np.abs(np.linalg.eigvals(A)).max()
    return family("lq", A=A.tolist(), B=(rng.normal(size=(n, n)) / np.sqrt(n)).tolist(), Qc=np.eye(n).tolist(),
                  R=np.eye(n).tolist(), W=np.eye(n).tolist())


def exact_cost(fam, K: np.ndarray, variances: np.ndarray) -> float:
    r"""J of the policy a = −Kx + diag(variances)^{1/2}ξ (its noise is part of J): :math:`\mathrm{tr}((Q_c +
    K^\top RK)X) + \mathrm{tr}(R\Sigma)` with X from scipy's discrete Lyapunov solver (one solve, 5 times cheaper
    than :func:`otgeom.numeric.lq.lq_point`, which computes P and the gradients too); inf for an unstable gain."""
    from scipy.linalg import solve_discrete_lyapunov

    AK = fam.A - fam.B @ K
    if np.abs(np.linalg.eigvals(AK)).max() >= 1:
        return float("inf")
    Sigma = np.diag(variances)
    X = solve_discrete_lyapunov(AK, fam.B @ Sigma @ fam.B.T + fam.W)
    return float(np.trace((fam.Qc + K.T @ fam.R @ K) @ X) + np.trace(fam.R @ Sigma))


def lq_rows(n: int, max_steps: int = MAX_STEPS):
    """One row per (method, step size): the training iterations and seconds until J <= 1.01 J* and the relative K
    error there, then the iterations until J <= 1.001 J* (training goes on until then, or to ``max_steps``), and
    J, the K error and the largest σ at the end."""
    fam = random_lq(n)
    env = lq_env(fam)
    K0 = stabilising_gain(fam)
    opt = lq_optimum(fam)
    Kstar, J_star = opt.K, opt.J  # the Riccati optimum (deterministic: Sigma = 0)
    rows = []
    for method, lr in [(m, lr) for m, grid in STEPS.items() for lr in grid]:
        pol = LinearGaussian(n, n, K0=K0, std0=STD)
        st = {"J": np.inf, "hit": None, "hit_seconds": None, "hit_err": None, "fine": None, "check": 0.0}

        def k_error(theta):
            return float(np.linalg.norm(np.asarray(theta["K"]) - Kstar) / np.linalg.norm(Kstar))

        def closed_form(step, theta):
            t = time.perf_counter()
            st["J"] = exact_cost(fam, np.asarray(theta["K"]), np.exp(2 * np.asarray(theta["log_std"])))
            if st["hit"] is None and st["J"] <= 1.01 * J_star:
                st["hit"], st["hit_err"] = step, k_error(theta)
                st["hit_seconds"] = t - st["t0"] - st["check"]
            st["check"] += time.perf_counter() - t
            if st["J"] <= 1.001 * J_star:
                st["fine"] = step
                return True
            return False

        st["t0"] = time.perf_counter()
        try:
            res = train(env, pol, pol.init(), method=method, steps=max_steps, lr=lr, T=200, burn_in=50, batch=8,
                        progress=False, callback=closed_form)
        except DivergenceError as exc:
            rows.append((n, method, lr, f"diverged at training step {exc.training_step}", *["-"] * 6))
            continue
        sigma = float(np.exp(np.asarray(res.theta["log_std"])).max())
        hit = st["hit"]
        rows.append((n, method, lr, f"not in {max_steps}" if hit is None else hit,
                     "-" if hit is None else f"{st['hit_seconds']:.3g}",
                     "-" if hit is None else f"{st['hit_err']:.3g}",
                     f"not in {max_steps}" if st["fine"] is None else st["fine"],
                     f"{st['J'] / J_star - 1:.2g}", f"{k_error(res.theta):.3g}", f"{sigma:.2g}"))
    return rows


def section_lq(quick: bool) -> None:
    print("| n | method | step | iterations to J ≤ 1.01 J* | seconds to J ≤ 1.01 J* | ‖K − K*‖/‖K*‖ there | "
          "iterations to J ≤ 1.001 J* | J/J* − 1 at the end | ‖K − K*‖/‖K*‖ at the end | largest σ at the end |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in ((10,) if quick else (10, 50, 100)):
        for row in lq_rows(n):
            print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
    print()


def variance_row(name, env, pol, theta, N, horizons, closed=None):
    x = sample_states(env, pol, theta, jax.random.PRNGKey(1), N)
    xi = jax.random.normal(jax.random.PRNGKey(2), (N, pol.action_dim))
    for H in horizons:
        r = rollout_samples(env, pol, theta, x, xi, jax.random.PRNGKey(3), H)
        ev = estimator_variance(r.pathwise, r.score)
        print(f"| {name} | {ev.parameters} | {N} | {H} | {ev.first:.3g} | {ev.second:.3g} | {ev.ratio:.3g} | "
              f"{ev.max_z:.2f} |", flush=True)
    if closed is not None:  # the pathwise estimator with the closed-form ∇_aQ (no simulated future)
        pt = closed
        cf = pathwise_samples(pol, theta, x, xi, lambda xx, aa: jnp.asarray(
            action_value_grad(pt, np.asarray(xx), np.asarray(aa))))
        r = rollout_samples(env, pol, theta, x, xi, jax.random.PRNGKey(3), horizons[-1])
        ev = estimator_variance(cf, r.score)
        print(f"| {name}, closed-form ∇_aQ | {ev.parameters} | {N} | - | {ev.first:.3g} | {ev.second:.3g} | "
              f"{ev.ratio:.3g} | {ev.max_z:.2f} |", flush=True)


def section_variance(quick: bool) -> None:
    print("| system | parameters | samples | horizon H | pathwise variance | score-function variance | ratio | "
          "max \\|z\\| of the means' difference |")
    print("|---|---|---|---|---|---|---|---|")
    N = 2000
    fam = random_lq(10)
    env = lq_env(fam)
    K = stabilising_gain(fam)
    pol = LinearGaussian(10, 10, K0=K, std0=STD)
    theta = pol.init()
    pt = lq_point(fam, LQPolicy(K, STD ** 2 * np.eye(10)))
    variance_row("lq n = 10, linear policy", env, pol, theta, N, (50, 200), closed=pt)
    k = 2 if quick else 10
    env = PendulumChain(k=k)
    held = MLPGaussian(env.state_dim, env.action_dim, hidden=(32,), std0=STD, linear_init=env.upright_gain())
    variance_row(f"pendulum chain k = {k}, MLP 32, held upright", env, held, held.init(jax.random.PRNGKey(0)), N,
                 (20, 50, 100, 200))
    falling = MLPGaussian(env.state_dim, env.action_dim, hidden=(32,), std0=STD)
    variance_row(f"pendulum chain k = {k}, MLP 32, falling", env, falling, falling.init(jax.random.PRNGKey(0)), N,
                 (20, 50, 100))
    print()


def section_bias(quick: bool) -> None:
    from scipy.stats import t as student

    fam = random_lq(10)
    env = lq_env(fam)
    opt = lq_optimum(fam)
    reps = 400
    Sigma = STD ** 2 * np.eye(10)
    print(f"Measured bias: the mean of {reps} independent J_T minus J (Lyapunov closed form), with its 95 % "
          "interval; exact bias and mixing bound from `lq_bias`.")
    print()
    print("| policy | ρ(A_K) | T | burn-in | measured bias | exact bias | mixing bound | batch-means 95 % half-width "
          "(8 trajectories) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, K in (("K0 (the training start)", stabilising_gain(fam)), ("K*", opt.K)):
        pol = LinearGaussian(10, 10, K0=K, std0=STD)
        theta = pol.init()
        sim = jax.jit(lambda th, a, b, pol=pol: simulate(env, pol, th, a, b))
        for burn_in in (0, 20):
            for T in ((25, 400) if quick else (25, 100, 400, 1600)):
                xi, w = noise(jax.random.PRNGKey(T + burn_in), env, 10, reps, burn_in + T)
                costs, _ = sim(theta, xi, w)
                JT = np.asarray(costs)[:, burn_in:].mean(axis=1)
                b = lq_bias(fam, K, Sigma, T=T, burn_in=burn_in)
                half = student.ppf(0.975, reps - 1) * JT.std(ddof=1) / np.sqrt(reps)
                est = ergodic_cost(env, pol, theta, jax.random.PRNGKey(7), T=T, burn_in=burn_in, batch=8,
                                   blocks=min(10, T))
                exact = f"{b.bias:.4g}" if abs(b.bias) > 1e-12 * b.J else "0 (below round-off)"
                print(f"| {label} | {b.spectral_radius:.3g} | {T} | {burn_in} | {JT.mean() - b.J:.4g} ± {half:.2g} "
                      f"| {exact} | {b.bound:.3g} | {est.half_width:.3g} |", flush=True)
    print()


def section_timing(quick: bool) -> None:
    print("| system | state dim | policy | parameters | Adam s/iteration | natural s/iteration | "
          "natural step alone (CG, 512 states) s |")
    print("|---|---|---|---|---|---|---|")
    for k in ((10,) if quick else (10, 20, 40)):
        env = PendulumChain(k=k)
        for width in ((32,) if quick else (32, 128)):
            pol = MLPGaussian(env.state_dim, env.action_dim, hidden=(width,), std0=0.3,
                              linear_init=env.upright_gain())
            theta = pol.init(jax.random.PRNGKey(0))
            per = {}
            for method in ("adam", "natural"):
                kw = dict(lr=1e-3, T=100, burn_in=20, batch=8, progress=False,
                          **({"max_move": 0.05} if method == "natural" else {}))
                h = train(env, pol, theta, method=method, steps=7, **kw).history
                per[method] = (h[-1]["seconds"] - h[1]["seconds"]) / 5  # steps 3-7: the first compiles
            x = sample_states(env, pol, theta, jax.random.PRNGKey(1), 512)
            xi = jax.random.normal(jax.random.PRNGKey(2), (512, env.action_dim))
            g = jnp.ones_like(ravel_pytree(theta)[0])
            solve = natural_solver(pol, damping=1e-6, tol=1e-6)  # as train() uses it: compiled once
            solve(theta, x, xi, g)
            t0 = time.perf_counter()
            for _ in range(3):
                solve(theta, x, xi, g)
            nat = (time.perf_counter() - t0) / 3
            print(f"| pendulum chain k={k} | {2 * k} | MLP {width} | {g.size} | {per['adam']:.3g} | "
                  f"{per['natural']:.3g} | {nat:.3g} |", flush=True)
    print()


SECTIONS = {"lq": section_lq, "variance": section_variance, "bias": section_bias, "timing": section_timing}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")] or list(SECTIONS)
    unknown = [a for a in names if a not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"### {name}\n", flush=True)
        SECTIONS[name](quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
