"""Mirror padding to FFT-friendly sizes and the geometry of FFT convolution plans."""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ..core.psf import psf_to_otf
from ..core.validation import FLOAT
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


def rl_geometry(shape, psf):
    """Convolution axes, mirror-pad widths, padded shape, OTF and crop of an RL plan."""
    shape = tuple(int(n) for n in shape)
    psf = np.asarray(psf, dtype=FLOAT)
    axes = tuple(range(len(shape) - psf.ndim, len(shape)))
    widths = pad_widths(shape, psf.shape, list(axes))
    pshape = tuple(n + lo + hi for n, (lo, hi) in zip(shape, widths, strict=True))
    otf = psf_to_otf(psf, pshape, axes)
    crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape, widths, strict=True))
    return axes, widths, pshape, otf, crop


def fft_convolve(x, otf, axes, pshape, workers=None):
    """Circular convolution of ``x`` (on the padded domain ``pshape``) with an OTF.

    ``workers``: None or -1 use the thread setting (:mod:`.threads`), else that many.
    """
    workers = fft_workers(workers)
    spec = sfft.rfftn(x, axes=axes, workers=workers)
    spec *= otf
    return sfft.irfftn(spec, s=[pshape[a] for a in axes], axes=axes, workers=workers,
                       overwrite_x=True)
