r"""High dimension (THEORY.md section 7): neural policies trained on the ergodic cost, in JAX (the ``neural`` extra).

``pip install -e ".[neural]"`` adds JAX (CPU) and optax.  The core package never imports this one; importing it
switches JAX to float64 for the process (``jax_enable_x64``: the checks against the Riccati optimum and the
closed-form flow need it), which is the one global setting it makes.

* :mod:`otgeom.neural.env`: models with a known differentiable step: the ``lq`` family in any dimension and a chain
  of coupled, noisy pendulums (state dimension 2k), whose single uncoupled, noise-free step is Gymnasium's
  ``Pendulum-v1`` (tested against Gymnasium);
* :mod:`otgeom.neural.policies`: policies as push-forwards a = T_θ(x, ξ), ξ ~ N(0, I): linear Gaussian, Gaussian
  with an MLP mean and a learned standard deviation, and an implicit MLP of (x, ξ); plain JAX pytrees;
* :mod:`otgeom.neural.ergodic`: the ergodic estimate J_T from a batch of long trajectories after burn-in with a
  batch-means confidence interval, and on ``lq`` its exact bias and a mixing bound;
* :mod:`otgeom.neural.gradients`: the pathwise (Wasserstein) gradient, the score-function baseline (both also from
  simulated futures, with their variances compared), and the projected Wasserstein step θ' = θ − η G(θ)⁻¹∇J with
  G = E[∂_θTᵀ∂_θT] applied matrix-free (conjugate gradients on Jacobian-vector products);
* :mod:`otgeom.neural.train`: training with progress, atomic checkpoints, resume, and detection of diverging
  trajectories.
"""
from __future__ import annotations

try:
    import jax
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("otgeom.neural needs the 'neural' extra: pip install -e \".[neural]\" (JAX and optax)") from exc

jax.config.update("jax_enable_x64", True)

__all__ = ["env", "policies", "ergodic", "gradients", "train"]
