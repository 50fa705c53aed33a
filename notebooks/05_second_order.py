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
# # Second order: which Hessian, geodesics, curvature, Newton
#
# THEORY.md section 4. On the Gaussian family of a finite MDP there are several candidate
# "Hessians of J": the frozen-weight second variation $A_{\rm local} + A_{\rm transport}$, the
# Levi-Civita Hessian $\operatorname{Hess}_g J$ of the full space, and the Hessian of $J$ restricted
# to the Gaussian family, $\operatorname{Hess}_{\rm sub} = \operatorname{Hess}_g + g(\operatorname{grad}^\perp J, \mathrm{II})$.
# This notebook computes them at a point where they disagree, follows geodesics of the weighted
# metric, measures its curvature, runs Newton, and asks otgeom which Hessian a claimed formula is.

# %%
import matplotlib.pyplot as plt
import numpy as np

from otgeom import family
from otgeom.examples import example
from otgeom.numeric.second_order import gaussian_second_order
from otgeom.textfmt import array, matrix  # numbers as text: no negative zeros

ex = example("twin-wells")
print(ex.description)
fam, pol = ex.family, ex.policy
so = gaussian_second_order(fam.primitives(), pol)
np.set_printoptions(precision=4, suppress=True)
print("theta = (m_0, sigma_0, m_1, sigma_1) =", array(so.theta))
print("dJ/dtheta =", array(so.grad, 3), " (a critical point of J on the Gaussian family)")

# %% [markdown]
# Three Hessians on the same coordinate tangent vectors. They differ by O(1): $\operatorname{Hess}_{\rm sub}$
# is positive semi-definite, flat along both means ($\partial^2 J/\partial m_s^2 = 0$ at any interior
# critical point, a heat-equation identity), while $\operatorname{Hess}_g$ is indefinite: it curves up
# along $m_0$ and down along $m_1$.

# %%
print("Hess_sub (Gaussian family)\n" + matrix(so.hessian_riemannian))
print("Hess_g   (full space)\n" + matrix(so.hessian_full))
print("A_local + A_transport (frozen weights)\n" + matrix(so.hessian_frozen))
lin = so.lin
perp = lin.gradient - lin.project_affine(lin.gradient)
print("|grad^perp J|_g =", np.sqrt(lin.metric(perp, perp)), " (the Gaussian family cannot follow grad J)")

# %% [markdown]
# The gap is exactly the second fundamental form paired with $\operatorname{grad}^\perp J$
# (Gauss's formula), computed here from the connection $g(Z, C(u, v))$:

# %%
from otgeom.numeric.second_order import coordinate_fields

F = coordinate_fields(pol, lin.wp)
II = np.array([[lin.connection(perp, F[i], F[j]) for j in range(4)] for i in range(4)])
print("max |Hess_sub - Hess_g - g(grad^perp J, II)| =",
      np.abs(so.hessian_riemannian - so.hessian_full - 0.5 * (II + II.T)).max())

# %% [markdown]
# ## The metric G(θ), its Christoffel symbols and curvature
#
# $G = \operatorname{diag}(\rho_0, \rho_0, \rho_1, \rho_1)$. Each block alone would be flat (1-D Gaussians
# with the Wasserstein metric are a Euclidean half-plane); the weights $\rho(\theta)$ curve it. The
# symbolic derivation gives the Christoffel symbols and the sectional curvatures in closed form:

# %%
from otgeom.symbolic.second_order import curvature

D = curvature(fam)
args = [float(v) for v in fam.parameter_values()] + list(so.theta) + [0.0] * 4
vals = D.evaluator(["sectional", "christoffel"])(*args)
print("sectional curvatures K(d_i, d_j) at the critical point:\n" + matrix(np.array(vals["sectional"], float)))
print("symbolic vs numeric Christoffel symbols:",
      np.abs(np.array(vals["christoffel"], float) - so.christoffel).max())

# %% [markdown]
# Geodesics of $G$ from the switch2 reference policy: the exponential map along a mean direction
# bends (a straight line in $\theta$ would be a geodesic of a flat metric), the squared speed
# $|\dot\theta|^2_G$ stays constant (metric compatibility), and shooting solves the boundary-value problem.

# %%
from otgeom.numeric.geodesics import coordinate_geodesic, gaussian_christoffel, shoot
from otgeom.numeric.policies import GaussianPolicy

s2 = family("switch2")
prims = s2.primitives()
chris = gaussian_christoffel(prims, 2, order=60)   # numeric Gamma(theta): quadrature and drho solves


def metric(th):
    return gaussian_second_order(prims, GaussianPolicy.from_coordinates(th, 2, 1), 60).metric


theta0 = np.array([0.0, 1.0, 0.0, 1.0])
v0 = np.array([1.0, 0.0, 0.0, 0.0])
t = np.linspace(0, 1.5, 16)
path = coordinate_geodesic(chris, theta0, v0, t, metric=metric)
print("distance from the straight line theta0 + t v0:", np.abs(path.position - (theta0 + t[:, None] * v0)).max())
print("speed drift max|s(t)/s(0) - 1| =", path.speed_drift)
v = shoot(chris, theta0, path.position[10])
print("shooting to gamma(1) recovers the initial velocity:", array(v, 6))
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
for k, nm in enumerate(["m_0", "sigma_0", "m_1", "sigma_1"]):
    ax[0].plot(path.t, path.position[:, k], label=nm)
