"""Frozen parameter sets: what made a result, as a dict for metadata and files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .background import BACKGROUND_MODES
from .upsample import UPSAMPLE_METHODS
from .validation import choice, count, positive

DECONV_METHODS = ("rl", "biggs", "none")


@dataclass(frozen=True)
class SparseParams:
    """Parameters of :func:`napari_sparsedecon.sparse_deconvolve` (names as in the paper).

    ``psf_fwhm_px`` is the PSF FWHM in *input* pixels (one value, or
    ``(axial, lateral)`` / per-axis values); ignored when a PSF array is given.
    """

    fidelity: float = 150.0
    sparsity: float = 10.0
    continuity: float = 0.5
    iterations: int = 100
    background: str = "none"
    upsample: int = 1
    upsample_method: str = "fourier"
    deconv_method: str = "rl"
    deconv_iterations: int = 30
    psf_fwhm_px: float | tuple | None = None
    axis: int = 0
    quantitative: bool = True

    def __post_init__(self):
        positive(self.fidelity, "fidelity")
        positive(self.sparsity, "sparsity", allow_zero=True)
        positive(self.continuity, "continuity", allow_zero=True)
        count(self.iterations, "iterations")
        choice(self.background, "background", BACKGROUND_MODES)
        if self.upsample not in (1, 2):
            raise ValueError(f"upsample must be 1 or 2, got {self.upsample!r}")
        choice(self.upsample_method, "upsample_method", UPSAMPLE_METHODS)
        choice(self.deconv_method, "deconv_method", DECONV_METHODS)
        count(self.deconv_iterations, "deconv_iterations", minimum=0)
        if isinstance(self.psf_fwhm_px, list):
            object.__setattr__(self, "psf_fwhm_px", tuple(self.psf_fwhm_px))

    @property
    def deconvolves(self) -> bool:
        """Whether the pipeline runs its final deconvolution (and so needs a PSF)."""
        return self.deconv_method != "none" and self.deconv_iterations > 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> SparseParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes) -> SparseParams:
        return dataclasses.replace(self, **changes)
