r"""The Gaussian-projected flow against the particle flow, with the gap quantified (THEORY.md sections 2, 3, 5).

Finite families, d = 1
----------------------
From one Gaussian policy :math:`\pi_0 = (\mathcal N(m_s, \sigma_s^2))_s` three flows are integrated:

* **the Gaussian ODE** in :math:`\theta = (m_s, \sigma_s)_s`,
  :math:`\dot m_s = -\mathbb E_{\pi_s}[\partial_a Q]`, :math:`\dot\sigma_s = -\sigma_s\mathbb E_{\pi_s}[\partial_a^2 Q]`,
  given as a velocity callable :math:`\theta\mapsto\dot\theta`: the symbolic layer's ``flow`` compiled by
  ``proofs_checks/flow_claims.py`` (this module is numeric and never imports ``otgeom.symbolic``), a formula under
  test, or by default the same projected flow by quadrature;
* **particle flows**: M i.i.d. samples of :math:`\pi_{0,s}` per state and seed, every sample moving by
  :math:`\dot a = -\partial_a Q_{\pi^M_t}(s, a)`, Q of the particles' own law;
* **the reference flow of the full law** (no sampling error): the nodes :math:`a_j` of the feature-resolving rule
  of :math:`\pi_0` (weights :math:`w_j`, standardised :math:`z_j = (a_j - m_s)/\sigma_s`) moved by the same field.
  With :math:`\Phi_t` the flow map, :math:`\pi_t = (\Phi_t)_\#\pi_0` and
  :math:`\mathbb E_{\pi_t}f = \mathbb E_{\pi_0}[f\circ\Phi_t] \approx \sum_j w_j f(\Phi_t(a_j))`: the transported rule
  integrates against :math:`\pi_t` with the rule's accuracy for :math:`f\circ\Phi_t`.  A plain quantile
  discretisation moves by the field of its own N-atom law instead: a bias of order 1/N in :math:`\partial_a Q`
  (about 1e-3 for N = 512 on switch2), which adds an O(t) term to every defect and hides the O(t^2) below.
  ``reference_quantiles`` quantile levels :math:`u_i = (i + 1/2)/N_q` ride along with weight 0: in 1-D
  :math:`\Phi_t` is increasing, so they are the quantiles :math:`X_t(u_i) = \Phi_t(X_0(u_i))` of :math:`\pi_t`.

Distances, per state and time (1-D, so :math:`W_2^2(\mu,\nu) = \int_0^1|X_\mu(u) - X_\nu(u)|^2du`):

.. math::
    \mathrm{defect}_s^2 = W_2^2(\pi_{t,s}, \mathcal N(m_s, \sigma_s^2)) = \sum_j w_j (\Phi_t(a_j) - m_s - \sigma_s z_j)^2,

    \mathrm{normal}_s^2 = \min_{\alpha,\beta}\sum_j w_j(\Phi_t(a_j) - \alpha - \beta z_j)^2,\qquad
    \mathrm{tangential}_s^2 = \sum_j w_j(\hat\alpha + \hat\beta z_j - m_s - \sigma_s z_j)^2,

with :math:`(\hat\alpha,\hat\beta)` the minimiser: :math:`\mathcal N(\hat\alpha, \hat\beta^2)` is the
:math:`W_2`-nearest Gaussian of :math:`\pi_{t,s}` (Gaussian quantile functions are the affine functions of
:math:`z = \Phi^{-1}(u)`), and Pythagoras holds exactly: defect² = normal² + tangential².
Let :math:`v = -\partial_a Q` at t = 0 and :math:`\Pi v` its :math:`L^2(\pi_s)` projection onto affine fields.
Then, as :math:`t\to0`,

* normal :math:`= t\,\|v - \Pi v\|_{L^2(\pi_s)} + O(t^2)`: the full law leaves the Gaussian family at a rate no
  Gaussian ODE can change (``normal_rate``); so **the defect is O(t), not O(t²)**, unless :math:`\partial_a Q` is
  affine in a;
* tangential :math:`= O(t^2)` **iff** the ODE's velocity at t = 0 is :math:`\Pi v`:
  :math:`\frac{d}{dt}\hat\alpha = \mathbb E[v] = \dot m` and :math:`\frac{d}{dt}\hat\beta = \mathbb E[v z] =
  \mathrm{Cov}(a, v)/\sigma = -\sigma\,\mathbb E[\partial_a^2 Q] = \dot\sigma` (Stein); any other affine velocity
  w gives :math:`t\,\|\Pi v - w\|` (slope 1: a missing factor :math:`\sigma_s`, a sign error).

The **gap** of M particles is :math:`W_2(\pi^M_{t,s}, \mathcal N(m_s,\sigma_s^2))` (exact,
:func:`w2_empirical_gaussian`), its **sampling part** :math:`W_2(\pi^M_{t,s}, \pi_{t,s})` with :math:`\pi_{t,s}` by
its :math:`N_q` quantiles (:func:`w2_empirical`; resolution ``reference_resolution`` =
the same distance between :math:`\pi_0` and its quantiles), so by the triangle inequality
gap ≤ sampling + defect + the quantisation distance of :math:`\pi_t` (``reference_resolution`` at t = 0): as M
grows the gap falls to the defect, not to 0.
For i.i.d. samples :math:`\mathbb E W_2^2(\pi^M, \pi) \asymp \log\log M / M` in 1-D for a Gaussian
(Bobkov and Ledoux, Mem. AMS 2019): the sampling part falls like :math:`M^{-1/2}` up to that factor at t = 0;
along the flow the rate is observed, not proved here (fitted exponents -0.44 to -0.59 per time on switch2 and
modulated n = 3, M = 16, 64, 256, three seeds).

Weighting: every total is the frozen-weight product distance
:math:`d_\rho = (\sum_s \rho_s W_{2,s}^2)^{1/2}` (the distance whose infinitesimal form is the metric g of section 2),
with :math:`\rho` the stationary law of the Gaussian ODE's policy at that time (by the feature-resolving rule);
Pythagoras carries over to the totals.

Scalar LQ (section 5, tau = 0)
------------------------------
The particle policy is the push-forward :math:`a = -Kx + \xi_m`, the same noise particles :math:`\xi_m` (weights
:math:`w_m`) at every state x. Its Q, from the Poisson equation with :math:`h(x) = x^\top Px + q^\top x + h_0`:

.. math::
    P = Q_c + K^\top RK + A_K^\top PA_K,\qquad (I - A_K^\top)\,q = 2(A_K^\top PB - K^\top R)\,\mu,\quad \mu = \sum_m w_m\xi_m,

    \nabla_a Q(x, a) = 2Ra + B^\top(2P(Ax + Ba) + q).

(The :math:`q` term is absent from THEORY.md's :math:`2Ma + 2B^\top PAx` because the Gaussian family has
:math:`\mu = 0`; an i.i.d. sample has :math:`\mu = O(M^{-1/2})`.) Every particle moves by
:math:`\dot a = -\nabla_a Q`, evaluated at the particles of a few states :math:`x_j\in\{0, \pm e_i\}`; since the field
is affine in (x, a), the cloud keeps its form and :math:`\dot K`, :math:`\dot\xi_m` are recovered by least squares
from :math:`\dot a_{jm} = -\dot K x_j + \dot\xi_m` (the residual is reported: it must be at round-off).  This is the
flow of the definition, not the closed form :math:`\dot K = -2E_K`, :math:`\dot\xi = -2M\xi - B^\top q`.
The reference is the same flow from Gauss–Hermite nodes of :math:`\mathcal N(0, \Sigma_0)` (their mean is exactly 0,
so q = 0 and the law stays Gaussian: :math:`\xi_j(t) = \hat\alpha + \hat\beta z_j`).  Distances are averaged over
the Gaussian ODE's stationary state law :math:`x\sim\mathcal N(0, X)` (:math:`\rho`): for a law shifted by
:math:`c = -(K - K')x`, :math:`\mathbb E_x W_2^2 = W_2^2(\xi\text{-laws}) + (K - K')^2 X` (the cross term has
:math:`\mathbb E_x c = 0`).  Here :math:`\partial_a Q` is affine in a, so normal = 0 and the defect is at the
integrators' tolerance: the gap is pure sampling.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy.linalg import solve, solve_discrete_lyapunov
from scipy.special import ndtri

from otgeom.errors import ParameterError, PolicyError
from otgeom.numeric.chain import evaluate_chain, gradient_field
from otgeom.numeric.flows import gaussian_flow_rhs, integrate, particle_gradient_flow
from otgeom.numeric.lq import closed_loop, flow_velocity, stationary_covariance
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, QuantilePolicy
from otgeom.numeric.witness import gaussian_points

__all__ = ["w2_empirical_gaussian", "w2_empirical", "loglog_slope", "FlowComparison", "ReferenceFlow",
           "reference_flow", "gaussian_defects", "compare_flows", "lq_action_gradient", "lq_particle_flow",
           "compare_lq_flows"]

WEIGHTING = "d_rho = sqrt(sum_s rho_s W2_s^2), rho of the Gaussian ODE's policy at that time"


# ----------------------------------------------------------------------------------------------- 1-D W2
def _phi_at_quantiles(M: int) -> np.ndarray:
    r""":math:`\varphi(\Phi^{-1}(i/M))`, i = 0..M, with :math:`\varphi(\Phi^{-1}(0)) = \varphi(\Phi^{-1}(1)) = 0`.

    Evaluated at :math:`\min(i, M - i)/M` (:math:`\varphi\circ\Phi^{-1}` is symmetric about 1/2), so levels near 1
    keep their relative accuracy."""
    i = np.arange(M + 1)
    p = np.minimum(i, M - i) / M
    with np.errstate(divide="ignore"):
        z = ndtri(p)
    g = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    g[p == 0] = 0.0
    return g


def w2_empirical_gaussian(x: np.ndarray, m: float, sigma: float) -> float:
    r"""Exact :math:`W_2^2` (squared) between the equal-weight empirical law of x (1-D, M points) and
    :math:`\mathcal N(m, \sigma^2)`, :math:`\sigma\ge 0`.

    With :math:`x_{(0)}\le\dots\le x_{(M-1)}` the empirical quantile function is :math:`x_{(i)}` on
    :math:`(i/M, (i+1)/M)` and :math:`\int_a^b\Phi^{-1}(u)\,du = \varphi(\Phi^{-1}(a)) - \varphi(\Phi^{-1}(b))`, so

    .. math::
        W_2^2 = \sum_{i=0}^{M-1}\Big[\frac{(x_{(i)} - m)^2}{M} - 2(x_{(i)} - m)\,\sigma\,
        \big(\varphi(\Phi^{-1}(\tfrac iM)) - \varphi(\Phi^{-1}(\tfrac{i+1}M))\big)\Big] + \sigma^2,

    with :math:`\varphi(\Phi^{-1}(0)) = \varphi(\Phi^{-1}(1)) = 0`.  Evaluated in the equivalent form
    :math:`\frac1M\sum_i(x_{(i)} - m - \sigma\mu_i)^2 + \sigma^2(1 - \frac1M\sum_i\mu_i^2)`,
    :math:`\mu_i = M(\varphi(\Phi^{-1}(\tfrac iM)) - \varphi(\Phi^{-1}(\tfrac{i+1}M)))` the mean of
    :math:`\Phi^{-1}` on the i-th bin: two non-negative terms (the second is the within-bin variance of
    :math:`\Phi^{-1}`, whose :math:`1 - \text{mean}` loses about :math:`\log_{10}M` digits, harmless), added, not
    cancelled.
    """
    x = np.sort(np.asarray(x, float).reshape(-1))
    M = x.size
    if M == 0:
        raise PolicyError("w2_empirical_gaussian: no points")
    if not sigma >= 0:
        raise PolicyError(f"w2_empirical_gaussian: sigma must be >= 0, got {sigma!r}")
    g = _phi_at_quantiles(M)
    mu = M * (g[:-1] - g[1:])
    across = float(np.mean((x - m - sigma * mu) ** 2))
    within = sigma * sigma * max(0.0, 1.0 - float(np.mean(mu * mu)))
    return across + within


def w2_empirical(x: np.ndarray, y: np.ndarray) -> float:
    r"""Exact :math:`W_2^2` (squared) between two equal-weight empirical laws in 1-D (sizes M and N).

    Both quantile functions are piecewise constant; on the common refinement of the breakpoints
    :math:`\{i/M\}\cup\{j/N\}`, :math:`W_2^2 = \sum_k |u_{k+1} - u_k|\,(x_{(\lfloor uM\rfloor)} - y_{(\lfloor uN\rfloor)})^2`
    at the interval midpoints u.
    """
    x = np.sort(np.asarray(x, float).reshape(-1))
    y = np.sort(np.asarray(y, float).reshape(-1))
    M, N = x.size, y.size
    u = np.union1d(np.arange(M + 1) / M, np.arange(N + 1) / N)
    mid = 0.5 * (u[:-1] + u[1:])
    i = np.minimum((mid * M).astype(int), M - 1)
    j = np.minimum((mid * N).astype(int), N - 1)
    return float(np.sum(np.diff(u) * (x[i] - y[j]) ** 2))


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (a rate: 2 for O(t^2), -1/2 for M^(-1/2))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ----------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class FlowComparison:
    r"""A Gaussian ODE against particle flows and the reference flow of the full law.

    Per-state arrays hold :math:`W_2` (not squared); the totals weight them by ``rho`` as
    :math:`d_\rho = (\sum_s\rho_sW_{2,s}^2)^{1/2}`.  For LQ there is one "state" whose value is already the
    :math:`\rho = \mathcal N(0, X)` root-mean-square over x (``rho`` = 1).

    t [T]; gaussian [T, k] the ODE's coordinates named by ``coordinates``; rho [T, n];
    gap, sampling [len(n_particles), len(seeds), T, n]; defect, normal, tangential [T, n];
    reference_resolution: the total sampling part of a perfect sample (the reference's quantiles against
    :math:`\pi_0`, 0 for LQ, whose reference law is Gaussian in closed form); normal_rate:
    :math:`(\sum_s\rho_s\|v_s - \Pi v_s\|^2)^{1/2}` at t = 0 (normal ~ t * normal_rate);
    lsq_residual (LQ): the largest relative residual of the affine fit of the particle velocities.
    """

    family: str
    t: np.ndarray
    n_particles: tuple[int, ...]
    seeds: tuple[int, ...]
    coordinates: tuple[str, ...]
    gaussian: np.ndarray = field(repr=False)
    rho: np.ndarray = field(repr=False)
    gap: np.ndarray = field(repr=False)
    sampling: np.ndarray = field(repr=False)
    defect: np.ndarray = field(repr=False)
    normal: np.ndarray = field(repr=False)
    tangential: np.ndarray = field(repr=False)
    reference_resolution: float
    normal_rate: float
    lsq_residual: float | None = None
    weighting: str = WEIGHTING

    def weighted(self, per_state: np.ndarray) -> np.ndarray:
        r""":math:`(\sum_s\rho_s x_s^2)^{1/2}` over the last axis; per_state [..., T, n] -> [..., T]."""
        return np.sqrt(np.sum(self.rho * np.asarray(per_state, float) ** 2, axis=-1))

    @property
    def gap_total(self) -> np.ndarray:
        """Weighted gap, mean over seeds: [len(n_particles), T]."""
        return self.weighted(self.gap).mean(axis=1)

    @property
    def sampling_total(self) -> np.ndarray:
        """Weighted sampling part, mean over seeds: [len(n_particles), T]."""
        return self.weighted(self.sampling).mean(axis=1)

    @property
    def defect_total(self) -> np.ndarray:
        return self.weighted(self.defect)

    @property
    def normal_total(self) -> np.ndarray:
        return self.weighted(self.normal)

    @property
    def tangential_total(self) -> np.ndarray:
        return self.weighted(self.tangential)

    def exponent(self, which: str = "sampling") -> np.ndarray:
        """Per time, the fitted exponent r of ``which`` ("sampling" or "gap") ~ M^r across n_particles, [T]."""
        tot = {"sampling": self.sampling_total, "gap": self.gap_total}[which]
        return np.array([loglog_slope(self.n_particles, tot[:, k]) for k in range(self.t.size)])

    def mean_exponent(self, which: str = "sampling") -> float:
        """The exponent of the time-averaged weighted ``which`` against M (one number for the whole trajectory)."""
        tot = {"sampling": self.sampling_total, "gap": self.gap_total}[which]
        return loglog_slope(self.n_particles, tot.mean(axis=1))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "family": self.family, "t": self.t.tolist(), "n_particles": list(self.n_particles),
            "seeds": list(self.seeds), "weighting": self.weighting, "coordinates": list(self.coordinates),
            "gaussian": self.gaussian.tolist(), "rho": self.rho.tolist(),
            "gap": self.gap_total.tolist(), "sampling": self.sampling_total.tolist(),
            "defect": self.defect_total.tolist(), "normal": self.normal_total.tolist(),
            "tangential": self.tangential_total.tolist(),
            "per_state": {"gap": self.gap.tolist(), "sampling": self.sampling.tolist(), "defect": self.defect.tolist(),
                          "normal": self.normal.tolist(), "tangential": self.tangential.tolist()},
            "reference_resolution": self.reference_resolution, "normal_rate": self.normal_rate,
            "lsq_residual": self.lsq_residual,
        }
        if len(self.n_particles) >= 2:
            out["sampling_exponent"] = self.mean_exponent("sampling")
            out["gap_exponent"] = self.mean_exponent("gap")
        return out


# ----------------------------------------------------------------------------------------------- finite families
@dataclass(frozen=True)
class ReferenceFlow:
    r"""The full law's flow: rule nodes [T, n, N] (weights [n, N], standardised initial nodes z [n, N]) and
    quantiles [T, n, Nq] of :math:`\pi_t` at :math:`u_i = (i + 1/2)/N_q`; normal_rate [n] =
    :math:`\|v - \Pi v\|_{L^2(\pi_{0,s})}` of :math:`v = -\partial_a Q` at t = 0."""

    t: np.ndarray
    nodes: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)
    quantiles: np.ndarray = field(repr=False)
    normal_rate: np.ndarray = field(repr=False)


def _affine_fit(A: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    r"""Weighted least squares :math:`\min_{\alpha,\beta}\sum_j w_j(A_j - \alpha - \beta z_j)^2` (one state)."""
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(np.stack([sw, sw * z], axis=1), sw * A, rcond=None)[0]
    return float(coef[0]), float(coef[1])


def reference_flow(prims, policy: GaussianPolicy, t_eval: np.ndarray, reference_quantiles: int = 512,
                   rtol: float = 1e-10, atol: float = 1e-12) -> ReferenceFlow:
    """Transport the feature-resolving rule of ``policy`` and ``reference_quantiles`` zero-weight quantile passengers
    along the particle flow (module docstring).  d = 1."""
    if policy.action_dim != 1:
        raise PolicyError(f"flow comparison: needs d = 1 (quantile functions), got d = {policy.action_dim}")
    wp = gaussian_points(prims, policy, "flow comparison reference")
    n, N = wp.points.shape[:2]
    sol = evaluate_chain(prims, wp, "flow comparison reference")
    v = -gradient_field(prims, sol, wp)[:, :, 0]
    m, sd = policy.mean[:, 0], policy.std
    z = (wp.points[:, :, 0] - m[:, None]) / sd[:, None]
    rate = np.empty(n)
    for s in range(n):
        al, be = _affine_fit(v[s], z[s], wp.weights[s])
        rate[s] = np.sqrt(np.sum(wp.weights[s] * (v[s] - al - be * z[s]) ** 2))
    q0 = QuantilePolicy.from_gaussian(policy, reference_quantiles).particles[:, :, 0]
    pts = np.concatenate([wp.points[:, :, 0], q0], axis=1)[:, :, None]
    w = np.concatenate([wp.weights, np.zeros((n, reference_quantiles))], axis=1)
    flow = particle_gradient_flow(prims, ParticlePolicy(pts, w), t_eval, rtol=rtol, atol=atol)
    Y = flow.y.reshape(len(flow.t), n, N + reference_quantiles)
    return ReferenceFlow(flow.t, Y[:, :, :N], wp.weights, z, Y[:, :, N:], rate)


def gaussian_defects(ref: ReferenceFlow, mean: np.ndarray,
                     std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""(defect, normal, tangential) [T, n] of the reference against :math:`\mathcal N(m, \sigma^2)` given per time,
    mean and std [T, n] (module docstring; ``std`` is used as :math:`|\sigma|`, the law's standard deviation)."""
    T, n, _ = ref.nodes.shape
    out = np.empty((3, T, n))
    sd = np.abs(std)
    for k in range(T):
        for s in range(n):
            A, z, w = ref.nodes[k, s], ref.z[s], ref.weights[s]
            al, be = _affine_fit(A, z, w)
            normal2 = np.sum(w * (A - al - be * z) ** 2)
            tang2 = np.sum(w * (al - mean[k, s] + (be - sd[k, s]) * z) ** 2)
            out[:, k, s] = np.sqrt([normal2 + tang2, normal2, tang2])
    return out[0], out[1], out[2]


