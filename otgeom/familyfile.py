r"""MDP families from TOML files: read without running any code, every error pointing at its line.

A family file describes a finite family: its states, the action dimension, parameters with defaults and domains,
named definitions, the cost per state and the kernel per pair, as expression strings in the action variables
and the parameters.  :func:`load_family` reads it with :mod:`tomllib` and :func:`otgeom.expressions.parse_expression`
(a whitelist over Python's syntax tree: nothing is evaluated, ``sympify`` never sees the text) and returns an
ordinary :class:`~otgeom.families.Family`, so every command and function works on it.

The schema (``examples/families/*.toml`` are worked examples; README, "Your own families")::

    name = "my-family"              # required: lower case letters, digits and '-', at most 40 characters
    description = "one line"        # optional
    states = 2                      # required: the number of states (1..12), or a list of their labels
    action_dim = 1                  # optional (1..3, default 1): the actions are a (d = 1) or a_0, a_1, ...
    policy = "gaussian"             # optional: the policy family (only "gaussian" for now)

    [parameters.q]                  # one table per parameter
    shape = ["n"]                   # optional: axes "n" (states), "d" (action dimension) or integers; [] = scalar
    domain = "open-unit"            # real | positive | nonnegative | open-unit | interval | row-stochastic | spd
    interval = ["-1", "1"]          # with domain = "interval": the open interval (low, high)
    default = ["3/5", "4/5"]        # required: numbers, or exact strings such as "1/3"
    description = "what q means"    # optional

    [definitions]                   # optional: named expressions of the state s, in order
    phi = "q[s] * exp(-k[s] * (a - b[s])**2)"

    [cost]                          # exactly one of:
    each = "(a - t[s])**2 + e[s]"   #   one expression of the state s
    # states = ["a**2", "(a - 1)**2"]   one expression per state

    [kernel]                        # exactly one of:
    each = "(1 - phi) * M[s][s_next] + phi * N[s][s_next]"   # one expression of s and s_next
    # rows = [["phi", "1 - phi"], ["1 - phi", "phi"]]         # n rows of n expressions (the definitions at that s)

Indexed parameters are written ``q[s]``, ``K[s][0][1]`` or ``K[s, 0, 1]``; an index is an integer built from
literals, ``s``, ``s_next`` and ``+ - * %`` (e.g. ``M[s][(s + 1) % 3]``).  Reserved names (not parameter or
definition names): the action variables, ``s``, ``s_next``, ``pi``, ``E`` and the function names.

Errors (all :class:`~otgeom.errors.FamilyFileError`, exit status 2 on the command line) name the file, the line
and column or the key, and what was expected: malformed TOML (:class:`~otgeom.errors.FamilyFileSyntaxError`),
unknown or missing keys and wrong types (:class:`~otgeom.errors.FamilyFileSchemaError`), expressions outside
the whitelist or naming undeclared symbols (:class:`~otgeom.expressions.UnsafeExpressionError`), and a kernel
that is not one (a row not summing to 1, a probability that can be negative, with the state, the entry and a
witness value) or defaults outside their domains (:class:`~otgeom.errors.FamilyFileSemanticError`).
"""
from __future__ import annotations

import hashlib
import os
import re
import tomllib
from typing import Any, Mapping

import numpy as np
import sympy as sp

from otgeom.errors import (FamilyError, FamilyFileError, FamilyFileSchemaError, FamilyFileSemanticError,
                           FamilyFileSyntaxError, OtgeomError, ParameterError)
from otgeom.expressions import CONSTANTS, FUNCTIONS, Scope, UnsafeExpressionError, parse_expression
from otgeom.limits import excerpt, read_user_file

__all__ = ["load_family", "load_family_text", "family_file_digest", "family_source", "SCHEMA_KEYS", "DOMAINS"]

