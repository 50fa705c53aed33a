r"""``switch2``: two states, one-dimensional actions, a Gaussian-bump "stay" probability.

.. math::
    \phi_s(a) = q_s e^{-k_s (a - b_s)^2},\quad
    p(s \mid s, a) = \phi_s(a),\quad p(1-s \mid s, a) = 1 - \phi_s(a),\quad
    c(s, a) = (a - t_s)^2 + e_s .

Domains: :math:`0 < q_s < 1`, :math:`k_s > 0`, :math:`b_s, t_s, e_s` real.
It is ``modulated`` with n = 2, d = 1, M = [[0,1],[1,0]], N = I, K = k, W = 1.
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    R = lambda *v: lambda _st: [sp.Rational(x) for x in v]  # noqa: E731
    return [
        Parameter("q", ("n",), Domain("open-unit"), R("3/5", "4/5"), "peak stay probability of each state"),
        Parameter("k", ("n",), Domain("positive"), R(1, 2), "inverse squared width of the stay bump"),
        Parameter("b", ("n",), Domain("real"), R(1, "-1/2"), "action at which staying is most likely"),
        Parameter("t", ("n",), Domain("real"), R("-1/2", 1), "cost target action"),
        Parameter("e", ("n",), Domain("real"), R(0, "1/2"), "cost offset"),
    ]


def _define(st, a, p):
    (x,) = a
    q, k, b, t, e = (p[name] for name in "qkbte")
    phi = [q[s] * sp.exp(-k[s] * (x - b[s]) ** 2) for s in range(2)]
    cost = [(x - t[s]) ** 2 + e[s] for s in range(2)]
    kernel = [[phi[0], 1 - phi[0]], [1 - phi[1], phi[1]]]
    return cost, kernel


SPEC = FamilySpec(
    name="switch2",
    description="two states, a in R; stay with probability q_s exp(-k_s (a - b_s)^2); cost (a - t_s)^2 + e_s",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 2,
    action_dim=lambda st: 1,
)
