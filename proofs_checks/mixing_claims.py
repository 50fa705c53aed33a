r"""Claims of THEORY.md section 1 about time: ergodic averages (need R1 only) and convergence of P^t (needs aperiodicity).

Both are checked on the family's own controlled chain at a random Gaussian policy, represented by a
Gauss–Hermite rule of order 24 per axis (the chain of that discrete policy is a valid stochastic matrix, and the
claims are statements about any chain), so the counterexample families show what each assumption buys:
``periodic`` keeps ergodic averages and loses :math:`P^t \to \mathbf 1\rho^\top`; ``transient`` keeps both
(a unichain); ``reducible`` loses both (J depends on the start).
"""
from __future__ import annotations

import numpy as np

from otgeom.claims import Claim, Outcome
from otgeom.numeric.certificates import UNIT_ROUNDOFF, chain_certificates
from otgeom.numeric.chain import chain_matrices
from otgeom.numeric.stationary import closed_classes, stationary_gth
from otgeom.sampling import random_gaussian_policy

#: log2 of the horizon of the Cesaro witness: T = 2^40, so the O(|h|/T) bias is ~1e-12 |h|
LOG2_T = 40


def policy_chain(family, rng) -> tuple[np.ndarray, np.ndarray]:
    """(P, r) of a random Gaussian policy, each pi_s replaced by its Gauss–Hermite rule of order 24 per axis."""
    pol = random_gaussian_policy(family, rng)
    P, r = chain_matrices(family.primitives(), pol.discretize({1: 24, 2: 12}.get(family.action_dim, 6)))
    return P / P.sum(axis=1, keepdims=True), r


def unichain_stationary(P: np.ndarray) -> np.ndarray:
    r"""The stationary law of a chain with one closed class C: GTH on C, 0 on the transient states."""
    closed = closed_classes(P)
    if len(closed) != 1:
        from otgeom.errors import RegularityError

        raise RegularityError(f"{len(closed)} closed classes {closed}: the stationary law is not unique",
                              {"closed_classes": closed}, assumption="R1", decided=True)
    C = closed[0]
    rho = np.zeros(P.shape[0])
    rho[C] = stationary_gth(P[np.ix_(C, C)])
    return rho


def ergodic_cost_theory(P: np.ndarray, r: np.ndarray) -> float:
    r"""Formula under test: :math:`J = \rho^\top r` with :math:`\rho` the (unique) stationary law."""
    return float(unichain_stationary(P) @ r)


def _cesaro(P: np.ndarray, r: np.ndarray, log2_T: int) -> tuple[np.ndarray, np.ndarray]:
    """A_T = (1/T) sum_{t<T} P^t r for T = 2^log2_T and T/2, by doubling: S_2T = S_T + P^T S_T."""
    n = P.shape[0]
    S, Pt = np.eye(n), P.copy()
    half = None
    for k in range(log2_T):
        if k == log2_T - 1:
            half = S @ r / 2.0 ** k
        S = S + Pt @ S
        Pt = Pt @ Pt
        Pt /= Pt.sum(axis=1, keepdims=True)
    return S @ r / 2.0 ** log2_T, half


def _check_ergodic_average(family, rng, formula):
    P, r = policy_chain(family, rng)
    A_T, A_half = _cesaro(P, r, LOG2_T)
    J = float(formula(P, r))
    s = int(np.argmax(np.abs(A_T - J)))
    werr = float(2 * np.abs(A_T - A_half).max() + 8 * LOG2_T * P.shape[0] * UNIT_ROUNDOFF * np.abs(r).max())
    return Outcome(float(abs(A_T[s] - J)), {"start_state": s, "J_formula": J, "cesaro_average": float(A_T[s])},
                   {"horizon": f"2^{LOG2_T}", "cesaro_spread_over_starts": float(np.ptp(A_T))}, witness_error=werr)


