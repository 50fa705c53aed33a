# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # otgeom quickstart
#
# Pick a family, derive its formulas, evaluate them, run the claim suite, change a parameter,
# and watch an assumption fail. Every formula below is computed two independent ways by the claims.

# %%
import otgeom
from otgeom import family, evaluate, GaussianPolicy
from otgeom.symbolic.geometry import first_order

fam = family("switch2")
fam.label, fam.n_states, fam.action_dim

# %% [markdown]
# ## Derive
# The derivation is a list of named definitions (no walls of symbols); it displays as typeset math.

# %%
D = first_order(fam)
D

# %% [markdown]
# ## Evaluate at one Gaussian policy
# `evaluate` computes the chain from the definitions (quadrature, GTH, a linear solve) and reports
# the regularity certificates with the numbers.

# %%
import numpy as np

pol = GaussianPolicy.from_std(np.array([0.0, 0.5]), np.array([1.0, 0.5]))
out = evaluate(fam, pol)
{k: out[k] for k in ("J", "rho", "grad_mean", "grad_std", "regularity")}

# %% [markdown]
# The closed forms give the same numbers (tree theorem, closed-form Gaussian expectations,
# direct differentiation of J(theta)):

# %%
sym = evaluate(fam, pol, symbolic=True)
abs(sym["J"] - out["J"]), np.abs(np.subtract(sym["grad_std"], out["grad_std"])).max()

# %% [markdown]
# ## Run the claims

# %%
from otgeom.suite import run_suite

for r in run_suite([fam], seed=0, workers=None):  # every claim about finite families, one process per core
    err = "-" if r.error is None else f"{r.error:.2e}"
    print(f"{r.claim:28s} {r.verdict:15s} error {err:>9s}  tol {r.tolerance:.0e}  {r.details.get('reason', '')}")

# %% [markdown]
# ## Change a parameter
# Parameters are exact rationals; `with_values` validates again.

# %%
fam2 = fam.with_values(q=["9/10", "1/2"])
evaluate(fam2, pol)["J"], out["J"]

# %% [markdown]
# ## See an assumption fail
# With M = N = I every state keeps itself: the controlled chain is reducible, (R1) fails,
# and otgeom says which classes are closed instead of returning NaN.

# %%
stuck = family("modulated", n=2, d=1, M=[[1, 0], [0, 1]], N=[[1, 0], [0, 1]])
try:
    evaluate(stuck, GaussianPolicy.from_std(np.zeros(2), np.ones(2)))
except otgeom.RegularityError as exc:
    print(type(exc).__name__, ":", exc)

# %% [markdown]
# Out-of-domain parameters are refused with the parameter named:

# %%
try:
    family("switch2", q=[2, "1/2"])
except otgeom.ParameterError as exc:
    print(exc)
