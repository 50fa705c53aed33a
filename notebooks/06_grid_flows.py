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
# # Gradient flows on grids: continuous states, the LQ answer, a double well and a pendulum
#
# A grid family (THEORY.md section 6) puts the continuous state on a grid: the kernel from cell $i$ under
# action $a$ is the probability of each cell under $x' = f(x_i, a) + \sigma\xi$, a closed form in $\Phi$ with
# closed-form action derivatives. It is a finite-state family, so the Wasserstein gradient flow of sections
# 1-3 applies unchanged: every action moves by $\dot a = -\nabla_a Q(x_i, a)$; projected onto a Gaussian per
# state, $\dot m_i = -\mathbb E[\partial_a Q]$, $\dot s_i = -s_i\mathbb E[\partial_a^2 Q]$, in closed form
# when the drift is affine in $a$.
#
# The seed's own test of the theory: where the optimal policy is known analytically (the linear system,
# `grid-linear`, against the LQ Riccati solution), the flow computed from the derived formulas must converge to
# it. Then a nonlinear optimal policy (`double-well`) and a 2-D one (`pendulum`).

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import SVG

from otgeom import family
from otgeom.errors import GridWarning
from otgeom.numeric.grid import grid_chain
from otgeom.numeric.grid_flow import gaussian_flow, particle_flow
from otgeom.numeric.lq import lq_optimum
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, QuantilePolicy
from otgeom.report.plots import band_figure, gaussian_bands, image_figure, quantile_bands
from otgeom.textfmt import number

# %% [markdown]
# ## `grid-linear` against the LQ closed form
#
# $x' = \alpha x + \beta a + \sigma\xi$ on 161 cells over $[-8, 8]$, $c = x^2 + r a^2$. The same system without
# the grid is `lq` with $A = \alpha$, $B = \beta$, $Q_c = 1$, $R = r$, $W = \sigma^2$; scipy's Riccati solver
# gives its optimum $a = -K^* x$ and $J^*$.

# %%
fam = family("grid-linear")
v = fam.values
opt = lq_optimum(family("lq", A=v["alpha"], B=v["beta"], Qc=1, R=v["r"], W=v["noise"] ** 2))
K, J_star, P_star = opt.K[0, 0], opt.J, opt.P[0, 0]
x = fam.points[:, 0]
inner = np.abs(x) <= v["half_width"] / 2
print(f"K* = {number(K, 10)}, J* = {number(J_star, 10)}")

# %% [markdown]
# The Gaussian flow per state from the derived closed form, from the family's initial policy $m_i = -x_i$,
# $s_i = 1$; the policy error is $\max_i |m_i + K^* x_i|$ over the inner half of the grid.

# %%
m0, s0 = fam.initial_policy()
gauss = gaussian_flow(fam, m0, s0, max_steps=300, tol=1e-7, snapshot_every=1)
print(gauss.reason)
steps = sorted(gauss.snapshots)
error = np.array([np.abs(gauss.snapshots[k][0] + K * x)[inner].max() for k in steps])
h = fam.axes[0].width
print("policy error:", number(error[0], 3), "at t = 0 ->", number(error[-1], 3), "at the end")
print("J_grid - J* =", number(gauss.J[-1] - J_star, 8), "; predicted P* h^2/12 =", number(P_star * h * h / 12, 8))

# %% [markdown]
# The grid's optimal cost is not $J^*$: the grid snaps the state to a cell centre each step, a rounding error
# uniform on $[-h/2, h/2]$ and independent of the step (up to $e^{-2\pi^2\sigma^2/h^2}$), so the grid chain is
# the LQ system with noise variance $W + h^2/12$: the same gain, and $J^*$ larger by $P^* h^2/12$. Measured and
# predicted agree to seven digits.

# %%
t = gauss.times
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].semilogy(t[steps], error)
ax[0].set_xlabel("flow time t"); ax[0].set_ylabel("max |m_i + K* x_i| (inner half)")
ax[1].semilogy(t[:-1], gauss.J[:-1] - gauss.J[-1], label="J - J(end)")
ax[1].semilogy(t, gauss.J - J_star, label="J - J* (Riccati)")
ax[1].axhline(P_star * h * h / 12, ls="--", color="k", lw=0.8, label="P* h^2 / 12")
ax[1].set_xlabel("flow time t"); ax[1].legend()
fig.tight_layout()

# %% [markdown]
# ## The full law: particles
#
# Eight quantiles per state of the same initial Gaussians, each moved by $\dot a = -\nabla_a Q$ (no Gaussian
# assumption). The bands are quantiles of the particles' law per state (10-90 % light, 25-75 % dark, the median
# a line), at four flow times; the dashed line is the LQ optimum $-K^* x$. `band_figure` is the report's plot.

# %%
q0 = QuantilePolicy.from_gaussian(GaussianPolicy.from_std(m0, s0), 8)
parts = particle_flow(fam, q0, max_steps=300, tol=1e-7, snapshot_every=1)
print(parts.reason)
show = [0, 1, 4, max(parts.snapshots)]
frames = [(f"t = {number(parts.times[k], 3)} (step {k})", quantile_bands(parts.snapshots[k])) for k in show]
err_p = np.abs(parts.final.mean(axis=1) + K * x)[inner].max()
print("particles: policy error at the end", number(err_p, 3), "; J =", number(parts.J[-1], 10))
SVG(band_figure("bands", "", x, [("particles", frames)], "x", "action a", ("LQ optimum -K* x", -K * x)).svg)

