r"""``reducible`` (a counterexample to R1): two islands that never exchange mass.

States {0, 1} and {2, 3}; in state s the chain stays with probability :math:`\phi_s(a) = q_s e^{-(a-b_s)^2}`
and otherwise moves to its partner (0 <-> 1, 2 <-> 3):

.. math::
    p(s \mid s, a) = \phi_s(a),\quad p(\bar s \mid s, a) = 1 - \phi_s(a),\qquad c(s, a) = (a - t_s)^2 + e_s .

For every policy the chain has two closed classes, so **R1 fails**: every mixture
:math:`\lambda\rho_A + (1-\lambda)\rho_B` of the islands' stationary laws is stationary; J, the metric
:math:`g = \sum_s \rho_s h_s` and with them the gradient depend on that choice (the weight of an island's
states in g is :math:`\lambda` or :math:`1-\lambda`).  Claims that need R1 are ``not-applicable`` with the
certificate; the ones that do not (those that draw their own irreducible chains: the tree theorem, GTH, the
Poisson equation; closed-form Gaussian expectations; the tangent projection) still hold.
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    R = lambda *v: lambda _st: [sp.Rational(x) for x in v]  # noqa: E731
    return [
        Parameter("q", ("n",), Domain("open-unit"), R("1/2", "3/5", "2/3", "3/4"), "peak stay probability"),
        Parameter("b", ("n",), Domain("real"), R(0, 1, -1, "1/2"), "action at which staying is most likely"),
        Parameter("t", ("n",), Domain("real"), R("1/2", 0, 1, "-1/2"), "cost target action"),
        Parameter("e", ("n",), Domain("real"), R(0, "1/4", 1, "3/4"), "cost offset"),
    ]


def _define(st, a, p):
    (x,) = a
    q, b, t, e = (p[k] for k in "qbte")
    partner = {0: 1, 1: 0, 2: 3, 3: 2}
    cost, kernel = [], []
    for s in range(4):
        phi = q[s] * sp.exp(-(x - b[s]) ** 2)
        row = [sp.Integer(0)] * 4
        row[s], row[partner[s]] = phi, 1 - phi
        cost.append((x - t[s]) ** 2 + e[s])
        kernel.append(row)
    return cost, kernel


SPEC = FamilySpec(
    name="reducible",
    description="counterexample (R1 fails): two islands {0,1}, {2,3} that never exchange mass",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 4,
    action_dim=lambda st: 1,
)
