"""Input checks and the one dtype policy of the package.

Every public function validates here, at the API boundary, so that widgets,
the command line and scripts all get the same clear messages.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

#: Working dtype of every algorithm.
FLOAT = np.float32

MIN_YX = 4


def as_float_image(image, *, name: str = "image", clip_negative: bool = False,
                   copy: bool = True, max_ndim: int = 3) -> np.ndarray:
    """Return a float32 *copy* of a 2-D or 3-D real image, or raise.

    ``max_ndim=4`` also accepts (T, Z, Y, X) arrays (for solvers that take them whole).

    The caller's array is never modified: the copy is always fresh. ``copy=False``
    (for callers that only read the result) returns a float32 input itself, unless
    ``clip_negative`` has to change it.

    Raises
    ------
    TypeError
        For bool, complex or non-numeric dtypes.
    ValueError
        For a dimensionality other than 2 or 3, axes of length 1 (or smaller
        than 4 pixels in y/x), NaN/Inf or an all-zero image. Negative values
        are accepted (``clip_negative`` sets them to 0).
    """
    a = np.asarray(image)
    if a.dtype == bool:
        raise TypeError(
            f"{name} is boolean (a mask?); deconvolution needs intensities: "
            f"pass image.astype(np.float32) if you really mean it"
        )
    if np.iscomplexobj(a):
        raise TypeError(f"{name} is complex; pass the real intensities (np.abs or .real)")
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{name} has dtype {a.dtype}; pass a numeric (integer or float) array")
    if not 2 <= a.ndim <= max_ndim:
        shapes = "(Y, X), (T, Y, X) or (Z, Y, X)" if max_ndim < 4 else \
            "(Y, X), (T, Y, X), (Z, Y, X) or (T, Z, Y, X)"
        raise ValueError(
            f"{name} has {a.ndim} dimensions (shape {a.shape}); pass a single channel "
            f"shaped {shapes}, e.g. image[c] for one channel"
        )
    for ax, n in enumerate(a.shape):
        if n == 1:
            raise ValueError(
                f"{name} axis {ax} has length 1 (shape {a.shape}); drop it with "
                f"np.squeeze(image, axis={ax})"
            )
    if min(a.shape[-2:]) < MIN_YX:
        raise ValueError(
            f"{name} is {a.shape[-2]}x{a.shape[-1]} pixels in (Y, X); "
            f"at least {MIN_YX}x{MIN_YX} is needed"
        )
    with np.errstate(over="ignore"):  # values beyond float32 become Inf: refused below
        out = a.astype(FLOAT, copy=copy or (clip_negative and bool((a < 0).any())))
    if not np.isfinite(out).all():
        _refuse_beyond_float32(a, name)
        bad = ~np.isfinite(out)
        raise ValueError(
            f"{name} holds {int(bad.sum())} NaN/Inf value(s); replace them first, "
            f"e.g. np.nan_to_num(image, nan=0.0, posinf=0.0)"
        )
    _refuse_lost_precision(a, out, name)
    had_values = clip_negative and bool(out.any())
    if clip_negative:
        np.maximum(out, 0, out=out)
    # Negative values are legitimate (offset-subtracted camera data with read
    # noise); the photon methods model them (ops/noise.py).
    if not out.any():
        if had_values:
            raise ValueError(f"{name} has no positive values, so clipping the negative "
                             f"ones (clip_negative) leaves nothing to deconvolve: add the "
                             f"camera offset back, or use a photon method")
        raise ValueError(f"{name} is all zero; there is nothing to deconvolve")
    return out


def _refuse_beyond_float32(a, name):
    """A finite image whose values float32 cannot hold: say so (they are not NaN/Inf)."""
    if a.dtype.kind != "f" or a.dtype.itemsize <= 4 or not np.isfinite(a).all():
        return
    big = float(np.abs(a).max())
    raise ValueError(
        f"{name} holds values up to {big:.3g}, beyond float32 (the working type: at most "
        f"{float(np.finfo(FLOAT).max):.3g}); rescale it first, e.g. image / {big:.0e}")


def _refuse_lost_precision(a, out, name):
    """Values that float32 (24-bit significand) cannot tell apart: uint64 near 2**63 with
    a small spread became a constant image without a word. Refused when the spread of
    the float32 copy is off by over 1% from the exact one (wide integer and float64
    types only: narrower ones convert exactly)."""
    if a.size == 0 or not wide_dtype(a.dtype):
        return
    refuse_lost_precision(a.min(), a.max(), a.dtype, name)


def wide_dtype(dtype) -> bool:
    """Integer types of 4 bytes or more and float64: those float32 may not hold exactly."""
    dt = np.dtype(dtype)
    return dt.itemsize >= 4 and not (dt.kind == "f" and dt.itemsize <= 4) and dt.kind in "uif"


def refuse_lost_precision(lo, hi, dtype, name="the image"):
    """Refuse data of ``dtype`` from ``lo`` to ``hi`` whose spread float32 would lose (off
    by over 1%): the check of :func:`check_image` from the extremes alone, for data read
    in blocks (the command line)."""
    kind = np.dtype(dtype).kind
    exact = int(hi) - int(lo) if kind in "ui" else float(hi) - float(lo)
    if not exact > 0:
        return
    with np.errstate(over="ignore"):
        got = float(FLOAT(hi)) - float(FLOAT(lo))
    if not np.isfinite(got) or abs(got - exact) <= 0.01 * exact:
        return  # beyond float32 altogether: refused as such elsewhere
    became = "a constant image" if got == 0 else f"a spread of {got:.4g}"
    raise ValueError(
        f"{name} ({np.dtype(dtype)}, values {lo} to {hi}) varies by only {exact:.4g} on top "
        f"of a level that float32 (the working type, 24-bit precision) cannot resolve: it "
        f"would become {became}; subtract its offset first, e.g. image - image.min()")


def check_psf(psf, image_shape: tuple[int, ...], *, name: str = "psf", tol: float = 1e-3):
    """Validate a PSF against the image it will be used on; return float32 copy.

    The PSF must be finite, non-negative, odd-sized on every axis (so that its
    centre is a pixel), no larger than the image, with 2 or 3 dimensions, no
    more than the image has, and sum to 1 within ``tol``.
    """
    p = np.asarray(psf)
    if p.dtype == bool or np.iscomplexobj(p) or not np.issubdtype(p.dtype, np.number):
        raise TypeError(f"{name} has dtype {p.dtype}; pass a real float array")
    if p.ndim not in (2, 3) or p.ndim > len(image_shape):
        raise ValueError(
            f"{name} has {p.ndim} dimensions (shape {p.shape}) for an image of shape "
            f"{tuple(image_shape)}; pass a 2-D PSF, or a 3-D PSF for 3-D (Z, Y, X) data"
        )
    if p.size == 0:
        raise ValueError(f"{name} is empty (shape {p.shape}); pass a PSF with at least one "
                         f"pixel on every axis")
    p = p.astype(FLOAT, copy=True)
    if not np.isfinite(p).all():
        raise ValueError(f"{name} holds NaN/Inf values")
    if p.min() < 0:
        raise ValueError(
            f"{name} has negative values (min {float(p.min()):.3g}); subtract its background "
            f"and clip: psf = np.clip(psf - background, 0, None); psf /= psf.sum()"
        )
    even = [ax for ax, n in enumerate(p.shape) if n % 2 == 0]
    if even:
        raise ValueError(
            f"{name} shape {p.shape} is even along axis {even}; a PSF needs odd sizes so its "
            f"centre is a pixel. Crop one plane/row (e.g. psf[:-1]) or use "
            f"napari_sparsedecon.center_psf(psf)"
        )
    img_tail = tuple(image_shape)[-p.ndim:]
    if any(ps > s for ps, s in zip(p.shape, img_tail, strict=True)):
        raise ValueError(
            f"{name} shape {p.shape} is larger than the image {tuple(image_shape)} on some "
            f"axis; crop the PSF around its centre to at most the image size"
        )
    total = float(p.sum(dtype=np.float64))
    if total <= 0:
        raise ValueError(f"{name} sums to {total}; it must hold positive values")
    if abs(total - 1.0) > tol:
        raise ValueError(
            f"{name} sums to {total:.6g}, not 1; normalise it first: psf = psf / psf.sum()"
        )
    return p


def positive(value, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite number > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def count(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum`` (and <= ``maximum``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def choice(value, name: str, options: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def per_axis(value, ndim: int, name: str) -> tuple[float, ...]:
    """Broadcast a scalar or a sequence of length ``ndim`` to a tuple of positive floats."""
    if np.ndim(value) == 0:
        vals = (value,) * ndim
    else:
        vals = tuple(value)
        if len(vals) == 1:  # one value in a list: the same on every axis, as a scalar
            vals = vals * ndim
        if len(vals) != ndim:
            raise ValueError(f"{name} needs 1 or {ndim} values, got {len(vals)}")
    return tuple(positive(v, name) for v in vals)


def check_block(block: np.ndarray, name: str = "image") -> None:
    """Chunk-wise check for data read piece by piece: finite values."""
    bad = ~np.isfinite(block)
    if bad.any():
        raise ValueError(
            f"{name} holds {int(bad.sum())} NaN/Inf value(s); replace them first, "
            f"e.g. np.nan_to_num(image, nan=0.0, posinf=0.0)"
        )



#: A result's mean absolute intensity may be at most this many times the input's (RL
#: keeps the total; background removal lowers it; 2x up-sampling keeps the mean).
MAX_MEAN_GAIN = 8.0


#: A result whose peak is this small a fraction of the input's holds nothing.
ZERO_FRACTION = 1e-12


def check_result(result, image=None, *, method: str = "", given: dict | None = None,
                 normalised: bool = False) -> None:
    """Refuse (ValueError) a non-finite or runaway result, naming what to change.

    ``result`` must be finite; with the input ``image``, its mean absolute intensity
    must stay within :data:`MAX_MEAN_GAIN` times the input's (unless ``normalised``:
    the result is scaled to a maximum of one), and it must not be all zero (a peak under
    :data:`ZERO_FRACTION` of the input's) when the input is not. ``given`` are the
    parameters the caller set (named in the message); ``method`` names the method.
    Reads the result once, plane by plane.
    """
    res = np.asarray(result)
    who = f"{method}: " if method else ""
    knobs = _knobs(given)
    finite, total, peak = True, 0.0, 0.0
    with np.errstate(all="ignore"):
        planes = res.reshape(-1, *res.shape[-2:]) if res.ndim >= 2 else res.reshape(1, -1)
        for plane in planes:
            if not np.isfinite(plane).all():
                finite = False
                break
            total += float(np.abs(plane, dtype=np.float64).sum())
            peak = max(peak, float(np.abs(plane).max()) if plane.size else 0.0)
    img = None if image is None else np.asarray(image)
    if not finite:
        scale = ""
        if img is not None and img.size and np.issubdtype(img.dtype, np.number):
            big = float(np.nanmax(np.abs(img)))
            if big > 1e30:
                scale = (f"; the image's values reach {big:.3g}, too close to float32's "
                         f"limit for the computation: rescale it (e.g. image / {big:.0e})")
        raise ValueError(f"{who}the result holds NaN/Inf values{scale}{knobs}")
    if img is None or not img.size or not np.issubdtype(img.dtype, np.number):
        return
    with np.errstate(all="ignore"):
        mean_in = sum(float(np.abs(q, dtype=np.float64).sum())
                      for q in img.reshape(-1, *img.shape[-2:])) / img.size
    mean_out = total / max(res.size, 1)
    peak_in = float(np.abs(img).max())
    if peak <= ZERO_FRACTION * peak_in:  # (an estimate's floor, 1e-36, counts as zero)
        hi = float(img.max())
        raise ValueError(f"{who}the result is all zero although the image is not (its "
                         f"maximum is {hi:.3g}{' : no positive values' if hi <= 0 else ''}"
                         f"); check the camera offset and background{knobs}")
    if not normalised and mean_in > 0 and mean_out > MAX_MEAN_GAIN * mean_in:
        raise ValueError(f"{who}the result's mean intensity is {mean_out / mean_in:.3g}x "
                         f"the image's (at most {MAX_MEAN_GAIN:g}x is a deconvolution); a "
                         f"parameter is far from what this data needs{knobs}")


def _knobs(given) -> str:
    if not given:
        return ""
    shown = ", ".join(f"{k}={v!r}" for k, v in sorted(given.items()))
    return f". Change one of the values given: {shown}"


def to_numpy(a) -> np.ndarray:
    """float32 NumPy copy of a NumPy/zarr/dask array; dask is computed locally (inside a
    dask.distributed worker, its graph must not be shipped back to the cluster)."""
    if hasattr(a, "compute"):
        a = a.compute(scheduler="synchronous")
    return np.array(a, dtype=FLOAT)
