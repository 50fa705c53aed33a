"""otgeom: derive, evaluate and verify the Wasserstein theory of reinforcement learning.

Flat namespace: ``otgeom.family``, ``otgeom.GaussianPolicy``, ``otgeom.LQPolicy``, ``otgeom.evaluate``,
``otgeom.Claim``; the claim suite is ``proofs_checks.CLAIMS``.
"""
from otgeom.claims import Claim, ClaimResult, Outcome
from otgeom.errors import (ExpressionError, FamilyError, OtgeomError, ParameterError, PolicyError,
                           RegularityError)
from otgeom.evaluate import evaluate, policy_from_json
from otgeom.families import FAMILIES, family
from otgeom.numeric.lq import LQPolicy, lq_optimum, lq_point
from otgeom.numeric.policies import GaussianPolicy, ParticlePolicy, QuantilePolicy

__version__ = "0.1.0"

__all__ = ["family", "FAMILIES", "LQPolicy", "lq_point", "lq_optimum", "GaussianPolicy", "ParticlePolicy", "QuantilePolicy", "evaluate",
           "policy_from_json", "Claim", "ClaimResult", "Outcome", "OtgeomError", "FamilyError",
           "ParameterError", "PolicyError", "RegularityError", "ExpressionError", "__version__"]
