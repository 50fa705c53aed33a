"""The deep hypothesis profile's cost (run by hand): seconds per 1,000 examples of each regularity property test.

Runs each property test of ``tests/test_regularity_properties.py`` with ``HYPOTHESIS_PROFILE=deep`` and a given
number of examples (default 200, scaled to 1,000 in the table; ``--examples 1000`` for the real thing), one
pytest process per test (pytest's start-up included), and prints a Markdown table.

    .venv/bin/python benchmarks/bench_deep.py [--examples N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["test_certified_every_policy_bounds_hold_at_random_policies",
         "test_near_degenerate_rho_keeps_full_relative_accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for name in TESTS:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env.update(HYPOTHESIS_PROFILE="deep", OTGEOM_DEEP_EXAMPLES=str(args.examples))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              f"tests/test_regularity_properties.py::{name}"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        dt = time.perf_counter() - t0
        status = "passed" if out.returncode == 0 else f"FAILED ({out.stdout.strip().splitlines()[-1]})"
        rows.append((name, args.examples, dt, dt * 1000 / args.examples, status))
    print("| property test | examples run | wall time (s) | s per 1,000 examples | result |\n|---|---|---|---|---|")
    for name, n, dt, per, status in rows:
        print(f"| `{name}` | {n} | {dt:.1f} | {per:.0f} | {status} |")


if __name__ == "__main__":
    main()
