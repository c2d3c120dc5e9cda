"""A learned convolutional ridge regulariser with a weakly-convex potential (GARL's prior).

    R(x) = sum_l alpha_l^-2 sum_i psi(alpha_l (W_l x)_i)

- ``W_l``: a bank of L small zero-mean filters (2-D for planes, 3-D for volumes), applied
  as correlations; the bank is normalised at training time so that ||W||_2 <= 1;
- ``psi``: an even potential whose derivative ``psi'`` is an odd linear spline on the
  knots ``k h`` (k = 0..K, ``psi'(0) = 0``, constant beyond ``K h``), with slopes in
  ``[-mu, 1]``: ``psi'`` is 1-Lipschitz and ``psi`` is ``mu``-weakly convex;
- ``alpha_l(sigma) = exp(s_l(sigma)) / (sigma + eps)``: noise-dependent scales, ``s_l`` a
  linear spline in ``log sigma`` (constant outside its knots); ``sigma`` is the noise
  standard deviation on the image scaled to a peak of about 1.

Gradient: ``grad R(x) = sum_l W_l^T psi'(alpha_l W_l x) / alpha_l``; its Lipschitz
constant is at most ``||W||^2 * max psi''`` (stored with the weights, computed once at
training time). Here the filters act through FFTs on the array's own (periodic) domain:
one forward FFT of ``x``, L inverse FFTs for ``W x``, L forward FFTs of the channels'
``psi'`` and one inverse FFT for ``W^T``. NumPy/SciPy only.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from scipy import fft as sfft

from ..base.validation import FLOAT
from .threads import fft_workers

#: The arrays a weights file holds (``np.load`` of ``garl_*.npz``).
WEIGHT_KEYS = ("filters", "psi_values", "psi_step", "log_sigma_knots", "s_values", "lam",
               "eps", "lipschitz", "mu")


@dataclasses.dataclass(frozen=True)
class RidgeWeights:
    """The learned parameters (see the module docstring)."""

    filters: np.ndarray          # (L, *k): zero-mean correlation filters
    psi_values: np.ndarray       # (K + 1,): psi'(k h), psi_values[0] = 0
    psi_step: float              # h
    log_sigma_knots: np.ndarray  # (M,): knots of s_l in log sigma
    s_values: np.ndarray         # (L, M): s_l at the knots
    lam: float                   # the denoiser's regularisation weight
    eps: float                   # alpha's floor on sigma
    lipschitz: float             # Lipschitz bound of grad R: ||W||^2 max psi''
    mu: float                    # weak-convexity modulus bound of psi (-min psi'')

    @property
    def ndim(self) -> int:
        return self.filters.ndim - 1

    @property
    def channels(self) -> int:
        return self.filters.shape[0]

    def alphas(self, sigma: float) -> np.ndarray:
        """alpha_l(sigma) for every channel (float64)."""
        ls = np.log(max(float(sigma), 1e-12))
        s = np.array([np.interp(ls, self.log_sigma_knots, row) for row in self.s_values])
        return np.exp(s) / (float(sigma) + self.eps)

    def arrays(self) -> dict:
        return {k: np.asarray(getattr(self, k)) for k in WEIGHT_KEYS}

    def checksum(self) -> str:
        return weights_checksum(self.arrays())


def weights_checksum(arrays: dict) -> str:
    """sha256 over the weights' values (keys sorted, float64 little-endian): the same
    for the same numbers, whatever file format holds them."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        if k not in WEIGHT_KEYS:
            continue
        a = np.ascontiguousarray(np.asarray(arrays[k], dtype="<f8"))
        h.update(k.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def weights_from_arrays(arrays) -> RidgeWeights:
    missing = [k for k in WEIGHT_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"ridge weights: missing {missing}")
    a = {k: np.asarray(arrays[k], dtype=np.float64) for k in WEIGHT_KEYS}
    w = RidgeWeights(filters=a["filters"], psi_values=a["psi_values"],
                     psi_step=float(a["psi_step"]), log_sigma_knots=a["log_sigma_knots"],
                     s_values=a["s_values"], lam=float(a["lam"]), eps=float(a["eps"]),
                     lipschitz=float(a["lipschitz"]), mu=float(a["mu"]))
    if w.filters.ndim not in (3, 4) or w.s_values.shape != (w.channels,
                                                             w.log_sigma_knots.size):
        raise ValueError(f"ridge weights: filters {w.filters.shape}, s_values "
                         f"{w.s_values.shape}, knots {w.log_sigma_knots.shape} do not fit")
    return w


def psi_prime(t: np.ndarray, values: np.ndarray, step: float) -> np.ndarray:
    """The odd linear spline psi'(t) (float32 for float32 input)."""
    knots = np.arange(values.size) * step
    out = np.interp(np.abs(t), knots, values).astype(t.dtype, copy=False)
    out *= np.sign(t)
    return out


def psi(t: np.ndarray, values: np.ndarray, step: float) -> np.ndarray:
    """The even potential psi(t) = integral_0^|t| psi' (piecewise quadratic; linear
    beyond the last knot), float64."""
    a = np.abs(np.asarray(t, dtype=np.float64))
    v = np.asarray(values, dtype=np.float64)
    k = v.size - 1
    cum = np.concatenate(([0.0], np.cumsum(0.5 * step * (v[1:] + v[:-1]))))
    i = np.minimum((a / step).astype(np.int64), k - 1)
    r = a - i * step
    slope = (v[i + 1] - v[i]) / step
    inside = cum[i] + v[i] * r + 0.5 * slope * r * r
    beyond = cum[k] + v[k] * (a - k * step)
    return np.where(a <= k * step, inside, beyond)


def filter_spectra(filters: np.ndarray, shape, axes) -> np.ndarray:
    """rFFT of each filter centred at the origin on ``shape`` (the ``axes`` of the data),
    shape (L, 1..., *rfft shape), broadcast over the other axes of the data. An axis
    shorter than the filter wraps it (circular correlation on that axis)."""
    nd = filters.ndim - 1
    sub = tuple(shape[a] for a in axes)
    big = np.zeros((filters.shape[0],) + sub, dtype=np.float64)
    k = filters.shape[1:]
    idx = np.meshgrid(*[(np.arange(kk) - kk // 2) % n for kk, n in zip(k, sub, strict=True)],
                      indexing="ij")
    for c in range(filters.shape[0]):
        np.add.at(big[c], tuple(idx), filters[c])
    spec = sfft.rfftn(big, axes=tuple(range(1, nd + 1)))
    lead = len(shape) - nd
    return spec.reshape((spec.shape[0],) + (1,) * lead + spec.shape[1:]).astype(np.complex64)


def spectral_norm2(filters: np.ndarray, grid: int = 64) -> float:
    """||W||_2^2 = max over frequencies of sum_l |W_l(w)|^2 (on a ``grid``-point grid per
    axis, fine enough for small filters)."""
    nd = filters.ndim - 1
    spec = filter_spectra(filters, (grid,) * nd, tuple(range(nd)))
    return float(np.max(np.sum(np.abs(spec.astype(np.complex128)) ** 2, axis=0)))


class RidgeRegulariser:
    """R and grad R of :class:`RidgeWeights` at noise level ``sigma`` on arrays of one
    ``shape`` (periodic boundaries: pad the data first). The filters act on the last
    ``weights.ndim`` axes (2-D filters on each plane of a stack)."""

    def __init__(self, weights: RidgeWeights, shape, sigma: float, workers=None):
        self.w = weights
        self.shape = tuple(int(n) for n in shape)
        nd = weights.ndim
        if len(self.shape) < nd:
            raise ValueError(f"{nd}-D filters need data of at least {nd} dimensions, "
                             f"got shape {self.shape}")
        self.axes = tuple(range(len(self.shape) - nd, len(self.shape)))
        self.spec = filter_spectra(weights.filters, self.shape, self.axes)
        self.spec_conj = np.conj(self.spec)
        self.sigma = float(sigma)
        self.alpha = weights.alphas(sigma).astype(np.float32)
        self.workers = fft_workers(workers)
        self._s = [self.shape[a] for a in self.axes]

    def responses(self, x: np.ndarray):
        """Yields (c, W_c x) for each channel (float32)."""
        xs = sfft.rfftn(np.asarray(x, dtype=FLOAT), axes=self.axes, workers=self.workers)
        for c in range(self.w.channels):
            yield c, sfft.irfftn(xs * self.spec_conj[c], s=self._s, axes=self.axes,
                                 workers=self.workers).astype(FLOAT, copy=False)

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad R(x) = sum_l W_l^T psi'(alpha_l W_l x) / alpha_l (float32, x's shape)."""
        acc = None
        v, h = self.w.psi_values, self.w.psi_step
        for c, r in self.responses(x):
            a = self.alpha[c]
            r *= a
            g = psi_prime(r, v, h)
            g *= FLOAT(1.0 / a)
            gs = sfft.rfftn(g, axes=self.axes, workers=self.workers)
            gs *= self.spec[c]
            if acc is None:
                acc = gs
            else:
                acc += gs
        return sfft.irfftn(acc, s=self._s, axes=self.axes, workers=self.workers,
                           overwrite_x=True).astype(FLOAT, copy=False)

    def energy(self, x: np.ndarray) -> float:
        """R(x) (float64 sum)."""
        tot = 0.0
        v, h = self.w.psi_values, self.w.psi_step
        for c, r in self.responses(x):
            a = float(self.alpha[c])
            tot += float(np.sum(psi(a * r.astype(np.float64), v, h))) / a ** 2
        return tot


def denoise(z: np.ndarray, weights: RidgeWeights, sigma: float, iterations: int = 20,
            workers=None) -> np.ndarray:
    """The learned denoiser: ``iterations`` accelerated gradient steps on
    ``1/2 ||x - z||^2 + lam R_sigma(x)`` from ``z`` (step ``1 / (1 + lam L)``), the
    same iteration the weights were trained with (periodic boundaries)."""
    reg = RidgeRegulariser(weights, np.shape(z), sigma, workers)
    z = np.asarray(z, dtype=FLOAT)
    lam = FLOAT(weights.lam)
    step = FLOAT(1.0 / (1.0 + weights.lam * weights.lipschitz))
    x = z.copy()
    xp = x
    t = 1.0
    for _ in range(iterations):
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        v = x + FLOAT((t - 1) / t_next) * (x - xp)
        g = reg.grad(v)
        g *= lam
        g += v - z
        xp, x = x, v - step * g
        t = t_next
    return x
