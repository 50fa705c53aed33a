"""LQ family: cost of an exact gradient and of a Hewer step versus n, and convergence of the solvers.

Run:  .venv/bin/python benchmarks/bench_lq.py [--sizes 10 50 100 200] [--skip-convergence]

Timing: random open-loop unstable systems with m = n (spectral radius 1.05, Qc = R = W = I), at a
stabilising gain; each figure is the median of several repeats.  "Lyapunov share" is the time
spent in scipy's solve_discrete_lyapunov divided by the total.

Convergence: iteration counts and measured rates of the natural gradient (with its predicted
rate max|1 - 2 eta mu_i(M*)|), Hewer's iteration and the Riemannian Newton method (with the
measured order), and the gradient flow's final gap, on the built-in examples and random systems
up to n = m = 50.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.linalg

import otgeom.numeric.lq as lqmod
from otgeom.families.lq import lq_family
from otgeom.numeric.lq import LQPolicy, lq_point
from otgeom.numeric.lq_solvers import (convergence_order, gradient_flow, hewer, linear_rate, natural_gradient,
                                       riemannian_newton, stabilising_gain)
from otgeom.sampling import random_lq_system as random_system


class LyapunovTimer:
    """Wrap scipy's solver as seen by otgeom.numeric.lq and accumulate its time."""

    def __init__(self):
        self.total = 0.0
        self._orig = lqmod.solve_discrete_lyapunov

    def __enter__(self):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return self._orig(*a, **k)
            finally:
                self.total += time.perf_counter() - t0

        lqmod.solve_discrete_lyapunov = timed
        return self

    def __exit__(self, *exc):
        lqmod.solve_discrete_lyapunov = self._orig


def time_it(fn, repeats):
    times, shares = [], []
    for _ in range(repeats):
        with LyapunovTimer() as lt:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        times.append(dt)
        shares.append(lt.total / dt)
    return statistics.median(times), statistics.median(shares)


def timing(sizes):
    print("| n = m | exact gradient (s) | Lyapunov share | Hewer step (s) | Lyapunov share | DARE (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        fam = random_system(n, n, n)
        K0 = stabilising_gain(fam)
        pol = LQPolicy.deterministic(K0)
        repeats = 5 if n <= 100 else 3

        def grad():
            return lq_point(fam, pol).grad_K

        def hewer_step():
            pt = lq_point(fam, pol)
            return K0 - np.linalg.solve(pt.M, pt.E)

        tg, sg = time_it(grad, repeats)
        th, sh = time_it(hewer_step, repeats)
        t0 = time.perf_counter()
        scipy.linalg.solve_discrete_are(fam.A, fam.B, fam.Qc, fam.R)
        tare = time.perf_counter() - t0
        print(f"| {n} | {tg:.4f} | {100 * sg:.0f}% | {th:.4f} | {100 * sh:.0f}% | {tare:.4f} |", flush=True)


def convergence():
    systems = [("scalar", lq_family()), ("dean", lq_family(example="dean")),
               ("scalar, tau = 1/2", lq_family(tau="1/2")), ("random n=5, m=2", random_system(5, 2, 0)),
               ("random n=20, m=10", random_system(20, 10, 1)), ("random n=50, m=50", random_system(50, 50, 7))]
    print("| system | NG iterations: J gap < 1e-8 / K error < 1e-12 | NG rate measured / predicted | "
          "Hewer iterations (order) | Newton iterations (order, fallbacks) | flow: final relative gap |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, fam in systems:
        K0 = stabilising_gain(fam)
        ng = natural_gradient(fam, K0, max_iter=5000)
        hw = hewer(fam, K0)
        nt = riemannian_newton(fam, K0)
        fl = gradient_flow(fam, K0) if fam.n <= 20 else None
        try:
            rate = f"{linear_rate(ng.K_error):.4f} / {ng.details['predicted_K_rate']:.4f}"
        except Exception:  # converged in too few steps to measure
            rate = f"- / {ng.details['predicted_K_rate']:.4f}"
        fb = sum(s != "newton" for s in nt.steps)
        flow = f"{abs(fl.gap[-1]):.1e}" if fl is not None else "(not run)"
        first = int(np.argmax(np.abs(ng.gap) < 1e-8)) if (np.abs(ng.gap) < 1e-8).any() else "-"
        print(f"| {name} | {first} / {ng.iterations} | {rate} | {hw.iterations} ({convergence_order(hw.K_error):.2f}) | "
              f"{nt.iterations} ({convergence_order(nt.K_error):.2f}, {fb}) | {flow} |", flush=True)
    print("\nHewer error sequence on dean (|K - K*| / |K*|):",
          " ".join(f"{e:.1e}" for e in hewer(lq_family(example="dean")).K_error))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 200])
    ap.add_argument("--skip-convergence", action="store_true")
    args = ap.parse_args()
    timing(args.sizes)
    if not args.skip_convergence:
        print()
        convergence()


if __name__ == "__main__":
    main()
