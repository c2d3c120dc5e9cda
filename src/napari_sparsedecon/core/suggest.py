"""A suggested starting point for the paper pipeline's parameters (its ``Method.suggest``).

From a region of interest, estimate the noise (robust MAD of a Laplacian
high-pass), the background (a low percentile of the smoothed ROI) and the
signal above it; their ratio, the SNR, with the PSF width in pixels picks
fidelity and sparsity from a calibration table.

The table comes from ``benchmarks/calibrate_suggest.py``: on the synthetic
phantom (rings, filaments, point pairs; 32 nm pixels) at five photon levels
and two PSF widths, a sweep of fidelity (10-1000, log), sparsity (0-3) and
deconvolution iterations (10-60) scored by RSNR against the truth blurred to
half the PSF width; each row is the best-RSNR setting. Between rows the
fidelity is interpolated in log(SNR) and log(PSF width) and clamped at the
table's ends. It is a starting point for a sweep, not an optimum for every
sample: the RSNR optimum is broad (within 0.5 dB over a factor 2-10 in
fidelity) and the table covers PSF widths of 3.4-6.3 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..ops.noise import estimate_noise_sigma

#: PSF FWHM (px) -> rows of (SNR, fidelity, sparsity, deconvolution iterations), from
#: benchmarks/calibrate_suggest.py (2026-11-21, phantom seed 2).
CALIBRATION = {
    3.44: ((10.3, 68.1, 3.0, 10), (24.7, 146.8, 3.0, 10), (64.4, 316.2, 3.0, 10),
           (192.6, 681.3, 3.0, 10), (542.8, 1000.0, 3.0, 10)),
    6.25: ((11.4, 31.6, 0.0, 30), (33.0, 31.6, 0.0, 30), (88.0, 21.5, 0.0, 30),
           (259.8, 21.5, 0.0, 30), (652.7, 21.5, 0.0, 30)),
}
#: Background (in noise sigmas) below which no background subtraction is suggested.
BACKGROUND_SIGMAS = 3.0


@dataclass(frozen=True)
class Suggestion:
    params: dict  # the validated parameters of method "sparse"
    noise_sigma: float
    background: float
    signal: float
    snr: float
    psf_fwhm_px: float
    reasons: tuple

    def message(self) -> str:
        p = self.params
        head = (f"suggested fidelity {p['fidelity']:.0f}, sparsity {p['sparsity']:.2g}, "
                f"{p['iterations']} sparse + {p['deconv_iterations']} deconvolution "
                f"iterations, background {p['background']}")
        return "\n".join((head,) + self.reasons)


def signal_and_noise(roi) -> tuple[float, float, float]:
    """(noise sigma, background, signal) of a ROI in its intensity units.

    Noise: robust MAD of a Laplacian high-pass (mostly the background's noise);
    background: 5th percentile of the ROI smoothed over 2 pixels; signal: its
    99.9th percentile minus the background.
    """
    a = np.asarray(roi, dtype=np.float64)
    if a.ndim == 3:
        a = a[a.shape[0] // 2]
    if a.ndim != 2 or min(a.shape) < 16:
        raise ValueError(f"suggesting parameters needs a 2-D ROI of at least 16 x 16 pixels, "
                         f"got shape {np.shape(roi)}; draw a larger rectangle")
    sigma = estimate_noise_sigma(a)
    smooth = ndimage.gaussian_filter(a, 2.0)
    bg = float(np.percentile(smooth, 5))
    signal = float(np.percentile(a, 99.9)) - bg
    return sigma, bg, signal


def _interp_row(rows, snr):
    s = np.log([r[0] for r in rows])
    fid = np.exp(np.interp(np.log(snr), s, np.log([r[1] for r in rows])))
    sp = float(np.interp(np.log(snr), s, [r[2] for r in rows]))
    dit = float(np.interp(np.log(snr), s, [r[3] for r in rows]))
    return float(fid), sp, dit


def suggest_parameters(roi, *, psf_fwhm_px, base: dict | None = None) -> Suggestion:
    """Fidelity, sparsity, iterations and background mode for ``roi``.

    ``psf_fwhm_px``: the PSF's lateral FWHM in the ROI's pixels (a measured or
    generated PSF: use :func:`napari_sparsedecon.psf.basic.measure_fwhm`).
    ``base``: parameters to keep (up-sampling, deconvolution method, PSF): a dict of
    the paper pipeline's parameters (or its frozen record); default its defaults with
    the PSF FWHM.
    """
    fw = float(np.max(psf_fwhm_px))
    if not np.isfinite(fw) or fw <= 0:
        raise ValueError(f"psf_fwhm_px must be positive, got {psf_fwhm_px!r}")
    sigma, bg, signal = signal_and_noise(roi)
    if signal <= 0 or sigma <= 0:
        raise ValueError("the ROI holds no signal above its background; move the rectangle "
                         "onto structure")
    snr = signal / sigma
    widths = sorted(CALIBRATION)
    per = [_interp_row(CALIBRATION[w], snr) for w in widths]
    t = float(np.clip((np.log(fw) - np.log(widths[0])) / (np.log(widths[1]) -
                                                           np.log(widths[0])), 0, 1))
    fidelity = float(np.exp((1 - t) * np.log(per[0][0]) + t * np.log(per[1][0])))
    sparsity = float((1 - t) * per[0][1] + t * per[1][1])
    deconv_iterations = int(round((1 - t) * per[0][2] + t * per[1][2]))
    background = "none" if bg < BACKGROUND_SIGMAS * sigma else "low/2"
    reasons = [
        f"noise sigma {sigma:.3g} (MAD of a high-pass), background {bg:.3g}, "
        f"signal {signal:.3g} above it: SNR {snr:.0f}",
        f"PSF FWHM {fw:.2f} px; fidelity and sparsity interpolated from the phantom "
        f"calibration (PSF 3.4-6.3 px, SNR {CALIBRATION[widths[0]][0][0]:.0f}-"
        f"{CALIBRATION[widths[0]][-1][0]:.0f})",
        ("background below 3 noise sigmas: no background subtraction" if background == "none"
         else "background above 3 noise sigmas: wavelet background 'low/2' (weak background; "
              "use 'high/*' where it is bright and structured)"),
        f"sparse iterations 100 (the split-Bregman step has settled to ~1e-4 per iteration "
        f"there); {deconv_iterations} deconvolution iterations (the calibration's best)",
    ]
    if fw < widths[0] * 0.9 or fw > widths[-1] * 1.1 or snr < 10:
        reasons.append("outside the calibrated range: treat it as a rough start and sweep "
                       "fidelity around it")
    from ..params import validate
    from .params import SCHEMA

    if base is None:
        base = {"psf_fwhm_px": fw}
    elif not isinstance(base, dict):
        base = base.to_dict()
    params = validate(SCHEMA, {**base, "fidelity": round(fidelity, 1),
                               "sparsity": round(sparsity, 2), "iterations": 100,
                               "deconv_iterations": deconv_iterations,
                               "background": background},
                      what="parameters of method 'sparse'")
    return Suggestion(params, sigma, bg, signal, snr, fw, tuple(reasons))
