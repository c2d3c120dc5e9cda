"""The project's own simulated fluorescence objects for training GARL (NumPy/SciPy).

Planes and volumes made of tubes of random radii (hollow or filled), thin filaments
(smooth random curves), points, rings (shells in 3-D) and blobs, drawn at a random,
anisotropic resolution (a Gaussian blur of random FWHM per axis, from sharp to a few
pixels) and scaled to a peak of 1. Nothing here is read from another project.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FWHM_PER_SIGMA = 2.3548200450309493


def _curve(rng, shape, n=None):
    """A smooth random curve through the box: points (N, ndim) about one pixel apart."""
    nd = len(shape)
    n = n or int(3 * max(shape))
    p = rng.uniform(0, 1, nd) * np.array(shape)
    d = rng.normal(size=nd)
    d /= np.linalg.norm(d)
    pts = []
    curv = rng.uniform(0.0, 0.25)
    for _ in range(n):
        pts.append(p.copy())
        d = d + curv * rng.normal(size=nd)
        d /= np.linalg.norm(d)
        p = p + 0.5 * d
    return np.array(pts)


def _splat(img, pts, w):
    idx = np.round(pts).astype(int)
    ok = np.all((idx >= 0) & (idx < np.array(img.shape)), axis=1)
    w = np.broadcast_to(np.asarray(w, dtype=np.float64), (len(pts),))
    np.add.at(img, tuple(idx[ok].T), w[ok])


def _dist_field(shape, pts):
    """Distance of every pixel to the nearest point of ``pts`` (EDT on a marker image)."""
    m = np.ones(shape, dtype=bool)
    idx = np.round(pts).astype(int)
    ok = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
    if not ok.any():
        return np.full(shape, np.inf)
    m[tuple(idx[ok].T)] = False
    return ndimage.distance_transform_edt(m)


def _grid(shape):
    return np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape],
                                indexing="ij"), axis=-1)


def make_object(shape, rng, kinds=None) -> np.ndarray:
    """One object (float64, peak 1 before blur) with a random mixture of structures."""
    nd = len(shape)
    img = np.zeros(shape)
    kinds = kinds or ("tube", "filament", "point", "ring", "blob")
    chosen = rng.choice(kinds, size=rng.integers(2, 5))
    g = None
    for kind in chosen:
        amp = rng.uniform(0.3, 1.0)
        if kind == "filament":
            for _ in range(rng.integers(1, 5)):
                t = np.zeros(shape)
                _splat(t, _curve(rng, shape), 1.0)
                img += amp * np.minimum(t, 1.0)
        elif kind == "tube":
            for _ in range(rng.integers(1, 4)):
                r = rng.uniform(0.8, 4.0)
                dist = _dist_field(shape, _curve(rng, shape))
                if rng.random() < 0.4 and r > 2:  # a hollow tube: bright wall
                    img += amp * np.exp(-0.5 * ((dist - r) / 0.6) ** 2)
                else:
                    img += amp * (dist <= r)
        elif kind == "point":
            n = rng.integers(3, 30)
            pts = rng.uniform(0, 1, (n, nd)) * np.array(shape)
            t = np.zeros(shape)
            _splat(t, pts, rng.uniform(0.3, 1.0, n))
            img += t
        elif kind in ("ring", "blob"):
            if g is None:
                g = _grid(shape)
            for _ in range(rng.integers(1, 5)):
                c = rng.uniform(0, 1, nd) * np.array(shape)
                r = rng.uniform(2.0, max(3.0, min(shape[-2:]) / 4))
                ax = rng.uniform(0.6, 1.4, nd)
                d = np.sqrt(np.sum(((g - c) / ax) ** 2, axis=-1))
                if kind == "ring":
                    img += amp * np.exp(-0.5 * ((d - r) / rng.uniform(0.5, 1.5)) ** 2)
                else:
                    img += amp * np.exp(-0.5 * (d / r) ** 2)
    return img


def make_sample(shape, rng) -> np.ndarray:
    """A clean training image: an object at a random anisotropic resolution, peak 1,
    on a faint constant or zero floor (float32)."""
    nd = len(shape)
    obj = make_object(shape, rng)
    fwhm = rng.uniform(0.0, 3.0, nd)
    if nd == 3:
        fwhm[0] = rng.uniform(0.0, 4.0)  # axial: often coarser
    sig = fwhm / FWHM_PER_SIGMA
    x = ndimage.gaussian_filter(obj, sig, mode="wrap") if np.any(sig > 0.2) else obj
    x = x / max(float(x.max()), 1e-12)
    x += rng.uniform(0.0, 0.1) * (rng.random() < 0.5)
    return (x / x.max()).astype(np.float32)


def make_set(n, shape, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([make_sample(shape, rng) for _ in range(n)])