ERGODIC_AVERAGE = Claim(
    name="ergodic-average",
    signature="(P: ndarray [n, n], r: ndarray [n]) -> J: float, the ergodic cost",
    statement=r"\tfrac1T\textstyle\sum_{t<T}(P^t r)(s) \to J = \rho^\top r \text{ for every start } s"
              r"\quad(\text{no aperiodicity needed})",
    section="1 (ergodic cost)",
    assumptions=("R1: one closed class",),
    witness="Cesaro averages of the family's chain at a random Gaussian policy (Gauss-Hermite rule of order 24), "
            "T = 2^40 by doubling S_2T = S_T + P^T S_T, from every start state; no stationary law is computed",
    tolerance=1e-9,
    tolerance_reason="absolute: the Cesaro bias is (I - P^T) h / T ~ 1e-12 |h| at T = 2^40, round-off 40 n u |r|; "
                     "the witness error adds twice |A_T - A_T/2|",
    check=_check_ergodic_average,
    formula=ergodic_cost_theory,
    mutants={"uniform-weights": lambda P, r: float(np.mean(r)),
             "one-step-from-0": lambda P, r: float((P @ r)[0])},
)


def mixing_bound_theory(P: np.ndarray):
    r"""Formula under test: the Dobrushin bound :math:`\sup_s\|P^t(s,\cdot)-\rho\|_{TV} \le \delta(P^k)^{\lfloor t/k\rfloor}`
    with k the smallest power that contracts (the ``dobrushin`` certificate)."""
    c = chain_certificates(P)["dobrushin"]
    k, d = c.witness["k"], c.value
    if k is None:
        return lambda t: 1.0
    return lambda t: d ** (t // k)


def _check_power_convergence(family, rng, formula):
    P, _ = policy_chain(family, rng)
    per = chain_certificates(P)["aperiodic"]
    if per.holds is False:  # the exact period of this policy's chain: P^t cannot converge, the claim says nothing
        from otgeom.errors import RegularityError

        raise RegularityError(f"{family.label}: at the witness's policy {per.statement}", {"period": per.value},
                              assumption="aperiodic", decided=True)
    rho = unichain_stationary(P)
    bound = formula(P)
    Pt = np.eye(P.shape[0])
    worst, where, tv_last = -np.inf, {}, None
    for t in range(1, 61):
        Pt = Pt @ P
        tv = 0.5 * float(np.abs(Pt - rho).sum(axis=1).max())
        excess = tv - float(bound(t))
        if excess > worst:
            worst, where = excess, {"t": t, "tv_distance": tv, "bound": float(bound(t))}
        tv_last = tv
    # the error is how far the true distance exceeds the bound (0 when the bound holds everywhere)
    return Outcome(max(0.0, worst), where, {"tv_distance_at_60": tv_last},
                   witness_error=64 * P.shape[0] * UNIT_ROUNDOFF)


POWER_CONVERGENCE = Claim(
    name="power-convergence",
    signature="(P: ndarray [n, n]) -> callable t -> bound on sup_s TV(P^t(s, .), rho)",
    statement=r"\sup_s\|P^t(s,\cdot)-\rho\|_{TV} \le \delta(P^k)^{\lfloor t/k\rfloor} \to 0"
              r"\quad(\text{uniform ergodicity, Dobrushin})",
    section="1 (R1: mixing bound)",
    assumptions=("R1", "aperiodic: P^t converges"),
    witness="exact matrix powers P^t, t = 1..60, of the family's chain at a random Gaussian policy (Gauss-Hermite "
            "rule of order 24), distances to rho by GTH on the closed class; the chain's exact period checked first",
    tolerance=1e-12,
    tolerance_reason="absolute excess of the true TV distance over the bound; float64 matrix powers err by ~n u",
    check=_check_power_convergence,
    formula=mixing_bound_theory,
    mutants={"squared-rate": lambda P: (lambda t, b=mixing_bound_theory(P): b(t) ** 2)},
    needs=("R1", "aperiodic"),
)

CLAIMS = [ERGODIC_AVERAGE, POWER_CONVERGENCE]
