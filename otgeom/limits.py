"""Input limits: every user value is checked here, on its text, before any exact or float arithmetic.

The command line (and the family constructors, for the Python API) refuse, with one message naming the
value, anything beyond these limits instead of hanging or crashing later:

=========================  ===================================================================================
limit                      why
=========================  ===================================================================================
``MAX_ARG_CHARS``          one command-line argument (the kernel's own limit per argument is 128 KiB)
``MAX_FILE_BYTES``         a policy JSON file or a claims ``.py`` file
``MAX_JSON_DEPTH``         nesting of JSON arrays and objects (the deepest parameter is n x d x d: depth 3)
``MAX_DIGITS``             digits of a number's mantissa (of numerator and denominator for ``"p/q"``)
``MAX_EXPONENT``           the decimal exponent written after ``e`` (``Fraction("1e99999999")`` would build
                           10^99999999 before any range check)
``MAX_MAGNITUDE``          largest \\|x\\| of a parameter or policy entry: products of parameters and actions in
                           the derived formulas (degree up to ~16) stay far inside float64's range (1.8e308)
``MIN_MAGNITUDE``          smallest non-zero \\|x\\|: below it a value (or its square) underflows in float64
``LQ_MAX_DIM``             n and m of the ``lq`` family on the command line (every entry is validated exactly)
``SYMBOLIC_MAX_STATES``    n of ``modulated`` for the symbolic derivation, per action dimension d (the number
                           of spanning trees grows like n^(n-1): n = 7, d = 1 takes more than 100 s)
=========================  ===================================================================================

Messages quote at most :data:`EXCERPT_CHARS` characters of an offending value (:func:`excerpt`).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
from fractions import Fraction
from typing import Any, Iterator

import numpy as np

from otgeom.errors import ParameterError, RegularityError

__all__ = ["MAX_ARG_CHARS", "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "MAX_DIGITS", "MAX_EXPONENT", "MAX_MAGNITUDE",
           "MIN_MAGNITUDE", "LQ_MAX_DIM", "SYMBOLIC_MAX_STATES", "SECOND_ORDER_MAX_STATES", "EXCERPT_CHARS",
           "excerpt", "excerpt_list", "describe_number", "parse_exact", "check_magnitude", "load_json",
           "read_user_file", "float_array", "decode_text", "check_symbolic_size", "check_lq_sizes",
           "explain_underflow"]

MAX_ARG_CHARS = 100_000
MAX_FILE_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
MAX_DIGITS = 100
MAX_EXPONENT = 400
MAX_MAGNITUDE = Fraction(10**15)
MIN_MAGNITUDE = Fraction(1, 10**300)
LQ_MAX_DIM = 100
#: largest n of ``modulated`` whose first-order closed forms are derived (derive, eval --symbolic, report), per d
SYMBOLIC_MAX_STATES = {1: 6, 2: 3, 3: 2}
#: largest n (d = 1) for the symbolic second order (derive --second-order, eval --hessian --symbolic, report)
SECOND_ORDER_MAX_STATES = 5
EXCERPT_CHARS = 60


def excerpt(value: Any, limit: int = EXCERPT_CHARS, quote: bool = True) -> str:
    """A user value for a message: ``repr`` of a string (plain with ``quote=False``), cut to ``limit``
    characters with its length said."""
    text = value if isinstance(value, str) else _safe_str(value)
    cut = text[:limit]
    shown = repr(cut) if isinstance(value, str) and quote else ascii(cut)[1:-1] if isinstance(value, str) else cut
    return shown if len(text) <= limit else f"{shown}... ({len(text)} characters)"


def excerpt_list(names: Any, shown: int = 3) -> str:
    """The first ``shown`` names, each cut by :func:`excerpt` (unquoted), and how many more there are."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(excerpt(u, quote=False) for u in names[:shown]) + more


