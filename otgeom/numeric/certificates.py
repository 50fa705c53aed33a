r"""Regularity certificates of one controlled chain (THEORY.md section 1, R1-R4), computed, never assumed.

A :class:`Certificate` is one computed fact with the assumption it serves, a verdict
(``holds`` True/False, or None when floating point cannot decide), its number and a
sentence that says what the number implies.  For a finite chain :math:`P` with
stationary law :math:`\rho` (:func:`chain_certificates`):

* ``unique-stationary`` (R1): exactly one closed communicating class (the classes are named);
* ``irreducible`` (R1 and R2): that class holds every state; otherwise the transient states are named;
* ``aperiodic``: the period :math:`d = \gcd\{t : P^t(s,s) > 0\}` of the closed class is 1
  (not needed for :math:`\rho`, needed for :math:`P^t \to \mathbf 1\rho^\top`);
* ``dobrushin``: :math:`\delta(P^k) = \tfrac12\max_{s,s'}\|P^k(s,\cdot)-P^k(s',\cdot)\|_1` for the
  smallest :math:`k \le (n-1)^2+1` (Wielandt's bound) with :math:`\delta < 1`, giving
  :math:`\sup_s\|P^t(s,\cdot)-\rho\|_{TV} \le \delta(P^k)^{\lfloor t/k\rfloor}`;
* ``doeblin``: the minorisation :math:`P^k(s,\cdot) \ge \varepsilon\,\nu` with
  :math:`\varepsilon = \sum_j \min_s P^k(s,j)` (the largest for that k), giving
  :math:`\|P^t(s,\cdot)-\rho\|_{TV} \le (1-\varepsilon)^{\lfloor t/k\rfloor}`;
* ``spectral-gap``: :math:`\gamma = 1 - \max\{|\lambda| : \lambda \ne 1\}` (0 for a periodic chain:
  the asymptotic rate of :math:`P^t \to \mathbf 1\rho^\top` is :math:`1-\gamma`);
* ``positive-rho`` (R2): :math:`\min_s\rho_s` and where, with ``holds=None`` when the value is below
  what the solve resolves (``MIN_RESOLVED_RHO``);
* ``poisson-condition``: :math:`\kappa_2(I - P + \mathbf 1\rho^\top)`, the condition number of the
  system that gives h; :math:`\kappa\,u` (u the unit round-off) bounds the relative error that
  floating point alone can put on h, so a check whose tolerance is below it is ``inconclusive``.

Known answers (tests/test_certificates.py): a cycle of length n has period n and gap 0; the
two-state chain :math:`\begin{psmallmatrix}1-p&p\\q&1-q\end{psmallmatrix}` has
:math:`\delta = |1-p-q|`, gap :math:`1-|1-p-q|`; the lazy walk on a cycle has gap
:math:`\tfrac12(1-\cos(2\pi/n))`; a block-diagonal chain has one closed class per block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["Certificate", "Certificates", "chain_certificates", "MIN_RESOLVED_RHO", "UNIT_ROUNDOFF",
           "mixing_time", "ASSUMPTIONS"]

#: float64 unit round-off
UNIT_ROUNDOFF = 2.0 ** -53
#: below this, a computed rho(s) is not distinguished from 0 by the solve (GTH keeps relative accuracy of
#: every component, but the inputs P are themselves rounded: a component this small is "numerically 0")
MIN_RESOLVED_RHO = 1e-300

#: the regularity assumptions of THEORY.md section 1, and what else a claim may require
ASSUMPTIONS: dict[str, str] = {
    "R1": "unique stationary law (one closed class; in general a Doeblin minorisation)",
    "R2": "rho(s) > 0 for every state (the metric is non-degenerate)",
    "R3": "c, p are C^2 in the action, a -> p(.|s,a) Lipschitz in total variation",
    "R4": "second moments: sum_s rho(s) E|a|^2 < infinity",
    "aperiodic": "P^t -> 1 rho^T (not needed for rho, J, h; needed for convergence of the law)",
    "measurable": "the tangent field x -> grad_a Q(x, .) is jointly measurable (continuous-state families)",
    "continuity": "x -> grad_a Q(x, .) continuous in the state (a sufficient condition for measurability)",
    "conditioning": "float64 resolves h: cond_2(I - P + 1 rho^T) u small (not an assumption of the theory)",
}


@dataclass(frozen=True)
class Certificate:
    """One computed regularity fact.

    ``assumption`` is a key of :data:`ASSUMPTIONS`; ``holds`` is True, False, or None (floating point cannot
    decide); ``scope`` says for which policies it was established: ``"policy"`` (the policy at hand),
    ``"every policy"`` (a structural or symbolic argument over the family), ``"family"`` (a property of c and
    p, independent of the policy); ``method`` how (exact graph search, eigenvalues, symbolic, grid search).
    """

    name: str
    assumption: str
    holds: bool | None
    value: Any
    statement: str
    scope: str = "policy"
    method: str = "numeric"
    witness: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from otgeom.claims import _jsonable

        return {"name": self.name, "assumption": self.assumption, "holds": self.holds, "value": _jsonable(self.value),
                "statement": self.statement, "scope": self.scope, "method": self.method,
                "witness": _jsonable(dict(self.witness))}


@dataclass(frozen=True)
class Certificates:
    """A set of certificates; :meth:`failed` and :meth:`undecided` answer "may this claim run?"."""

    items: tuple[Certificate, ...]

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, name: str) -> Certificate:
        for c in self.items:
            if c.name == name:
                return c
        raise KeyError(name)

    def get(self, name: str) -> Certificate | None:
        return next((c for c in self.items if c.name == name), None)

    def failed(self, assumptions: Iterable[str]) -> list[Certificate]:
        """The certificates that decide one of ``assumptions`` fails."""
        need = set(assumptions)
        return [c for c in self.items if c.assumption in need and c.holds is False]

    def undecided(self, assumptions: Iterable[str]) -> list[Certificate]:
        need = set(assumptions)
        return [c for c in self.items if c.assumption in need and c.holds is None]

    def __add__(self, other: "Certificates") -> "Certificates":
        return Certificates(self.items + other.items)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.items]


def _classes(P: np.ndarray) -> tuple[list[list[int]], list[int]]:
    from otgeom.numeric.stationary import closed_classes

    closed = closed_classes(P)
    inside = {s for c in closed for s in c}
    return closed, [s for s in range(P.shape[0]) if s not in inside]


def _period_of(P: np.ndarray, members: list[int]) -> int:
    from otgeom.numeric.stationary import _period

    sub = P[np.ix_(members, members)]
    return _period(sub)


def mixing_time(rate: float, k: int = 1, eps: float = 0.25) -> float:
    r"""Smallest t with :math:`\text{rate}^{\lfloor t/k\rfloor} \le` eps (inf when rate >= 1)."""
    if not rate < 1:
        return math.inf
    if rate <= 0:
        return float(k)
    return float(k * math.ceil(math.log(eps) / math.log(rate)))


def _dobrushin(P: np.ndarray) -> float:
    return 0.5 * float(np.abs(P[:, None, :] - P[None, :, :]).sum(axis=2).max())


def chain_certificates(P: np.ndarray, rho: np.ndarray | None = None, *, scope: str = "policy") -> Certificates:
    """The certificates of R1, R2, aperiodicity and mixing for one finite chain (see the module docstring)."""
    P = np.asarray(P, float)
    n = P.shape[0]
    closed, transient = _classes(P)
    out: list[Certificate] = []
    unique = len(closed) == 1
    out.append(Certificate(
        "unique-stationary", "R1", unique, len(closed),
        ("one closed class " + str(closed[0]) + ": the stationary law is unique") if unique else
        (f"{len(closed)} closed classes {closed}: every mixture of their stationary laws is stationary, "
         "so rho (and with it the metric, J and the gradient) depends on a choice"),
        scope, "exact graph search (strongly connected components of P > 0)", {"closed_classes": closed}))
    irreducible = unique and not transient
    out.append(Certificate(
        "irreducible", "R2", irreducible, not transient,
        "every state is in the closed class: P is irreducible" if irreducible else
        (f"states {transient} are transient (rho = 0 there): the metric is degenerate and the gradient is not "
         "unique at those states" if transient else "no single closed class"),
        scope, "exact graph search", {"transient": transient}))
    periods = [_period_of(P, c) for c in closed]
    aper = all(p == 1 for p in periods)
    out.append(Certificate(
        "aperiodic", "aperiodic", aper, periods[0] if len(periods) == 1 else periods,
        "period 1: P^t converges to 1 rho^T" if aper else
        (f"period {periods if len(periods) > 1 else periods[0]}: P^t does not converge (it cycles); ergodic "
         "averages (1/T) sum_t P^t still converge to 1 rho^T"),
        scope, "exact (gcd of cycle lengths of the closed classes)", {"periods": periods}))
    # Dobrushin and Doeblin, each on the smallest power that certifies it (a margin above round-off: a
    # permutation's delta computed as 1 - 1e-16 is not a contraction)
    kmax = (n - 1) ** 2 + 1  # Wielandt: an irreducible aperiodic P has P^k > 0 (delta, eps certified) by this k
    margin = 8 * n * UNIT_ROUNDOFF
    Pk = P.copy()
    k_dob = k_eps = None
    dob, eps = _dobrushin(P), float(P.min(axis=0).sum())
    for k in range(1, kmax + 1):
        if k_dob is None:
            d_k = _dobrushin(Pk)
            if d_k < 1 - margin:
                k_dob, dob = k, d_k
        if k_eps is None:
            e_k = float(Pk.min(axis=0).sum())
            if e_k > margin:
                k_eps, eps = k, e_k
        if k_dob is not None and k_eps is not None:
            break
        Pk = Pk @ P
    periodic = unique and not aper
    # why a contraction cannot exist: reducible (R1 fails) or periodic (aperiodicity fails); else undecided
    why = (("R1", False, " (the chain is reducible)") if not unique else
           ("aperiodic", False, f" (the chain has period {periods[0]}: P^t cycles)") if periodic else
           ("R1", None, ""))
    if k_dob is None:
        out.append(Certificate(
            "dobrushin", why[0], why[1], dob,
            f"delta(P^k) = 1 for k = 1..{kmax}: no contraction in total variation" + why[2],
            scope, "numeric", {"k": None}))
    else:
        out.append(Certificate(
            "dobrushin", "R1", True, dob,
            f"delta(P^{k_dob}) = {dob:.6g} < 1: sup_s ||P^t(s,.) - rho||_TV <= {dob:.4g}^floor(t/{k_dob}) "
            f"(t_mix(1/4) <= {mixing_time(dob, k_dob):g})", scope, "numeric", {"k": k_dob}))
    if k_eps is None:
        out.append(Certificate("doeblin", why[0], why[1], 0.0,
                               f"sum_j min_s P^k(s,j) = 0 for k = 1..{kmax}: no minorisation P^k >= eps nu"
                               + why[2], scope, "numeric", {"k": None}))
    else:
        out.append(Certificate(
            "doeblin", "R1", True, eps,
            f"P^{k_eps}(s,.) >= {eps:.6g} nu(.) for every s: ||P^t(s,.) - rho||_TV <= (1 - {eps:.4g})^floor(t/"
            f"{k_eps})", scope, "numeric", {"k": k_eps}))
    lam = np.sort(np.abs(np.linalg.eigvals(P)))[::-1]
    second = float(lam[1]) if n > 1 else 0.0
    gap = max(0.0, 1.0 - second)
    # for an irreducible chain |lambda_2| = 1 exactly when it is periodic (the exact period decides, not the
    # rounded eigenvalue); a reducible chain has no single gap
    if periodic:
        gap_holds, gap = False, 0.0
    elif not unique:
        gap_holds = None
    else:
        gap_holds = None if gap < 64 * n * UNIT_ROUNDOFF else True
    out.append(Certificate(
        "spectral-gap", "aperiodic", gap_holds, gap,
        f"1 - |lambda_2| = {gap:.6g}: |P^t - 1 rho^T| decays like {second:.4g}^t asymptotically" if gap_holds else
        (f"period {periods[0]}: {periods[0]} eigenvalues of modulus 1, no decay of P^t - 1 rho^T" if periodic else
         f"1 - |lambda_2| = {gap:.3g}: no single gap (reducible) or below round-off"),
        scope, "numeric (eigenvalues of P; the exact period for periodic chains)",
        {"second_eigenvalue_modulus": second}))
    if rho is not None:
        rho = np.asarray(rho, float)
        k = int(np.argmin(rho))
        m = float(rho[k])
        holds = True if m > MIN_RESOLVED_RHO else (False if transient else None)
        out.append(Certificate(
            "positive-rho", "R2", holds, m,
            f"min_s rho(s) = {m:.6g} at state {k}" + ("" if holds else
                                                    (" (transient)" if holds is False else
                                                     ": below what float64 resolves; R2 undecided numerically")),
            scope, "GTH elimination (relative accuracy per component)", {"state": k}))
        if unique:
            A = np.eye(n) - P + np.outer(np.ones(n), rho)
            kappa = float(np.linalg.cond(A))
            out.append(Certificate(
                "poisson-condition", "conditioning", True if np.isfinite(kappa) and kappa * UNIT_ROUNDOFF < 1e-2
                else None, kappa,
                f"cond_2(I - P + 1 rho^T) = {kappa:.3g}: floating point alone can put a relative error of about "
                f"{kappa * UNIT_ROUNDOFF:.1g} on h", scope, "numeric (singular values)",
                {"roundoff_bound": kappa * UNIT_ROUNDOFF}))
    return Certificates(tuple(out))