TOP_KEYS = ("name", "description", "states", "action_dim", "policy", "parameters", "definitions", "cost", "kernel")
PARAMETER_KEYS = ("shape", "domain", "interval", "default", "description")
SCHEMA_KEYS = {"": TOP_KEYS, "parameters.*": PARAMETER_KEYS, "cost": ("each", "states"), "kernel": ("each", "rows")}
DOMAINS = ("real", "positive", "nonnegative", "open-unit", "interval", "row-stochastic", "spd")
MAX_STATES = 12
MAX_PARAMETERS = 64
#: at most this many parameter values in all (each is validated exactly, and symbols are made for each)
MAX_PARAMETER_ENTRIES = 4096
MAX_DEFINITIONS = 64
_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}\Z")
#: names the symbolic layer gives its own symbols (policy coordinates m_s, sigma_s; P_s_t, r_s, rho_s, h_s, J, ...):
#: a parameter or definition of that name would be confused with them in a derivation
DERIVATION_NAMES = frozenset({"EgradQ", "EgradQ2", "EhessQ", "Gamma", "J", "P", "Q", "S", "Z", "christoffel", "d2J",
                              "dQ", "dh", "drho", "flow", "geodesic", "gradQ", "h", "hshift", "htilde", "m", "metric",
                              "r", "rho", "sigma", "tau", "v", "p", "x", "G", "C", "H", "A", "X"})


def _derivation_name(name: str) -> bool:
    return name in DERIVATION_NAMES or bool(re.match(r"(g\d|d[A-Z0-9]|dd)", name))
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}\Z")


class _Source:
    """The file's name and text, to point at the line of a key or an expression."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text
        self.lines = text.splitlines()

    def where(self, key: str, expr: str | None = None, column: int | None = None) -> str:
        """``file, line L, column C (key K)`` as well as it can be located."""
        line = col = None
        if expr is not None:
            for i, ln in enumerate(self.lines):
                j = ln.find(expr)
                if j >= 0:
                    line, col = i + 1, j + (column or 1)
                    break
        if line is None:
            last = key.split(".")[-1].split("[")[0]
            table = ".".join(key.split(".")[:-1])
            start = 0  # a key of a table is looked for after the table's header, so parameters.k.default is k's
            for i, ln in enumerate(self.lines):
                if table and ln.strip() == f"[{table}]":
                    start = i
                    break
            for i, ln in enumerate(self.lines[start:], start):
                if re.match(rf"\s*{re.escape(last)}\s*=", ln) or ln.strip() == f"[{key}]":
                    line = i + 1
                    break
        out = self.name + (f", line {line}" if line else "") + (f", column {col}" if col and expr is not None else "")
        return f"{out} ({key})"


def family_source(family: Any) -> str | None:
    """The absolute path of the family file ``family`` was loaded from (None for a built-in family)."""
    return getattr(getattr(family, "spec", None), "source", None)


def family_file_digest(path: str) -> str:
    """sha256 of the file's bytes (what a saved result records, so a colleague can check they have the same file)."""
    return hashlib.sha256(read_user_file(path, "family file", error=FamilyFileSchemaError)).hexdigest()


def load_family(path: str | os.PathLike, **params: Any):
    """The family a TOML file defines (see the module docstring), with parameter values ``params`` overriding its
    defaults.  Nothing in the file is executed."""
    path = os.fspath(path)
    data = read_user_file(path, "family file", error=FamilyFileSchemaError)  # a regular file of at most 1 MiB
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FamilyFileSyntaxError(f"{excerpt(path, 200, quote=False)}: not UTF-8 text (byte {exc.start})") from None
    fam = load_family_text(text, excerpt(path, 200, quote=False), **params)
    object.__setattr__(fam.spec, "source", os.path.abspath(path))  # the report's reproduce command names it
    return fam


