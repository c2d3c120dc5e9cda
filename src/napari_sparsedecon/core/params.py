"""The paper pipeline's parameter schema and its frozen parameter set (what made a
result, as a dict for metadata and files). The registry entry
(:mod:`napari_sparsedecon.algorithms.sparse`) takes its schema from here.
"""

from __future__ import annotations

import numpy as np

from ..params import Param, make_params_class
from .background import BACKGROUND_MODES
from .upsample import UPSAMPLE_METHODS

DECONV_METHODS = ("rl", "biggs", "none")
MAX_ITERATIONS = 10_000

SCHEMA = (
    # (fidelity under 1e-6 is no data term at all; denormal values overflowed the solver)
    Param("fidelity", "float", 150.0, "data-term weight; lower it for noisier data",
          low=1e-6, high=1e12),
    Param("sparsity", "float", 10.0, "L1 weight on intensities; keep below fidelity / 10",
          low=0, high=1e12),
    Param("continuity", "float", 0.5, "continuity weight along t or z (3-D data only)",
          low=0, high=1e12, acts_on="t/z"),
    Param("iterations", "int", 100, "sparse-Hessian (split Bregman) iterations",
          low=1, high=MAX_ITERATIONS),
    Param("background", "choice", "none", "background estimate subtracted first",
          choices=BACKGROUND_MODES),
    Param("upsample", "choice", 1, "x2 up-sampling in Y and X before the sparse step",
          choices=(1, 2), advanced=True),
    Param("upsample_method", "choice", "fourier", "how to up-sample",
          choices=UPSAMPLE_METHODS, advanced=True),
    Param("deconv_method", "choice", "rl",
          "final deconvolution: classic RL, Biggs-accelerated RL, or none",
          choices=DECONV_METHODS),
    Param("deconv_iterations", "int", 30, "iterations of the final deconvolution",
          low=0, high=MAX_ITERATIONS),
    Param("psf_fwhm_px", "floats", None,
          "Gaussian PSF FWHM in input pixels (1 value, or axial lateral); "
          "ignored when a PSF array is given", unit="px", low=0, low_open=True, high=1000,
          optional=True),
    Param("axis", "int", 0, "axis of 3-D data that continuity acts on", low=-3, high=2,
          advanced=True),
    Param("quantitative", "bool", True,
          "keep the input's intensity units (False: scale to max 1 as the reference does)",
          advanced=True),
)



__all__ = ["DECONV_METHODS", "SparseParams", "as_params", "deconvolves", "in_memory_peak",
           "validate_params"]

#: Working-set bytes per pixel of a tile: the sparse step (~11 float32 arrays)
#: or RL (~7 padded arrays), plus the tile's input and result copies.
BYTES_PER_PIXEL = 4 * 20
#: Bytes per pixel of a t-chunk held whole: the prepared frames, the blend
#: accumulator and the result (float32 each), plus the background estimate.
CHUNK_BYTES_PER_PIXEL = 4 * 4


def in_memory_peak(shape, upsample: int = 1) -> int:
    r"""Estimated peak bytes of running a (Y, X) or (N, Y, X) image whole through the
    paper pipeline: the planner's per-pixel working set and chunk storage over every
    working pixel (x ``upsample``\ :sup:`2`), plus the float32 input."""
    n = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    work = n * shape[-2] * shape[-1] * upsample * upsample
    return int((BYTES_PER_PIXEL + CHUNK_BYTES_PER_PIXEL) * work + 4 * n * shape[-2] * shape[-1])


def _deconvolves(self) -> bool:
    """Whether the pipeline runs its final deconvolution (and so needs a PSF)."""
    return self.deconv_method != "none" and self.deconv_iterations > 0


SparseParams = make_params_class(
    "SparseParams", SCHEMA,
    "Parameters of :func:`napari_sparsedecon.sparse_deconvolve` (names as in the paper).\n\n"
    "``psf_fwhm_px`` is the PSF FWHM in *input* pixels (one value, or ``(axial, lateral)``"
    " / per-axis values); ignored when a PSF array is given.",
    {"deconvolves": property(_deconvolves), "method": "sparse", "__module__": __name__})


def as_params(params) -> SparseParams:
    """The paper pipeline's frozen parameter set from its validated dict (or itself):
    the generic layers pass dicts; the pipeline's own numerics take this."""
    return params if isinstance(params, SparseParams) else SparseParams.from_dict(dict(params))


def validate_params(values=None) -> dict:
    """The paper pipeline's parameters, checked by its schema, as a dict."""
    from ..params import validate

    return validate(SCHEMA, values, what="parameter(s) of method 'sparse'")


def deconvolves(params) -> bool:
    """Whether the pipeline with ``params`` (dict or record) runs its final
    deconvolution (and so needs a PSF)."""
    return as_params(params).deconvolves
