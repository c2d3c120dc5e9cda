"""Whole-layer runs larger than memory, for any method: the path choice and the tiled
run into a new OME-Zarr store (:mod:`napari_sparsedecon.largedata.paths`: the method's
memory model and its block runner, the paper pipeline's t-chunks and tiles or the Y/X
blocks of :mod:`napari_sparsedecon.largedata.blocks`), written under a temporary name
moved into place only when complete (an error or a cancel leaves nothing behind).
"""

from __future__ import annotations

import os

from .jobs import Job, _backend, _record_fn, _snapshot


def choose_path(model, shape, memory_budget=None):
    """In memory when the estimated peak of a whole-image run fits ``memory_budget``
    bytes (default: half the memory available now, as the CLI), else tiled."""
    from ..largedata import paths

    img = model.image
    psf = model.resolved_psf(img)
    params = model.job_params(psf, img)
    if len(shape) == 4:  # (T, Z, Y, X): one volume at a time is in the solver
        shape = shape[1:]
    if model.views:  # every view whole in memory: no tiled multi-view run
        choice = paths.choose_path(shape, model.method_name, params, memory_budget)
        peak = choice.peak * (1 + len(model.views))
        if peak > choice.budget:
            raise MemoryError(f"a multi-view run holds all {1 + len(model.views)} views in "
                              f"memory (~{peak / 2**20:.0f} MiB, over the budget of "
                              f"{choice.budget / 2**20:.0f} MiB): raise the memory budget, "
                              f"crop the layers, or clear the extra views")
        return paths.PathChoice(paths.IN_MEMORY, peak, choice.budget)
    return paths.choose_path(shape, model.method_name, params, memory_budget)


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
    ia = paths.output_axes(layer_axes, m.zoom(params))
    arr = psf.array if m.psf_in_schema else psf.as_array()

    def build(data):
        return paths.iter_to_store(data, m, params, dst, ia, meta, psf=arr,
                                   memory_budget=choice.budget, backend=be)

    job = Job("tiled", m.name, params, psf, build, {"tiles": 1},
              int(params.get("upsample", 1)), {}, extra, make)
    job.axes = ia
    return job
