r"""Training a push-forward policy on the ergodic cost, with progress, atomic checkpoints and resume.

Each step draws common random numbers from ``fold_in(key, step)`` (so a resumed run repeats exactly the steps it
would have taken), simulates ``batch`` trajectories of ``burn_in + T`` steps from x_0 = 0, and takes

* ``"natural"``: the projected Wasserstein step θ ← θ − η (G + λI)⁻¹∇J_T, G = E[∂_θTᵀ∂_θT] over the visited states
  after burn-in (at most ``metric_samples`` of them) and fresh ξ, by conjugate gradients on Jacobian-vector
  products (:func:`otgeom.neural.gradients.natural_direction`);
* ``"sgd"`` or ``"adam"``: optax's ``sgd`` / ``adam`` on ∇J_T (the pathwise gradient through the model).

A step whose trajectories blow up (a state norm above :data:`otgeom.neural.ergodic.BLOW_UP` or not finite) raises
:class:`~otgeom.neural.ergodic.DivergenceError` naming the training step and the time step; nothing is updated and
the last checkpoint stays.  Checkpoints (``.npz``: the flattened parameters and optimiser state, the step, the key
and the history) are written to a temporary file in the same directory, flushed, and renamed over the old one, so
an interrupted write leaves the previous checkpoint whole.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from otgeom.errors import ParameterError
from otgeom.neural.ergodic import DivergenceError, check_divergence, noise, simulate
from otgeom.neural.gradients import natural_solver

__all__ = ["train", "TrainResult", "METHODS", "save_checkpoint", "load_checkpoint"]

METHODS = ("natural", "sgd", "adam")


@dataclass
class TrainResult:
    """The parameters after training, the history (per step: J_T, the gradient norm, the seconds since the start of
    this run), the steps done in all (resumed ones included), and the step training resumed from (0: a fresh run)."""

    theta: dict
    history: list = field(default_factory=list)
    steps: int = 0
    resumed_from: int = 0


def _optimizer(method: str, lr: float):
    import optax

    return {"sgd": optax.sgd, "adam": optax.adam}[method](lr)


def save_checkpoint(path, theta, opt_state, step: int, seed: int, history: list) -> None:
    """Write the checkpoint atomically (temporary file in the same directory, fsync, rename)."""
    path = Path(path)
    flat, _ = ravel_pytree(theta)
    opt_flat = ravel_pytree(opt_state)[0] if opt_state is not None else np.zeros(0)
    hist = np.array([[h["step"], h["J"], h["grad_norm"]] for h in history], float).reshape(-1, 3)
    from otgeom.atomicio import write_atomically

    write_atomically(path, lambda fh: np.savez(fh, theta=np.asarray(flat), opt=np.asarray(opt_flat), step=step,
                                               seed=seed, history=hist), binary=True, prefix=f".{path.name}.")


def load_checkpoint(path, theta_like, opt_like):
    """(theta, opt_state, step, seed, history) from a checkpoint, shaped like ``theta_like``/``opt_like``
    (ParameterError when the shapes differ: another policy or optimiser)."""
    with np.load(path) as z:
        flat, opt_flat, step, seed, hist = z["theta"], z["opt"], int(z["step"]), int(z["seed"]), z["history"]
    ref, unravel = ravel_pytree(theta_like)
    if flat.shape != ref.shape:
        raise ParameterError(f"{path}: the checkpoint has {flat.size} parameters, this policy {ref.size}")
    opt_state = None
    if opt_like is not None:
        oref, ounravel = ravel_pytree(opt_like)
        if opt_flat.shape != oref.shape:
            raise ParameterError(f"{path}: the checkpoint's optimiser state does not match this optimiser")
        opt_state = ounravel(jnp.asarray(opt_flat))
    history = [{"step": int(r[0]), "J": float(r[1]), "grad_norm": float(r[2]), "seconds": float("nan")} for r in hist]
    return unravel(jnp.asarray(flat)), opt_state, step, seed, history


def train(env, policy, theta0, *, method: str = "natural", steps: int = 100, lr: float = 0.1, batch: int = 8,
          T: int = 200, burn_in: int = 100, seed: int = 0, damping: float = 1e-6, metric_samples: int = 512,
          max_move: float | None = None, cg_tol: float = 1e-6,
          checkpoint=None, checkpoint_every: int = 10, progress: bool | None = None,
          callback=None) -> TrainResult:
    r"""Train ``policy`` from ``theta0`` (module docstring).  With ``checkpoint`` an existing file resumes the run
    (same seed and settings: the steps after it are the ones an uninterrupted run takes).  ``callback(step, theta)``
    after each step may return True to stop there (the checkpoint is written first).  ``max_move`` (natural step
    only) caps the root-mean-square displacement of the actions, :math:`\eta\sqrt{d^\top Gd}`, a trust region in
    W2: where the metric is nearly singular (many network parameters) the uncapped step can be huge.  ``cg_tol``
    is the relative residual the CG solve of the natural step stops at (1e-6: far below the sampling error of
    ∇J_T, and each decade costs CG iterations)."""
    from otgeom.numeric.flows import progress_bar

    if method not in METHODS:
        raise ParameterError(f"unknown training method {method!r}; known: {', '.join(METHODS)}")
    if not (steps >= 0 and T > 0 and burn_in >= 0 and batch > 0 and lr > 0):
        raise ParameterError("steps >= 0, T > 0, burn_in >= 0, batch > 0 and lr > 0 are required")
    flat0, unravel0 = ravel_pytree(theta0)
    theta0 = unravel0(flat0)  # strong float64 leaves: a weak-typed leaf would change type after the first update and
    # make every jitted function compile a second time
    opt = None if method == "natural" else _optimizer(method, lr)
    theta, opt_state = theta0, (None if opt is None else opt.init(theta0))
    history: list = []
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        theta, opt_state, start, saved_seed, history = load_checkpoint(checkpoint, theta0, opt_state)
        if saved_seed != seed:
            raise ParameterError(f"{checkpoint}: written with seed {saved_seed}, resumed with seed {seed}")
    key = jax.random.PRNGKey(seed)
    m = int(getattr(policy, "action_dim", env.action_dim))

    @jax.jit
    def value_grad(th, xi, w):
        def loss(t):
            costs, norms, xs = simulate(env, policy, t, xi, w, states=True)
            return jnp.mean(costs[:, burn_in:]), (norms, xs)
        (J, (norms, xs)), g = jax.value_and_grad(loss, has_aux=True)(th)
        return J, g, norms, xs

    solve = natural_solver(policy, damping=damping, tol=cg_tol) if method == "natural" else None
    t0 = time.perf_counter()
    with progress_bar(steps - start if steps > start else 0, progress, f"train ({method})") as bar:
        for k in range(start, steps):
            xi, w = noise(jax.random.fold_in(key, k), env, m, batch, burn_in + T)
            J, g, norms, xs = value_grad(theta, xi, w)
            try:
                check_divergence(norms, f"training step {k + 1}")
            except DivergenceError as exc:
                exc.training_step = k + 1  # the time step is exc.step
                raise
            gflat, unravel = ravel_pytree(g)
            if not bool(jnp.all(jnp.isfinite(gflat))):
                err = DivergenceError(f"training step {k + 1}: the gradient is not finite (J_T = {float(J):.3g})")
                err.training_step = k + 1
                raise err
            if method == "natural":
                states = xs[burn_in:].reshape(-1, env.state_dim)
                idx = jax.random.choice(jax.random.fold_in(key, 10**9 + k), states.shape[0],
                                        (min(metric_samples, states.shape[0]),), replace=False)
                xs_s = states[idx]
                xis = jax.random.normal(jax.random.fold_in(key, 2 * 10**9 + k), (xs_s.shape[0], m))
                nd = solve(theta, xs_s, xis, gflat)
                eta = lr
                if max_move is not None:
                    move = float(np.sqrt(max(nd.metric_norm2, 0.0)))
                    eta = min(lr, max_move / move) if move > 0 else lr
                flat, unravel_t = ravel_pytree(theta)
                theta = unravel_t(flat - eta * nd.direction)
            else:
                import optax

                updates, opt_state = opt.update(g, opt_state, theta)
                theta = optax.apply_updates(theta, updates)
            history.append({"step": k + 1, "J": float(J), "grad_norm": float(jnp.linalg.norm(gflat)),
                            "seconds": time.perf_counter() - t0})
            bar.update(1)
            stop = bool(callback(k + 1, theta)) if callback is not None else False
            if checkpoint is not None and ((k + 1) % checkpoint_every == 0 or k + 1 == steps or stop):
                save_checkpoint(checkpoint, theta, opt_state, k + 1, seed, history)
            if stop:
                return TrainResult(theta, history, k + 1, start)
    if progress:
        sys.stderr.flush()
    return TrainResult(theta, history, max(steps, start), start)
