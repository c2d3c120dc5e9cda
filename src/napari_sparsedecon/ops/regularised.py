"""Regularised, accelerated Richardson-Lucy: the solver behind ``rl_tv`` and ``sparse_psf``.

Minimises, over x >= 0 (photo-electrons, on the mirror-padded domain),

    D(H x + b, y) + lam * R(x) + s * sum(x)

- D: Poisson negative log-likelihood (shifted-Poisson data, see
  :mod:`.noise`) or weighted least squares with fixed weights 1 / var;
- R: total variation ``sum sqrt(|grad x|^2 + eps^2)`` or the sparse-Hessian
  prior ``sum_i w_i sqrt((K_i x)^2 + eps^2)`` (the seven terms of Zhao et al.
  with t/z continuity, or t and z continuity on (T, Z, Y, X) arrays; z terms scaled
  by the voxel aspect ratio);
- s * sum(x): the L1 sparsity term (x >= 0).

Iteration: the split-gradient form of RL (Lanteri et al. 2001). With the
prior's gradient split into positive and negative parts, ``dR = U - V``,

    x <- v * (H^T(W y) + lam V) / (H^T(W (H v + b)) + lam U + s)

(W = 1 / (H v + b) for Poisson, which gives RL's H^T(y / (H v + b)) / H^T 1),
which keeps x >= 0 without clipping denominators. ``v`` is the Nesterov
extrapolation ``x_k + (k - 1)/(k + 2) (x_k - x_{k-1})`` with adaptive restart
(O'Donoghue & Candes 2015) when the step turns back. Cost per iteration: two
real FFT pairs plus a few passes over the prior's terms.
"""

from __future__ import annotations

import math

import numpy as np

from ..base.validation import FLOAT
from .padding import fft_convolve, mirror_pad, rl_geometry

PRIORS = ("tv", "hessian", "none")
DATA_TERMS = ("poisson", "lsq")


def _sl(nd, ax, s):
    idx = [slice(None)] * nd
    idx[ax] = s
    return tuple(idx)


def _fdiff(x, ax):
    """Forward difference with zero flux at the far edge (same shape)."""
    d = np.zeros_like(x)
    nd = x.ndim
    np.subtract(x[_sl(nd, ax, slice(1, None))], x[_sl(nd, ax, slice(None, -1))],
                out=d[_sl(nd, ax, slice(None, -1))])
    return d


def _fdiff_t(p, ax, out):
    """out += D^T p for :func:`_fdiff` (p zero at the far edge)."""
    nd = p.ndim
    out[_sl(nd, ax, slice(1, None))] += p[_sl(nd, ax, slice(None, -1))]
    out -= p


def _fdiff_into(x, ax, d):
    """:func:`_fdiff` written into ``d`` (same shape, not ``x``)."""
    nd = x.ndim
    np.subtract(x[_sl(nd, ax, slice(1, None))], x[_sl(nd, ax, slice(None, -1))],
                out=d[_sl(nd, ax, slice(None, -1))])
    d[_sl(nd, ax, slice(-1, None))] = 0


def _second_into(x, ax, d):
    """Second difference along ``ax`` into ``d`` (zero on the first and last planes)."""
    nd = x.ndim
    mid = d[_sl(nd, ax, slice(1, -1))]
    np.add(x[_sl(nd, ax, slice(2, None))], x[_sl(nd, ax, slice(None, -2))], out=mid)
    mid -= x[_sl(nd, ax, slice(1, -1))]
    mid -= x[_sl(nd, ax, slice(1, -1))]
    d[_sl(nd, ax, slice(0, 1))] = 0
    d[_sl(nd, ax, slice(-1, None))] = 0


def _second_t(p, ax, out):
    nd = p.ndim
    c = p[_sl(nd, ax, slice(1, -1))]
    out[_sl(nd, ax, slice(2, None))] += c
    mid = out[_sl(nd, ax, slice(1, -1))]
    mid -= c
    mid -= c
    out[_sl(nd, ax, slice(None, -2))] += c


