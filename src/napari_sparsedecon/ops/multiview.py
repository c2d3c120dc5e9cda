"""Multi-view Richardson-Lucy: one object seen through V views, each with its own PSF and
background (the data term sums over the views).

    x <- x * (1/V) sum_v H_v^T( y_v / (H_v x + b_v) )

(H_v^T 1 = 1 on the mirror-padded periodic domain, so the EM denominator is V.) All
views are padded alike, by the largest trimmed PSF support per axis. Data and
backgrounds in photo-electrons (or any Poisson-like counts); x >= 0 by construction.
"""

from __future__ import annotations

import numpy as np

from ..base.validation import FLOAT
from .otf import psf_to_otf, trim_psf
from .padding import fft_convolve, mirror_pad, pad_widths


class MultiViewRL:
    """One shape, V PSFs: ``set_data(views, backgrounds)``, then ``step()``."""

    def __init__(self, shape, psfs, workers=-1):
        self.shape = tuple(int(n) for n in shape)
        ps = [trim_psf(p) for p in psfs]
        if not ps:
            raise ValueError("psfs: give one PSF per view (at least one)")
        nd = {p.ndim for p in ps}
        if len(nd) != 1:
            raise ValueError(f"psfs: every view's PSF needs the same dimensions, got {nd}")
        pnd = nd.pop()
        self.axes = tuple(range(len(self.shape) - pnd, len(self.shape)))
        big = tuple(max(p.shape[i] for p in ps) for i in range(pnd))
        self.widths = pad_widths(self.shape, big, list(self.axes))
        self.pshape = tuple(n + lo + hi for n, (lo, hi) in zip(self.shape, self.widths,
                                                                  strict=True))
        self.otfs = [psf_to_otf(p, self.pshape, self.axes) for p in ps]
        self.crop = tuple(slice(lo, lo + n) for n, (lo, _) in zip(self.shape, self.widths,
                                                                   strict=True))
        self.workers = workers

    def _conv(self, x, otf):
        return fft_convolve(x, otf, self.axes, self.pshape, self.workers)

    def set_data(self, views, backgrounds=None) -> None:
        if len(views) != len(self.otfs):
            raise ValueError(f"views: {len(views)} given for {len(self.otfs)} PSFs")
        bgs = backgrounds if backgrounds is not None else [0.0] * len(views)
        self.y, self.b = [], []
        for v, b in zip(views, bgs, strict=True):
            v = np.asarray(v, dtype=FLOAT)
            if v.shape != self.shape:
                raise ValueError(f"views: shape {v.shape}, expected {self.shape}")
            self.y.append(mirror_pad(v, self.widths))
            b = np.asarray(b, dtype=FLOAT)
            self.b.append(mirror_pad(np.broadcast_to(b, self.shape), self.widths)
                          if b.ndim else b)
        mean = float(np.mean([np.mean(y) for y in self.y]))
        self.floor = FLOAT(max(mean, 1e-30) * 1e-6)
        x = sum(np.maximum(y - b, 0) for y, b in zip(self.y, self.b, strict=True))
        x = x / FLOAT(len(self.y))
        self.x = np.maximum(x, self.floor + FLOAT(0.01) * FLOAT(max(float(x.mean()), 0)))
        self.x = self.x.astype(FLOAT)

    def step(self) -> None:
        acc = None
        for y, b, otf in zip(self.y, self.b, self.otfs, strict=True):
            hx = self._conv(self.x, otf)
            hx += b
            np.maximum(hx, self.floor, out=hx)
            np.divide(y, hx, out=hx)
            r = self._conv(hx, np.conj(otf))
            acc = r if acc is None else acc + r
        np.maximum(acc, 0, out=acc)
        acc *= FLOAT(1.0 / len(self.y))
        acc *= self.x
        self.x = np.maximum(acc, self.floor).astype(FLOAT, copy=False)

    def result(self) -> np.ndarray:
        return np.ascontiguousarray(self.x[self.crop])