def load_family_text(text: str, name: str = "<family file>", **params: Any):
    """:func:`load_family` on the file's text (``name`` is used in messages)."""
    src = _Source(name, text)
    if "\0" in text:
        raise FamilyFileSyntaxError(f"{name}: contains a null character at offset {text.index(chr(0))}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FamilyFileSyntaxError(f"{name}: malformed TOML: {exc}") from None
    except RecursionError:
        raise FamilyFileSyntaxError(f"{name}: malformed TOML: nested too deeply") from None
    spec = _spec(doc, src)
    dims = spec.dims({})
    for p in spec.parameters({}):  # the file's defaults, each in its domain (before anything is built)
        try:
            p.coerce(p.default({}), dims, spec.name)
        except ParameterError as exc:
            raise FamilyFileSemanticError(f"{src.where(f'parameters.{p.name}.default')}: default outside its "
                                          f"domain or of the wrong shape: {exc}") from None
    try:
        fam = spec.instantiate(**params)
    except FamilyFileError:
        raise
    except FamilyError as exc:
        raise FamilyFileSemanticError(f"{src.where('kernel')}: {exc}{_row_witness(spec, params)}") from None
    _check_values(fam, src)
    _check_domains(fam, src)
    return fam


#: random parameter points (inside the declared domains) at which a file's model must also be an MDP
DOMAIN_SAMPLES = 3


def _check_domains(fam, src: _Source) -> None:
    """The claims draw random parameters inside the declared domains (:func:`otgeom.sampling.random_parameters`),
    so the model must be valid there too: at :data:`DOMAIN_SAMPLES` seeded points, or a FamilyFileSemanticError
    naming the point (narrow the domains)."""
    from otgeom.sampling import random_parameters

    rng = np.random.default_rng(0)
    for _ in range(DOMAIN_SAMPLES):
        values = random_parameters(fam, rng)
        shown = {k: np.asarray(v, dtype=object).astype(float).tolist() for k, v in values.items()}
        try:
            other = fam.with_values(**values)
        except FamilyError as exc:
            raise FamilyFileSemanticError(
                f"{src.where('kernel')}: not an MDP at parameters inside the declared domains, {excerpt(shown, 300)}: "
                f"{exc}{_row_witness(fam.spec, values)}; narrow the domains (the claims draw random parameters "
                "from them)") from None
        _check_values(other, src, f"at parameters inside the declared domains, {excerpt(shown, 300)} (narrow the "
                                  "domains: the claims draw random parameters from them)")


def _row_witness(spec, params: Mapping[str, Any]) -> str:
    """For a kernel that is not a kernel: the state whose row does not sum to 1, with the actions and sums seen."""
    dims = spec.dims({})
    n, d = dims["n"], dims["d"]
    labels = getattr(spec, "labels", tuple(str(i) for i in range(n)))
    a = tuple(sp.Symbol(f"a_{i}" if d > 1 else "a", real=True) for i in range(d))
    syms, sub = {}, {}
    for p in spec.parameters({}):
        syms[p.name] = p.symbols(dims)
        vals = p.coerce(params.get(p.name, p.default({})), dims, spec.name)
        for idx in np.ndindex(*vals.shape):
            sub[syms[p.name][idx]] = vals[idx]
    try:
        _, kernel = spec.define({}, a, syms)
    except OtgeomError:
        return ""
    for s in range(n):
        try:
            f = sp.lambdify(a, sp.Add(*kernel[s]).xreplace(sub), "numpy")
        except Exception:  # e.g. an entry that is undefined at these values (1/0): the message above says enough
            continue
        for x in (0.0, 1.0, -1.0, 0.5):
            with np.errstate(all="ignore"):
                try:
                    total = float(np.asarray(f(*([np.full(1, x)] * d)), float).ravel()[0])
                except Exception:
                    continue
            if not abs(total - 1.0) <= 1e-12:
                where = f"state {s}" + (f" ({labels[s]})" if labels[s] != str(s) else "")
                return f"; witness: {where}, a = {[x] * d if d > 1 else x}: the row sums to {total:.17g}"
    return ""


#: actions far outside the validation grid of [-6, 6]^d at which a file's kernel must still be a probability and its
#: cost finite: a probability linear in a (1/2 + a/20) turns negative only beyond the grid
FAR_ACTIONS = (10.0, 100.0, 1e3, 1e6)


def _check_values(fam, src: _Source, where: str = "at its defaults") -> None:
    """Every cost and kernel entry is defined (no division by zero) and real: finite on the family's validation grid
    and at :data:`FAR_ACTIONS`, and every kernel entry is >= 0 there too (the validation proper decides what sympy
    can; this catches what a grid of [-6, 6]^d misses)."""
    sub = fam.parameter_substitution()
    d, n = fam.action_dim, fam.n_states
    grid = fam._action_grid()
    far = np.concatenate([np.eye(d)[i] * sgn * x for i in range(d) for sgn in (1, -1) for x in FAR_ACTIONS]
                         ).reshape(-1, d)
    points = np.concatenate([grid, far])
    entries = [(f"the cost of state {s}", "cost", fam.cost[s]) for s in range(n)] + \
        [(f"p({t}|{s},a)", "kernel", fam.kernel[s][t]) for s in range(n) for t in range(n)]
    for what, key, expr in entries:
        e = expr.xreplace(sub)
        if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise FamilyFileSemanticError(f"{src.where(key)}: {what} is undefined {where} (a division by zero or "
                                          f"an infinite value): {excerpt(str(e), 120, quote=False)}")
        try:
            f = sp.lambdify(fam.action, e, "numpy")
            with np.errstate(all="ignore"):
                vals = np.broadcast_to(np.asarray(f(*(points[:, i] for i in range(d))), dtype=complex),
                                       points.shape[:1])
        except Exception as exc:
            raise FamilyFileSemanticError(f"{src.where(key)}: {what} cannot be evaluated {where}: "
                                          f"{type(exc).__name__}: {excerpt(str(exc), 100, quote=False)}") from None
        bad = np.flatnonzero(~np.isfinite(vals) | (np.abs(vals.imag) > 0))
        if bad.size:
            k = int(bad[0])
            raise FamilyFileSemanticError(f"{src.where(key)}: {what} is not a real number {where} at "
                                          f"a = {_point(points[k])}: {vals[k]} (expression "
                                          f"{excerpt(str(e), 120, quote=False)})")
        if key == "kernel":
            neg = np.flatnonzero(vals.real < 0)
            if neg.size:
                k = int(neg[0])
                raise FamilyFileSemanticError(f"{src.where(key)}: {what} is negative {where} at a = "
                                              f"{_point(points[k])}: {vals[k].real:.6g} (expression "
                                              f"{excerpt(str(e), 120, quote=False)})")


def _point(x: np.ndarray) -> Any:
    return float(x[0]) if x.size == 1 else [float(v) for v in x]


# ----------------------------------------------------------------------------- schema
def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], key: str, src: _Source) -> None:
    unknown = [k for k in table if k not in allowed]
    if unknown:
        where = src.where(f"{key}.{unknown[0]}" if key else unknown[0])
        raise FamilyFileSchemaError(f"{where}: unknown key {unknown[0]!r}{' in [' + key + ']' if key else ''}; "
                                    f"allowed: {', '.join(allowed)}")


