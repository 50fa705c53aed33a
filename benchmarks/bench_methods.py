"""Methods compared (issue 20): the comparison table of ``otgeom compare`` for every family of the issue.

Each family runs every method that applies (Euclidean, Fisher, Wasserstein, WPO, Newton, and Hewer on ``lq``) from
the same start (finite families: the reference policy, means 0 and standard deviations 1; ``lq``: the stabilising
gain of :func:`otgeom.numeric.lq_solvers.stabilising_gain`, Σ = I held fixed; grid families: the family's initial
Gaussian policy per cell), Armijo steps from η₀ = 1, at most
``MAX_ITER`` iterations.  Per method: iterations and wall time to a J gap of 1e-8 max(1, |J*|), the final gap, the
predicted and measured rates per iteration (first-order methods) or the order (Newton, Hewer), and the note.

    .venv/bin/python benchmarks/bench_methods.py [--quick] [NAME ...]

Prints Markdown (one table) and writes nothing.  ``--quick`` leaves out the random lq systems of size 10 and 20;
NAME ... keeps the families whose name contains one of them.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from otgeom import family
from otgeom.examples import example
from otgeom.methods import compare
from otgeom.textfmt import number

MAX_ITER = 5000


def _random_lq(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    A *= 0.9 / np.abs(np.linalg.eigvals(A)).max()
    return family("lq", A=A.tolist(), B=rng.normal(size=(n, n)).tolist(), Qc=np.eye(n).tolist(),
                  R=np.eye(n).tolist(), W=np.eye(n).tolist())


def cases(quick: bool):
    out = [("switch2", lambda: family("switch2")),
           ("modulated n=3 d=1", lambda: family("modulated", n=3, d=1)),
           ("modulated n=5 d=1", lambda: family("modulated", n=5, d=1)),
           ("modulated n=2 d=2", lambda: family("modulated", n=2, d=2)),
           ("twin-wells", lambda: example("twin-wells").family),
           ("lq scalar", lambda: family("lq")),
           ("lq dean", lambda: family("lq", example="dean")),
           ("lq random n=m=5", lambda: _random_lq(5)),
           ("grid-linear", lambda: family("grid-linear")), ("double-well", lambda: family("double-well"))]
    if not quick:
        out += [("lq random n=m=10", lambda: _random_lq(10)), ("lq random n=m=20", lambda: _random_lq(20))]
    return out


def _opt(x, digits=4):
    return "-" if x is None else number(x, digits)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    only = [a for a in argv if not a.startswith("--")]
    print("| family | method | converged | iterations to gap | seconds to gap | final gap | predicted rate | "
          "measured rate | order | note |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, make in cases(quick):
        if only and not any(o in name for o in only):
            continue
        t0 = time.perf_counter()
        c = compare(make(), max_iter=MAX_ITER)
        total = time.perf_counter() - t0
        for r in c.results:
            note = r.note.replace("|", "/") if r.note else ""
            print(f"| {name} | {r.method} | {'yes' if r.run.converged else 'no'} | {_opt(r.iterations_to_gap)} | "
                  f"{_opt(r.seconds_to_gap, 3)} | {_opt(r.final_gap, 2)} | {_opt(r.predicted_rate)} | "
                  f"{_opt(r.measured_rate)} | {_opt(r.order, 3)} | {note} |")
        js = "no J*" if c.J_star is None else f"J* = {number(c.J_star, 12)}"
        print(f"| {name} | (all, s) | | | {number(total, 3)} | | | | | {js} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
