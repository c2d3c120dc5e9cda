"""Multi-view files: V files, views of one object on one grid, through a method's
multi-view form (the data term summed over the views, each with its own PSF and
background) into one output, written under a temporary name and moved into place.

The views must already be registered and resampled onto one grid (same shape, axes
and pixel size): V files of one channel each, or one file whose axis ``view_axis``
(e.g. the channels of a Fiji hyperstack holding the two arms of a dual-view light
sheet) holds the views. The multi-view form runs on whole views in memory, on NumPy
(``deconvolve(views, method, psf=[...])``).
"""

from __future__ import annotations

import time

import numpy as np

from ..algorithms.multiview import multiview_methods
from ..algorithms.record import make_record
from ..algorithms.registry import get_method
from ..base.signals import raise_if_received
from ..base.validation import to_numpy
from ..params import jsonable
from .batch import _check_dtype, _check_shape, failure_summary, read_image
from .blocks import check_whole_fits
from .method_batch import _aspect, channel_psfs
from .writer import _Writer

#: Pixel sizes of two views that differ by more than this (relative) are refused.
PIXEL_TOLERANCE = 1e-3


def check_view_method(method: str):
    """The method, if it has a multi-view form; else a ValueError naming those that do."""
    m = get_method(method)
    if m.views_plan is None:
        raise ValueError(f"method {m.name!r} has no multi-view form; --views works with "
                         f"{', '.join(multiview_methods())}")
    return m


def check_view_psfs(psf_paths, n_views: int) -> None:
    """One PSF file per view (or one for all of them)."""
    if psf_paths and len(psf_paths) not in (1, n_views):
        raise ValueError(f"--views with {n_views} views needs one PSF file per view, in the "
                         f"inputs' order (or one for all), got {len(psf_paths)}")


def _read_axis_views(src, axis: str):
    """(float32 views, their ImageAxes, their names): the entries of ``src`` along
    ``axis`` (one letter of its axes, not Y or X)."""
    from ..io.axes import ImageAxes

    axis = str(axis).upper()
    data, info = read_image(src)
    try:
        ia = info.get("image_axes") or ImageAxes.default(data.ndim)
        _check_shape(data, info)
        _check_dtype(data)
        k = ia.index(axis) if axis not in ("Y", "X") else None
        if k is None:
            raise ValueError(f"--views-axis {axis}: {src} has axes {ia.axes}; name the axis "
                             f"that holds the views (one of "
                             f"{[a for a in ia.axes if a not in 'YX']})")
        n = int(data.shape[k])
        if n < 2:
            raise ValueError(f"--views-axis {axis}: {src} has {n} entry along {axis}; a "
                             f"multi-view run needs two or more views")
        rest = ia.drop(axis)
        if rest.index("C") is not None:
            raise ValueError(f"{src} has a channel axis besides the views ({axis}); a view is "
                             f"one channel: split the channels into files first")
        views = [to_numpy(data[(slice(None),) * k + (j,)]) for j in range(n)]
    finally:
        info.get("close", lambda: None)()
    return views, rest, [f"{src} [{axis}={j}]" for j in range(n)]


def _read_views(srcs):
    """(float32 views, their ImageAxes): the same shape, axes and pixel size, one channel."""
    from ..io.axes import ImageAxes

    arrays, first = [], None
    for src in srcs:
        data, info = read_image(src)
        try:
            ia = info.get("image_axes") or ImageAxes.default(data.ndim)
            _check_shape(data, info)
            _check_dtype(data)
            if ia.index("C") is not None:
                raise ValueError(f"{src} has a channel axis; a view is one channel: split "
                                 f"the channels into files and run each channel's views")
            if first is None:
                first = (src, tuple(data.shape), ia)
            else:
                _same_grid(first, src, tuple(data.shape), ia)
            arrays.append(to_numpy(data))
        finally:
            info.get("close", lambda: None)()
    return arrays, first[2]


def _same_grid(first, src, shape, ia) -> None:
    src0, shape0, ia0 = first
    if shape != shape0 or ia.axes != ia0.axes:
        raise ValueError(f"the views are not on one grid: {src0} is {shape0} ({ia0.axes}), "
                         f"{src} is {shape} ({ia.axes}); register and resample the views "
                         f"onto one grid first")
    p0, p1 = ia0.physical(), ia.physical()
    for k in set(p0) & set(p1):
        if abs(p0[k] - p1[k]) > PIXEL_TOLERANCE * max(abs(p0[k]), abs(p1[k])):
            raise ValueError(f"the views have different pixel sizes ({k}: {p0[k]:g} in "
                             f"{src0}, {p1[k]:g} in {src}); resample them onto one grid "
                             f"first")


