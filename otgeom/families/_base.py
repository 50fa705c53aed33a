"""What a family is: parameters with domains, a cost and a kernel as sympy expressions.

A *family file* (one small module in this package, see ``_template.py``) holds
data only: a :class:`FamilySpec` naming the structural integers (number of
states, action dimension), the continuous parameters with defaults and domains,
and a ``define`` function returning the cost :math:`c(s,a)` and the kernel
:math:`p(s'\\mid s,a)` as sympy expressions in the action symbols and the
parameter symbols.  :meth:`FamilySpec.instantiate` validates values and returns
a :class:`Family`, which is immutable.

Validation on construction (THEORY.md section 1):

* every parameter is finite, of the right shape and inside its domain;
* every kernel row sums to 1 *identically in a* (exact symbolic check with the
  parameter values as exact rationals);
* every transition probability is non-negative: decided symbolically where
  sympy can, otherwise on a dense action grid (``Family.validation`` says which).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from otgeom.errors import FamilyError, ParameterError
from otgeom.limits import check_magnitude, excerpt, excerpt_list, parse_exact

__all__ = ["Domain", "Parameter", "Structural", "FamilySpec", "Family", "Primitives", "to_exact"]


# --------------------------------------------------------------------------- values
def to_exact(value: Any, where: str) -> sp.Rational:
    """Convert a user value to an exact sympy Rational without ``eval``.

    Accepts ints, floats (through their shortest decimal repr, so ``0.1`` is
    ``1/10``), sympy numbers, :class:`~fractions.Fraction` and strings such as ``"1/3"``
    or ``"0.25"``.  Strings are checked on their text (digits, exponent) before any
    arithmetic, and every value must be 0 or within the magnitudes of :mod:`otgeom.limits`
    (1e-300 <= |x| <= 1e15), so that the family's expressions stay finite in float64.
    """
    if isinstance(value, bool):
        raise ParameterError(f"{where} = {str(value).lower()} is a boolean, expected a number")
    if isinstance(value, sp.Basic):
        if not value.is_number or value.is_real is not True or value.is_finite is False:
            raise ParameterError(f"{where} = {excerpt(value)} is not a real number")
        if value.is_Float:
            return to_exact(float(value), where)
        if not value.is_Rational:
            value = sp.Rational(str(value.evalf(30)))  # sqrt(2), pi: rounded to 30 significant digits
        fr = Fraction(int(value.p), int(value.q))
    elif isinstance(value, (int, np.integer, Fraction)):
        fr = Fraction(int(value)) if not isinstance(value, Fraction) else value
    elif isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise ParameterError(f"{where} = {value} is not finite")
        fr = Fraction(repr(float(value)))
    elif isinstance(value, str):
        fr = parse_exact(value, where)
    elif isinstance(value, dict):
        raise ParameterError(f"{where} is a JSON object ({excerpt(value)}), expected a number")
    else:
        raise ParameterError(f"{where} = {'null' if value is None else excerpt(value)} is not a number")
    check_magnitude(fr, where)
    return sp.Rational(fr.numerator, fr.denominator)


# --------------------------------------------------------------------------- domains
@dataclass(frozen=True)
class Domain:
    """A parameter domain: a name for messages, a per-value test, sympy assumptions.

    ``kind`` is one of ``real``, ``positive``, ``open-unit``, ``nonnegative``,
    ``interval`` (the open interval (``low``, ``high``), exact bounds),
    ``spd`` (last two axes form a symmetric positive-definite matrix),
    ``row-stochastic`` (last axis is a probability vector, exactly).
    """

    kind: str
    low: Any = None
    high: Any = None

    @property
    def describe(self) -> str:
        if self.kind == "interval":
            return f"in the open interval ({self.low}, {self.high})"
        return {
            "real": "a real number",
            "positive": "> 0",
            "open-unit": "in the open interval (0, 1)",
            "nonnegative": ">= 0",
            "spd": "symmetric positive definite",
            "row-stochastic": "row-stochastic (entries >= 0, each row summing exactly to 1)",
        }[self.kind]

    @property
    def assumptions(self) -> dict[str, bool]:
        if self.kind == "interval":
            return {"positive": True} if self.low >= 0 else {"real": True}
        return {
            "real": {"real": True},
            "positive": {"positive": True},
            "open-unit": {"positive": True},
            "nonnegative": {"nonnegative": True},
            "spd": {"real": True},
            "row-stochastic": {"nonnegative": True},
        }[self.kind]

    def check(self, values: np.ndarray, where: str) -> None:
        """Raise :class:`ParameterError` naming the first offending entry."""
        flo = values.astype(float)
        if self.kind == "interval":
            for idx in itertools.product(*(range(k) for k in values.shape)):
                if not self.low < values[idx] < self.high:
                    raise ParameterError(f"{where}{list(idx)} = {float(values[idx]):g} must be {self.describe}")
        if self.kind in ("positive", "open-unit", "nonnegative", "row-stochastic"):
            for idx in itertools.product(*(range(k) for k in values.shape)):
                v = values[idx]
                bad = (
                    (self.kind == "positive" and not v > 0)
                    or (self.kind == "open-unit" and not (0 < v < 1))
                    or (self.kind in ("nonnegative", "row-stochastic") and v < 0)
                )
                if bad:
                    raise ParameterError(f"{where}{list(idx)} = {float(v):g} must be {self.describe}")
                if self.kind == "open-unit" and not 0 < flo[idx] < 1:  # exactly inside, rounded onto the boundary
                    raise ParameterError(f"{where}{list(idx)} = {excerpt(str(v), quote=False)} is {self.describe} "
                                         f"exactly but is {float(flo[idx])!r} in float64; choose a value farther "
                                         "from the boundary")
        if self.kind == "row-stochastic":
            for idx in itertools.product(*(range(k) for k in values.shape[:-1])):
                total = sum(values[idx], sp.Integer(0))
                if total != 1:
                    raise ParameterError(
                        f"{where} row {list(idx)} sums to {excerpt(str(total), quote=False)} = "
                        f"{float(total):.17g}, not 1 "
                        "(rows must be probability vectors; give fractions exactly, as strings like \"1/3\")"
                    )
        if self.kind == "spd":
            for idx in itertools.product(*(range(k) for k in values.shape[:-2])):
                mat = flo[idx]
                if not np.array_equal(values[idx], values[idx].T):
                    raise ParameterError(f"{where}{list(idx)} = {mat.tolist()} is not symmetric")
                eig = np.linalg.eigvalsh(mat)
                if eig.min() <= 0:
                    raise ParameterError(
                        f"{where}{list(idx)} = {mat.tolist()} is not positive definite "
                        f"(smallest eigenvalue {eig.min():.6g})"
                    )


@dataclass(frozen=True)
class Parameter:
    """A named continuous parameter.

    ``shape`` uses the structural names, e.g. ``("n",)``, ``("n", "d")``,
    ``("n", "d", "d")``, ``("n", "n")``.  ``default(structure)`` returns a
    nested list.  Matrices over the last two axes of an ``spd`` parameter share
    one symbol per unordered index pair.
    """

    name: str
    shape: tuple[str, ...]
    domain: Domain
    default: Callable[[Mapping[str, int]], Any]
    doc: str

    def concrete_shape(self, structure: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(structure[k] if isinstance(k, str) else int(k) for k in self.shape)

    def symbols(self, structure: Mapping[str, int]) -> np.ndarray:
        """Object array of sympy symbols of this parameter's shape (symmetric sharing for spd)."""
        shape = self.concrete_shape(structure)
        out = np.empty(shape, dtype=object)
        for idx in itertools.product(*(range(k) for k in shape)):
            key = idx
            if self.domain.kind == "spd" and idx[-1] < idx[-2]:
                key = idx[:-2] + (idx[-1], idx[-2])
            name = self.name + "".join(f"_{i}" for i in _symbol_index(key, self.shape, structure))
            out[idx] = sp.Symbol(name, **self.domain.assumptions)
        return out

    def coerce(self, value: Any, structure: Mapping[str, int], owner: str) -> np.ndarray:
        """Validate ``value`` (nested lists / numbers / strings) into an object array of Rationals."""
        shape = self.concrete_shape(structure)
        where = f"{owner}: parameter {self.name}"
        _check_nested(value, where)
        arr = np.array(value, dtype=object)
        # d = 1 convenience: plain numbers for 1-vectors and 1 x 1 matrices.
        if arr.shape != shape and arr.shape == shape[:arr.ndim] and all(k == 1 for k in shape[arr.ndim:]):
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise ParameterError(f"{where} has shape {list(arr.shape)}, expected {list(shape)}: "
                                 f"{_shape_words(shape, self.shape, structure)}, given {_shape_words(arr.shape)}")
        exact = np.empty(shape, dtype=object)
        for idx in itertools.product(*(range(k) for k in shape)):
            exact[idx] = to_exact(arr[idx], f"{where}{list(idx)}")
        self.domain.check(exact, where)
        return exact


