"""Numerics shared by every backend and method: padding, OTFs, the DCT solver,
Hessian operators, extrapolation, the camera noise model. NumPy/SciPy only."""
