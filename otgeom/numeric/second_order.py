r"""Second-order geometry on weighted points (THEORY.md sections 2-4), from linear solves.

A :class:`Linearization` holds one policy (quadrature nodes of a Gaussian or particles), its chain
and every per-point array the second-order formulas need (:math:`\nabla_a Q`, :math:`\nabla_a^2 Q`,
:math:`\nabla_a p`), so that each further quantity costs a few n x n solves and one contraction.

Derivatives of the chain along a tangent field v (section 3), with :math:`Z = (I - P + \mathbf 1\rho^\top)`:

.. math::
    dP(s,s') = \int\langle\nabla_a p(s'|s,a), v_s\rangle d\pi_s,\quad dr(s) = \int\langle\nabla_a c, v_s\rangle d\pi_s,\quad
    d\rho^\top Z = \rho^\top dP,\quad Z\,dh = dr + dP\,h - dJ\,\mathbf 1 - (d\rho^\top h)\mathbf 1,

so that :math:`\sum_s d\rho_s = 0` and :math:`\rho^\top dh + d\rho^\top h = 0`;
:math:`dQ[v](s,a) = \sum_{s'}p(s'|s,a)\,dh(s') - dJ` and :math:`\nabla_a dQ[v] = \sum_{s'}\nabla_a p(s'|s,a)\,dh(s')`.

Hessian bilinear forms (polarised; the quadratic forms are those of section 4):

.. math::
    A_{\rm local}(u,v) &= \textstyle\sum_s\rho_s\int\langle\nabla_a^2Q\,u_s, v_s\rangle d\pi_s,\\
    A_{\rm transport}(u,v) &= \textstyle\sum_s d\rho[u]_s\int\langle\nabla_aQ, v_s\rangle d\pi_s
        + \sum_s\rho_s\int\langle\nabla_a dQ[u], v_s\rangle d\pi_s,\\
    g(Z, C(u,v)) &= \tfrac12\textstyle\sum_s\big(d\rho[u]_s h_s(v,Z) + d\rho[v]_s h_s(u,Z) - d\rho[Z]_s h_s(u,v)\big),\\
    \mathrm{Hess}_g J(u,v) &= A_{\rm local} + A_{\rm transport} - g(\mathrm{grad}J, C(u,v)),\\
    \mathrm{Hess}_{\rm sub} J(u,v) &= \mathrm{Hess}_g J(u,v) + g(\mathrm{grad}^\perp J, C(u,v))
    \quad(u, v \text{ tangent to the Gaussian family}).

:math:`A_{\rm local} + A_{\rm transport}` is the Euclidean Hessian of J as a function of the point
positions (the second derivative along :math:`(\mathrm{id}+\epsilon v)_\#\pi`); it is symmetric
although the formula does not show it.  :math:`\mathrm{Hess}_g` is the Levi-Civita Hessian of
:math:`g = \mathrm{diag}(\rho_s w_{si})` on point positions: on particles a genuine finite-dimensional
Riemannian manifold, on Gauss–Hermite nodes the quadrature of the full-space form.

Assumptions checked: (R1), (R2) by the chain solve; the tangent fields' shapes; for the submanifold
form, that u and v are affine per state (tangent to the Gaussian family).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.linalg import lu_factor, lu_solve

from otgeom.errors import PolicyError
from otgeom.numeric.chain import ChainSolution, evaluate_chain
from otgeom.numeric.geometry import check_tangent
from otgeom.numeric.policies import GaussianPolicy, WeightedPoints

__all__ = ["ChainDerivative", "Linearization", "linearize", "linearize_gaussian", "affine_projection",
           "coordinate_fields", "GaussianSecondOrder", "gaussian_second_order", "HESSIAN_KINDS"]

#: The bilinear forms :meth:`Linearization.hessian` can evaluate.
HESSIAN_KINDS = ("local", "transport", "frozen", "levi-civita", "submanifold")


@dataclass(frozen=True)
class ChainDerivative:
    """The chain's derivative along one tangent field: dP [n, n], dr [n], dJ, drho [n], dh [n]."""

    dP: np.ndarray
    dr: np.ndarray
    dJ: float
    drho: np.ndarray
    dh: np.ndarray


