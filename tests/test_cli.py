import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from otgeom import evaluate, family


def run(*args):
    p = subprocess.run([sys.executable, "-m", "otgeom.cli", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def test_check_json_contract():
    rc, out, err = run("check", "--family", "switch2", "--claim", "poisson-equation", "--claim",
                       "stationary-tree-theorem", "--json")
    assert rc == 0, err
    recs = json.loads(out)
    assert len(recs) == 2
    for r in recs:
        assert {"claim", "family", "verdict", "error", "tolerance"} <= set(r)
        assert r["verdict"] == "holds"


def test_check_exit_codes_and_bad_usage():
    assert run("check", "--claim", "no-such-claim")[0] == 2
    rc, out, err = run("eval", "switch2", "--param", "q=[0.3,1.5]", "--policy", "x.json")
    assert rc == 2 and "q[1] = 1.5" in err and "Traceback" not in err
    assert run("bogus")[0] == 2


def test_eval_numeric_and_symbolic_agree(tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"mean": [[0.1, -0.2], [0.4, 0.3]],
                               "cov": [[[0.5, 0.1], [0.1, 0.4]], [[0.3, 0.0], [0.0, 0.6]]]}))
    outs = []
    for extra in ([], ["--symbolic"]):
        rc, out, err = run("eval", "modulated", "--param", "n=2", "--param", "d=2", "--policy", str(pol), *extra)
        assert rc == 0, err
        outs.append(json.loads(out))
    a, b = outs
    for key in ("rho", "J", "h", "grad_mean", "grad_cov", "grad_norm2"):
        assert np.allclose(a[key], b[key], rtol=1e-9, atol=1e-11), key
    assert a["quadrature_error"] < 1e-11


def test_eval_bad_policy(tmp_path):
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps({"mean": [0, 0], "std": [1, -1]}))
    rc, out, err = run("eval", "switch2", "--policy", str(pol))
    assert rc == 2 and "std of state 1" in err
    pol.write_text(json.dumps({"mean": [0, 0, 0], "std": [1, 1, 1]}))
    rc, out, err = run("eval", "switch2", "--policy", str(pol))
    assert rc == 2 and "needs 2 states" in err


@pytest.mark.slow
@settings(max_examples=6)
@given(st.integers(0, 10**6))
def test_property_symbolic_equals_numeric_on_random_families(seed):
    from otgeom.sampling import random_family, random_gaussian_policy

    rng = np.random.default_rng(seed)
    fam = random_family(family("modulated", n=int(rng.integers(2, 5))), rng)
    pol = random_gaussian_policy(fam, rng, std_range=(0.3, 0.8))
    a, b = evaluate(fam, pol), evaluate(fam, pol, symbolic=True)
    assert a["regularity"]["irreducible"] and a["regularity"]["min_rho"] > 0
    for key in ("rho", "J", "h", "grad_mean", "grad_cov", "grad_norm2"):
        assert np.allclose(a[key], b[key], rtol=1e-8, atol=1e-10), key


def test_derive_first_and_second_order():
    rc, out, err = run("derive", "switch2")
    assert rc == 0, err
    assert out.startswith("# first_order(switch2)") and "\nrho = [rho_0, rho_1]" in out
    rc, out, err = run("derive", "switch2", "--second-order")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("# second_order(switch2)")
    assert "Gamma_0_2_2 = -drho_1_dm_0/(2*rho_0)" in lines             # the definition of a Christoffel symbol
    assert "christoffel[0][2][2] = Gamma_0_2_2" in lines
    assert not any(ln.startswith("christoffel[") and ln.endswith(" = 0") for ln in lines)
    assert sum(ln.startswith("hessian_riemannian[") for ln in lines) == 16
    rc, out, err = run("derive", "modulated", "--param", "d=2", "--second-order")
    assert rc == 2 and "d = 1" in err and "Traceback" not in err and not out
    rc, out, err = run("derive", "lq", "--second-order")
    assert rc == 2 and "--second-order" in err and "Traceback" not in err and not out
