"""x2 up-sampling in Y and X before the sparse step.

``"fourier"`` zero-pads the spectrum (band-limited interpolation: smooth, but
noise is interpolated too); ``"spatial"`` inserts zeros between pixels and
leaves the filling-in to the sparse-Hessian prior (use more iterations and
lower fidelity/sparsity). Both keep the mean intensity per pixel, so the
quantitative mode stays in the input's units. Both work on any Y, X sizes,
square or not, and on every frame of a stack.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ..base.validation import FLOAT, choice
from ..ops.threads import fft_workers

UPSAMPLE_METHODS = ("fourier", "spatial")


def upsample2x(image: np.ndarray, method: str = "fourier") -> np.ndarray:
    """Up-sample the last two axes of a (Y, X) or (N, Y, X) float array by 2.

    Returns a new float32 array of shape (..., 2Y, 2X); the input is untouched.
    """
    method = choice(method, "upsample_method", UPSAMPLE_METHODS)
    a = np.asarray(image, dtype=FLOAT)
    ny, nx = a.shape[-2:]
    if method == "fourier":
        out = _fourier_resample(a, 2 * ny, axis=-2)
        out = _fourier_resample(out, 2 * nx, axis=-1).astype(FLOAT)
        np.maximum(out, 0, out=out)  # ringing below zero is not light
        return out
    out = np.zeros(a.shape[:-2] + (2 * ny, 2 * nx), dtype=FLOAT)
    # Zero insertion: one sample in four carries the light; x4 keeps the mean.
    out[..., ::2, ::2] = 4.0 * a
    return out


def _fourier_resample(a: np.ndarray, num: int, axis: int) -> np.ndarray:
    """Band-limited resampling of ``a`` to ``num`` samples along ``axis`` (num >= n).

    The spectrum is zero-padded; an even length's Nyquist bin is split between
    the positive and negative halves so a real signal stays real. Same result as
    ``scipy.signal.resample`` (without importing scipy.signal, which costs ~1 s).
    """
    n = a.shape[axis]
    spec = sfft.fft(a, axis=axis, workers=fft_workers())
    out = np.zeros(a.shape[:axis % a.ndim] + (num,) + a.shape[axis % a.ndim + 1:],
                   dtype=spec.dtype)
    spec = np.moveaxis(spec, axis, -1)
    view = np.moveaxis(out, axis, -1)
    half = (n + 1) // 2
    view[..., :half] = spec[..., :half]
    view[..., num - (n - half):] = spec[..., half:]
    if n % 2 == 0:  # split the Nyquist bin
        view[..., num - n // 2] *= 0.5
        view[..., n // 2] = view[..., num - n // 2]
    res = sfft.ifft(out, axis=axis, workers=fft_workers(), overwrite_x=True)
    return res.real * (num / n)
