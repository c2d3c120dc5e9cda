"""Multi-view data terms: one object seen through V views, each with its own PSF and
background; the Poisson data term sums over the views.

    EM numerator  (1/V) sum_v H_v^T( y_v / (H_v x + b_v) )

(H_v^T 1 = 1 on the mirror-padded periodic domain, so the EM denominator stays 1.)
:class:`ViewsMixin` turns any one-PSF plan whose step asks ``self._em(v)`` for that
numerator (:class:`~napari_sparsedecon.ops.regularised.RegularisedRLPlan`, the GARL
plan) into its multi-view form: all views are padded alike, by the support of the
views' mean PSF. Data and backgrounds in photo-electrons; x >= 0 by construction.
"""

from __future__ import annotations

import numpy as np

from ..base.validation import FLOAT
from .otf import psf_to_otf, trim_psf
from .padding import mirror_pad
from .regularised import RegularisedRLPlan, _chi2


def common_psf(psfs) -> np.ndarray:
    """The views' PSFs, each trimmed and centred in the largest box, averaged (the
    padding every view shares is made from it)."""
    ps = [trim_psf(np.asarray(p, dtype=np.float64)) for p in psfs]
    if not ps:
        raise ValueError("psfs: give one PSF per view (at least one)")
    nd = {p.ndim for p in ps}
    if len(nd) != 1:
        raise ValueError(f"psfs: every view's PSF needs the same dimensions, got "
                         f"{sorted(nd)}-D")
    big = tuple(max(p.shape[i] for p in ps) for i in range(ps[0].ndim))
    out = np.zeros(big)
    for p in ps:
        sl = tuple(slice((b - n) // 2, (b - n) // 2 + n) for b, n in zip(big, p.shape,
                                                                          strict=True))
        out[sl] += p / p.sum()
    return (out / len(ps)).astype(FLOAT)


class ViewsMixin:
    """``Plan(shape, psfs, ...)``, ``set_data(views, backgrounds)``: the plan's own
    iteration with the data term summed over the views."""

    def __init__(self, shape, psfs, *args, **kw):
        psfs = [np.asarray(p, dtype=FLOAT) for p in psfs]
        super().__init__(shape, common_psf(psfs), *args, **kw)
        self.otfs = [psf_to_otf(trim_psf(p), self.pshape, self.axes) for p in psfs]

    def set_data(self, views, backgrounds=None) -> None:
        if len(views) != len(self.otfs):
            raise ValueError(f"views: {len(views)} given for {len(self.otfs)} PSFs")
        bgs = list(backgrounds) if backgrounds is not None else [0.0] * len(views)
        views = [np.asarray(v, dtype=FLOAT) for v in views]
        for v in views:
            if v.shape != self.shape:
                raise ValueError(f"views: shape {v.shape}, expected {self.shape}")
        super().set_data(views[0], bgs[0])  # the plan's own state (momentum, counters)
        self.ys, self.bs = [], []
        for v, b in zip(views, bgs, strict=True):
            self.ys.append(mirror_pad(v, self.widths))
            b = np.asarray(b, dtype=FLOAT)
            self.bs.append(mirror_pad(np.broadcast_to(b, self.shape), self.widths)
                           if b.ndim else b)
        mean = float(np.mean([np.mean(y) for y in self.ys]))
        self.floor = FLOAT(max(mean, 1e-30) * 1e-6)
        x = sum(self._conv(y, otf) - b for y, b, otf in zip(self.ys, self.bs, self.otfs,
                                                            strict=True))
        x = x / FLOAT(len(self.ys))
        np.maximum(x, self.floor + FLOAT(0.01) * FLOAT(max(float(x.mean()), 0.0)), out=x)
        self.x = x.astype(FLOAT)
        self.x_prev = self.x

    def _em(self, v):
        num, chi2, hv = None, 0.0, None
        for y, b, otf in zip(self.ys, self.bs, self.otfs, strict=True):
            hv = self._conv(v, otf)
            hv += b
            np.maximum(hv, self.floor, out=hv)
            chi2 += _chi2(y, hv)
            np.divide(y, hv, out=hv)
            r = self._conv(hv, np.conj(otf))
            num = r if num is None else num.__iadd__(r)
        num *= FLOAT(1.0 / len(self.ys))
        self.chi2 = chi2 / len(self.ys)
        hv.fill(1)
        return num, hv


class MultiViewRegularisedPlan(ViewsMixin, RegularisedRLPlan):
    """:class:`RegularisedRLPlan` over V views (Poisson data term only)."""

    def __init__(self, shape, psfs, **kw):
        if kw.get("data_term", "poisson") != "poisson":
            raise ValueError("multi-view runs use the Poisson data term (data_term="
                             "'poisson')")
        super().__init__(shape, psfs, **kw)


class MultiViewRL(MultiViewRegularisedPlan):
    """Plain multi-view Richardson-Lucy (no prior, no momentum)."""

    def __init__(self, shape, psfs, workers=-1):
        super().__init__(shape, psfs, prior="none", momentum=False, workers=workers)
