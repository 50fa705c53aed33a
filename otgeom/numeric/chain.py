r"""The controlled chain from its definition, on weighted points (THEORY.md section 1).

.. math::
    P_\pi(s,s') = \sum_i w_{si}\, p(s'\mid s, a_{si}),\qquad r_\pi(s) = \sum_i w_{si}\, c(s, a_{si}),

:math:`\rho` by GTH elimination, :math:`J = \rho^\top r`, and h from one linear solve

.. math::
    (I - P + \mathbf 1\rho^\top)\, h = r - J\mathbf 1 \quad\Rightarrow\quad (I-P)h = r - J\mathbf 1,\ \rho^\top h = 0,

then :math:`Q(s,a) = c(s,a) + \sum_{s'} p(s'\mid s,a) h(s') - J` evaluated pointwise from the
family's primitives.  Assumptions checked, not assumed: (R1) irreducibility
(a reducible chain raises :class:`~otgeom.errors.RegularityError` naming the closed
classes) and (R2) :math:`\rho(s) > 0` for every s (an underflowed state is named).
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy.linalg import solve

from otgeom.errors import RegularityError
from otgeom.numeric.policies import WeightedPoints, weighted_sum
from otgeom.numeric.stationary import Regularity, regularity, stationary_gth

__all__ = ["ChainSolution", "solve_chain", "track_condition", "record_condition", "chain_matrices", "check_classes", "evaluate_chain", "action_value", "action_value_grad",
           "action_value_hess", "gradient_field"]


@dataclass(frozen=True)
class ChainSolution:
    """P shape=[n, n], r shape=[n], rho shape=[n], J float, h shape=[n] (rho . h = 0), regularity."""

    P: np.ndarray
    r: np.ndarray
    rho: np.ndarray
    J: float
    h: np.ndarray
    regularity: Regularity


def solve_chain(P: np.ndarray, r: np.ndarray, owner: str = "chain") -> ChainSolution:
    """rho, J and h of the chain (P, r), with the regularity certificate."""
    P = np.asarray(P, float)
    r = np.asarray(r, float)
    reg = regularity(P)
    check_classes(reg.closed_classes, P.shape[0], owner)
    rho = stationary_gth(P)
    reg = regularity(P, rho)
    if not reg.min_rho > 0:
        raise RegularityError(
            f"{owner}: rho({reg.argmin_rho}) = {reg.min_rho:g} (R2 fails): the metric is degenerate at state "
            f"{reg.argmin_rho}", {"state": reg.argmin_rho, "rho": reg.min_rho}, assumption="R2",
        )
    J = float(rho @ r)
    n = P.shape[0]
    A = np.eye(n) - P + np.outer(np.ones(n), rho)
    h = solve(A, r - J)
    record_condition(A, h)
    return ChainSolution(P, r, rho, J, h, reg)


_CONDITION: contextvars.ContextVar[list | None] = contextvars.ContextVar("otgeom_chain_condition", default=None)


@contextlib.contextmanager
def track_condition() -> Iterator[list]:
    r"""Record the condition number of every Poisson system solved inside the block (by :func:`solve_chain`).

    Yields a list that holds, once a chain was solved, the largest :math:`\kappa = \kappa_2(I - P + \mathbf
    1\rho^\top)` seen and the largest :math:`\kappa\max(1, \|h\|_\infty)`.  :meth:`otgeom.claims.Claim.run`
    uses them to say ``inconclusive`` when floating point alone could exceed a claim's tolerance: :math:`\kappa u`
    for a relative one, :math:`\kappa u\max(1, \|h\|)` for an absolute one."""
    box: list = []
    token = _CONDITION.set(box)
    try:
        yield box
    finally:
        _CONDITION.reset(token)


def record_condition(A: np.ndarray, h: np.ndarray) -> None:
    box = _CONDITION.get()
    if box is None:
        return
    kappa = float(np.linalg.cond(A))
    scaled = kappa * max(1.0, float(np.abs(h).max()))
    if not box:
        box.extend([kappa, scaled])
    else:
        box[0] = kappa if not kappa <= box[0] else box[0]
        box[1] = scaled if not scaled <= box[1] else box[1]


def check_classes(classes: list[list[int]], n: int, owner: str) -> None:
    """Raise :class:`RegularityError` unless the chain has one closed class holding every state (R1, R2)."""
    if len(classes) == 1 and len(classes[0]) == n:
        return
    if len(classes) == 1:
        closed = set(classes[0])
        transient = [s for s in range(n) if s not in closed]
        shown = transient if len(transient) <= 20 else transient[:20] + ["..."]
        raise RegularityError(
            f"{owner}: rho({transient[0]}) = 0 (R2 fails): state(s) {shown} are transient (the only closed class "
            f"is {_states(sorted(closed))}), so the metric g is degenerate there: every tangent vector supported on "
            f"state {transient[0]} has norm 0 and the gradient is not unique",
            {"state": transient[0], "rho": 0.0, "transient": transient, "closed_classes": classes},
            assumption="R2", decided=True,
        )
    raise RegularityError(
        f"{owner}: the controlled chain is reducible (R1 fails): closed classes "
        f"{[_states(c) for c in classes[:10]]}{' ...' if len(classes) > 10 else ''}; the stationary law is not unique",
        {"closed_classes": classes}, assumption="R1", decided=True,
    )


def _states(c: list[int]) -> list:
    return c if len(c) <= 20 else c[:20] + ["..."]


def chain_matrices(prims, wp: WeightedPoints) -> tuple[np.ndarray, np.ndarray]:
    """P shape=[n, n] and r shape=[n] of a policy given as weighted points per state, without solving the chain."""
    n = prims.n_states
    P = np.stack([weighted_sum(wp.weights[s], prims.kernel(s, wp.points[s])) for s in range(n)])
    r = np.array([weighted_sum(wp.weights[s], prims.cost(s, wp.points[s])) for s in range(n)])
    return P, r


def evaluate_chain(prims, wp: WeightedPoints, owner: str = "chain") -> ChainSolution:
    """The chain of a policy given as weighted points per state (quadrature nodes or particles)."""
    return solve_chain(*chain_matrices(prims, wp), owner)


def action_value(prims, sol: ChainSolution, s: int, A: np.ndarray) -> np.ndarray:
    """Q(s, a) at actions A shape=[N, d] -> shape=[N]."""
    return prims.cost(s, A) + prims.kernel(s, A) @ sol.h - sol.J


def action_value_grad(prims, sol: ChainSolution, s: int, A: np.ndarray) -> np.ndarray:
    r""":math:`\nabla_a Q(s,a) = \nabla_a c + \sum_{s'} \nabla_a p(s'\mid s,a) h(s')`, shape=[N, d]."""
    return prims.cost_grad(s, A) + np.einsum("ntd,t->nd", prims.kernel_grad(s, A), sol.h)


def action_value_hess(prims, sol: ChainSolution, s: int, A: np.ndarray) -> np.ndarray:
    """Action Hessian of Q, shape=[N, d, d]."""
    return prims.cost_hess(s, A) + np.einsum("ntde,t->nde", prims.kernel_hess(s, A), sol.h)


def gradient_field(prims, sol: ChainSolution, wp: WeightedPoints) -> np.ndarray:
    r"""The Wasserstein gradient :math:`\mathrm{grad}\,J(s,a) = \nabla_a Q(s,a)` at every point, shape=[n, N, d]."""
    return np.stack([action_value_grad(prims, sol, s, wp.points[s]) for s in range(wp.n_states)])
