"""One formatter for numbers in text output: reports, ``otgeom check`` tables, messages and notebooks.

:func:`number` gives a float with a fixed number of significant digits and stable text: no negative
zero, no exponent noise (``1e-05`` is ``1e-5``), ``inf``/``nan`` as Python spells them.
:func:`array` does the same for every entry of an array (``[0, 0.5, -1]``, never ``[ 0. -0. -0.]``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["number", "array"]


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