@dataclass(frozen=True)
class Linearization:
    """A policy on weighted points with its chain and the per-point derivatives of c, p and Q.

    Attributes: ``wp`` (points [n, N, d], weights [n, N]), ``sol`` (the chain), ``grad_q`` [n, N, d],
    ``hess_q`` [n, N, d, d], ``kernel_grad`` [n, N, n, d] (:math:`\\nabla_a p(s'|s,a)`), ``cost_grad``
    [n, N, d].  Build with :func:`linearize`.
    """

    wp: WeightedPoints
    sol: ChainSolution
    grad_q: np.ndarray = field(repr=False)
    hess_q: np.ndarray = field(repr=False)
    kernel_grad: np.ndarray = field(repr=False)
    cost_grad: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_states(self) -> int:
        return self.wp.n_states

    @cached_property
    def _lu(self):
        n = self.n_states
        return lu_factor(np.eye(n) - self.sol.P + np.outer(np.ones(n), self.sol.rho))

    def check(self, V: np.ndarray, name: str = "tangent vector") -> np.ndarray:
        """The field V as an array [n, N, d]; a wrong shape or non-finite entry raises PolicyError."""
        return check_tangent(self.wp, V, name)

    def metric(self, U: np.ndarray, V: np.ndarray) -> float:
        """:math:`g(u,v) = \\sum_s\\rho_s\\int\\langle u_s,v_s\\rangle d\\pi_s`."""
        return float(self.sol.rho @ self.state_inner(U, V))

    def state_inner(self, U: np.ndarray, V: np.ndarray) -> np.ndarray:
        """:math:`h_s(u_s, v_s) = \\int\\langle u_s, v_s\\rangle d\\pi_s` per state, shape=[n]."""
        return self.wp.expect(np.einsum("snd,snd->sn", U, V))

    @property
    def gradient(self) -> np.ndarray:
        """:math:`\\mathrm{grad}J = \\nabla_a Q` at the points, shape=[n, N, d]."""
        return self.grad_q

    # ------------------------------------------------------------------ chain derivatives
    def chain_derivative(self, V: np.ndarray) -> ChainDerivative:
        """dP, dr, dJ, drho, dh along the field V (two n x n solves with one LU factorisation)."""
        V = self.check(V)
        w = self.wp.weights
        sol = self.sol
        dP = np.einsum("sn,snte,sne->st", w, self.kernel_grad, V)
        dr = np.einsum("sn,sne,sne->s", w, self.cost_grad, V)
        dJ = float(sol.rho @ (dr + dP @ sol.h))
        drho = lu_solve(self._lu, dP.T @ sol.rho, trans=1)
        dh = lu_solve(self._lu, dr + dP @ sol.h - dJ - float(drho @ sol.h))
        return ChainDerivative(dP, dr, dJ, drho, dh)

    def drho(self, V: np.ndarray) -> np.ndarray:
        """:math:`d\\rho[v]`, shape=[n] (sums to 0)."""
        return self.chain_derivative(V).drho

    def dh(self, V: np.ndarray) -> np.ndarray:
        """:math:`dh[v]`, shape=[n] (normalised so that :math:`\\rho^\\top h = 0` is preserved)."""
        return self.chain_derivative(V).dh

    def grad_dq(self, dh: np.ndarray) -> np.ndarray:
        """:math:`\\nabla_a dQ[v](s,a) = \\sum_{s'}\\nabla_a p(s'|s,a)\\,dh[v](s')`, shape=[n, N, d]."""
        return np.einsum("snte,t->sne", self.kernel_grad, dh)

    def dq(self, prims, V: np.ndarray) -> np.ndarray:
        """:math:`dQ[v](s,a) = \\sum_{s'}p(s'|s,a)\\,dh(s') - dJ` at the points, shape=[n, N]."""
        der = self.chain_derivative(V)
        return np.stack([prims.kernel(s, self.wp.points[s]) @ der.dh for s in range(self.n_states)]) - der.dJ

    def rho_adjoint(self, e: np.ndarray) -> np.ndarray:
        """The field :math:`R_e` with :math:`g(R_e, v) = d\\rho[v]\\cdot e` for every v, shape=[n, N, d].

        :math:`\\phi = Z^{-1}e`, :math:`R_e(s,a) = \\sum_{s'}\\nabla_a p(s'|s,a)\\phi(s')`, because
        :math:`d\\rho[v]\\cdot e = \\rho^\\top dP[v]\\,Z^{-1}e` (adjoint method: one solve for all v).
        """
        phi = lu_solve(self._lu, np.asarray(e, float))
        return np.einsum("snte,t->sne", self.kernel_grad, phi)

    @cached_property
    def drho_gradient(self) -> np.ndarray:
        """:math:`d\\rho[\\mathrm{grad}J]`, shape=[n]."""
        return self.drho(self.grad_q)

    # ------------------------------------------------------------------ bilinear forms
    def a_local(self, U: np.ndarray, V: np.ndarray) -> float:
        """:math:`A_{\\rm local}(u,v) = \\sum_s\\rho_s\\int\\langle\\nabla_a^2 Q\\,u_s, v_s\\rangle d\\pi_s`."""
        U, V = self.check(U), self.check(V)
        return float(self.sol.rho @ self.wp.expect(np.einsum("snde,sne,snd->sn", self.hess_q, U, V)))

    def a_transport(self, U: np.ndarray, V: np.ndarray, der: ChainDerivative | None = None) -> float:
        """:math:`A_{\\rm transport}(u,v) = \\sum_s d\\rho[u]_s\\int\\langle\\nabla_aQ,v_s\\rangle + \\sum_s\\rho_s\\int\\langle\\nabla_a dQ[u], v_s\\rangle`.

        ``der``: the chain derivative along U, if already computed (it is the only solve involved).
        """
        U, V = self.check(U), self.check(V)
        der = der or self.chain_derivative(U)
        return float(der.drho @ self.state_inner(self.grad_q, V) + self.metric(self.grad_dq(der.dh), V))

    def a_transport_dynamics(self, U: np.ndarray, V: np.ndarray) -> float:
        """The second line of :math:`A_{\\rm transport}` alone: :math:`\\sum_s\\rho_s\\int\\langle\\nabla_a dQ[u], v_s\\rangle d\\pi_s`."""
        U, V = self.check(U), self.check(V)
        return self.metric(self.grad_dq(self.dh(U)), V)

    def connection(self, Z: np.ndarray, U: np.ndarray, V: np.ndarray) -> float:
        """:math:`g(Z, C(u,v)) = \\tfrac12\\sum_s(d\\rho[u]_s h_s(v,Z) + d\\rho[v]_s h_s(u,Z) - d\\rho[Z]_s h_s(u,v))`."""
        Z, U, V = self.check(Z), self.check(U), self.check(V)
        return 0.5 * float(self.drho(U) @ self.state_inner(V, Z) + self.drho(V) @ self.state_inner(U, Z)
                           - self.drho(Z) @ self.state_inner(U, V))

    def hessian(self, U: np.ndarray, V: np.ndarray, kind: str = "levi-civita") -> float:
        """One of the bilinear forms of :data:`HESSIAN_KINDS` at (u, v).

        ``local``: :math:`A_{\\rm local}`; ``transport``: :math:`A_{\\rm transport}`; ``frozen``: their sum
        (symmetrised); ``levi-civita``: :math:`\\mathrm{Hess}_gJ` on the full space; ``submanifold``:
        :math:`\\mathrm{Hess}_{\\rm sub}J` of the Gaussian family (u, v must be affine per state).
        """
        if kind == "local":
            return self.a_local(U, V)
        if kind == "transport":
            return self.a_transport(U, V)
        if kind == "frozen":
            return self.a_local(U, V) + 0.5 * (self.a_transport(U, V) + self.a_transport(V, U))
        if kind == "levi-civita":
            return self.metric(self.hvp(U), V)
        if kind == "submanifold":
            Vc = self.check(V)
            self.require_affine(U, "u")
            self.require_affine(Vc, "v")
            grad_perp = self.grad_q - self.project_affine(self.grad_q)
            return self.metric(self.hvp(U), Vc) + self.connection(grad_perp, U, Vc)
        raise PolicyError(f"unknown Hessian kind {kind!r}; known: {', '.join(HESSIAN_KINDS)}")

    def hvp(self, U: np.ndarray, der: ChainDerivative | None = None) -> np.ndarray:
        r"""Matrix-free Levi-Civita Hessian-vector product: the field :math:`\eta` with
        :math:`g(\eta, v) = \mathrm{Hess}_gJ(u, v)` for every v, shape=[n, N, d].

        .. math::
            \eta_s = \nabla_a^2Q\,u_s + \nabla_a dQ[u] + \frac{d\rho[u]_s}{2\rho_s}\nabla_aQ
                     - \tfrac12 R_{e} + \frac{d\rho[\mathrm{grad}J]_s}{2\rho_s}u_s,\qquad e_s = h_s(\nabla_aQ, u_s),

        the symmetric polarisation of section 4.  Cost: three n x n solves sharing one LU
        factorisation, plus O(n^2 N d) contractions -- a constant multiple of one gradient.  ``der``: the chain
        derivative along U, if already computed.
        """
        U = self.check(U)
        der = der or self.chain_derivative(U)
        rho = self.sol.rho[:, None, None]
        e = self.state_inner(self.grad_q, U)
        return (np.einsum("snde,sne->snd", self.hess_q, U) + self.grad_dq(der.dh)
                + (der.drho[:, None, None] / (2 * rho)) * self.grad_q - 0.5 * self.rho_adjoint(e)
                + (self.drho_gradient[:, None, None] / (2 * rho)) * U)

    # ------------------------------------------------------------------ Gaussian tangent space
    def project_affine(self, V: np.ndarray) -> np.ndarray:
        """Per-state :math:`L^2(\\pi_s)` projection onto affine fields :math:`dm_s + S_s(a - m_s)`, S symmetric.

        Weighted least squares on the basis :math:`e_i` and :math:`\\tfrac12(E_{ij}+E_{ji})(a - \\bar a_s)`
        (:math:`\\bar a_s` the weighted mean of the points).  The weight :math:`\\rho_s` is constant within a
        state, so the weighted and unweighted projections coincide.
        """
        return affine_projection(self.wp, self.check(V))

    def require_affine(self, V: np.ndarray, name: str = "tangent vector", rtol: float = 1e-9) -> None:
        """Raise PolicyError naming the state where V is not tangent to the Gaussian family (not affine)."""
        V = self.check(V, name)
        R = V - self.project_affine(V)
        res = np.sqrt(self.wp.expect(np.einsum("snd,snd->sn", R, R)))
        scale = np.sqrt(self.wp.expect(np.einsum("snd,snd->sn", V, V)))
        bad = np.flatnonzero(res > rtol * np.maximum(1.0, scale))
        if bad.size:
            s = int(bad[0])
            raise PolicyError(f"{name} is not tangent to the Gaussian family at state {s}: its L2(pi_{s}) distance to "
                              f"the affine fields dm + S(a - m) is {res[s]:.3g} (norm {scale[s]:.3g})")


