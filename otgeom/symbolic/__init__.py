"""Symbolic layer (sympy only): closed-form Gaussian expectations, the controlled chain by
spanning-tree sums, first-order geometry in Gaussian coordinates.  Never imports ``otgeom.numeric``."""
