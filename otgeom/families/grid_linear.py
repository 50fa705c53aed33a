r"""``grid-linear``: the scalar linear system on a grid, the cross-check against the LQ closed form (THEORY.md 6).

.. math::
    x' = \alpha x + \beta a + \sigma\xi,\qquad c(x, a) = x^2 + r a^2,\qquad x\in[-L, L]\ \text{(clipped)}.

As the grid is refined and widened its optimal cost and feedback converge to those of the ``lq`` family with
A = alpha, B = beta, Qc = 1, R = r, W = sigma^2 (defaults: the ``lq`` scalar example, open-loop unstable).
"""
import numpy as np

from otgeom.families.grid import Axis, GridParameter, GridSpec


def _axes(p):
    L = p["half_width"]
    return (Axis("x", -L, L, p["cells"], p["boundary"], p["noise"]),)


def _initial(fam):
    # a stabilising linear feedback (the lq example's K0 = 1) with unit spread
    x = fam.points[:, 0]
    return -1.0 * x, np.ones_like(x)


SPEC = GridSpec(
    name="grid-linear",
    description="x' = alpha x + beta a + noise on a grid over [-L, L]; c = x^2 + r a^2; converges to lq",
    state_names=("x",),
    parameters=(
        GridParameter("alpha", 1.1, "real", "state coefficient"),
        GridParameter("beta", 0.5, "real", "action coefficient"),
        GridParameter("r", 0.5, "positive", "action cost weight"),
        GridParameter("noise", 1.0, "positive", "noise standard deviation sigma"),
        GridParameter("half_width", 8.0, "positive", "the grid covers [-L, L]"),
        GridParameter("cells", 161, "cells", "number of grid cells"),
        GridParameter("boundary", "clipped", "boundary", "clipped, reflecting or circle"),
    ),
    axes=_axes,
    drift=lambda x, a, p: [p["alpha"] * x[0] + p["beta"] * a],
    cost=lambda x, a, p: x[0] ** 2 + p["r"] * a ** 2,
    initial=_initial,
)
