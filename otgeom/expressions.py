r"""Expression strings from files, parsed into sympy without ever running them.

:func:`parse_expression` reads a string such as ``"q[s] * exp(-k[s] * (a - b[s])**2)"`` with Python's own
parser (:func:`ast.parse`, which builds a syntax tree and executes nothing) and then builds the sympy
expression itself, node by node, from an explicit whitelist:

* numbers: integer literals of at most 30 digits and decimal literals (read exactly, ``0.1`` is 1/10), each 0
  or of magnitude in [1e-300, 1e15] (the limits of :mod:`otgeom.limits`); no strings, bytes, booleans, complex
  numbers, ``None`` or ``...``;
* names: the declared symbols only (the action variables, the state indices, the parameters, earlier
  definitions) and the constants ``pi`` and ``E``;
* operators ``+ - * / **`` and unary ``-``/``+``; a power with a numeric exponent needs
  :math:`|\text{exponent}| \le 64`, and a constant that leaves [1e-300, 1e300] is refused (``10**10**10`` is
  rejected at its outer power, before sympy computes anything);
* calls of the listed functions (:data:`FUNCTIONS`: exp, log, sqrt, sin, cos, tanh, Abs, Min, Max) with plain
  positional arguments;
* subscripts ``x[i]``, ``x[i][j]`` or ``x[i, j]`` of declared arrays, with integer indices built from integer
  literals, the state indices and ``+ - * %``, checked against the array's shape.

Everything else (attribute access, dunder names, lambdas, comprehensions, conditional expressions,
comparisons, boolean operators, starred or keyword arguments, assignments) is an
:class:`UnsafeExpressionError` naming the construct and its column, raised before anything is built.  A string
longer than :data:`MAX_LENGTH` characters, or nested deeper than :data:`MAX_DEPTH`, is refused before parsing.
``sympify`` is never called on text.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np
import sympy as sp

from otgeom.errors import FamilyFileError

__all__ = ["UnsafeExpressionError", "Scope", "parse_expression", "check_size", "tree_size", "expanded_terms",
           "FUNCTIONS", "MAX_LENGTH", "MAX_DEPTH", "MAX_NODES", "MAX_POWER", "MAX_TREE", "MAX_EXPANDED_TERMS"]

MAX_LENGTH = 4000
MAX_DEPTH = 40
MAX_NODES = 4000
MAX_POWER = 64
#: at most this many arguments of Min and Max (sympy's simplification of them is quadratic in their number)
MAX_MINMAX_ARGS = 8
#: at most this many nodes in an expression tree (definitions substituted), and at most this many terms if it were
#: expanded (powers of sums multiply out): bounds the work of every later step (validation, lambdify, derivations)
MAX_TREE = 20_000
MAX_EXPANDED_TERMS = 100_000
MAX_INT_DIGITS = 30
#: magnitudes a numeric constant may take while an expression is built (beyond them float64 cannot represent it)
MAX_CONSTANT = sp.Integer(10) ** 300
MIN_CONSTANT = sp.Rational(1, 10**300)

#: name -> (sympy function, number of arguments: an int, or None for two or more)
FUNCTIONS: dict[str, tuple[Any, int | None]] = {
    "exp": (sp.exp, 1), "log": (sp.log, 1), "sqrt": (sp.sqrt, 1), "sin": (sp.sin, 1), "cos": (sp.cos, 1),
    "tanh": (sp.tanh, 1), "Abs": (sp.Abs, 1), "abs": (sp.Abs, 1), "Min": (sp.Min, None), "Max": (sp.Max, None),
}
CONSTANTS = {"pi": sp.pi, "E": sp.E}


class UnsafeExpressionError(FamilyFileError):
    """An expression string uses something outside the whitelist, names an undeclared symbol, or is too large.

    ``column`` is the 1-based column in the string (None when the whole string is at fault)."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Scope:
    """What an expression may name: ``symbols`` (name -> sympy expression), ``arrays`` (name -> object array of
    sympy expressions, indexed with ``[...]``) and ``indices`` (name -> int, the state indices)."""

    symbols: Mapping[str, sp.Expr]
    arrays: Mapping[str, np.ndarray]
    indices: Mapping[str, int]

    def names(self) -> list[str]:
        return sorted(set(self.symbols) | set(self.arrays) | set(self.indices) | set(CONSTANTS))


