"""Claims of THEORY.md section 1: the controlled chain."""
from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from otgeom.claims import Claim, Outcome
from otgeom.numeric.chain import action_value_grad
from otgeom.numeric.stationary import stationary_gth
from otgeom.sampling import random_family, random_gaussian_policy, random_stochastic_matrix
from otgeom.symbolic.chain import cost_symbol, gaussian_chain, markov_chain, transition_symbol
from otgeom.symbolic.expectation import gaussian_expectation
from otgeom.numeric.quadrature import adapt_gaussian_rule
from otgeom.numeric.witness import gaussian_chain as witness_chain
from proofs_checks._common import exact, float_composite_mean, mp_exact, mp_gaussian_mean, symbolic_args


# ----------------------------------------------------------------------------- helpers
def _exact_stationary_by_solve(P: list[list[sp.Rational]]) -> list[sp.Rational]:
    """Independent exact witness: solve rho^T (I - P) = 0, sum rho = 1 by rational Gaussian elimination."""
    n = len(P)
    A = sp.Matrix(n, n, lambda i, j: (1 if i == j else 0) - P[j][i])
    A = A.row_insert(n, sp.ones(1, n))
    b = sp.zeros(n, 1).row_insert(n, sp.Matrix([[1]]))
    sol = (A.T * A).LUsolve(A.T * b)
    return list(sol)


def _tree_inputs(P, r=None):
    n = len(P)
    vals = {transition_symbol(u, v): P[u][v] for u in range(n) for v in range(n) if u != v}
    vals.update({cost_symbol(u): (r[u] if r is not None else 0) for u in range(n)})
    return vals


def tree_theorem_rho(P):
    """Formula under test: rho by the Markov chain tree theorem, exact."""
    return markov_chain(len(P)).evaluate_exact(_tree_inputs(P), ["rho"])["rho"]


def tree_theorem_poisson(P, r):
    """Formula under test: (J, h) by the (all-minors) tree theorem, exact."""
    out = markov_chain(len(P)).evaluate_exact(_tree_inputs(P, r), ["J", "h"])
    return out["J"], out["h"]


# ----------------------------------------------------------------------------- claims
def _check_expectation(family, rng, formula):
    pol = random_gaussian_policy(family, rng)
    sub = family.parameter_substitution()
    d = family.action_dim
    dps = 50 if d == 1 else 20
    worst, where = 0.0, {}
    prims = family.primitives()
    wps = adapt_gaussian_rule(prims, pol).all_points(pol) if d > 1 else None
    with mpmath.workdps(dps):
        for s in range(family.n_states):
            mean = [exact(x) for x in pol.mean[s]]
            cov = sp.Matrix(d, d, lambda i, j: exact(pol.cov[s, i, j]))
            items = [("c", family.cost[s])] + [(f"p({t}|{s})", family.kernel[s][t]) for t in range(family.n_states)]
            for label, expr in items:
                e = expr.xreplace(sub)
                closed = sp.N(formula(e, family.action, mean, cov), dps)
                f = sp.lambdify(family.action, e, "mpmath")
                ref, qerr = mp_gaussian_mean(
                    f, [mp_exact(x) for x in mean], [[mp_exact(cov[i, j]) for j in range(d)] for i in range(d)],
                    prims.features[s], lambda e=e, s=s: float_composite_mean(e, family.action, wps, s))
                if qerr > 1e-17:
                    return Outcome(None, {"state": s, "integrand": label},
                                   {"reason": f"the witness's two rules differ by {float(qerr):.2g}"},
                                   verdict="inconclusive")
                err = float(abs(mpmath.mpf(str(closed)) - ref) / max(1, abs(ref)))
                if err >= worst:
                    worst, where = err, {"state": s, "integrand": label, "mean": pol.mean[s].tolist(),
                                         "cov": pol.cov[s].tolist()}
    return Outcome(worst, where, {"digits": dps})


