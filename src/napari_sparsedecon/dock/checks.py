"""Trust checks after a run (:func:`napari_sparsedecon.analysis.trust.assess`, for every
method), and the finished run as the dock shows it (contrast limits and the checks'
layers computed in the worker)."""

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


def run_checked(gen, data, params, psf, checks, *, pixel_size_nm, frame, backend, tracker,
                method=None):
    """Pass the run's progress on, then check its result
    (:func:`napari_sparsedecon.analysis.trust.assess`): ``params`` the paper pipeline's
    :class:`~napari_sparsedecon.core.params.SparseParams`, or the validated parameters
    of ``method`` (any registered method)."""
    from ..analysis.trust import assess
    from ..core.sparse_hessian import relay

    result = yield from relay(gen, _observe(tracker))
    yield Progress("trust checks", 0, 1)
    y, x = np.asarray(data, dtype=np.float32), result
    sparse = hasattr(params, "upsample")
    ax = params.axis if sparse and y.ndim == 3 else 0
    if ax:  # assess() works with the continuity axis first
        y, x = np.moveaxis(y, ax, 0), np.moveaxis(x, ax, 0)
    rep = assess(y, x, params.replace(axis=0) if sparse else params, psf=psf,
                 pixel_nm=pixel_size_nm, frame=frame, residual=checks["residual"],
                 frc_check=checks["frc"], hallucination=checks["hallucination"],
                 tracker=tracker, backend=backend, method=None if sparse else method)
    if ax:
        if rep.residual is not None:
            rep.residual = np.moveaxis(rep.residual, 0, ax)
        if rep.hallucination is not None:
            rep.hallucination = np.moveaxis(rep.hallucination, 0, ax)
    yield Progress("trust checks", 1, 1)
    return Checked(result, rep)