class PriorGradient:
    """Gradient of the smoothed TV or sparse-Hessian prior on (Y, X), (N, Y, X) or
    (T, Z, Y, X) arrays.

    ``continuity``: for 3-D arrays, the weight of axis 0 (t or z) relative to Y/X; for
    4-D arrays, the weight of axis 1 (z). ``aspect`` (z step / pixel size) scales that
    axis' differences to pixel units. ``t_continuity``: for 4-D arrays, the weight of
    axis 0 (time, in frames: no aspect). 0 decouples the planes (or time points) along
    that axis. Per axis a of weight c and spacing r the Hessian terms carry
    ``s_a = sqrt(c) / r`` (``s_y = s_x = 1``): ``s_a^2 |d_aa x|`` and
    ``2 s_a s_b |d_ab x|`` (Zhao et al.'s 3-D weights for z; the same rule for t).
    TV uses ``sqrt(|grad_yx x|^2 + sum_a (c_a / r_a)^2 (d_a x)^2 + eps^2)``.
    """

    def __init__(self, kind: str, ndim: int, *, eps: float, continuity: float = 0.0,
                 aspect: float = 1.0, t_continuity: float = 0.0):
        if ndim not in (2, 3, 4):
            raise ValueError(f"ndim: the priors work on 2-D, 3-D or 4-D arrays, got {ndim}")
        self.kind, self.ndim, self.eps2 = kind, ndim, FLOAT(eps) ** 2
        y, x = ndim - 2, ndim - 1
        r = float(aspect)
        # (axis, continuity, spacing) of the axes beyond Y, X
        extra = {2: [], 3: [(0, continuity, r)],
                 4: [(0, t_continuity, 1.0), (1, continuity, r)]}[ndim]
        extra = [(a, float(c), rr) for a, c, rr in extra if float(c) > 0]
        if kind == "tv":
            # |grad x|^2 = gy^2 + gx^2 + (c gz / aspect)^2: z in units of the pixel size,
            # weighted by the continuity like the L1 weights of the Hessian prior
            self.axes = [(y, 1.0), (x, 1.0)] + [(a, (c / rr) ** 2) for a, c, rr in extra]
        elif kind == "hessian":
            t = [("2", (y,), 1.0), ("2", (x,), 1.0), ("m", (y, x), 2.0)]
            sc = {a: math.sqrt(c) / rr for a, c, rr in extra}
            for a in sc:
                t += [("2", (a,), sc[a] ** 2), ("m", (a, y), 2 * sc[a]),
                      ("m", (a, x), 2 * sc[a])]
            if len(sc) == 2:  # t and z both on: the t-z cross term
                t.append(("m", (0, 1), 2 * sc[0] * sc[1]))
            self.terms = t

    def _buffers(self, x):
        """Scratch arrays made once per shape (no allocation per iteration)."""
        key = (x.shape, x.dtype)
        if getattr(self, "_key", None) != key:
            self._key = key
            self._out, self._k, self._t, self._u = (np.empty_like(x) for _ in range(4))
        return self._out, self._k, self._t, self._u

    def spare(self) -> np.ndarray:
        """A scratch buffer of the last call's shape that the returned gradient is not
        (free for the caller until the next call)."""
        return self._t

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The prior's gradient at ``x`` (a view of an internal buffer: copy to keep it)."""
        out, k, t, u = self._buffers(x)
        out.fill(0)
        e2 = FLOAT(self.eps2)
        if self.kind == "tv":
            grads = [(_fdiff(x, a), a, w) for a, w in self.axes if w > 0]
            n = t
            n.fill(e2)
            for g, _, w in grads:
                np.multiply(g, g, out=u)
                u *= FLOAT(w)
                n += u
            np.sqrt(n, out=n)
            for g, a, w in grads:
                g *= FLOAT(w)
                g /= n
                _fdiff_t(g, a, out)
            return out
        for kind, axes, w in self.terms:
            if kind == "2":
                _second_into(x, axes[0], k)
            else:
                _fdiff_into(x, axes[1], u)
                _fdiff_into(u, axes[0], k)
            np.multiply(k, k, out=t)
            t += e2
            np.sqrt(t, out=t)
            k /= t
            k *= FLOAT(w)
            if kind == "2":
                _second_t(k, axes[0], out)
            else:
                u.fill(0)
                _fdiff_t(k, axes[0], u)
                _fdiff_t(u, axes[1], out)
        return out


