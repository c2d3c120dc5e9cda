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

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from .validation import FLOAT

FRC_THRESHOLD = 1.0 / 7.0


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
        hx = hx.reshape(hx.shape[:-2] + (hx.shape[-2] // 2, 2, hx.shape[-1] // 2, 2))
        hx = hx.mean(axis=(-3, -1))
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


def frc(a, b, *, pixel_nm: float | None = None, n_rings: int | None = None) -> FRCResult:
    """Fourier ring correlation of two 2-D images of the same object.

    The resolution is 1 / (the first frequency where the smoothed curve drops
    below 1/7). ``pixel_nm`` is the pixel size of ``a`` and ``b``.
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
    limited = below.size == 0
    res_px = 2.0 if limited else float(1.0 / freqs[below[0] + 1])
    res_nm = res_px * pixel_nm if pixel_nm else None
    return FRCResult(freqs, curve, res_px, res_nm, limited)


def frc_single(image, *, pixel_nm: float | None = None) -> FRCResult:
    """FRC resolution of one image from a checkerboard split (resolution in the
    original pixels: the split images have pixels sqrt(2) larger along the diagonal
    sampling; we report the split-grid value x 2, i.e. original pixels)."""
    a, b = checkerboard_split(image)
    out = frc(a, b)
    res_px = out.resolution_px * 2.0
    return FRCResult(out.frequencies / 2.0, out.curve, res_px,
                     res_px * pixel_nm if pixel_nm else None, out.nyquist_limited)


def estimate_noise_sigma(image) -> float:
    """Robust noise standard deviation from the MAD of a high-pass (Laplacian) image."""
    a = np.asarray(image, dtype=np.float64)
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    hp = ndimage.convolve(a if a.ndim == 2 else a.reshape(-1, a.shape[-1]), k, mode="reflect")
    mad = np.median(np.abs(hp - np.median(hp)))
    return float(1.4826 * mad / np.sqrt((k**2).sum()))


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
