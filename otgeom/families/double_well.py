r"""``double-well``: a controlled particle in a double well, held at the barrier top (THEORY.md 6).

.. math::
    x' = x + \Delta t\,(x - x^3 + a) + \sigma\xi,\qquad c(x, a) = x^2 + r a^2,\qquad x\in[-L, L]\ \text{(reflecting)}.

The uncontrolled drift pushes the state into the wells at :math:`\pm1`; the cost wants it at the unstable
top x = 0.  The optimal feedback is nonlinear (it must cancel the cubic drift, which the cost makes
expensive far out), so this is the 1-D example with a non-trivial optimal policy.
"""
import numpy as np

from otgeom.families.grid import Axis, GridParameter, GridSpec


def _axes(p):
    L = p["half_width"]
    return (Axis("x", -L, L, p["cells"], p["boundary"], p["noise"]),)


SPEC = GridSpec(
    name="double-well",
    description="x' = x + dt (x - x^3 + a) + noise on [-L, L] (reflecting); c = x^2 + r a^2",
    state_names=("x",),
    parameters=(
        GridParameter("dt", 0.2, "positive", "time step"),
        GridParameter("r", 0.1, "positive", "action cost weight"),
        GridParameter("noise", 0.3, "positive", "noise standard deviation sigma"),
        GridParameter("half_width", 2.0, "positive", "the grid covers [-L, L]"),
        GridParameter("cells", 81, "cells", "number of grid cells"),
        GridParameter("boundary", "reflecting", "boundary", "clipped, reflecting or circle"),
    ),
    axes=_axes,
    drift=lambda x, a, p: [x[0] + p["dt"] * (x[0] - x[0] ** 3 + a)],
    cost=lambda x, a, p: x[0] ** 2 + p["r"] * a ** 2,
    # no control, spread 0.5: the walls at +-L then see under 1e-3 of the stationary step mass
    initial=lambda fam: (np.zeros(fam.n_states), np.full(fam.n_states, 0.5)),
)
