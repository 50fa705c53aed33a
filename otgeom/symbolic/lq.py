r"""The scalar LQ family (n = m = 1) derived symbolically from the definitions: rational functions.

Starting only from the definitions (stationarity of :math:`x' = (A - BK)x + B\sqrt\Sigma\,\xi + w`,
the Poisson equation with the quadratic ansatz :math:`h(x) = Px^2 + h_0`, the cost), sympy solves

.. math::
    X = \frac{B^2\Sigma + W}{1 - (A - BK)^2},\qquad P = \frac{Q_c + K^2R}{1 - (A - BK)^2},\qquad
    J = (Q_c + K^2R)X + R\Sigma - \tfrac\tau2\log(2\pi e\Sigma),

and differentiates: :math:`Q(x,a)`, :math:`\partial_a Q`, :math:`\partial J/\partial K`,
:math:`\partial J/\partial\Sigma`, :math:`\partial^2 J/\partial K^2`; the optimum from the scalar
Riccati equation (its positive root) with :math:`K^* = ABP^*/(R + B^2P^*)`,
:math:`\Sigma^* = \tau/(2(R + B^2P^*))`.  The closed forms THEORY.md states (e.g.
:math:`\partial_a Q = 2Ma + 2BPAx`) are *not* used here; the claims compare them with these.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from otgeom.symbolic.derivation import Derivation

__all__ = ["scalar_lq", "SYMBOLS"]

A, B, Qc, R, W = sp.symbols("A B Q_c R W", real=True)
tau, K = sp.symbols("tau K", real=True)
Sigma = sp.Symbol("Sigma", positive=True)
x, a = sp.symbols("x a", real=True)
SYMBOLS = {"A": A, "B": B, "Qc": Qc, "R": R, "W": W, "tau": tau, "K": K, "Sigma": Sigma, "x": x, "a": a}


@lru_cache(maxsize=None)
def scalar_lq() -> Derivation:
    """The derivation; inputs (A, B, Qc, R, W, tau, K, Sigma, x, a); see the module docstring for outputs."""
    Xs, Ps, h0 = sp.symbols("X_s P_s h_0")
    AK = A - B * K
    # stationarity: Var(x') = Var(x) for x ~ N(0, X), a = -K x + sqrt(Sigma) xi
    X = sp.factor(sp.solve(sp.Eq(Xs, AK ** 2 * Xs + B ** 2 * Sigma + W), Xs)[0])
    cost_at = lambda xx: Qc * xx ** 2 + R * (K ** 2 * xx ** 2 + Sigma)  # noqa: E731  E_a c(x, a)
    # E[c(x, a)] under the stationary law: Qc X + R (K^2 X + Sigma)
    J_cost = sp.factor(Qc * X + R * (K ** 2 * X + Sigma))
    # Poisson equation: E_a c(x,a) - J + E[h(x')] = h(x) for all x, with h = P x^2 + h0
    Eh_next = Ps * (AK ** 2 * x ** 2 + B ** 2 * Sigma + W) + h0
    poisson = sp.expand(cost_at(x) - J_cost + Eh_next - (Ps * x ** 2 + h0))
    P = sp.factor(sp.solve(sp.Poly(poisson, x).coeff_monomial(x ** 2), Ps)[0])
    consistency = sp.simplify(poisson.subs(Ps, P).subs(x, 0))  # constant term must vanish identically
    if consistency != 0:
        raise AssertionError(f"scalar LQ: Poisson equation inconsistent: {consistency}")
    entropy = sp.Rational(1, 2) * sp.log(2 * sp.pi * sp.E * Sigma)
    J = J_cost - tau * entropy
    h = P * x ** 2 - P * X  # E_rho h = 0
    # Q(x, a) = c(x, a) - J_cost + E[h(A x + B a + w)]   (the entropy is a per-state constant of the policy)
    Q = Qc * x ** 2 + R * a ** 2 - J_cost + P * ((A * x + B * a) ** 2 + W) - P * X
    dQ_da = sp.factor(sp.diff(Q, a))
    dJ_dK = sp.factor(sp.diff(J, K))
    dJ_dSigma = sp.factor(sp.diff(J_cost, Sigma)) - tau / (2 * Sigma)
    d2J_dK2 = sp.factor(sp.diff(J, K, 2))
    # optimum: scalar Riccati P = Qc + A^2 P - A^2 B^2 P^2 / (R + B^2 P), positive root
    p = sp.Symbol("p")
    ric = sp.expand(sp.numer(sp.together(Qc + A ** 2 * p - A ** 2 * B ** 2 * p ** 2 / (R + B ** 2 * p) - p)))
    c2, c1, c0 = (ric.coeff(p, k) for k in (2, 1, 0))
    P_opt = (-c1 - sp.sqrt(c1 ** 2 - 4 * c2 * c0)) / (2 * c2)  # c2 = -B^2 < 0: the positive root
    K_opt = A * B * P_opt / (R + B ** 2 * P_opt)
    Sigma_opt = tau / (2 * (R + B ** 2 * P_opt))
    b = Derivation("lq-scalar", (A, B, Qc, R, W, tau, K, Sigma, x, a), (), {}).builder()
    return b.build("lq-scalar", {"X": X, "P": P, "J_cost": J_cost, "J": J, "h": h, "Q": Q, "dQ_da": dQ_da,
                                 "dJ_dK": dJ_dK, "dJ_dSigma": dJ_dSigma, "d2J_dK2": d2J_dK2, "P_opt": P_opt,
                                 "K_opt": K_opt, "Sigma_opt": Sigma_opt})
