r"""Regularity for every policy at once: exact bounds on the kernel entries of a finite family.

For every pair (s, t) the entry :math:`e(a) = p(t\mid s,a)` (parameter values substituted, exact) is
classified by a symbolic argument that holds for **every** action, hence for every policy
:math:`\pi_s` (any probability law on :math:`\mathbb R^d`):

* :math:`e` is free of the action: :math:`e \equiv c`;
* :math:`e = c_0 + c_1 E(a)` with one bump :math:`E = e^{g(a)}`, g a quadratic with negative definite
  Hessian (the form of ``switch2`` and ``modulated``): E takes every value in :math:`(0, E_{\max}]`,
  :math:`E_{\max} = e^{\max g}`, so :math:`\inf_a e = \min(c_0, c_0 + c_1 E_{\max})` and
  :math:`e > 0` for every a iff :math:`c_0 \ge 0` and :math:`c_0 + c_1E_{\max} > 0`;
* anything else is *undecided* (the entry is named; numeric certificates at a policy still apply).

From the entries, three graphs on the states: **always** (e(a) > 0 for every a, hence
:math:`P_\pi(s,t) > 0` for every policy), **possible** (e not identically 0, hence
:math:`P_\pi(s,t) > 0` for some policy) and the exact lower bounds :math:`L(s,t) = \inf_a e`, with
:math:`P_\pi \ge L` entrywise for every policy.  Consequences, for every policy:

* always-graph irreducible (aperiodic) :math:`\Rightarrow` every :math:`P_\pi` irreducible (aperiodic);
* possible-graph with several closed classes, or transient states, or periodic :math:`\Rightarrow` every
  :math:`P_\pi` has them too (its support is a subgraph);
* :math:`\varepsilon_k = \sum_t \min_s L^k(s,t) > 0 \Rightarrow` the uniform Doeblin bound
  :math:`\|P_\pi^t(s,\cdot)-\rho_\pi\|_{TV} \le (1-\varepsilon_k)^{\lfloor t/k\rfloor}` and
  :math:`\rho_\pi(t) \ge \min_s L^k(s,t)` (from :math:`\rho = \rho P^k \ge \rho L^k`).

For ``modulated`` this is the structural argument of its docstring: :math:`P_\pi \ge (1-q_s)M`
entrywise, so M irreducible and every :math:`q_s < 1` make every controlled chain irreducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["EntryBound", "KernelStructure", "kernel_structure", "structural_certificates"]


@dataclass(frozen=True)
class EntryBound:
    """What is known about p(t|s,a) for every a: ``lower`` = inf_a (exact, None if undecided),
    ``always`` (> 0 for every a; None if undecided), ``possible`` (not identically 0)."""

    lower: sp.Expr | None
    always: bool | None
    possible: bool
    how: str
    #: an upper bound of sup_a |grad_a p(t|s,a)| (0 for a constant; |c1| E_max sqrt(2 lambda_max(H) / e) for
    #: c0 + c1 E with E = E_max exp(-(a-c)^T H (a-c)), attained); None when undecided
    slope_sup: float | None = None


def _entry_bound(e: sp.Expr, action: tuple) -> EntryBound:
    act = set(action)
    if not e.free_symbols & act:
        c = sp.nsimplify(e) if not e.is_Rational else e
        return EntryBound(c, bool(c > 0), bool(c != 0), "constant", 0.0)
    if sp.expand(e) == 0:
        return EntryBound(sp.Integer(0), False, False, "identically 0", 0.0)
    bumps = [x for x in e.atoms(sp.exp) if x.free_symbols & act]
    if len(bumps) == 1:
        E = bumps[0]
        z = sp.Dummy("E")
        lin = sp.expand(e.xreplace({E: z}))
        if not lin.free_symbols & act:
            try:
                poly = sp.Poly(lin, z)
            except sp.PolynomialError:
                poly = None
            if poly is not None and poly.degree() <= 1:
                g = sp.expand(E.args[0])
                try:
                    gp = sp.Poly(g, *action)
                except sp.PolynomialError:
                    gp = None
                if gp is not None and gp.total_degree() == 2 and all(c.is_number for c in gp.coeffs()):
                    Hs = sp.hessian(g, action)
                    if Hs.is_negative_definite:
                        # the gradient of a quadratic is affine: one linear solve gives the maximiser
                        sol = sp.linsolve([sp.diff(g, x) for x in action], list(action))
                        crit = dict(zip(action, next(iter(sol))))
                        emax = sp.exp(g.xreplace(crit))
                        c1, c0 = (poly.all_coeffs() + [0])[:2] if poly.degree() == 1 else (0, poly.all_coeffs()[0])
                        c0, c1 = sp.nsimplify(c0), sp.nsimplify(c1)
                        top = c0 + c1 * emax
                        lower = sp.Min(c0, top)
                        always = bool(c0 >= 0) and bool(top > 0)
                        lam = float(-np.linalg.eigvalsh(np.array(Hs.tolist(), dtype=float)).min() / 2)
                        slope = float(abs(c1) * emax) * float(np.sqrt(2 * lam / np.e))
                        return EntryBound(lower, always, True, "one Gaussian bump E in (0, E_max]: affine in E", slope)
    return EntryBound(None, None, True, "undecided (not constant, not affine in one Gaussian bump)")


@dataclass(frozen=True)
class KernelStructure:
    """The entry bounds of a finite family's kernel (parameter values substituted)."""

    bounds: tuple[tuple[EntryBound, ...], ...]

    @property
    def n(self) -> int:
        return len(self.bounds)

    def graph(self, which: str) -> np.ndarray:
        """Boolean adjacency of ``always`` (None counts as False) or ``possible``."""
        return np.array([[bool(getattr(b, which)) for b in row] for row in self.bounds])

    @property
    def undecided(self) -> list[tuple[int, int]]:
        return [(s, t) for s, row in enumerate(self.bounds) for t, b in enumerate(row) if b.always is None]

    def tv_lipschitz(self) -> list[float] | None:
        """Per state, an upper bound of the TV Lipschitz constant 1/2 sum_t sup_a |grad_a p(t|s,a)| (None when an
        entry is undecided)."""
        if self.undecided:
            return None
        return [0.5 * sum(b.slope_sup for b in row) for row in self.bounds]

    def lower_matrix(self) -> np.ndarray | None:
        """L(s, t) = inf_a p(t|s,a) as floats, or None when some entry is undecided."""
        if self.undecided:
            return None
        return np.array([[float(b.lower) for b in row] for row in self.bounds])


