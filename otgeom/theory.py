r"""A theory: the definitions the witnesses use and the formulas the claims test, changeable for regression tests.

The suite's claims test formulas (the *theory's* formulas, or a user's) against witnesses computed from the
definitions.  A researcher who changes a definition or a formula writes a :class:`Theory` in a Python file,
``THEORY = Theory(...)``, and ``otgeom check --theory FILE.py`` runs the suite under it and under the reference
theory and prints the claims whose verdict changed (:func:`otgeom.suite.theory_diff`).

Extension points (each a field of :class:`Theory`):

``metric_weights``
    The weighting of the policy metric :math:`g_\pi(U, V) = \sum_s w_s\,\mathbb E_{\pi_s}[U\cdot V]`, as a function
    :math:`w = w(\rho)` of the stationary law (reference: :math:`w = \rho`; e.g. uniform weights
    ``lambda rho: np.ones_like(rho)`` or ``lambda rho: rho**2``).  Read by the witnesses of the claims about the
    metric itself: ``riemannian-gradient`` (the model :math:`J + \epsilon\,g(\mathrm{grad}\,J, v)` of the Taylor
    check), ``gaussian-metric`` and ``gaussian-metric-bures`` (:math:`\sum_s w_s W_2^2(\pi_s, \pi_s^\epsilon)`).
    Under uniform weights the gradient of J is :math:`\rho(s)\nabla_a Q`, so "grad J = ∇_a Q" fails.
``formulas``
    ``{claim name: formula}``: the formula under test of that claim (called as the claim's declared signature,
    ``otgeom check --list``).  A formula here that raises gives the verdict ``error``.

The active theory is held in a :class:`contextvars.ContextVar` set only by :func:`using` (no module state is
changed): outside ``with using(theory):`` every witness uses the reference definitions.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from otgeom.errors import ParameterError

__all__ = ["Theory", "REFERENCE", "active", "using", "metric_weights"]


@dataclass(frozen=True)
class Theory:
    """Definitions and formulas of a theory (see the module docstring for what each field changes)."""

    name: str = "reference"
    description: str = ""
    #: w(rho) -> the metric's weights per state, shape [n], finite and >= 0 (None: rho itself)
    metric_weights: Callable[[np.ndarray], np.ndarray] | None = None
    #: claim name -> the formula under test in this theory
    formulas: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_reference(self) -> bool:
        return self.metric_weights is None and not self.formulas

    @property
    def changed(self) -> tuple[str, ...]:
        """The definitions this theory changes (the names a claim's ``reads`` may list)."""
        return ("metric_weights",) if self.metric_weights is not None else ()

    def affects(self, claim: Any) -> bool:
        """Whether this theory can change ``claim``'s verdict: it replaces the claim's formula, or it changes a
        definition the claim's witness reads (``Claim.reads``).  Any other claim is not re-tested under it."""
        return claim.name in self.formulas or bool(set(getattr(claim, "reads", ())) & set(self.changed))

    def weights(self, rho: np.ndarray) -> np.ndarray:
        """The metric's weights at stationary law ``rho`` (checked: shape [n], finite, >= 0)."""
        rho = np.asarray(rho, float)
        if self.metric_weights is None:
            return rho
        try:
            w = np.asarray(self.metric_weights(rho.copy()), float)
        except Exception as exc:
            raise ParameterError(f"theory {self.name!r}: metric_weights(rho) raised {type(exc).__name__}: {exc}") \
                from None
        if w.shape != rho.shape:
            raise ParameterError(f"theory {self.name!r}: metric_weights(rho) has shape {list(w.shape)}, expected "
                                 f"{list(rho.shape)} (one weight per state)")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            s = int(bad[0])
            raise ParameterError(f"theory {self.name!r}: metric_weights(rho) gives weight {w[s]!r} at state {s} "
                                 f"(rho = {rho[s]:.6g}); weights must be finite and >= 0")
        return w


#: the theory of THEORY.md: the metric weighted by rho, the suite's own formulas
REFERENCE = Theory()

_ACTIVE: contextvars.ContextVar[Theory] = contextvars.ContextVar("otgeom_theory", default=REFERENCE)


def active() -> Theory:
    """The theory the witnesses use now (:data:`REFERENCE` outside :func:`using`)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def using(theory: Theory | None) -> Iterator[Theory]:
    """Run the block under ``theory`` (None: the reference)."""
    token = _ACTIVE.set(theory if theory is not None else REFERENCE)
    try:
        yield _ACTIVE.get()
    finally:
        _ACTIVE.reset(token)


def metric_weights(rho: np.ndarray) -> np.ndarray:
    r"""The active theory's metric weights :math:`w(\rho)` (the reference: :math:`\rho`)."""
    return active().weights(rho)
