r"""Measurability of the tangent field on continuous state spaces, made checkable (the referee's second objection).

On a continuous state space the gradient :math:`\mathrm{grad}\,J(x, a) = \nabla_aQ(x, a)` is a vector field
indexed by the state; the metric :math:`g = \int\rho(dx)\int\langle v, w\rangle d\pi_x` needs
:math:`(x, a) \mapsto \nabla_aQ(x, a)` to be jointly measurable.  A sufficient condition that can be computed:
**continuity in the state** (with a Lipschitz constant) together with continuity in the action.  A function
continuous in each variable separately with the other fixed, measurable in x and continuous in a, is a
Carathéodory function, and Carathéodory functions are jointly measurable (Aliprantis & Border,
*Infinite Dimensional Analysis*, Lemma 4.51).  The certificate says which condition was certified:

* ``lq``: :math:`\nabla_aQ(x,a) = 2Ma + 2B^\top PAx` is affine in (x, a): continuous, with Lipschitz constant
  :math:`\|2B^\top PA\|_2` in x; the policy's mean :math:`-Kx` is Lipschitz with constant :math:`\|K\|_2`.
* grid families: the difference quotients of :math:`x \mapsto \mathbb E_{\pi_x}[\partial_aQ(x,\cdot)]` and of the
  policy's mean between neighbouring cells, :math:`L_h = \max_i |G(x_{i+1}) - G(x_i)|/h`, on the grid and on
  grids refined 2x (and 4x in 1-D), the policy a fixed function of x.  A bounded quotient (it changes by less
  than 25% when h halves) certifies Lipschitz continuity with constant about :math:`L_{h}` on the finest
  grid (certificate ``state-continuity``); a quotient that doubles with each halving is a **jump** (a
  discontinuity in the state): continuity fails there, named.  Measurability in x needs much less than
  continuity: when the quotients away from the located jump stay bounded, the field is piecewise continuous,
  hence Borel in x, and with smoothness in a (read off the drift's and the cost's expressions) still a
  Carathéodory function (certificate ``measurable`` says which route it took).  Anything between is undecided.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from otgeom.numeric.certificates import Certificate

__all__ = ["lq_measurability", "grid_measurability", "THEOREM"]

THEOREM = ("Caratheodory functions (measurable in x, continuous in a) are jointly measurable (Aliprantis & Border, "
           "Infinite Dimensional Analysis, Lemma 4.51), so g(grad J, v) is well defined")


def lq_measurability(family, policy=None) -> Certificate:
    """The LQ tangent field is affine in (x, a): continuous, Lipschitz in x (constant reported)."""
    from otgeom.numeric.lq import lq_optimum, lq_point

    if policy is None:
        opt = lq_optimum(family)
        K, P, where = opt.K, opt.P, "the optimum K*"
    else:
        pt = lq_point(family, policy)
        K, P, where = policy.K, pt.P, "the given policy"
    L_grad = float(np.linalg.norm(2 * family.B.T @ P @ family.A, 2))
    L_mean = float(np.linalg.norm(K, 2))
    return Certificate(
        "measurable", "measurable", True, L_grad,
        f"at {where}: grad_a Q(x,a) = 2Ma + 2B^T P A x is affine in (x, a), Lipschitz in x with constant "
        f"||2 B^T P A||_2 = {L_grad:.6g}; the policy mean -Kx is Lipschitz with ||K||_2 = {L_mean:.6g}. "
        f"Continuous in x and a, hence jointly measurable: {THEOREM}",
        "policy", "closed form (affine field)", {"lipschitz_grad": L_grad, "lipschitz_mean": L_mean,
                                                 "condition": "continuity in the state (affine)"})


def _refined(fam, factor: int):
    cells = {p.name: fam.values[p.name] * factor for p in fam.spec.all_parameters if p.domain == "cells"}
    return fam.with_values(**cells)


def _quotients(fam, G: np.ndarray, centre: np.ndarray | None = None, radius: float = 0.0) -> tuple[float, int, int]:
    """max over axes and neighbouring cells of |G_i - G_j| / h, the axis and the cell where it is largest; with
    ``centre``, only over the pairs whose cells both lie farther than ``radius`` from it (on some axis)."""
    shape = tuple(ax.cells for ax in fam.axes)
    Gs = G.reshape(shape)
    far = np.ones(shape, bool) if centre is None else (np.abs(fam.points - centre) > radius).any(axis=1).reshape(shape)
    best, axis_at, cell_at = 0.0, 0, 0
    for k, ax in enumerate(fam.axes):
        D = np.abs(np.diff(Gs, axis=k)) / ax.width
        keep = np.take(far, range(shape[k] - 1), axis=k) & np.take(far, range(1, shape[k]), axis=k)
        if ax.boundary == "circle":  # the wrap-around pair is neighbours too
            wrap = np.abs(np.take(Gs, [0], axis=k) - np.take(Gs, [-1], axis=k)) / ax.width
            D = np.concatenate([D, wrap], axis=k)
            keep = np.concatenate([keep, np.take(far, [0], axis=k) & np.take(far, [-1], axis=k)], axis=k)
        D = np.where(keep, D, 0.0)
        i = int(np.argmax(D))
        if D.flat[i] > best:
            idx = np.unravel_index(i, D.shape)
            best, axis_at, cell_at = float(D.flat[i]), k, int(np.ravel_multi_index(idx, shape, mode="wrap"))
    return best, axis_at, cell_at


def _mean_action_gradient(F, mean: np.ndarray, std: np.ndarray, owner: str) -> np.ndarray:
    r""":math:`\mathbb E_{\pi_x}[\partial_aQ(x, \cdot)]` per cell: in closed form when the drift is affine in a
    (:func:`~otgeom.numeric.grid.gaussian_grid_chain`), otherwise from 16 midpoint quantiles of each law."""
    from otgeom.errors import ExpressionError
    from otgeom.numeric.grid import action_gradient, gaussian_grid_chain, grid_chain
    from otgeom.numeric.policies import QuantilePolicy

    try:
        return gaussian_grid_chain(F, mean, std, owner=owner)[1]
    except ExpressionError:
        pol = QuantilePolicy.from_mean_std(mean, std, 16)
        chain = grid_chain(F, pol, owner=owner)
        g, _ = action_gradient(F, chain)
        return g.reshape(F.n_states, -1).mean(axis=1)


def grid_measurability(fam, policy: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
                       ) -> tuple[Certificate, Certificate]:
    r"""Two certificates for a grid family: ``state-continuity`` of :math:`x \mapsto (\mathbb E_{\pi_x}\partial_aQ,
    m(x))` from difference quotients under refinement, and ``measurable``, by continuity or, when the field
    jumps, by piecewise continuity away from the located jump (see the module docstring).

    ``policy(points) -> (mean, std)`` is the Gaussian policy as a function of the state (default: the
    family's documented initial policy, which every grid family defines as a function of the cell centres)."""
    from otgeom.regularity import smoothness

    factors = (1, 2, 4) if len(fam.axes) == 1 else (1, 2)
    rows, fields = [], []
    for f in factors:
        F = fam if f == 1 else _refined(fam, f)
        mean, std = policy(F.points) if policy is not None else F.initial_policy()
        EdQ = _mean_action_gradient(F, np.asarray(mean, float), np.asarray(std, float), f"{fam.label} refined {f}x")
        Lg, kg, ig = _quotients(F, EdQ)
        Lm, km, im = _quotients(F, np.asarray(mean, float))
        fields.append((F, EdQ, np.asarray(mean, float)))
        rows.append({"refinement": f, "L_grad": Lg, "L_mean": Lm, "at_grad": F.points[ig].tolist(),
                     "at_mean": F.points[im].tolist(), "axis": fam.axes[kg].name})
    growth = [max(b["L_grad"], 1e-300) / max(a["L_grad"], 1e-300) for a, b in zip(rows, rows[1:])]
    growth_m = [max(b["L_mean"], 1e-300) / max(a["L_mean"], 1e-300) if a["L_mean"] > 1e-12 else 1.0
                for a, b in zip(rows, rows[1:])]
    last = rows[-1]
    seq = {q: ", ".join(f"{r[q]:.4g}" for r in rows) for q in ("L_grad", "L_mean")}
    levels = ", ".join(str(r["refinement"]) for r in rows)
    x, a = fam.symbols
    smooth = [smoothness(e, (a,)) for e in (*fam.expressions["drift"], fam.expressions["cost"])]
    in_a = all(ok is True for ok, _ in smooth)
    a_text = ("the drift and the cost are smooth in a (expression tree), so is the Gaussian cell kernel" if in_a else
              "smoothness in a is NOT established: " + next(why for ok, why in smooth if ok is not True))
    how = "difference quotients on refined grids"
    if all(g <= 1.25 for g in growth + growth_m):
        cont = Certificate("state-continuity", "continuity", True, last["L_grad"],
                           f"x -> E_pi_x[d_a Q] is Lipschitz in the state with constant about {last['L_grad']:.4g} "
                           f"(quotients {seq['L_grad']} on grids refined {levels}x), the policy mean with about "
                           f"{last['L_mean']:.4g}", "policy", how, {"refinements": rows})
        meas = Certificate("measurable", "measurable", True if in_a else None, last["L_grad"],
                           f"continuous in the state (Lipschitz, above); {a_text}. " + (
                               f"A Caratheodory function, hence jointly measurable: {THEOREM}" if in_a else ""),
                           "policy", how, {"condition": "continuity in the state", "refinements": rows})
        return cont, meas
    jumps = all(g >= 1.6 for g in growth) or all(g >= 1.6 for g in growth_m)
    if not jumps:
        cont = Certificate("state-continuity", "continuity", None, last["L_grad"],
                           f"difference quotients {seq['L_grad']} (gradient) and {seq['L_mean']} (policy mean) under "
                           "refinement neither settle nor double: continuity in the state is not decided at this "
                           "resolution", "policy", how, {"refinements": rows})
        return cont, Certificate("measurable", "measurable", None, None, "not decided: " + cont.statement, "policy",
                                 how, {"condition": "undecided", "refinements": rows})
    which = "E_pi_x[d_a Q]" if all(g >= 1.6 for g in growth) else "the policy mean"
    q = "L_grad" if which.startswith("E") else "L_mean"
    at = np.asarray(last["at_grad"] if q == "L_grad" else last["at_mean"], float)
    at_text = ", ".join(f"{v:.4g}" for v in at)
    cont = Certificate("state-continuity", "continuity", False, last[q],
                       f"{which} jumps near x = ({at_text}): its difference quotient doubles each time the cells halve "
                       f"({seq[q]}), so it is not continuous in the state", "policy", how,
                       {"refinements": rows, "jump_at": at.tolist()})
    # away from the jump (farther than two coarse cells), are the quotients bounded under refinement?
    radius = 2 * max(ax.width for ax in fam.axes)
    away = [max(_quotients(F, G, at, radius)[0], _quotients(F, m, at, radius)[0]) for F, G, m in fields]
    ok = all(b <= 1.25 * max(a_, 1e-12) for a_, b in zip(away, away[1:]))
    away_text = ", ".join(f"{v:.4g}" for v in away)
    if ok and in_a:
        meas = Certificate("measurable", "measurable", True, away[-1],
                           f"continuity in the state fails at x = ({at_text}) (a jump), but away from it (farther than "
                           f"{radius:.3g}) the field is Lipschitz (quotients {away_text} under refinement): piecewise "
                           f"continuous with the jump located, hence Borel in x; {a_text}. A Caratheodory function, "
                           f"hence jointly measurable: {THEOREM}", "policy", how,
                           {"condition": "piecewise continuity in the state (one located jump)", "refinements": rows})
    else:
        meas = Certificate("measurable", "measurable", None, None,
                           f"continuity in the state fails at x = ({at_text}) and away from that point the quotients "
                           f"({away_text}) do not settle" + ("" if in_a else f"; {a_text}") + ": joint measurability "
                           "is not certified by this computation (on each grid the field is constant on Borel cells)",
                           "policy", how, {"condition": "undecided", "refinements": rows})
    return cont, meas
