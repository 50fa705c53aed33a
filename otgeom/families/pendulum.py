r"""``pendulum``: a damped inverted pendulum with a torque, on a 2-D grid (angle on the circle, velocity clipped).

.. math::
    \theta' = \theta + \Delta t\,\omega + \sigma_\theta\xi_1,\qquad
    \omega' = \omega + \Delta t\,(\tfrac{g}{l}\sin\theta - b\,\omega + a) + \sigma_\omega\xi_2,\qquad
    c = (1 - \cos\theta) + q_\omega\,\omega^2 + r a^2 .

:math:`\theta = 0` is upright (gravity pushes away from it), :math:`\theta\in[-\pi,\pi)` on the circle,
:math:`\omega\in[-\omega_{max},\omega_{max}]` clipped.  With zero torque the pendulum hangs down (average cost 1.50 at the defaults);
a good policy keeps it upright on average.
"""
import math

import numpy as np
import sympy as sp

from otgeom.families.grid import Axis, GridParameter, GridSpec


def _axes(p):
    return (Axis("theta", -math.pi, math.pi, p["cells_theta"], "circle", p["noise_theta"]),
            Axis("omega", -p["omega_max"], p["omega_max"], p["cells_omega"], "clipped", p["noise_omega"]))


SPEC = GridSpec(
    name="pendulum",
    description="damped inverted pendulum, theta on the circle x omega clipped; torque a; c = 1 - cos theta + ...",
    state_names=("theta", "omega"),
    parameters=(
        GridParameter("dt", 0.1, "positive", "time step"),
        GridParameter("gravity", 1.0, "nonnegative", "g / l"),
        GridParameter("damping", 0.3, "nonnegative", "damping b"),
        GridParameter("q_omega", 0.1, "nonnegative", "velocity cost weight"),
        GridParameter("r", 0.05, "positive", "torque cost weight"),
        GridParameter("omega_max", 4.0, "positive", "velocities are clipped to [-omega_max, omega_max]"),
        GridParameter("noise_theta", 0.1, "positive", "angle noise standard deviation"),
        GridParameter("noise_omega", 0.2, "positive", "velocity noise standard deviation"),
        GridParameter("cells_theta", 48, "cells", "angle cells"),
        GridParameter("cells_omega", 32, "cells", "velocity cells"),
    ),
    axes=_axes,
    drift=lambda x, a, p: [x[0] + p["dt"] * x[1],
                           x[1] + p["dt"] * (p["gravity"] * sp.sin(x[0]) - p["damping"] * x[1] + a)],
    cost=lambda x, a, p: (1 - sp.cos(x[0])) + p["q_omega"] * x[1] ** 2 + p["r"] * a ** 2,
    initial=lambda fam: (np.zeros(fam.n_states), np.full(fam.n_states, 0.5)),
)
