import numpy as np

from otgeom import GaussianPolicy, ParticlePolicy, family
from otgeom.numeric.flows import gaussian_projected_flow, integrate, particle_gradient_flow
from otgeom.symbolic.geometry import first_order


def test_symbolic_gaussian_flow_trajectory_matches_numeric_projected_flow():
    """Symbolic ODE (closed-form E[grad Q]) integrated by scipy vs the quadrature-based projected flow."""
    fam = family("switch2")
    pol = GaussianPolicy.from_std([0.3, -0.2], [0.7, 0.5])
    t = np.linspace(0, 0.5, 6)
    num = gaussian_projected_flow(fam.primitives(), pol, t, order=60)
    D = first_order(fam)
    f = D.evaluator(["flow"])
    params = [float(v) for v in fam.parameter_values()]
    sym = integrate(lambda _t, y: np.array(f(*params, *y)["flow"], float), pol.coordinates(), t)
    assert np.abs(sym - num.y).max() < 1e-8
    assert np.all(np.diff(num.J) < 0), "J must decrease along the gradient flow"


def test_particle_flow_energy_decays_at_rate_grad_norm():
    fam = family("modulated", n=3)
    rng = np.random.default_rng(3)
    pol = ParticlePolicy(rng.normal(0, 0.7, (3, 8, 1)))
    t = np.linspace(0, 0.2, 41)
    res = particle_gradient_flow(fam.primitives(), pol, t)
    assert np.all(np.diff(res.J) < 0)
    dJdt = np.gradient(res.J, t, edge_order=2)
    # second-order finite differences with dt = 5e-3: error O(dt^2) relative
    assert np.abs(dJdt[1:-1] + res.grad_norm2[1:-1]).max() < 1e-3 * res.grad_norm2.max()
