"""Benchmark: symbolic derivation of rho, J, h, grad_a Q for `modulated` (d = 1), n = 2..6.

Run by hand:  .venv/bin/python benchmarks/bench_symbolic_chain.py [--limit SECONDS]

Reports, per n: derivation time (tree theorem + closed-form expectations, fresh
process so no cache), compile time (lambdify with the named definitions as CSE),
the operation count of what evaluation runs, and a naive baseline: `sympy.solve`
of the stationarity system rho^T (I - P) = 0, sum rho = 1 with P the same
closed-form expectations, run in a subprocess and killed after --limit seconds
(reported as a lower bound ">limit").
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time


def _ours(n, q):
    from otgeom import family
    from otgeom.symbolic.chain import gaussian_chain

    fam = family("modulated", n=n, d=1)
    t1 = time.perf_counter()
    D = gaussian_chain(fam)
    t2 = time.perf_counter()
    D.evaluator(["rho", "J", "h", "gradQ"])
    t3 = time.perf_counter()
    q.put({"derive_s": t2 - t1, "compile_s": t3 - t2, "ops": D.size(["rho", "J", "h", "gradQ"]),
           "definitions": len(D.definitions)})


def _naive(n, q):
    import sympy as sp

    from otgeom import family
    from otgeom.symbolic.chain import gaussian_coordinates
    from otgeom.symbolic.expectation import gaussian_expectation

    fam = family("modulated", n=n, d=1)
    means, covs, _ = gaussian_coordinates(n, 1)
    P = sp.Matrix(n, n, lambda u, v: gaussian_expectation(fam.kernel[u][v], fam.action, means[u], covs[u]))
    rho = sp.symbols(f"x0:{n}")
    eqs = [sum(rho[u] * P[u, v] for u in range(n)) - rho[v] for v in range(n - 1)] + [sum(rho) - 1]
    t0 = time.perf_counter()
    sol = sp.solve(eqs, rho, dict=True)
    q.put({"naive_s": time.perf_counter() - t0, "naive_ops": int(sum(sp.count_ops(v) for v in sol[0].values()))})


def _run(target, n, limit):
    q = mp.Queue()
    p = mp.Process(target=target, args=(n, q))
    p.start()
    p.join(limit)
    if p.is_alive():
        p.terminate()
        p.join()
        return None
    return q.get() if not q.empty() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--max-n", type=int, default=6)
    args = ap.parse_args()
    rows = []
    print(f"{'n':>2} {'derive s':>9} {'compile s':>9} {'ops':>8} {'naive solve s':>14} {'naive ops':>10}")
    for n in range(2, args.max_n + 1):
        ours = _run(_ours, n, 600) or {}
        naive = _run(_naive, n, args.limit)
        ns = f"{naive['naive_s']:.2f}" if naive else f">{args.limit:g}"
        no = str(naive["naive_ops"]) if naive else "-"
        print(f"{n:>2} {ours.get('derive_s', float('nan')):9.2f} {ours.get('compile_s', float('nan')):9.2f} "
              f"{ours.get('ops', 0):8d} {ns:>14} {no:>10}", flush=True)
        rows.append({"n": n, **ours, "naive": naive, "naive_limit_s": args.limit})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
