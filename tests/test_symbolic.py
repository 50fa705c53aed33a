import pytest
import sympy as sp
from hypothesis import given, strategies as st

from otgeom import ExpressionError
from otgeom.symbolic.chain import cost_symbol, markov_chain, transition_symbol
from otgeom.symbolic.expectation import gaussian_expectation
from otgeom.symbolic.trees import count_forests, in_forests

a, m, b = sp.symbols("a m b", real=True)
s, k = sp.symbols("sigma k", positive=True)


def test_expectation_closed_forms():
    assert sp.simplify(gaussian_expectation((a - b) ** 2, [a], [m], sp.Matrix([[s**2]])) - ((m - b) ** 2 + s**2)) == 0
    e = gaussian_expectation(sp.exp(-k * (a - b) ** 2), [a], [m], sp.Matrix([[s**2]]))
    ref = sp.exp(-k * (m - b) ** 2 / (1 + 2 * k * s**2)) / sp.sqrt(1 + 2 * k * s**2)
    pt = {m: sp.Rational(1, 3), b: sp.Rational(-2, 7), s: sp.Rational(5, 4), k: sp.Rational(3, 2)}
    assert abs(sp.N((e - ref).xreplace(pt), 50)) < 1e-45


def test_expectation_rejects_unsupported_factor():
    with pytest.raises(ExpressionError, match="sin"):
        gaussian_expectation(sp.sin(a), [a], [m], sp.Matrix([[s**2]]))
    with pytest.raises(ExpressionError, match="degree <= 2"):
        gaussian_expectation(sp.exp(-a**4), [a], [m], sp.Matrix([[s**2]]))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_forest_counts_match_cayley(n):
    assert sum(1 for _ in in_forests(n, [0])) == count_forests(n, [0])
    assert sum(1 for _ in in_forests(n, [0, n - 1])) == count_forests(n, [0, n - 1])


@st.composite
def rational_chains(draw):
    n = draw(st.integers(2, 5))
    rows = []
    for i in range(n):
        w = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
        w[(i + 1) % n] += 1  # irreducible by construction
        rows.append([sp.Rational(x, sum(w)) for x in w])
    r = draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n))
    return rows, [sp.Integer(x) for x in r]


@given(rational_chains())
def test_tree_theorem_chain_is_exact(chain):
    P, r = chain
    n = len(P)
    vals = {transition_symbol(u, v): P[u][v] for u in range(n) for v in range(n) if u != v}
    vals.update({cost_symbol(u): r[u] for u in range(n)})
    out = markov_chain(n).evaluate_exact(vals)
    rho, J, h = out["rho"], out["J"], out["h"]
    assert all(sum(rho[u] * P[u][v] for u in range(n)) == rho[v] for v in range(n))
    assert sum(rho) == 1 and all(x > 0 for x in rho)
    assert all(h[i] + J == r[i] + sum(P[i][j] * h[j] for j in range(n)) for i in range(n))
    assert sum(rho[i] * h[i] for i in range(n)) == 0
