"""napari-sparsedecon: sparse-Hessian deconvolution and Richardson-Lucy.

The public API is Qt-free; importing this package imports neither Qt,
napari nor OpenCL, and (lazily, PEP 562) not even SciPy until a function is
used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    "deconvolve": "api", "iter_deconvolve": "api", "methods": "api", "method_info": "api",
    "BACKGROUND_MODES": "core.background", "estimate_background": "core.background",
    "get_backend": "backends",
    "SparseParams": "core.params",
    "iter_sparse_deconvolve": "core.pipeline", "sparse_deconvolve": "core.pipeline",
    "Progress": "progress", "Stage": "progress",
    "center_psf": "psf.basic", "gaussian_psf": "psf.basic", "measure_fwhm": "psf.basic",
    "zoom_psf": "psf.basic",
    "iter_richardson_lucy": "core.richardson_lucy", "richardson_lucy": "core.richardson_lucy",
    "iter_sparse_hessian": "core.sparse_hessian", "run": "core.sparse_hessian",
    "sparse_hessian": "core.sparse_hessian",
    "upsample2x": "core.upsample",
    "camera_model": "ops.noise",
    "list_presets": "presets", "get_preset": "presets", "preset_params": "presets",
}

__all__ = sorted([*_API, "__version__", "datasets"])


def __getattr__(name):
    if name == "datasets":
        return importlib.import_module(".datasets", __name__)
    mod = _API.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
