r"""Stationary law and regularity certificates of a finite chain (THEORY.md section 1, R1-R2).

:func:`stationary_gth` is the Grassmann–Taksar–Heyman elimination (GTH 1985):
subtraction-free, so every component of :math:`\rho` keeps full relative
accuracy even when transition probabilities are 1e-12 (where an eigenvector or
least-squares solve loses the small components).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from math import gcd

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from otgeom.errors import RegularityError

__all__ = ["stationary_gth", "Regularity", "regularity", "closed_classes"]


def closed_classes(P: np.ndarray) -> list[list[int]]:
    """Closed communicating classes of the chain (irreducible iff exactly one, containing every state)."""
    n = P.shape[0]
    k, labels = connected_components(csr_matrix(P > 0), directed=True, connection="strong")
    out = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        leaves = (P[np.ix_(members, np.setdiff1d(np.arange(n), members))] > 0).any()
        if not leaves:
            out.append(members.tolist())
    return out


def _period(P: np.ndarray) -> int:
    """Period of an irreducible chain: gcd of level differences along edges of a BFS tree."""
    n = P.shape[0]
    level = -np.ones(n, dtype=int)
    level[0] = 0
    queue = [0]
    g = 0
    while queue:
        u = queue.pop(0)
        for v in np.flatnonzero(P[u] > 0):
            if level[v] < 0:
                level[v] = level[u] + 1
                queue.append(v)
            else:
                g = gcd(g, abs(int(level[u]) + 1 - int(level[v])))
    return g if g else 1


def stationary_gth(P: np.ndarray) -> np.ndarray:
    """Stationary distribution of an irreducible stochastic matrix P shape=[n, n] by GTH elimination."""
    A = np.array(P, dtype=float)
    n = A.shape[0]
    for k in range(n - 1, 0, -1):
        s = A[k, :k].sum()
        if not s > 0:
            raise RegularityError(f"GTH elimination: state {k} has no transition to states 0..{k - 1} "
                                  "after elimination: the chain is reducible", {"state": k}, assumption="R1")
        A[:k, k] /= s
        A[:k, :k] += np.outer(A[:k, k], A[k, :k])
    x = np.zeros(n)
    x[0] = 1.0
    for k in range(1, n):
        x[k] = x[:k] @ A[:k, k]
    return x / x.sum()


@dataclass(frozen=True)
class Regularity:
    """Certificates of (R1)/(R2) for one chain, reported with every result.

    irreducible, closed_classes, period (aperiodic iff 1), dobrushin
    (:math:`\\delta(P) = \\tfrac12\\max_{s,s'}\\|P(s,\\cdot)-P(s',\\cdot)\\|_1`; < 1 certifies uniform
    ergodicity in one step), min_rho and argmin_rho (R2).
    """

    irreducible: bool
    closed_classes: list
    period: int
    dobrushin: float
    min_rho: float | None
    argmin_rho: int | None

    @property
    def aperiodic(self) -> bool:
        return self.period == 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["aperiodic"] = self.aperiodic
        return d


def regularity(P: np.ndarray, rho: np.ndarray | None = None) -> Regularity:
    classes = closed_classes(P)
    irreducible = len(classes) == 1 and len(classes[0]) == P.shape[0]
    dob = 0.5 * float(np.abs(P[:, None, :] - P[None, :, :]).sum(axis=2).max())
    period = _period(P) if irreducible else 0
    if rho is None:
        return Regularity(irreducible, classes, period, dob, None, None)
    k = int(np.argmin(rho))
    return Regularity(irreducible, classes, period, dob, float(rho[k]), k)
