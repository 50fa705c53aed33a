"""Exception types and ``check_*`` guards.

Every error otgeom raises on bad input is one of these, and its message names
what is wrong: the family, the parameter (with index), the state, the
expression, and where possible how to fix it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "OtgeomError",
    "FamilyError",
    "ParameterError",
    "PolicyError",
    "RegularityError",
    "ExpressionError",
    "FamilyFileError",
    "FamilyFileSyntaxError",
    "FamilyFileSchemaError",
    "FamilyFileSemanticError",
    "ReportError",
    "NotConvergedError",
    "GridWarning",
    "check_finite",
    "check_symmetric",
    "check_definite",
]


class OtgeomError(Exception):
    """Base class of every error raised by otgeom on bad input or failed assumptions."""


class FamilyError(OtgeomError, ValueError):
    """A family definition is not a valid MDP (kernel rows, negative probabilities, shapes)."""


class FamilyFileError(FamilyError):
    """A family file (TOML, :mod:`otgeom.familyfile`) is not valid; the message names the file, the line and column
    or the key, and what was expected."""


class FamilyFileSyntaxError(FamilyFileError):
    """The file is not TOML (or not UTF-8 text)."""


class FamilyFileSchemaError(FamilyFileError):
    """A key is unknown or missing, or a value has the wrong type or shape."""


class FamilyFileSemanticError(FamilyFileError):
    """The file's model is not an MDP: a kernel row not summing to 1, a probability that can be negative, a
    default outside its domain (with the state, the entry and a witness value)."""


class ParameterError(OtgeomError, ValueError):
    """A parameter is unknown, malformed, non-finite or outside its domain."""


class ReportError(OtgeomError):
    """A report cannot be written (the output path, its directory, the file system)."""


class PolicyError(OtgeomError, ValueError):
    """A policy or tangent vector has the wrong shape or is not valid (e.g. covariance not SPD)."""


class RegularityError(OtgeomError, ArithmeticError):
    """A regularity assumption (R1-R4 of THEORY.md) fails: reducible chain, rho(s) = 0, ...

    ``diagnosis`` carries the machine-readable facts (closed classes, state, value).  ``assumption`` names
    the assumption (``"R1"``..``"R4"``, see :data:`otgeom.numeric.certificates.ASSUMPTIONS`) and ``decided``
    says whether the failure is a fact (an exact graph search, a spectral radius >= 1) or only what float64
    shows (an underflowed probability): a claim is ``not-applicable`` on a decided failure of an assumption it
    needs, ``inconclusive`` otherwise.
    """

    def __init__(self, message: str, diagnosis: dict[str, Any] | None = None, *, assumption: str | None = None,
                 decided: bool = False):
        super().__init__(message)
        self.diagnosis = dict(diagnosis or {})
        self.assumption = assumption
        self.decided = decided


class NotConvergedError(OtgeomError, ArithmeticError):
    """A numeric witness could not reach the requested accuracy (quadrature panel cap, conditioning).

    ``result`` holds the best estimate with its honest error bounds (the JSON of ``otgeom eval``);
    ``reason`` names the state and the quantity.  The command line prints ``result`` and exits with
    status 3 (:data:`EXIT_NOT_CONVERGED`).
    """

    def __init__(self, reason: str, result: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.result = result


#: exit status of ``otgeom eval`` when the requested accuracy was not reached (the JSON is still printed)
EXIT_NOT_CONVERGED = 3


class ExpressionError(OtgeomError, ValueError):
    """An expression is outside the class a symbolic pass handles (the message names the sub-expression)."""


class GridWarning(UserWarning):
    """A grid family's chain is computed but its numbers deserve care (mass leaving the domain, ...)."""


def check_finite(x: Any, name: str, owner: str = "") -> np.ndarray:
    """Return ``x`` as a float64 array, raising :class:`ParameterError` naming the first non-finite entry."""
    arr = np.asarray(x, dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}{list(idx) if idx else ''}"
        prefix = f"{owner}: " if owner else ""
        val = arr[idx] if idx else float(arr)
        raise ParameterError(f"{prefix}{where} = {val} is not finite")
    return arr


def check_symmetric(M: np.ndarray, name: str, owner: str, error: type = None) -> np.ndarray:
    """Return ``(M + M^T)/2`` after checking |M - M^T| <= 1e-12 max(1, |M|); the error names both entries."""
    error = error or ParameterError
    M = np.asarray(M, dtype=float)
    D = np.abs(M - M.T)
    if D.max() > 1e-12 * max(1.0, float(np.abs(M).max())):
        i, j = (int(k) for k in np.unravel_index(int(np.argmax(D)), D.shape))
        raise error(f"{owner}: {name} is not symmetric: {name}[{i}][{j}] = {M[i, j]:.6g} but "
                    f"{name}[{j}][{i}] = {M[j, i]:.6g}")
    return 0.5 * (M + M.T)


def check_definite(M: np.ndarray, name: str, owner: str, strict: bool, error: type = None) -> None:
    """Check a symmetric M is positive (semi-)definite up to 1e-12 of its scale; the error gives the smallest eigenvalue."""
    error = error or ParameterError
    eig = np.linalg.eigvalsh(np.asarray(M, dtype=float))
    tol = 1e-12 * max(1.0, float(np.abs(eig).max()))
    lo = float(eig.min())
    if (strict and lo <= tol) or (not strict and lo < -tol):
        kind = "positive definite" if strict else "positive semi-definite"
        raise error(f"{owner}: {name} must be symmetric {kind}; its smallest eigenvalue is {lo:.6g}")


def _is_finite_number(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
