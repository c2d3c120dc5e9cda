"""The paper pipeline (Zhao et al., Nat. Biotechnol. 2022), named as such.

background -> (x2 up-sampling) -> sparse-Hessian denoiser (identity forward
model) -> Richardson-Lucy. Implemented in :mod:`napari_sparsedecon.core.pipeline`;
this module holds its parameter schema and registry entry.
"""

from __future__ import annotations

from ..core.params import DECONV_METHODS, MAX_ITERATIONS, SCHEMA  # noqa: F401 - this method's schema


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