def _slabs(a):
    """Views of ``a`` along its first axis, a few planes at a time: reductions over the
    whole array without full-size temporaries (4-D problems are large)."""
    n = a.shape[0] if a.ndim > 2 else 1
    step = max(1, n // 8)
    if a.ndim <= 2:
        return [slice(None)]
    return [slice(i, i + step) for i in range(0, n, step)]


def _chi2(y, hv) -> float:
    """mean((y - hv)^2 / hv), accumulated slab by slab in float64."""
    tot = 0.0
    for sl in _slabs(y):
        r = y[sl] - hv[sl]
        r *= r
        r /= hv[sl]
        tot += float(r.sum(dtype=np.float64))
    return tot / y.size


def _turns_back(new, x, xp) -> bool:
    """True when the step ``new - x`` points against the momentum ``x - xp``."""
    tot = 0.0
    for sl in _slabs(x):
        tot += float(np.vdot((new[sl] - x[sl]).ravel(), (x[sl] - xp[sl]).ravel()))
    return tot < 0


class RegularisedRLPlan:
    """One shape, one PSF: buffers and OTF made once; ``step()`` per iteration.

    Data and background are in photo-electrons (shifted Poisson); the PSF acts
    on the last ``psf.ndim`` axes (a 3-D PSF on each time point of (T, Z, Y, X) data,
    which are then one problem, coupled in time by ``t_continuity``).
    """

    def __init__(self, shape, psf, *, prior="tv", weight=0.0, sparsity=0.0, continuity=0.0,
                 aspect=1.0, eps=1.0, data_term="poisson", momentum=True, workers=-1,
                 t_continuity=0.0):
        self.shape = tuple(int(n) for n in shape)
        self.axes, self.widths, self.pshape, self.otf, self._crop = rl_geometry(shape, psf)
        self.otf_conj = np.conj(self.otf)
        self.workers = workers
        self.weight, self.sparsity = FLOAT(weight), FLOAT(sparsity)
        self.data_term, self.momentum = data_term, momentum
        self.prior = (PriorGradient(prior, len(self.shape), eps=eps, continuity=continuity,
                                    aspect=aspect, t_continuity=t_continuity)
                      if prior != "none" and weight > 0 else None)

    def _conv(self, x, otf):
        return fft_convolve(x, otf, self.axes, self.pshape, self.workers)

    def set_data(self, y: np.ndarray, background=0.0) -> None:
        self.y = mirror_pad(np.asarray(y, dtype=FLOAT), self.widths)
        b = np.asarray(background, dtype=FLOAT)
        self.b = mirror_pad(np.broadcast_to(b, y.shape), self.widths) if b.ndim else b
        self.floor = FLOAT(max(float(self.y.mean()), 1e-30) * 1e-6)
        x = self._conv(self.y, self.otf) - self.b  # a smooth, positive start
        np.maximum(x, self.floor + FLOAT(0.01) * FLOAT(max(float(x.mean()), 0.0)), out=x)
        self.x = x.astype(FLOAT)
        self.x_prev = self.x
        self.t = 1.0
        if self.data_term == "lsq":
            hy = self._conv(self.y, self.otf)
            self.w = (1.0 / np.maximum(hy, 1.0)).astype(FLOAT)  # var of shifted Poisson
            self.num_data = self._conv(self.w * self.y, self.otf_conj)
        self.k = 0
        self.chi2 = float("nan")

    def _em(self, v):
        """(H^T(y / (H v + b)), a buffer of ones for the denominator); sets ``chi2``, the
        chi^2 per pixel of ``v`` (for the stopping rule and reports)."""
        hv = self._conv(v, self.otf)
        hv += self.b
        np.maximum(hv, self.floor, out=hv)
        self.chi2 = _chi2(self.y, hv)
        np.divide(self.y, hv, out=hv)
        num = self._conv(hv, self.otf_conj)
        hv.fill(1)  # y / hv is no longer needed: its buffer holds the denominator
        return num, hv

    def step(self) -> None:
        x, xp = self.x, self.x_prev
        if self.momentum and self.k > 0:
            t_next = (1 + math.sqrt(1 + 4 * self.t * self.t)) / 2
            beta = FLOAT((self.t - 1) / t_next)
            v = x - xp
            v *= beta
            v += x
            np.maximum(v, self.floor, out=v)
        else:
            t_next, v = 1.0, x
        if self.data_term == "poisson":
            num, den = self._em(v)  # also sets chi^2 of the extrapolated point
        else:
            hv = self._conv(v, self.otf)
            hv += self.b
            np.maximum(hv, self.floor, out=hv)
            self.chi2 = _chi2(self.y, hv)
            hv *= self.w
            num = self.num_data.copy()
            den = self._conv(hv, self.otf_conj)
        if self.prior is not None:
            g = self.prior(v)  # the prior's own buffer, overwritten here
            g *= self.weight
            s = self.prior.spare()
            np.negative(g, out=s)
            np.maximum(s, 0, out=s)
            num += s
            np.maximum(g, 0, out=g)
            den += g
        if self.sparsity > 0:
            den += self.sparsity
        np.maximum(den, 1e-12, out=den)
        np.maximum(num, 0, out=num)
        new = num  # a fresh array of this step: the new estimate is written into it
        new *= v
        new /= den
        np.maximum(new, self.floor, out=new)
        if self.momentum and self.k > 0:
            # adaptive restart when the step turns against the momentum
            if _turns_back(new, x, xp):
                t_next = 1.0
        self.t = t_next
        self.x_prev, self.x = x, new
        self.k += 1

    def result(self) -> np.ndarray:
        return np.ascontiguousarray(self.x[self._crop])
