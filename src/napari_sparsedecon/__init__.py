"""napari-sparsedecon: sparse-Hessian deconvolution and Richardson-Lucy.

The public API is Qt-free; importing this package imports neither Qt,
napari nor OpenCL.
"""

__version__ = "0.1.0"

from . import datasets
from .backends import get_backend
from .core.background import BACKGROUND_MODES, estimate_background
from .core.params import SparseParams
from .core.pipeline import iter_sparse_deconvolve, sparse_deconvolve
from .core.progress import Progress
from .core.psf import center_psf, gaussian_psf, measure_fwhm, zoom_psf
from .core.richardson_lucy import iter_richardson_lucy, richardson_lucy
from .core.sparse_hessian import iter_sparse_hessian, run, sparse_hessian
from .core.upsample import upsample2x

__all__ = [
    "BACKGROUND_MODES",
    "Progress",
    "SparseParams",
    "__version__",
    "center_psf",
    "datasets",
    "estimate_background",
    "gaussian_psf",
    "get_backend",
    "iter_richardson_lucy",
    "iter_sparse_deconvolve",
    "iter_sparse_hessian",
    "measure_fwhm",
    "richardson_lucy",
    "run",
    "sparse_deconvolve",
    "sparse_hessian",
    "upsample2x",
    "zoom_psf",
]
