r"""Grid families: continuous states on a grid, Gaussian noise, a kernel of cell probabilities (THEORY.md section 6).

A grid family is a finite-state family whose states are the cells of a grid over a state interval (or a circle,
or a product of two such axes).  From the centre :math:`x_i` of cell i under action a the continuous step is

.. math::
    x' = f(x_i, a) + \sigma\,\xi,\qquad \xi\sim\mathcal N(0, I)\ \text{(independent per axis)},

and the kernel is **the probability of each cell** (per axis, then the product over axes):

.. math::
    p(j \mid i, a) = \Phi\Big(\frac{e_{j+1} - f(x_i,a)}{\sigma}\Big) - \Phi\Big(\frac{e_j - f(x_i,a)}{\sigma}\Big),

with the mass beyond the domain put into the end cells (``clipped``), folded back (``reflecting``: cells
mirror across the boundary) or wrapped (``circle``).  Why cell probabilities and not the normalised density
at the grid points: the rows sum to 1 exactly (they telescope), with no normalising quotient; the action
derivatives are closed forms in :math:`\phi` (:math:`\partial_a p = -\partial_a f\,[\phi(z_{j+1}) -
\phi(z_j)]/\sigma`); and the cell masses are the continuous transition law, only coarse-grained, so as the
grid is refined the chain converges to the continuous one (the state is snapped to a cell centre each step,
an error of order :math:`h^2`), whatever :math:`\sigma/h` is.  The density at the points is a Riemann sum that
needs :math:`\sigma \gg h`.

A grid family file states, as sympy expressions in the state symbols, the action symbol ``a`` and the
parameters, the drift :math:`f` per axis and the cost :math:`c(x, a)`; the action derivatives are derived
by sympy and compiled once.  Actions are one-dimensional (d = 1).

Assumptions checked on construction:

* every parameter finite and inside its domain, cell counts integers >= 3;
* the grid resolves the noise: a cell narrower than :math:`1.35\sigma` (so that no cell holds most of the mass
  of one step: :math:`2\Phi(h/2\sigma) - 1 \le 1/2`); otherwise :class:`~otgeom.errors.ParameterError` with
  the numbers;
* the drift and the cost are finite at every grid state for the probe actions a in {-1, 0, 1}
  (:class:`~otgeom.errors.FamilyError` naming the state, the action and the value).

When the drift is affine in a on one axis only (:attr:`GridFamily.affine_axis`), a Gaussian action law gives
the chain in closed form (the step is Gaussian with variance :math:`\sigma^2 + b^2 s^2`):
:mod:`otgeom.numeric.grid` uses it for Gaussian policies per state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from otgeom.errors import FamilyError, ParameterError
from otgeom.limits import excerpt, excerpt_list

__all__ = ["Axis", "GridParameter", "GridSpec", "GridFamily", "BOUNDARIES", "COARSEST_CELL", "MAX_STATES",
           "COMMON_PARAMETERS"]

BOUNDARIES = ("clipped", "reflecting", "circle")

#: Most grid states a family may have (a flow step at 1e5 states x 32 particles takes about 1 s).
MAX_STATES = 2_000_000

#: Largest cell width in noise standard deviations: one step puts at most half its mass into one cell.
COARSEST_CELL = 1.3489795003921634  # 2 * Phi^-1(3/4)


@dataclass(frozen=True)
class Axis:
    """One state axis: ``cells`` cells of width :math:`h = (hi - lo)/cells` over [lo, hi], points at the cell
    centres, a boundary rule and the noise standard deviation on this axis."""

    name: str
    lo: float
    hi: float
    cells: int
    boundary: str
    noise: float

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.cells

    @property
    def points(self) -> np.ndarray:
        """Cell centres, shape=[cells]."""
        return self.lo + (np.arange(self.cells) + 0.5) * self.width

    def cell_of(self, k: np.ndarray) -> np.ndarray:
        """Cell of the unfolded index k (cell k of the infinite line extending the grid), by the boundary rule."""
        n = self.cells
        if self.boundary == "clipped":
            return np.clip(k, 0, n - 1)
        if self.boundary == "circle":
            return np.mod(k, n)
        m = np.mod(k, 2 * n)  # reflecting: cells mirror across both ends, period 2n
        return np.where(m >= n, 2 * n - 1 - m, m)

    def fold(self, x: np.ndarray) -> np.ndarray:
        """A continuous point mapped into the domain by the boundary rule (clipped: onto [lo, hi])."""
        if self.boundary == "clipped":
            return np.clip(x, self.lo, self.hi)
        L = self.hi - self.lo
        if self.boundary == "circle":
            return self.lo + np.mod(x - self.lo, L)
        y = np.mod(x - self.lo, 2 * L)
        return self.lo + np.where(y > L, 2 * L - y, y)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "lo": self.lo, "hi": self.hi, "cells": self.cells, "width": self.width,
                "boundary": self.boundary, "noise": self.noise}


@dataclass(frozen=True)
class GridParameter:
    """A scalar parameter: name, default, domain (``real``, ``positive``, ``nonnegative``, ``cells`` (an integer
    >= 3), ``count`` (an integer 1..4096) or ``boundary`` (one of :data:`BOUNDARIES`)) and what it means."""

    name: str
    default: Any
    domain: str
    doc: str

    def coerce(self, value: Any, owner: str) -> Any:
        where = f"{owner}: parameter {self.name}"
        if self.domain == "boundary":
            if not isinstance(value, str) or value not in BOUNDARIES:
                raise ParameterError(f"{where} = {excerpt(value)} must be one of {', '.join(BOUNDARIES)}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating, str)):
            raise ParameterError(f"{where} = {excerpt(value)} is not a number")
        if isinstance(value, str):
            from otgeom.limits import parse_exact
            value = float(parse_exact(value, where))
        if self.domain == "count":
            if float(value) != int(value) or not 1 <= int(value) <= 4096:
                raise ParameterError(f"{where} = {excerpt(value)} must be an integer in 1..4096")
            return int(value)
        if self.domain == "cells":
            if float(value) != int(value) or int(value) < 3:
                raise ParameterError(f"{where} = {excerpt(value)} must be an integer >= 3 (a number of cells)")
            if int(value) > 1_000_000:
                raise ParameterError(f"{where} = {int(value)} cells is more than this machine's limit of 1000000")
            return int(value)
        x = float(value)
        if not math.isfinite(x) or abs(x) > 1e15:
            raise ParameterError(f"{where} = {excerpt(value)} is not a finite number of magnitude <= 1e15")
        if self.domain == "positive" and not x > 0:
            raise ParameterError(f"{where} = {x:g} must be > 0")
        if self.domain == "nonnegative" and not x >= 0:
            raise ParameterError(f"{where} = {x:g} must be >= 0")
        return x


#: Parameters of every grid family: how the particle flows of ``otgeom report`` and the claims of ``otgeom check``
#: represent a policy (they do not change the model).
COMMON_PARAMETERS = (
    GridParameter("particles", 8, "count", "particles (quantiles) per grid state in the report's particle flow and "
                                           "the claims' particle policies"),
)


@dataclass(frozen=True)
class GridSpec:
    """What a grid family file declares.

    ``axes(p)`` builds the axes from the parameter values; ``drift(x, a, p)`` returns one sympy expression per
    axis and ``cost(x, a, p)`` one expression, in the state symbols ``x`` (a tuple, one per axis), the action
    symbol ``a`` and the parameter values ``p`` (floats, substituted before differentiation).
    ``initial(family)`` gives a starting (mean, std) per state for flows.
    """

    name: str
    description: str
    state_names: tuple[str, ...]
    parameters: tuple[GridParameter, ...]
    axes: Callable[[Mapping[str, Any]], tuple[Axis, ...]]
    drift: Callable[[tuple[sp.Symbol, ...], sp.Symbol, Mapping[str, Any]], Sequence[sp.Expr]]
    cost: Callable[[tuple[sp.Symbol, ...], sp.Symbol, Mapping[str, Any]], sp.Expr]
    initial: Callable[["GridFamily"], tuple[np.ndarray, np.ndarray]] | None = None
    doc: str = ""

    @property
    def all_parameters(self) -> tuple[GridParameter, ...]:
        """The family's own parameters and those every grid family has (:data:`COMMON_PARAMETERS`)."""
        return (*self.parameters, *COMMON_PARAMETERS)

    def instantiate(self, **params: Any) -> "GridFamily":
        known = {p.name: p for p in self.all_parameters}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ParameterError(f"{self.name}: unknown parameter(s) {excerpt_list(unknown)}; known: "
                                 f"{', '.join(known)}")
        values = {name: p.coerce(params.get(name, p.default), self.name) for name, p in known.items()}
        return GridFamily(self, values, given=tuple(sorted(params)))


