"""Second-order costs (run by hand): one Hessian-vector product against one gradient on particle policies
(the HVP reuses the linearisation at the point, as Newton-CG does; its one-off cost is shown separately),
and the symbolic second-order derivation of ``modulated`` (d = 1) for n = 2..5.

    .venv/bin/python benchmarks/bench_second_order.py
"""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

import otgeom
from otgeom.numeric.chain import evaluate_chain, gradient_field
from otgeom.numeric.second_order import linearize


def _median(f, repeat=5):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def hvp_vs_gradient():
    print("| n states | particles | gradient (s) | linearize (s) | one HVP (s) | HVP / gradient |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, N in [(4, 2000), (8, 200), (8, 2000), (8, 20000)]:  # modulated allows n <= 8
        fam = otgeom.family("modulated", n=n, d=1)
        prims = fam.primitives()
        rng = np.random.default_rng(0)
        pol = otgeom.ParticlePolicy(rng.normal(0, 1, (fam.n_states, N, 1)))
        wp = pol.discretize()
        V = rng.standard_normal(wp.points.shape)

        def grad():
            gradient_field(prims, evaluate_chain(prims, wp), wp)

        lin = linearize(prims, wp)
        tg = _median(grad)
        tl = _median(lambda: linearize(prims, wp))
        th = _median(lambda: lin.hvp(V))
        print(f"| {fam.n_states} | {N} | {tg:.4f} | {tl:.4f} | {th:.4f} | {th / tg:.2f} |", flush=True)


def symbolic_times():
    print("| n | second_order derive (s) | compile Hessians (s) |")
    print("|---:|---:|---:|")
    code = ("import time, otgeom; from otgeom.symbolic.second_order import second_order; "
            "f = otgeom.family('modulated', n={n}, d=1); t = time.time(); D = second_order(f); a = time.time() - t; "
            "t = time.time(); D.evaluator(['hessian_riemannian']); print(f'{{a:.2f}} {{time.time() - t:.2f}}')")
    for n in range(2, 6):
        try:
            out = subprocess.run([sys.executable, "-c", code.format(n=n)], capture_output=True, text=True,
                                 timeout=600).stdout.split()
            print(f"| {n} | {out[0]} | {out[1]} |", flush=True)
        except subprocess.TimeoutExpired:
            print(f"| {n} | > 600 (killed) | - |", flush=True)


if __name__ == "__main__":
    hvp_vs_gradient()
    symbolic_times()
