r"""``kinked`` (a counterexample to R3): a stay probability with a cusp, not Lipschitz in the action.

``switch2`` with the Gaussian bump replaced by a cusp at :math:`b_s`:

.. math::
    \phi_s(a) = q_s\, e^{-|a - b_s|^{1/4}},\quad p(s \mid s, a) = \phi_s(a),\quad p(1-s \mid s, a) = 1 - \phi_s(a),
    \quad c(s, a) = (a - t_s)^2 + e_s .

:math:`|\partial_a\phi_s| \sim \tfrac{q_s}4|a-b_s|^{-3/4}` near :math:`b_s`: the kernel is continuous but
**not Lipschitz** in the action (R3 fails; the certificate ``kernel-lipschitz`` sees the supremum grow by
:math:`4^{3/4}` at each four-fold zoom).  What breaks: :math:`\nabla_aQ(s,\cdot)` is not square integrable
against any policy with a density positive at :math:`b_s` (:math:`\int |a-b_s|^{-3/2}\,da = \infty`), so
:math:`g(\mathrm{grad}\,J, \mathrm{grad}\,J) = \infty`: the gradient is not a tangent vector of finite
norm and the particle flow moves a particle at :math:`b_s` with infinite speed.  The chain itself is
regular (R1, R2 hold for every policy), so the claims that need only those still hold.  The symbolic
layer's closed forms (polynomial times exp-quadratic) do not cover this kernel: claims that evaluate
them are ``not-applicable`` with that reason.
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    R = lambda *v: lambda _st: [sp.Rational(x) for x in v]  # noqa: E731
    return [
        Parameter("q", ("n",), Domain("open-unit"), R("3/5", "4/5"), "peak stay probability of each state"),
        Parameter("b", ("n",), Domain("real"), R("1/3", "-1/3"), "where the cusp sits"),
        Parameter("t", ("n",), Domain("real"), R("-1/2", 1), "cost target action"),
        Parameter("e", ("n",), Domain("real"), R(0, "1/2"), "cost offset"),
    ]


def _define(st, a, p):
    (x,) = a
    q, b, t, e = (p[k] for k in "qbte")
    phi = [q[s] * sp.exp(-sp.Abs(x - b[s]) ** sp.Rational(1, 4)) for s in range(2)]
    cost = [(x - t[s]) ** 2 + e[s] for s in range(2)]
    kernel = [[phi[0], 1 - phi[0]], [1 - phi[1], phi[1]]]
    return cost, kernel


SPEC = FamilySpec(
    name="kinked",
    description="counterexample (R3 fails): switch2 with a cusp exp(-|a - b_s|^(1/4)), not Lipschitz in a",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 2,
    action_dim=lambda st: 1,
)
