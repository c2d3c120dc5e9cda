"""Iterative wavelet low-pass background estimation (Zhao et al. 2022, Methods).

The background is the wavelet approximation (Daubechies-6, level 7 by
default) of a prepared copy of the image, refined in three passes; between
passes, pixels that stand above ``B + sqrt(|res|) / 2`` are clamped down to
that level so that bright structure stops pulling the estimate up.

The input is never modified (the reference port clipped the image itself).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..base.validation import FLOAT, as_float_image, choice, count

#: Background modes. "high/K": estimate from image / K (bright, high-intensity
#: background); "low/K": from a copy clipped at mean / K (dim, low-intensity
#: background); "none": no background subtraction.
BACKGROUND_MODES = ("none", "high/2", "high/2.5", "low/1", "low/2", "low/2.5")


def _lowpass(res: np.ndarray, wavelet: str, level: int) -> np.ndarray:
    import pywt

    with warnings.catch_warnings():
        # A level beyond pywt's "useful" maximum is deliberate: the background
        # is meant to be smoother than the image size allows to resolve.
        warnings.filterwarnings("ignore", message="Level value of", category=UserWarning)
        coeffs = pywt.wavedec2(res, wavelet, level=level, mode="symmetric")
        coeffs = [coeffs[0]] + [tuple(np.zeros_like(c) for c in d) for d in coeffs[1:]]
        out = pywt.waverec2(coeffs, wavelet, mode="symmetric")
    return out[: res.shape[0], : res.shape[1]]


def _background_2d(img: np.ndarray, mode: str, wavelet: str, level: int, passes: int):
    kind, div = mode.split("/")
    div = float(div)
    if kind == "high":
        res = img.astype(np.float64) / div
    else:
        res = img.astype(np.float64)  # a fresh copy: the image itself is not clipped
        cap = res.mean() / div
        np.minimum(res, cap, out=res)
    bg = res
    for p in range(passes):
        bg = _lowpass(res, wavelet, level)
        if p < passes - 1:
            limit = bg + np.sqrt(np.abs(res)) / 2.0
            res = np.minimum(res, limit)
    return bg.astype(FLOAT)


def estimate_background(image, mode: str = "low/2", *, wavelet: str = "db6", level: int = 7,
                        passes: int = 3) -> np.ndarray:
    """Estimate a smooth background, frame by frame for 3-D input.

    Parameters
    ----------
    image : array_like, shape (Y, X) or (N, Y, X)
        Non-negative intensities.
    mode : {"high/2", "high/2.5", "low/1", "low/2", "low/2.5"}
        ``"high/K"`` estimates from ``image / K`` (strong, high-intensity
        background); ``"low/K"`` from a copy clipped at ``mean / K`` (weak
        background). ``"none"`` returns zeros.
    wavelet : str
        PyWavelets wavelet name (default Daubechies-6, ``"db6"``).
    level : int
        Decomposition level; the background varies on scales of about
        ``2**level`` pixels.
    passes : int
        Refinement passes (3 in the paper).

    Returns
    -------
    numpy.ndarray
        float32 background of the image's shape. The input is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:128, :128]
    >>> bg = estimate_background(10 + 0.05 * xx, mode="high/2")
    >>> bg.shape
    (128, 128)
    """
    mode = choice(mode, "background", BACKGROUND_MODES)
    img = as_float_image(image, name="image")
    level = count(level, "level")
    passes = count(passes, "passes")
    if mode == "none":
        return np.zeros_like(img)
    if img.ndim == 2:
        return _background_2d(img, mode, wavelet, level, passes)
    return np.stack([_background_2d(f, mode, wavelet, level, passes) for f in img])