def _lambdify(symbols, expr):
    f = sp.lambdify(symbols, expr, modules="numpy")
    const = not (expr.free_symbols & set(symbols))
    if const:  # one number, broadcast by GridFamily.evaluate (no array filled with it)
        value = np.float64(float(expr))
        return lambda *args: value
    return f


@dataclass(frozen=True, eq=False)
class GridFamily:
    """A validated grid family: axes, compiled drift and cost with their action derivatives.

    States are the grid cells in C order over the axes (``points`` shape=[N, k]); actions are scalars.
    """

    spec: GridSpec
    values: Mapping[str, Any]
    given: tuple[str, ...] = ()
    _compiled: dict = field(default_factory=dict, repr=False, compare=False)

    kind = "grid"

    @property
    def supports(self):
        """What this family supports (:mod:`otgeom.families.protocol`): the sparse grid chain, no symbolic layer,
        policies as a mean and std per cell."""
        from otgeom.families.protocol import Supports

        return Supports(kind="grid", symbolic=False, second_order=False, evaluation="sparse-grid",
                        policy_format="grid")

    def __post_init__(self) -> None:
        axes = tuple(self.spec.axes(self.values))
        object.__setattr__(self, "axes", axes)
        total = math.prod(ax.cells for ax in axes)
        if total > MAX_STATES:
            raise ParameterError(f"{self.name}: {' x '.join(str(ax.cells) for ax in axes)} = {total} grid states is "
                                 f"more than the limit of {MAX_STATES}")
        for ax in axes:
            if ax.boundary not in BOUNDARIES:
                raise ParameterError(f"{self.name}: axis {ax.name} has boundary {ax.boundary!r}; "
                                     f"expected one of {', '.join(BOUNDARIES)}")
            if not ax.hi > ax.lo:
                raise ParameterError(f"{self.name}: axis {ax.name} is the interval [{ax.lo:g}, {ax.hi:g}]; "
                                     "it must have hi > lo")
            if not ax.noise > 0:
                raise ParameterError(f"{self.name}: the noise on axis {ax.name} is {ax.noise:g}; it must be > 0")
            ratio = ax.width / ax.noise
            if ratio > COARSEST_CELL:
                from scipy.special import ndtr
                one_cell = 2 * ndtr(ratio / 2) - 1
                need = (ax.hi - ax.lo) / (COARSEST_CELL * ax.noise)
                need = f"{int(math.ceil(need))}" if need <= 1_000_000 else "more than the limit of 1000000"
                raise ParameterError(
                    f"{self.name}: the grid is too coarse for the noise on axis {ax.name}: cells of width "
                    f"{ax.width:.4g} are {ratio:.3g} noise standard deviations (noise {ax.noise:.4g}), so one step "
                    f"puts {one_cell:.3f} of its mass into a single cell (the chain is nearly deterministic and "
                    f"its action derivatives are spikes); use at least {need} cells on [{ax.lo:g}, {ax.hi:g}] "
                    f"(width <= {COARSEST_CELL:.3f} sigma) or more noise")
        self._check_finite()

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        changed = [f"{k}={self.values[k]}" for k in self.given]
        return self.name + (f"({','.join(changed)})" if changed else "")

    @property
    def n_states(self) -> int:
        return int(np.prod([ax.cells for ax in self.axes]))

    @property
    def action_dim(self) -> int:
        return 1

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(ax.cells for ax in self.axes)

    @cached_property
    def points(self) -> np.ndarray:
        """State coordinates of every grid state, shape=[N, k] (C order over the axes)."""
        grids = np.meshgrid(*(ax.points for ax in self.axes), indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)

    def parameters_json(self) -> dict[str, Any]:
        return dict(self.values)

    def parameter_docs(self) -> dict[str, str]:
        return {p.name: p.doc for p in self.spec.all_parameters}

    def with_values(self, **changes: Any) -> "GridFamily":
        """A new validated family with some parameters replaced."""
        given = {k: self.values[k] for k in self.given}
        given.update(changes)
        return self.spec.instantiate(**given)

    # ------------------------------------------------------------------ symbolic -> compiled
    @cached_property
    def symbols(self) -> tuple[tuple[sp.Symbol, ...], sp.Symbol]:
        return tuple(sp.Symbol(n, real=True) for n in self.spec.state_names), sp.Symbol("a", real=True)

    @cached_property
    def expressions(self) -> dict[str, Any]:
        """drift (one per axis), cost, and their first and second action derivatives, as sympy expressions."""
        x, a = self.symbols
        drift = [sp.sympify(e) for e in self.spec.drift(x, a, self.values)]
        if len(drift) != len(self.axes):
            raise FamilyError(f"{self.name}: the drift has {len(drift)} components for {len(self.axes)} axes")
        cost = sp.sympify(self.spec.cost(x, a, self.values))
        allowed = set(x) | {a}
        for what, e in [*(("drift " + ax.name, d) for ax, d in zip(self.axes, drift)), ("cost", cost)]:
            extra = e.free_symbols - allowed
            if extra:
                raise FamilyError(f"{self.name}: the {what} {excerpt(str(e))} has undeclared symbol(s) "
                                  f"{excerpt_list(sorted(map(str, extra)))}")
        return {
            "drift": drift,
            "drift_a": [sp.diff(e, a) for e in drift],
            "drift_aa": [sp.diff(e, a, 2) for e in drift],
            "cost": cost,
            "cost_a": sp.diff(cost, a),
            "cost_aa": sp.diff(cost, a, 2),
        }

    def _fn(self, key: str, axis: int | None = None) -> Callable:
        k = (key, axis)
        if k not in self._compiled:
            x, a = self.symbols
            e = self.expressions[key] if axis is None else self.expressions[key][axis]
            self._compiled[k] = _lambdify((*x, a), e)
        return self._compiled[k]

    def evaluate(self, key: str, X: np.ndarray, a: np.ndarray, axis: int | None = None) -> np.ndarray:
        """One compiled expression at states X shape=[P, k] and actions a shape=[P] -> shape=[P] (float64, read-only;
        a constant expression is one number broadcast to the pairs)."""
        out = self._fn(key, axis)(*(X[:, j] for j in range(X.shape[1])), a)
        return np.broadcast_to(np.asarray(out, float), a.shape)

    def state_text(self, i: int, digits: int = 6, noun: str = "grid state") -> str:
        """State i and its coordinates for messages: ``grid state 3 (x = -1.25)``."""
        at = ", ".join(f"{n} = {self.points[i, j]:.{digits}g}" for j, n in enumerate(self.spec.state_names))
        return f"{noun} {i} ({at})"

    def require_finite(self, what: str, values: np.ndarray, states: np.ndarray, actions: np.ndarray) -> None:
        """Raise :class:`FamilyError` naming the first state-action pair where ``values`` is not finite."""
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            k = int(bad[0])
            raise FamilyError(f"{self.name}: the {what} is {values[k]} at {self.state_text(int(states[k]))} with "
                              f"action a = {actions[k]:.6g} ({bad.size} of {values.size} state-action pairs are "
                              "not finite)")

    @cached_property
    def affine_axis(self) -> int | None:
        """The one axis whose drift depends on a, when it is affine in a and the others do not depend on a
        (axis 0 when no drift depends on a); None otherwise."""
        x, a = self.symbols
        dep = [i for i, e in enumerate(self.expressions["drift"]) if a in e.free_symbols]
        if not dep:
            return 0  # the kernel does not depend on a: affine with b = 0
        if len(dep) != 1:
            return None
        i = dep[0]
        ok = self.expressions["drift_aa"][i] == 0 and a not in self.expressions["drift_a"][i].free_symbols
        return i if ok else None

    @cached_property
    def cost_degree(self) -> int | None:
        """Degree of the cost as a polynomial in a (None when it is not one)."""
        _, a = self.symbols
        c = sp.expand(self.expressions["cost"])
        return int(sp.degree(c, a)) if c.is_polynomial(a) else None

    def _check_finite(self) -> None:
        """The drift and the cost must be finite at every grid state for the probe actions a in {0, 1, -1}."""
        X = self.points
        states = np.arange(X.shape[0])
        for probe in (0.0, 1.0, -1.0):
            a = np.full(X.shape[0], probe)
            for key, axis, what in [*(("drift", i, f"drift on axis {ax.name}") for i, ax in enumerate(self.axes)),
                                    ("cost", None, "cost")]:
                with np.errstate(all="ignore"):
                    v = self.evaluate(key, X, a, axis)
                self.require_finite(what, v, states, a)

    def initial_policy(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) per state, shape=[N] each, the documented starting point of flows."""
        if self.spec.initial is not None:
            m, s = self.spec.initial(self)
            return np.asarray(m, float), np.asarray(s, float)
        return np.zeros(self.n_states), np.ones(self.n_states)