def _safe_str(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**50:
        return describe_number(Fraction(value))
    try:
        return str(value)
    except ValueError:  # e.g. an integer beyond Python's 4300-digit str limit
        return f"<{type(value).__name__}>"


def describe_number(x: Fraction) -> str:
    """Short text of an exact number of any size: ``1.5e+20``, or ``about 10^400`` beyond float64."""
    if x == 0:
        return "0"
    lg = _log10_abs(x)
    if -300 < lg < 300:
        return f"{float(x):.6g}"
    return f"about {'-' if x < 0 else ''}10^{round(lg)}"


def _log10_abs(x: Fraction) -> float:
    """log10 |x| (math.log10 takes integers of any size)."""
    return math.log10(abs(x.numerator)) - math.log10(x.denominator)


_DECIMAL = re.compile(r"\s*[-+]?(?P<mant>[0-9_]*\.?[0-9_]*)(?:[eE](?P<exp>[-+]?[0-9_]+))?\s*")
_RATIO = re.compile(r"\s*[-+]?(?P<num>[0-9_]+)\s*/\s*(?P<den>[0-9_]+)\s*")


def parse_exact(text: str, where: str, error: type = ParameterError) -> Fraction:
    """An exact number from text (``"0.25"``, ``"1/3"``, ``"-2e-5"``), its digits and exponent checked first.

    Refuses, naming ``where``: a text that is not a number, more than :data:`MAX_DIGITS` digits, an exponent
    beyond :data:`MAX_EXPONENT`, a zero denominator.  The magnitude is checked by :func:`check_magnitude`.
    """
    if len(text) > 4 * MAX_DIGITS:
        raise error(f"{where} = {excerpt(text)} is too long for a number (at most {MAX_DIGITS} digits)")
    m = _RATIO.fullmatch(text)
    if m:
        parts = [m["num"], m["den"]]
    else:
        m = _DECIMAL.fullmatch(text)
        if not m or not any(ch.isdigit() for ch in m["mant"]):
            raise error(f"{where} = {excerpt(text)} is not a number (use e.g. 0.25, -2e-5 or \"1/3\")")
        parts = [m["mant"]]
        exp = (m["exp"] or "0").lstrip("+-").replace("_", "").lstrip("0")
        if len(exp) > 4 or int(exp or 0) > MAX_EXPONENT:
            raise error(f"{where} = {excerpt(text)}: the exponent is beyond +-{MAX_EXPONENT} "
                        f"(values must be at most {describe_number(MAX_MAGNITUDE)} in magnitude)")
    for part in parts:
        if sum(ch.isdigit() for ch in part) > MAX_DIGITS:
            raise error(f"{where} = {excerpt(text)} has more than {MAX_DIGITS} digits")
    try:
        return Fraction(text.strip())
    except ZeroDivisionError:
        raise error(f"{where} = {excerpt(text)} divides by zero") from None
    except ValueError:
        raise error(f"{where} = {excerpt(text)} is not a number (use e.g. 0.25, -2e-5 or \"1/3\")") from None


def check_magnitude(x: Fraction, where: str, error: type = ParameterError) -> Fraction:
    """Refuse ``x`` unless it is 0 or :data:`MIN_MAGNITUDE` <= \\|x\\| <= :data:`MAX_MAGNITUDE`; return it."""
    if x != 0 and not MIN_MAGNITUDE <= abs(x) <= MAX_MAGNITUDE:
        side = "above" if abs(x) > MAX_MAGNITUDE else "below"
        raise error(f"{where} = {describe_number(x)} is {side} the supported magnitude: every value must be 0 or "
                    f"between 1e-300 and 1e15 in absolute value (float64 would overflow or lose it)")
    return x


# --------------------------------------------------------------------------- JSON
class _NumberText(str):
    """A JSON number kept as its text until :func:`_convert` has checked it (with the path to name)."""


def _refuse_constant(name: str) -> Any:
    raise _JSONConstant(name)


class _JSONConstant(ValueError):
    pass


def _depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings (linear time, no recursion)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    b = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}"))).astype(np.int64)
    return int(np.cumsum(step).max()) if b.size else 0


