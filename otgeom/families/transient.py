r"""``transient`` (a counterexample to R2): a start state the chain leaves and never re-enters.

States 0 and 1 behave like ``switch2`` (stay with probability :math:`\phi_s(a) = q_s e^{-(a-b_s)^2}`, else
switch); state 2 moves to 0 with probability :math:`\phi_2(a)` and to 1 otherwise, and nothing moves to 2:

.. math::
    p(2 \mid s, a) = 0 \ \text{for every } s,\qquad c(s, a) = (a - t_s)^2 + e_s .

R1 holds (one closed class {0, 1}: the stationary law is unique), but **R2 fails** for every policy:
:math:`\rho_2 = 0`.  The metric is degenerate at state 2 (a tangent vector supported there has norm 0) and
the gradient is not unique there (:math:`\nabla_aQ(2,\cdot)` is one representative; any field at state 2
gives the same :math:`dJ`, which does not depend on :math:`\pi_2` at all).
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    R = lambda *v: lambda _st: [sp.Rational(x) for x in v]  # noqa: E731
    return [
        Parameter("q", ("n",), Domain("open-unit"), R("3/5", "4/5", "1/2"), "peak probability of the first target"),
        Parameter("b", ("n",), Domain("real"), R(1, "-1/2", 0), "action at which that is most likely"),
        Parameter("t", ("n",), Domain("real"), R("-1/2", 1, 0), "cost target action"),
        Parameter("e", ("n",), Domain("real"), R(0, "1/2", 2), "cost offset"),
    ]


def _define(st, a, p):
    (x,) = a
    q, b, t, e = (p[k] for k in "qbte")
    phi = [q[s] * sp.exp(-(x - b[s]) ** 2) for s in range(3)]
    z = sp.Integer(0)
    kernel = [[phi[0], 1 - phi[0], z], [1 - phi[1], phi[1], z], [phi[2], 1 - phi[2], z]]
    cost = [(x - t[s]) ** 2 + e[s] for s in range(3)]
    return cost, kernel


SPEC = FamilySpec(
    name="transient",
    description="counterexample (R2 fails): state 2 is left and never re-entered, rho_2 = 0 for every policy",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 3,
    action_dim=lambda st: 1,
)
