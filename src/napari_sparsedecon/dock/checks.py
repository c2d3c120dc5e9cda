"""Trust checks after a run, for every method, and the finished-run record the dock shows.

The paper pipeline: :func:`napari_sparsedecon.analysis.trust.assess` (its forward model,
background modes, up-sampling and two-run FRC). Any other method: the same checks from
the method's own pieces: the residual ``y - (H x + b)`` with the PSF and the background
the method estimated once over the image (``Method.prepare``), the hallucination guard,
the FRC of two independent runs (two frames of a time-lapse, else the checkerboard
halves with the PSF on the half grid) and the convergence of the last iterations.
"""

from __future__ import annotations

import numpy as np

from ..progress import Progress


class Checked:
    """A result with the trust report computed after it (returned by the worker)."""

    def __init__(self, result, report):
        self.result, self.report = result, report


class Done:
    """A finished run, with what showing it needs computed in the worker (contrast
    limits, the residual's colour range, the hallucination labels), so that showing it
    costs the event loop no array work."""

    def __init__(self, out):
        self.report = None
        if isinstance(out, Checked):
            out, self.report = out.result, out.report
        self.result = out
        lo = float(np.min(out)) if out.size else 0.0
        self.limits = (lo, float(max(np.max(out), lo + 1e-6))) if out.size else (0.0, 1.0)
        self.residual_lim = self.hallucination = None
        rep = self.report
        if rep is not None and rep.residual is not None:
            self.residual_lim = float(np.percentile(np.abs(rep.residual), 99.9)) or 1.0
        if rep is not None and rep.hallucination is not None and rep.hallucination.any():
            self.hallucination = rep.hallucination.astype(np.uint8)


def finish(gen):
    """Pass ``gen``'s progress on and wrap its result in a :class:`Done`."""
    out = yield from gen
    return Done(out)


def _observe(tracker):
    def observe(pr):
        if tracker is not None:
            tracker(pr)
        return pr._replace(estimate=None)  # estimates stay in the worker

    return observe


def run_checked(gen, data, params, psf, checks, *, pixel_size_nm, frame, backend, tracker):
    """The paper pipeline: pass the run's progress on, then check its result
    (:func:`napari_sparsedecon.analysis.trust.assess`)."""
    from ..analysis.trust import assess
    from ..core.sparse_hessian import relay

    result = yield from relay(gen, _observe(tracker))
    yield Progress("trust checks", 0, 1)
    y, x = np.asarray(data), result
    ax = params.axis if y.ndim == 3 else 0
    if ax:  # assess() works with the continuity axis first
        y, x = np.moveaxis(y, ax, 0), np.moveaxis(x, ax, 0)
    rep = assess(y, x, params.replace(axis=0), psf=psf, pixel_nm=pixel_size_nm, frame=frame,
                 residual=checks["residual"], frc_check=checks["frc"],
                 hallucination=checks["hallucination"], tracker=tracker, backend=backend)
    if ax:
        if rep.residual is not None:
            rep.residual = np.moveaxis(rep.residual, 0, ax)
        if rep.hallucination is not None:
            rep.hallucination = np.moveaxis(rep.hallucination, 0, ax)
    yield Progress("trust checks", 1, 1)
    return Checked(result, rep)


def run_method_checked(gen, data, method, params, psf, checks, *, prep, pixel_size_nm,
                       frame, backend, tracker, axes):
    """Any registered method: pass the run's progress on, then check its result."""
    from ..core.sparse_hessian import relay

    result = yield from relay(gen, _observe(tracker))
    yield Progress("trust checks", 0, 1)
    rep = assess_method(np.asarray(data, dtype=np.float32), result, method, params, psf,
                        checks, prep=prep, pixel_nm=pixel_size_nm, frame=frame,
                        backend=backend, tracker=tracker, axes=axes)
    yield Progress("trust checks", 1, 1)
    return Checked(result, rep)


def _background_units(prep, params) -> object:
    """The constant the data hold besides ``H x``: the camera offset and, unless the
    result keeps it, the estimated background, in input units."""
    if prep is None:
        return 0.0
    cam = prep.camera
    off = float(cam.offset)
    if params.get("keep_background"):
        return off
    bg = np.asarray(prep.background, dtype=np.float32) - np.float32(cam.read_noise ** 2)
    return off + np.float32(cam.gain) * bg


