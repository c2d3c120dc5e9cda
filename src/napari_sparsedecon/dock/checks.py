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


def run_checked(gen, data, params: dict, psf, checks, *, pixel_size_nm, frame, backend,
                tracker, method):
    """Pass the run's progress on, then check its result
    (:func:`napari_sparsedecon.analysis.trust.assess`): ``params`` the validated
    parameters of ``method`` (any registered method)."""
    from ..analysis.trust import assess
    from ..core.sparse_hessian import relay

    result = yield from relay(gen, _observe(tracker))
    yield Progress("trust checks", 0, 1)
    y, x = np.asarray(data, dtype=np.float32), result
    ax = int(params.get("axis", 0)) if y.ndim == 3 else 0
    if ax:  # assess() works with the continuity axis first
        y, x = np.moveaxis(y, ax, 0), np.moveaxis(x, ax, 0)
    rep = assess(y, x, {**params, "axis": 0} if "axis" in params else params, psf=psf,
                 pixel_nm=pixel_size_nm, frame=frame, residual=checks["residual"],
                 frc_check=checks["frc"], hallucination=checks["hallucination"],
                 tracker=tracker, backend=backend, method=method)
    if ax:
        if rep.residual is not None:
            rep.residual = np.moveaxis(rep.residual, 0, ax)
        if rep.hallucination is not None:
            rep.hallucination = np.moveaxis(rep.hallucination, 0, ax)
    yield Progress("trust checks", 1, 1)
    return Checked(result, rep)


# -- the checks in words ---------------------------------------------------------------
#: A residual whose spread about its offset is above this many noise sigmas holds
#: structure the result does not explain: about 1 when only noise is left, 1.1-1.3 for
#: Richardson-Lucy and 2.8-2.9 for the sparse methods at their defaults with the right
#: PSF (their priors remove some signal on purpose), 4-6 with a PSF 1.5x too wide
#: (phantom, 192x192, 400 photons).
RESIDUAL_STRUCTURE = 3.0
#: A residual spread up to this many noise sigmas is "at the noise level".
RESIDUAL_NOISE = 1.5
#: A residual offset above this many noise sigmas is a background left unmodelled.
RESIDUAL_OFFSET = 2.0
#: The result's FRC resolution this much worse than the input's is a loss of detail.
FRC_LOSS = 1.1


def problems(report) -> list[str]:
    """What the trust checks (:class:`~napari_sparsedecon.analysis.trust.TrustReport`)
    found wrong, worst first, each as one sentence: what is wrong and what to change.
    Empty when nothing is."""
    from ..analysis.trust import HALLUCINATION_WARN

    out = []
    r = report
    frac = r.hallucination_fraction
    if frac is not None and frac > HALLUCINATION_WARN:
        advice = r.advice or "regularise more"
        out.append(f"{100 * frac:.2g}% of the result is bright where the input shows only "
                   f"background: {advice} (see the hallucination layer).")
    rms, sigma = r.residual_rms_over_noise, r.noise_sigma
    if rms is not None and rms > RESIDUAL_STRUCTURE:
        out.append(f"The result leaves {rms:.1f} x the noise unexplained: check the PSF "
                   f"width if the residual layer shows the structures' shapes, or weaken "
                   f"the prior if it shows only their rims.")
    if (r.residual_offset is not None and sigma
            and abs(r.residual_offset) > RESIDUAL_OFFSET * sigma):
        out.append(f"A background of about {r.residual_offset:.3g} (input units, "
                   f"{abs(r.residual_offset) / sigma:.0f} x the noise) is left unmodelled: "
                   f"set the background (or the camera offset).")
    for stage, c in (r.convergence or {}).items():
        if not c.converged:
            out.append(f"The {stage} step stopped far from convergence (the last iteration "
                       f"changed the result by {100 * c.relative_change:.2g}%): run more "
                       f"iterations.")
    a, b = r.frc_input, r.frc_result
    if (a is not None and b is not None and not a.nyquist_limited
            and not b.nyquist_limited and b.resolution_px > FRC_LOSS * a.resolution_px):
        out.append(f"The result is less sharp than the input by FRC ({_frc_text(b)} against "
                   f"{_frc_text(a)}): the prior smooths detail away; weaken it.")
    return out


def _frc_text(f) -> str:
    return f"{f.resolution_nm:.0f} nm" if f.resolution_nm is not None else \
        f"{f.resolution_px:.2f} px"


def verdict(report) -> str:
    """The trust checks in 1-3 sentences: what is wrong and what to change (the worst
    two and how many more), or what was checked and found fine. The numbers behind it
    are ``report.summary()``."""
    found = problems(report)
    if found:
        text = found[:2]
        if len(found) > 2:
            text.append(f"{len(found) - 2} more in the details." if len(found) > 3
                        else found[2])
        return " ".join(text)
    fine = []
    rms = report.residual_rms_over_noise
    if rms is not None:
        fine.append("the residual is at the noise level" if rms <= RESIDUAL_NOISE else
                    f"the residual is what a prior leaves ({rms:.1f} x the noise)")
    if report.hallucination_fraction is not None:
        fine.append("nothing bright on background")
    if report.convergence:
        fine.append("converged")
    a, b = report.frc_input, report.frc_result
    if a is not None and b is not None:
        if a.nyquist_limited or b.nyquist_limited:
            fine.append("FRC at the sampling limit (no resolution figure)")
        else:
            fine.append(f"FRC {_frc_text(b)} (input {_frc_text(a)})")
    if not fine:
        return "No trust check was run."
    return "No problem found: " + ", ".join(fine) + "."
