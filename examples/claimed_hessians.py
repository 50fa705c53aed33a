"""Claimed Hessians for ``otgeom check --claims examples/claimed_hessians.py``.

Each entry is a sympy Matrix in the coordinates (m_0, sigma_0, m_1, sigma_1) or a callable of the
evaluation context (otgeom.claimed.Context).  By default they are checked on the twin-wells example.
"""
from otgeom.claimed import ClaimedFormula
from otgeom.examples import example
from otgeom.symbolic.second_order import second_order

_D = second_order(example("twin-wells").family)


def levi_civita(ctx):
    """The Levi-Civita Hessian of J on the Gaussian family, from the evaluation context."""
    return 0.5 * (ctx.lin.hessian(ctx.u, ctx.v, "submanifold") + ctx.lin.hessian(ctx.v, ctx.u, "submanifold"))


def full_space(ctx):
    """The full-space Hessian offered as the Gaussian-family Hessian (wrong at the critical point)."""
    return 0.5 * (ctx.lin.hessian(ctx.u, ctx.v) + ctx.lin.hessian(ctx.v, ctx.u))


CLAIMED = [
    ClaimedFormula("levi-civita", levi_civita),
    ClaimedFormula("coordinate-hessian", _D.outputs["hessian_coords"]),
    ClaimedFormula("full-space", full_space),
    ClaimedFormula("wrong-sign", lambda ctx: -levi_civita(ctx)),
]