def affine_projection(wp: WeightedPoints, V: np.ndarray) -> np.ndarray:
    """Per-state weighted least-squares projection of V [n, N, d] onto symmetric affine fields."""
    n, N, d = wp.points.shape
    iu = np.triu_indices(d)
    out = np.empty_like(V)
    for s in range(n):
        w = wp.weights[s]
        x = wp.points[s] - w @ wp.points[s]
        cols = []
        for i in range(d):
            e = np.zeros((N, d))
            e[:, i] = 1.0
            cols.append(e)
        for i, j in zip(*iu):
            S = np.zeros((d, d))
            S[i, j] = S[j, i] = 1.0
            cols.append(x @ S)
        B = np.stack(cols, axis=-1)  # [N, d, k]
        sw = np.sqrt(w)[:, None, None]
        A = (sw * B).reshape(N * d, -1)
        coef = np.linalg.lstsq(A, (sw[:, :, 0] * V[s]).reshape(-1), rcond=None)[0]
        out[s] = B @ coef
    return out


def linearize(prims, wp: WeightedPoints, owner: str = "second order") -> Linearization:
    """Evaluate the chain at the points and collect :math:`\\nabla_aQ`, :math:`\\nabla_a^2Q`, :math:`\\nabla_a p`, :math:`\\nabla_a c`."""
    sol = evaluate_chain(prims, wp, owner)
    n = wp.n_states
    kg = np.stack([prims.kernel_grad(s, wp.points[s]) for s in range(n)])
    kh = np.stack([prims.kernel_hess(s, wp.points[s]) for s in range(n)])
    cg = np.stack([prims.cost_grad(s, wp.points[s]) for s in range(n)])
    ch = np.stack([prims.cost_hess(s, wp.points[s]) for s in range(n)])
    gq = cg + np.einsum("snte,t->sne", kg, sol.h)
    hq = ch + np.einsum("sntde,t->snde", kh, sol.h)
    hq = 0.5 * (hq + np.swapaxes(hq, -1, -2))
    return Linearization(wp, sol, gq, hq, kg, cg)