def process_views(job, srcs, method, params: dict, *, explicit=(), psf_path=None,
                  psf_fwhm_px=None, psf_fwhm_nm=None, memory_budget=None, progress=None,
                  ngff="0.5", clip_negative=False, view_axis=None) -> dict:
    """The views ``srcs`` (files; or one file and its ``view_axis``, e.g. ``"C"``) of one
    object through ``method``'s multi-view form into ``job.dst``; returns a summary.
    PSFs: one file per view (or one for all), or one Gaussian for all."""
    from ..api import iter_deconvolve

    t0 = time.perf_counter()
    m = check_view_method(method)
    if view_axis:
        if len(srcs) != 1:
            raise ValueError(f"--views-axis takes one input file whose {view_axis} axis "
                             f"holds the views, got {len(srcs)} files")
        views, ia, names = _read_axis_views(srcs[0], view_axis)
        srcs = [srcs[0]] * len(views)
    else:
        views, ia = _read_views(srcs)
        names = list(map(str, srcs))
    check_view_psfs(psf_path, len(views))
    params, aspect_note = _aspect(m, m.validate(params), ia, explicit)
    check_whole_fits((len(views),) + views[0].shape, m.name, memory_budget, views=True)
    psfs = []
    for i, src in enumerate(srcs):
        path = None if not psf_path else [psf_path[i if len(psf_path) > 1 else 0]]
        psfs.append(channel_psfs(src, ia, 1, psf_path=path, psf_fwhm_px=psf_fwhm_px,
                                 psf_fwhm_nm=psf_fwhm_nm, image_ndim=views[0].ndim)[0])
    meta = make_record(m, params, psf=[r for _, r in psfs], backend="numpy", device=None,
                       source=srcs[0], views=names, axes=ia.axes,
                       **({"views_axis": str(view_axis).upper()} if view_axis else {}),
                       input_pixel_size=ia.physical(), output_pixel_size=ia.physical(),
                       **({"aspect_note": aspect_note} if aspect_note else {}))
    writer = _Writer(job, views[0].shape, ia, meta, ngff=ngff)
    try:
        info: dict = {}
        gen = iter_deconvolve(views, m.name, psf=[p for p, _ in psfs], backend="numpy",
                              clip_negative=clip_negative, info=info, **params)
        while True:
            try:
                pr = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            if progress:
                progress(pr)
        writer.view()[...] = result
        est = {k: v for k, v in info.items() if k not in ("method", "params")}
        writer.update_metadata({**meta, "estimates": jsonable(est)})
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"src": " + ".join(names), "dst": job.dst, "status": "ok",
            "shape": list(views[0].shape),
            "seconds": round(time.perf_counter() - t0, 3), "views": len(views)}


def run_views(job, srcs, method, params: dict, *, on_file=None, **kw) -> list[dict]:
    """:func:`process_views` as a batch of one: a failure is a summary, never a raise."""
    try:
        r = process_views(job, srcs, method, params, **kw)
    except Exception as err:  # noqa: BLE001 - reported like a failed file of a batch
        raise_if_received()  # a stop signal a library turned into an error: stop
        r = failure_summary(job, err)
    if on_file:
        on_file(r, 1, 1)
    return [r]


def views_dry_run_lines(job, srcs, method, view_axis=None) -> list[str]:
    """What ``--views --dry-run`` prints: the views, the output, the memory needed."""
    from .blocks import BYTES_PER_VOXEL

    lines = []
    try:
        data, info = read_image(srcs[0])
        shape = tuple(int(n) for n in data.shape)
        ia = info.get("image_axes")
        info.get("close", lambda: None)()
        names, n = list(map(str, srcs)), len(srcs)
        if view_axis:
            k = ia.index(str(view_axis).upper()) if ia is not None else None
            if k is None:
                raise ValueError(f"no axis {view_axis} in {ia.axes if ia else shape}")
            n = shape[k]
            shape = shape[:k] + shape[k + 1:]
            names = [f"{srcs[0]} [{str(view_axis).upper()}=0..{n - 1}]"]
        need = n * float(np.prod(shape)) * BYTES_PER_VOXEL
        lines.append(f"{' + '.join(names)} -> {job.dst}: {n} views of "
                     f"{shape}, {method} multi-view, ~{need / 2**20:.0f} MiB (whole views "
                     f"in memory)")
    except Exception as err:  # noqa: BLE001 - the dry run reports, never raises
        lines.append(f"{srcs[0]}: cannot be read ({err})")
    return lines
