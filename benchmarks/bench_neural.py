"""Neural policies (issue 21): training on lq against the Riccati optimum, and the cost of a step.

(a) ``lq`` random systems with state dimension n (= action dimension) 10, 50 and 100, a linear Gaussian policy
    from a stabilising gain and σ = 0.3, both learned: iterations and wall time until the closed-form cost of the
    learned policy (its σ included) is within 1 % of the Riccati J*, for the projected Wasserstein (natural) step, plain gradient
    descent and Adam on θ, each at three step sizes (:data:`STEPS`); the relative error of K against K* at the end.
(b) time per training iteration and per natural step against the state dimension (pendulum chain, 2k = 20, 40, 80)
    and the network width (MLP Gaussian policy, hidden 32, 128).

    .venv/bin/python benchmarks/bench_neural.py [--quick]

Needs the ``neural`` extra.  Prints Markdown and writes nothing.  ``--quick``: n = 10 only in (a), one width in (b).
"""
from __future__ import annotations

import sys
import time

import jax
import numpy as np

from otgeom import family
from otgeom.neural.env import PendulumChain, lq_env
from otgeom.neural.ergodic import DivergenceError
from otgeom.neural.policies import LinearGaussian, MLPGaussian
from otgeom.neural.train import train
from otgeom.numeric.lq import LQPolicy, lq_optimum, lq_point
from otgeom.numeric.lq_solvers import stabilising_gain

STD = 0.3
#: the step sizes tried per method (each row is one; a step that destabilises the closed loop says so)
STEPS = {"natural": (0.03, 0.1, 0.3), "sgd": (1e-4, 1e-3, 1e-2), "adam": (1e-3, 1e-2, 3e-2)}


def random_lq(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    A *= 0.95 / np.abs(np.linalg.eigvals(A)).max()
    return family("lq", A=A.tolist(), B=(rng.normal(size=(n, n)) / np.sqrt(n)).tolist(), Qc=np.eye(n).tolist(),
                  R=np.eye(n).tolist(), W=np.eye(n).tolist())


def lq_rows(n: int, max_steps: int):
    fam = random_lq(n)
    env = lq_env(fam)
    K0 = stabilising_gain(fam)
    opt = lq_optimum(fam)
    Kstar, J_star = opt.K, opt.J  # the Riccati optimum (deterministic: Sigma = 0)
    rows = []
    for method, lr in [(m, lr) for m, grid in STEPS.items() for lr in grid]:
        pol = LinearGaussian(n, n, K0=K0, std0=STD)
        state = {"J": np.inf, "hit": None}

        def closed_form(step, theta):
            K = np.asarray(theta["K"])
            Sigma = np.diag(np.exp(2 * np.asarray(theta["log_std"])))  # the learned action noise is part of J
            try:
                state["J"] = lq_point(fam, LQPolicy(K, Sigma)).J
            except Exception:  # noqa: BLE001 - an unstable gain is not within 1 %
                state["J"] = np.inf
            if state["J"] <= 1.01 * J_star:
                state["hit"] = step
                return True
            return False

        t0 = time.perf_counter()
        try:
            res = train(env, pol, pol.init(), method=method, steps=max_steps, lr=lr, T=200, burn_in=50, batch=8,
                        progress=False, callback=closed_form)
        except DivergenceError as exc:
            rows.append((n, method, lr, f"diverged at training step {exc.training_step}", "-", "-", "-"))
            continue
        seconds = time.perf_counter() - t0
        hit, J = state["hit"], state["J"]
        err = float(np.linalg.norm(np.asarray(res.theta["K"]) - Kstar) / np.linalg.norm(Kstar))
        rows.append((n, method, lr, "-" if hit is None else hit, f"{seconds:.3g}", f"{J / J_star - 1:.3g}",
                     f"{err:.3g}"))
    return rows


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    print("| n | method | step | iterations to J <= 1.01 J* | seconds | J/J* - 1 at the end | |K - K*|/|K*| |")
    print("|---|---|---|---|---|---|---|")
    for n in ((10,) if quick else (10, 50, 100)):
        for row in lq_rows(n, 200 if n <= 50 else 300):
            print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
    print()
    print("| system | state dim | policy | method | seconds per iteration |")
    print("|---|---|---|---|---|")
    for k in ((10,) if quick else (10, 20, 40)):
        env = PendulumChain(k=k)
        for width in ((32,) if quick else (32, 128)):
            pol = MLPGaussian(env.state_dim, env.action_dim, hidden=(width,), std0=0.3)
            theta = pol.init(jax.random.PRNGKey(0))
            for method in ("adam", "natural"):
                kw = dict(lr=1e-3, T=100, burn_in=20, batch=8, progress=False,
                          **({"max_move": 0.05} if method == "natural" else {}))
                train(env, pol, theta, method=method, steps=1, **kw)
                t0 = time.perf_counter()
                train(env, pol, theta, method=method, steps=5, **kw)
                per = (time.perf_counter() - t0) / 5
                print(f"| pendulum chain k={k} | {2 * k} | MLP {width} | {method} | {per:.3g} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
