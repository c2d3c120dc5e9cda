"""PSF models and helpers: Gaussian from FWHM, centring, resampling, PSF -> OTF."""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import ndimage

from ..base.validation import FLOAT, per_axis
from ..ops.otf import PSF_TAIL, psf_support, psf_to_otf, trim_psf  # noqa: F401

#: FWHM = FWHM_PER_SIGMA * sigma for a Gaussian.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


#: Narrower Gaussians are a single pixel to float precision (and overflow the profile).
MIN_FWHM_PX = 0.01


def gaussian_psf(shape=None, fwhm_px=2.0, *, ndim: int | None = None) -> np.ndarray:
    """Centred, odd-sized Gaussian PSF summing to 1.

    Parameters
    ----------
    shape : tuple of int or None
        Output shape (2 or 3 axes, each odd). ``None`` picks the smallest odd
        size covering +-4 sigma on each axis.
    fwhm_px : float or sequence of float
        Full width at half maximum in pixels, one value for all axes or one per
        axis (e.g. ``(axial, lateral, lateral)`` for 3-D).
    ndim : int, optional
        Number of axes when ``shape`` is None and ``fwhm_px`` is a scalar
        (default 2).

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``; the maximum is at the centre pixel.

    Examples
    --------
    >>> psf = gaussian_psf((15, 15), fwhm_px=3.0)
    >>> psf.shape, round(float(psf.sum()), 6)
    ((15, 15), 1.0)
    """
    if ndim is not None and (isinstance(ndim, bool) or ndim not in (2, 3)):
        raise (ValueError if isinstance(ndim, int) else TypeError)(
            f"ndim must be 2 or 3 (or None), got {ndim!r}")
    if shape is not None:
        shape = _shape_tuple(shape)
    if shape is None:
        n = ndim if ndim is not None else (1 if np.ndim(fwhm_px) == 0 else len(fwhm_px))
        n = 2 if n == 1 and ndim is None else n
        fwhm = per_axis(fwhm_px, n, "fwhm_px")
        shape = tuple(2 * math.ceil(4 * f / FWHM_PER_SIGMA) + 1 for f in fwhm)
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 axes, got {shape}")
    if any(s < 1 or s % 2 == 0 for s in shape):
        raise ValueError(f"shape {shape} must be odd on every axis so the centre is a pixel")
    fwhm = per_axis(fwhm_px, len(shape), "fwhm_px")
    if min(fwhm) < MIN_FWHM_PX:
        raise ValueError(f"fwhm_px {fwhm_px!r}: a PSF FWHM under {MIN_FWHM_PX} px is a single "
                         f"pixel (no blur); give the FWHM in pixels, >= {MIN_FWHM_PX}")
    _check_psf_memory(shape, fwhm)
    profiles = []
    for n, f in zip(shape, fwhm, strict=True):
        sigma = f / FWHM_PER_SIGMA
        r = np.arange(n, dtype=np.float64) - n // 2
        profiles.append(np.exp(-0.5 * (r / sigma) ** 2))
    psf = profiles[0]
    for p in profiles[1:]:
        psf = np.multiply.outer(psf, p)
    psf /= psf.sum()
    return psf.astype(FLOAT)