def linearize_gaussian(prims, policy: GaussianPolicy, order: int | None = None, owner: str = "second order",
                       rule=None, wp: WeightedPoints | None = None) -> Linearization:
    """:func:`linearize` on a quadrature rule of a Gaussian policy.

    By default the feature-resolving rule of :func:`otgeom.numeric.witness.gaussian_points` (composite
    Kronrod panels around the family's bumps, adapted until its two embedded rules agree; a
    :class:`~otgeom.errors.NotConvergedError` when they cannot be made to).  ``order`` asks for a plain
    Gauss–Hermite rule of that order instead (exact for polynomial integrands of degree < 2 order), and
    ``rule`` an already adapted :class:`~otgeom.numeric.quadrature.GaussianRule` mapped onto ``policy`` (one rule
    for nearby policies, e.g. in difference quotients, gives smooth functions of the policy).
    """
    from otgeom.numeric.witness import gaussian_points

    if wp is not None:
        pass  # given points (e.g. one variant of the two-rule error estimate)
    elif rule is not None:
        wp = rule.weighted_points(policy)
    else:
        wp = gaussian_points(prims, policy, owner, order=order)
    return linearize(prims, wp, owner)


def coordinate_fields(policy: GaussianPolicy, wp: WeightedPoints) -> np.ndarray:
    r"""The tangent fields of the coordinate directions :math:`\partial/\partial\theta_k`, shape=[K, n, N, d].

    d = 1, :math:`\theta = (m_s, \sigma_s)_s`: :math:`\partial_{m_s} \leftrightarrow 1`,
    :math:`\partial_{\sigma_s}\leftrightarrow (a - m_s)/\sigma_s` on state s (zero elsewhere).
    d > 1, :math:`\theta = (m_s, \mathrm{upper}(\Sigma_s))_s`: :math:`\partial_{\Sigma_{ij}}\leftrightarrow S(a - m_s)`
    with :math:`S\Sigma_s + \Sigma_s S = E_{ij} + E_{ji}` (:math:`E_{ii}` on the diagonal).
    """
    from scipy.linalg import solve_continuous_lyapunov

    n, N, d = wp.points.shape
    iu = np.triu_indices(d)
    fields = []
    for s in range(n):
        x = wp.points[s] - policy.mean[s]
        for i in range(d):
            F = np.zeros((n, N, d))
            F[s, :, i] = 1.0
            fields.append(F)
        for i, j in zip(*iu):
            E = np.zeros((d, d))
            E[i, j] = E[j, i] = 1.0
            if d == 1:
                S = np.array([[1.0 / policy.std[s]]])
            else:
                S = solve_continuous_lyapunov(policy.cov[s], E)
            F = np.zeros((n, N, d))
            F[s] = x @ S.T
            fields.append(F)
    return np.stack(fields)