def compare_flows(family, gaussian_policy: GaussianPolicy, t_eval: np.ndarray,
                  n_particles: Sequence[int] = (16, 64, 256), seeds: Sequence[int] = (0, 1, 2),
                  reference_quantiles: int = 512, velocity: Callable[[np.ndarray], np.ndarray] | None = None,
                  rtol: float = 1e-10, atol: float = 1e-12) -> FlowComparison:
    r"""Gaussian ODE vs particle flows vs the full law's flow on a finite family with d = 1 (module docstring).

    ``velocity(theta) -> dtheta/dt`` in :meth:`GaussianPolicy.coordinates` order :math:`(m_s, \sigma_s)_s` is the
    Gaussian ODE under comparison: the symbolic ``first_order(family).outputs["flow"]`` compiled by the caller
    (:func:`proofs_checks.flow_claims.symbolic_velocity`), or a formula under test; None takes the same projected
    flow by quadrature (:func:`otgeom.numeric.flows.gaussian_flow_rhs`).
    Particles: ``ParticlePolicy.sample_gaussian`` with ``numpy.random.default_rng(seed)`` for every M and seed
    (``n_particles=()`` compares the Gaussian ODE with the reference only).
    """
    if family.action_dim != 1:
        raise ParameterError(f"flow comparison: {family.label} has d = {family.action_dim}; the quantile "
                             "distances need d = 1")
    prims = family.primitives()
    t = np.asarray(t_eval, float)
    n = family.n_states
    if velocity is None:
        velocity = _quadrature_velocity(prims, n)
    theta = integrate(lambda _t, y: np.asarray(velocity(y), float), gaussian_policy.coordinates(), t, rtol, atol)
    mean, std = theta[:, 0::2], theta[:, 1::2]
    rho = np.empty((t.size, n))
    for k in range(t.size):
        pol = GaussianPolicy.from_std(mean[k], np.abs(std[k]))
        rho[k] = evaluate_chain(prims, gaussian_points(prims, pol, "flow comparison"), "flow comparison").rho
    ref = reference_flow(prims, gaussian_policy, t, reference_quantiles, rtol, atol)
    defect, normal, tangential = gaussian_defects(ref, mean, std)
    Ms, Ss = tuple(int(M) for M in n_particles), tuple(int(s) for s in seeds)
    gap = np.empty((len(Ms), len(Ss), t.size, n))
    samp = np.empty_like(gap)
    for i, M in enumerate(Ms):
        for j, seed in enumerate(Ss):
            parts = ParticlePolicy.sample_gaussian(gaussian_policy, M, np.random.default_rng(seed))
            Y = particle_gradient_flow(prims, parts, t, rtol=rtol, atol=atol).y.reshape(t.size, n, M)
            for k in range(t.size):
                for s in range(n):
                    gap[i, j, k, s] = np.sqrt(w2_empirical_gaussian(Y[k, s], mean[k, s], abs(std[k, s])))
                    samp[i, j, k, s] = np.sqrt(w2_empirical(Y[k, s], ref.quantiles[k, s]))
    res0 = np.array([w2_empirical_gaussian(ref.quantiles[0, s], mean[0, s], abs(std[0, s])) for s in range(n)])
    coords = tuple(f"{c}_{s}" for s in range(n) for c in ("m", "sigma"))
    return FlowComparison(family.label, t, Ms, Ss, coords, theta, rho, gap, samp, defect, normal, tangential,
                          float(np.sqrt(rho[0] @ res0)), float(np.sqrt(rho[0] @ ref.normal_rate ** 2)))


