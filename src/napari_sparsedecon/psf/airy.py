"""In-focus Airy PSF from an (effective) NA, the emission wavelength and the pixel size.

    I(r) = (2 J1(v) / v)^2,   v = 2 pi NA r / wavelength

(the scalar Born-Wolf PSF at z = 0). It is what the published sparse-deconvolution
settings use, with the *effective* NA of the microscope (SIM, SD-SIM,
Airyscan: NA times the resolution gain, so values above the immersion index
are allowed here, unlike :func:`~napari_sparsedecon.psf.models.born_wolf_psf`).
Each pixel is the mean of the pattern over the pixel (5 x 5 sub-samples), so
PSFs narrower than a pixel keep the right weight.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..base.validation import FLOAT, positive
from .models import GeneratedPSF, _check_pixel, _check_wavelength

#: FWHM of the Airy pattern in units of wavelength / NA.
AIRY_FWHM = 0.5145
#: Sub-samples per pixel and axis for the pixel average.
SUPERSAMPLE = 5


def airy_fwhm_nm(effective_na: float, wavelength_nm: float) -> float:
    """FWHM (nm) of the in-focus Airy pattern."""
    return AIRY_FWHM * wavelength_nm / effective_na


def airy_psf(*, effective_na: float, wavelength_nm: float, pixel_nm: float,
             shape=None) -> GeneratedPSF:
    """2-D in-focus Airy PSF, odd-sized, centred, float32, summing to 1.

    Parameters
    ----------
    effective_na : float
        (Effective) numerical aperture, e.g. 2.5 for SD-SIM, 3 for 2-D SIM.
    wavelength_nm : float
        Emission wavelength in nm.
    pixel_nm : float
        Pixel size of the image it is used on, in nm.
    shape : (int, int), optional
        Odd size; default covers the central disc and the first two rings
        (about 8 FWHM, at least 9 pixels).

    Examples
    --------
    >>> p = airy_psf(effective_na=2.5, wavelength_nm=488, pixel_nm=38.23)
    >>> p.data.shape, round(float(p.data.sum()), 5)
    ((23, 23), 1.0)
    """
    na = positive(effective_na, "effective_na")
    if na > 10:
        raise ValueError(f"effective_na = {na:g} is implausible (above 10); an effective NA "
                         f"is NA x resolution gain, e.g. 1.4 (widefield) to 5 (TIRF-SIM)")
    wl = _check_wavelength(wavelength_nm, "wavelength_nm")
    px = _check_pixel(pixel_nm, "pixel_nm")
    fwhm_px = airy_fwhm_nm(na, wl) / px
    if shape is None:
        n = max(9, math.ceil(8 * fwhm_px))
        shape = (n + 1 - n % 2,) * 2
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or any(s < 1 or s % 2 == 0 for s in shape):
        raise ValueError(f"shape {shape} must be two odd sizes")
    sub = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    yy = ((np.arange(shape[0]) - shape[0] // 2)[:, None] + sub[None, :]).reshape(-1)
    xx = ((np.arange(shape[1]) - shape[1] // 2)[:, None] + sub[None, :]).reshape(-1)
    r_nm = np.hypot(yy[:, None], xx[None, :]) * px
    v = 2 * np.pi * na * r_nm / wl
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.where(v > 1e-9, 2 * special.j1(v) / v, 1.0)
    inten = (amp * amp).reshape(shape[0], SUPERSAMPLE, shape[1], SUPERSAMPLE).mean(axis=(1, 3))
    inten /= inten.sum()
    return GeneratedPSF(inten.astype(FLOAT), (px, px), "airy",
                        {"effective_na": na, "wavelength_nm": wl})
