"""Tools to judge whether a result can be trusted.

- :func:`residual_map`: y - (H x + b), the part of the data the result does
  not explain (structure in it means a wrong PSF, background or too strong
  a prior).
- :func:`frc`: Fourier ring correlation between two independent images of
  the same object (two frames, or a checkerboard split of one image) and the
  resolution where it drops below 1/7.
- :func:`hallucination_mask`: bright result where the input is only
  background at the noise level.
- :func:`convergence`: relative change of the last iterations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from ..base.validation import FLOAT
from ..ops.noise import estimate_noise_sigma  # noqa: F401 - part of this module's API

FRC_THRESHOLD = 1.0 / 7.0


def _bin2(a):
    ny, nx = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
    a = a[..., :ny, :nx]
    return a.reshape(a.shape[:-2] + (ny // 2, 2, nx // 2, 2)).mean(axis=(-3, -1))


def residual_map(image, result, psf, *, background=0.0, upsample: int = 1) -> np.ndarray:
    """y - (H x + b) in the input's units, on the input's grid.

    ``result`` is a quantitative result (input units); for x2 up-sampled
    results pass ``upsample=2`` and a PSF at the *fine* pixel size: the
    re-blurred result is binned 2 x 2 back to the input grid.
    """
    y = np.asarray(image, dtype=np.float64)
    x = np.asarray(result, dtype=np.float64)
    p = np.asarray(psf, dtype=np.float64)
    if p.ndim < x.ndim:
        p = p[(None,) * (x.ndim - p.ndim)]
    hx = fftconvolve(np.pad(x, [(s // 2, s // 2) for s in p.shape], mode="reflect"), p,
                     mode="valid")
    if upsample == 2:
        hx = _bin2(hx)
    if hx.shape != y.shape:
        raise ValueError(f"result {x.shape} does not match the image {y.shape} "
                         f"(up-sampled by {upsample})")
    return (y - hx - np.asarray(background, dtype=np.float64)).astype(FLOAT)


def checkerboard_split(image):
    """Two half-resolution images from one: pixels (even, even) and (odd, odd)."""
    a = np.asarray(image, dtype=np.float64)
    ny, nx = (a.shape[-2] // 2) * 2, (a.shape[-1] // 2) * 2
    return a[..., 0:ny:2, 0:nx:2], a[..., 1:ny:2, 1:nx:2]


@dataclass
class FRCResult:
    frequencies: np.ndarray  # cycles per pixel of the images compared
    curve: np.ndarray
    resolution_px: float  # in pixels of the images compared
    resolution_nm: float | None
    nyquist_limited: bool = False  # the curve never fell below 1/7: the limit is sampling


#: A crossing above this fraction of the Nyquist frequency counts as "at the sampling
#: limit": the curve has not fallen for lack of signal but for lack of frequencies.
FRC_LIMIT_FRACTION = 0.9


def frc(a, b, *, pixel_nm: float | None = None, n_rings: int | None = None,
        shift=None) -> FRCResult:
    """Fourier ring correlation of two 2-D images of the same object.

    The resolution is 1 / (the first frequency where the smoothed curve drops
    below 1/7). ``pixel_nm`` is the pixel size of ``a`` and ``b``. ``shift``
    (dy, dx), in pixels: ``b`` is sampled that far from ``a`` (a checkerboard
    split: half a pixel on each axis); the phase ramp it causes is removed
    before correlating, as it would otherwise lower the curve by
    ``cos(pi f (dy + dx))`` and make the resolution look worse.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("frc needs two 2-D images of the same shape")
    n = min(a.shape)
    a, b = a[:n, :n], b[:n, :n]
    w = np.outer(np.hanning(n), np.hanning(n))  # taper: no edge cross-talk
    fa = np.fft.fftshift(np.fft.fft2((a - a.mean()) * w))
    fb = np.fft.fftshift(np.fft.fft2((b - b.mean()) * w))
    yy, xx = np.indices((n, n)) - n // 2
    if shift is not None:
        dy, dx = (float(v) for v in shift)
        fb *= np.exp(-2j * np.pi * (dy * yy + dx * xx) / n)
    r = np.hypot(yy, xx)
    n_rings = n_rings or n // 2
    edges = np.linspace(0, n / 2, n_rings + 1)
    idx = np.digitize(r.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n_rings)
    num = np.bincount(idx[ok], (fa * np.conj(fb)).real.ravel()[ok], n_rings)
    da = np.bincount(idx[ok], (np.abs(fa) ** 2).ravel()[ok], n_rings)
    db = np.bincount(idx[ok], (np.abs(fb) ** 2).ravel()[ok], n_rings)
    curve = num / np.sqrt(np.maximum(da * db, 1e-300))
    freqs = 0.5 * (edges[1:] + edges[:-1]) / n
    smooth = ndimage.uniform_filter1d(curve, 3, mode="nearest")
    below = np.nonzero(smooth[1:] < FRC_THRESHOLD)[0]
    limited = below.size == 0 or freqs[below[0] + 1] >= FRC_LIMIT_FRACTION * 0.5
    res_px = 2.0 if limited else float(1.0 / freqs[below[0] + 1])
    res_nm = res_px * pixel_nm if pixel_nm else None
    return FRCResult(freqs, curve, res_px, res_nm, limited)


