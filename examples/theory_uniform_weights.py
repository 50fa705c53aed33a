"""A changed theory for ``otgeom check --theory examples/theory_uniform_weights.py``.

The metric on policies is weighted uniformly over states instead of by the stationary law rho:

    g(U, V) = sum_s E_{pi_s}[U . V]      (reference: sum_s rho(s) E_{pi_s}[U . V]).

Under this metric the gradient of J is no longer grad_a Q but rho(s) grad_a Q (dJ[v] = sum_s rho(s) E[grad_a Q . v]
is a definition-free fact), so the reference formula "grad J = grad_a Q" must fail, and the claims that test the
metric against Wasserstein distances weighted by the new weights change verdict too.  The run prints exactly which.

To test the corrected gradient under this theory, give it as the formula of the claim:

    formulas={"riemannian-gradient": lambda prims, sol, wp: sol.rho[:, None, None] * gradient_field(prims, sol, wp)}
"""
import numpy as np

from otgeom.theory import Theory

THEORY = Theory(
    name="uniform-weights",
    description="the policy metric weighted uniformly over states instead of by rho",
    metric_weights=lambda rho: np.ones_like(rho),
)