def _shape_words(shape, names=None, structure=None) -> str:
    """A shape in words: "a number", "a list of 2 numbers", "a 2 x 3 matrix" (with where its sizes come from)."""
    shape = tuple(shape)
    if not shape:
        text = "a number"
    elif len(shape) == 1:
        text = f"a list of {shape[0]} number{'s' if shape[0] != 1 else ''}"
    elif len(shape) == 2:
        text = f"a {shape[0]} x {shape[1]} matrix"
    else:
        text = f"a {' x '.join(map(str, shape))} array"
    sizes = [f"{k} = {structure[k]}" for k in dict.fromkeys(names or ()) if isinstance(k, str) and structure]
    return text + (f" ({' x '.join(map(str, names))}, {', '.join(sizes)})" if sizes else "")


def _check_nested(value: Any, where: str) -> tuple[int, ...]:
    """Shape of a (nested) list of values; a JSON object, null or a ragged list is a ParameterError naming it."""
    if isinstance(value, dict):
        raise ParameterError(f"{where} is a JSON object ({excerpt(value)}), expected a number or a (nested) list "
                             "of numbers")
    if value is None:
        raise ParameterError(f"{where} is null, expected a number or a (nested) list of numbers")
    if isinstance(value, np.ndarray):
        return value.shape
    if not isinstance(value, (list, tuple)):
        return ()
    shapes = {_check_nested(v, f"{where}[{i}]") for i, v in enumerate(value)}
    if len(shapes) > 1:
        raise ParameterError(f"{where} is a ragged list (its entries have different lengths); expected "
                             "a regular array")
    return (len(value),) + (shapes.pop() if shapes else ())


