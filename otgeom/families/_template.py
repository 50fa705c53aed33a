r"""Template for a new family: copy to ``otgeom/families/<name>.py`` and register it in ``__init__.py``.

A family file holds data only.  State the model in the docstring with LaTeX:

.. math::
    p(s' \mid s, a) = \dots,\qquad c(s, a) = \dots

Rules the validator enforces on construction: kernel rows sum to 1
identically in a; probabilities are non-negative; every parameter is inside
its domain.  The symbolic pass computes Gaussian expectations in closed form for
sums of ``polynomial(a) * exp(quadratic(a))`` terms; anything else raises
:class:`otgeom.errors.ExpressionError` naming the offending factor.
"""
import sympy as sp

from otgeom.families._base import Domain, FamilySpec, Parameter


def _parameters(st):
    return [
        Parameter("q", ("n",), Domain("open-unit"), lambda st: [sp.Rational(1, 2)] * 2, "what q means"),
    ]


def _define(st, a, p):
    (x,) = a
    q = p["q"]
    cost = [x**2, (x - 1) ** 2]
    kernel = [[q[0], 1 - q[0]], [1 - q[1], q[1]]]
    return cost, kernel


SPEC = FamilySpec(
    name="template",
    description="one line saying what the family models",
    structural=(),
    parameters=_parameters,
    define=_define,
    n_states=lambda st: 2,
    action_dim=lambda st: 1,
)