def frc_single(image, *, pixel_nm: float | None = None) -> FRCResult:
    """FRC resolution of one image from a checkerboard split (resolution in the
    original pixels: the split images have pixels sqrt(2) larger along the diagonal
    sampling; we report the split-grid value x 2, i.e. original pixels)."""
    a, b = checkerboard_split(image)
    out = frc(a, b, shift=(0.5, 0.5))
    res_px = out.resolution_px * 2.0
    return FRCResult(out.frequencies / 2.0, out.curve, res_px,
                     res_px * pixel_nm if pixel_nm else None, out.nyquist_limited)


def hallucination_mask(image, result, *, background=None, noise_sigma=None,
                       smooth_px: float = 2.0, input_k: float = 3.0,
                       result_fraction: float = 0.2) -> np.ndarray:
    """Pixels where the result is bright but the input is only background.

    Input 'background only': the smoothed input stands less than
    ``input_k`` noise standard deviations (of the smoothed image) above the
    local background (a 25-pixel median filter unless ``background`` is given).
    Result 'bright': above ``result_fraction`` of the result's 99.9th
    percentile. Both on the input grid (bin an up-sampled result first).
    """
    y = np.asarray(image, dtype=np.float64)
    x = np.asarray(result, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("hallucination_mask needs the result on the input grid")
    sigma = noise_sigma if noise_sigma is not None else estimate_noise_sigma(y)
    if background is None:
        bg = ndimage.median_filter(y, size=25, mode="reflect")
    else:
        bg = background
    ys = ndimage.gaussian_filter(y, smooth_px)
    sigma_s = sigma / (2 * np.sqrt(np.pi) * smooth_px)  # noise after the Gaussian smoothing
    quiet = (ys - bg) < input_k * sigma_s
    level = result_fraction * np.percentile(x, 99.9)
    return quiet & (x > level)


@dataclass
class Convergence:
    relative_change: float
    converged: bool
    message: str


def convergence(previous, current, *, tol: float = 1e-3) -> Convergence:
    """||x_k - x_{k-1}|| / ||x_k|| of the last iteration, against ``tol``."""
    a = np.asarray(previous, dtype=np.float64)
    b = np.asarray(current, dtype=np.float64)
    rel = float(np.linalg.norm(b - a) / max(np.linalg.norm(b), 1e-300))
    ok = rel <= tol
    msg = ("converged" if ok else
           f"stopped far from convergence: the last iteration still changed the result by "
           f"{100 * rel:.2g}% (tolerance {100 * tol:.2g}%); run more iterations")
    return Convergence(rel, ok, msg)


#: Per-iteration relative change above which a stage "stopped far from
#: convergence". The split-Bregman sparse step converges (phantom: 3e-3 per
#: iteration after 30 iterations, 1e-4..3e-4 after 100); Richardson-Lucy is
#: stopped early on purpose (its iteration count regularises; 6e-3..1e-2 per
#: iteration after 30), so only a deconvolution still changing by 5% per
#: iteration is flagged.
CONVERGENCE_TOL = {"sparse": 2e-3, "deconv": 5e-2}
#: Fraction of pixels flagged by :func:`hallucination_mask` above which a
#: result is reported as holding structure the input does not support.
HALLUCINATION_WARN = 1e-3


class ConvergenceTracker:
    """Keeps the last two estimates of each stage of a Progress stream.

    Call it with every Progress of a run made with ``return_estimate=True``;
    :meth:`results` then says, per stage, how far the last iteration moved.
    """

    def __init__(self):
        self._last: dict = {}

    def __call__(self, progress) -> None:
        est = getattr(progress, "estimate", None)
        if est is None:
            return
        prev = self._last.get(progress.stage, (None, None))[1]
        self._last[progress.stage] = (prev, est)

    def results(self, tol: dict | None = None) -> dict:
        tol = {**CONVERGENCE_TOL, **(tol or {})}
        out = {}
        for stage, (prev, cur) in self._last.items():
            if prev is not None and prev.shape == cur.shape:
                out[stage] = convergence(prev, cur, tol=tol.get(stage, 1e-3))
        return out


@dataclass
class TrustReport:
    """What :func:`assess` found; ``warnings`` are the lines to show a user."""

    residual: np.ndarray | None = None  # y - (H x + b), input grid and units
    residual_offset: float | None = None  # median of the residual
    residual_rms_over_noise: float | None = None  # about the offset; ~1 when only noise is left
    frc_input: FRCResult | None = None
    frc_result: FRCResult | None = None
    frc_method: str | None = None  # "two frames" or "checkerboard"
    hallucination: np.ndarray | None = None  # mask on the input grid
    hallucination_fraction: float | None = None
    convergence: dict | None = None
    noise_sigma: float | None = None  # of the input, what the residual is compared with
    advice: str = ""  # the method's knobs against bright-on-background pixels
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        lines = []
        if self.residual_rms_over_noise is not None:
            lines.append(f"residual: offset {self.residual_offset:.3g}, rms about it "
                         f"{self.residual_rms_over_noise:.2f} x the noise sigma")
        for name, r in (("input", self.frc_input), ("result", self.frc_result)):
            if r is not None:
                val = (f"{r.resolution_nm:.0f} nm" if r.resolution_nm is not None
                       else f"{r.resolution_px:.2f} px")
                if r.nyquist_limited:
                    lines.append(f"FRC of the {name}: at the sampling limit ({val}) of the "
                                 f"{self.frc_method} split: the curve never falls for lack "
                                 "of signal, so this cannot show a resolution gain (or "
                                 "loss); compare results by eye or on finer sampling")
                else:
                    lines.append(f"FRC resolution of the {name}: {val} [{self.frc_method}]")
        if self.hallucination_fraction is not None:
            lines.append(f"bright-on-background pixels: {100 * self.hallucination_fraction:.3f}%")
        for stage, c in (self.convergence or {}).items():
            lines.append(f"{stage}: last iteration changed the result by "
                         f"{100 * c.relative_change:.2g}%")
        return "\n".join(lines + self.notes + self.warnings)


def _half_psf(psf, fwhm_px):
    """PSF (or FWHM) on a checkerboard half-grid, whose pixels are twice as large."""
    if psf is None:
        return None, (None if fwhm_px is None else
                      (tuple(float(v) / 2 for v in fwhm_px) if np.ndim(fwhm_px)
                       else float(fwhm_px) / 2))
    p = np.asarray(psf, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError("a checkerboard FRC of the result needs a 2-D PSF")
    cy, cx = p.shape[0] // 2, p.shape[1] // 2
    q = p[cy % 2::2, cx % 2::2]
    if q.shape[0] % 2 == 0 or q.shape[1] % 2 == 0:
        q = q[: q.shape[0] - 1 + q.shape[0] % 2, : q.shape[1] - 1 + q.shape[1] % 2]
    return (q / q.sum()).astype(FLOAT), None


def assess(image, result, params, *, psf=None, pixel_nm: float | None = None,
           frame: int | None = None, residual: bool = True, frc_check: bool = True,
           hallucination: bool = True, tracker: ConvergenceTracker | None = None,
           backend="numpy", method: str | None = None) -> TrustReport:
    """Check a deconvolution result against its input.

    ``image``: what was deconvolved ((Y, X) or (T, Y, X), continuity along the
    first axis); ``result``: the output for it with ``params`` (the validated
    parameters of ``method``, any registered method) and ``psf``: its residual uses the
    method's own background estimate and forward model and its FRC runs the method on
    both halves (:func:`checks_model`).
    ``pixel_nm``: the input's pixel size, for FRC in nm. ``frame``: which
    frame of 3-D data the FRC looks at (default the middle one).
    ``tracker``: a :class:`ConvergenceTracker` fed during the run.

    The FRC of the result compares two *independent* deconvolutions: of two
    consecutive frames (3-D data) or of the two checkerboard halves of the
    input (2-D data; PSF width halved), so the prior cannot fake correlation.
    """
    y = np.asarray(image, dtype=FLOAT)
    x = np.asarray(result, dtype=FLOAT)
    model = checks_model(method, params, psf, y)
    up = model.upsample
    if x.shape[-2:] != (y.shape[-2] * up, y.shape[-1] * up) or x.ndim != y.ndim:
        raise ValueError(f"result {x.shape} does not match the input {y.shape} "
                         f"(up-sampling x{up})")
    sigma = estimate_noise_sigma(y if y.ndim == 2 else y[y.shape[0] // 2])
    rep = TrustReport(noise_sigma=sigma, advice=model.hallucination_advice)
    if residual:
        fwd, bg = model.forward(), model.background()
        x_units = x
        if not model.quantitative:  # max-1 results: fit the one lost intensity scale
            hx = residual_map(np.zeros_like(y), x, fwd, upsample=up)  # = -H x
            k = float(((y - bg) * -hx).sum() / max(float((hx.astype(np.float64) ** 2).sum()),
                                                    1e-30))
            x_units = x * FLOAT(k)
            rep.notes.append("max-1 result: residual after fitting its intensity scale")
        rep.residual = residual_map(y, x_units, fwd, background=bg, upsample=up)
        core = rep.residual[..., 8:-8, 8:-8] if min(y.shape[-2:]) > 32 else rep.residual
        core = core.astype(np.float64)
        rep.residual_offset = float(np.median(core))  # e.g. a background left unmodelled
        rep.residual_rms_over_noise = float(np.sqrt(np.mean((core - rep.residual_offset) ** 2))
                                            / max(sigma, 1e-12))
        rep.notes.extend(model.notes)
    if hallucination:
        xg = _bin2(x) if up == 2 else x
        frames = [(y, xg)] if y.ndim == 2 else list(zip(y, xg, strict=True))
        masks = [hallucination_mask(a, b, noise_sigma=estimate_noise_sigma(a))
                 for a, b in frames]
        rep.hallucination = masks[0] if y.ndim == 2 else np.stack(masks)
        rep.hallucination_fraction = float(rep.hallucination.mean())
        if rep.hallucination_fraction > HALLUCINATION_WARN:
            rep.warnings.append(
                f"warning: {100 * rep.hallucination_fraction:.2f}% of the result is bright "
                f"where the input holds only background at the noise level; "
                f"{model.hallucination_advice}, and check the hallucination layer")
    if frc_check:
        _frc(rep, y, model, psf, pixel_nm, frame, backend)
    if tracker is not None:
        rep.convergence = tracker.results()
        for stage, c in rep.convergence.items():
            if not c.converged:
                rep.warnings.append(f"warning ({stage} step): {c.message}")
    return rep


def checks_model(method, params, psf, y):
    """The method ``method`` as the checks see it: its own ``Method.checks`` (the paper
    pipeline's background modes, forward model and up-sampling), else a photon method's
    (:class:`_MethodModel`)."""
    from ..algorithms.registry import get_method

    if not isinstance(params, dict):  # a method's frozen parameter record names it
        method = method or getattr(params, "method", None)
        params = params.to_dict()
    if method is None:
        raise ValueError("the checks need method=<the method's name> with its parameters")
    m = get_method(method)
    if m.checks is not None:
        return m.checks(m.validate(params), psf, y)
    return _MethodModel(method, params, psf, y)


class _MethodModel:
    """Any registered method seen by the checks: its own background estimate (in the
    input's units), its PSF as the forward model, the method run on each half."""

    upsample, quantitative = 1, True
    hallucination_advice = "raise strength or sparsity"

    def __init__(self, method, params, psf, y):
        from ..algorithms.registry import get_method

        if psf is None:
            raise ValueError(f"the checks of method {method!r} need its PSF")
        self.m, self.params, self.psf, self.y = get_method(method), dict(params), psf, y
        self.notes = []
        if params.get("resolution"):
            self.notes.append(f"residual of the result shown at resolution "
                              f"{params['resolution']:g} (an extra blur): edges of "
                              f"structures leave some residual by design")

    def background(self):
        if self.params.get("keep_background") or self.m.prepare is None:
            return np.zeros_like(self.y)
        prep, _, _ = self.m.prepare(self.y, self.psf, self.params)
        c = prep.camera
        bg = (np.asarray(prep.background, dtype=np.float64) - c.read_noise ** 2) * c.gain
        return (bg + c.offset).astype(FLOAT) * np.ones_like(self.y)

    def forward_model(self):
        return np.asarray(self.psf, dtype=FLOAT)

    def forward(self):
        return self.forward_model()

    def fwhm(self):
        return None

    def run_half(self, a, psf, fwhm, backend):
        from ..core.sparse_hessian import run

        p = {**self.params}
        if "continuity" in p:
            p["continuity"] = 0.0
        return run(self.m.iterate(np.ascontiguousarray(a, dtype=FLOAT), psf,
                                  self.m.validate(p), backend=backend, device=None,
                                  return_estimate=False))


def _frc(rep, y, model, psf, pixel_nm, frame, backend):
    up = model.upsample
    fwhm = model.fwhm()
    psf2 = psf
    if y.ndim == 3:
        if psf is not None and np.ndim(psf) == 3:
            rep.notes.append("FRC: not computed for a 3-D PSF (z-stack); two planes of a "
                             "stack are not two images of one object")
            return
        if y.shape[0] < 2:
            y = y[0]
    if y.ndim == 3:
        i = y.shape[0] // 2 if frame is None else int(np.clip(frame, 0, y.shape[0] - 2))
        i = min(i, y.shape[0] - 2)
        a, b = y[i], y[i + 1]
        rep.frc_method = "two frames"
        rep.frc_input = frc(a, b, pixel_nm=pixel_nm)
        pix_res = pixel_nm / up if pixel_nm else None
        if np.ndim(fwhm) and len(fwhm) == 3:
            fwhm = tuple(fwhm[-2:])
    else:
        a, b = checkerboard_split(y)
        rep.frc_method = "checkerboard"
        rep.frc_input = frc_single(y, pixel_nm=pixel_nm)
        psf2, fwhm = _half_psf(psf, fwhm)
        pix_res = 2 * pixel_nm / up if pixel_nm else None
    ra = model.run_half(a, psf2, fwhm, backend)
    rb = model.run_half(b, psf2, fwhm, backend)
    out = frc(ra, rb, pixel_nm=pix_res,
              shift=(0.5 * up, 0.5 * up) if rep.frc_method == "checkerboard" else None)
    if rep.frc_method == "checkerboard":  # in the result's own pixels (half-grid px = 2)
        out = FRCResult(out.frequencies / 2.0, out.curve, out.resolution_px * 2.0,
                        out.resolution_nm, out.nyquist_limited)
    rep.frc_result = out
