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
print("a formula for it is called as: formula" + pg.signature)  # `otgeom check --list` prints every signature

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
# ## Changing a definition: theory regression
# A `Theory` changes what the witnesses use (here the metric's weights: uniform instead of $\rho$) and,
# optionally, the formulas under test. Under uniform weights the gradient of $J$ is $\rho(s)\nabla_a Q$, so the
# claim "grad J = ∇_a Q" must fail; `theory_diff` lists the claims whose verdict changed
# (`otgeom check --theory FILE.py` on the command line).

# %%
from otgeom.numeric.chain import gradient_field
from otgeom.suite import run_suite, theory_diff
from otgeom.theory import Theory

uniform = Theory("uniform", metric_weights=lambda rho: np.ones_like(rho))
claims = ["riemannian-gradient", "gaussian-metric", "policy-gradient"]
for row in theory_diff(run_suite(fams[:1], claims), run_suite(fams[:1], claims, theory=uniform)):
    print(f"{row['claim']:22s} reference {row['reference']:6s} uniform weights {row['changed_verdict']}")

corrected = Theory("uniform, corrected", metric_weights=lambda rho: np.ones_like(rho), formulas={
    "riemannian-gradient": lambda prims, sol, wp: sol.rho[:, None, None] * gradient_field(prims, sol, wp)})
print("rho * grad_a Q under uniform weights:", run_suite(fams[:1], ["riemannian-gradient"], theory=corrected)[0].verdict)

# %% [markdown]
# Finally, the formula report of a family (Markdown here; `otgeom report FAMILY --format html|tex`
# on the command line):

# %%
from IPython.display import Markdown
from otgeom.report import make_report

Markdown(make_report(family("lq"), "md", claims=False))