EXPECTATION = Claim(
    name="gaussian-expectation",
    signature="(expr: sympy.Expr, a: list of action Symbols, mean: list of sympy.Expr, cov: sympy.Matrix [d, d]) -> sympy.Expr, E[expr(a)] for a ~ N(mean, cov) in closed form",
    statement=r"\mathbb E_{\mathcal N(m,\Sigma)}[f e^{q}] = \frac{e^{q(m)+\frac12 g^\top\Sigma' g}}{\sqrt{\det(I+2\Sigma K)}}"
              r"\,\mathbb E_{\mathcal N(m+\Sigma' g,\Sigma')}[f]",
    section="1 (closed-form P_pi, r_pi)",
    assumptions=("Sigma^{-1} + 2K positive definite",),
    witness="mpmath quadrature of density x integrand: tanh-sinh at 50 digits split at the family's feature "
            "centres, checked against Gauss-Legendre on the same intervals (d = 1); tensor Gauss-Hermite order 48 at "
            "20 digits checked against order 32 and against the float64 feature-resolving Kronrod rule (d = 2); "
            "inconclusive unless the two rules agree to 1e-17",
    tolerance=1e-15,
    tolerance_reason="quadrature at 20-50 digits of an analytic integrand is accurate far below 1e-15; "
                     "a wrong normalisation or variance errs by more than 1e-3",
    check=_check_expectation,
    formula=gaussian_expectation,
    mutants={
        "doubled-variance": lambda e, a, m, c: gaussian_expectation(e, a, m, 2 * c),
        "shifted-mean": lambda e, a, m, c: gaussian_expectation(e, a, [x + sp.Rational(1, 10) for x in m], c),
    },
)


def _check_stationary_exact(family, rng, formula):
    n = family.n_states
    worst, where = 0.0, {}
    for k in range(3):
        P = random_stochastic_matrix(rng, n, cyclic=True)
        rho = formula(P)
        res = [sum(rho[u] * P[u][v] for u in range(n)) - rho[v] for v in range(n)] + [sum(rho) - 1]
        err = max(abs(float(x)) for x in res)
        if err >= worst:
            worst, where = err, {"P": [[str(x) for x in row] for row in P]}
    return Outcome(worst, where, {"arithmetic": "exact rationals"})


STATIONARY_EXACT = Claim(
    name="stationary-tree-theorem",
    signature="(P: sympy.Matrix [n, n] (exact, row-stochastic)) -> rho: list of n exact Rationals",
    statement=r"\rho_s = \tau_s/\textstyle\sum_u\tau_u \text{ satisfies } \rho^\top P = \rho^\top,\ \sum_s\rho_s = 1",
    section="1 (stationary distribution)",
    assumptions=("R1, R2: P irreducible",),
    needs=(),  # of the random irreducible P the witness draws (cyclic by construction), not of the family's chain
    witness="the defining equations evaluated in exact rational arithmetic at random irreducible rational P",
    tolerance=0.0,
    tolerance_reason="exact arithmetic: any non-zero residual means the formula is wrong",
    check=_check_stationary_exact,
    formula=tree_theorem_rho,
    mutants={"out-trees": lambda P: tree_theorem_rho([list(col) for col in zip(*P)]),
             "unnormalised": lambda P: [2 * x for x in tree_theorem_rho(P)]},
)


def _check_stationary_gth(family, rng, formula):
    n = family.n_states
    worst, where = 0.0, {}
    for k in range(3):
        Pq = random_stochastic_matrix(rng, n, cyclic=True)
        rare = int(rng.integers(n))
        tiny = sp.Rational(1, 10**12)
        for u in range(n):  # make `rare` hard to reach: scale transitions into it by 1e-12
            if u != rare and Pq[u][rare] != 0:
                moved = Pq[u][rare] * (1 - tiny)
                Pq[u][rare] -= moved
                Pq[u][u] += moved
        Pf = np.array([[float(x) for x in row] for row in Pq])
        # the exact chain GTH sees: off-diagonal floats exactly, diagonal completing each row
        Pe = [[exact(Pf[u, v]) if u != v else None for v in range(n)] for u in range(n)]
        for u in range(n):
            Pe[u][u] = 1 - sum(Pe[u][v] for v in range(n) if v != u)
        ref = _exact_stationary_by_solve(Pe)
        got = np.asarray(formula(Pf), float)
        rel = [abs(float((exact(got[s]) - ref[s]) / ref[s])) for s in range(n)]
        s = int(np.argmax(rel))
        if rel[s] >= worst:
            worst, where = rel[s], {"state": s, "rho_exact": float(ref[s]), "rho_computed": float(got[s]),
                                    "rare_state": rare}
    return Outcome(worst, where, {"smallest_rho": where.get("rho_exact")})


