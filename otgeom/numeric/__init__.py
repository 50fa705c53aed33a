"""Numeric layer (numpy/scipy): evaluates a family's primitives c and p, never a derived formula.
Never imports ``otgeom.symbolic`` (a test parses the imports)."""