def assess_method(y, x, method, params, psf, checks, *, prep=None, pixel_nm=None, frame=None,
                  backend="numpy", tracker=None, axes="YX"):
    """The trust report of a result ``x`` of ``method`` (a registry entry) on ``y``."""
    from ..analysis.trust import (
        HALLUCINATION_WARN,
        TrustReport,
        estimate_noise_sigma,
        hallucination_mask,
        residual_map,
    )

    rep = TrustReport()
    mid = y if y.ndim == 2 else y[y.shape[0] // 2]
    sigma = estimate_noise_sigma(mid)
    if checks.get("residual"):
        rep.residual = residual_map(y, x, psf, background=_background_units(prep, params))
        core = rep.residual[..., 8:-8, 8:-8] if min(y.shape[-2:]) > 32 else rep.residual
        core = core.astype(np.float64)
        rep.residual_offset = float(np.median(core))
        rep.residual_rms_over_noise = float(np.sqrt(np.mean((core - rep.residual_offset) ** 2))
                                            / max(sigma, 1e-12))
        if params.get("resolution"):
            rep.notes.append("residual of the shown result (blurred to the output "
                             "resolution), so its rms includes that blur")
    if checks.get("hallucination"):
        frames = [(y, x)] if y.ndim == 2 else list(zip(y, x, strict=True))
        masks = [hallucination_mask(a, b, noise_sigma=estimate_noise_sigma(a))
                 for a, b in frames]
        rep.hallucination = masks[0] if y.ndim == 2 else np.stack(masks)
        rep.hallucination_fraction = float(rep.hallucination.mean())
        if rep.hallucination_fraction > HALLUCINATION_WARN:
            rep.warnings.append(
                f"warning: {100 * rep.hallucination_fraction:.2f}% of the result is bright "
                f"where the input holds only background at the noise level; lower the "
                f"prior's strength or sparsity, and check the hallucination layer")
    if checks.get("frc"):
        _frc(rep, y, method, params, psf, pixel_nm, frame, backend, axes)
    if tracker is not None:
        rep.convergence = tracker.results()
        for stage, c in rep.convergence.items():
            if not c.converged:
                rep.warnings.append(f"warning ({stage} step): {c.message}")
    return rep


def _frc(rep, y, method, params, psf, pixel_nm, frame, backend, axes):
    from ..analysis.trust import _half_psf, checkerboard_split, frc, frc_single
    from ..core.sparse_hessian import run

    def solve(img, p):
        img = np.ascontiguousarray(img, dtype=np.float32)
        return run(method.iterate(img, p, params, backend=backend, device=None,
                                  return_estimate=False))

    if y.ndim == 3 and "T" not in axes:
        rep.notes.append("FRC: not computed for a z-stack (two planes are not two images "
                         "of one object)")
        return
    if np.ndim(psf) == 3:
        rep.notes.append("FRC: not computed for a 3-D PSF")
        return
    if y.ndim == 3:
        i = y.shape[0] // 2 if frame is None else int(np.clip(frame, 0, y.shape[0] - 2))
        a, b = y[i], y[min(i + 1, y.shape[0] - 1)]
        rep.frc_method = "two frames"
        rep.frc_input = frc(a, b, pixel_nm=pixel_nm)
        rep.frc_result = frc(solve(a, psf), solve(b, psf), pixel_nm=pixel_nm)
        return
    a, b = checkerboard_split(y)
    rep.frc_method = "checkerboard"
    rep.frc_input = frc_single(y, pixel_nm=pixel_nm)
    half, _ = _half_psf(psf, None)
    out = frc(solve(a, half), solve(b, half), pixel_nm=2 * pixel_nm if pixel_nm else None,
              shift=(0.5, 0.5))
    from ..analysis.trust import FRCResult

    rep.frc_result = FRCResult(out.frequencies / 2.0, out.curve, out.resolution_px * 2.0,
                               out.resolution_nm, out.nyquist_limited)