def lstsq_stationary(P):
    r"""*A* stationary law by least squares of :math:`\rho^\top(I - P) = 0,\ \sum\rho = 1` (the GTH claim's mutant:
    it loses the tiny components; on a reducible chain it returns one of many stationary laws)."""
    n = P.shape[0]
    A = np.vstack([P.T - np.eye(n), np.ones((1, n))])
    b = np.zeros(n + 1)
    b[-1] = 1
    return np.linalg.lstsq(A, b, rcond=None)[0]


STATIONARY_GTH = Claim(
    name="stationary-gth-accuracy",
    signature="(P: ndarray [n, n] (row-stochastic)) -> rho: ndarray [n]",
    statement=r"\text{GTH elimination gives every }\rho_s\text{ to full relative accuracy, even } \rho_s\approx 10^{-12}",
    section="1 (numeric stationary distribution)",
    assumptions=("R1, R2: P irreducible",),
    needs=(),  # of the random irreducible P the witness draws (cyclic by construction), not of the family's chain
    witness="exact rational solution of rho^T (I - P) = 0, sum rho = 1 (Gaussian elimination over Q) of the same float chain",
    tolerance=1e-12,
    tolerance_reason="GTH is subtraction-free: componentwise relative error O(n^3 u) < 1e-13 for n <= 8 "
                     "(O'Cinneide 1993); a solver with cancellation loses the 1e-12-sized components",
    check=_check_stationary_gth,
    formula=stationary_gth,
    mutants={"least-squares": lstsq_stationary},
)


def _check_poisson_exact(family, rng, formula):
    n = family.n_states
    worst, where = 0.0, {}
    for k in range(3):
        P = random_stochastic_matrix(rng, n, cyclic=True)
        r = [sp.Rational(int(rng.integers(-20, 21)), 7) for _ in range(n)]
        J, h = formula(P, r)
        rho = _exact_stationary_by_solve(P)
        Jref = sum(rho[s] * r[s] for s in range(n))
        res = [h[i] + J - r[i] - sum(P[i][j] * h[j] for j in range(n)) for i in range(n)]
        res += [sum(rho[i] * h[i] for i in range(n)), J - Jref]
        err = max(abs(float(x)) for x in res)
        if err >= worst:
            worst, where = err, {"P": [[str(x) for x in row] for row in P], "r": [str(x) for x in r]}
    return Outcome(worst, where, {"arithmetic": "exact rationals"})


def _poisson_without_J(P, r):
    """A realistic mistake: solve the reduced system (I - P)_{-0,-0} h = r_{-0} without subtracting J."""
    n = len(P)
    J, _ = tree_theorem_poisson(P, r)
    L = sp.Matrix(n - 1, n - 1, lambda i, j: (1 if i == j else 0) - P[i + 1][j + 1])
    ht = [sp.Integer(0)] + list(L.LUsolve(sp.Matrix(r[1:])))
    rho = tree_theorem_rho(P)
    c = sum(rho[i] * ht[i] for i in range(n))
    return J, [x - c for x in ht]


POISSON = Claim(
    name="poisson-equation",
    signature="(P: sympy.Matrix [n, n], r: sympy.Matrix [n] (exact)) -> (J, h): exact; h normalised by rho^T h = 0",
    statement=r"h + J\mathbf 1 = r + P h,\quad \rho^\top h = 0,\quad J = \rho^\top r"
              r"\quad (\tilde h_i = \tau_0^{-1}\textstyle\sum_j F_{ij}(r_j - J))",
    section="1 (Poisson equation)",
    assumptions=("R1, R2: P irreducible",),
    needs=(),  # of the random irreducible P the witness draws (cyclic by construction), not of the family's chain
    witness="residuals of the Poisson equation and normalisation in exact rationals, rho by an independent exact solve",
    tolerance=0.0,
    tolerance_reason="exact arithmetic: any non-zero residual means the formula is wrong",
    check=_check_poisson_exact,
    formula=tree_theorem_poisson,
    mutants={
        "J-not-subtracted": _poisson_without_J,
        "unnormalised-h": lambda P, r: (tree_theorem_poisson(P, r)[0],
                                        [x + 1 for x in tree_theorem_poisson(P, r)[1]]),
    },
)