def _require(doc: Mapping[str, Any], key: str, kind: type | tuple, what: str, src: _Source, table: str = "") -> Any:
    full = f"{table}.{key}" if table else key
    if key not in doc:
        raise FamilyFileSchemaError(f"{src.name}: missing {'key' if table else 'section or key'} {full!r} ({what})")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                                                else (kind,)):
        raise FamilyFileSchemaError(f"{src.where(full)}: {full} must be {what}, got {_type(value)}")
    return value


def _type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__) + f" ({excerpt(value, 40)})"


def _spec(doc: Mapping[str, Any], src: _Source):
    from otgeom.families._base import FamilySpec

    _check_keys(doc, TOP_KEYS, "", src)
    name = _require(doc, "name", str, "the family's name (a string)", src)
    if not _NAME.match(name):
        raise FamilyFileSchemaError(f"{src.where('name')}: name {excerpt(name)} must be lower case letters, digits "
                                    "and '-', starting with a letter, at most 40 characters")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise FamilyFileSchemaError(f"{src.where('description')}: description must be a string, got "
                                    f"{_type(description)}")
    states = _require(doc, "states", (int, list), "the number of states or a list of their labels", src)
    if isinstance(states, list):
        if not all(isinstance(x, str) and 0 < len(x) <= 40 for x in states) or len(set(states)) != len(states):
            raise FamilyFileSchemaError(f"{src.where('states')}: states as a list must be distinct labels "
                                        "(non-empty strings of at most 40 characters)")
        labels, n = tuple(states), len(states)
    else:
        labels, n = tuple(str(i) for i in range(states)), states
    if not 1 <= n <= MAX_STATES:
        raise FamilyFileSchemaError(f"{src.where('states')}: {n} states; a family file has 1..{MAX_STATES}")
    d = doc.get("action_dim", 1)
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 3:
        raise FamilyFileSchemaError(f"{src.where('action_dim')}: action_dim must be an integer in 1..3, got "
                                    f"{_type(d)}")
    policy = doc.get("policy", "gaussian")
    if policy != "gaussian":
        raise FamilyFileSchemaError(f"{src.where('policy')}: policy {excerpt(policy)}: only \"gaussian\" is "
                                    "supported")
    actions = ["a"] if d == 1 else [f"a_{i}" for i in range(d)]
    reserved = set(actions) | {"a", "s", "s_next"} | set(FUNCTIONS) | set(CONSTANTS)
    parameters = _parameters(doc.get("parameters", {}), n, d, reserved, src)
    definitions = _definitions(doc.get("definitions", {}), reserved | {p.name for p in parameters}, src)
    cost = _section(doc, "cost", ("each", "states"), src)
    kernel = _section(doc, "kernel", ("each", "rows"), src)
    if "states" in cost:
        _list_of(cost["states"], n, "cost.states", f"{n} expression strings, one per state", src)
    if "rows" in kernel:
        rows = kernel["rows"]
        _list_of(rows, n, "kernel.rows", f"{n} rows of {n} expression strings", src, inner=list)
        for i, row in enumerate(rows):
            _list_of(row, n, f"kernel.rows[{i}]", f"{n} expression strings", src)
    for key, table in (("cost.each", cost), ("kernel.each", kernel)):
        if "each" in table and not isinstance(table["each"], str):
            raise FamilyFileSchemaError(f"{src.where(key)}: {key} must be an expression string, got "
                                        f"{_type(table['each'])}")

    def define(structure, a, p):
        return _define(a, p, n, d, definitions, cost, kernel, src)

    spec = FamilySpec(name=name, description=description or f"family file {src.name}", structural=(),
                      parameters=lambda st: parameters, define=define, n_states=lambda st: n,
                      action_dim=lambda st: d)
    object.__setattr__(spec, "labels", labels)
    return spec


