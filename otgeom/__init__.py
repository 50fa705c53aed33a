"""otgeom: derive, evaluate and verify the Wasserstein theory of reinforcement learning.

Flat namespace: ``otgeom.family``, ``otgeom.GaussianPolicy``, ``otgeom.LQPolicy``, ``otgeom.evaluate``,
``otgeom.Claim``; the grid method: ``otgeom.grid_chain``, ``otgeom.gaussian_grid_chain``,
``otgeom.particle_flow``, ``otgeom.gaussian_flow``; regularity certificates: ``otgeom.certify``,
``otgeom.family_certificates``, ``otgeom.chain_certificates``, ``otgeom.measurability_certificates``; the claim
suite is ``proofs_checks.CLAIMS``.
"""
import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_loading(signum, frame):  # pragma: no cover - timing dependent
    _sys.stderr.write("otgeom: interrupted\n")
    _sys.stderr.flush()
    _os._exit(130)


# The ``otgeom`` command: a Ctrl-C while numpy, scipy and sympy load (before otgeom.cli.main installs its own
# handlers) ends with one line and status 130, not a traceback.  Only for the console script; a library user's
# SIGINT handling is never touched, and the previous handler is restored once the package has loaded.
_cli = _os.path.basename(_sys.argv[0] if _sys.argv else "") == "otgeom" and \
    _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
if _cli:
    _previous = _signal.signal(_signal.SIGINT, _interrupted_while_loading)

from otgeom.claims import Claim, ClaimResult, Outcome, Verdict
from otgeom.errors import (ExpressionError, FamilyError, GridWarning, OtgeomError, ParameterError, PolicyError,
                           RegularityError)
from otgeom.evaluate import evaluate, policy_from_json
from otgeom.families import FAMILIES, family
from otgeom.familyfile import load_family
from otgeom.numeric.grid import gaussian_grid_chain, grid_chain
from otgeom.numeric.grid_flow import gaussian_flow, particle_flow
from otgeom.numeric.lq import LQPolicy, lq_optimum, lq_point
from otgeom.numeric.certificates import chain_certificates
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, QuantilePolicy
from otgeom.regularity import certify, family_certificates, measurability_certificates
from otgeom.suite import run_suite, theory_diff
from otgeom.theory import Theory

__version__ = "0.1.0"

if _cli:
    _signal.signal(_signal.SIGINT, _previous)

__all__ = ["family", "load_family", "FAMILIES", "LQPolicy", "lq_point", "lq_optimum", "GaussianPolicy", "ParticlePolicy", "QuantilePolicy", "evaluate",
           "policy_from_json", "Claim", "ClaimResult", "Verdict", "Outcome", "run_suite", "theory_diff", "Theory", "OtgeomError", "FamilyError",
           "ParameterError", "PolicyError", "RegularityError", "ExpressionError", "GridWarning", "grid_chain",
           "gaussian_grid_chain", "particle_flow", "gaussian_flow", "certify", "family_certificates",
           "chain_certificates", "measurability_certificates", "__version__"]
