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
# # The linear-quadratic family against Riccati
#
# On `lq[dean]` (Dean et al.'s 3-state system) the Wasserstein gradient flow is the natural policy
# gradient $\dot K = -2E_K$. Its limit must be the Riccati gain from scipy's DARE solver; Hewer's
# iteration (the Gauss-Newton step) and the Riemannian Newton method must reach it quadratically,
# the natural gradient linearly at the rate predicted by the Hessian spectrum at the optimum.

# %%
import numpy as np
import matplotlib.pyplot as plt

from otgeom import family, lq_optimum, lq_point, LQPolicy
from otgeom.numeric.lq import hessian_spectrum_at_optimum
from otgeom.numeric.lq_solvers import gradient_flow, hewer, natural_gradient, riemannian_newton, convergence_order

fam = family("lq", example="dean")
opt = lq_optimum(fam)
print("K* (DARE):\n", opt.K.round(6), "\nJ* =", opt.J, " relative Riccati residual", opt.riccati_residual)

# %% [markdown]
# The Riemannian Hessian at the optimum, relative to the metric: eigenvalues $2\mu_i(M^*)$.

# %%
spec = hessian_spectrum_at_optimum(fam, opt)
spec

# %%
runs = {"Hewer (Gauss-Newton)": hewer(fam), "Riemannian Newton": riemannian_newton(fam),
        "natural gradient": natural_gradient(fam)}
for name, h in runs.items():
    print(f"{name:22s} {h.iterations:5d} steps, final |K - K*|/|K*| = {h.K_error[-1]:.1e}")
print("Hewer: K error sequence", np.array2string(runs["Hewer (Gauss-Newton)"].K_error, precision=1))
print("observed order of convergence (Hewer):", round(convergence_order(runs["Hewer (Gauss-Newton)"].K_error), 2))

# %%
flow = gradient_flow(fam, n_eval=100)
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for name, h in runs.items():
    ax[0].semilogy(np.maximum(h.K_error, 1e-17), marker=".", label=name)
ax[0].set_xlabel("iteration"); ax[0].set_ylabel("|K - K*| / |K*|"); ax[0].legend()
ax[1].semilogy(flow.t, flow.K_error, label="flow dK/dt = -2 E_K")
rate = flow.details["predicted_K_rate"]
ax[1].semilogy(flow.t, flow.K_error[0] * np.exp(-rate * flow.t), "--", label=f"predicted rate {rate:.3g}")
ax[1].set_xlabel("t"); ax[1].legend()
fig.tight_layout()

# %% [markdown]
# The gradient at the limit is zero to round-off, and the limit is the DARE gain:

# %%
pt = lq_point(fam, LQPolicy(runs["Riemannian Newton"].K, np.zeros((fam.m, fam.m))))
np.abs(pt.riemannian_grad_K).max(), np.abs(runs["Riemannian Newton"].K - opt.K).max()
