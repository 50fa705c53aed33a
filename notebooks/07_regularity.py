# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Regularity, certified: what each assumption buys, and what breaks without it
#
# THEORY.md section 1 lists the assumptions every result needs: (R1) a unique stationary law, (R2) $\rho > 0$,
# (R3) smoothness of $c, p$ in the action with a Lipschitz kernel, (R4) moments, and (for $P^t \to \rho$)
# aperiodicity. otgeom computes each one as a certificate, for one policy or, when the kernel's form allows,
# for **every** policy; claims that need a failing assumption say `not-applicable` with the certificate.
# On continuous states, joint measurability of the tangent field is certified by continuity in the state.

# %%
import numpy as np
from IPython.display import Markdown

from otgeom import certify, family, family_certificates, measurability_certificates
from otgeom.numeric.stationary import stationary_gth
from proofs_checks import claim
from proofs_checks.mixing_claims import policy_chain


def table(certs):
    verdict = {True: "holds", False: "**FAILS**", None: "undecided"}
    rows = [f"| {c.name} | {c.assumption} | {verdict[c.holds]} | {c.scope} | {c.statement} |" for c in certs]
    return Markdown("| certificate | assumption | verdict | scope | statement |\n|---|---|---|---|---|\n" + "\n".join(rows))


# %% [markdown]
# ## A regular family: `modulated`, for every policy and at one policy
# The kernel is $(1-\phi_s(a))M + \phi_s(a)N$ with a bump $0 < \phi_s \le q_s < 1$, so $P_\pi \ge (1-q_s)M$
# entrywise for every policy: with M irreducible every controlled chain is irreducible, and the exact lower
# bound gives a Doeblin constant and a lower bound on $\rho$ that hold whatever the policy.

# %%
fam = family("modulated", n=3, d=1)
table(family_certificates(fam))

# %%
from otgeom.numeric.policies import GaussianPolicy

pol = GaussianPolicy.from_std(np.array([[0.3], [-0.5], [1.0]]), np.array([0.6, 0.8, 0.5]))
table([c for c in certify(fam, pol) if c.scope == "policy"])

# %% [markdown]
# ## The counterexamples: each breaks one assumption for every policy

# %%
for name in ("reducible", "transient", "periodic", "kinked"):
    failed = [c for c in family_certificates(family(name)) if c.holds is False]
    display(Markdown(f"**{name}**: " + "; ".join(f"{c.name} ({c.assumption}): {c.statement}" for c in failed)))

# %% [markdown]
# ### What breaks, in numbers
# *Reducible*: two stationary laws of the same policy, two different J (and metrics, and gradients).

# %%
P, r = policy_chain(family("reducible"), np.random.default_rng(0))
for block in ([0, 1], [2, 3]):
    rho = np.zeros(4)
    rho[block] = stationary_gth(P[np.ix_(block, block)])
    print(f"stationary law supported on {block}: rho = {np.round(rho, 4)}, J = rho.r = {rho @ r:.4f}")

# %% [markdown]
# *Periodic*: $P^t$ alternates forever, while the Cesàro averages converge to $\mathbf 1\rho^\top$.

# %%
P, r = policy_chain(family("periodic"), np.random.default_rng(0))
rho = stationary_gth(P)
for t in (50, 51):
    print(f"max |P^{t} - 1 rho^T| = {np.abs(np.linalg.matrix_power(P, t) - rho).max():.3f}")
avg = sum(np.linalg.matrix_power(P, t) for t in range(4000)) / 4000
print(f"max |(1/T) sum P^t - 1 rho^T| at T = 4000: {np.abs(avg - rho).max():.2e}")

# %% [markdown]
# *Claims*: each needs what it needs; on each counterexample the claims that need the broken assumption are
# `not-applicable` (with the certificate), the others still hold.

# %%
rows = []
for name in ("reducible", "transient", "periodic", "kinked"):
    fam_c = family(name)
    for c in ("ergodic-average", "power-convergence", "riemannian-gradient", "gradient-projection"):
        res = claim(c).run(fam_c)
        rows.append(f"| {name} | {c} | {res.verdict} | {res.details.get('assumption', '')} |")
Markdown("| family | claim | verdict | assumption that fails |\n|---|---|---|---|\n" + "\n".join(rows))

# %% [markdown]
# ## Measurability on continuous states
# `lq`: $\nabla_aQ(x,a) = 2Ma + 2B^\top PAx$ is affine, so continuous: a Carathéodory function, jointly
# measurable. Grid families: difference quotients in the state under refinement. `relay` has a drift
# $-k\,\mathrm{sign}(x)$; its tangent field jumps at $x = 0$: continuity in the state fails there (the
# certificate names the jump), and measurability is certified by the weaker route (piecewise continuous away
# from the located jump, so Borel in $x$, and smooth in $a$: still a Carathéodory function).

# %%
for name in ("lq", "double-well", "relay"):
    for c in measurability_certificates(family(name)):
        display(Markdown(f"**{name}**, {c.name} ({'holds' if c.holds else 'FAILS' if c.holds is False else 'undecided'}): "
                         f"{c.statement}"))
