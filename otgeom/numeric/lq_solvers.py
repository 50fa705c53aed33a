r"""Solvers on the LQ family (THEORY.md section 5), each returning its whole error history.

* :func:`gradient_flow` -- the Wasserstein gradient flow in continuous time,
  :math:`\dot K = -2E_K`, :math:`\dot\Sigma = -2(M\Sigma + \Sigma M) + 2\tau I`, integrated by DOP853.
* :func:`natural_gradient` -- its Euler discretisation :math:`K \leftarrow K - 2\eta E_K`
  (Fazel et al. 2018's natural policy gradient); predicted linear rate of :math:`\|K - K^*\|`:
  :math:`\max_i|1 - 2\eta\mu_i(M^*)|`.
* :func:`hewer` -- the Gauss-Newton step :math:`K \leftarrow K - M^{-1}E_K = M^{-1}B^\top PA`
  (Hewer 1971 policy iteration), quadratically convergent.
* :func:`riemannian_newton` -- the exact Riemannian Newton step with the Levi-Civita Hessian of
  :math:`g_K`: solve :math:`\mathrm{Hess}\,J(\eta,\cdot) = -dJ`; where the Hessian is not positive
  definite the step falls back to Gauss-Newton (reported per step).

The K-dynamics do not depend on Σ (:math:`E_K` involves P only), so the discrete solvers act on K
with Σ fixed; with tau > 0 they finish with the exact Σ-minimiser :math:`\tfrac\tau2 M_K^{-1}`.
Errors are measured against :func:`~otgeom.numeric.lq.lq_optimum` (scipy's DARE).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from otgeom.errors import ParameterError, RegularityError
from otgeom.numeric.flows import integrate
from otgeom.numeric.lq import (LQOptimum, LQPolicy, flow_velocity, gain_point, lq_optimum, lq_point,
                               riemannian_hessian_matrix_K, riemannian_hessian_vector_K)

__all__ = ["IterationHistory", "gradient_flow", "natural_gradient", "hewer", "riemannian_newton",
           "stabilising_gain", "linear_rate", "convergence_order"]


@dataclass(frozen=True)
class IterationHistory:
    """What a solver did: per-iterate J, the optimality gap and the relative gain error.

    ``gap[k] = (J_k - J^*) / |J^*|``, ``K_error[k] = |K_k - K^*|_F / |K^*|_F``;
    ``steps[k]`` names the step taken from iterate k (e.g. ``newton``, ``gauss-newton fallback``).
    """

    method: str
    K: np.ndarray
    Sigma: np.ndarray
    J: np.ndarray
    gap: np.ndarray
    K_error: np.ndarray
    steps: tuple[str, ...] = ()
    t: np.ndarray | None = None
    converged: bool = False
    details: dict = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return len(self.J) - 1


def stabilising_gain(family) -> np.ndarray:
    r"""A stabilising initial gain: the example's ``K0``, 0 if A is stable, else the LQR gain of (A, B, I, 100 R).

    The last is the optimal gain of a *different* problem (more expensive actions), so starting
    from it tests convergence, not a copy of the answer.
    """
    if family.K0 is not None:
        return family.K0.copy()
    if np.abs(np.linalg.eigvals(family.A)).max() < 1:
        return np.zeros((family.m, family.n))
    from scipy.linalg import solve_discrete_are

    R = 100 * family.R
    P = solve_discrete_are(family.A, family.B, np.eye(family.n), R)
    return np.linalg.solve(R + family.B.T @ P @ family.B, family.B.T @ P @ family.A)


def _history(method, family, opt: LQOptimum, Ks, Sigmas=None, steps=(), t=None, tol=None, details=None):
    """Assemble the history; ``Sigmas`` defaults to the exact Sigma-minimiser at each iterate (tau/2 M_K^{-1} or 0)."""
    if Sigmas is None:
        Sigmas = [_finish_sigma(family, K) for K in Ks]
    Js = np.array([lq_point(family, LQPolicy(K, S)).J for K, S in zip(Ks, Sigmas)])
    gap = (Js - opt.J) / max(abs(opt.J), 1e-300)
    kerr = np.array([np.linalg.norm(K - opt.K) for K in Ks]) / max(np.linalg.norm(opt.K), 1e-300)
    conv = bool(tol is not None and abs(gap[-1]) <= tol)
    return IterationHistory(method, Ks[-1], Sigmas[-1], Js, gap, kerr, tuple(steps), t, conv, details or {})


def _start(family, K0, Sigma0):
    K0 = stabilising_gain(family) if K0 is None else np.atleast_2d(np.asarray(K0, float))
    if Sigma0 is None:
        Sigma0 = (0.5 * family.tau * np.eye(family.m)) if family.tau > 0 else np.zeros((family.m, family.m))
    pol = LQPolicy(K0, Sigma0)
    lq_point(family, pol)  # shapes, stability of K0: clear errors before any iteration
    return pol


def gradient_flow(family, K0=None, Sigma0=None, t_end: float | None = None, n_eval: int = 200,
                  progress: bool = False, velocity=flow_velocity) -> IterationHistory:
    r"""Integrate :math:`\dot K = -2E_K,\ \dot\Sigma = -2(M\Sigma+\Sigma M) + 2\tau I` (DOP853, rtol 1e-10).

    Default horizon: :math:`t_{end} = 12/\mu_{\min}(M^*)`, i.e. :math:`e^{-24}\approx 4\cdot10^{-11}`
    of the initial K error by the linear rate :math:`2\mu_{\min}` (see
    :func:`~otgeom.numeric.lq.hessian_spectrum_at_optimum`).  Σ is integrated through its
    symmetric entries; with tau = 0 it decays to 0 (the optimum is deterministic).
    ``velocity(family, K, Sigma) -> (dK, dSigma)`` is the field integrated (default: the theory's
    :func:`~otgeom.numeric.lq.flow_velocity`; the claim suite passes its mutants here).
    """
    pol = _start(family, K0, Sigma0)
    opt = lq_optimum(family)
    m, n = family.m, family.n
    mu_min = float(np.linalg.eigvalsh(opt.M).min())
    t_end = 12.0 / mu_min if t_end is None else float(t_end)

    def rhs(_, y):
        dK, dS = velocity(family, y[:m * n].reshape(m, n), y[m * n:].reshape(m, m))
        return np.concatenate([np.asarray(dK, float).ravel(), np.asarray(dS, float).ravel()])

    t = np.linspace(0.0, t_end, n_eval)
    Y = integrate(rhs, np.concatenate([pol.K.ravel(), pol.Sigma.ravel()]), t, progress=progress)
    Ks = Y[:, :m * n].reshape(-1, m, n)
    Ss = Y[:, m * n:].reshape(-1, m, m)
    Ss = np.stack([_psd(S) for S in Ss])  # symmetric PSD up to round-off (the exact flow keeps it so)
    return _history("gradient-flow", family, opt, list(Ks), list(Ss), ["flow"] * (len(Ks) - 1), t=t, tol=1e-8,
                    details={"t_end": t_end, "mu_min": mu_min, "predicted_K_rate": 2 * mu_min})


def _psd(S: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return (V * np.maximum(w, 0)) @ V.T


def _finish_sigma(family, K):
    """The exact Sigma-minimiser at K: tau/2 M_K^{-1} if tau > 0, else 0."""
    if family.tau == 0:
        return np.zeros((family.m, family.m))
    return 0.5 * family.tau * np.linalg.inv(gain_point(family, K).M)


def natural_gradient(family, K0=None, step: float | None = None, tol: float = 1e-12,
                     max_iter: int = 10000) -> IterationHistory:
    r"""Euler steps of the flow in K: :math:`K \leftarrow K - 2\eta E_K` (Σ fixed at its minimiser).

    Default step :math:`\eta = 1/(2\|M_{K_0}\|_2)`.  The history's details carry the predicted linear
    rate of :math:`\|K - K^*\|`, :math:`\max_i |1 - 2\eta\mu_i(M^*)|`, for comparison with the measured one.
    """
    pol = _start(family, K0, None)
    opt = lq_optimum(family)
    K = pol.K
    eta = 1.0 / (2 * np.linalg.norm(gain_point(family, K).M, 2)) if step is None else float(step)
    Ks = [K]
    for _ in range(max_iter):
        pt = gain_point(family, K)
        K = K - 2 * eta * pt.E
        Ks.append(K)
        if np.linalg.norm(K - opt.K) <= tol * max(1.0, np.linalg.norm(opt.K)):
            break
    mu = np.linalg.eigvalsh(opt.M)
    predicted = float(np.abs(1 - 2 * eta * mu).max())
    return _history("natural-gradient", family, opt, Ks, None, ["euler"] * (len(Ks) - 1), tol=1e-8,
                    details={"step": eta, "predicted_K_rate": predicted})


def hewer(family, K0=None, tol: float = 1e-13, max_iter: int = 100) -> IterationHistory:
    r"""Gauss-Newton / policy iteration: :math:`K \leftarrow K - M_K^{-1}E_K = M_K^{-1}B^\top P_K A`."""
    pol = _start(family, K0, None)
    opt = lq_optimum(family)
    K = pol.K
    Ks = [K]
    for _ in range(max_iter):
        pt = gain_point(family, K)
        Knew = K - np.linalg.solve(pt.M, pt.E)
        Ks.append(Knew)
        if np.linalg.norm(Knew - K) <= tol * max(1.0, np.linalg.norm(K)):
            break
        K = Knew
    return _history("hewer", family, opt, Ks, None, ["gauss-newton"] * (len(Ks) - 1), tol=1e-8)


def riemannian_newton(family, K0=None, tol: float = 1e-13, max_iter: int = 50, dense_limit: int = 400,
                      progress: bool = False) -> IterationHistory:
    r"""Riemannian Newton in K: solve :math:`\mathrm{Hess}\,J(\eta, V) = -\langle\partial J/\partial K, V\rangle` for all V.

    The Hessian is the Levi-Civita Hessian of :math:`g_K` (Σ fixed); dense for m n <= ``dense_limit``
    (its spectrum decides definiteness), otherwise matrix-free conjugate gradients (negative curvature
    detected by CG breakdown).  An indefinite Hessian, or a step that leaves the stabilising set,
    falls back to the Gauss-Newton step; ``steps`` records which step was taken.  The retraction is
    :math:`K + \eta` (it agrees with the exponential map to second order, enough for quadratic convergence).
    """
    pol = _start(family, K0, None)
    opt = lq_optimum(family)
    K, Sigma = pol.K, _finish_sigma(family, pol.K)
    m, n = K.shape
    Ks, steps = [K], []
    for it in range(max_iter):
        pt = lq_point(family, LQPolicy(K, Sigma))
        g = pt.grad_K
        kind = "newton"
        eta = None
        if m * n <= dense_limit:
            H = riemannian_hessian_matrix_K(pt)
            lam = np.linalg.eigvalsh(H)
            if lam.min() > 1e-12 * max(1.0, abs(lam).max()):
                eta = np.linalg.solve(H, -g.ravel()).reshape(m, n)
        else:
            op = LinearOperator((m * n, m * n), dtype=float,
                                matvec=lambda u: riemannian_hessian_vector_K(pt, u.reshape(m, n)).ravel())
            sol, info = cg(op, -g.ravel(), rtol=1e-12, maxiter=20 * m * n)
            if info == 0 and float(sol @ op.matvec(sol)) > 0:
                eta = sol.reshape(m, n)
        if eta is not None:
            try:
                lq_point(family, LQPolicy(K + eta, Sigma))
            except RegularityError:
                eta = None
                kind = "gauss-newton fallback (Newton step not stabilising)"
        else:
            kind = "gauss-newton fallback (Hessian not positive definite)"
        if eta is None:
            eta = -np.linalg.solve(pt.M, pt.E)
        Knew = K + eta
        Ks.append(Knew)
        steps.append(kind)
        if progress:
            sys.stderr.write(f"\rnewton iteration {it + 1}: |step| = {np.linalg.norm(eta):.3g}")
        if np.linalg.norm(eta) <= tol * max(1.0, np.linalg.norm(K)):
            break
        K = Knew
    if progress:
        sys.stderr.write("\n")
    return _history("riemannian-newton", family, opt, Ks, None, steps, tol=1e-8)


def linear_rate(errors: np.ndarray, floor: float = 1e-11) -> float:
    """Measured linear rate: the geometric mean ratio e[k+1]/e[k] over the last half of the errors above ``floor``."""
    e = np.asarray(errors, float)
    e = e[e > floor]
    if len(e) < 4:
        raise ParameterError("too few iterates above the floor to measure a linear rate")
    tail = e[len(e) // 2:]
    return float(np.exp(np.mean(np.diff(np.log(tail)))))


def convergence_order(errors: np.ndarray, floor: float = 1e-13) -> float:
    """Measured order q from the last three errors above ``floor``: log(e2/e1)/log(e1/e0) (2 for quadratic)."""
    e = np.asarray(errors, float)
    e = e[e > floor]
    if len(e) < 3:
        raise ParameterError("too few iterates above the floor to measure a convergence order")
    e0, e1, e2 = e[-3:]
    return float(np.log(e2 / e1) / np.log(e1 / e0))
