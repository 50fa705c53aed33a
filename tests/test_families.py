import numpy as np
import pytest
import sympy as sp

from otgeom import FamilyError, ParameterError, PolicyError, RegularityError, family
from otgeom.families._base import Domain, FamilySpec, Parameter
from otgeom.numeric.chain import evaluate_chain, solve_chain
from otgeom.numeric.policies import GaussianPolicy


def test_builtins_validate_and_report_how():
    f = family("modulated", n=3)
    assert f.validation["rows-sum-to-one"].startswith("symbolic")
    assert "grid" in f.validation["nonnegative"]
    assert family("switch2").label == "switch2"


def test_switch2_is_modulated_special_case():
    a = family("switch2")
    b = family("modulated", n=2, d=1, M=[[0, 1], [1, 0]], N=[[1, 0], [0, 1]], q=[0.6, 0.8], K=[1, 2],
               b=[1, -0.5], t=[-0.5, 1], W=[1, 1], e=[0, 0.5])
    pol = GaussianPolicy.from_std([0.2, -0.4], [0.6, 0.9])
    sa = evaluate_chain(a.primitives(), pol.discretize(60))
    sb = evaluate_chain(b.primitives(), pol.discretize(60))
    assert np.allclose(sa.P, sb.P, atol=1e-15) and abs(sa.J - sb.J) < 1e-14


@pytest.mark.parametrize("kw, fragment", [
    ({"q": [0.3, 1.5]}, "q[1] = 1.5 must be in the open interval (0, 1)"),
    ({"q": [0.3, float("nan")]}, "q[1] = nan is not finite"),
    ({"k": [1, -2]}, "k[1] = -2 must be > 0"),
    ({"k": [1]}, "shape [1], expected [2]"),
    ({"zz": 1}, "unknown parameter(s) zz"),
    ({"q": ["x", 0.5]}, "is not a number"),
])
def test_switch2_bad_parameters(kw, fragment):
    with pytest.raises(ParameterError) as e:
        family("switch2", **kw)
    assert fragment in str(e.value)


def test_modulated_bad_parameters():
    with pytest.raises(ParameterError, match=r"M row \[1\] sums to 9/10"):
        family("modulated", n=2, M=[[0.5, 0.5], [0.4, 0.5]])
    with pytest.raises(ParameterError, match=r"K\[0\] .* not positive definite"):
        family("modulated", n=2, d=2, K=[[[1, 2], [2, 1]], [[1, 0], [0, 1]]])
    with pytest.raises(ParameterError, match="not symmetric"):
        family("modulated", n=2, d=2, W=[[[1, 0.1], [0, 1]], [[1, 0], [0, 1]]])
    with pytest.raises(ParameterError, match="structural parameter n = 9"):
        family("modulated", n=9)
    with pytest.raises(ParameterError, match="unknown family"):
        family("nope")
    # exact fractions as strings
    f = family("modulated", n=3, M=[["1/3"] * 3] * 3)
    assert f.values["M"][0, 0] == sp.Rational(1, 3)


def _spec(kernel):
    return FamilySpec("bad", "test", (), lambda st: [Parameter("q", ("n",), Domain("open-unit"),
                                                                 lambda st: ["1/2", "1/2"], "q")],
                      lambda st, a, p: ([a[0] ** 2, a[0] ** 2], kernel(a[0], p["q"])),
                      lambda st: 2, lambda st: 1)


def test_kernel_row_not_summing_to_one():
    spec = _spec(lambda x, q: [[q[0], q[0] / 2], [q[1], 1 - q[1]]])
    with pytest.raises(FamilyError, match="row of state 0 does not sum to 1"):
        spec.instantiate()


def test_negative_probability_found_on_grid():
    spec = _spec(lambda x, q: [[q[0] * sp.cos(x), 1 - q[0] * sp.cos(x)], [q[1], 1 - q[1]]])
    with pytest.raises(FamilyError, match=r"p\(0\|0,a\) is negative at a ="):
        spec.instantiate()


def test_reducible_chain_names_closed_classes():
    P = np.array([[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(RegularityError) as e:
        solve_chain(P, np.zeros(3))
    assert "closed classes [[1], [2]]" in str(e.value) or "closed classes [[2], [1]]" in str(e.value)
    assert e.value.diagnosis["closed_classes"]


def test_reducible_family_chain():
    f = family("modulated", n=3, M=[[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(RegularityError, match="reducible"):
        evaluate_chain(f.primitives(), GaussianPolicy.from_std([0, 0, 0], [1, 1, 1]).discretize(20))


def test_policy_errors():
    with pytest.raises(PolicyError, match="state 1 is not positive definite"):
        GaussianPolicy(np.zeros((2, 1)), np.array([[[1.0]], [[-1.0]]]))
    with pytest.raises(PolicyError, match="std of state 0"):
        GaussianPolicy.from_std([0, 0], [0, 1])
    with pytest.raises(ParameterError, match="not finite"):
        GaussianPolicy.from_std([np.nan, 0], [1, 1])


def test_to_exact_conversions():
    from otgeom.families._base import to_exact

    assert to_exact(0.1, "x") == sp.Rational(1, 10)
    assert to_exact(sp.Float(0.1), "x") == sp.Rational(1, 10)
    assert to_exact("1/3", "x") == sp.Rational(1, 3)
    assert abs(to_exact(sp.sqrt(2), "x") - sp.sqrt(2)) < sp.Rational(1, 10**28)
    with pytest.raises(ParameterError, match="x = I is not a real number"):
        to_exact(sp.I, "x")
