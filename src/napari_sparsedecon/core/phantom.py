"""Synthetic phantoms with known truth (ALGORITHMS.md section 7).

Structures are drawn on a 4x finer grid, blurred there with the PSF and
binned to the camera grid, so sub-pixel separations are rendered honestly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..base.validation import FLOAT
from ..psf.basic import FWHM_PER_SIGMA, gaussian_psf

PAIR_SEPARATIONS_NM = (40, 60, 80, 100, 120, 150, 200)


@dataclass
class Phantom:
    """A phantom: truth, noise-free and noisy images, PSF and where things are.

    Positions are (y, x) in camera pixels.
    """

    truth: np.ndarray
    blurred: np.ndarray
    noisy: np.ndarray
    psf: np.ndarray
    pixel_nm: float
    psf_fwhm_nm: float
    background: np.ndarray
    pairs: list = field(default_factory=list)  # (sep_nm, (y1, x1), (y2, x2))
    gap: tuple = ()  # (y, x_start_gap, x_end_gap, x_filament_start, x_filament_end)
    rings: list = field(default_factory=list)  # ((y, x), radius_px)


def _splat(img, y, x, value, sub):
    """Add a point of ``value`` at camera coordinates (y, x) on the sub-sampled grid."""
    ys, xs = (y + 0.5) * sub - 0.5, (x + 0.5) * sub - 0.5
    y0, x0 = int(np.floor(ys)), int(np.floor(xs))
    fy, fx = ys - y0, xs - x0
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            img[y0 + dy, x0 + dx] += value * wy * wx


def make_phantom(shape=(192, 192), *, pixel_nm: float = 32.0, psf_fwhm_nm: float = 110.0,
                 photons: float = 400.0, background_photons: float = 20.0,
                 read_noise: float = 2.0, seed: int = 0, structures: bool = True) -> Phantom:
    """Build the 2-D test phantom.

    Parameters
    ----------
    shape : (int, int)
        Camera image size (>= 160 x 160 when ``structures``).
    pixel_nm, psf_fwhm_nm : float
        Pixel size and Gaussian PSF FWHM in nm (defaults 32 nm and 110 nm).
    photons : float
        Peak expected photon count of a single isolated point after blur.
    background_photons : float
        Mean of the smooth background (photons per pixel).
    read_noise : float
        Gaussian read-noise standard deviation (photo-electrons).
    seed : int
        Random seed of the noise and the puncta positions.
    structures : bool
        False gives a background-only image (for hallucination tests).
    """
    rng = np.random.default_rng(seed)
    sub = 4
    ny, nx = shape
    fine = np.zeros((ny * sub, nx * sub), dtype=np.float64)
    pairs, rings, gap = [], [], ()
    if structures:
        if ny < 160 or nx < 160:
            raise ValueError("a phantom with structures needs at least 160 x 160 pixels")
        # Point pairs along x, one row, separations in nm.
        for i, sep in enumerate(PAIR_SEPARATIONS_NM):
            cy, cx = 16.3, 14.2 + i * (nx - 28) / (len(PAIR_SEPARATIONS_NM) - 1)
            half = sep / pixel_nm / 2
            p1, p2 = (cy, cx - half), (cy, cx + half)
            for p in (p1, p2):
                _splat(fine, *p, 1.0, sub)
            pairs.append((sep, p1, p2))
        # A filament along x with a 200 nm gap in its middle.
        fy, x_a, x_b = 44.4, 12.0, nx - 12.0
        gap_px = 200.0 / pixel_nm
        gmid = (x_a + x_b) / 2
        gap = (fy, gmid - gap_px / 2, gmid + gap_px / 2, x_a, x_b)
        # Line density so that a line's blurred peak equals a point's.
        sigma = psf_fwhm_nm / pixel_nm / FWHM_PER_SIGMA
        lin = 1.0 / (np.sqrt(2 * np.pi) * sigma)
        step = 0.25
        for x in np.arange(x_a, x_b, step):
            if gap[1] <= x <= gap[2]:
                continue
            _splat(fine, fy, x, step * lin, sub)
        # A curved filament.
        ts = np.arange(0, 1, 0.001)
        cy, cx = 70 + 0.35 * ny * ts, 20 + 30 * np.sin(2 * np.pi * ts)
        ds = np.hypot(np.gradient(cy), np.gradient(cx))
        for y, x, d in zip(cy, cx, ds, strict=True):
            _splat(fine, y, x, d * lin, sub)
        # Rings of several radii.
        for j, r_nm in enumerate((120.0, 180.0, 250.0)):
            c = (80.0 + j * 30, nx * 0.45)
            r = r_nm / pixel_nm
            n = int(2 * np.pi * r / 0.25)
            for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
                _splat(fine, c[0] + r * np.sin(a), c[1] + r * np.cos(a), 0.25 * lin, sub)
            rings.append((c, r))
        # Puncta.
        for _ in range(25):
            y = rng.uniform(75, ny - 10)
            x = rng.uniform(nx * 0.62, nx - 10)
            _splat(fine, y, x, rng.uniform(0.6, 1.4), sub)
    # Blur on the fine grid, bin to camera pixels.
    fwhm_fine = psf_fwhm_nm / pixel_nm * sub
    psf_fine = gaussian_psf(None, fwhm_fine).astype(np.float64)
    from scipy.signal import fftconvolve

    blurred_fine = fftconvolve(fine, psf_fine, mode="same")
    truth = fine.reshape(ny, sub, nx, sub).sum(axis=(1, 3))
    blurred = blurred_fine.reshape(ny, sub, nx, sub).sum(axis=(1, 3))
    # Peak of one blurred isolated point -> photons.
    sigma_px = psf_fwhm_nm / pixel_nm / FWHM_PER_SIGMA
    point_peak = 1.0 / (2 * np.pi * sigma_px**2)
    gain = photons / point_peak
    truth *= gain
    blurred *= gain
    yy, xx = np.mgrid[:ny, :nx] / max(ny, nx)
    bg = background_photons * (0.6 + 0.8 * np.exp(-((yy - 0.7) ** 2 + (xx - 0.3) ** 2) / 0.3))
    expected = np.clip(blurred + bg, 0, None)
    noisy = rng.poisson(expected).astype(np.float64) + rng.normal(0, read_noise, shape)
    noisy = np.clip(noisy, 0, None)
    psf = gaussian_psf(None, psf_fwhm_nm / pixel_nm)
    return Phantom(truth=truth.astype(FLOAT), blurred=blurred.astype(FLOAT),
                   noisy=noisy.astype(FLOAT), psf=psf, pixel_nm=pixel_nm,
                   psf_fwhm_nm=psf_fwhm_nm, background=bg.astype(FLOAT), pairs=pairs,
                   gap=gap, rings=rings)


def pair_resolved(img, p1, p2, dip: float = 0.9) -> bool:
    """True when the profile through two points dips between them.

    The midpoint value must be below ``dip`` times the smaller of the two
    maxima found on either side of it (sampled along the line, within the
    pair's separation plus one pixel).
    """
    from scipy.ndimage import map_coordinates

    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    d = p2 - p1
    length = np.hypot(*d)
    u = d / length
    ts = np.linspace(-1.0, length + 1.0, 200)
    pts = p1[:, None] + u[:, None] * ts[None, :]
    prof = map_coordinates(np.asarray(img, float), pts, order=1)
    mid = map_coordinates(np.asarray(img, float), ((p1 + p2) / 2)[:, None], order=1)[0]
    left = prof[ts <= length / 2].max()
    right = prof[ts >= length / 2].max()
    return bool(mid < dip * min(left, right))
