"""Sweeps beyond one process (issue 17): wall time of the serial run against the parallel one.

(a) the full default ``otgeom check`` with ``--workers 1`` against the default (forked workers, one per core);
(b) a sweep of 1000 tasks (a cheap claim on ``switch2``, a new family at every point) in this process against a
2-worker local Dask cluster, cluster start-up included.  Both check that the parallel output equals the serial one.

    .venv/bin/python benchmarks/bench_sweep.py [--samples 1000] [--claim geodesic-speed] [--skip-check]

Prints one Markdown table and writes nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _time_check(workers: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "otgeom.cli", "check", "--workers", str(workers)],
                         capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise SystemExit(f"otgeom check --workers {workers} exited with {out.returncode}: {out.stderr.strip()}")
    return elapsed, out.stdout


def _result_rows(table: str) -> int:
    """The claim rows of otgeom check's table: not the header, the summary or the explanations below it."""
    lines = table.splitlines()[1:]
    return sum(1 for line in lines if line and not line.startswith((" ", "holds:")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--claim", default="geodesic-speed")
    p.add_argument("--skip-check", action="store_true", help="leave out (a), the default otgeom check")
    args = p.parse_args()

    from otgeom.sweep import parse_box, public, run_tasks, sweep_tasks

    cores = os.cpu_count() or 1
    rows = []
    if not args.skip_check:
        serial, serial_out = _time_check(1)
        parallel, parallel_out = _time_check(cores)
        assert parallel_out == serial_out, "otgeom check: the parallel output differs from the serial one"
        rows.append(("`otgeom check` (default suite)", _result_rows(serial_out), f"fork, {cores} workers",
                     serial, parallel))
    tasks = sweep_tasks([args.claim], "switch2", parse_box(["k=1/2:4", "b=-1:1"]), args.samples, seed=2024)
    t0 = time.perf_counter()
    serial_records = run_tasks(tasks, workers=1, progress=False)
    t1 = time.perf_counter()
    dask_records = run_tasks(tasks, workers=2, progress=False)
    t2 = time.perf_counter()
    a = json.dumps([public(r) for r in serial_records], sort_keys=True)
    b = json.dumps([public(r) for r in dask_records], sort_keys=True)
    assert a == b, "sweep: the Dask records differ from the serial ones"
    rows.append((f"`otgeom sweep switch2 --claim {args.claim}`", len(tasks), "Dask LocalCluster, 2 workers",
                 t1 - t0, t2 - t1))

    print("| run | tasks | parallel | serial (s) | parallel (s) | speed-up |")
    print("|---|---:|---|---:|---:|---:|")
    for name, n, how, s, q in rows:
        print(f"| {name} | {n} | {how} | {s:.1f} | {q:.1f} | {s / q:.2f}x |")


if __name__ == "__main__":
    main()