def chain_Q(family):
    """Formula under test: Q(s, a) = c(s,a) + sum_t p(t|s,a) h(t) - J, as expressions in a, h_t, J."""
    return gaussian_chain(family).outputs["Q"]


def _check_q_mean(family, rng, formula):
    D = gaussian_chain(family)
    fam = family
    pol = random_gaussian_policy(fam, rng)
    d = fam.action_dim
    dps = 50 if d == 1 else 20
    worst, where = 0.0, {}
    prims = fam.primitives()
    wps = adapt_gaussian_rule(prims, pol).all_points(pol) if d > 1 else None
    with mpmath.workdps(dps):
        vals = D.evaluator(["h", "J"], backend="mpmath")(*symbolic_args(fam, pol, kind=mpmath.mpf))
        hsyms = [s for s in D.outputs["h"]]
        sub = {**fam.parameter_substitution()}
        Qs = formula(fam)
        for s in range(fam.n_states):
            expr = Qs[s].xreplace(sub)
            numsub = {hsyms[t]: sp.Float(str(vals["h"][t]), dps) for t in range(fam.n_states)}
            numsub[D.outputs["J"]] = sp.Float(str(vals["J"]), dps)
            f = sp.lambdify(fam.action, expr.xreplace(numsub), "mpmath")
            # the covariance the symbolic side sees: sigma_s**2 for d = 1 (sigma is the coordinate)
            cv = ([[mp_exact(pol.std[s]) ** 2]] if d == 1 else
                  [[mp_exact(pol.cov[s, i, j]) for j in range(d)] for i in range(d)])
            fexpr = expr.xreplace({k: sp.Float(v, 17) for k, v in numsub.items()})
            ref, qerr = mp_gaussian_mean(f, [mp_exact(x) for x in pol.mean[s]], cv, prims.features[s],
                                         lambda fexpr=fexpr, s=s: float_composite_mean(fexpr, fam.action, wps, s))
            if qerr > 1e-17:
                return Outcome(None, {"state": s}, {"reason": f"the witness's two rules differ by "
                                                              f"{float(qerr):.2g}"}, verdict="inconclusive")
            err = float(abs(ref - vals["h"][s]) / max(1, abs(vals["h"][s])))
            if err >= worst:
                worst, where = err, {"state": s, "policy_mean": pol.mean.tolist(), "policy_cov": pol.cov.tolist()}
    return Outcome(worst, where, {"digits": dps})


Q_MEAN = Claim(
    name="q-integrates-to-h",
    signature="(family: Family) -> list over states of sympy.Expr Q(s, a) in the action symbols and the Symbols h_t, J",
    statement=r"\int Q(s,\cdot)\,d\pi_s = h(s)",
    section="1 (action-value function)",
    assumptions=("R1", "R4: moments of pi_s"),
    witness="mpmath quadrature of the symbolic Q(s,.) against pi_s (tanh-sinh split at the feature centres "
            "against Gauss-Legendre, 50 digits, d = 1; Gauss-Hermite order 48 against 32 and against the float64 "
            "feature-resolving rule, 20 digits, d = 2), "
            "compared with the tree-theorem h",
    tolerance=1e-15,
    tolerance_reason="high-precision quadrature of an analytic integrand; a missing term errs by O(|J|) or O(|h|)",
    check=_check_q_mean,
    formula=chain_Q,
    mutants={"missing-minus-J": lambda fam: [q + gaussian_chain(fam).outputs["J"] for q in chain_Q(fam)],
             "missing-h-term": lambda fam: [fam.cost[s] - gaussian_chain(fam).outputs["J"]
                                            for s in range(fam.n_states)]},
)