def _section(doc, key, options, src) -> Mapping[str, Any]:
    if key not in doc:
        raise FamilyFileSchemaError(f"{src.name}: missing section [{key}] (give {' or '.join(options)})")
    table = doc[key]
    if not isinstance(table, dict):
        raise FamilyFileSchemaError(f"{src.where(key)}: [{key}] must be a table with {' or '.join(options)}")
    _check_keys(table, options, key, src)
    given = [k for k in options if k in table]
    if len(given) != 1:
        raise FamilyFileSchemaError(f"{src.where(key)}: [{key}] needs exactly one of {', '.join(options)}, given "
                                    f"{', '.join(given) or 'none'}")
    return table


def _list_of(value, n, key, what, src, inner=str) -> None:
    if not isinstance(value, list) or len(value) != n or not all(isinstance(x, inner) for x in value):
        got = f"a list of {len(value)}" if isinstance(value, list) else _type(value)
        raise FamilyFileSchemaError(f"{src.where(key)}: {key} must be {what}, got {got}")


def _parameters(table, n, d, reserved, src) -> list:
    from otgeom.families._base import Domain, Parameter

    if not isinstance(table, dict):
        raise FamilyFileSchemaError(f"{src.where('parameters')}: [parameters] must be a table of tables")
    if len(table) > MAX_PARAMETERS:
        raise FamilyFileSchemaError(f"{src.where('parameters')}: {len(table)} parameters; at most {MAX_PARAMETERS}")
    out = []
    entries = 0
    for pname, entry in table.items():
        key = f"parameters.{pname}"
        _check_name(pname, "parameter", reserved, key, src)
        if not isinstance(entry, dict):
            raise FamilyFileSchemaError(f"{src.where(key)}: [{key}] must be a table (shape, domain, default, "
                                        f"description), got {_type(entry)}")
        _check_keys(entry, PARAMETER_KEYS, key, src)
        shape = entry.get("shape", [])
        if not isinstance(shape, list) or len(shape) > 3 or not all(
                x in ("n", "d") or (isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 12) for x in shape):
            raise FamilyFileSchemaError(f"{src.where(key + '.shape')}: shape must be a list of at most 3 axes, each "
                                        f"\"n\", \"d\" or an integer 1..12, got {_type(shape)}")
        kind = entry.get("domain", "real")
        if kind not in DOMAINS:
            raise FamilyFileSchemaError(f"{src.where(key + '.domain')}: unknown domain {excerpt(kind)}; known: "
                                        f"{', '.join(DOMAINS)}")
        if kind == "interval":
            iv = entry.get("interval")
            if not isinstance(iv, list) or len(iv) != 2:
                raise FamilyFileSchemaError(f"{src.where(key + '.interval')}: domain \"interval\" needs "
                                            "interval = [low, high]")
            from otgeom.families._base import to_exact

            try:
                lo, hi = (to_exact(x, f"{key}.interval") for x in iv)
            except ParameterError as exc:
                raise FamilyFileSchemaError(f"{src.where(key + '.interval')}: {exc}") from None
            if not lo < hi:
                raise FamilyFileSchemaError(f"{src.where(key + '.interval')}: interval [{lo}, {hi}] is empty")
            domain = Domain("interval", lo, hi)
        else:
            if "interval" in entry:
                raise FamilyFileSchemaError(f"{src.where(key + '.interval')}: interval is only for domain "
                                            "\"interval\"")
            domain = Domain(kind)
        if kind == "row-stochastic" and not shape:
            raise FamilyFileSchemaError(f"{src.where(key + '.shape')}: a row-stochastic parameter needs a shape "
                                        "(its last axis is the row)")
        if kind == "spd" and (len(shape) < 2 or shape[-1] != shape[-2]):
            raise FamilyFileSchemaError(f"{src.where(key + '.shape')}: an spd parameter's last two axes must be "
                                        "equal (a square matrix)")
        entries += int(np.prod([n if x == "n" else d if x == "d" else x for x in shape], dtype=np.int64)) \
            if shape else 1
        if entries > MAX_PARAMETER_ENTRIES:
            raise FamilyFileSchemaError(f"{src.where(key)}: the parameters have more than {MAX_PARAMETER_ENTRIES} "
                                        "values in all")
        if "default" not in entry:
            raise FamilyFileSchemaError(f"{src.name}: missing key '{key}.default' (the parameter's default value)")
        default = entry["default"]
        desc = entry.get("description", "")
        if not isinstance(desc, str):
            raise FamilyFileSchemaError(f"{src.where(key + '.description')}: description must be a string")
        out.append(Parameter(pname, tuple(shape), domain, (lambda st, v=default: v), desc or pname))
    return out


