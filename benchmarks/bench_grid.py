"""The grid method's cost (run by hand): seconds per flow step against the number of grid states N and particles
per state M, split into kernel / assembly / solve / gradient, peak memory, and the sparse step against a plain
dense one (:mod:`otgeom.numeric.grid_dense`) in the same run.

    .venv/bin/python benchmarks/bench_grid.py            # N = 1e2 .. 1e5 (1-D), 16^2 .. 128^2 (2-D), dense to 4096
    .venv/bin/python benchmarks/bench_grid.py --quick    # N <= 1e4, 2-D <= 64^2, dense <= 1024

One flow step is what ``particle_flow`` does per accepted step: ``grid_chain(fam, policy, order=2)`` (kernel,
P, rho, J, h), ``action_gradient(fam, chain, order=2)`` (grad and curvature of Q at every particle) and the move
a - eta grad.

Problems, chosen so that the stationary law spreads over the whole grid (a chain whose far states have
rho ~ exp(-huge) is refused as failing R2, rightly), with the noise sigma a fixed number of cells as N grows
(that keeps the window, 2 ceil(7.5 sigma/h) + 3 cells per axis, fixed, which is what makes the cost linear in
N x M; at a fixed sigma the windows would grow with N):

* 1-D: ``grid-linear`` with alpha = 1, beta = 1/2, on the circle [-pi, pi) (``--boundary`` reflecting or
  clipped also work), sigma = one cell; particle m of state x_i is a_im = (4h)(1 + sin(x_i)/2) u_m with u_m the
  normal quantiles (m + 1/2)/M: a zero-mean step spread over a few cells, different per state, so the chain is
  a random walk whose rho is spread over the circle (its mixing time grows like N^2, so h is ill-conditioned at
  large N: that shows in residual_h, not in the cost).
* 2-D: ``pendulum`` on n x n cells, sigma = one cell on both axes, damping 24.5/(dt n^2) so the velocity's
  stationary spread is about omega_max/3.5 at every n; particles a_im = u_m (2 omega_max/n)/dt (a one-cell
  spread of the velocity step).

The split is measured in a single thread (OTGEOM_THREADS=1, so the parts add up): kernel = the drifts and costs
of all pairs and their window probabilities, assembly = the rest of building P (summing windows into CSR rows),
solve = the R1 check, the sparse LU and the solves for rho and h with their residuals, gradient = grad and
curvature of Q at every particle.  "step" is the median wall time of the whole step with the default threads
(``OTGEOM_THREADS``, else the cores this process may use) and "1 thread" the same with one.  Peak memory is
tracemalloc's peak during one step (numpy's arrays included).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np
from scipy.special import ndtri

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from otgeom.errors import GridWarning  # noqa: E402
from otgeom.families import family  # noqa: E402
from otgeom.numeric import grid  # noqa: E402
from otgeom.numeric.grid_dense import dense_flow_step  # noqa: E402
from otgeom.numeric.policies import ParticlePolicy  # noqa: E402


def problem_1d(N: int, M: int, boundary: str = "circle", noise_cells: float = 1.0):
    h = 2 * math.pi / N
    fam = family("grid-linear", alpha=1.0, beta=0.5, boundary=boundary, cells=N, half_width=math.pi,
                 noise=noise_cells * h)
    u = ndtri((np.arange(M) + 0.5) / M)
    x = fam.points[:, 0]
    A = (4 * h) * (1 + 0.5 * np.sin(x))[:, None] * u[None, :]
    return fam, A, np.full((N, M), 1.0 / M)


def problem_2d(n: int, M: int):
    wmax, dt = 4.0, 0.1
    fam = family("pendulum", cells_theta=n, cells_omega=n, noise_theta=2 * math.pi / n, noise_omega=2 * wmax / n,
                 damping=24.5 / (dt * n * n), omega_max=wmax, dt=dt)
    u = ndtri((np.arange(M) + 0.5) / M)
    A = np.ascontiguousarray(np.broadcast_to(u * (2 * wmax / n) / dt, (fam.n_states, M)))
    return fam, A, np.full(A.shape, 1.0 / M)


def flow_step(fam, A, w, eta=1e-3):
    chain = grid.grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
    g, H = grid.action_gradient(fam, chain, order=2)
    return chain, g, H, A - eta * g.reshape(A.shape)


def _median_time(fn, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


class _Threads:
    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = os.environ.get("OTGEOM_THREADS")
        if self.n is not None:
            os.environ["OTGEOM_THREADS"] = str(self.n)

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("OTGEOM_THREADS", None)
        else:
            os.environ["OTGEOM_THREADS"] = self.old


def split(fam, A, w, repeat: int) -> dict[str, float]:
    """Median seconds of the four parts of a step, in one thread (the pieces of grid_chain called in order)."""
    N, M = A.shape
    states, actions, weights = np.repeat(np.arange(N), M), A.ravel(), w.ravel()
    parts = {"kernel": [], "assembly": [], "solve": [], "gradient": []}
    qtime = [0.0]
    pair_q = grid._pair_q

    def timed_q(*a, **k):
        t = time.perf_counter()
        out = pair_q(*a, **k)
        qtime[0] += time.perf_counter() - t
        return out

    with _Threads(1):
        grid._pair_q = timed_q
        try:
            for _ in range(repeat):
                qtime[0] = 0.0
                t0 = time.perf_counter()
                drifts = grid._drifts(fam, states, actions, 2)
                c = fam.evaluate("cost", fam.points[states], actions)
                r = np.bincount(states, weights=weights * c, minlength=N)
                t1 = time.perf_counter()
                P = grid._assemble(fam, drifts, weights, states, M)
                t2 = time.perf_counter()
                chain = grid._finish(fam, P, r, grid._LazyKernel(drifts, 2), weights, states, fam.label, 1.0,
                                     actions)
                t3 = time.perf_counter()
                grid.action_gradient(fam, chain, order=2)
                t4 = time.perf_counter()
                parts["kernel"].append(t1 - t0 + qtime[0])
                parts["assembly"].append(t2 - t1 - qtime[0])
                parts["solve"].append(t3 - t2)
                parts["gradient"].append(t4 - t3)
        finally:
            grid._pair_q = pair_q
    return {k: float(np.median(v)) for k, v in parts.items()}


def peak_memory(fn) -> float:
    """Peak traced memory of fn() in MB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def bench_row(label: str, fam, A, w, repeat: int) -> dict:
    chain = flow_step(fam, A, w)[0]  # warm-up (compiles the expressions, builds the Taylor table, settles malloc)
    step = _median_time(lambda: flow_step(fam, A, w), repeat)
    with _Threads(1):
        one = _median_time(lambda: flow_step(fam, A, w), repeat)
    parts = split(fam, A, w, repeat)
    mem = peak_memory(lambda: flow_step(fam, A, w))
    N, M = A.shape
    return {"label": label, "N": N, "M": M, "step": step, "one": one, **parts, "mem": mem,
            "nnz": chain.P.nnz / N, "res_h": chain.certificates["residual_h"] / max(1.0, np.abs(chain.h).max())}


