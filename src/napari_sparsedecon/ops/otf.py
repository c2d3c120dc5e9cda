"""A PSF's support and its OTF: what every convolution of the package is built on.

(Shared numerics: the PSF models of :mod:`napari_sparsedecon.psf` re-export them.)
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from ..base.validation import FLOAT
from .threads import fft_workers

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
