"""Camera noise model: offset, gain and read noise, given or estimated.

Model (per pixel, data in ADU after the offset is removed):

    y = gain * (Poisson(s) + N(0, read_noise^2))        (s in photo-electrons)
    var(y) = gain * E[y] + (gain * read_noise)^2

Estimate (Poisson-Gaussian fit): a separable high-pass ``[1,-2,1]/sqrt(6)`` in Y
and X (unit noise gain, blind to locally linear signal) gives per-pixel noise
samples; a 5x5 box mean gives the local level. Pixels are binned by level
(quantile bins), each bin's variance is taken robustly (lower quartile of the squared samples), and
``var = a * level + c`` is fitted by weighted least squares: gain = a,
read noise = sqrt(c) / a. When the levels span too little to separate the two
terms, the read noise is taken as 0 and the gain from the mean ratio, and the
estimate says so.

The likelihoods use the shifted-Poisson approximation: ``y/gain + rn^2`` is
treated as Poisson with mean ``H x + b/gain + rn^2``, which accepts the
negative values of offset-subtracted data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..base.validation import FLOAT

#: 25th percentile of the chi^2 distribution with one degree of freedom
CHI2_1_Q25 = 0.10153104

@dataclass(frozen=True)
class CameraModel:
    """What the likelihood uses; ``estimated`` lists the values fitted from the data."""

    offset: float
    gain: float
    read_noise: float
    estimated: tuple = ()
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["estimated"] = list(self.estimated)
        return d


def noise_samples(y: np.ndarray):
    """(level, noise sample) pairs of a (..., Y, X) float array (2-D planes)."""
    k = np.array([1.0, -2.0, 1.0], np.float32) / np.float32(np.sqrt(6.0))
    r = ndimage.correlate1d(y, k, axis=-1, mode="reflect")
    r = ndimage.correlate1d(r, k, axis=-2, mode="reflect")
    size = (1,) * (y.ndim - 2) + (5, 5)
    m = ndimage.uniform_filter(y, size=size, mode="reflect")
    # drop the border, where reflection correlates the samples
    inner = (slice(None),) * (y.ndim - 2) + (slice(2, -2), slice(2, -2))
    return m[inner].ravel(), r[inner].ravel()


def estimate_gain_read(y: np.ndarray, *, bins: int = 16, max_samples: int = 2_000_000):
    """Fit ``var = gain * level + (gain * read_noise)^2``; return (gain, read_noise, note)."""
    level, r = noise_samples(np.asarray(y, dtype=FLOAT))
    if level.size > max_samples:
        idx = np.random.default_rng(0).choice(level.size, max_samples, replace=False)
        level, r = level[idx], r[idx]
    edges = np.unique(np.quantile(level, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, len(edges) - 2)
    lv, var, cnt = [], [], []
    for b in range(len(edges) - 1):
        sel = which == b
        n = int(sel.sum())
        if n < 50:
            continue
        # lower quartile of r^2 / its chi^2_1 value: structure left in the
        # high-pass only adds large samples, so the low quantile resists it
        q = float(np.quantile(r[sel] ** 2, 0.25))
        lv.append(float(np.median(level[sel])))
        var.append(q / CHI2_1_Q25)
        cnt.append(n)
    lv, var, cnt = map(np.asarray, (lv, var, cnt))
    if lv.size == 0 or not np.isfinite(var).all() or var.max() <= 0:
        return 1.0, 0.0, "too few samples to estimate the noise; assumed gain 1, read noise 0"
    # Weighted fit; the upper bins hold most structure (residual signal), so they
    # get less weight through a robust second pass.
    w = np.sqrt(cnt)
    span = lv.max() - lv.min()
    if lv.size >= 3 and span > 0.5 * max(abs(lv).max(), 1e-30):
        a, c = np.polyfit(lv, var, 1, w=w)
        res = np.abs(var - (a * lv + c))
        keep = res <= 3 * np.median(res) + 1e-30
        if keep.sum() >= 3:
            a, c = np.polyfit(lv[keep], var[keep], 1, w=w[keep])
        if a > 0:
            c = max(float(c), 0.0)
            return float(a), float(np.sqrt(c) / a), "Poisson-Gaussian fit over " \
                f"{lv.size} intensity bins ({lv.min():.4g} to {lv.max():.4g})"
    mean = float(np.average(lv, weights=cnt))
    v = float(np.average(var, weights=cnt))
    if mean > 0:
        return v / mean, 0.0, ("intensity range too narrow to separate gain and read noise; "
                               "read noise taken as 0, gain = variance / mean")
    return 1.0, float(np.sqrt(v)), ("mean level <= 0: gain taken as 1, all the noise as "
                                    "read noise")


def camera_model(y: np.ndarray, *, offset: float = 0.0, gain: float | None = None,
                 read_noise: float | None = None) -> CameraModel:
    """The camera model for data ``y`` (ADU), estimating what is not given."""
    est, note = [], ""
    if gain is None or read_noise is None:
        g, rn, note = estimate_gain_read(np.asarray(y, dtype=FLOAT) - FLOAT(offset))
        if gain is None:
            est.append("gain")
            gain = g
        else:  # keep the fitted total variance at the mean level: rn from the fit
            rn = rn * g / gain
        if read_noise is None:
            est.append("read_noise")
            read_noise = rn
    return CameraModel(float(offset), float(gain), float(read_noise), tuple(est), note)


def to_photons(y: np.ndarray, cam: CameraModel) -> np.ndarray:
    """Shifted-Poisson data in photo-electrons: ``max((y - offset)/gain + rn^2, 0)`` (in place)."""
    y -= FLOAT(cam.offset)
    y *= FLOAT(1.0 / cam.gain)
    y += FLOAT(cam.read_noise ** 2)
    np.maximum(y, 0, out=y)
    return y


#: Percentile of the PSF-smoothed data taken as the background in each block: low
#: enough that structure covering most of a block does not lift it, high enough
#: that the minimum of the noise does not pull it far down.
BACKGROUND_PERCENTILE = 20.0
#: Block edge, in PSF FWHMs (and never under 8 pixels).
BACKGROUND_BLOCK_FWHM = 8.0


def smooth_background(y: np.ndarray, fwhm_px) -> np.ndarray:
    """A smooth background map of photon data ``y`` (a low envelope under the structure).

    ``fwhm_px``: the PSF FWHM per axis of its last ``len(fwhm_px)`` axes. The data
    are smoothed by the PSF, each plane is cut into blocks of
    ``BACKGROUND_BLOCK_FWHM`` FWHMs, the ``BACKGROUND_PERCENTILE``-th percentile of
    every block is interpolated linearly between block centres and the map is
    smoothed by half a block. Where structure fills most of a block the map is
    lifted towards it; elsewhere it sits a little under the mean background (the
    percentile of the smoothed noise), so the likelihood sees all of the object.
    Leading axes beyond the PSF's (time) are estimated plane by plane.
    """
    y = np.asarray(y, dtype=FLOAT)
    fwhm = [float(f) for f in np.atleast_1d(fwhm_px)]
    nd = y.ndim
    sig = [0.0] * (nd - len(fwhm)) + [max(f, 0.5) / 2.3548200450309493 for f in fwhm]
    s = ndimage.gaussian_filter(y, sig, mode="reflect")
    lat = max(fwhm[-2:]) if len(fwhm) >= 2 else fwhm[-1]
    b = int(max(8, round(BACKGROUND_BLOCK_FWHM * lat)))
    ny, nx = s.shape[-2:]
    gy, gx = max(1, round(ny / b)), max(1, round(nx / b))
    ey = np.linspace(0, ny, gy + 1).round().astype(int)
    ex = np.linspace(0, nx, gx + 1).round().astype(int)
    grid = np.empty(s.shape[:-2] + (gy, gx), dtype=np.float64)
    for i in range(gy):
        for j in range(gx):
            blk = s[..., ey[i]:ey[i + 1], ex[j]:ex[j + 1]]
            grid[..., i, j] = np.percentile(blk.reshape(blk.shape[:-2] + (-1,)),
                                            BACKGROUND_PERCENTILE, axis=-1)
    cy, cx = (ey[:-1] + ey[1:] - 1) / 2, (ex[:-1] + ex[1:] - 1) / 2
    # separable linear interpolation between block centres (constant beyond them)
    ry, rx = np.arange(ny), np.arange(nx)
    tmp = np.apply_along_axis(lambda v: np.interp(ry, cy, v), -2, grid)
    out = np.apply_along_axis(lambda v: np.interp(rx, cx, v), -1, tmp)
    out = ndimage.gaussian_filter(out, [0.0] * (nd - 2) + [b / 2, b / 2], mode="nearest")
    np.maximum(out, 0, out=out)
    return out.astype(FLOAT)


def estimate_noise_sigma(image) -> float:
    """Robust noise standard deviation from the MAD of a high-pass (Laplacian) image."""
    a = np.asarray(image, dtype=np.float64)
    k = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    hp = ndimage.convolve(a if a.ndim == 2 else a.reshape(-1, a.shape[-1]), k, mode="reflect")
    mad = np.median(np.abs(hp - np.median(hp)))
    return float(1.4826 * mad / np.sqrt((k**2).sum()))