def load_json(text: str, where: str, error: type = ParameterError) -> Any:
    """Parse JSON text within the limits: plain lists, dicts, strings, booleans, None, ints and floats.

    Every number's text is checked (:func:`parse_exact`, :func:`check_magnitude`) and the error names its
    path, e.g. ``--param q[1]``.  Refused: more than :data:`MAX_JSON_DEPTH` levels of nesting, NaN and
    Infinity, duplicate object keys.
    """
    if _depth(text) > MAX_JSON_DEPTH:
        raise error(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")

    def pairs(items):
        keys = [k for k, _ in items]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise error(f"{where}: JSON object has the key {excerpt(dup)} twice")
        return dict(items)

    try:
        raw = json.loads(text, parse_int=_NumberText, parse_float=_NumberText, parse_constant=_refuse_constant,
                         object_pairs_hook=pairs)
    except _JSONConstant as exc:
        raise error(f"{where}: {exc} is not a JSON number (give a finite number)") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
                    f"{excerpt(text)}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None
    return _convert(raw, where, error, root=True)


def _convert(value: Any, where: str, error: type, root: bool = False) -> Any:
    if isinstance(value, _NumberText):
        x = check_magnitude(parse_exact(str(value), where, error), where, error)
        return int(x) if not any(ch in value for ch in ".eE") else float(value)
    if isinstance(value, list):
        return [_convert(v, f"{where}[{i}]", error) for i, v in enumerate(value)]
    if isinstance(value, dict):
        sep = ": " if root else "."
        return {k: _convert(v, f"{where}{sep}{k}" if k.isidentifier() else f"{where}[{excerpt(k)}]", error)
                for k, v in value.items()}
    return value


def read_user_file(path: str, what: str, suffix: str | None = None, error: type = ParameterError) -> bytes:
    """The bytes of a user's input file: a regular file (not a directory, FIFO or device) of at most
    :data:`MAX_FILE_BYTES` bytes, with ``suffix`` when given.  The error names ``what`` and the path."""
    name = excerpt(path, 200)
    if "\0" in path:
        raise error(f"{what} {name}: a file name cannot contain a null byte")
    if suffix and not path.endswith(suffix):
        raise error(f"{what} {name} must be a {suffix} file")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {name} is {_file_kind(st.st_mode)}, not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise error(f"{what} {name} has {st.st_size} bytes; the limit is {MAX_FILE_BYTES}")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{what} {name} has more than {MAX_FILE_BYTES} bytes")
    return data


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return kind
    return "not a regular file"


def decode_text(data: bytes, what: str, error: type = ParameterError) -> str:
    """UTF-8 text of a file (a leading byte-order mark is allowed); the error gives the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


# --------------------------------------------------------------------------- numbers of a policy
def float_array(value: Any, where: str, error: type = ParameterError) -> np.ndarray:
    """A (nested) list of numbers as a float64 array: booleans, strings that are not numbers, objects, null
    and ragged lists are refused naming the entry; every entry is checked by :func:`check_magnitude`."""
    def walk(v: Any, at: str) -> Any:
        if isinstance(v, bool):
            raise error(f"{at} = {str(v).lower()} is a boolean, expected a number")
        if isinstance(v, (list, tuple)):
            items = [walk(x, f"{at}[{i}]") for i, x in enumerate(v)]
            shapes = {np.shape(x) for x in items}
            if len(shapes) > 1:
                raise error(f"{at} is a ragged list (its entries have different lengths); expected a regular array")
            return items
        if isinstance(v, (int, np.integer)):
            check_magnitude(Fraction(int(v)), at, error)
            return float(v)
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(v):
                raise error(f"{at} = {v} is not finite")
            check_magnitude(Fraction(float(v)), at, error)
            return float(v)
        if isinstance(v, str):
            return float(check_magnitude(parse_exact(v, at, error), at, error))
        if isinstance(v, dict):
            raise error(f"{at} is a JSON object, expected a number or a list of numbers")
        raise error(f"{at} = {'null' if v is None else excerpt(v)} is not a number")

    return np.asarray(walk(value, where), dtype=float)


# --------------------------------------------------------------------------- sizes
def check_symbolic_size(family: Any, second_order: bool = False) -> None:
    """Refuse a symbolic derivation beyond :data:`SYMBOLIC_MAX_STATES` (or :data:`SECOND_ORDER_MAX_STATES`)."""
    from otgeom.families.protocol import supports

    if not supports(family).symbolic:
        return
    n, d = family.n_states, family.action_dim
    cap = SECOND_ORDER_MAX_STATES if second_order and d == 1 else SYMBOLIC_MAX_STATES.get(d, 0)
    if n > cap:
        what = "second-order" if second_order and d == 1 else "first-order"
        raise ParameterError(f"{family.label}: the symbolic {what} derivation is supported up to n = {cap} states "
                             f"for d = {d} (its size grows like n^(n-1)); the numeric path has no such limit "
                             "(otgeom eval without --symbolic)")


def check_lq_sizes(params: dict[str, Any]) -> None:
    """Refuse ``lq`` matrices given on the command line with more than :data:`LQ_MAX_DIM` rows or columns."""
    for name in ("A", "B", "Qc", "R", "W"):
        v = params.get(name)
        if isinstance(v, list):
            cols = max((len(r) for r in v if isinstance(r, list)), default=1)
            if len(v) > LQ_MAX_DIM or cols > LQ_MAX_DIM:
                raise ParameterError(f"lq: parameter {name} is {len(v)} x {cols}; the command line supports "
                                     f"n, m <= {LQ_MAX_DIM} (the Python API has no such limit)")


# --------------------------------------------------------------------------- float64 range of the chain
@contextlib.contextmanager
def explain_underflow(family: Any) -> Iterator[None]:
    """Re-word a "reducible chain" / "transient states" RegularityError when the chain is reducible only in
    float64: a transition leaving a closed class whose kernel entry is not identically 0 (so its exact
    probability under a Gaussian policy is positive) has underflowed to 0.  The message names the pair."""
    try:
        yield
    except RegularityError as exc:
        pair = _underflowed(family, exc.diagnosis.get("closed_classes"))
        if pair is None:
            raise
        s, t = pair
        raise RegularityError(
            f"{family.label}: the transition probability P({s} -> {t}) is positive exactly (p({t}|{s},a) is not "
            f"identically 0) but underflows to 0 in float64 at this policy, so the chain only looks reducible; "
            f"move the policy of state {s} to where p({t}|{s},a) is not negligible",
            {"state": s, "to": t, "underflow": True, "closed_classes": exc.diagnosis.get("closed_classes")},
            assumption="R1",
        ) from None


def _underflowed(family: Any, classes: Any) -> tuple[int, int] | None:
    from otgeom.families.protocol import supports

    if supports(family).kind != "finite" or not classes:
        return None
    n = family.n_states
    for closed in classes:
        for s in closed:
            for t in range(n):
                if t not in closed and family.kernel_at(s, t) != 0:
                    return s, t
    return None
