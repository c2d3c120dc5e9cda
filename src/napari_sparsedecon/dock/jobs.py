"""The dock's jobs, built from a :class:`~.model.DeconvModel` on the GUI thread and run in a
worker: ``job.build(data)`` is a generator of Progress records that returns the result.

- :func:`run_job`: the whole layer (every method; trust checks after it),
- :func:`preview_job`: the ROI with the method's halo, on a stack the planes the PSF
  needs around the viewer's plane, with the whole image's estimates (made once per
  image and cached by the model),
- :func:`sweep_job`: one or two schema parameters on the same window,
- :func:`suggest_job`: the method's own estimate of its parameters, where it has one.

Tiled runs (layers larger than the memory budget): :mod:`.tiled`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..params import jsonable
from ..progress import Progress
from .checks import run_checked
from .psf_source import ResolvedPSF


@dataclass
class Job:
    """One job of the dock: what it runs (``build(data)`` in the worker), its stage
    weights (``plan``), the result's up-sampling, and its metadata record."""

    kind: str
    method: str
    params: dict
    psf: ResolvedPSF
    build: Callable
    plan: dict | None = None
    upsample: int = 1
    info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    make_record: Callable | None = None

    def record(self, **more) -> dict:
        """The result's metadata record, with what the run estimated (``info``)."""
        est = {k: v for k, v in self.info.items() if k not in ("method", "params")}
        return self.make_record(estimates=jsonable(est) or None, **self.extra, **more)


def _backend(model):
    from ..backends import get_backend

    return get_backend(model.backend)


def _snapshot(model):
    img = model.image
    if img is None:
        raise ValueError("choose an image layer first")
    if len(img.shape) > 4:
        raise ValueError(f"'{img.name}' is {len(img.shape)}-D; the dock takes (Y, X), "
                         f"(T or Z, Y, X) or (T, Z, Y, X) layers (split the channels first)")
    psf = model.resolved_psf(img)
    return img, psf, model.job_params(psf, img)


def _record_fn(model, params, psf, be):
    def make(**kw):
        return model.record(params, psf, backend=be.name, device=be.device_name, **kw)

    return make


