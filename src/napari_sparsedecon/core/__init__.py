"""Numerics only: NumPy/SciPy, never Qt or napari."""