_INDEX_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Mod: "%"}


def _construct(node: ast.AST) -> str:
    """A readable name of a syntax construct, for messages."""
    names = {ast.Attribute: "attribute access (x.y)", ast.Lambda: "lambda", ast.ListComp: "a comprehension",
             ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
             ast.IfExp: "a conditional expression (x if c else y)", ast.Compare: "a comparison",
             ast.BoolOp: "and/or", ast.Starred: "*arguments", ast.Dict: "a dict", ast.Set: "a set",
             ast.List: "a list", ast.Tuple: "a tuple", ast.JoinedStr: "an f-string", ast.NamedExpr: "assignment (:=)",
             ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "a slice"}
    for cls, text in names.items():
        if isinstance(node, cls):
            return text
    if isinstance(node, ast.BinOp):
        return f"the operator {type(node.op).__name__}"
    if isinstance(node, ast.UnaryOp):
        return f"the unary operator {type(node.op).__name__}"
    return type(node).__name__


def _col(node: ast.AST) -> int | None:
    off = getattr(node, "col_offset", None)
    return None if off is None else off + 1


def parse_expression(text: Any, scope: Scope) -> sp.Expr:
    """The sympy expression of ``text`` over ``scope`` (see the module docstring), or UnsafeExpressionError."""
    if not isinstance(text, str):
        raise UnsafeExpressionError(f"expected an expression string, got {type(text).__name__} {text!r:.60}")
    if len(text) > MAX_LENGTH:
        raise UnsafeExpressionError(f"expression of {len(text)} characters: at most {MAX_LENGTH} are accepted")
    if not text.strip():
        raise UnsafeExpressionError("empty expression")
    if any(ch in text for ch in "\0\r\n"):
        raise UnsafeExpressionError("an expression is one line (no newline or null characters)")
    depth = 0
    for i, ch in enumerate(text):  # nesting, before the parser's own recursion sees it
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth > MAX_DEPTH:
            raise UnsafeExpressionError(f"brackets nested deeper than {MAX_DEPTH}", i + 1)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpressionError(f"not an expression: {exc.msg}", exc.offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UnsafeExpressionError(f"not an expression: {type(exc).__name__}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise UnsafeExpressionError(f"expression of {len(nodes)} syntax nodes: at most {MAX_NODES} are accepted")
    for node in nodes:  # the whole tree is vetted before anything is built
        _vet(node, scope)
    body = text.strip()
    decimals = {id(node): _decimal(ast.get_source_segment(body, node) or repr(node.value), node)
                for node in nodes if isinstance(node, ast.Constant) and isinstance(node.value, float)}
    return check_size(_build(tree.body, scope, 0, decimals), "the expression")


def _decimal(text: str, node: ast.AST) -> sp.Rational:
    """A decimal literal exactly as written (``0.1`` is 1/10, ``1e-400`` is refused, not rounded to 0)."""
    from otgeom.errors import ParameterError
    from otgeom.limits import check_magnitude, parse_exact

    try:
        fr = check_magnitude(parse_exact(text, "the literal"), "the literal")
    except ParameterError as exc:
        raise UnsafeExpressionError(str(exc), _col(node)) from None
    return sp.Rational(fr.numerator, fr.denominator)


def _vet(node: ast.AST, scope: Scope) -> None:
    ok = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.Subscript,
          ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd, ast.Tuple)
    if not isinstance(node, ok):
        raise UnsafeExpressionError(f"{_construct(node)} is not allowed in an expression", _col(node))
    if isinstance(node, ast.Name) and (node.id.startswith("_") or "__" in node.id):
        raise UnsafeExpressionError(f"the name {node.id!r} is not allowed (no underscore-prefixed or dunder names)",
                                    _col(node))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise UnsafeExpressionError(f"{_construct(node.func)} is not allowed in an expression (a call of it)",
                                        _col(node.func))
        if node.func.id not in FUNCTIONS:
            raise UnsafeExpressionError(f"call of {node.func.id!r}: only {', '.join(sorted(FUNCTIONS))} may be "
                                        "called", _col(node))
        if node.keywords:
            raise UnsafeExpressionError(f"keyword arguments in a call of {node.func.id}", _col(node))
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
        raise UnsafeExpressionError(f"the constant {node.value!r:.40} is not a number", _col(node))


def _number(value: Any, node: ast.AST) -> sp.Expr:
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_INT_DIGITS:
            raise UnsafeExpressionError(f"an integer literal of more than {MAX_INT_DIGITS} digits", _col(node))
        return sp.Integer(value)
    if not np.isfinite(value):
        raise UnsafeExpressionError(f"the literal {value!r} is not finite", _col(node))
    fr = Fraction(repr(value))
    return _checked(sp.Rational(fr.numerator, fr.denominator), node)


def _checked(x: sp.Expr, node: ast.AST) -> sp.Expr:
    """A numeric constant must stay representable in float64."""
    if x.is_Number and x != 0:
        if x.is_Rational and not (MIN_CONSTANT <= abs(x) <= MAX_CONSTANT):
            raise UnsafeExpressionError("a constant beyond what float64 represents (|x| > 1e300 or < 1e-300)",
                                        _col(node))
        if x.is_Float and not np.isfinite(float(x)):
            raise UnsafeExpressionError("a constant that is not finite", _col(node))
    # every operand was checked when it was built, so a new infinity or nan can only be this node itself (a walk of
    # the whole tree with .has() at every node would be exponential in the depth of substituted definitions)
    if x is sp.zoo or x is sp.nan or x is sp.oo or x is sp.S.NegativeInfinity:
        raise UnsafeExpressionError("a division by zero or an infinite constant", _col(node))
    if x.is_number and not x.is_Rational:  # exp(1000), log(0), sqrt(-1): a constant float64 cannot hold
        try:
            v = complex(x.evalf(15))
        except (TypeError, ValueError, ArithmeticError):
            raise UnsafeExpressionError("a constant that cannot be evaluated", _col(node)) from None
        if v.imag != 0 or not np.isfinite(v.real) or abs(v.real) > 1e300 or 0 < abs(v.real) < 1e-300:
            raise UnsafeExpressionError(f"the constant {_short(x)} is not a finite real number within float64's "
                                        "range", _col(node))
    return x


def _build(node: ast.AST, scope: Scope, depth: int, decimals: Mapping[int, sp.Rational]) -> sp.Expr:
    if depth > MAX_DEPTH * 2:
        raise UnsafeExpressionError(f"expression nested deeper than {MAX_DEPTH * 2}", _col(node))
    if isinstance(node, ast.Constant):
        return decimals[id(node)] if id(node) in decimals else _number(node.value, node)
    if isinstance(node, ast.Name):
        if node.id in scope.symbols:
            return scope.symbols[node.id]
        if node.id in scope.indices:
            return sp.Integer(scope.indices[node.id])
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in scope.arrays:
            arr = scope.arrays[node.id]
            if arr.shape == ():
                return arr[()]
            raise UnsafeExpressionError(f"{node.id} has shape {list(arr.shape)}: index it, e.g. "
                                        f"{node.id}{''.join('[s]' for _ in arr.shape)}", _col(node))
        if node.id in FUNCTIONS:
            raise UnsafeExpressionError(f"the function {node.id} must be called, {node.id}(...)", _col(node))
        raise UnsafeExpressionError(f"undeclared symbol {node.id!r}; declared: {', '.join(scope.names())}",
                                    _col(node))
    if isinstance(node, ast.UnaryOp):
        x = _build(node.operand, scope, depth + 1, decimals)
        return -x if isinstance(node.op, ast.USub) else x if isinstance(node.op, ast.UAdd) else _refuse(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _chain(node, scope, depth, decimals)
    if isinstance(node, ast.BinOp):  # + - * / are chains (above); of the rest only ** is allowed
        if not isinstance(node.op, ast.Pow):
            _refuse(node)
        x = _build(node.left, scope, depth + 1, decimals)
        y = _build(node.right, scope, depth + 1, decimals)
        if y.is_Number and (not y.is_Rational or abs(y) > MAX_POWER):
            raise UnsafeExpressionError(f"a power with exponent {_short(y)}: numeric exponents must be "
                                        f"rational with |exponent| <= {MAX_POWER}", _col(node))
        if x.is_Number and y.is_Number:  # a symbolic exponent (2**k[s]) is evaluated in float64 later
            bound = abs(float(y)) * abs(float(sp.log(abs(x), 10))) if x != 0 else 0.0
            if bound > 300:
                raise UnsafeExpressionError("a constant power beyond what float64 represents", _col(node))
        return _checked(x ** y, node)
    if isinstance(node, ast.Call):
        fn, arity = FUNCTIONS[node.func.id]
        if arity is None and len(node.args) > MAX_MINMAX_ARGS:
            raise UnsafeExpressionError(f"{node.func.id} of {len(node.args)} arguments: at most {MAX_MINMAX_ARGS}",
                                        _col(node))
        args = [_build(a, scope, depth + 1, decimals) for a in node.args]
        if arity is None and len(args) < 2 or arity is not None and len(args) != arity:
            want = "two or more arguments" if arity is None else f"{arity} argument{'s' * (arity != 1)}"
            raise UnsafeExpressionError(f"{node.func.id} takes {want}, given {len(args)}", _col(node))
        return _checked(fn(*args), node)
    if isinstance(node, ast.Subscript):
        return _subscript(node, scope)
    return _refuse(node)


def _chain(node: ast.BinOp, scope: Scope, depth: int, decimals: Mapping[int, sp.Rational]) -> sp.Expr:
    """A left-nested chain ``t0 + t1 - t2 ...`` (or ``* /``) built iteratively, so a long flat sum costs no depth."""
    additive = isinstance(node.op, (ast.Add, ast.Sub))
    kinds = (ast.Add, ast.Sub) if additive else (ast.Mult, ast.Div)
    ops, spine = [], node
    while isinstance(spine, ast.BinOp) and isinstance(spine.op, kinds):
        ops.append(spine)
        spine = spine.left
    out = _build(spine, scope, depth + 1, decimals)
    for op in reversed(ops):
        y = _build(op.right, scope, depth + 1, decimals)
        if isinstance(op.op, ast.Add):
            out = out + y
        elif isinstance(op.op, ast.Sub):
            out = out - y
        elif isinstance(op.op, ast.Mult):
            out = out * y
        else:
            if y == 0:
                raise UnsafeExpressionError("division by zero", _col(op))
            out = out / y
        out = _checked(out, op)
    return out


def tree_size(expr: sp.Basic, limit: int = MAX_TREE) -> int:
    """Nodes of ``expr`` as a tree (shared subexpressions counted each time they occur), computed over the distinct
    subexpressions only (linear in the DAG), stopping once above ``limit``."""
    memo: dict[int, int] = {}

    def size(e: sp.Basic) -> int:
        k = id(e)
        if k not in memo:
            memo[k] = min(limit + 1, 1 + sum(size(a) for a in e.args))
        return memo[k]
    return size(expr)


def expanded_terms(expr: sp.Basic, limit: int = MAX_EXPANDED_TERMS) -> int:
    """An upper bound on the number of terms ``sympy.expand`` would produce (sums add, products multiply, a power
    k of a sum of t terms has C(k + t - 1, t - 1)), capped just above ``limit``."""
    from math import comb

    memo: dict[int, int] = {}

    def terms(e: sp.Basic) -> int:
        k = id(e)
        if k in memo:
            return memo[k]
        if e.is_Add:
            out = sum(terms(a) for a in e.args)
        elif e.is_Mul:
            out = 1
            for a in e.args:
                out = min(limit + 1, out * terms(a))
        elif e.is_Pow and e.exp.is_Integer and e.exp > 0:
            t = terms(e.base)
            out = comb(int(e.exp) + t - 1, t - 1) if t > 1 else 1
        else:
            out = 1
        memo[k] = min(limit + 1, out)
        return memo[k]
    return terms(expr)


def check_size(expr: sp.Basic, what: str) -> sp.Basic:
    """Refuse an expression too large for the later steps (see :data:`MAX_TREE`, :data:`MAX_EXPANDED_TERMS`)."""
    try:
        big, wide = tree_size(expr) > MAX_TREE, expanded_terms(expr) > MAX_EXPANDED_TERMS
    except RecursionError:
        big, wide = True, False
    if big:
        raise UnsafeExpressionError(f"{what} has more than {MAX_TREE} nodes once its definitions are substituted")
    if wide:
        raise UnsafeExpressionError(f"{what} would expand to more than {MAX_EXPANDED_TERMS} terms (powers and "
                                    "products of sums)")
    return expr


def _refuse(node: ast.AST):
    raise UnsafeExpressionError(f"{_construct(node)} is not allowed in an expression", _col(node))


def _short(x: Any) -> str:
    text = str(x)
    return text if len(text) <= 30 else text[:30] + "..."


def _subscript(node: ast.Subscript, scope: Scope) -> sp.Expr:
    """``x[i][j]`` or ``x[i, j]`` of a declared array, integer indices checked against its shape."""
    idx: list[int] = []
    base: ast.AST = node
    while isinstance(base, ast.Subscript):
        sl = base.slice
        parts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        idx[:0] = [_index(p, scope) for p in parts]
        base = base.value
    if not isinstance(base, ast.Name):
        raise UnsafeExpressionError("only declared parameters can be indexed", _col(node))
    if base.id not in scope.arrays:
        what = "undeclared symbol" if base.id not in scope.symbols else "not an array:"
        raise UnsafeExpressionError(f"{what} {base.id!r} cannot be indexed; arrays: "
                                    f"{', '.join(sorted(scope.arrays)) or 'none'}", _col(base))
    arr = scope.arrays[base.id]
    if len(idx) != arr.ndim:
        raise UnsafeExpressionError(f"{base.id} has shape {list(arr.shape)}: it takes {arr.ndim} "
                                    f"ind{'ex' if arr.ndim == 1 else 'ices'}, given {len(idx)}", _col(node))
    for k, (i, size) in enumerate(zip(idx, arr.shape)):
        if not 0 <= i < size:
            raise UnsafeExpressionError(f"index {i} of {base.id} (axis {k}) is out of range 0..{size - 1}",
                                        _col(node))
    return arr[tuple(idx)]


def _index(node: ast.AST, scope: Scope, depth: int = 0) -> int:
    """An integer index: literals, the state indices and + - * % of them (plain Python ints, small)."""
    if depth > 10:
        raise UnsafeExpressionError("index expression nested too deeply", _col(node))
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        if abs(node.value) > 10**6:
            raise UnsafeExpressionError(f"index {node.value} is too large", _col(node))
        return int(node.value)
    if isinstance(node, ast.Name) and node.id in scope.indices:
        return int(scope.indices[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_index(node.operand, scope, depth + 1)
    if isinstance(node, ast.BinOp) and type(node.op) in _INDEX_BINOPS:
        x, y = _index(node.left, scope, depth + 1), _index(node.right, scope, depth + 1)
        if isinstance(node.op, ast.Mod):
            if y == 0:
                raise UnsafeExpressionError("index modulo zero", _col(node))
            return x % y
        out = {ast.Add: x + y, ast.Sub: x - y, ast.Mult: x * y}[type(node.op)]
        if abs(out) > 10**6:
            raise UnsafeExpressionError(f"index {out} is too large", _col(node))
        return out
    what = node.id if isinstance(node, ast.Name) else _construct(node)
    raise UnsafeExpressionError(f"an index must be an integer built from literals and the state indices "
                                f"({', '.join(sorted(scope.indices)) or 'none here'}); got {what!r}", _col(node))
