r"""The Wasserstein gradient flow of J on a grid family, by steps (THEORY.md sections 3 and 6).

**Particles** (M per grid state, or quantiles in 1-D): every particle moves against the gradient field,

.. math::
    a_{im} \leftarrow a_{im} - \eta\,\nabla_a Q_{\pi}(x_i, a_{im}),

each step rebuilding :math:`P_\pi, r_\pi` from the particles and solving for :math:`\rho, h`
(:func:`otgeom.numeric.grid.grid_chain`).  **Gaussian per state** (the derived projected flow, closed form on
families with a drift affine in a): :math:`m_i \leftarrow m_i - \eta\,\mathbb E[\partial_a Q]`,
:math:`s_i \leftarrow s_i(1 - \eta\,\mathbb E[\partial_a^2 Q])`.

Step-size rule (explicit steps): :math:`\eta = \min(\eta_{max}, \tfrac12 / \kappa)` with
:math:`\kappa = \max_{i,m} (\nabla_a^2 Q)_+` the largest local curvature, capped at four times the last accepted step, then Armijo backtracking on the
exact J (:math:`J_{new} \le J - \tfrac12\eta\,\|\mathrm{grad}\,J\|_g^2`, halving :math:`\eta`); the step is
accepted only then, so **J decreases monotonically** along the computed flow whatever the curvature rule
misses (the transport part of the Hessian).  A trial step whose chain fails a regularity check (a state's
:math:`\rho` below the solver's resolution) is rejected like one that does not decrease J.  The g-norm is
:math:`\|\mathrm{grad}\,J\|_g^2 = \sum_i \rho_i \sum_m w_{im} |\nabla_a Q(x_i, a_{im})|^2` (Gaussian:
:math:`\sum_i\rho_i(\mathbb E[\partial_aQ]^2 + s_i^2\mathbb E[\partial_a^2Q]^2)`).

Implicit option (particles): the proximal (JKO-type) step with Q frozen at the current policy,
:math:`a^+ = \arg\min_b Q_\pi(x_i, b) + |b - a|^2/(2\eta)`, solved per particle by safeguarded Newton on
:math:`\partial_a Q(b) + (b - a)/\eta = 0`; it is stable for steps the explicit rule must refuse where Q is
stiff.

The implicit step starts from :math:`\eta_{max}` (as :math:`\eta\to\infty` it becomes policy
improvement, :math:`a^+ = \arg\min_b Q_\pi`) and is accepted when it passes the proximal decrease test
:math:`J_{new} \le J - \tfrac1{2\eta}\sum_i\rho_i\sum_m w_{im}|a^+_{im} - a_{im}|^2`, halving
:math:`\eta` otherwise: J again decreases monotonically.

Stopping: :math:`\|\mathrm{grad}\,J\|_g \le` ``tol`` (converged) or ``max_steps`` (not converged, said), or
when no step passes the test: either the decrease it asks for is below the round-off of J (the gradient is
as small as float64 J can resolve), or 60 halvings failed; then the result keeps its history and says why.
A progress bar (tqdm) when stderr is a terminal.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from otgeom.errors import FamilyError, GridWarning, ParameterError, RegularityError
from otgeom.numeric.grid import BOUNDARY_TOLERANCE, GridChain, action_gradient, gaussian_grid_chain, grid_chain, particles_array
from otgeom.numeric.flows import progress_bar
from otgeom.numeric.policies import ParticlePolicy

__all__ = ["GridFlowResult", "particle_flow", "gaussian_flow"]


@dataclass(frozen=True)
class GridFlowResult:
    """History of a flow: J, g-norm of the gradient and step size per step; snapshots of the policy.

    ``snapshots`` maps a step index to the policy then (particles shape=[N, M], or (mean, std)); ``final`` is
    the last policy, ``chain`` its chain; ``converged`` says whether the g-norm fell below ``tol``.
    """

    kind: str
    J: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    times: np.ndarray  # flow time t_k = sum of the accepted step sizes
    snapshots: dict = field(repr=False)
    final: Any = field(repr=False)
    chain: GridChain = field(repr=False)
    converged: bool
    reason: str
    backtracks: int
    seconds: float
    tol: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": int(self.steps.size), "J_initial": float(self.J[0]),
                "J_final": float(self.J[-1]), "grad_norm_initial": float(self.grad_norm[0]),
                "grad_norm_final": float(self.grad_norm[-1]), "tol": self.tol, "converged": self.converged,
                "reason": self.reason, "backtracks": self.backtracks, "seconds": self.seconds,
                "flow_time": float(self.times[-1]),
                "monotone": bool(np.all(np.diff(self.J) <= 0))}


@dataclass
class _State:
    x: Any  # the policy's coordinates
    chain: GridChain
    grad: np.ndarray
    curv: np.ndarray
    gnorm: float


def _descend(evaluate: Callable[[Any], _State], move: Callable[[_State, float], Any], x0: Any, *, kind: str,
             max_steps: int, tol: float, eta_max: float, snapshot: Callable[[Any], Any], snapshot_every: int,
             progress: bool | None, owner: str,
             proximal: Callable[[_State, _State], float] | None = None) -> GridFlowResult:
    t0 = time.perf_counter()
    st = evaluate(x0)
    J, G, etas, times = [st.chain.J], [st.gnorm], [], [0.0]
    snaps = {0: snapshot(st.x)}
    backtracks = 0
    converged, stalled = st.gnorm <= tol, ""
    with progress_bar(max_steps, progress, f"{owner} flow") as bar:
        for k in range(1, max_steps + 1):
            if converged:
                break
            kappa = float(np.max(st.curv, initial=0.0))
            eta = min(eta_max, 0.5 / kappa) if kappa > 0 and proximal is None else eta_max
            if etas:
                eta = min(eta, 4.0 * etas[-1])  # at most 4x the last accepted step: few backtracks
            trial = None
            floor = 8 * np.spacing(abs(st.chain.J))
            for attempt in range(60):
                with warnings.catch_warnings():  # a rejected trial's boundary mass is not the flow's
                    warnings.simplefilter("ignore", GridWarning)
                    try:
                        trial = evaluate(move(st, eta))
                    except (RegularityError, FamilyError, ParameterError):
                        trial = None  # the step went too far (a rho underflows, the drift leaves its range): shorter
                if trial is not None:
                    decrease = 0.5 * eta * st.gnorm ** 2 if proximal is None else 0.5 * proximal(st, trial) / eta
                    if trial.chain.J <= st.chain.J - decrease:
                        break
                    if attempt == 0 and decrease <= floor:
                        stalled = (f"stopped at the round-off floor at step {k}: the decrease the step test asks for "
                                   f"({decrease:.2g}) is below the round-off of J ({floor:.2g}): J cannot resolve a "
                                   f"smaller gradient (g-norm {st.gnorm:.3g}); ask for tol >= about this g-norm")
                        break
                eta *= 0.5
                backtracks += 1
                trial = None
            else:
                stalled = (f"stopped at step {k}: no step size down to {eta:.3g} decreases J ({st.chain.J:.17g}); the "
                           f"gradient g-norm is {st.gnorm:.3g}")
            if stalled:
                break
            st = trial
            J.append(st.chain.J)
            G.append(st.gnorm)
            etas.append(eta)
            times.append(times[-1] + eta)
            if k % snapshot_every == 0:
                snaps[k] = snapshot(st.x)
            bar.update(1)
            bar.set_postfix(J=f"{st.chain.J:.6g}", grad=f"{st.gnorm:.2e}", refresh=False)
            converged = st.gnorm <= tol
    last = len(etas)
    snaps[last] = snapshot(st.x)
    if st.chain.certificates["boundary_mass"] > BOUNDARY_TOLERANCE:
        warnings.warn(GridWarning(f"{owner}: the flow's final policy sends {st.chain.certificates['boundary_mass']:.3g}"
                                  f" of the stationary step mass out of the domain (tolerance {BOUNDARY_TOLERANCE:g}): "
                                  "the boundary rule, not the dynamics, shapes its optimum; widen the grid"),
                      stacklevel=3)
    reason = (f"g-norm of the gradient {st.gnorm:.3g} <= tol {tol:g} after {last} steps" if converged else
              stalled if stalled else
              f"stopped after max_steps = {max_steps} with g-norm {st.gnorm:.3g} > tol {tol:g}")
    return GridFlowResult(kind, np.array(J), np.array(G), np.array(etas), np.array(times), snaps, snapshot(st.x),
                          st.chain, bool(converged), reason, backtracks, time.perf_counter() - t0, tol)


def particle_flow(fam, policy: ParticlePolicy, *, max_steps: int = 500, tol: float = 1e-6, eta_max: float = 10.0,
                  implicit: bool = False, newton_steps: int = 6, snapshot_every: int = 10,
                  progress: bool | None = None) -> GridFlowResult:
    r"""The particle Wasserstein gradient flow of J on a grid family (see the module docstring).

    ``policy`` is a :class:`~otgeom.numeric.policies.ParticlePolicy` (or QuantilePolicy) with one row of M
    particles per grid state; weights stay fixed, particles move.
    """
    _, w = particles_array(policy, fam.n_states)
    N, M = w.shape
    states = np.repeat(np.arange(N), M)

    def evaluate(A: np.ndarray) -> _State:
        chain = grid_chain(fam, ParticlePolicy(A[:, :, None], w), order=2)
        g, H = action_gradient(fam, chain, order=2)
        gnorm = float(np.sqrt(np.sum(np.repeat(chain.rho, M) * w.ravel() * g * g)))
        return _State(A, chain, g.reshape(N, M), H.reshape(N, M), gnorm)

    def move(st: _State, eta: float) -> np.ndarray:
        if not implicit:
            return st.x - eta * st.grad
        a = st.x.ravel()
        b = a - eta * st.grad.ravel()
        for _ in range(newton_steps):
            g, H = action_gradient(fam, st.chain, states, b, order=2)
            F = g + (b - a) / eta
            D = np.maximum(H + 1.0 / eta, 0.5 / eta)  # safeguard: never a step uphill of the proximal objective
            b = b - F / D
        return b.reshape(N, M)

    def displacement2(st: _State, trial: _State) -> float:
        r""":math:`\sum_i\rho_i\sum_m w_{im}|a^+_{im} - a_{im}|^2`, the squared g-length of the step."""
        return float(np.sum(st.chain.rho[:, None] * w * (trial.x - st.x) ** 2))

    A0, _ = particles_array(policy, N)
    return _descend(evaluate, move, A0.copy(), kind="particles" + (" (implicit)" if implicit else ""),
                    max_steps=max_steps, tol=tol, eta_max=eta_max, snapshot=lambda A: A.copy(),
                    snapshot_every=snapshot_every, progress=progress, owner=fam.label,
                    proximal=displacement2 if implicit else None)


def gaussian_flow(fam, mean: np.ndarray, std: np.ndarray, *, max_steps: int = 500, tol: float = 1e-6,
                  eta_max: float = 10.0, snapshot_every: int = 10, progress: bool | None = None) -> GridFlowResult:
    r"""The Gaussian-projected flow per grid state, from the derived closed-form expectations
    (:func:`otgeom.numeric.grid.gaussian_grid_chain`)."""

    def evaluate(x) -> _State:
        m, s = x
        chain, E1, E2 = gaussian_grid_chain(fam, m, s)
        gnorm = float(np.sqrt(np.sum(chain.rho * (E1 ** 2 + (s * E2) ** 2))))
        return _State(x, chain, np.stack([E1, s * E2]), E2, gnorm)

    def move(st: _State, eta: float):
        m, s = st.x
        return m - eta * st.grad[0], s * (1.0 - eta * st.curv)

    return _descend(evaluate, move, (np.asarray(mean, float).copy(), np.asarray(std, float).copy()),
                    kind="gaussian", max_steps=max_steps, tol=tol, eta_max=eta_max,
                    snapshot=lambda x: (x[0].copy(), x[1].copy()), snapshot_every=snapshot_every,
                    progress=progress, owner=fam.label)