def kernel_structure(family) -> KernelStructure:
    """Entry bounds of ``family.kernel`` (cached on the family: the expressions and values never change)."""
    cached = family.__dict__.get("_kernel_structure")
    if cached is None:
        n = family.n_states
        cached = KernelStructure(tuple(tuple(_entry_bound(family.kernel_at(s, t), family.action) for t in range(n))
                                       for s in range(n)))
        object.__setattr__(family, "_kernel_structure", cached)
    return cached


def structural_certificates(family):
    """Certificates that hold for every policy (scope ``"every policy"``), from :func:`kernel_structure`."""
    from otgeom.numeric.certificates import Certificate, Certificates, chain_certificates

    ks = kernel_structure(family)
    n = ks.n
    out: list[Certificate] = []
    how = "symbolic bounds on every kernel entry (otgeom.symbolic.structure)"
    always, possible = ks.graph("always").astype(float), ks.graph("possible").astype(float)
    pos = chain_certificates(possible / possible.sum(axis=1, keepdims=True), scope="every policy")
    alw_rows = always.sum(axis=1)
    alw = chain_certificates(always / np.where(alw_rows > 0, alw_rows, 1)[:, None], scope="every policy") \
        if (alw_rows > 0).all() else None
    undecided = ks.undecided
    und_text = f" (entries {undecided} undecided)" if undecided else ""
    for name in ("unique-stationary", "irreducible", "aperiodic"):
        if pos[name].holds is False:  # the support of every P_pi lies in the possible graph
            c = pos[name]
            stmt = c.statement
            if name == "irreducible":  # in a sparser chain these states may close up, but never join the rest
                stmt = (f"P_pi is not irreducible: even with every possible transition, states "
                        f"{c.witness['transient']} are outside the closed class" if c.witness["transient"] else
                        "P_pi is not irreducible: the possible transitions already split the states")
            out.append(Certificate(name, c.assumption, False, c.value,
                                   "for every policy: " + stmt + " (the transitions that are possible at all "
                                   "already show it)", "every policy", how, c.witness))
        elif alw is not None and alw[name].holds:
            c = alw[name]
            out.append(Certificate(name, c.assumption, True, c.value,
                                   "for every policy: " + c.statement + " (the transitions with p(t|s,a) > 0 for "
                                   "every a already show it)", "every policy", how, c.witness))
    L = ks.lower_matrix()
    if L is not None and (L.sum(axis=1) > 0).all():
        Lk = L.copy()
        for k in range(1, n + 1):
            col = Lk.min(axis=0)
            if col.sum() > 0:
                eps = float(col.sum())
                out.append(Certificate(
                    "doeblin", "R1", True, eps,
                    f"for every policy: P_pi^{k}(s,.) >= L^{k}(s,.) >= {eps:.6g} nu(.), so ||P_pi^t(s,.) - rho_pi||_TV "
                    f"<= (1 - {eps:.4g})^floor(t/{k}) (L(s,t) = inf_a p(t|s,a), exact)", "every policy", how,
                    {"k": k, "L": L}))
                if (col > 0).all():
                    out.append(Certificate(
                        "positive-rho", "R2", True, float(col.min()),
                        f"for every policy: rho_pi(t) >= min_s L^{k}(s,t) >= {col.min():.6g} (rho = rho P^{k} >= "
                        f"rho L^{k})", "every policy", how, {"k": k, "state": int(np.argmin(col))}))
                break
            Lk = Lk @ L
    if not out and undecided:
        out.append(Certificate("structure", "R1", None, None, "no statement for every policy" + und_text,
                               "every policy", how, {"undecided": undecided}))
    return Certificates(tuple(out))