def print_rows(rows: list[dict]) -> None:
    print("| grid | N | M | step (s) | 1 thread (s) | kernel | assembly | solve | gradient | solve share | "
          "µs per state x particle | peak MB | nnz per row | residual_h / max abs h |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        total = r["kernel"] + r["assembly"] + r["solve"] + r["gradient"]
        print(f"| {r['label']} | {r['N']:,} | {r['M']} | {r['step']:.3f} | {r['one']:.3f} | {r['kernel']:.3f} | "
              f"{r['assembly']:.3f} | {r['solve']:.3f} | {r['gradient']:.3f} | {r['solve'] / total:.0%} | "
              f"{1e6 * r['one'] / (r['N'] * r['M']):.2f} | {r['mem']:.0f} | {r['nnz']:.0f} | {r['res_h']:.0e} |")
    sys.stdout.flush()


def dense_vs_sparse(sizes: list[int], M: int, repeat: int) -> None:
    print("| N | M | sparse step (s) | dense step (s) | dense / sparse | sparse peak MB | dense peak MB | "
          "max rel. diff h | max rel. diff grad Q |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for N in sizes:
        fam, A, w = problem_1d(N, M)
        chain, g, _, _ = flow_step(fam, A, w)
        sparse_t = _median_time(lambda: flow_step(fam, A, w), repeat)
        t = time.perf_counter()
        dchain, dg, _ = dense_flow_step(fam, A, w)
        dense_t = time.perf_counter() - t
        mem_s = peak_memory(lambda: flow_step(fam, A, w))
        mem_d = peak_memory(lambda: dense_flow_step(fam, A, w)) if N <= 2048 else float("nan")
        dh = np.abs(chain.h - dchain.h).max() / np.abs(dchain.h).max()
        dgr = np.abs(g - dg).max() / np.abs(dg).max()
        md = "-" if math.isnan(mem_d) else f"{mem_d:.0f}"
        print(f"| {N:,} | {M} | {sparse_t:.4f} | {dense_t:.2f} | {dense_t / sparse_t:.0f} | {mem_s:.0f} | {md} | "
              f"{dh:.0e} | {dgr:.0e} |")
        sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (N <= 1e4, 2-D <= 64^2, dense <= 1024)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats per case (median); default 3")
    ap.add_argument("--boundary", default="circle", choices=("circle", "reflecting", "clipped"),
                    help="boundary of the 1-D problem")
    ap.add_argument("--only", choices=("1d", "2d", "dense"), help="run one table only")
    args = ap.parse_args()
    warnings.simplefilter("ignore", GridWarning)
    print(f"threads: {grid._threads()}, cpu count {os.cpu_count()}, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    if args.only in (None, "1d"):
        sizes = [100, 1000, 10_000] + ([] if args.quick else [100_000])
        rows = []
        for N in sizes:
            for M in (8, 32):
                fam, A, w = problem_1d(N, M, args.boundary)
                rows.append(bench_row(f"1-D {args.boundary}", fam, A, w, args.repeat))
        print_rows(rows)
        print()
    if args.only in (None, "2d"):
        rows = []
        for n in [16, 32, 64] + ([] if args.quick else [128]):
            for M in (8, 32):
                fam, A, w = problem_2d(n, M)
                rows.append(bench_row(f"2-D {n} x {n}", fam, A, w, 1 if n == 128 else args.repeat))
        print_rows(rows)
        print()
    if args.only in (None, "dense"):
        dense_vs_sparse([256, 512, 1024] + ([] if args.quick else [2048, 4096]), 8, args.repeat)


if __name__ == "__main__":
    main()
