"""otgeom: derive, evaluate and verify the Wasserstein theory of reinforcement learning."""
__version__ = "0.1.0"
