"""Family files (issue 19): how long reading a file takes, and how fast the safe parser is.

(a) ``load_family`` on each file in ``examples/families/`` (TOML, parsing every expression, the exact validation,
the value checks on the grid and far actions, and the three random points inside the domains), median of 5, in
this process after one warm-up;
(b) the parser alone: expressions per second on a typical kernel entry, and the time to refuse the blow-ups the
limits exist for (``10**10**10``, a 30-fold squaring through definitions).

    .venv/bin/python benchmarks/bench_family_files.py

Prints one Markdown table and writes nothing.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import sympy as sp

from otgeom.expressions import Scope, UnsafeExpressionError, parse_expression
from otgeom.familyfile import load_family, load_family_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "families"


def _median_time(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _refusal_time(fn) -> float:
    t0 = time.perf_counter()
    try:
        fn()
    except UnsafeExpressionError:
        pass
    else:
        raise SystemExit("expected a refusal")
    return time.perf_counter() - t0


def main() -> None:
    rows = []
    for f in sorted(EXAMPLES.glob("*.toml")):
        fam = load_family(f)
        rows.append((f"load_family({f.name})", f"{fam.n_states} states, d = {fam.action_dim}",
                     f"{_median_time(lambda: load_family(f)) * 1e3:.0f} ms"))
    a = sp.Symbol("a", real=True)
    q = np.array([sp.Symbol(f"q_{i}") for i in range(3)], dtype=object)
    scope = Scope({"a": a}, {"q": q, "k": q, "b": q}, {"s": 1})
    text = "(1 - q[s] * exp(-k[s] * (a - b[s])**2)) * 2/3 + q[s] * exp(-k[s] * (a - b[s])**2) / 3"
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        parse_expression(text, scope)
    rows.append(("parse_expression (a kernel entry, 70 characters)", f"{n} parses",
                 f"{n / (time.perf_counter() - t0):.0f} per s"))
    rows.append(("refuse 10**10**10", "-", f"{_refusal_time(lambda: parse_expression('10**10**10', scope)) * 1e3:.2f} ms"))
    base = (EXAMPLES / "switch2.toml").read_text()
    defs = "\n".join(f'u{k + 1} = "u{k} * (u{k} + 1)"' for k in range(30))
    blow = base.replace('[definitions]\n', f'[definitions]\nu0 = "a"\n{defs}\n')
    rows.append(("refuse 30 definitions squaring each other", "-",
                 f"{_refusal_time(lambda: load_family_text(blow, 'blow.toml')) * 1e3:.1f} ms"))
    print("| step | size | time |\n|---|---|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