def symbolic_chain_values(family, policy, points):
    """Formula under test: rho, J, h and grad_a Q at the points from the symbolic derivation (float64)."""
    D = gaussian_chain(family)
    out = D.evaluator(["rho", "J", "h"])(*symbolic_args(family, policy))
    hs, Js = D.outputs["h"], D.outputs["J"]
    sub = family.parameter_substitution()
    sub.update({hs[t]: sp.Float(out["h"][t], 17) for t in range(family.n_states)})
    sub[Js] = sp.Float(out["J"], 17)
    grads = []
    for s in range(family.n_states):
        f = sp.lambdify(family.action, [g.xreplace(sub) for g in D.outputs["gradQ"][s]], "numpy")
        A = points[s]
        vals = f(*(A[:, i] for i in range(A.shape[1])))
        grads.append(np.stack([np.broadcast_to(np.asarray(v, float), (A.shape[0],)) for v in vals], axis=-1))
    return {"rho": np.array(out["rho"], float), "J": float(out["J"]), "h": np.array(out["h"], float),
            "gradQ": np.stack(grads)}


def _check_symbolic_numeric(family, rng, formula):
    worst, where, werr, omax = 0.0, {}, 0.0, 0
    for k in range(3):
        fam = random_family(family, rng)
        pol = random_gaussian_policy(fam, rng)
        prims = fam.primitives()
        w = witness_chain(prims, pol, tol=1e-12)
        sol = w.sol
        omax = max(omax, w.nodes_per_axis)
        pts = pol.discretize(5).points
        sym = formula(fam, pol, pts)
        num_grad = np.stack([action_value_grad(prims, sol, s, pts[s]) for s in range(fam.n_states)])
        scale = max(1.0, abs(sol.J), np.abs(sol.h).max())
        gscale = max(1.0, np.abs(num_grad).max())
        errs = {
            "rho": np.abs(sym["rho"] - sol.rho).max(),
            "J": abs(sym["J"] - sol.J) / scale,
            "h": np.abs(sym["h"] - sol.h).max() / scale,
            "gradQ": np.abs(sym["gradQ"] - num_grad).max() / gscale,
        }
        # the numeric side's bounds in the same units; grad_a Q moves with h: sum_t |grad p_t| dh_t
        dgrad = max(float((np.abs(prims.kernel_grad(s, pts[s])) * w.error["h"][None, :, None]).sum(axis=1).max())
                    for s in range(fam.n_states))
        werr = max(werr, float(np.max(w.error["rho"])), w.error["J"] / scale, float(np.max(w.error["h"])) / scale,
                   (dgrad + 1e-15 * gscale) / gscale)
        key = max(errs, key=errs.get)
        if errs[key] >= worst:
            worst, where = float(errs[key]), {"quantity": key, "parameters": fam.parameters_json(),
                                              "policy_mean": pol.mean.tolist(), "policy_cov": pol.cov.tolist()}
    return Outcome(worst, where, {"quadrature_nodes_per_axis": omax}, witness_error=werr)


def _mutant_unweighted_J(family, policy, points):
    out = symbolic_chain_values(family, policy, points)
    D = gaussian_chain(family)
    r = np.array(D.evaluator(["r"])(*symbolic_args(family, policy))["r"], float)
    return {**out, "J": float(r.mean())}


SYMBOLIC_NUMERIC = Claim(
    name="symbolic-equals-numeric",
    signature="(family: Family, policy: GaussianPolicy, points: ndarray [n, N, d]) -> dict rho [n], J, h [n], gradQ: ndarray [n, N, d]",
    statement=r"(\rho, J, h, \nabla_a Q)_{\text{tree theorem, closed form}} = (\rho, J, h, \nabla_a Q)_{\text{quadrature, GTH, solve}}",
    section="1 (two independent computations of the chain)",
    assumptions=("R1", "R2"),
    witness="numeric path: feature-resolving composite Gauss-Kronrod quadrature of the family's c and p, GTH, "
            "scipy linear solve, with error bounds (two rules, round-off, conditioning)",
    tolerance=1e-9,
    tolerance_reason="float64 evaluation of both paths (~1e-13) plus the numeric path's error bound; inconclusive "
                     "when that bound exceeds the tolerance or could explain a failure",
    check=_check_symbolic_numeric,
    formula=symbolic_chain_values,
    mutants={"unweighted-J": _mutant_unweighted_J},
)

CLAIMS = [EXPECTATION, STATIONARY_EXACT, STATIONARY_GTH, POISSON, Q_MEAN, SYMBOLIC_NUMERIC]