def _shape_tuple(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, or a TypeError naming it."""
    try:
        vals = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of 2 or 3 odd integers, got {shape!r}") \
            from None
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in vals):
        raise TypeError(f"shape must be a tuple of 2 or 3 odd integers, got {shape!r}")
    return tuple(int(v) for v in vals)


#: Peak bytes per PSF voxel while building a Gaussian PSF (float64 outer
#: products and the float32 result).
_BYTES_PER_VOXEL = 20
#: Largest PSF built (2**27 voxels: 511^3, or 11585^2 in 2-D; 0.5 GiB as float32).
MAX_PSF_VOXELS = 2**27


def _check_psf_memory(shape, fwhm) -> None:
    """Refuse a PSF over MAX_PSF_VOXELS or half the available memory, before allocating."""
    from ..base.resources import available_memory

    n = math.prod(shape)
    need = _BYTES_PER_VOXEL * n
    have = available_memory() // 2
    if n > MAX_PSF_VOXELS or need > have:
        raise MemoryError(
            f"a Gaussian PSF of shape {shape} (FWHM {', '.join(f'{f:g}' for f in fwhm)} px) "
            f"would need {need / 2**30:.1f} GiB to build (limit: {MAX_PSF_VOXELS} voxels and "
            f"half the {2 * have / 2**30:.1f} GiB available); is the FWHM in pixels, not "
            f"nm? A PSF is never larger than the image it is used on")


def center_psf(psf, shape=None) -> np.ndarray:
    """Shift a PSF so its centre of mass sits on the centre pixel of an odd-sized array.

    Parameters
    ----------
    psf : array_like
        Non-negative PSF of any size.
    shape : tuple of int, optional
        Odd output shape; default: the input shape, each axis made odd
        (rounded up).

    Returns
    -------
    numpy.ndarray
        float32, non-negative, summing to 1.
    """
    p = np.clip(np.asarray(psf, dtype=np.float64), 0, None)
    if p.sum() <= 0:
        raise ValueError("psf has no positive values")
    if shape is None:
        shape = tuple(n + 1 - n % 2 for n in p.shape)
    out = np.zeros(shape, dtype=np.float64)
    sl = tuple(slice(0, min(a, b)) for a, b in zip(p.shape, shape, strict=True))
    out[sl] = p[sl]
    com = ndimage.center_of_mass(out)
    shift = [n // 2 - c for n, c in zip(shape, com, strict=True)]
    out = ndimage.shift(out, shift, order=3, mode="constant")
    np.clip(out, 0, None, out=out)
    out /= out.sum()
    return out.astype(FLOAT)


def zoom_psf(psf, factors) -> np.ndarray:
    """Resample a PSF to a finer grid (e.g. factors (1, 2, 2) for x2 up-sampling in y/x).

    The result is odd-sized, centred, non-negative and sums to 1.
    """
    p = np.asarray(psf, dtype=np.float64)
    factors = tuple(float(f) for f in factors)
    # Sample the cubic spline of the PSF so that pixel centres stay aligned:
    # new pixel j of an axis with centre c_new maps to c_old + (j - c_new) / f.
    new_shape = []
    for n, f in zip(p.shape, factors, strict=True):
        m = int(round(n * f))
        new_shape.append(m + 1 - m % 2)
    grids = np.meshgrid(
        *[
            (np.arange(m) - m // 2) / f + n // 2
            for m, n, f in zip(new_shape, p.shape, factors, strict=True)
        ],
        indexing="ij",
    )
    out = ndimage.map_coordinates(p, grids, order=3, mode="constant", cval=0.0)
    np.clip(out, 0, None, out=out)
    out /= out.sum()
    return out.astype(FLOAT)


# The support/OTF helpers live with the numerics that use them (ops.otf); re-exported.


def psf_spread_fwhm(psf) -> tuple[float, ...]:
    """FWHM per axis of the Gaussian with the same second moments as the whole PSF
    (for a widefield volume: its out-of-focus light included). The photon methods'
    internal scales (signal level, background blocks, output blur, halo) use this
    spread: their constants were chosen with it on the tuning split, and the in-focus
    width of :func:`measure_fwhm` scored lower there and on the held-out split
    (benchmarks/heldout.py, 2026-12-03)."""
    return _second_moment_fwhm(np.clip(np.asarray(psf, dtype=np.float64), 0, None))


def _second_moment_fwhm(p: np.ndarray) -> tuple[float, ...]:
    p = p / p.sum()
    out = []
    for ax in range(p.ndim):
        marg = p.sum(axis=tuple(i for i in range(p.ndim) if i != ax))
        r = np.arange(marg.size, dtype=np.float64)
        mu = (marg * r).sum()
        var = (marg * (r - mu) ** 2).sum()
        out.append(FWHM_PER_SIGMA * math.sqrt(var))
    return tuple(out)


def _profile_fwhm(prof: np.ndarray, i0: int) -> float:
    """FWHM of a 1-D profile peaking at ``i0``: on each side, the Gaussian through the
    peak and the sample nearest half the peak gives the half width (exact for a
    Gaussian, and it follows the central lobe of a sinc-like profile)."""
    prof = prof / prof[i0]
    half = 0.0
    for step in (-1, 1):
        i = i0
        while 0 <= i + step < prof.size and prof[i + step] >= 0.5:
            i += step
        cands = [j for j in (i, i + step) if j != i0 and 0 <= j < prof.size and prof[j] > 0]
        if not cands:  # the profile ends above half the peak: count to its end
            half += abs(i - i0) + 0.5
            continue
        j = min(cands, key=lambda k: abs(prof[k] - 0.5))
        sigma = abs(j - i0) / math.sqrt(-2.0 * math.log(min(prof[j], 1 - 1e-12)))
        half += sigma * FWHM_PER_SIGMA / 2
    return half


def measure_fwhm(psf) -> tuple[float, ...]:
    """FWHM per axis (pixels) of a centred, single-peaked PSF.

    Lateral (the last two axes): from the second moments of the in-focus plane (the
    plane of the PSF's maximum; for a 2-D PSF the PSF itself), i.e. the FWHM of the
    Gaussian of the same variance. Axial (a 3-D PSF's first axis): from the profile
    along z through the maximum (:func:`_profile_fwhm`). Exact for a Gaussian. The
    second moments of a whole widefield volume are dominated by its out-of-focus light
    (14.7 px for a PSF whose in-focus width is 4.8 px by second moments, 2.5 px at half
    maximum): that is not a resolution (:func:`psf_spread_fwhm` gives it).
    """
    p = np.clip(np.asarray(psf, dtype=np.float64), 0, None)
    if p.ndim != 3:
        return _second_moment_fwhm(p)
    c = np.unravel_index(int(np.argmax(p)), p.shape)
    lateral = _second_moment_fwhm(p[c[0]])
    return (_profile_fwhm(p[:, c[1], c[2]], int(c[0])), *lateral)