def _symbol_index(idx: tuple[int, ...], shape_names: tuple[str, ...], structure: Mapping[str, int]) -> tuple[int, ...]:
    """Drop trailing action-dimension indices when d = 1 so that d = 1 symbols read ``b_0``, ``K_0``."""
    if structure.get("d", 0) == 1:
        return tuple(i for i, nm in zip(idx, shape_names) if nm != "d")
    return idx


@dataclass(frozen=True)
class Structural:
    """A structural integer (number of states, action dimension): fixes shapes, never symbolic."""

    name: str
    default: int
    low: int
    high: int
    doc: str


@dataclass(frozen=True)
class FamilySpec:
    """The content of a family file.

    ``define(structure, a, p)`` returns ``(cost, kernel)``: ``cost[s]`` is
    :math:`c(s,a)` and ``kernel[s][t]`` is :math:`p(t\\mid s,a)`, sympy
    expressions in the action symbols ``a`` (a tuple of length d) and the
    parameter symbols ``p[name]`` (object arrays).
    """

    name: str
    description: str
    structural: tuple[Structural, ...]
    parameters: Callable[[Mapping[str, int]], Sequence[Parameter]]
    define: Callable[[Mapping[str, int], tuple[sp.Symbol, ...], Mapping[str, np.ndarray]], tuple[list, list]]
    n_states: Callable[[Mapping[str, int]], int]
    action_dim: Callable[[Mapping[str, int]], int]
    grid_half_width: float = 6.0

    def instantiate(self, **params: Any) -> "Family":
        """Validate structure and parameter values; return the immutable :class:`Family`."""
        structure: dict[str, int] = {}
        for st in self.structural:
            raw = params.pop(st.name, st.default)
            if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)) and not (
                isinstance(raw, float) and float(raw).is_integer()
            ):
                raise ParameterError(f"{self.name}: structural parameter {st.name} = {excerpt(raw)} must be an integer")
            raw = int(raw)
            if not st.low <= raw <= st.high:
                raise ParameterError(
                    f"{self.name}: structural parameter {st.name} = {excerpt(raw)} must be in {st.low}..{st.high} "
                    f"({st.doc})"
                )
            structure[st.name] = raw
        dims = self.dims(structure)
        specs = {p.name: p for p in self.parameters(structure)}
        unknown = sorted(set(params) - set(specs))
        if unknown:
            known = [s.name for s in self.structural] + list(specs)
            names = excerpt_list(unknown)
            raise ParameterError(f"{self.name}: unknown parameter(s) {names}; known: {', '.join(known)}")
        values = {}
        for name, spec in specs.items():
            raw = params[name] if name in params else spec.default(structure)
            values[name] = spec.coerce(raw, dims, self.name)
        return Family(self, structure, values)

    def dims(self, structure: Mapping[str, int]) -> dict[str, int]:
        """Structure plus ``n`` (states) and ``d`` (action dimension): what parameter shapes refer to."""
        return {**structure, "n": self.n_states(structure), "d": self.action_dim(structure)}


