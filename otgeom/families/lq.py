r"""``lq``: the linear-quadratic family, continuous states in closed form (THEORY.md section 5).

.. math::
    x' = A x + B a + w,\quad w\sim\mathcal N(0, W),\qquad c(x,a) = x^\top Q_c x + a^\top R a
    \;[+\ \tau\,(-\mathcal H(\pi_x))],\qquad \pi_x = \mathcal N(-Kx, \Sigma).

State dimension n, action dimension m.  Parameters (numbers, nested lists, or exact
strings such as ``"1/3"``; a plain number is a 1 x 1 matrix):

* ``A`` [n x n], ``B`` [n x m] -- (A, B) must be stabilisable (checked: every mode of A with
  :math:`|\lambda|\ge 1` is reachable, PBH rank test);
* ``Qc`` [n x n] symmetric positive semi-definite, ``R`` [m x m] and ``W`` [n x n] symmetric
  positive definite;
* ``tau`` >= 0, the entropy weight (0: the unregularised problem).
* ``example``: the named example (``scalar``, the default, or ``dean``) whose values the parameters
  not given take; overriding a matrix drops the example's name (and its ``K0``) from the family.

Every matrix is kept exactly (sympy Rationals, for the symbolic scalar derivation) and as
float64.  Built-in examples carry a stabilising initial gain ``K0`` (:attr:`LQFamily.K0`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from otgeom.errors import ParameterError, check_definite, check_symmetric
from otgeom.families._base import to_exact
from otgeom.limits import excerpt, excerpt_list

__all__ = ["LQFamily", "lq_family", "EXAMPLES", "PARAMETER_DOCS", "DESCRIPTION"]

DESCRIPTION = ("linear-quadratic: x' = A x + B a + w, w ~ N(0, W), c = x'Qc x + a'R a (+ tau * negative entropy), "
               "policies N(-K x, Sigma); continuous states, closed forms (THEORY.md section 5)")

PARAMETER_DOCS: dict[str, str] = {
    "A": "[n x n] state matrix; (A, B) stabilisable",
    "B": "[n x m] input matrix",
    "Qc": "[n x n] state cost, symmetric positive semi-definite",
    "R": "[m x m] action cost, symmetric positive definite",
    "W": "[n x n] noise covariance, symmetric positive definite",
    "tau": "entropy weight >= 0 (0: unregularised; > 0: Sigma must be positive definite)",
    "example": "named starting point: scalar (default) or dean (Dean, Mania, Matni, Recht, Tu 2020)",
}

_DEAN_A = [[1.01, 0.01, 0.0], [0.01, 1.01, 0.01], [0.0, 0.01, 1.01]]

#: Named examples: parameters and a stabilising initial gain K0.
EXAMPLES: dict[str, dict[str, Any]] = {
    # open-loop unstable scalar system: |A| > 1; stabilising gains are 0.2 < K < 4.2
    "scalar": {"A": 1.1, "B": 0.5, "Qc": 1, "R": 0.5, "W": 1, "K0": 1.0},
    # Dean, Mania, Matni, Recht, Tu, "On the sample complexity of the linear quadratic regulator" (2020):
    # a graph-Laplacian-like system, open-loop unstable (spectral radius 1.024); K0 = 0.1 I stabilises it.
    "dean": {"A": _DEAN_A, "B": np.eye(3).tolist(), "Qc": (1e-3 * np.eye(3)).tolist(), "R": np.eye(3).tolist(),
             "W": np.eye(3).tolist(), "K0": (0.1 * np.eye(3)).tolist()},
}

_MATRICES = ("A", "B", "Qc", "R", "W")


def _matrix(value: Any, name: str) -> np.ndarray:
    """Nested lists / number -> 2-D object array of exact Rationals (a plain number is 1 x 1)."""
    try:
        arr = np.array(value, dtype=object)
    except ValueError:
        raise ParameterError(f"lq: parameter {name} is a ragged list; expected a matrix (list of equal rows)") from None
    if arr.ndim == 1 and any(isinstance(v, (list, tuple)) for v in arr):
        raise ParameterError(f"lq: parameter {name} is a ragged list; expected a matrix (list of equal rows)")
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    if arr.ndim != 2:
        raise ParameterError(f"lq: parameter {name} has {arr.ndim} dimensions; expected a matrix "
                             "(list of rows, e.g. [[1, 0], [0, 1]]) or a number for 1 x 1")
    out = np.empty(arr.shape, dtype=object)
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            out[i, j] = to_exact(arr[i, j], f"lq: parameter {name}[{i}][{j}]")
    return out


def uncontrollable_modes(A: np.ndarray, B: np.ndarray, unstable_only: bool = True) -> list[complex]:
    r"""Eigenvalues :math:`\lambda` of A with :math:`\operatorname{rank}[A-\lambda I,\ B] < n` (PBH test).

    With ``unstable_only`` only modes with :math:`|\lambda| \ge 1` (those that make (A, B)
    not stabilisable).  Rank by SVD with relative tolerance 1e-10.
    """
    n = A.shape[0]
    bad = []
    for lam in np.linalg.eigvals(A):
        if unstable_only and abs(lam) < 1 - 1e-12:
            continue
        sv = np.linalg.svd(np.hstack([A - lam * np.eye(n), B]), compute_uv=False)
        if sv[-1] <= 1e-10 * max(1.0, sv[0]):
            bad.append(complex(lam))
    return bad


@dataclass(frozen=True, eq=False)
class LQFamily:
    """A validated linear-quadratic system; float64 matrices plus their exact values (``exact``)."""

    A: np.ndarray
    B: np.ndarray
    Qc: np.ndarray
    R: np.ndarray
    W: np.ndarray
    tau: float
    exact: Mapping[str, Any] = field(repr=False)
    example: str | None = None
    K0: np.ndarray | None = field(default=None, repr=False)

    kind = "lq"

    @property
    def supports(self):
        """What this family supports (:mod:`otgeom.families.protocol`): its own closed forms, no Gaussian-family
        second order, the Lyapunov route of ``eval``, policies (K, Sigma)."""
        from otgeom.families.protocol import Supports

        return Supports(kind="lq", symbolic=False, second_order=False, evaluation="lyapunov", policy_format="lq")

    @property
    def name(self) -> str:
        return "lq"

    @property
    def n(self) -> int:
        """State dimension."""
        return self.A.shape[0]

    @property
    def m(self) -> int:
        """Action dimension."""
        return self.B.shape[1]

    @property
    def label(self) -> str:
        base = f"lq[{self.example}]" if self.example else f"lq(n={self.n},m={self.m})"
        if self.tau > 0:
            base += f"(tau={self.exact['tau']})"
        return base

    def parameters_json(self) -> dict[str, Any]:
        """The exact parameters as JSON (matrices as nested lists of floats, tau a float)."""
        out: dict[str, Any] = {k: getattr(self, k).tolist() for k in _MATRICES}
        out["tau"] = float(self.tau)
        if self.example:
            out["example"] = self.example
        return out

    def with_values(self, **changes: Any) -> "LQFamily":
        """A new validated family with some parameters replaced (the example name is dropped)."""
        params = {k: self.exact[k].tolist() for k in _MATRICES}
        params["tau"] = self.exact["tau"]
        params.update(changes)
        fam = lq_family(**params)
        return fam


def lq_family(**params: Any) -> LQFamily:
    """Validate parameters (see the module docstring) and return an :class:`LQFamily`."""
    unknown = sorted(set(params) - set(PARAMETER_DOCS))
    if unknown:
        names = excerpt_list(unknown)
        raise ParameterError(f"lq: unknown parameter(s) {names}; known: {', '.join(PARAMETER_DOCS)}")
    example = params.pop("example", None) or "scalar"
    if not isinstance(example, str) or example not in EXAMPLES:
        raise ParameterError(f"lq: unknown example {excerpt(example)}; known: {', '.join(EXAMPLES)}")
    base = EXAMPLES[example]  # every parameter not given is the example's
    merged = {**{k: v for k, v in base.items() if k != "K0"}, **params}
    overridden = bool(set(params) & set(_MATRICES))
    exact = {k: _matrix(merged[k], k) for k in _MATRICES}
    exact["tau"] = to_exact(merged.get("tau", 0), "lq: parameter tau")
    if exact["tau"] < 0:
        raise ParameterError(f"lq: parameter tau = {exact['tau']} must be >= 0 (entropy weight)")
    A, B, Qc, R, W = (exact[k].astype(float) for k in _MATRICES)
    n, m = A.shape[0], B.shape[1]
    if A.shape != (n, n):
        raise ParameterError(f"lq: A is {A.shape[0]} x {A.shape[1]}; it must be square")
    for name, M, shape, what in (("B", B, (n, m), f"n = {n} rows (A is {n} x {n})"),
                                 ("Qc", Qc, (n, n), f"{n} x {n} like A"),
                                 ("W", W, (n, n), f"{n} x {n} like A"),
                                 ("R", R, (m, m), f"{m} x {m} (B has m = {m} columns)")):
        if M.shape != shape:
            raise ParameterError(f"lq: {name} is {M.shape[0]} x {M.shape[1]}; it must have {what}")
    sym = {}
    for name, M, strict in (("Qc", Qc, False), ("R", R, True), ("W", W, True)):
        sym[name] = check_symmetric(M, name, "lq")  # exactly symmetric from here on
        check_definite(sym[name], name, "lq", strict)
    bad = uncontrollable_modes(A, B)
    if bad:
        lam = bad[0]
        lam_s = f"{lam.real:.6g}" if abs(lam.imag) < 1e-14 else f"{lam:.6g}"
        raise ParameterError(f"lq: (A, B) is not stabilisable: the mode lambda = {lam_s} of A (|lambda| = "
                             f"{abs(lam):.6g} >= 1) is not reachable from B (PBH: rank [A - lambda I, B] < {n}); "
                             "no gain K makes A - B K stable")
    K0 = None
    if "K0" in base and not overridden:
        K0 = np.atleast_2d(np.asarray(base["K0"], float))
    return LQFamily(A=A, B=B, Qc=sym["Qc"], R=sym["R"], W=sym["W"], tau=float(exact["tau"]), exact=exact,
                    example=example if not overridden else None, K0=K0)
