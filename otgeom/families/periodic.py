r"""``periodic`` (aperiodicity fails, R1-R4 hold): a chain that alternates between two sides.

States {0, 1} ("left") and {2, 3} ("right"); from a left state the chain moves to state 2 with probability
:math:`\phi_s(a) = q_s e^{-(a-b_s)^2}` and to 3 otherwise, from a right state to 0 with probability
:math:`\phi_s(a)` and to 1 otherwise:

.. math::
    p(2 \mid s, a) = \phi_s(a),\ p(3 \mid s, a) = 1 - \phi_s(a)\ (s \in \{0,1\}),\qquad c(s, a) = (a - t_s)^2 + e_s .

Every controlled chain is irreducible with period 2, so :math:`\rho` exists, is unique and positive (R1, R2
hold; every first- and second-order claim applies), but :math:`P^t` does not converge: it alternates, the
spectral gap is 0 (eigenvalue -1).  Ergodic averages :math:`\tfrac1T\sum_{t<T}P^t \to \mathbf 1\rho^\top`
still converge (claim ``ergodic-average`` holds, ``power-convergence`` is ``not-applicable``).
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    R = lambda *v: lambda _st: [sp.Rational(x) for x in v]  # noqa: E731
    return [
        Parameter("q", ("n",), Domain("open-unit"), R("3/5", "4/5", "1/2", "2/3"), "peak probability of the first target"),
        Parameter("b", ("n",), Domain("real"), R(1, "-1/2", 0, "1/2"), "action at which that is most likely"),
        Parameter("t", ("n",), Domain("real"), R("-1/2", 1, 0, "1/4"), "cost target action"),
        Parameter("e", ("n",), Domain("real"), R(0, "1/2", "1/4", 1), "cost offset"),
    ]


def _define(st, a, p):
    (x,) = a
    q, b, t, e = (p[k] for k in "qbte")
    z = sp.Integer(0)
    kernel = []
    for s in range(4):
        phi = q[s] * sp.exp(-(x - b[s]) ** 2)
        kernel.append([z, z, phi, 1 - phi] if s < 2 else [phi, 1 - phi, z, z])
    cost = [(x - t[s]) ** 2 + e[s] for s in range(4)]
    return cost, kernel


SPEC = FamilySpec(
    name="periodic",
    description="counterexample (aperiodicity fails): irreducible, period 2 for every policy; R1-R4 hold",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 4,
    action_dim=lambda st: 1,
)
