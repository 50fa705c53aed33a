# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Testing your own change to the theory
#
# A claim holds a formula under test and a witness that does not use it. `with_formula` swaps in
# your variant; the verdict, the worst error and where it occurred say whether it still holds.
# Here: a researcher suspects the policy gradient needs no stationary weight $\rho_s$.

# %%
import numpy as np

from otgeom import family
from otgeom.numeric.geometry import gaussian_gradient
from proofs_checks import claim

pg = claim("policy-gradient")
print(pg.statement)
print("witness:", pg.witness)
print("tolerance:", pg.tolerance, "because", pg.tolerance_reason)

# %% [markdown]
# The theory's formula `gaussian_gradient(prims, sol, pol, wp)` returns the gradient in the mean and
# covariance coordinates. The variant divides the stationary weight out again:

# %%
def my_gradient(prims, sol, pol, wp):
    g = gaussian_gradient(prims, sol, pol, wp)
    return {**g, "grad_mean": g["grad_mean"] / sol.rho[:, None]}

fams = [family("switch2"), family("modulated", n=3, d=1)]
for fam in fams:
    for formula, name in ((pg.formula, "theory"), (my_gradient, "mine")):
        r = pg.with_formula(formula, name).run(fam, seed=0) if name == "mine" else pg.run(fam, seed=0)
        print(f"{fam.label:20s} {name:7s} {r.verdict:6s} worst error {r.error:.2e}")

# %% [markdown]
# A failing verdict comes with the point where the error was worst, to paste back into a check:

# %%
r = pg.with_formula(my_gradient, "mine").run(fams[0], seed=0)
r.where

# %% [markdown]
# The suite's own mutants are the same mechanism, and every one of them must fail:

# %%
for name in pg.mutants:
    print(name, pg.mutant(name).run(fams[0]).verdict)

# %% [markdown]
# Finally, the formula report of a family (Markdown here; `otgeom report FAMILY --format html|tex`
# on the command line):

# %%
from IPython.display import Markdown
from otgeom.report import make_report

Markdown(make_report(family("lq"), "md", claims=False))
