"""Claimed formulas of every kind for ``otgeom check --claims examples/claimed_formulas.py``.

Each entry names the claim of the suite that tests it (``claim=``); the formula is called as that claim's
signature says (``otgeom check --list``).  Without ``family=`` an entry runs on the first built-in family of the
claim's kind (``switch2``; ``lq``, the scalar example).  Right and wrong versions side by side: the wrong ones
are the mistakes one makes when deriving by hand, and each must fail with a counterexample point.
"""
import numpy as np

from otgeom.claimed import ClaimedFormula
from otgeom.numeric.chain import gradient_field
from otgeom.numeric.geometry import gaussian_metric_matrix
from otgeom.numeric.lq import lq_point

D2 = dict(family="modulated", params={"n": 2, "d": 2})


def grad_a_q(pt, x, a):
    r"""LQ: :math:`\nabla_a Q(x, a) = 2(R + B^\top PB)a + 2B^\top PAx` (P: the value matrix at the policy)."""
    fam = pt.family
    return 2 * a @ (fam.R + fam.B.T @ pt.P @ fam.B).T + 2 * x @ (fam.B.T @ pt.P @ fam.A).T


def lq_cost(family, pol):
    r"""LQ, tau = 0: :math:`J = \mathrm{tr}(Q_cX) + \mathrm{tr}(R(KXK^\top + \Sigma))`, X the stationary covariance."""
    X = lq_point(family, pol).X
    return float(np.trace(family.Qc @ X) + np.trace(family.R @ (pol.K @ X @ pol.K.T + pol.Sigma)))


CLAIMED = [
    # the Riemannian gradient: grad J = grad_a Q for the rho-weighted metric; rho * grad_a Q is wrong
    ClaimedFormula("grad-J", lambda prims, sol, wp: gradient_field(prims, sol, wp), claim="riemannian-gradient"),
    ClaimedFormula("grad-J-times-rho", lambda prims, sol, wp: sol.rho[:, None, None] * gradient_field(prims, sol, wp),
                   claim="riemannian-gradient"),
    # the metric in d = 2: Bures-Wasserstein on the covariance, weighted by rho
    ClaimedFormula("bures-metric", gaussian_metric_matrix, claim="gaussian-metric-bures", **D2),
    ClaimedFormula("bures-metric-unweighted", lambda rho, pol: gaussian_metric_matrix(np.ones_like(rho), pol),
                   claim="gaussian-metric-bures", **D2),
    # the LQ action gradient and ergodic cost
    ClaimedFormula("lq-grad-a-Q", grad_a_q, claim="lq-action-gradient"),
    ClaimedFormula("lq-grad-a-Q-without-BPB", lambda pt, x, a: 2 * a @ pt.family.R.T
                   + 2 * x @ (pt.family.B.T @ pt.P @ pt.family.A).T, claim="lq-action-gradient"),
    ClaimedFormula("lq-cost", lq_cost, claim="lq-ergodic-cost-mc"),
    ClaimedFormula("lq-cost-without-action-noise", lambda fam, pol: lq_cost(fam, pol) - np.trace(fam.R @ pol.Sigma),
                   claim="lq-ergodic-cost-mc"),
]