def run_job(model, *, with_checks: bool = True, frame: int | None = None) -> Job:
    """The whole-layer run of the model's method, with the chosen trust checks after it
    (not on (T, Z, Y, X) layers); ``frame``: the plane the FRC of a stack looks at."""
    from ..analysis.trust import ConvergenceTracker
    from ..api import iter_deconvolve

    if model.views:
        return views_job(model)
    m = model.method
    img, psf, params = _snapshot(model)
    be = _backend(model)
    checks = dict(model.checks)
    four = img.ndim == 4
    checked = with_checks and any(checks.values()) and not four
    extra: dict = {}
    if four and with_checks and any(checks.values()):
        extra["trust_checks"] = "not run on (T, Z, Y, X) layers"
    n = int(params.get("iterations", 1))
    if m.psf_in_schema:
        deconv = params["deconv_iterations"] if params["deconv_method"] != "none" else 0
        plan = {"prepare": max(1, (n + deconv) // 50), "sparse": n, "deconv": deconv}
        work = n + deconv
    else:
        plan, work = {"deconv": n}, n
    if checked:  # the FRC of the result runs the method twice more
        plan["trust checks"] = 2 * work if checks["frc"] else max(1, work // 10)
    if four:
        plan = None  # stage weights restart per time point: the run's own fraction
    info: dict = {}
    arr = psf.array if m.psf_in_schema else psf.as_array()
    conv = checks["convergence"] and checked
    threads = int(model.threads) or None

    def build(data):
        data = np.asarray(data)
        gen = iter_deconvolve(data, m.name, psf=arr, backend=be, return_estimate=conv,
                              info=info, threads=threads, **params)
        if not checked:
            return gen
        tracker = ConvergenceTracker() if conv else None
        return run_checked(gen, data, params, arr, checks, pixel_size_nm=img.pixel_nm,
                           frame=frame, backend=be, tracker=tracker, method=m.name)

    return Job("run", m.name, params, psf, build, plan, int(params.get("upsample", 1)),
               info, extra, _record_fn(model, params, psf, be))


def views_job(model) -> Job:
    """The whole-layer run of the method's multi-view form: the image (view 1, with the
    PSF source's PSF) and ``model.views`` (each with its PSF layer), one data term summed
    over the views (:func:`napari_sparsedecon.deconvolve` with a list of views). NumPy;
    no trust checks (they compare one input with the result)."""
    from ..algorithms.record import psf_record
    from ..api import iter_deconvolve

    m = model.method
    img, psf, params = _snapshot(model)
    model.check_views(img)
    views = list(model.views)
    psfs = [psf.as_array()] + [np.asarray(v.psf, dtype=np.float32) for v in views]
    n = int(params.get("iterations", 1))
    info: dict = {}
    names = [img.name] + [v.name for v in views]
    records = [dict(psf.record, text=psf.text)] + [
        psf_record(p, model="layer", name=v.psf_name, image_ndim=len(img.shape))
        for v, p in zip(views, psfs[1:], strict=True)]
    extra = {"views": names}
    if any(model.checks.values()):
        extra["trust_checks"] = "not run on a multi-view result"
    threads = int(model.threads) or None

    def build(data):
        stack = [np.asarray(data, dtype=np.float32)] + [
            np.asarray(v.data, dtype=np.float32) for v in views]  # read in the worker
        return iter_deconvolve(stack, m.name, psf=psfs, backend="numpy", info=info,
                               threads=threads, **params)

    def make(**kw):  # the model's record, with every view's PSF
        return {**model.record(params, psf, backend="numpy", device=None, **kw),
                "psf": jsonable(records)}

    return Job("run", m.name, params, psf, build, {"deconv": n}, 1, info, extra, make)


def _box(box):
    y0, y1, x0, x1 = box
    return (y0, y1), (x0, x1)


def _read(data, index) -> np.ndarray:
    """``data[index]`` (NumPy, dask or zarr) as float32 NumPy: every read of a job (in
    its worker)."""
    return np.ascontiguousarray(np.asarray(data[index]), dtype=np.float32)


class _Image:
    """The image a job works on (the layer, or a time point of a (T, Z, Y, X) layer),
    read lazily: a window reads only itself, and the whole image is read (once) only
    where the method's whole-image estimates are not cached yet."""

    def __init__(self, data, img, time):
        self.data = data
        self.lead = (int(time or 0),) if img.ndim == 4 else ()
        self.shape = tuple(img.shape[len(self.lead):])
        self._whole = None

    def block(self, sl) -> np.ndarray:
        return _read(self.data, self.lead + tuple(sl))

    def whole(self) -> np.ndarray:
        if self._whole is None:
            self._whole = _read(self.data, self.lead + (Ellipsis,))
        return self._whole


def _window(model, m, arr, params, shape, box, plane):
    from ..analysis.preview import preview_window

    halo = int(m.halo(params, arr)) if m.halo is not None and arr is not None else 0
    return preview_window(shape, _box(box), psf_shape=None if arr is None else np.shape(arr),
                          plane=plane, halo=halo)


def _keep(w, up: int, plane):
    """Slices of a solved window's result that are the ROI (at the plane shown)."""
    ky, kx = w.keep[-2], w.keep[-1]
    sl = (slice(ky.start * up, ky.stop * up), slice(kx.start * up, kx.stop * up))
    if w.planes is None:
        return sl
    a, b = w.planes
    z = min(max(int(plane if plane is not None else (a + b) // 2), a), b - 1)
    return (z - a,) + sl


def _block_kw(model, m, im, arr, params, w, token):
    kw = {}
    if m.prepare is not None:
        prep = model.prep_for(im.whole, arr, params, token=token)
        kw["prep"] = prep.block(w.solve)
    return kw


def _roi_setup(model):
    """What a preview or sweep of the ROI takes from the model: (image, PSF, parameters,
    backend, PSF array, up-sampling factor)."""
    img, psf, params = _snapshot(model)
    arr = psf.array if model.method.psf_in_schema else psf.as_array()
    return img, psf, params, _backend(model), arr, int(params.get("upsample", 1))


def _roi_block(model, m, data, img, time, arr, params, box, plane, info):
    """(image view, preview window, the block it solves) of one preview or sweep run;
    ``info['window']`` says which planes and pixels."""
    im = _Image(data, img, time)
    w = _window(model, m, arr, params, im.shape, box, plane)
    info["window"] = w.describe()
    return im, w, im.block(w.solve)


def preview_job(model, box, *, plane=None, time=None, token=None) -> Job:
    """The live preview of the ROI ``box`` = (y0, y1, x0, x1) in layer pixels: the method
    on the ROI plus its halo (on a stack: the planes the PSF needs around ``plane``),
    with the whole image's estimates (cached by the model under ``token``); the result
    is the ROI at the plane shown. ``time``: the time point of a (T, Z, Y, X) layer."""
    m = model.method
    img, psf, params, be, arr, up = _roi_setup(model)
    info: dict = {}

    def build(data):
        im, w, block = _roi_block(model, m, data, img, time, arr, params, box, plane, info)
        kw = _block_kw(model, m, im, arr, params, w, (token, time))
        if m.prepare is not None:
            kw["info"] = None
        res = yield from m.iterate(block, arr, params, backend=be, device=None,
                                   return_estimate=False, **kw)
        return np.ascontiguousarray(np.asarray(res)[_keep(w, up, plane)])

    return Job("preview", m.name, params, psf, build, None, up, info, {},
               _record_fn(model, params, psf, be))


def sweepable(model) -> tuple[str, ...]:
    """The parameters of the model's method a sweep can vary (from its schema)."""
    from ..analysis.sweep import sweepable as names

    return names(model.method_name)


def sweep_job(model, box, grid: dict, *, plane=None, time=None, token=None) -> Job:
    """Every combination of ``grid`` (one or two of :func:`sweepable`) on the preview
    window of ``box``; each tile is the ROI at the plane shown. Yields a Progress per
    tile (``.tile``); returns the tiles."""
    from ..analysis.sweep import combinations, iter_sweep
    from ..core.sparse_hessian import relay

    m = model.method
    img, psf, params, be, arr, up = _roi_setup(model)
    list(combinations(grid, m.name))  # unknown names and empty values raise here
    info: dict = {}

    def build(data):
        im, w, block = _roi_block(model, m, data, img, time, arr, params, box, plane, info)
        keep = _keep(w, up, plane)
        kw = _block_kw(model, m, im, arr, params, w, (token, time))
        gen = iter_sweep(block, params, grid, psf=arr, backend=be, method=m.name, **kw)

        done = set()

        def crop(t):
            if id(t) not in done:
                done.add(id(t))
                t.image = np.ascontiguousarray(t.image[keep])
            return t

        tiles = yield from relay(gen, lambda pr: (crop(pr.tile), pr)[1] if pr.tile is not None
                                 else pr)
        return [crop(t) for t in tiles]

    n = int(np.prod([len(v) for v in grid.values()]))
    return Job("sweep", m.name, params, psf, build, {"sweep": n}, up, info,
               {"sweep": jsonable(grid)}, _record_fn(model, params, psf, be))


def can_suggest(model) -> bool:
    """Whether the method can estimate its parameters: its own ``Method.suggest`` (the
    paper pipeline: fidelity, sparsity, iterations, background from the ROI's noise), or
    a camera model fitted over the whole image (the photon methods)."""
    m = model.method
    return m.suggest is not None or (m.prepare is not None and
                                     {"gain", "read_noise"} <= set(model.values))


def _per_image_rule(params: dict) -> dict:
    """The parameter values that make a method choose per image (as its defaults do):
    the output resolution (``None``: auto) and rl's data-splitting stop."""
    rule = {}
    if "resolution" in params:
        rule["resolution"] = None
    if "stop" in params:
        rule["stop"] = "split"
    return rule


def suggest_job(model, box, *, plane=None, time=None, token=None) -> Job:
    """The method's estimate of its parameters, as ``(values, message)``."""
    m = model.method
    img, psf, params = _snapshot(model)
    if not can_suggest(model):
        raise ValueError(f"method {m.name!r} has no estimate of its parameters")
    be = _backend(model)
    fw = psf.lateral_fwhm_px()  # a 3-D PSF: its in-focus plane's width

    def build(data):
        im = _Image(data, img, time)
        if m.suggest is not None:  # the method's own estimate from the ROI
            y0, y1, x0, x1 = box
            sl = (slice(y0, y1), slice(x0, x1))
            if len(im.shape) == 3:  # the plane shown
                sl = (int(np.clip(plane or 0, 0, im.shape[0] - 1)),) + sl
            crop = im.block(sl)
            yield Progress("suggest", 0, 1)
            return m.suggest(crop, fw, params)
        yield Progress("suggest", 0, 1)
        rule = _per_image_rule(params)  # the default run's choices, whatever is set now
        prep = model.prep_for(im.whole, psf.as_array(), {**params, **rule},
                              token=(token, time))
        cam = prep.camera
        vals = {"offset": float(cam.offset), "gain": float(cam.gain),
                "read_noise": float(cam.read_noise)}
        short = (f"camera: gain {cam.gain:.3g} ADU/e-, read noise {cam.read_noise:.3g} e-, "
                 f"offset {cam.offset:.3g}")
        chosen = []
        if "resolution_auto" in prep.levels:
            vals["resolution"] = float(prep.levels["resolution_auto"])
            chosen.append(f"output resolution {vals['resolution']:g} x the PSF")
        if "split_iterations" in prep.levels:
            vals.update(iterations=int(prep.levels["split_iterations"]), stop="none")
            chosen.append(f"{vals['iterations']} iterations")
        if chosen:
            short = ", ".join(chosen) + "; " + short
        return vals, short, (short + " (fitted over the whole image; the weights scale "
                             "with its photon levels" +
                             ("; " + " and ".join(chosen) + " chosen by data splitting: the "
                              "photons split into two independent halves, each candidate "
                              "scored on how well it predicts the half it did not see"
                              if chosen else "") + ")")

    return Job("suggest", m.name, params, psf, build, None, 1, {}, {},
               _record_fn(model, params, psf, be))
