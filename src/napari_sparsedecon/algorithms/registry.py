"""The algorithm registry: method name -> schema, runner, docs.

Adding a method: write ``algorithms/<name>.py`` with a ``METHOD = Method(...)``
and add its module name to ``_MODULES`` below. Nothing else lists methods.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from .. import params as P

#: Modules that define methods (imported on first use, in this order).
_MODULES = ("sparse", "rl", "rl_reg", "garl")

#: The method ``deconvolve`` runs when none is named.
DEFAULT_METHOD = "sparse_psf"


@dataclass(frozen=True)
class Method:
    """A registered deconvolution method.

    ``iterate(image, psf, params, *, backend, device, return_estimate)`` returns
    a generator yielding :class:`~napari_sparsedecon.progress.Progress` whose
    return value is the float32 result; ``params`` is the validated dict.
    """

    name: str
    title: str
    summary: str
    schema: tuple
    iterate: Callable
    backends: tuple = ("numpy", "opencl", "numba")
    psf_in_schema: bool = False  # the schema itself carries psf_fwhm_px (paper pipeline)
    docs: str = ""
    #: ``prepare(image, psf, params, *, clip_negative) -> (prep, data, psf)``: what the
    #: method estimates once per image (camera, background, levels); ``prep.block(sl)``
    #: cuts it to a block and ``iterate(..., prep=...)`` solves the block with it.
    prepare: Callable | None = None
    #: ``halo(params, psf) -> int``: the Y/X margin in pixels a block needs.
    halo: Callable | None = None
    #: ``tiled(image, params, *, psf, out, memory_budget, tile, backend, device)``: a
    #: method's own large-data runner (the paper pipeline's t-chunks and Y/X tiles);
    #: methods without one are tiled by :mod:`napari_sparsedecon.largedata.blocks`.
    tiled: Callable | None = None
    #: ``views_plan(shape, psfs, params, preps) -> (plan, output, iterations, info,
    #: stop)``: the method over V views of one object, each with its own PSF and
    #: ``prepare`` result (:mod:`napari_sparsedecon.algorithms.multiview`).
    views_plan: Callable | None = None
    #: ``checks(params, psf, image) -> model``: the method as the trust checks see it
    #: (``upsample``, ``quantitative``, ``notes``, ``hallucination_advice``,
    #: ``background()``, ``forward_model()`` (None: the result is no deconvolution),
    #: ``forward()``, ``fwhm()``, ``run_half(a, psf, fwhm, backend)``);
    #: None: :mod:`napari_sparsedecon.analysis.trust`'s model of a photon method.
    checks: Callable | None = None
    #: ``suggest(roi, psf_fwhm_px, params) -> (values, short text, message)``: the
    #: method's estimate of its parameters from a region of interest; None: methods with
    #: a camera model (``prepare``) suggest the camera fitted over the whole image.
    suggest: Callable | None = None
    #: ``memory_peak(shape, params) -> bytes``: the peak of a whole-image run; None:
    #: :data:`napari_sparsedecon.largedata.blocks.BYTES_PER_VOXEL` per voxel + the input.
    memory_peak: Callable | None = None
    #: ``output_zoom(params) -> int``: the result's Y/X pixels per input pixel (1).
    output_zoom: Callable | None = None

    @property
    def tileable(self) -> bool:
        """Whether the product can run this method in blocks (tiles, ROI previews)."""
        return self.tiled is not None or (self.prepare is not None and self.halo is not None)

    def zoom(self, params: dict) -> int:
        """The result's Y/X pixels per input pixel (the paper pipeline's up-sampling)."""
        return int(self.output_zoom(params)) if self.output_zoom is not None else 1

    def validate(self, values: dict | None = None) -> dict:
        return P.validate(self.schema, values, what=f"parameter(s) of method {self.name!r}")

    def defaults(self) -> dict:
        return P.defaults(self.schema)


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _REGISTRY and _REGISTRY[method.name] is not method:
        raise ValueError(f"method {method.name!r} is registered twice")
    _REGISTRY[method.name] = method
    return method


def _load() -> None:
    for mod in _MODULES:
        m = importlib.import_module(f"{__package__}.{mod}")
        for meth in getattr(m, "METHODS", ()):
            register(meth)


def methods() -> tuple[str, ...]:
    """Names of the registered methods."""
    if not _REGISTRY:
        _load()
    return tuple(_REGISTRY)


def get_method(name: str) -> Method:
    """The registered method ``name`` (ValueError listing the known names otherwise)."""
    names = methods()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"method must be one of {list(names)}, got {name!r}")
    return _REGISTRY[name]