def _quadrature_velocity(prims, n: int) -> Callable[[np.ndarray], np.ndarray]:
    r"""The projected flow by quadrature in :math:`(m_s, \sigma_s)_s`: :math:`\dot\sigma_s = \dot\Sigma_s/(2\sigma_s)`."""
    def velocity(theta: np.ndarray) -> np.ndarray:
        pol = GaussianPolicy.from_coordinates(theta, n, 1)
        dm, dS = gaussian_flow_rhs(prims, pol)
        out = np.empty(2 * n)
        out[0::2] = dm[:, 0]
        out[1::2] = dS[:, 0, 0] / (2 * theta[1::2])
        return out
    return velocity


# ----------------------------------------------------------------------------------------------- scalar LQ
def lq_action_gradient(family, K: np.ndarray, xi: np.ndarray, weights: np.ndarray, x: np.ndarray,
                       a: np.ndarray) -> np.ndarray:
    r""":math:`\nabla_a Q(x, a)` of the policy :math:`a = -Kx + \xi`, :math:`\xi\sim\sum_m w_m\delta_{\xi_m}`, from
    the Poisson equation with :math:`h = x^\top Px + q^\top x + h_0` (module docstring; tau = 0).

    K [m, n], xi [M, m], weights [M], x [N, n], a [N, m] -> [N, m].  Raises RegularityError if K does not stabilise.
    """
    A, B, R = family.A, family.B, family.R
    A_K, _ = closed_loop(family, K, "lq particle flow")
    P = solve_discrete_lyapunov(A_K.T, family.Qc + K.T @ R @ K)
    P = 0.5 * (P + P.T)
    mu = weights @ xi
    q = solve(np.eye(family.n) - A_K.T, 2 * (A_K.T @ P @ B - K.T @ R) @ mu)
    nxt = x @ A.T + a @ B.T
    return 2 * a @ R.T + (2 * nxt @ P + q[None, :]) @ B


