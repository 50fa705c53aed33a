"""A derivation is data: named sympy definitions in dependency order plus named outputs.

Long formulas are never expanded into walls of symbols: intermediate quantities
(transition probabilities, spanning-tree sums, the Poisson solution) are named
definitions, exactly as in a hand derivation.  Evaluation feeds the definitions
to ``lambdify`` as its common-subexpression list, so the straight-line program
is what runs.  Derivatives are taken in forward mode *through* the named
definitions (:meth:`DerivationBuilder.diff`), which adds named derivative
definitions instead of differentiating an expanded expression.

Backends: ``numpy`` (float64), ``mpmath`` (set ``mpmath.mp.dps``), ``exact``
(sympy Rationals, for rational-level identities).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

__all__ = ["Derivation", "DerivationBuilder"]


def _flatten(value: Any) -> list[sp.Expr]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, sp.MatrixBase):
        return list(value)
    return [sp.sympify(value)]


def _unflatten(template: Any, it) -> Any:
    if isinstance(template, (list, tuple)):
        return [_unflatten(v, it) for v in template]
    if isinstance(template, sp.MatrixBase):
        return np.array([next(it) for _ in range(len(template))], dtype=object).reshape(template.shape).tolist()
    return next(it)


def _flat_sum_printer(backend: str):
    """A lambdify printer that prints long sums as ``builtins.sum((t1, t2, ...))``.

    A sum of thousands of terms printed as ``t1 + t2 + ...`` nests that deep in
    Python's parser and overflows its recursion limit (spanning-tree sums for n = 6).
    """
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.pycode import MpmathPrinter

    base = NumPyPrinter if backend == "numpy" else MpmathPrinter

    class FlatSumPrinter(base):
        def _print_Add(self, expr, order=None):
            if len(expr.args) <= 64:
                return super()._print_Add(expr, order)
            return "builtins.sum((" + ", ".join(self._print(t) for t in expr.args) + ",))"

    return FlatSumPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                           "user_functions": {}})


@dataclass(frozen=True)
class Derivation:
    """Immutable record of a derivation.

    Attributes
    ----------
    name : str
    inputs : tuple of Symbol
        Argument order of every evaluator.
    definitions : tuple of (Symbol, Expr)
        In dependency order; each expression uses inputs and earlier definitions only.
    outputs : mapping of str to Expr or nested lists of Expr
    """

    name: str
    inputs: tuple
    definitions: tuple
    outputs: Mapping[str, Any]
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def defs(self) -> dict[sp.Symbol, sp.Expr]:
        return dict(self.definitions)

    @cached_property
    def digest(self) -> str:
        """Content hash (sha256 of the canonical text of definitions and outputs)."""
        h = hashlib.sha256()
        for s, e in self.definitions:
            h.update(f"{s}={sp.srepr(e)};".encode())
        for k in sorted(self.outputs):
            h.update(f"{k}:{[sp.srepr(x) for x in _flatten(self.outputs[k])]};".encode())
        return h.hexdigest()[:16]

    def needed(self, exprs: Sequence[sp.Expr]) -> list[tuple[sp.Symbol, sp.Expr]]:
        """The definitions the given expressions depend on, in dependency order."""
        defs = self.defs
        need: set = set()
        stack = [s for e in exprs for s in e.free_symbols if s in defs]
        while stack:
            s = stack.pop()
            if s in need:
                continue
            need.add(s)
            stack.extend(x for x in defs[s].free_symbols if x in defs and x not in need)
        return [(s, e) for s, e in self.definitions if s in need]

    def size(self, names: Sequence[str] | None = None) -> int:
        """Operation count of the outputs plus every definition they need (what evaluation costs)."""
        exprs = [x for k in (names or self.outputs) for x in _flatten(self.outputs[k])]
        return int(sum(sp.count_ops(e) for _, e in self.needed(exprs)) + sum(sp.count_ops(e) for e in exprs))

    def evaluator(self, names: Sequence[str] | None = None, backend: str = "numpy") -> Callable[..., dict[str, Any]]:
        """Compile the outputs ``names`` into ``f(*inputs) -> {name: value}`` (cached per names/backend)."""
        names = tuple(names or self.outputs)
        key = (names, backend)
        if key not in self._cache:
            templates = [self.outputs[k] for k in names]
            flat = [x for t in templates for x in _flatten(t)]
            cses = self.needed(flat)
            modules = {"numpy": "numpy", "mpmath": "mpmath"}[backend]
            fn = sp.lambdify(self.inputs, flat, modules=modules, cse=lambda exprs: (cses, exprs),
                             printer=_flat_sum_printer(backend), docstring_limit=0)

            def run(*args: Any) -> dict[str, Any]:
                it = iter(fn(*args))
                return {k: _unflatten(t, it) for k, t in zip(names, templates)}

            self._cache[key] = run
        return self._cache[key]

    def evaluate_exact(self, values: Mapping[sp.Symbol, sp.Expr], names: Sequence[str] | None = None) -> dict[str, Any]:
        """Evaluate with exact sympy arithmetic (values are Rationals): for rational-level identities."""
        names = tuple(names or self.outputs)
        flat = [x for k in names for x in _flatten(self.outputs[k])]
        env = {s: sp.sympify(v) for s, v in values.items()}
        for s, e in self.needed(flat):
            env[s] = e.xreplace(env)
        it = iter([x.xreplace(env) for x in flat])
        return {k: _unflatten(self.outputs[k], it) for k in names}

    def explicit(self, expr: sp.Expr) -> sp.Expr:
        """Substitute every definition back (beware: can be large)."""
        for s, e in reversed(self.needed([expr])):
            expr = expr.xreplace({s: e})
        return expr

    def with_outputs(self, suffix: str, outputs: Mapping[str, Any]) -> "Derivation":
        """The same definitions with other outputs (e.g. a claimed formula written in their symbols)."""
        return Derivation(f"{self.name}+{suffix}", self.inputs, self.definitions, dict(outputs))

    def items(self, key: str):
        """(label, expression) pairs of output ``key``, matrices and lists flattened: ``flow[2]``, ``metric[0][1]``."""
        def walk(label, value):
            if isinstance(value, sp.MatrixBase):
                for i in range(value.rows):
                    for j in range(value.cols):
                        yield f"{label}[{i}][{j}]", value[i, j]
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    yield from walk(f"{label}[{i}]", v)
            else:
                yield label, sp.sympify(value)

        yield from walk(key, self.outputs[key])

    def _repr_markdown_(self, limit: int = 40) -> str:
        """Typeset display in Jupyter: the named definitions (the first ``limit``) and the outputs."""
        from otgeom.typeset import latex_lines, symbol_latex

        lines = [f"**{self.name}**: {len(self.definitions)} named definitions (digest `{self.digest}`)", ""]
        for sym, expr in self.definitions[:limit]:
            lines += ["$$", latex_lines(symbol_latex(sym.name), expr), "$$"]
        if len(self.definitions) > limit:
            lines.append(f"... {len(self.definitions) - limit} more definitions (`derivation.definitions`)")
        lines += ["", "**outputs**", ""]
        from otgeom.typeset import latex

        name = lambda label: rf"\mathtt{{{label.replace('_', chr(92) + '_')}}}"  # noqa: E731
        for key, value in self.outputs.items():
            if isinstance(value, sp.MatrixBase):
                lines += ["$$", f"{name(key)} = {latex(value)}", "$$"]
                continue
            for label, expr in self.items(key):
                lines += ["$$", latex_lines(name(label), expr), "$$"]
        return "\n".join(lines)

    def builder(self) -> "DerivationBuilder":
        """A builder preloaded with this derivation, to extend it (e.g. with derivatives)."""
        b = DerivationBuilder(self.inputs)
        for s, e in self.definitions:
            b._add(s, e)
        return b


def _partial(expr: sp.Expr, u: sp.Symbol) -> sp.Expr:
    """Partial derivative, with a fast path for multilinear sums of distinct-symbol products.

    Spanning-tree sums have thousands of terms, each a product of distinct symbols:
    the derivative in u is the sum of the terms containing u with u removed.
    sympy's product rule does the same thing about a hundred times slower.
    """
    if expr.is_Add and len(expr.args) > 16:
        out = []
        for t in expr.args:
            if t == u:
                out.append(sp.Integer(1))
            elif t.is_Mul and all(f.is_Symbol for f in t.args):
                if u in t.args:
                    rest = tuple(f for f in t.args if f != u)
                    if len(rest) == len(t.args) - 1:
                        out.append(sp.Mul._from_args(rest) if len(rest) > 1 else rest[0])
                    else:
                        return sp.diff(expr, u)
            elif u in t.free_symbols:
                return sp.diff(expr, u)
        return sp.Add._from_args(tuple(out)) if len(out) > 1 else (out[0] if out else sp.Integer(0))
    return sp.diff(expr, u)


class DerivationBuilder:
    """Mutable helper that collects definitions; :meth:`build` freezes them into a :class:`Derivation`."""

    def __init__(self, inputs: Sequence[sp.Symbol]):
        self.inputs = tuple(inputs)
        self._defs: list[tuple[sp.Symbol, sp.Expr]] = []
        self._map: dict[sp.Symbol, sp.Expr] = {}
        self._deps: dict[sp.Symbol, frozenset] = {}
        self._dmemo: dict[tuple, sp.Expr] = {}

    def _add(self, sym: sp.Symbol, expr: sp.Expr) -> sp.Symbol:
        if sym in self._map or sym in self.inputs:
            raise ValueError(f"definition name {sym} is used twice")
        deps = set()
        for x in expr.free_symbols:
            if x in self._map:
                deps |= self._deps[x]
            else:
                deps.add(x)
        self._defs.append((sym, expr))
        self._map[sym] = expr
        self._deps[sym] = frozenset(deps)
        return sym

    def define(self, name: str, expr: sp.Expr, **assumptions: bool) -> sp.Symbol:
        """Name ``expr``; return the symbol standing for it (constants are returned as they are)."""
        expr = sp.sympify(expr)
        if expr.is_number:
            return expr
        return self._add(sp.Symbol(name, **assumptions), expr)

    def depends_on(self, expr: sp.Expr, x: sp.Symbol) -> bool:
        return any((s == x) or (s in self._deps and x in self._deps[s]) for s in expr.free_symbols)

    def diff(self, expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
        """Total derivative of ``expr`` with respect to input ``x``, through the named definitions."""
        expr = sp.sympify(expr)
        total = sp.diff(expr, x) if x in expr.free_symbols else sp.Integer(0)
        for u in sorted(expr.free_symbols, key=sp.default_sort_key):  # a fixed order: reproducible definitions
            if u in self._map and x in self._deps[u]:
                du = self._diff_def(u, x)
                if du != 0:
                    total += _partial(expr, u) * du
        return total

    def _diff_def(self, u: sp.Symbol, x: sp.Symbol) -> sp.Expr:
        key = (u, x)
        if key not in self._dmemo:
            named = sp.Symbol(f"d{u}_d{x}")
            if named in self._map:  # derived before this builder was reloaded (Derivation.builder)
                self._dmemo[key] = named
                return named
            de = self.diff(self._map[u], x)
            self._dmemo[key] = self.define(f"d{u}_d{x}", de) if de != 0 else sp.Integer(0)
        return self._dmemo[key]

    def build(self, name: str, outputs: Mapping[str, Any]) -> Derivation:
        return Derivation(name, self.inputs, tuple(self._defs), dict(outputs))
