"""PSF models and helpers: Gaussian from FWHM, centring, resampling, PSF -> OTF."""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from ..core.validation import FLOAT, per_axis
from ..ops.threads import fft_workers

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
    from ..largedata.tiling import available_memory

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


#: Fraction of a PSF's energy that :func:`trim_psf` may drop (all of it outside the box).
PSF_TAIL = 1e-4


def psf_support(psf, tail: float = PSF_TAIL) -> tuple[slice, ...]:
    """The centred box of ``psf`` that holds all but at most ``tail`` of its energy.

    Per axis, the smallest half-width ``h`` around the centre pixel (index
    ``n // 2``) whose slab holds all but ``tail / ndim`` of the energy; the
    box is the product of those slabs, so (union bound) it holds at least
    ``1 - tail`` of the total. A PSF stored with zero (or negligible)
    margins thus shrinks to its real support; a tight PSF is returned whole.
    Negative values count by magnitude.
    """
    p = np.abs(np.asarray(psf, dtype=np.float64))
    total = float(p.sum())
    if not 0.0 <= tail < 1.0:
        raise ValueError(f"tail must be in [0, 1), got {tail}")
    if total <= 0 or not np.isfinite(total):
        return tuple(slice(0, n) for n in p.shape)
    budget = tail * total / p.ndim
    box = []
    for ax, n in enumerate(p.shape):
        c = n // 2
        hmax = min(c, n - 1 - c)
        prof = p.sum(axis=tuple(a for a in range(p.ndim) if a != ax))
        cs = np.concatenate(([0.0], np.cumsum(prof)))
        h = np.arange(hmax + 1)
        outside = total - (cs[c + h + 1] - cs[c - h])
        ok = np.flatnonzero(outside <= budget)
        if n % 2 == 0 or not ok.size:  # even axes have no centred box: keep whole
            box.append(slice(0, n))
            continue
        k = int(ok[0])
        box.append(slice(c - k, c + k + 1))
    return tuple(box)


def trim_psf(psf, tail: float = PSF_TAIL) -> np.ndarray:
    """``psf`` cut to :func:`psf_support` and rescaled to its former sum (float32).

    The centre pixel stays the centre (odd sizes stay odd); returned unchanged
    (same values, float32) when nothing can be cut. RL pads the data by half
    the PSF on each side, so a PSF stored in a large zero-filled array costs
    padding and FFT size for nothing; trimming it removes that cost and
    changes the result by at most about ``tail`` of its range.
    """
    p = np.asarray(psf, dtype=FLOAT)
    box = psf_support(p, tail)
    if all(s.stop - s.start == n for s, n in zip(box, p.shape, strict=True)):
        return p
    out = np.array(p[box], dtype=np.float64)
    kept = float(out.sum())
    if kept != 0.0:
        out *= float(p.sum(dtype=np.float64)) / kept
    return out.astype(FLOAT)


def psf_to_otf(psf, shape, axes=None) -> np.ndarray:
    """Real-FFT OTF of a centred PSF for circular convolution on ``shape``.

    The PSF centre is moved to index 0 so that convolution does not shift.
    ``axes`` are the transformed axes (default: the last ``psf.ndim`` axes);
    the returned array broadcasts against ``rfftn(x, axes=axes)``.
    """
    psf = np.asarray(psf, dtype=FLOAT)
    if axes is None:
        axes = tuple(range(len(shape) - psf.ndim, len(shape)))
    sub = tuple(shape[a] for a in axes)
    big = np.zeros(sub, dtype=FLOAT)
    big[tuple(slice(0, n) for n in psf.shape)] = psf
    big = np.roll(big, [-(n // 2) for n in psf.shape], axis=tuple(range(psf.ndim)))
    otf = sfft.rfftn(big, axes=tuple(range(psf.ndim)), workers=fft_workers())
    # Broadcast over the untransformed leading axes.
    return otf.reshape((1,) * (len(shape) - psf.ndim) + otf.shape).astype(np.complex64)


def measure_fwhm(psf) -> tuple[float, ...]:
    """FWHM per axis (pixels) of a centred, single-peaked PSF from its second moments.

    Exact for a Gaussian; for other shapes it is the FWHM of the Gaussian of
    the same variance.
    """
    p = np.clip(np.asarray(psf, dtype=np.float64), 0, None)
    p = p / p.sum()
    out = []
    for ax in range(p.ndim):
        marg = p.sum(axis=tuple(i for i in range(p.ndim) if i != ax))
        r = np.arange(marg.size, dtype=np.float64)
        mu = (marg * r).sum()
        var = (marg * (r - mu) ** 2).sum()
        out.append(FWHM_PER_SIGMA * math.sqrt(var))
    return tuple(out)
