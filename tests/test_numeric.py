import ast
import pathlib

import numpy as np

from otgeom.numeric.policies import GaussianPolicy, QuantilePolicy
from otgeom.numeric.stationary import stationary_gth
from otgeom.numeric.taylor import taylor_check


def test_numeric_layer_never_imports_symbolic():
    root = pathlib.Path(__file__).resolve().parents[1] / "otgeom" / "numeric"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("otgeom.symbolic") or n == "sympy" for n in names), (path, names)


def test_gth_keeps_relative_accuracy():
    eps = 1e-12
    P = np.array([[1 - eps, eps, 0], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    rho = stationary_gth(P)
    # exact: rho1 = eps*rho0 + 0.5 rho2, rho2 = 0.5 rho1 -> rho1 = eps rho0 / 0.75
    ref1 = eps / 0.75 * rho[0]
    assert abs(rho[1] - ref1) / ref1 < 1e-14


def test_taylor_check_discriminates():
    f = lambda e: np.exp(0.3 + 2 * e)  # noqa: E731
    good = taylor_check(f, lambda e: np.exp(0.3) * (1 + 2 * e), 1, "line")
    bad = taylor_check(f, lambda e: np.exp(0.3) * (1 + 2.1 * e), 1, "line")
    assert good.holds() and abs(good.slope - 2) < 0.05
    assert not bad.holds() and abs(bad.slope - 1) < 0.1
    exact = taylor_check(lambda e: 1 + 2 * e, lambda e: 1 + 2 * e, 1, "line")
    assert exact.verdict == "model-exact" and not exact.holds()


def test_quantile_w2_matches_gaussian_closed_form():
    a = QuantilePolicy.from_gaussian(GaussianPolicy.from_std([0.0], [1.0]), 4000)
    b = QuantilePolicy.from_gaussian(GaussianPolicy.from_std([0.5], [1.5]), 4000)
    assert abs(a.w2_squared(b)[0] - (0.25 + 0.25)) < 1e-3
    mid = a.geodesic(b, 0.5)
    assert abs(mid.particles.mean() - 0.25) < 1e-12
