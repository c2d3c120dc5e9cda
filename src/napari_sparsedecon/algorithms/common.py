"""Pieces shared by the photon-counting methods (rl, rl_tv, sparse_psf):
the camera schema and the conversion of data to photo-electrons and back."""

from __future__ import annotations

import numpy as np

from ..core.validation import FLOAT, as_float_image, check_psf
from ..params import Param

MAX_ITERATIONS = 10_000
#: Largest photo-electron count per pixel the float32 photon methods accept (squared
#: residuals must stay finite; no camera pixel holds more than ~1e6 electrons).
MAX_PHOTONS = 1e12

CAMERA = (
    Param("offset", "float", 0.0,
          "camera offset still in the data (0 for offset-subtracted data)", unit="ADU",
          advanced=True),
    Param("gain", "float", None, "camera gain; None estimates it (Poisson-Gaussian fit)",
          unit="ADU/e-", low=0, low_open=True, optional=True, advanced=True),
    Param("read_noise", "float", None, "camera read noise (rms); None estimates it",
          unit="e-", low=0, optional=True, advanced=True),
    Param("background", "float", 0.0,
          "known constant background in input units after the offset (0: the estimate "
          "keeps any background)", unit="ADU", low=0, advanced=True),
)


def photon_data(image, psf, params: dict, *, clip_negative: bool = False):
    """(data in photo-electrons, shifted), PSF, camera model, background in e-."""
    from ..ops.noise import camera_model, to_photons

    y = as_float_image(image, name="image", clip_negative=clip_negative)
    p = check_psf(psf, y.shape)
    cam = camera_model(y, offset=params["offset"], gain=params["gain"],
                       read_noise=params["read_noise"])
    ye = to_photons(y, cam)
    peak = float(np.max(np.abs(ye)))
    if not peak <= MAX_PHOTONS:
        how = "estimated" if "gain" in cam.estimated else "given"
        raise ValueError(
            f"image: the camera model gives {peak:.3g} photo-electrons per pixel (gain "
            f"{cam.gain:.3g} ADU/e-, {how}); the photon methods work up to {MAX_PHOTONS:g}. "
            f"Pass gain=<ADU per photo-electron> for this data, or rescale the image")
    bg = params["background"] / cam.gain + cam.read_noise ** 2
    return ye, p, cam, FLOAT(bg)


def from_photons(x: np.ndarray, cam) -> np.ndarray:
    """Estimate in photo-electrons -> the input's units (offset removed)."""
    x *= FLOAT(cam.gain)
    return x


def typical_level(ye: np.ndarray) -> float:
    """The photon level the automatic weights scale with: the mean shifted count."""
    return max(float(np.mean(ye)), 1e-6)