@dataclass(frozen=True)
class GaussianSecondOrder:
    """Second-order matrices of J on the Gaussian family in coordinates (d = 1: :math:`\\theta = (m_s, \\sigma_s)_s`).

    ``grad`` :math:`\\partial J/\\partial\\theta` [K]; ``metric`` :math:`G(\\theta)` [K, K];
    ``christoffel`` :math:`\\Gamma^k_{ij}` [K, K, K]; ``hessian_coords`` :math:`\\partial^2 J/\\partial\\theta^2`;
    ``hessian_riemannian`` :math:`\\mathrm{Hess}_{\\rm sub}J(\\partial_i,\\partial_j)`; ``hessian_full``
    :math:`\\mathrm{Hess}_gJ(\\partial_i,\\partial_j)` (full space, the same tangent vectors);
    ``hessian_frozen`` :math:`(A_{\\rm local}+A_{\\rm transport})(\\partial_i,\\partial_j)`; ``a_local``.
    """

    theta: np.ndarray
    grad: np.ndarray
    metric: np.ndarray
    christoffel: np.ndarray
    hessian_coords: np.ndarray
    hessian_riemannian: np.ndarray
    hessian_full: np.ndarray
    hessian_frozen: np.ndarray
    a_local: np.ndarray
    lin: Linearization = field(repr=False)


