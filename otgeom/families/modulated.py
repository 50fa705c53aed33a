r"""``modulated``: n states, actions in R^d, the action blends two stochastic matrices.

.. math::
    \phi_s(a) = q_s \exp\!\big(-(a - b_s)^\top K_s (a - b_s)\big),\qquad
    p(s' \mid s, a) = (1 - \phi_s(a)) M_{s s'} + \phi_s(a) N_{s s'},

    c(s, a) = (a - t_s)^\top W_s (a - t_s) + e_s .

Domains: M, N row-stochastic, :math:`0 < q_s < 1`, :math:`K_s, W_s` symmetric
positive definite, :math:`b_s, t_s` in R^d, :math:`e_s` real.  With M
irreducible the controlled chain is irreducible for every policy, because
:math:`1 - \phi_s(a) \ge 1 - q_s > 0`.
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter, Structural


def _default_M(st):
    n = st["n"]
    return [[sp.Rational(1, 2 * n) + (sp.Rational(1, 2) if j == (i + 1) % n else 0) for j in range(n)] for i in range(n)]


def _parameters(st):
    n, d = st["n"], st["d"]
    eye = lambda: [[sp.Integer(int(i == j)) for j in range(d)] for i in range(d)]  # noqa: E731
    return [
        Parameter("M", ("n", "n"), Domain("row-stochastic"), _default_M, "transition matrix where the bump is off"),
        Parameter("N", ("n", "n"), Domain("row-stochastic"),
                  lambda st: [[sp.Integer(int(i == j)) for j in range(n)] for i in range(n)],
                  "transition matrix where the bump is on"),
        Parameter("q", ("n",), Domain("open-unit"), lambda st: [sp.Rational(s + 1, n + 1) for s in range(n)],
                  "bump height per state"),
        Parameter("b", ("n", "d"), Domain("real"),
                  lambda st: [[sp.Rational(2 * s - (n - 1), 4) + sp.Rational(i, 4) for i in range(d)] for s in range(n)],
                  "bump centre per state"),
        Parameter("K", ("n", "d", "d"), Domain("spd"), lambda st: [eye() for _ in range(n)], "bump precision per state"),
        Parameter("t", ("n", "d"), Domain("real"),
                  lambda st: [[sp.Rational(1 - s, 2) - sp.Rational(i, 4) for i in range(d)] for s in range(n)],
                  "cost target per state"),
        Parameter("W", ("n", "d", "d"), Domain("spd"), lambda st: [eye() for _ in range(n)], "cost weight per state"),
        Parameter("e", ("n",), Domain("real"), lambda st: [sp.Rational(s, 4) for s in range(n)], "cost offset per state"),
    ]


def _define(st, a, p):
    n = st["n"]
    x = sp.Matrix(a)
    M, N, q, b, K, t, W, e = (p[k] for k in ("M", "N", "q", "b", "K", "t", "W", "e"))
    cost, kernel = [], []
    for s in range(n):
        db = x - sp.Matrix(b[s])
        dt = x - sp.Matrix(t[s])
        phi = q[s] * sp.exp(-(db.T * sp.Matrix(K[s]) * db)[0, 0])
        cost.append((dt.T * sp.Matrix(W[s]) * dt)[0, 0] + e[s])
        kernel.append([(1 - phi) * M[s, j] + phi * N[s, j] for j in range(n)])
    return cost, kernel


SPEC = FamilySpec(
    name="modulated",
    description="n states, a in R^d; p = (1 - phi_s(a)) M + phi_s(a) N with a Gaussian bump phi_s; quadratic cost",
    structural=(
        Structural("n", 3, 2, 8, "number of states"),
        Structural("d", 1, 1, 3, "action dimension"),
    ),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: st["n"],
    action_dim=lambda st: st["d"],
)
