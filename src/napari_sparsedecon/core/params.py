"""Frozen parameter sets: what made a result, as a dict for metadata and files.

The fields, types, ranges and defaults come from the paper pipeline's schema
(:data:`napari_sparsedecon.algorithms.sparse.SCHEMA`); nothing is re-typed here.
"""

from __future__ import annotations

from ..algorithms.sparse import DECONV_METHODS, SCHEMA
from ..params import make_params_class

__all__ = ["DECONV_METHODS", "SparseParams"]


def _deconvolves(self) -> bool:
    """Whether the pipeline runs its final deconvolution (and so needs a PSF)."""
    return self.deconv_method != "none" and self.deconv_iterations > 0


SparseParams = make_params_class(
    "SparseParams", SCHEMA,
    "Parameters of :func:`napari_sparsedecon.sparse_deconvolve` (names as in the paper).\n\n"
    "``psf_fwhm_px`` is the PSF FWHM in *input* pixels (one value, or ``(axial, lateral)``"
    " / per-axis values); ignored when a PSF array is given.",
    {"deconvolves": property(_deconvolves), "__module__": __name__})
