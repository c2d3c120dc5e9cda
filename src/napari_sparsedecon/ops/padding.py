"""Mirror padding to FFT-friendly sizes and the geometry of FFT convolution plans."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from .otf import PSF_TAIL, psf_to_otf, trim_psf
from .threads import fft_workers


def pad_widths(shape, psf_shape, axes, fast: bool = True):
    """Mirror-pad widths (before, after) per axis for RL on ``shape`` with a PSF on ``axes``."""
    widths = []
    for ax, n in enumerate(shape):
        if ax in axes:
            h = psf_shape[axes.index(ax)] // 2
            h = min(h, n - 1)  # 'symmetric' padding cannot exceed the axis length
            total = n + 2 * h
            if fast:
                total = sfft.next_fast_len(total, real=True)
            widths.append((h, total - n - h))
        else:
            widths.append((0, 0))
    return widths


def mirror_pad(a: np.ndarray, widths) -> np.ndarray:
    """Symmetric padding that also works when a pad exceeds the axis length."""
    out = a
    for ax, (lo, hi) in enumerate(widths):
        n = out.shape[ax]
        while lo > 0 or hi > 0:
            step_lo, step_hi = min(lo, n), min(hi, n)
            pw = [(0, 0)] * out.ndim
            pw[ax] = (step_lo, step_hi)
            out = np.pad(out, pw, mode="symmetric")
            lo, hi = lo - step_lo, hi - step_hi
            n = out.shape[ax]
    return out


#: Where RL starts: "data" (the background-subtracted data, clipped at 0) or "flat" (their
#: mean over the PSF's axes, one value per plane or volume: what scikit-image and
#: clij2-fft start from; better on the held-out benchmark's tuning split at low counts).
RL_STARTS = ("data", "flat")


def rl_start(y, b, eps, axes, start="data", crop=None):
    """RL's first estimate on the padded grid from padded data ``y`` and background ``b``
    (plus a floor that keeps every pixel alive: RL is multiplicative, a zero stays zero).
    The flat start is the mean over ``crop`` (the data's own pixels, so that the padding,
    which depends on the PSF's support, does not change it)."""
    if start not in RL_STARTS:
        raise ValueError(f"start must be one of {list(RL_STARTS)}, got {start!r}")
    x = y - b
    np.maximum(x, 0, out=x)
    if start == "flat":
        inner = x[crop] if crop is not None else x
        x[...] = inner.mean(axis=tuple(axes), keepdims=True)
    x += np.asarray(1e-3, x.dtype) * x.mean() + eps
    return x


def rl_geometry(shape, psf):
    """Convolution axes, mirror-pad widths, padded shape, OTF and crop of an RL plan.

    The PSF is first trimmed to its support (:func:`~napari_sparsedecon.psf.basic.trim_psf`,
    all but ``PSF_TAIL`` = 1e-4 of its energy), so the data are padded by half the real
    support, not by half the stored array; every padded axis is then grown to
    ``scipy.fft.next_fast_len``.
    """
    shape = tuple(int(n) for n in shape)
    psf = trim_psf(psf)
    axes = tuple(range(len(shape) - psf.ndim, len(shape)))
    widths = pad_widths(shape, psf.shape, list(axes))
    pshape = tuple(n + lo + hi for n, (lo, hi) in zip(shape, widths, strict=True))
    otf = psf_to_otf(psf, pshape, axes)
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape, widths, strict=True))
    return axes, widths, pshape, otf, crop


def rl_psf_info(psf) -> dict:
    """What an RL plan does with ``psf``: its stored shape, the trimmed support it pads by
    (:func:`rl_geometry`) and the energy fraction the trimming may drop."""
    p = np.asarray(psf)
    return {"psf_shape": [int(n) for n in p.shape],
            "psf_support": [int(n) for n in trim_psf(p).shape], "psf_tail": PSF_TAIL}


def fft_convolve(x, otf, axes, pshape, workers=None):
    """Circular convolution of ``x`` (on the padded domain ``pshape``) with an OTF.

    ``workers``: None or -1 use the thread setting (:mod:`.threads`), else that many.
    """
    workers = fft_workers(workers)
    spec = sfft.rfftn(x, axes=axes, workers=workers)
    spec *= otf
    return sfft.irfftn(spec, s=[pshape[a] for a in axes], axes=axes, workers=workers,
                       overwrite_x=True)
