"""The paper pipeline (Zhao et al., Nat. Biotechnol. 2022), named as such.

background -> (x2 up-sampling) -> sparse-Hessian denoiser (identity forward
model) -> Richardson-Lucy. Implemented in :mod:`napari_sparsedecon.core.pipeline`;
this module holds its parameter schema and registry entry.
"""

from __future__ import annotations

from ..core.params import DECONV_METHODS, MAX_ITERATIONS, SCHEMA, as_params  # noqa: F401 - this method's schema


def _iterate(image, psf, params, *, backend, device, return_estimate, clip_negative=False):
    from ..core.pipeline import iter_sparse_deconvolve

    return iter_sparse_deconvolve(image, psf=psf, backend=backend, device=device,
                                  return_estimate=return_estimate,
                                  clip_negative=clip_negative, **params)


class _Checks:
    """The paper pipeline seen by the trust checks: its background estimate, forward
    model (the final deconvolution's PSF; none: the denoised image itself) and the
    pipeline run on each half."""

    hallucination_advice = "lower sparsity or raise fidelity"

    def __init__(self, params, psf, y):
        self.params, self.psf, self.y = as_params(params), psf, y
        self.upsample, self.quantitative = self.params.upsample, self.params.quantitative
        self.notes: list = []

    def background(self):
        import numpy as np

        from ..core.background import estimate_background

        p = self.params
        return (estimate_background(self.y, p.background) if p.background != "none"
                else np.zeros_like(self.y))

    def forward_model(self):
        """The final deconvolution's PSF on the data's grid; None when the pipeline does
        not deconvolve (its result is the denoised image)."""
        from ..core.pipeline import deconv_psf

        return deconv_psf(self.params, self.psf, self.y.shape, self.y.ndim)

    def forward(self):
        import numpy as np

        fwd = self.forward_model()
        return np.ones((1, 1), dtype=np.float32) if fwd is None else fwd

    def fwhm(self):
        return self.params.psf_fwhm_px

    def run_half(self, a, psf, fwhm, backend):
        import numpy as np

        from ..core.pipeline import sparse_deconvolve

        kw = {**self.params.to_dict(), "continuity": 0.0, "axis": 0, "psf_fwhm_px": fwhm}
        return sparse_deconvolve(np.ascontiguousarray(a, dtype=np.float32), psf=psf,
                                 backend=backend, **kw)


def _suggest(roi, psf_fwhm_px, params):
    """Fidelity, sparsity, iterations and background from the ROI's noise and signal
    (:func:`napari_sparsedecon.core.suggest.suggest_parameters`)."""
    from ..core.suggest import suggest_parameters

    s = suggest_parameters(roi, psf_fwhm_px=psf_fwhm_px, base=params)
    q = s.params
    keys = ("fidelity", "sparsity", "iterations", "deconv_iterations", "background")
    return ({k: q[k] for k in keys},
            f"SNR {s.snr:.0f}: fidelity {q['fidelity']:g}, sparsity {q['sparsity']:g}",
            s.message())


def _tiled(image, params, *, psf, out=None, memory_budget=None, tile=None,
           backend="numpy", device=None):
    """The paper pipeline's own large-data runner: t-chunks and blended Y/X tiles with one
    global scale (:func:`napari_sparsedecon.core.tiled.iter_tiled`)."""
    from ..core.tiled import iter_tiled

    return iter_tiled(image, as_params(params), psf=psf, out=out, memory_budget=memory_budget,
                      tile=tile, backend=backend, device=device)


def _memory_peak(shape, params) -> int:
    from ..core.params import in_memory_peak

    return in_memory_peak(tuple(shape), int(params["upsample"]))


def _make():
    from .registry import Method

    return Method(
        name="sparse", title="Sparse deconvolution (paper pipeline)",
        summary="sparse-Hessian denoiser, then Richardson-Lucy (Zhao et al. 2022)",
        schema=SCHEMA, iterate=_iterate, psf_in_schema=True,
        docs="docs/algorithms.md#paper-pipeline", checks=_Checks, suggest=_suggest,
        memory_peak=_memory_peak, tiled=_tiled, output_zoom=lambda params: int(params["upsample"]))


METHODS = (_make(),)
