"""Pieces shared by the photon-counting methods (rl, rl_tv, sparse_psf):
the camera schema and the conversion of data to photo-electrons and back."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..base.validation import FLOAT, as_float_image, check_psf
from ..params import Param

MAX_ITERATIONS = 10_000
#: Largest photo-electron count per pixel the float32 photon methods accept (squared
#: residuals must stay finite; no camera pixel holds more than ~1e6 electrons).
MAX_PHOTONS = 1e12
#: Smallest peak count accepted: below it the data are no photon counts (values all
#: under ~1e-20 with the gain assumed 1 gave results up to 47% of the range off).
MIN_PHOTONS = 1e-6

CAMERA = (
    Param("offset", "float", 0.0,
          "camera offset still in the data (0 for offset-subtracted data)", unit="ADU",
          low=-1e12, high=1e12, advanced=True),
    Param("gain", "float", None, "camera gain; None estimates it (Poisson-Gaussian fit)",
          unit="ADU/e-", low=1e-6, high=1e6, optional=True, advanced=True),
    # (cameras: 1-100 e- rms; 1e4 already gave 3.5x the input's mean, 1e6 60x its max)
    Param("read_noise", "float", None, "camera read noise (rms); None estimates it",
          unit="e-", low=0, high=1e3, optional=True, advanced=True),
    Param("background", "float", 0.0,
          "known constant background in input units after the offset (0: the estimate "
          "keeps any background)", unit="ADU", low=0, high=1e12, advanced=True),
)


def photon_data(image, psf, params: dict, *, clip_negative: bool = False,
                max_ndim: int = 3):
    """(data in photo-electrons, shifted), PSF, camera model, background in e-.

    ``max_ndim=4``: (T, Z, Y, X) data are taken whole (one camera model for all of them).
    """
    from ..ops.noise import camera_model, to_photons

    y = as_float_image(image, name="image", clip_negative=clip_negative, max_ndim=max_ndim)
    p = check_psf(psf, y.shape)
    # Huge values (float data in arbitrary units) overflow float32 squares in the noise
    # fit and the likelihoods: fit and convert at a power-of-two scale (exact), then put
    # the scale into the camera model so the result comes back in the input's units.
    s = _data_scale(y)
    if s != 1.0:
        y *= FLOAT(1.0 / s)
    gain = params["gain"]
    cam = camera_model(y, offset=params["offset"] / s, gain=None if gain is None else gain / s,
                       read_noise=params["read_noise"])
    ye = to_photons(y, cam)
    if s != 1.0:
        cam = dataclasses.replace(cam, offset=cam.offset * s, gain=cam.gain * s)
    peak = float(np.max(np.abs(ye)))
    if not peak <= MAX_PHOTONS:
        how = "estimated" if "gain" in cam.estimated else "given"
        off = "" if not params["offset"] else \
            f"offset {params['offset']:.3g} ADU (given: is it the camera's?), "
        raise ValueError(
            f"image: the camera model gives {peak:.3g} photo-electrons per pixel ({off}gain "
            f"{cam.gain:.3g} ADU/e-, {how}); the photon methods work up to {MAX_PHOTONS:g}. "
            f"Pass {'offset=<camera offset in ADU> and ' if off else ''}gain=<ADU per "
            f"photo-electron> for this data, or rescale the image")
    if 0 < peak < MIN_PHOTONS:  # (photon counts of 1e-24: the Poisson model is
        how = "estimated" if "gain" in cam.estimated else "given"  # meaningless there)
        if "assumed" in str(getattr(cam, "note", "")):
            how = "assumed: too few samples to estimate it"
        raise ValueError(
            f"image: the camera model gives at most {peak:.3g} photo-electrons per pixel "
            f"(gain {cam.gain:.3g} ADU/e-, {how}); the photon "
            f"methods model photon counts and need at least {MIN_PHOTONS:g}. Pass gain="
            f"<ADU per photo-electron> for this data, or rescale the image to photo-"
            f"electrons (e.g. image * {1 / peak:.0e}); method 'sparse' takes data of any "
            f"scale")
    bg = params["background"] / cam.gain + cam.read_noise ** 2
    return ye, p, cam, FLOAT(bg)


#: Data whose largest magnitude is above this are fitted at a power-of-two scale.
_SCALE_ABOVE = 2.0**40


def _data_scale(y: np.ndarray) -> float:
    a = float(np.max(np.abs(y)))
    return 1.0 if a <= _SCALE_ABOVE else 2.0 ** (math.frexp(a)[1] - 20)


def from_photons(x: np.ndarray, cam) -> np.ndarray:
    """Estimate in photo-electrons -> the input's units (offset removed)."""
    x *= FLOAT(cam.gain)
    return x


def typical_level(ye: np.ndarray) -> float:
    """The photon level the automatic weights scale with: the mean shifted count."""
    return max(float(np.mean(ye)), 1e-6)


@dataclasses.dataclass(frozen=True)
class PhotonPrep:
    """What a photon method estimates once over the whole image, so that every tile,
    ROI preview and time point of that image is solved with the same estimates.

    ``background``: photo-electrons with the read-noise shift (a scalar, or a map of
    the image's shape that :meth:`block` slices); ``levels``: method-specific levels
    (e.g. the signal and background photon levels the automatic weights scale with).
    """

    camera: object
    background: object
    background_kind: str = "given"
    levels: dict = dataclasses.field(default_factory=dict)
    shape: tuple = ()
    #: parameters chosen from the data (e.g. ``resolution_choice``: what and why), made
    #: once per image like the estimates so that every tile uses the same choice
    choices: dict = dataclasses.field(default_factory=dict)

    def block(self, sl) -> PhotonPrep:
        """These estimates for the block ``image[sl]`` (the map cut to it)."""
        bg = self.background
        if np.ndim(bg):
            bg = np.ascontiguousarray(bg[sl])
        return dataclasses.replace(self, background=bg, shape=np.shape(bg) or self.shape)

    def camera_params(self, params: dict) -> dict:
        """``params`` with the camera fixed to this estimate (nothing is re-estimated)."""
        c = self.camera
        return {**params, "offset": c.offset, "gain": c.gain, "read_noise": c.read_noise}

    def record(self) -> dict:
        """The estimates as plain JSON for the metadata record."""
        bg = self.background
        shift = self.camera.read_noise ** 2
        mean_e = float(np.mean(bg)) - shift
        return {"camera": self.camera.to_dict(), "background": self.background_kind,
                "background_mean": mean_e * self.camera.gain,
                **{k: float(v) for k, v in self.levels.items()}, **self.choices}


def block_photons(image, psf, params: dict, prep: PhotonPrep, *, clip_negative=False,
                  max_ndim=3):
    """:func:`photon_data` of one block with the camera of ``prep`` (never re-estimated);
    returns (photons, PSF, camera, background of ``prep``)."""
    given = {**prep.camera_params(params), "background": 0.0}
    ye, p, _, _ = photon_data(image, psf, given, clip_negative=clip_negative,
                              max_ndim=max_ndim)
    bg = prep.background
    if np.ndim(bg) and np.shape(bg) != ye.shape:
        raise ValueError(f"the prepared background map has shape {np.shape(bg)}, the block "
                         f"{ye.shape}: cut it with prep.block(slices)")
    return ye, p, prep.camera, FLOAT(bg) if not np.ndim(bg) else bg
