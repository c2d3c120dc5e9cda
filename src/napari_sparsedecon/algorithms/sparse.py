"""The paper pipeline (Zhao et al., Nat. Biotechnol. 2022), named as such.

background -> (x2 up-sampling) -> sparse-Hessian denoiser (identity forward
model) -> Richardson-Lucy. Implemented in :mod:`napari_sparsedecon.core.pipeline`;
this module holds its parameter schema and registry entry.
"""

from __future__ import annotations

from ..core.background import BACKGROUND_MODES
from ..core.upsample import UPSAMPLE_METHODS
from ..params import Param

DECONV_METHODS = ("rl", "biggs", "none")
MAX_ITERATIONS = 10_000

SCHEMA = (
    Param("fidelity", "float", 150.0, "data-term weight; lower it for noisier data",
          low=0, low_open=True, high=1e12),
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


def _iterate(image, psf, params, *, backend, device, return_estimate, clip_negative=False):
    from ..core.pipeline import iter_sparse_deconvolve

    return iter_sparse_deconvolve(image, psf=psf, backend=backend, device=device,
                                  return_estimate=return_estimate,
                                  clip_negative=clip_negative, **params)


def _make():
    from .registry import Method

    return Method(
        name="sparse", title="Sparse deconvolution (paper pipeline)",
        summary="sparse-Hessian denoiser, then Richardson-Lucy (Zhao et al. 2022)",
        schema=SCHEMA, iterate=_iterate, psf_in_schema=True,
        docs="docs/algorithms.md#paper-pipeline")


METHODS = (_make(),)
