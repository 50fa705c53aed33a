r"""``relay`` (a counterexample to continuity in the state): a drift that switches sign at x = 0.

.. math::
    x' = x + \Delta t\,(-k\,\mathrm{sign}(x) + a) + \sigma\xi,\qquad c(x, a) = x^2 + r a^2,\qquad
    x\in[-L, L]\ \text{(reflecting)}.

A relay (bang-bang restoring force) is discontinuous in the state at x = 0, so :math:`x \mapsto
\nabla_aQ(x, a)` jumps there: the measurability certificate by continuity in the state (Lipschitz,
Carathéodory) **fails** and says so, naming the jump; the grid field is still piecewise constant on Borel
cells.  Everything else (R1-R4 on the grid chain, the gradient claims) holds: the discontinuity is in the
state, not in the action.
"""
import numpy as np
import sympy as sp

from otgeom.families.grid import Axis, GridParameter, GridSpec


def _axes(p):
    L = p["half_width"]
    return (Axis("x", -L, L, p["cells"], p["boundary"], p["noise"]),)


SPEC = GridSpec(
    name="relay",
    description="counterexample (continuity in the state fails): x' = x + dt (-k sign(x) + a) + noise; c = x^2 + r a^2",
    state_names=("x",),
    parameters=(
        GridParameter("dt", 0.2, "positive", "time step"),
        GridParameter("k", 1.0, "positive", "relay force"),
        GridParameter("r", 0.5, "positive", "action cost weight"),
        GridParameter("noise", 0.3, "positive", "noise standard deviation sigma"),
        GridParameter("half_width", 2.0, "positive", "the grid covers [-L, L]"),
        GridParameter("cells", 80, "cells", "number of grid cells (even: no cell centre at the switch)"),
        GridParameter("boundary", "reflecting", "boundary", "clipped, reflecting or circle"),
    ),
    axes=_axes,
    drift=lambda x, a, p: [x[0] + p["dt"] * (-p["k"] * sp.sign(x[0]) + a)],
    cost=lambda x, a, p: x[0] ** 2 + p["r"] * a ** 2,
    initial=lambda fam: (np.zeros(fam.n_states), np.full(fam.n_states, 0.5)),
)
