"""Whole-image runs that may not fit in memory: the path choice and the tiled run into an
OME-Zarr store, for the napari docks (Qt-free, like the batch engine it reuses).

The choice is the CLI's memory model (:mod:`napari_sparsedecon.core.tiled`): the peak of
an in-memory run is the planner's estimate with the whole image as one tile and one
chunk; above the memory budget the image runs tile by tile (:func:`iter_tiled` with
``memory_budget`` and ``out=``) into an OME-Zarr store written under a temporary name
and moved into place only when complete (the batch engine's writer), so that a failed
or cancelled run leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from ..base.resources import default_budget

IN_MEMORY, TILED = "in memory", "tiled"


@dataclass(frozen=True)
class PathChoice:
    """Which path a whole-image run takes and why (bytes)."""

    path: str  # IN_MEMORY or TILED
    peak: int  # estimated peak of the in-memory run
    budget: int

    def describe(self) -> str:
        mib = 2**20
        if self.path == IN_MEMORY:
            return (f"in memory (estimated peak {self.peak / mib:.0f} MiB within the "
                    f"{self.budget / mib:.0f} MiB budget)")
        return (f"tiled into an OME-Zarr store (estimated in-memory peak "
                f"{self.peak / mib:.0f} MiB over the {self.budget / mib:.0f} MiB budget)")


def in_memory_peak(shape, method, params: dict) -> int:
    """Estimated peak bytes of running a (Y, X) or (N, Y, X) image whole through
    ``method`` (a name or registry entry): its own ``memory_peak`` (the paper pipeline:
    the planner's working set and chunk storage), else the photon methods' working set
    (:data:`~napari_sparsedecon.largedata.blocks.BYTES_PER_VOXEL`) plus the input."""
    from .blocks import BYTES_PER_VOXEL, _method

    m = _method(method)
    if m.memory_peak is not None:
        return int(m.memory_peak(tuple(shape), params))
    n = int(np.prod(shape))
    return BYTES_PER_VOXEL * n + 4 * n


def choose_path(shape, method, params: dict, memory_budget=None) -> PathChoice:
    """In memory when the estimated peak of ``method`` with ``params`` (validated) fits
    ``memory_budget`` bytes (default: half of the memory available now, as the CLI),
    else tiled."""
    budget = int(memory_budget) if memory_budget else default_budget()
    peak = in_memory_peak(tuple(shape), method, params)
    return PathChoice(IN_MEMORY if peak <= budget else TILED, peak, budget)


def temp_store(name: str) -> tuple[str, str]:
    """(store path, its new temporary folder) for a result the user gave no path for."""
    folder = tempfile.mkdtemp(prefix="napari-sparsedecon-")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "result"
    return os.path.join(folder, f"{safe}.zarr"), folder


def iter_to_store(image, method, params: dict, dst, image_axes, meta, *, psf=None,
                  memory_budget=None, backend="numpy", ngff="0.5"):
    """Run ``image`` (NumPy/dask/zarr) through ``method`` (a name or registry entry) with
    its validated ``params`` block by block (its own tiled runner where it has one:
    the paper pipeline's t-chunks and tiles) into a new OME-Zarr store at ``dst``;
    yields the blocks' Progress; returns ``dst``.

    The store is written under a temporary ``.part`` name beside ``dst`` and moved into
    place when complete; an error, or closing the generator (a cancelled run), removes
    it. ``dst`` must not exist. ``image_axes`` names the axes and gives the pixel sizes
    (:func:`napari_sparsedecon.io.axes.from_layer`) of the *output*.
    """
    from .blocks import _method, iter_method_tiled
    from .discovery import Job
    from .writer import _Writer

    m = _method(method)
    writer = _Writer(Job("", str(dst), "zarr"), _out_shape(image.shape, m.zoom(params)),
                     image_axes, meta, ngff=ngff)
    try:
        yield from iter_method_tiled(image, m, params, psf=psf, out=writer.view(),
                                     memory_budget=memory_budget, backend=backend)
        writer.commit()
    except BaseException:  # errors, and GeneratorExit when a cancelled run is closed
        writer.abort()
        raise
    return str(dst)


def _out_shape(shape, up: int):
    return tuple(shape[:-2]) + (shape[-2] * up, shape[-1] * up)


def open_result(dst, perm=None):
    """(lazy dask array in the data's axis order, info) of a store this module wrote;
    ``perm``: the storage order (``ImageAxes.ordered``) to undo."""
    from ..io.ome_zarr import read_ome_zarr

    data, info = read_ome_zarr(dst)
    if perm is not None and tuple(perm) != tuple(range(len(perm))):
        data = data.transpose(tuple(int(i) for i in np.argsort(perm)))
    return data, info


def contrast_limits(data) -> tuple[float, float]:
    """(min, max) of the middle plane of a lazy result (what napari shows first), read
    chunk by chunk on the calling thread (dask's synchronous scheduler: no thread pool
    of its own inside a GUI worker); a cheap stand-in for the whole result's range."""
    plane = data[tuple(s // 2 for s in data.shape[:-2])]
    plane = np.asarray(plane.compute(scheduler="synchronous") if hasattr(plane, "compute")
                       else plane)
    if not plane.size:
        return 0.0, 1.0
    lo = float(np.min(plane))
    return lo, float(max(np.max(plane), lo + 1e-6))


def remove_temp(folder) -> None:
    """Remove a temporary folder made by :func:`temp_store` (a cancelled run)."""
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def output_axes(layer_axes, zoom: int = 1):
    """The output's axes: the input's with Y/X pixels shrunk by the method's zoom
    (``Method.zoom(params)``: the paper pipeline's up-sampling)."""
    return layer_axes.zoom_yx(int(zoom))
