"""Whole-layer runs larger than memory, for any method: the path choice and the tiled
run into a new OME-Zarr store.

The paper pipeline: its planner's memory model and tiled runner
(:mod:`napari_sparsedecon.largedata.paths`). Every other method: the Y/X block runner
of :mod:`napari_sparsedecon.largedata.blocks` (whole-image estimates, halos, blended
blocks) writing into the same kind of store, under a temporary name moved into place
only when complete (an error or a cancel leaves nothing behind).
"""

from __future__ import annotations

import os

import numpy as np

from .jobs import Job, _backend, _record_fn, _snapshot


def choose_path(model, shape, memory_budget=None):
    """In memory when the estimated peak of a whole-image run fits ``memory_budget``
    bytes (default: half the memory available now, as the CLI), else tiled."""
    from ..largedata import paths
    from ..largedata.blocks import BYTES_PER_VOXEL
    from ..largedata.tiling import default_budget

    img = model.image
    psf = model.resolved_psf(img)
    params = model.job_params(psf, img)
    if len(shape) == 4:  # (T, Z, Y, X): one volume at a time is in the solver
        shape = shape[1:]
    if model.method.psf_in_schema:
        from ..core.params import SparseParams

        return paths.choose_path(shape, SparseParams(**params), memory_budget)
    budget = int(memory_budget) if memory_budget else default_budget()
    n = int(np.prod(shape))
    peak = BYTES_PER_VOXEL * n + 4 * n
    return paths.PathChoice(paths.IN_MEMORY if peak <= budget else paths.TILED, peak, budget)


def check_store(dst: str, source_path=None) -> None:
    """A new result store: named .zarr, not existing, not the layer's own file."""
    from ..io.outputs import check_not_protected

    if not dst.rstrip("/").lower().endswith(".zarr"):
        raise ValueError(f"result store {dst!r}: name it .zarr (OME-Zarr)")
    if os.path.lexists(dst):
        raise FileExistsError(f"{dst} exists; choose a new name for the result store (it "
                              f"is never replaced)")
    if source_path:
        check_not_protected(dst, [(source_path, "the layer's file")])


def iter_method_to_store(image, method, params, dst, image_axes, meta, *, psf,
                         memory_budget=None, backend="numpy", ngff="0.5"):
    """Any method's Y/X block run of ``image`` into a new OME-Zarr store at ``dst``
    (written as ``.part`` and moved into place when complete; removed on an error or
    when the generator is closed); returns ``dst``."""
    from ..largedata.blocks import iter_method_tiled
    from ..largedata.discovery import Job as FileJob
    from ..largedata.writer import _Writer

    writer = _Writer(FileJob("", str(dst), "zarr"), tuple(image.shape), image_axes, meta,
                     ngff=ngff)
    try:
        yield from iter_method_tiled(image, method, params, psf=psf, out=writer.view(),
                                     memory_budget=memory_budget, backend=backend)
        writer.commit()
    except BaseException:  # errors, and GeneratorExit when a cancelled run is closed
        writer.abort()
        raise
    return str(dst)


def tiled_job(model, choice, layer_axes, dst: str) -> Job:
    """The tiled run of the model's method into the store ``dst``; ``build(data)``
    returns ``dst``. ``layer_axes``: the layer's :class:`~napari_sparsedecon.io.axes.
    ImageAxes` (the output's are derived from it)."""
    from ..largedata import paths

    m = model.method
    img, psf, params = _snapshot(model)
    if img.ndim not in (2, 3):
        raise ValueError(f"tiled runs take 2-D or 3-D layers; '{img.name}' is {img.ndim}-D")
    be = _backend(model)
    extra = {"path": choice.describe(), "memory_budget_bytes": choice.budget}
    make = _record_fn(model, params, psf, be)
    meta = make(**extra)
    if m.psf_in_schema:
        from ..core.params import SparseParams

        sp = SparseParams(**params)
        ia = paths.output_axes(layer_axes, sp)

        def build(data):
            return paths.iter_tiled_to_store(data, sp, dst, ia, meta, psf=psf.array,
                                             memory_budget=choice.budget, backend=be)
    else:
        ia = layer_axes
        arr = psf.as_array()

        def build(data):
            return iter_method_to_store(data, m, params, dst, ia, meta, psf=arr,
                                        memory_budget=choice.budget, backend=be.name)

    job = Job("tiled", m.name, params, psf, build, {"tiles": 1},
              int(params.get("upsample", 1)), {}, extra, make)
    job.axes = ia
    return job