def _lq_states(n: int) -> np.ndarray:
    """The states the particle velocities are evaluated at: 0 and +-e_i (sum zero, so the fit decouples)."""
    return np.concatenate([np.zeros((1, n)), np.eye(n), -np.eye(n)])


def _lq_particle_velocity(family, K: np.ndarray, xi: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""(dK/dt, dxi/dt, relative residual) from :math:`\dot a_{jm} = -\nabla_aQ(x_j, a_{jm})` by least squares on
    :math:`\dot a_{jm} = -\dot K x_j + \dot\xi_m`.  With :math:`\sum_j x_j = 0` the normal equations decouple:
    :math:`\dot\xi_m = \frac1J\sum_j\dot a_{jm}`, :math:`-\dot K = \sum_{j,m}(\dot a_{jm} - \dot\xi_m)x_j^\top
    (M\sum_j x_jx_j^\top)^{-1}`."""
    X = _lq_states(family.n)
    J, M = X.shape[0], xi.shape[0]
    a = -(X @ K.T)[:, None, :] + xi[None, :, :]  # [J, M, m]
    v = -lq_action_gradient(family, K, xi, w, np.repeat(X, M, axis=0), a.reshape(J * M, -1)).reshape(a.shape)
    dxi = v.mean(axis=0)
    dev = v - dxi[None]
    minus_dK = np.einsum("jmi,jk->ik", dev, X) @ np.linalg.inv(M * X.T @ X)
    resid = v - (X @ minus_dK.T)[:, None, :] - dxi[None]
    scale = max(float(np.abs(v).max()), np.finfo(float).tiny)
    return -minus_dK, dxi, float(np.abs(resid).max() / scale)


def lq_particle_flow(family, K0: np.ndarray, xi0: np.ndarray, weights: np.ndarray | None, t_eval: np.ndarray,
                     rtol: float = 1e-10, atol: float = 1e-12) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Particle flow of :math:`a = -Kx + \xi_m` under :math:`\dot a = -\nabla_a Q_{\pi_t}` (module docstring).

    K0 [m, n], xi0 [M, m], weights [M] (None: equal).  Returns K [T, m, n], xi [T, M, m] and the largest relative
    residual of the affine fit at the output times (round-off when the flow keeps the form).
    """
    if family.tau > 0:
        raise ParameterError(f"lq particle flow: {family.label} has tau > 0; the entropy term needs the score of the "
                             "particles' law, which an empirical law has not (use tau = 0)")
    K0 = np.atleast_2d(np.asarray(K0, float))
    xi0 = np.asarray(xi0, float).reshape(-1, family.m)
    M = xi0.shape[0]
    w = np.full(M, 1.0 / M) if weights is None else np.asarray(weights, float)
    nk = K0.size

    def unpack(y):
        return y[:nk].reshape(K0.shape), y[nk:].reshape(M, family.m)

    def rhs(_t, y):
        dK, dxi, _ = _lq_particle_velocity(family, *unpack(y), w)
        return np.concatenate([dK.ravel(), dxi.ravel()])

    t = np.asarray(t_eval, float)
    Y = integrate(rhs, np.concatenate([K0.ravel(), xi0.ravel()]), t, rtol, atol)
    Ks = Y[:, :nk].reshape(t.size, *K0.shape)
    xis = Y[:, nk:].reshape(t.size, M, family.m)
    resid = max(_lq_particle_velocity(family, Ks[k], xis[k], w)[2] for k in range(t.size))
    return Ks, xis, resid


def compare_lq_flows(family, K0: float, Sigma0: float, t_eval: np.ndarray, n_particles: Sequence[int] = (16, 64, 256),
                     seeds: Sequence[int] = (0, 1, 2), reference_order: int = 20,
                     velocity: Callable[[float, float], tuple[float, float]] | None = None, rtol: float = 1e-10,
                     atol: float = 1e-12) -> FlowComparison:
    r"""Scalar LQ (n = m = 1, tau = 0): the Gaussian ODE ``velocity(K, Sigma) -> (dK/dt, dSigma/dt)`` (the symbolic
    scalar derivation's, :func:`proofs_checks.flow_claims.lq_projected_velocity`, or a formula under test; None:
    the numeric closed form :func:`otgeom.numeric.lq.flow_velocity`) against the particle flow of
    :math:`a = -Kx + \xi_m`, :math:`\xi_m = \sqrt{\Sigma_0}z_m` i.i.d. (``numpy.random.default_rng(seed)``), and the
    same flow from ``reference_order`` Gauss–Hermite nodes (module docstring).

    Per run: gap² = :math:`W_2^2(\xi, \mathcal N(0, \sigma^2)) + (K_p - K)^2X`, sampling² =
    :math:`W_2^2(\xi, \mathcal N(\hat\alpha, \hat\beta^2)) + (K_p - K_{\mathrm{ref}})^2X`, defect² = normal² +
    tangential², tangential² = :math:`(K_{\mathrm{ref}} - K)^2X + \hat\alpha^2 + (\hat\beta - \sigma)^2`,
    with X the stationary state variance of the Gaussian ODE's policy :math:`(K, \Sigma)` at that time.
    """
    if family.n != 1 or family.m != 1:
        raise ParameterError(f"compare_lq_flows: needs the scalar family (n = m = 1), got n = {family.n}, "
                             f"m = {family.m}")
    if family.tau > 0:
        raise ParameterError(f"compare_lq_flows: {family.label} has tau > 0; the particle flow needs tau = 0")
    t = np.asarray(t_eval, float)
    if not Sigma0 > 0:
        raise PolicyError(f"compare_lq_flows: Sigma0 must be > 0, got {Sigma0!r}")
    sd0 = float(np.sqrt(Sigma0))
    if velocity is None:
        def velocity(K: float, S: float) -> tuple[float, float]:
            dK, dS = flow_velocity(family, np.array([[K]]), np.array([[S]]))
            return float(dK[0, 0]), float(dS[0, 0])

    def rhs(_t, y):
        dK, dS = velocity(float(y[0]), float(y[1]))
        return np.array([float(np.squeeze(dK)), float(np.squeeze(dS))])

    G = integrate(rhs, np.array([float(K0), float(Sigma0)]), t, rtol, atol)
    Kg, Sg = G[:, 0], G[:, 1]
    sg = np.sqrt(np.abs(Sg))
    X = np.array([float(stationary_covariance(family, np.array([[Kg[k]]]), np.array([[abs(Sg[k])]]))[0, 0])
                  for k in range(t.size)])
    # reference: Gauss-Hermite nodes of N(0, Sigma0)
    z, w = np.polynomial.hermite_e.hermegauss(reference_order)
    w = w / w.sum()
    Kr, xr, res_ref = lq_particle_flow(family, np.array([[K0]]), sd0 * z[:, None], w, t, rtol, atol)
    Kr, xr = Kr[:, 0, 0], xr[:, :, 0]
    fit = np.array([_affine_fit(xr[k], z, w) for k in range(t.size)])  # [T, 2]: alpha, beta
    normal = np.sqrt([np.sum(w * (xr[k] - fit[k, 0] - fit[k, 1] * z) ** 2) for k in range(t.size)])
    tang = np.sqrt((Kr - Kg) ** 2 * X + np.array([np.sum(w * (fit[k, 0] + (fit[k, 1] - sg[k]) * z) ** 2)
                                                   for k in range(t.size)]))
    Ms, Ss = tuple(int(M) for M in n_particles), tuple(int(s) for s in seeds)
    gap = np.empty((len(Ms), len(Ss), t.size, 1))
    samp = np.empty_like(gap)
    resid = res_ref
    for i, M in enumerate(Ms):
        for j, seed in enumerate(Ss):
            xi0 = sd0 * np.random.default_rng(seed).standard_normal((M, 1))
            Kp, xp, r = lq_particle_flow(family, np.array([[K0]]), xi0, None, t, rtol, atol)
            resid = max(resid, r)
            for k in range(t.size):
                dg = (Kp[k, 0, 0] - Kg[k]) ** 2 * X[k]
                dr = (Kp[k, 0, 0] - Kr[k]) ** 2 * X[k]
                gap[i, j, k, 0] = np.sqrt(w2_empirical_gaussian(xp[k, :, 0], 0.0, sg[k]) + dg)
                samp[i, j, k, 0] = np.sqrt(w2_empirical_gaussian(xp[k, :, 0], fit[k, 0], abs(fit[k, 1])) + dr)
    return FlowComparison(family.label, t, Ms, Ss, ("K", "Sigma"), G, np.ones((t.size, 1)), gap, samp,
                          np.sqrt(normal ** 2 + tang ** 2)[:, None], normal[:, None], tang[:, None], 0.0,
                          _lq_normal_rate(family, K0, sd0 * z, z, w), resid)


def _lq_normal_rate(family, K0: float, xi: np.ndarray, z: np.ndarray, w: np.ndarray) -> float:
    r""":math:`\|v - \Pi v\|` of the noise velocity at the reference nodes at t = 0 (0 up to round-off: affine)."""
    _, dxi, _ = _lq_particle_velocity(family, np.array([[float(K0)]]), xi[:, None], w)
    al, be = _affine_fit(dxi[:, 0], z, w)
    return float(np.sqrt(np.sum(w * (dxi[:, 0] - al - be * z) ** 2)))
