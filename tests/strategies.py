"""Hypothesis strategies that build valid objects by construction (issue 17).

* :func:`ergodic_families` -- ``modulated`` families with random exact parameters; every row of M puts weight on
  the cyclic successor, so M is irreducible and (every q_s < 1) so is every controlled chain;
* :func:`near_degenerate_families` -- the same, with the transitions *into* one state scaled by a factor
  down to 1e-8, so its stationary mass reaches ~1e-8 (R2 holds, barely);
* :func:`gaussian_policies` -- Gaussian policies of a family (means in [-1.5, 1.5], sds in [0.3, 1.2]).

Shrinking moves towards small integers in the weights and towards the default scale, so a failing example
is reported in its simplest form.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from otgeom import family
from otgeom.numeric.policies import GaussianPolicy
from otgeom.sampling import stochastic_from_weights


def _rational(lo: int, hi: int, den: int):
    return st.integers(lo, hi).map(lambda k: sp.Rational(k, den))


def stochastic_matrices(n: int, cyclic: bool = True):
    """Exact row-stochastic n x n matrices from integer weights 0..9 (:func:`otgeom.sampling.stochastic_from_weights`)."""
    row = st.lists(st.integers(0, 9), min_size=n, max_size=n)
    return st.lists(row, min_size=n, max_size=n).map(lambda w: stochastic_from_weights(w, cyclic))


@st.composite
def ergodic_families(draw, n=st.integers(2, 4)):
    k = draw(n)
    params = {
        "n": k, "d": 1,
        "M": draw(stochastic_matrices(k)), "N": draw(stochastic_matrices(k, cyclic=False)),
        "q": [draw(_rational(1, 95, 100)) for _ in range(k)],
        "b": [[draw(_rational(-20, 20, 10))] for _ in range(k)],
        "t": [[draw(_rational(-20, 20, 10))] for _ in range(k)],
        "e": [draw(_rational(-20, 20, 10)) for _ in range(k)],
    }
    return family("modulated", **params)


@st.composite
def near_degenerate_families(draw, n=st.integers(3, 4)):
    """Transitions into state ``rare`` scaled by 10^-j, j in 2..8 (moved to the diagonal), N = I."""
    k = draw(n)
    M = draw(stochastic_matrices(k))
    rare = draw(st.integers(0, k - 1))
    tiny = sp.Rational(1, 10 ** draw(st.integers(2, 8)))
    for u in range(k):
        if u != rare and M[u][rare] != 0:
            moved = M[u][rare] * (1 - tiny)
            M[u][rare] -= moved
            M[u][u] += moved
    eye = [[int(i == j) for j in range(k)] for i in range(k)]
    return family("modulated", n=k, d=1, M=M, N=eye, q=[draw(_rational(1, 60, 100)) for _ in range(k)])


@st.composite
def gaussian_policies(draw, fam):
    n = fam.n_states
    mean = np.array([[draw(st.integers(-150, 150)) / 100] for _ in range(n)])
    std = np.array([draw(st.integers(30, 120)) / 100 for _ in range(n)])
    return GaussianPolicy.from_std(mean, std)