ax[0].set_xlabel("t"); ax[0].set_title("geodesic from theta0, velocity d/dm_0"); ax[0].legend()
ax[1].plot(path.t, path.speed2 / path.speed2[0] - 1)
ax[1].set_xlabel("t"); ax[1].set_title("|theta'|_G^2 / |theta'(0)|_G^2 - 1")
plt.tight_layout()

# %% [markdown]
# ## Newton and the first-order flow
#
# Interior Gaussian critical points are never non-degenerate minima, so Newton's quadratic
# convergence is shown on particle policies (the full space, discretised), with $\operatorname{Hess}_g$
# from the matrix-free Hessian-vector product. The first-order flow converges linearly at the rate
# $2\lambda_{\min}(G^{-1}\operatorname{Hess}_g)$ predicted by the spectrum at the optimum.

# %%
from otgeom.numeric.flows import particle_gradient_flow
from otgeom.numeric.newton import error_order, particle_hessian_rate, particle_newton
from otgeom.numeric.policies import ParticlePolicy

rng = np.random.default_rng(0)
start = ParticlePolicy(rng.normal(0, 0.5, (2, 3, 1)))
r = particle_newton(prims, start)
for k, (st, e) in enumerate(zip(r.steps, r.errors)):
    print(f"step {k}: J = {st.J:.15f}  |grad|_g = {st.grad_norm:.2e}  error = {e:.2e}  ({st.kind})")
print("estimated order:", error_order(r.errors))

rate = particle_hessian_rate(prims, ParticlePolicy(r.theta.reshape(2, 3, 1), start.weights))
t = np.linspace(0, 8, 33)
flow = particle_gradient_flow(prims, ParticlePolicy(r.theta.reshape(2, 3, 1) + 0.05 * rng.standard_normal((2, 3, 1))),
                              t, rtol=1e-12, atol=1e-14)
gap = flow.J - r.J
late = (t >= 3) & (gap > 1e-13)
print(f"flow rate: predicted 2 lambda_min = {rate['J_rate']:.4f}, measured {-np.polyfit(t[late], np.log(gap[late]), 1)[0]:.4f}")
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
ax[0].semilogy([e for e in r.errors if e > 0], "o-"); ax[0].set_xlabel("Newton step"); ax[0].set_title("error (quadratic)")
ax[1].semilogy(t, np.maximum(gap, 1e-16)); ax[1].semilogy(t, gap[0] * np.exp(-rate["J_rate"] * t), "--")
ax[1].set_xlabel("t"); ax[1].set_title("flow: J - J*, and the predicted rate")
plt.tight_layout()

# %% [markdown]
# ## Which Hessian is a claimed formula?
#
# `check_formula` evaluates a claimed Hessian (a sympy matrix in the coordinates, or a callable of the
# evaluation context) against every ground truth at random points and at the critical points of the
# named examples, and says which one it is.

# %%
from otgeom.claimed import check_formula

candidates = {
    "levi-civita (submanifold)": lambda c: c.lin.hessian(c.u, c.v, "submanifold"),
    "frozen weights": lambda c: c.lin.hessian(c.u, c.v, "frozen"),
    "full space offered as the family's": lambda c: c.lin.hessian(c.u, c.v, "levi-civita"),
    "A_local alone": lambda c: c.lin.hessian(c.u, c.v, "local"),
    "wrong sign": lambda c: -c.lin.hessian(c.u, c.v, "submanifold"),
}
for nm, f in candidates.items():
    v = check_formula(fam, f, n_random=2, name=nm)
    print(f"{nm:36s} {v.verdict:34s} worst {v.worst_error:.2e}  is: {', '.join(v.identified_as) or '-'}")

# %% [markdown]
# `A_local` alone matches at twin-wells' critical point. There both parts of $A_{\rm transport}$ vanish
# on coordinate vectors: the first because $\rho_s\mathbb{E}_{\pi_s}[\langle\nabla_a Q, v_s\rangle] = \partial J/\partial\theta = 0$,
# the dynamics part because, with two states, a restricted critical point has $d(h_0 - h_1) = 0$; the
# connection term $\Gamma^k_{ij}\partial_k J$ vanishes too. It is not a Hessian: on switch2 (no critical
# point known) the checker rejects it.

# %%
v = check_formula(s2, candidates["A_local alone"], n_random=2, name="A_local alone")
print(v.verdict, f"worst {v.worst_error:.2e}", "at", v.counterexample["policy"])

# %% [markdown]
# A failing verdict comes with the point (family parameters, policy, tangent vectors) where it
# failed, ready to paste back:

# %%
v = check_formula(fam, candidates["full space offered as the family's"], n_random=2)
v.counterexample