def gaussian_second_order(prims, policy: GaussianPolicy, order: int | None = None, rule=None,
                          wp: WeightedPoints | None = None) -> GaussianSecondOrder:
    r"""Every second-order matrix of J at a Gaussian policy, by quadrature and linear solves.

    d = 1 only (the coordinates in which ``otgeom eval --hessian`` reports); ``order``, ``rule`` and ``wp`` as in
    :func:`linearize_gaussian` (default: the feature-resolving rule).  The push-forward of
    :math:`\mathcal N(m,\sigma^2)` by :math:`a\mapsto a + \epsilon(dm + \tfrac{d\sigma}{\sigma}(a-m))` is
    :math:`\mathcal N(m+\epsilon\,dm, (\sigma+\epsilon\,d\sigma)^2)`, a straight line in :math:`\theta`, so
    the coordinate Hessian is the frozen-weight form :math:`A_{\rm local}+A_{\rm transport}` on the coordinate
    fields.  :math:`G_{ij} = g(\partial_i,\partial_j) = \mathrm{diag}(\rho_s,\rho_s)`,
    :math:`\Gamma_{kij} = \tfrac12(\partial_iG_{kj}+\partial_jG_{ki}-\partial_kG_{ij})` with
    :math:`\partial_iG = d\rho[\partial_i]`, and :math:`\mathrm{Hess}_{\rm sub} = \partial^2J - \Gamma^k\partial_kJ`.
    """
    if policy.action_dim != 1:
        raise PolicyError(f"Gaussian coordinate Hessians are implemented for d = 1 (theta = (m_s, sigma_s)); "
                          f"this policy has d = {policy.action_dim}: use Linearization.hessian on fields")
    lin = linearize_gaussian(prims, policy, order, rule=rule, wp=wp)
    F = coordinate_fields(policy, lin.wp)
    K = F.shape[0]
    n = policy.n_states
    owner = np.repeat(np.arange(n), 2)
    rho = lin.sol.rho
    G = np.diag(rho[owner])
    ders = [lin.chain_derivative(F[k]) for k in range(K)]
    dG = np.stack([np.diag(der.drho[owner]) for der in ders])  # dG[i] = d/dtheta_i G
    Gam_low = 0.5 * (np.einsum("ikj->kij", dG) + np.einsum("jki->kij", dG) - dG)  # Gamma_{kij}
    Gam = np.einsum("kl,lij->kij", np.linalg.inv(G), Gam_low)
    grad = np.array([der.dJ for der in ders])
    H_loc = np.array([[lin.a_local(F[i], F[j]) for j in range(K)] for i in range(K)])
    H_tr = np.array([[lin.a_transport(F[i], F[j], ders[i]) for j in range(K)] for i in range(K)])
    H_frozen = H_loc + 0.5 * (H_tr + H_tr.T)
    H_coords = H_frozen
    H_riem = H_coords - np.einsum("kij,k->ij", Gam, grad)
    eta = np.stack([lin.hvp(F[i], ders[i]) for i in range(K)])
    H_full = np.array([[lin.metric(eta[i], F[j]) for j in range(K)] for i in range(K)])
    sym = lambda M: 0.5 * (M + M.T)  # noqa: E731
    return GaussianSecondOrder(policy.coordinates(), grad, G, Gam, sym(H_coords), sym(H_riem), sym(H_full),
                               sym(H_frozen), sym(H_loc), lin)