def _check_name(name: str, what: str, taken, key: str, src: _Source) -> None:
    """A parameter's or definition's name: letters and digits, not reserved, not taken."""
    if not _IDENT.match(name):
        raise FamilyFileSchemaError(f"{src.where(key)}: {what} name {excerpt(name)} must be letters and digits, "
                                    "starting with a letter, at most 16 characters")
    if name in taken or _derivation_name(name):
        raise FamilyFileSchemaError(f"{src.where(key)}: {name!r} is reserved or already used (action variables, s, "
                                    "s_next, function and constant names, the parameters, and the symbolic layer's "
                                    "own names such as m and sigma for the policy, r, P, rho, h, J); choose another "
                                    "name")


def _definitions(table, taken, src) -> list[tuple[str, str]]:
    if not isinstance(table, dict):
        raise FamilyFileSchemaError(f"{src.where('definitions')}: [definitions] must be a table of expression "
                                    "strings")
    if len(table) > MAX_DEFINITIONS:
        raise FamilyFileSchemaError(f"{src.where('definitions')}: at most {MAX_DEFINITIONS} definitions")
    out = []
    for name, text in table.items():
        key = f"definitions.{name}"
        _check_name(name, "definition", taken, key, src)
        if not isinstance(text, str):
            raise FamilyFileSchemaError(f"{src.where(key)}: {key} must be an expression string, got {_type(text)}")
        out.append((name, text))
    return out


# ----------------------------------------------------------------------------- expressions
def _parse(text: str, scope: Scope, key: str, src: _Source) -> sp.Expr:
    try:
        return parse_expression(text, scope)
    except UnsafeExpressionError as exc:
        raise UnsafeExpressionError(f"{src.where(key, text, exc.column)}: {exc}", exc.column) from None


def _define(a, p, n, d, definitions, cost, kernel, src):
    actions = {"a": a[0]} if d == 1 else {f"a_{i}": a[i] for i in range(d)}
    arrays = dict(p)
    if d > 1:
        arrays["a"] = np.array(a, dtype=object)
    per_state = []
    for s in range(n):
        symbols = dict(actions)
        for name, text in definitions:
            symbols[name] = _parse(text, Scope(symbols, arrays, {"s": s}), f"definitions.{name}", src)
        per_state.append(symbols)
    costs = []
    for s in range(n):
        text, key = (cost["each"], "cost.each") if "each" in cost else (cost["states"][s], f"cost.states[{s}]")
        costs.append(_parse(text, Scope(per_state[s], arrays, {"s": s}), key, src))
    rows = []
    for s in range(n):
        row = []
        for t in range(n):
            if "each" in kernel:
                text, key = kernel["each"], "kernel.each"
            else:
                text, key = kernel["rows"][s][t], f"kernel.rows[{s}][{t}]"
            row.append(_parse(text, Scope(per_state[s], arrays, {"s": s, "s_next": t}), key, src))
        rows.append(row)
    return costs, rows

