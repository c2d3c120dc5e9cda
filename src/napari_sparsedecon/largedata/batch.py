"""Headless batch processing: many files, large stacks, optional dask.distributed.

Finding inputs and naming outputs: :mod:`.discovery`; the output writers: :mod:`.writer`;
planning, blending and tiled runs: :mod:`.tiling`. This module reads the inputs, makes
each channel's PSF, and drives serial and distributed runs.

Qt-free; the ``napari-sparsedecon run`` command is a thin layer over it.
Inputs: TIFF / OME-TIFF (read lazily through tifffile's zarr interface) and
OME-Zarr (dask). Outputs: TIFF (a memory-mapped ImageJ TIFF filled frame by
frame) or OME-Zarr (filled chunk by chunk), written under a temporary name
and moved into place only when complete.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from pathlib import Path

import numpy as np

from ..algorithms.record import make_record
from ..algorithms.record import psf_record as make_psf_record
from ..base.signals import raise_if_received
from ..core.params import deconvolves, validate_params
from ..core.tiled import estimate, iter_tiled, scale_to_max_one, to_numpy
from .discovery import IMAGE_SUFFIXES, Job, expand_inputs, output_path, plan_jobs
from .writer import _MappedTiff, _ome_tiff_output, _View, _Writer, check_output_scale  # noqa: F401

__all__ = ["IMAGE_SUFFIXES", "Job", "check_output_scale", "dry_run_lines", "expand_inputs",
           "output_path", "parse_size", "plan_jobs", "process_file", "read_image",
           "run_batch"]


def read_image(path):
    """Lazy array and info of a TIFF / OME-TIFF / OME-Zarr.

    info: 'image_axes' (:class:`~napari_sparsedecon.io.axes.ImageAxes`: axis
    names, pixel sizes with units, None where the file does not say), 'axes',
    'scale', 'units', 'metadata', and for TIFFs 'close'.
    """
    path = str(path)
    if path.rstrip("/").endswith(".zarr"):
        from ..io.ome_zarr import read_ome_zarr

        return read_ome_zarr(path)
    import dask.array as da
    import tifffile
    import zarr

    from ..io.axes import from_tiff
    from ..io.tiff import info_dict, readable_tiff

    with readable_tiff(path):
        with tifffile.TiffFile(path) as tf:
            ia = from_tiff(tf)
        store = tifffile.imread(path, aszarr=True)
    arr = da.from_zarr(zarr.open(store, mode="r"))
    info = info_dict(ia)
    info["close"] = store.close
    return arr, info


def _check_dtype(arr):
    dt = np.dtype(arr.dtype)
    if dt.kind == "b":
        raise TypeError("the image is boolean (a mask?); deconvolution needs intensities")
    if dt.kind == "c":
        raise TypeError("the image is complex; save the real intensities (magnitude or real "
                        "part) as a real-valued file")
    if not np.issubdtype(dt, np.number):
        raise TypeError(f"the image has dtype {dt}; it needs numeric (integer or float) "
                        f"pixels")
    from ..base.validation import refuse_lost_precision, wide_dtype

    if wide_dtype(dt) and arr.size:  # one pass over the data, for 4- and 8-byte types only
        lo, hi = _extremes(arr)
        refuse_lost_precision(lo, hi, dt)


def _extremes(arr):
    """(min, max) of an array or a dask array, exact in its own dtype."""
    import dask
    import dask.array as da

    if isinstance(arr, da.Array):
        return dask.compute(arr.min(), arr.max())
    return np.min(arr), np.max(arr)


def _check_shape(arr, info):
    """Refuse data that ``run`` cannot process, saying why; channels are split later."""
    from ..io.axes import ImageAxes

    shape = tuple(arr.shape)
    ia = info.get("image_axes") or ImageAxes.default(len(shape))
    per_channel = ia.drop("C").axes
    if per_channel not in ("YX", "TYX", "ZYX", "TZYX"):
        raise ValueError(f"expected (Y, X), (T, Y, X), (Z, Y, X) or (T, Z, Y, X) data, "
                         f"optionally with a C axis, got shape {shape} (axes {ia.axes}); "
                         f"split positions into separate files")
    if min(n for a, n in zip(ia.axes, shape, strict=True) if a != "C") < 2:
        raise ValueError(f"shape {shape} (axes {ia.axes}) has an axis of length 1")


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        with open(q, "rb") as f:
            for block in iter(lambda f=f: f.read(2**20), b""):
                h.update(block)
    return h.hexdigest()


def _channel(data, ia, ch):
    """One channel of ``data`` (axes ``ia``) as a lazy array, or ``data`` itself."""
    c = ia.index("C")
    return data if c is None else data[(slice(None),) * c + (ch,)]


def process_file(job: Job, params: dict, *, psf_path=None, memory_budget=None, tile=None,
                 backend="numpy", client=None, progress=None, psf_fwhm_nm=None,
                 ngff="0.5", psf_optics=None) -> dict:
    """Process one file end to end; write ``job.dst`` atomically; return a summary.

    With a dask.distributed ``client``, a stack runs in blocks on the cluster and a
    (T, Z, Y, X) file one volume (time point, channel) per task.
    ``psf_fwhm_nm`` converts to pixels with this file's own pixel size;
    ``psf_optics`` (a preset's PSF recipe, see :mod:`napari_sparsedecon.presets`)
    makes an Airy PSF at it.
    """
    t0 = time.perf_counter()
    data, info = read_image(job.src)
    try:
        return _process(job, data, info, params, t0, psf_path=psf_path,
                        memory_budget=memory_budget, tile=tile, backend=backend,
                        client=client, progress=progress, psf_fwhm_nm=psf_fwhm_nm,
                        ngff=ngff, psf_optics=psf_optics)
    finally:
        info.get("close", lambda: None)()


def _process(job, data, info, params, t0, *, psf_path, memory_budget, tile, backend, client,
             progress, psf_fwhm_nm, ngff="0.5", psf_optics=None):
    from ..io.axes import ImageAxes

    ia = info.get("image_axes") or ImageAxes.default(data.ndim)
    _check_shape(data, info)
    _check_dtype(data)
    c = ia.index("C")
    per_ch = _channel_psfs(job.src, ia, 1 if c is None else int(data.shape[c]), params,
                           psf_path=psf_path, psf_fwhm_nm=psf_fwhm_nm, psf_optics=psf_optics)
    p, psf, psf_record = per_ch[0]
    up = p["upsample"]
    if up != 1 and data.ndim - (c is not None) == 3 and p["axis"] not in (0, -3):
        raise ValueError(
            f"--upsample {up} doubles the file's Y and X (its last two axes), but "
            f"continuity axis {p['axis']} is one of them; use --axis 0 (continuity along "
            f"{ia.drop('C').axes[0]}) or --upsample 1")
    out_shape = tuple(data.shape[:-2]) + (data.shape[-2] * up, data.shape[-1] * up)
    out_axes = ia.zoom_yx(up)
    recorded = dict(p)
    if psf_path:
        recorded["psf_fwhm_px"] = None  # the PSF file was used, not a Gaussian
    elif len({repr(q["psf_fwhm_px"]) for q, _, _ in per_ch}) > 1:  # per-channel FWHM, nm
        recorded["psf_fwhm_px"] = [q["psf_fwhm_px"] for q, _, _ in per_ch]
    if len(per_ch) > 1 and any(r != psf_record for _, _, r in per_ch):
        psf_record = [{"channel": i, **(r or {})} for i, (_, _, r) in enumerate(per_ch)]
    volumes = ia.drop("C").axes == "TZYX"
    extra = {"time_points": ("processed one by one as Z, Y, X volumes (continuity acts "
                             "along z within each; time points are not coupled)")} \
        if volumes else {}
    meta = make_record("sparse", recorded, psf=psf_record, estimates=None,
                       **_backend_used(backend), source=job.src, axes=out_axes.axes,
                       input_pixel_size=ia.physical(),
                       output_pixel_size=out_axes.physical(), **extra)
    writer = _Writer(job, out_shape, out_axes, meta, ngff=ngff)
    channels = range(data.shape[c]) if c is not None else [None]
    try:
        if volumes and client is not None:  # every (channel, time point) volume a task
            from .cluster import _run_time_points_distributed

            _run_time_points_distributed(client, job, data, ia, per_ch, writer,
                                         memory_budget, tile, backend, progress)
            channels = []
        for ch in channels:  # channels are independent images: never coupled
            p, psf, _ = per_ch[ch or 0]  # each channel with its own PSF
            sub = _channel(data, ia, ch)
            if volumes:  # T, Z, Y, X: one volume per time point, one scale for all
                _run_time_points(sub, p, psf, writer, ch, memory_budget, tile, backend,
                                 progress)
                continue
            out = writer.view(ch)
            if client is not None and sub.ndim == 3:
                from .cluster import _run_distributed

                _run_distributed(client, job, sub, p, psf, writer, memory_budget, tile,
                                 backend, progress, out=out, channel=(c, ch))
            else:
                for pr in iter_tiled(sub, p, psf=psf, out=out, memory_budget=memory_budget,
                                     tile=tile, backend=backend):
                    if progress:
                        progress(pr)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"src": job.src, "dst": job.dst, "status": "ok", "shape": list(out_shape),
            "seconds": round(time.perf_counter() - t0, 3)}


def _per_channel(values, nc: int, what: str, src, has_c: bool) -> list:
    """``values`` (one, or one per channel in channel order) as a list of ``nc``; a wrong
    count is a ValueError naming the channel count."""
    if values is None:
        return [None] * nc
    vals = [values] if isinstance(values, str | os.PathLike | int | float) else list(values)
    if len(vals) == 1:
        return vals * nc
    if len(vals) != nc:
        chans = f"{nc} channels (C axis)" if has_c else "1 channel (no C axis)"
        raise ValueError(f"{src} has {chans} but {len(vals)} {what} were given; give one "
                         f"per channel in channel order, or one for all channels")
    return vals


def _channel_psfs(src, ia, nc, params, *, psf_path=None, psf_fwhm_nm=None, psf_optics=None):
    """[(the paper pipeline's validated parameters, PSF array or None, PSF record)] for
    each of the ``nc`` channels.

    ``psf_path``, ``psf_fwhm_nm`` and the wavelength of ``psf_optics`` may each be one
    value (all channels) or one per channel; each channel gets its own PSF from them.
    """
    has_c = ia.index("C") is not None
    paths = _per_channel(psf_path or None, nc, "PSF files", src, has_c)
    fwhms = _per_channel(psf_fwhm_nm, nc, "PSF FWHM values (nm)", src, has_c)
    waves = _per_channel(None if psf_optics is None else psf_optics["wavelength_nm"], nc,
                         "emission wavelengths", src, has_c)
    px_nm = ia.require_pixel_nm(src)[1] if psf_fwhm_nm is not None else None
    files: dict = {}
    out = []
    for ch in range(nc):
        pd = params
        if fwhms[ch] is not None:
            pd = {**params, "psf_fwhm_px": float(fwhms[ch]) / px_nm}
        p = validate_params(pd)
        psf, record = None, None
        nd = len(ia.drop("C").axes)
        if paths[ch]:
            if paths[ch] not in files:
                files[paths[ch]] = _read_psf_file(paths[ch], ia)
            psf, fields = files[paths[ch]]
            record = make_psf_record(psf, model="file", image_ndim=nd, **fields)
        elif psf_optics is not None and p["psf_fwhm_px"] is None and deconvolves(p):
            psf, fields = _optics_psf({**psf_optics, "wavelength_nm": waves[ch]}, ia, src)
            record = make_psf_record(psf, image_ndim=nd, **{"model": "airy", **fields})
        elif deconvolves(p):
            nm = {} if fwhms[ch] is None else {"fwhm_nm": float(fwhms[ch])}
            fw = p["psf_fwhm_px"]
            three = np.ndim(fw) and len(fw) == 3 and nd == 3
            record = make_psf_record(None, model="gaussian", fwhm_px=fw,
                                     dims=3 if three else 2, **nm)
            if nd >= 3 and not three:
                record["note"] = ("a 2-D PSF on a stack: each plane is deblurred "
                                  "laterally only (no axial deblurring); give a 3-D PSF "
                                  "or an axial FWHM for that")
        out.append((p, psf, record))
    return out


def _read_psf_file(psf_path, ia):
    """(PSF array, its record: file name, sha256, pixel size), checked against ``ia``."""
    psf_arr, psf_info = read_image(psf_path)
    try:
        psf = to_numpy(psf_arr)
    finally:
        psf_info.get("close", lambda: None)()
    s_img, s_psf = ia.pixel_nm(), psf_info["image_axes"].pixel_nm()
    if s_img and s_psf and not np.allclose(s_img, s_psf, rtol=0.02):
        raise ValueError(f"pixel size mismatch: image {s_img[0]:.4g} x {s_img[1]:.4g} nm, "
                         f"PSF {psf_path} {s_psf[0]:.4g} x {s_psf[1]:.4g} nm; make the PSF "
                         f"at the image's pixel size")
    return psf, {"file": Path(psf_path).name, "sha256": _sha256(psf_path),
                 "pixel_size_nm": list(s_psf) if s_psf else None}


def _run_time_points(sub, p, psf, writer, ch, memory_budget, tile, backend, progress):
    """A (T, Z, Y, X) stack: each time point through the tiled Z, Y, X path into its own
    slice of the output; with max-1 scaling, one maximum over all time points (never a
    per-volume scale, which would make intensities incomparable in time)."""

    q = {**p, "quantitative": True}
    nt = sub.shape[0]
    gmax = 0.0
    for t in range(nt):
        out = writer.view(ch, time=t)
        for pr in iter_tiled(sub[t], q, psf=psf, out=out, memory_budget=memory_budget,
                             tile=tile, backend=backend):
            if progress:
                progress(pr)
        gmax = max(gmax, float(np.max(out[...])))
    if not p["quantitative"]:
        for t in range(nt):
            view = writer.view(ch, time=t)
            scale_to_max_one(view, view.shape[0], gmax)


def _unit_shape(shape, info):
    """(shape processed at once, how many times): a (T, Z, Y, X) stack runs one volume per
    time point; other shapes run whole."""
    ia = info.get("image_axes")
    if ia is None or ia.drop("C").axes != "TZYX":
        return tuple(shape), 1
    keep = [n for a, n in zip(ia.axes, shape, strict=True) if a not in "CT"]
    reps = int(np.prod([n for a, n in zip(ia.axes, shape, strict=True) if a in "CT"]))
    return tuple(keep), reps


def dry_run_lines(jobs, params: dict, *, psf_shape=None, memory_budget=None):
    p = validate_params(params)
    lines = []
    for job in jobs:
        try:
            data, info = read_image(job.src)
            try:  # probe the end of the data: catches truncated files without a full read
                to_numpy(data[(-1,) * (data.ndim - 2) + (slice(-1, None), slice(None))])
            finally:
                info.get("close", lambda: None)()
            _check_shape(data, info)
            shape, reps = _unit_shape(data.shape, info)
            peak, secs, plan = estimate(shape, p, psf_shape, memory_budget=memory_budget)
            secs *= reps
            lines.append(f"{job.src} {tuple(data.shape)} {data.dtype} -> {job.dst}: tiles of "
                         f"{plan.tile}+2x{plan.overlap} px, chunks of {plan.chunk_t} frames; "
                         f"peak ~{peak / 2**20:.0f} MiB, ~{secs:.0f} s")
        except Exception as err:  # noqa: BLE001 - a dry run reports, it does not stop
            lines.append(f"{job.src}: cannot be read ({err})")
    return lines


def run_batch(jobs, params: dict, *, psf_path=None, memory_budget=None, tile=None,
              backend="numpy", client=None, on_file=None, progress=None, psf_fwhm_nm=None,
              ngff="0.5", psf_optics=None):
    """Run jobs; a failed file is reported and the others go on. Returns summaries."""
    return run_tasks(jobs, _file_task, (params, psf_path, memory_budget, tile, backend),
                     {"psf_fwhm_nm": psf_fwhm_nm, "ngff": ngff, "psf_optics": psf_optics},
                     client=client, on_file=on_file, progress=progress, pass_client=True)


def run_tasks(jobs, task, args, kw, *, client=None, on_file=None, progress=None,
              pass_client=False):
    """``task(job, *args, **kw)`` for every job (it returns a summary and never raises):
    with a dask.distributed ``client`` and several jobs, one task per file on its
    workers; else one after another here (with ``progress``, and the ``client`` for
    blocks within a file when ``pass_client``). ``on_file(summary, i, n)`` after each."""
    results = []
    if client is not None and len(jobs) > 1:
        futs = [client.submit(task, job, *args, **kw, pure=False) for job in jobs]
        from distributed import as_completed

        for fut in as_completed(futs):
            results.append(fut.result())
            if on_file:
                on_file(results[-1], len(results), len(jobs))
        return results
    extra = {"client": client} if pass_client else {}
    for i, job in enumerate(jobs):
        results.append(task(job, *args, progress=progress, **extra, **kw))
        if on_file:
            on_file(results[-1], i + 1, len(jobs))
    return results


def failure_summary(job, err) -> dict:
    """The summary of a file that failed, with the error in words."""
    if isinstance(err, MemoryError) and not str(err).strip():
        err = MemoryError(_out_of_memory(job))
    msg = f"{type(err).__name__}: {err}"
    if not isinstance(err, ValueError | OSError | MemoryError | KeyError):
        msg += " | " + traceback.format_exc(limit=2).strip().splitlines()[-1]
    return {"src": job.src, "dst": job.dst, "status": "failed", "error": msg}


def _out_of_memory(job) -> str:
    """What an empty MemoryError (an allocation failing deep inside numpy, scipy or numba)
    means for ``job``: the file's size and what to change."""
    from ..base.resources import available_memory

    try:
        data, info = read_image(job.src)
        info.get("close", lambda: None)()
        shape = tuple(int(n) for n in data.shape)
        size = f"{shape}, {float(np.prod(shape, dtype=float)) * 4 / 2**20:.0f} MiB as float32"
    except Exception:  # noqa: BLE001 - the message is made without the size then
        size = "size unknown"
    free = available_memory() / 2**20
    return (f"out of memory while processing {job.src} ({size}; about {free:.0f} MiB free "
            f"now): give a smaller --memory-budget (the run splits the file into tiles "
            f"that fit it; by default half the free memory) or a smaller --tile, or "
            f"close other programs")


def _file_task(job, params, psf_path, memory_budget, tile, backend, client=None,
               progress=None, psf_fwhm_nm=None, ngff="0.5", psf_optics=None):
    try:
        return process_file(job, params, psf_path=psf_path, memory_budget=memory_budget,
                            tile=tile, backend=backend, client=client, progress=progress,
                            psf_fwhm_nm=psf_fwhm_nm, ngff=ngff, psf_optics=psf_optics)
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
        raise_if_received()  # a stop signal a library turned into an error: stop
        return failure_summary(job, err)


def parse_size(text) -> int:
    """'4GiB', '500MB', '2G' or bytes -> bytes (a positive, finite amount of memory)."""
    s = str(text).strip().lower().replace(" ", "")
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 1e3, "mb": 1e6,
             "gb": 1e9, "tb": 1e12, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "b": 1}
    num, unit = s, 1
    for u in sorted(units, key=len, reverse=True):
        if s.endswith(u):
            num, unit = s[: -len(u)], units[u]
            break
    try:
        value = float(num) * unit
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"memory size {text!r} is not understood: give a positive amount "
                         f"such as 4GiB, 500MB or 2G")
    return int(value)


def _backend_used(backend) -> dict:
    """The backend and device that actually run (not merely the one requested)."""
    from ..backends import get_backend

    be = get_backend(backend)
    return {"backend": be.name, "device": be.device_name}


def _optics_psf(optics: dict, ia, src):
    """(Airy PSF at this file's pixel size, its metadata record) for a preset's recipe."""
    from ..psf.airy import airy_psf

    try:
        py, px = ia.require_pixel_nm(src)
    except ValueError as err:
        raise ValueError(f"the preset's Airy PSF is made at the file's pixel size: {err}, "
                         f"or --psf") from None
    if abs(py - px) > 0.02 * px:
        raise ValueError(f"{src}: pixels of {py:.4g} x {px:.4g} nm are not square; the "
                         f"preset's Airy PSF needs square pixels (give --psf)")
    g = airy_psf(effective_na=optics["effective_na"], wavelength_nm=optics["wavelength_nm"],
                 pixel_nm=px)
    return g.data, {**optics, "pixel_size_nm": px}