# %% [markdown]
# ## `double-well`: a nonlinear optimal feedback
#
# $x' = x + \Delta t\,(x - x^3 + a) + \sigma\xi$ on $[-2, 2]$ (reflecting), $c = x^2 + r a^2$: the cost wants
# the state at the unstable barrier top $x = 0$. Near 0 the optimal feedback follows the LQ problem of the
# linearised dynamics ($A = 1 + \Delta t$, $B = \Delta t$); further out it bends back, because the cubic drift
# pulls the state towards the wells at $\pm1$ and, beyond them, back in.

# %%
dw = family("double-well")
xd = dw.points[:, 0]
with warnings.catch_warnings():  # the initial N(0, 1) policy pushes 0.2 % of the step mass past +-2 (reported)
    warnings.simplefilter("ignore", GridWarning)
    flow_dw = gaussian_flow(dw, *dw.initial_policy(), max_steps=300, tol=1e-7, snapshot_every=1)
    zero_dw = grid_chain(dw, ParticlePolicy(np.zeros((dw.n_states, 1, 1))))
print(flow_dw.reason)
dt, r = dw.values["dt"], dw.values["r"]
K_lin = lq_optimum(family("lq", A=1 + dt, B=dt, Qc=1, R=r, W=dw.values["noise"] ** 2)).K[0, 0]
m_dw = flow_dw.final[0]
i = np.argmin(np.abs(xd))
print("slope at 0:", number((m_dw[i + 1] - m_dw[i - 1]) / (xd[i + 1] - xd[i - 1]), 4), " linearised LQ: -K =",
      number(-K_lin, 4))
print("J at the end", number(flow_dw.J[-1], 8), " zero action", number(zero_dw.J, 8))

# %%
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
for k in [0, 2, 8, max(flow_dw.snapshots)]:
    ax[0].plot(xd, flow_dw.snapshots[k][0], label=f"t = {number(flow_dw.times[k], 3)}")
ax[0].plot(xd, -K_lin * xd, "k--", lw=0.8, label="linearised LQ")
ax[0].set_xlabel("x"); ax[0].set_ylabel("mean action"); ax[0].set_ylim(-7, 7); ax[0].legend(fontsize=8)
ax[1].semilogy(xd, flow_dw.chain.rho, label="optimum")
ax[1].semilogy(xd, zero_dw.rho, label="zero action")
ax[1].set_xlabel("x"); ax[1].set_ylabel("rho"); ax[1].legend()
fig.tight_layout()

# %% [markdown]
# ## `pendulum`: two state axes
#
# Angle $\theta$ on the circle (48 cells, $\theta = 0$ upright), velocity $\omega \in [-4, 4]$ (32 cells), torque
# $a$; cost $1 - \cos\theta + q_\omega\omega^2 + r a^2$. The drift is affine in $a$ on the $\omega$ axis, so the
# Gaussian flow is again in closed form. About 8 s here.

# %%
pend = family("pendulum")
with warnings.catch_warnings():  # zero torque lets the fastest states reach the velocity bound (reported)
    warnings.simplefilter("ignore", GridWarning)
    flow_p = gaussian_flow(pend, *pend.initial_policy(), max_steps=150, tol=1e-7)
    zero_p = grid_chain(pend, ParticlePolicy(np.zeros((pend.n_states, 1, 1))))
print(flow_p.reason)
theta = pend.points[:, 0]
up = np.abs(theta) < np.pi / 4
print("average cost: flow", number(flow_p.J[-1], 6), " zero torque", number(zero_p.J, 6))
print("share of time upright (|theta| < pi/4): flow", number(flow_p.chain.rho[up].sum(), 4),
      " zero torque", number(zero_p.rho[up].sum(), 4))

# %% [markdown]
# The mean torque over $(\theta, \omega)$ and the stationary law under it and under zero torque. Near the top
# the torque opposes the fall (negative where $\theta > 0$ and $\omega > 0$); further out it changes sign
# abruptly along a curve.

# %%
ext = (-np.pi, np.pi, -4, 4)
panel = dict(extent=ext, xlabel="theta", ylabel="omega")
SVG(image_figure("pendulum", "", [
    {**panel, "z": flow_p.final[0].reshape(pend.shape), "centered": True, "label": "mean torque", "title": "policy"},
    {**panel, "z": flow_p.chain.rho.reshape(pend.shape), "log": True, "label": "rho", "title": "rho, flow"},
    {**panel, "z": zero_p.rho.reshape(pend.shape), "log": True, "label": "rho", "title": "rho, zero torque"}]).svg)

# %% [markdown]
# `otgeom report grid-linear` (and `double-well`, `pendulum`) writes all of this, with the certificates of the
# chains (irreducibility, min $\rho$, the residuals of the solves, truncation, boundary mass), as Markdown, LaTeX
# or HTML.
