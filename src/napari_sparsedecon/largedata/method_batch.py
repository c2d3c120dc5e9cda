"""Files through any registered method: channels, time points, PSFs, blocks, one record.

The paper pipeline has its own runner (:mod:`.batch`, with t-chunks and max-1
scaling); every other method goes through here: each channel (and, for (T, Z, Y, X)
data without time coupling, each time point) is one image for the method's
``prepare`` (camera, background, levels estimated over that whole image), solved in
Y/X blocks by :func:`.blocks.iter_method_tiled` into the output file (TIFF, OME-TIFF
or OME-Zarr, written under a temporary name and moved into place when complete).
"""

from __future__ import annotations

import time

import numpy as np

from ..algorithms.record import make_record, psf_record
from ..algorithms.registry import get_method
from ..base.signals import raise_if_received
from ..base.validation import to_numpy
from ..params import jsonable
from .batch import (
    _backend_used,
    _channel,
    _check_dtype,
    _check_shape,
    _optics_psf,
    _per_channel,
    _read_psf_file,
    read_image,
)
from .blocks import BYTES_PER_VOXEL, block_side, check_whole_fits, iter_method_tiled
from .writer import _Writer


def _units(data, ia, params):
    """[(channel, time point or None)] the file is solved as: channels never coupled; a
    (T, Z, Y, X) channel one volume per time point unless the method couples time."""
    c = ia.index("C")
    chans = list(range(data.shape[c])) if c is not None else [None]
    per_t = ia.drop("C").axes == "TZYX" and not params.get("t_continuity")
    nt = data.shape[ia.index("T")] if per_t else 0
    return [(ch, t) for ch in chans for t in (range(nt) if per_t else [None])]


def _unit(data, ia, ch, t):
    sub = _channel(data, ia, ch)
    return sub if t is None else sub[t]


def channel_psfs(src, ia, nc, *, psf_path=None, psf_fwhm_px=None, psf_fwhm_nm=None,
                 image_ndim=2, psf_optics=None):
    """[(PSF array, PSF record)] per channel from a file (one, or one per channel), a
    Gaussian FWHM in pixels (1 value, or axial and lateral), lateral FWHMs in nm
    (converted with the file's pixel size; one, or one per channel) or a preset's Airy
    recipe ``psf_optics`` (made at the file's pixel size; one wavelength, or one per
    channel), in that order of precedence."""
    from ..psf.basic import gaussian_psf

    has_c = ia.index("C") is not None
    if psf_optics is not None and not psf_path and psf_fwhm_px is None \
            and psf_fwhm_nm is None:
        waves = _per_channel(psf_optics["wavelength_nm"], nc, "emission wavelengths", src,
                             has_c)
        out = []
        for w in waves:
            a, fields = _optics_psf({**psf_optics, "wavelength_nm": w}, ia, src)
            out.append((a, psf_record(a, image_ndim=image_ndim,
                                      **{"model": "airy", **fields})))
        return out
    if psf_path:
        paths = _per_channel(psf_path, nc, "PSF files", src, has_c)
        files = {q: _read_psf_file(q, ia) for q in dict.fromkeys(paths)}
        return [(files[q][0], psf_record(files[q][0], model="file", image_ndim=image_ndim,
                                         **files[q][1])) for q in paths]
    if psf_fwhm_nm is not None:
        px = ia.require_pixel_nm(src)[1]
        nms = _per_channel(psf_fwhm_nm, nc, "PSF FWHM values (nm)", src, has_c)
        out = []
        for v in nms:
            f = float(v) / px
            g = gaussian_psf(None, f)
            out.append((g, psf_record(g, model="gaussian", image_ndim=image_ndim,
                                      fwhm_px=f, fwhm_nm=float(v))))
        return out
    if psf_fwhm_px is None:
        raise ValueError("the method needs a PSF: give --psf, --psf-fwhm-px or --psf-fwhm-nm")
    f = psf_fwhm_px if np.ndim(psf_fwhm_px) == 0 else tuple(psf_fwhm_px)
    if np.ndim(f) and len(f) == 1:
        f = f[0]
    g = gaussian_psf(None, f)
    return [(g, psf_record(g, model="gaussian", image_ndim=image_ndim,
                           fwhm_px=list(np.atleast_1d(f))))] * nc


def _aspect(m, params, ia, explicit) -> tuple[dict, str | None]:
    """``params`` with ``aspect`` (z step / pixel size) from the file's calibration when
    the method has it and it was not given; and a note saying what was done."""
    if "aspect" in explicit or "Z" not in ia.axes or \
            "aspect" not in {p.name for p in m.schema}:
        return params, None
    z, x = ia.size_nm("Z"), ia.size_nm("X")
    if not (z and x):
        return params, f"z step or pixel size unknown: aspect left at {params['aspect']}"
    return (m.validate({**params, "aspect": z / x}),
            f"aspect {z / x:.4g} from the file (z step {z:g} nm, pixel {x:g} nm)")


def _run_record(info: dict) -> dict:
    """A unit's run info as the record keeps it (camera and levels, what the solver
    used and ran), without the large or transient entries."""
    drop = ("output_sigma_px",)
    return jsonable({k: v for k, v in info.items() if k not in drop})


