r"""The scalar LQ family as a finite-state chain on a grid (THEORY.md section 6), for the generic machinery.

Grid points :math:`x_i = -L + ih`, i = 0..N-1, :math:`h = 2L/(N-1)`; cell i is
:math:`[x_i - h/2, x_i + h/2)`, the end cells extended to :math:`\pm\infty` so every row is a
probability vector exactly.  From :math:`x_i` under action a the next state is the cell of
:math:`Ax_i + Ba + w`, :math:`w\sim\mathcal N(0,W)`:

.. math::
    p(j\mid i, a) = \Phi\Big(\frac{e_{j+1} - Ax_i - Ba}{\sqrt W}\Big) - \Phi\Big(\frac{e_j - Ax_i - Ba}{\sqrt W}\Big),
    \qquad c(i, a) = Q_c x_i^2 + R a^2,

and each grid state carries the action law :math:`\mathcal N(-Kx_i, \Sigma)` (Gauss-Hermite nodes, order 20).
As a function of the standardised action z the cell probabilities are differences of normal CDFs of width
:math:`w = \sqrt W/(|B|\sqrt\Sigma)`; for :math:`w \ge 2` Gauss–Hermite of order 20 integrates such a
smooth step to about 1e-13 (checked against adaptive quadrature in the tests), so the fixed rule is exact to
the grid's own accuracy there; for narrower steps the witness refuses (:class:`~otgeom.errors.NotConvergedError`)
rather than return a number it cannot vouch for.
The chain is then solved by the same code as every finite family
(:func:`otgeom.numeric.chain.evaluate_chain`: GTH, Poisson solve, regularity certificate).  It
snaps the state to the grid each step, which adds variance of order :math:`h^2`; so
:math:`J_{grid} = J + O(h^2) + O(\text{tail beyond } L)` and Richardson extrapolation in h
removes the leading term.  None of the LQ closed forms is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from otgeom.errors import NotConvergedError, ParameterError
from otgeom.numeric.chain import ChainSolution, evaluate_chain
from otgeom.numeric.lq import LQPolicy, gaussian_entropy
from otgeom.numeric.policies import WeightedPoints

__all__ = ["GridPrimitives", "grid_chain", "grid_cost"]


@dataclass(frozen=True)
class GridPrimitives:
    """Duck-typed primitives (``cost``, ``kernel``) of the gridded scalar LQ system."""

    x: np.ndarray
    A: float
    B: float
    Qc: float
    R: float
    W: float

    @property
    def n_states(self) -> int:
        return self.x.shape[0]

    @property
    def action_dim(self) -> int:
        return 1

    def cost(self, s: int, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions, float)[:, 0]
        return self.Qc * self.x[s] ** 2 + self.R * a ** 2

    def kernel(self, s: int, actions: np.ndarray) -> np.ndarray:
        a = np.asarray(actions, float)[:, 0]
        h = self.x[1] - self.x[0]
        edges = np.concatenate([[-np.inf], self.x[:-1] + h / 2, [np.inf]])
        mu = self.A * self.x[s] + self.B * a
        cdf = ndtr((edges[None, :] - mu[:, None]) / np.sqrt(self.W))
        return np.diff(cdf, axis=1)


def grid_chain(family, policy: LQPolicy, n_points: int, half_width: float, order: int = 20) -> ChainSolution:
    """The chain of the gridded scalar system (n = m = 1) under the linear-Gaussian policy."""
    if family.n != 1 or family.m != 1:
        raise ParameterError(f"{family.label}: the grid witness is for the scalar family (n = m = 1), "
                             f"got n = {family.n}, m = {family.m}")
    x = np.linspace(-half_width, half_width, n_points)
    prims = GridPrimitives(x, float(family.A[0, 0]), float(family.B[0, 0]), float(family.Qc[0, 0]),
                           float(family.R[0, 0]), float(family.W[0, 0]))
    k, s2 = float(policy.K[0, 0]), float(policy.Sigma[0, 0])
    if s2 > 0:
        width = np.sqrt(prims.W) / (abs(prims.B) * np.sqrt(s2)) if prims.B != 0 else np.inf
        if width < 2:
            raise NotConvergedError(f"{family.label}: the grid witness's Gauss-Hermite rule (order {order}) cannot "
                                    f"resolve the kernel's steps of width sqrt(W)/(|B| sqrt(Sigma)) = {width:.3g} "
                                    "policy standard deviations (needs >= 2)")
        z, w = np.polynomial.hermite_e.hermegauss(order)
        w = w / w.sum()
    else:
        z, w = np.zeros(1), np.ones(1)
    pts = (-k * x)[:, None] + np.sqrt(s2) * z[None, :]
    wp = WeightedPoints(pts[:, :, None], np.broadcast_to(w, pts.shape).copy())
    return evaluate_chain(prims, wp, f"{family.label} on a {n_points}-point grid")


def grid_cost(family, policy: LQPolicy, n_points: int, half_width: float) -> float:
    """J of the gridded chain (plus the exact entropy term when tau > 0)."""
    J = grid_chain(family, policy, n_points, half_width).J
    if family.tau > 0:
        J -= family.tau * gaussian_entropy(policy.Sigma)
    return J
