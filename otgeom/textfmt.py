"""One formatter for numbers in text output: reports, ``otgeom check`` tables, messages and notebooks.

:func:`number` gives a float with a fixed number of significant digits and stable text: no negative
zero, no exponent noise (``1e-05`` is ``1e-5``), ``inf``/``nan`` as Python spells them.
:func:`array` does the same for every entry of an array (``[0, 0.5, -1]``, never ``[ 0. -0. -0.]``), and
:func:`matrix` prints a matrix one row a line, the columns aligned.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["number", "array", "matrix"]


def number(x: Any, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits; ``-0.0`` (and anything that rounds to zero) prints as ``0``."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}".replace("e-0", "e-").replace("e+0", "e+")
    if text.lstrip("-").strip("0.") == "" or text in ("-0", "-0.0"):
        return "0"
    return text


def array(values: Any, digits: int = 4) -> str:
    """Nested lists of :func:`number`: ``[[1, -0.5], [0, 2]]``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        return number(arr, digits)
    return "[" + ", ".join(array(v, digits) for v in arr) + "]"


def matrix(values: Any, digits: int = 4) -> str:
    """A matrix one row a line, entries by :func:`number`, right-aligned in columns of equal width; entries below
    ``1e-12`` times the largest print as 0 (round-off beside O(1) entries, such as the zeros of a Hessian)."""
    arr = np.atleast_2d(np.asarray(values, dtype=float))
    big = float(np.abs(arr[np.isfinite(arr)]).max()) if np.isfinite(arr).any() else 0.0
    arr = np.where(np.abs(arr) < 1e-12 * big, 0.0, arr)
    cells = [[number(x, digits) for x in row] for row in arr]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells)