def process_method_file(job, method, params: dict, *, explicit=(), psf_path=None,
                        psf_fwhm_px=None, psf_fwhm_nm=None, psf_optics=None,
                        memory_budget=None, tile=None, backend="numpy", device=None,
                        progress=None, ngff="0.5", clip_negative=False,
                        client=None) -> dict:
    """One file through ``method`` end to end; ``job.dst`` written atomically; returns a
    summary. ``explicit``: the parameter names the user gave (the rest may come from
    the file, such as ``aspect``). ``client``: a dask.distributed client that runs the
    file's Y/X blocks on its workers."""
    from ..io.axes import ImageAxes

    t0 = time.perf_counter()
    m = get_method(method)
    data, info = read_image(job.src)
    try:
        ia = info.get("image_axes") or ImageAxes.default(data.ndim)
        _check_shape(data, info)
        _check_dtype(data)
        params, aspect_note = _aspect(m, m.validate(params), ia, explicit)
        c = ia.index("C")
        nc = 1 if c is None else int(data.shape[c])
        per_ndim = data.ndim - (c is not None)
        psfs = channel_psfs(job.src, ia, nc, psf_path=psf_path, psf_fwhm_px=psf_fwhm_px,
                            psf_fwhm_nm=psf_fwhm_nm, image_ndim=per_ndim,
                            psf_optics=psf_optics)
        units = _units(data, ia, params)
        estimates = []
        for ch, t in units:  # the whole-image estimates go into the record up front
            prep, _, _ = m.prepare(to_numpy(_unit(data, ia, ch, t)), psfs[ch or 0][0],
                                   params, clip_negative=clip_negative)
            estimates.append({"channel": ch, "time": t, **prep.record()})
            del prep
        psf_recs = [r for _, r in psfs]
        meta = make_record(
            m, params, psf=psf_recs[0] if len(set(map(str, psf_recs))) == 1 else psf_recs,
            estimates=estimates[0] if len(estimates) == 1 else estimates,
            **_backend_used(backend), source=job.src, axes=ia.axes,
            input_pixel_size=ia.physical(), output_pixel_size=ia.physical(),
            **({"aspect_note": aspect_note} if aspect_note else {}))
        writer = _Writer(job, tuple(data.shape), ia, meta, ngff=ngff)
        try:
            ran = []
            for ch, t in units:
                out = writer.view(ch, time=t)
                ran.append({"channel": ch, "time": t})
                gen = iter_method_tiled(_unit(data, ia, ch, t), m, params,
                                        psf=psfs[ch or 0][0], out=out,
                                        memory_budget=memory_budget, tile=tile,
                                        backend=backend, device=device,
                                        clip_negative=clip_negative, info=ran[-1],
                                        given={k: params[k] for k in explicit
                                               if k in params}, client=client)
                for pr in gen:
                    if progress:
                        progress(pr)
            ran = [_run_record(r) for r in ran]
            writer.update_metadata({**meta, "estimates": ran[0] if len(ran) == 1 else ran})
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    finally:
        info.get("close", lambda: None)()
    return {"src": job.src, "dst": job.dst, "status": "ok", "shape": list(data.shape),
            "seconds": round(time.perf_counter() - t0, 3)}


def method_dry_run_lines(jobs, method, params: dict, *, psf_shape=None, memory_budget=None,
                         tile=None):
    """What a run would do per file: blocks, halo and the estimated peak memory."""
    from ..io.axes import ImageAxes
    from ..psf.basic import gaussian_psf

    m = get_method(method)
    params = m.validate(params)
    lines = []
    for job in jobs:
        try:
            data, info = read_image(job.src)
            try:
                to_numpy(data[(-1,) * (data.ndim - 2) + (slice(-1, None), slice(None))])
            finally:
                info.get("close", lambda: None)()
            _check_shape(data, info)
            ia = info.get("image_axes") or ImageAxes.default(data.ndim)
            units = _units(data, ia, params)
            unit_shape = _unit(data, ia, *units[0]).shape
            check_whole_fits(unit_shape, m.name, memory_budget)
            h = int(m.halo(params, np.ones(psf_shape) if psf_shape else
                           gaussian_psf(None, 3.0))) if m.halo else 0
            side = tile or block_side(unit_shape, h, memory_budget)
            ny, nx = unit_shape[-2:]
            nb = (-(-ny // side)) * (-(-nx // side))
            lead = int(np.prod(unit_shape[:-2])) if len(unit_shape) > 2 else 1
            peak = (BYTES_PER_VOXEL * lead * min(side + 2 * h, ny) * min(side + 2 * h, nx)
                    + 12 * int(np.prod(unit_shape)))
            lines.append(f"{job.src} {tuple(data.shape)} {data.dtype} -> {job.dst}: "
                         f"{m.name}, {len(units)} image(s) of {tuple(unit_shape)}, "
                         f"{nb} block(s) of {min(side, max(ny, nx))}+2x{h} px; peak "
                         f"~{peak / 2**20:.0f} MiB")
        except Exception as err:  # noqa: BLE001 - a dry run reports, it does not stop
            lines.append(f"{job.src}: cannot be read ({err})")
    return lines


def _method_file_task(job, method, params, progress=None, **kw) -> dict:
    from .batch import failure_summary

    try:
        return process_method_file(job, method, params, progress=progress, **kw)
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
        raise_if_received()  # a stop signal a library turned into an error: stop
        return failure_summary(job, err)


def run_method_batch(jobs, method, params: dict, *, client=None, on_file=None,
                     progress=None, **kw):
    """Run jobs through ``method``; a failed file is reported and the others go on. With a
    dask.distributed ``client`` several files run as tasks on its workers, and one
    file's Y/X blocks do."""
    from .batch import run_tasks

    return run_tasks(jobs, _method_file_task, (method, params), kw, client=client,
                     on_file=on_file, progress=progress, pass_client=True)