# --------------------------------------------------------------------------- family
@dataclass(frozen=True)
class Primitives:
    """Vectorised numeric primitives of a family (the family's own c and p, and their a-derivatives).

    All functions take ``s`` and actions ``A`` of shape ``[N, d]``:
    ``cost -> [N]``, ``cost_grad -> [N, d]``, ``cost_hess -> [N, d, d]``,
    ``kernel -> [N, n]`` (row p(.|s,a)), ``kernel_grad -> [N, n, d]``, ``kernel_hess -> [N, n, d, d]``.
    """

    n_states: int
    action_dim: int
    _funcs: tuple
    #: per state, the exp-of-quadratic features of c and p (:func:`otgeom.families.features.feature_hints`),
    #: the panel hints of the feature-resolving quadrature
    features: tuple = ()
    #: per state, a phrase naming the factors of c and p whose features cannot be located (empty: all located);
    #: the quadrature does not certify a state with such factors (:func:`otgeom.families.features.unlocated`)
    unlocated: tuple = ()
    #: builds, per state, one function of the running-error coefficients of the six groups above (flattened)
    #: (:func:`otgeom.families.rounding.error_coefficient`); compiled on first use
    error_builder: Callable | None = field(default=None, compare=False, repr=False)
    _errors: dict = field(default_factory=dict, compare=False, repr=False)

    def eval_error(self, which: str, s: int, A: np.ndarray) -> np.ndarray:
        """Coefficient E with |fl(f) - f| <= u E (u = 2^-53) for ``which`` in cost, cost_grad, ..., kernel_hess.

        Same shape as the function's own values; without an error builder, ``(1 + 8) |f|`` (a guess, said so).
        """
        names = ("cost", "cost_grad", "cost_hess", "kernel", "kernel_grad", "kernel_hess")
        k = names.index(which)
        if self.error_builder is None:
            return 9 * np.abs(getattr(self, which)(s, A))
        if s not in self._errors:
            self._errors[s] = self.error_builder(s)
        d, n = self.action_dim, self.n_states
        shapes = [(), (d,), (d, d), (n,), (n, d), (n, d, d)]
        start = sum(int(np.prod(sh)) for sh in shapes[:k])
        size = int(np.prod(shapes[k]))
        A = np.asarray(A, dtype=float)
        out = self._errors[s](*(A[:, i] for i in range(d)))[start:start + size]
        cols = [np.broadcast_to(np.asarray(x, dtype=float), (A.shape[0],)) for x in out]
        return np.stack(cols, axis=-1).reshape((A.shape[0],) + shapes[k])

    def _eval(self, which: int, s: int, A: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        A = np.asarray(A, dtype=float)
        N = A.shape[0]
        out = self._funcs[s][which](*(A[:, i] for i in range(self.action_dim)))
        cols = [np.broadcast_to(np.asarray(x, dtype=float), (N,)) for x in out]
        return np.stack(cols, axis=-1).reshape((N,) + shape)

    def cost(self, s: int, A: np.ndarray) -> np.ndarray:
        return self._eval(0, s, A, ())

    def cost_grad(self, s: int, A: np.ndarray) -> np.ndarray:
        return self._eval(1, s, A, (self.action_dim,))

    def cost_hess(self, s: int, A: np.ndarray) -> np.ndarray:
        d = self.action_dim
        return self._eval(2, s, A, (d, d))

    def kernel(self, s: int, A: np.ndarray) -> np.ndarray:
        return self._eval(3, s, A, (self.n_states,))

    def kernel_grad(self, s: int, A: np.ndarray) -> np.ndarray:
        return self._eval(4, s, A, (self.n_states, self.action_dim))

    def kernel_hess(self, s: int, A: np.ndarray) -> np.ndarray:
        d = self.action_dim
        return self._eval(5, s, A, (self.n_states, d, d))


def _dirac_pointwise(x, *order):
    """DiracDelta as a pointwise function: 0 off its support, nan on it (the derivative does not exist there).

    Derivatives of a kink (``Abs``, ``sign``, ``Heaviside``) in c or p produce DiracDelta; pointwise they are 0
    except at the kink, where the value is undefined.  R3 (:func:`otgeom.regularity.smoothness`) reports the
    kink; the numeric path evaluates the derivatives where they exist."""
    x = np.asarray(x, dtype=float)
    return np.where(x == 0, np.nan, 0.0)


_POINTWISE_MODULES = [{"DiracDelta": _dirac_pointwise}, "numpy"]


@dataclass(frozen=True)
class Family:
    """A validated MDP family instance: structure, exact parameter values, symbolic c and p.

    Attributes
    ----------
    cost : tuple of sympy.Expr, shape=[n_states]
        :math:`c(s,a)` in the action symbols and parameter *symbols*.
    kernel : tuple of tuple of sympy.Expr, shape=[n_states, n_states]
        ``kernel[s][t]`` is :math:`p(t \\mid s, a)`.
    values : dict
        Parameter name -> object array of exact Rationals.
    validation : dict
        How each definitional check was decided (``"symbolic"`` or ``"grid(...)"``).
    """

    spec: FamilySpec
    structure: Mapping[str, int]
    values: Mapping[str, np.ndarray]
    cost: tuple = field(init=False)
    kernel: tuple = field(init=False)
    action: tuple = field(init=False)
    symbols: Mapping[str, np.ndarray] = field(init=False)
    validation: Mapping[str, str] = field(init=False)

    #: finite state space (the claims of THEORY.md sections 1-4 apply); see ``LQFamily.kind``
    kind = "finite"

    @property
    def supports(self):
        """What this family supports (:mod:`otgeom.families.protocol`): the finite kind, the symbolic layer (tried;
        a family outside the closed-form class says why), the second order when d = 1."""
        from otgeom.families.protocol import Supports

        return Supports(kind="finite", symbolic=True, second_order=self.action_dim == 1, evaluation="quadrature",
                        policy_format="gaussian")

    def __post_init__(self) -> None:
        d = self.spec.action_dim(self.structure)
        action = tuple(sp.Symbol(f"a_{i}" if d > 1 else "a", real=True) for i in range(d))
        dims = self.spec.dims(self.structure)
        symbols = {p.name: p.symbols(dims) for p in self.spec.parameters(self.structure)}
        cost, kernel = self.spec.define(self.structure, action, symbols)
        n = self.spec.n_states(self.structure)
        if len(cost) != n or len(kernel) != n or any(len(row) != n for row in kernel):
            raise FamilyError(f"{self.spec.name}: define() must return n = {n} costs and an n x n kernel")
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "cost", tuple(sp.sympify(c) for c in cost))
        object.__setattr__(self, "kernel", tuple(tuple(sp.sympify(x) for x in row) for row in kernel))
        object.__setattr__(self, "validation", self._validate())

    # -- names -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """The family name with its structural integers, e.g. ``modulated(n=3,d=1)``."""
        if not self.structure:
            return self.spec.name
        return self.spec.name + "(" + ",".join(f"{k}={v}" for k, v in self.structure.items()) + ")"

    @property
    def n_states(self) -> int:
        return self.spec.n_states(self.structure)

    @property
    def action_dim(self) -> int:
        return self.spec.action_dim(self.structure)

    # -- parameters as flat lists ------------------------------------------------
    def parameter_substitution(self) -> dict[sp.Symbol, sp.Rational]:
        """Map every parameter symbol to its exact value."""
        sub: dict[sp.Symbol, sp.Rational] = {}
        for name, syms in self.symbols.items():
            vals = self.values[name]
            for idx in itertools.product(*(range(k) for k in syms.shape)):
                sub[syms[idx]] = vals[idx]
        return sub

    def parameter_symbols(self) -> list[sp.Symbol]:
        """All distinct parameter symbols in a fixed order (name order of the spec, then index order)."""
        out: list[sp.Symbol] = []
        seen = set()
        for syms in self.symbols.values():
            for x in syms.flat:
                if x not in seen:
                    seen.add(x)
                    out.append(x)
        return out

    def parameter_values(self) -> list[sp.Rational]:
        """Exact values aligned with :meth:`parameter_symbols`."""
        sub = self.parameter_substitution()
        return [sub[x] for x in self.parameter_symbols()]

    def parameters_json(self) -> dict[str, Any]:
        """Structure and parameter values as JSON-ready data (floats)."""
        out: dict[str, Any] = dict(self.structure)
        for name, vals in self.values.items():
            out[name] = vals.astype(float).tolist()
        return out

    def with_values(self, **changes: Any) -> "Family":
        """A new validated family with some parameters changed."""
        params: dict[str, Any] = dict(self.structure)
        params.update({k: v.tolist() for k, v in self.values.items()})
        params.update(changes)
        return self.spec.instantiate(**params)

    def cost_at(self, s: int) -> sp.Expr:
        """:math:`c(s,a)` with the parameter values substituted (exact)."""
        return self.cost[s].xreplace(self.parameter_substitution())

    def kernel_at(self, s: int, t: int) -> sp.Expr:
        """:math:`p(t\\mid s,a)` with the parameter values substituted (exact)."""
        return self.kernel[s][t].xreplace(self.parameter_substitution())

    # -- validation --------------------------------------------------------------
    def _validate(self) -> dict[str, str]:
        sub = self.parameter_substitution()
        n = self.n_states
        report: dict[str, str] = {}
        for s in range(n):
            row = [self.kernel[s][t].xreplace(sub) for t in range(n)]
            total = sp.expand(sum(row, sp.Integer(0)) - 1)
            if total != 0 and sp.simplify(total) != 0:
                raise FamilyError(
                    f"{self.label}: kernel row of state {s} does not sum to 1 identically in a: "
                    f"sum_t p(t|{s},a) - 1 = {sp.simplify(total)}"
                )
        report["rows-sum-to-one"] = "symbolic (exact, identically in a)"
        undecided = []
        for s in range(n):
            for t in range(n):
                e = self.kernel[s][t].xreplace(sub)
                nonneg = e.is_nonnegative
                if nonneg is False:
                    raise FamilyError(f"{self.label}: p({t}|{s},a) = {e} is negative")
                if nonneg is None:
                    undecided.append((s, t, e))
        if undecided:
            grid = self._action_grid()
            for s, t, e in undecided:
                f = sp.lambdify(self.action, e, "numpy")
                with np.errstate(all="ignore"):
                    vals = np.broadcast_to(np.asarray(f(*(grid[:, i] for i in range(self.action_dim))), complex),
                                           grid.shape[:1])
                bad = np.flatnonzero(~np.isfinite(vals) | (vals.imag != 0))
                if bad.size:
                    k = int(bad[0])
                    raise FamilyError(f"{self.label}: p({t}|{s},a) is not a real number at a = {grid[k].tolist()}: "
                                      f"{vals[k]} (expression {e})")
                vals = vals.real
                k = int(np.argmin(vals))
                if vals[k] < 0:
                    raise FamilyError(
                        f"{self.label}: p({t}|{s},a) is negative at a = {grid[k].tolist()}: {vals[k]:.6g} "
                        f"(expression {e})"
                    )
            report["nonnegative"] = (
                f"symbolic for {n * n - len(undecided)} entries, grid for {len(undecided)} "
                f"(evenly spaced grid of {grid.shape[0]} actions in "
                f"[-{self.spec.grid_half_width:g}, {self.spec.grid_half_width:g}]^{self.action_dim})"
            )
        else:
            report["nonnegative"] = "symbolic (all entries)"
        return report

    def _action_grid(self) -> np.ndarray:
        d = self.action_dim
        L = self.spec.grid_half_width
        k = {1: 4001, 2: 201, 3: 41}.get(d, 11)
        axes = [np.linspace(-L, L, k)] * d
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)

    # -- numeric primitives --------------------------------------------------------
    def primitives(self) -> Primitives:
        """Lambdify c, p and their first two action derivatives with the parameter values bound.

        Built once per family and then shared (a Primitives is immutable, and the family's expressions and
        values never change): a report's claims ask for it about thirty times, 0.3 s each for modulated n = 3.
        """
        cached = self.__dict__.get("_primitives")
        if cached is None:
            cached = self._build_primitives()
            object.__setattr__(self, "_primitives", cached)
        return cached

    def _build_primitives(self) -> Primitives:
        sub = {k: sp.Float(v, 17) for k, v in self.parameter_substitution().items()}
        a = list(self.action)
        funcs, all_groups = [], []
        for s in range(self.n_states):
            c = self.cost[s].xreplace(sub)
            row = [self.kernel[s][t].xreplace(sub) for t in range(self.n_states)]
            groups = [
                [c],
                [sp.diff(c, x) for x in a],
                [sp.diff(c, x, y) for x in a for y in a],
                row,
                [sp.diff(p, x) for p in row for x in a],
                [sp.diff(p, x, y) for p in row for x in a for y in a],
            ]
            all_groups.append(groups)
            funcs.append(tuple(sp.lambdify(a, g, modules=_POINTWISE_MODULES, cse=True) for g in groups))
        from otgeom.families.features import feature_hints, unlocated
        from otgeom.families.rounding import error_coefficient

        def error_builder(s: int):  # the same expressions, their running-error coefficients, compiled on first use
            return sp.lambdify(a, [error_coefficient(e, a) for g in all_groups[s] for e in g],
                               modules=_POINTWISE_MODULES, cse=True)

        return Primitives(self.n_states, self.action_dim, tuple(funcs),
                          features=tuple(tuple(f) for f in feature_hints(self)), unlocated=tuple(unlocated(self)),
                          error_builder=error_builder)
