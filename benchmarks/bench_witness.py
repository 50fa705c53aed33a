"""The numeric witness's cost (run by hand): ``otgeom eval`` and the default ``otgeom check`` on the built-in
families (wall time of the command, one process per run, median of 3), optionally against an older checkout, and
the number of function evaluations per expectation against k sigma^2 (the bump's narrowness under the policy).

    .venv/bin/python benchmarks/bench_witness.py                  # this checkout
    .venv/bin/python benchmarks/bench_witness.py --old /tmp/old   # and a checkout of an older commit
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

EVAL_CASES = [  # (family, params, policy)
    ("switch2", [], {"mean": [0.1, -0.2], "std": [0.8, 0.6]}),
    ("modulated", ["n=3", "d=1"], {"mean": [0.1, -0.2, 0.3], "std": [0.8, 0.6, 0.5]}),
    ("modulated", ["n=2", "d=2"], {"mean": [[0.1, -0.2], [0.4, 0.3]],
                                   "cov": [[[0.5, 0.1], [0.1, 0.4]], [[0.3, 0.0], [0.0, 0.6]]]}),
]


def _wall(cmd: list[str], cwd: str, repeat: int = 3) -> float:
    env = {**os.environ, "PYTHONPATH": cwd}
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, capture_output=True)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def command_times(root: str) -> dict[str, float]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, params, pol in EVAL_CASES:
            path = os.path.join(tmp, f"{name}-{len(params)}.json")
            with open(path, "w") as fh:
                json.dump(pol, fh)
            args = [sys.executable, "-m", "otgeom.cli", "eval", name, "--policy", path]
            for p in params:
                args += ["--param", p]
            out[f"eval {name} {' '.join(params)}".strip()] = _wall(args, root)
    out["check (default suite)"] = _wall([sys.executable, "-m", "otgeom.cli", "check"], root, repeat=1)
    return out


def evaluations_vs_narrowness() -> None:
    from otgeom import family
    from otgeom.numeric.policies import GaussianPolicy
    from otgeom.numeric.quadrature import adapt_gaussian_rule

    print("| k sigma^2 | d | nodes per state (bump state) | function evaluations (all states, adaptation) | "
          "converged | time (s) |")
    print("|---:|---:|---:|---:|---|---:|")
    for ks2 in (1e-2, 1, 1e2, 1e4, 1e6):
        for d in (1, 2):
            if d == 1:
                fam = family("switch2", k=[ks2, 2])
                pol = GaussianPolicy.from_std([0.3, 0.0], [1.0, 1.0])
            else:
                fam = family("modulated", n=2, d=2, K=[[[ks2 + 1, ks2], [ks2, ks2 + 1]], [[1, 0], [0, 1]]])
                pol = GaussianPolicy(np.array([[0.1, 0.2], [0.0, 0.0]]), np.array([np.eye(2), np.eye(2)]))
            prims = fam.primitives()
            t = time.perf_counter()
            rule = adapt_gaussian_rule(prims, pol, tol=1e-13 if d == 1 else 1e-12)
            dt = time.perf_counter() - t
            print(f"| {ks2:g} | {d} | {rule.nodes_per_state[0]} | {rule.evaluations} | {rule.converged} | {dt:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", help="an older checkout to compare with (its own otgeom on PYTHONPATH)")
    args = ap.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    new = command_times(here)
    old = command_times(args.old) if args.old else {}
    print("| command | " + ("before (s) | " if old else "") + "after (s) |" + (" after / before |" if old else ""))
    print("|---|" + ("---:|" if old else "") + "---:|" + ("---:|" if old else ""))
    for k, v in new.items():
        if old:
            print(f"| `otgeom {k}` | {old[k]:.2f} | {v:.2f} | {v / old[k]:.2f} |")
        else:
            print(f"| `otgeom {k}` | {v:.2f} |")
    print()
    evaluations_vs_narrowness()


if __name__ == "__main__":
    main()
