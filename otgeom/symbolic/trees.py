r"""Spanning in-forests of a directed graph, as monomials in the edge weights.

Markov chain tree theorem (Freidlin–Wentzell; Leighton–Rivest 1986): for an
irreducible chain, :math:`\rho(s) \propto \tau_s = \sum_{T \in \mathcal T_s} \prod_{(u\to v) \in T} P_{uv}`,
the sum over spanning trees directed towards the root s.  All-minors version:
with :math:`L = (I - P)` restricted to the states other than a root :math:`r_0`,

.. math::
    (L^{-1})_{ij} = \frac{1}{\tau_{r_0}} \sum_{F \in \mathcal F_{\{r_0, j\}},\ i \leadsto j} \prod_{(u\to v)\in F} P_{uv},

the sum over spanning forests of two trees rooted at :math:`r_0` and j in which i
lies in j's tree.  Both are polynomials with non-negative coefficients in the
off-diagonal :math:`P_{uv}`: no subtraction, no expression swell, full relative
accuracy when lambdified.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Sequence

__all__ = ["in_forests", "count_forests"]


def in_forests(n: int, roots: Sequence[int], edges: frozenset | None = None) -> Iterator[tuple[int, ...]]:
    """Yield parent maps of spanning in-forests with the given roots.

    A parent map is a tuple ``parent`` of length n with ``parent[r] == -1`` for
    roots; every other node u has the edge ``u -> parent[u]`` (allowed when in
    ``edges``, default: all off-diagonal pairs) and following parents always
    reaches a root.
    """
    roots = tuple(sorted(set(roots)))
    others = [u for u in range(n) if u not in roots]
    choices = [[v for v in range(n) if v != u and (edges is None or (u, v) in edges)] for u in others]
    rootset = set(roots)
    for combo in itertools.product(*choices):
        parent = [-1] * n
        for u, v in zip(others, combo):
            parent[u] = v
        # acyclic: every node reaches a root within n steps
        state = [0] * n  # 0 unknown, 1 reaches a root
        for r in rootset:
            state[r] = 1
        ok = True
        for u in others:
            path = []
            x = u
            while state[x] == 0 and x not in path:
                path.append(x)
                x = parent[x]
            if state[x] != 1:
                ok = False
                break
            for y in path:
                state[y] = 1
        if ok:
            yield tuple(parent)


def count_forests(n: int, roots: Sequence[int]) -> int:
    """Number of spanning in-forests of the complete digraph with the given k roots: k n^(n-k-1)."""
    k = len(set(roots))
    return k * n ** (n - k - 1) if k < n else 1
