"""Blocks along one axis and their blending ramps (shared by every tiled runner).

A block is ((lo, hi) processed span, (a, b) kept core); neighbouring blocks overlap by
``overlap`` on each side and are blended with linear ramps that sum to one.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft


def _spans(n, step, overlap):
    """[(lo, hi) of the processed span, (a, b) of the kept core)] along one axis."""
    out = []
    for a in range(0, n, step):
        b = min(a + step, n)
        out.append(((max(a - overlap, 0), min(b + overlap, n)), (a, b)))
    return out


def _solve_spans(n, step, overlap):
    """:func:`_spans` with each processed span grown, inside the image, to a length whose
    DCT/FFT is fast (``scipy.fft.next_fast_len``).

    Tile sizes come from the memory budget and the image size, so spans of prime
    length were common (a 2048 px axis in 839 px tiles: 877, 915, 408 px); the
    sparse step's DCT pair on a prime length ran 4-5x slower per pixel than on a
    5-smooth one (measured: 877 px 168 ns/voxel, 900 px 38 ns). The grown part is
    extra context only: the blending ramps are zero more than overlap/2 outside a
    tile's core, so the weights (and :func:`_ramp_sum`) do not change.
    """
    spans = _spans(n, step, overlap)
    if overlap <= 0:  # no ramps: every processed pixel counts, spans must not grow
        return spans
    out = []
    for (lo, hi), core in spans:
        target = min(sfft.next_fast_len(hi - lo, real=True), n)
        lo2 = max(0, lo - (target - (hi - lo)) // 2)
        hi2 = min(n, lo2 + target)
        out.append(((max(0, hi2 - target), hi2), core))
    return out


def _ramp(n_total, lo, hi, a, b, overlap):
    """Blend weights along one axis for a tile spanning [lo, hi) with core [a, b)."""
    # The ramp spans [a - overlap/2, a + overlap/2): every pixel a tile
    # contributes to lies at least overlap/2 inside its processed span.
    x = np.arange(lo, hi, dtype=np.float64)
    w = np.ones_like(x)
    h = max(overlap / 2, 0.5)
    if overlap > 0:
        if a > 0:
            w = np.minimum(w, np.clip((x - (a - h) + 0.5) / (2 * h), 0, 1))
        if b < n_total:
            w = np.minimum(w, np.clip(((b + h) - x - 0.5) / (2 * h), 0, 1))
    return w


def _ramp_sum(n, step, overlap):
    """Sum of the blending ramps of all tiles along one axis (one, unless a tile is
    narrower than the overlap); dividing by it makes the weights a partition of unity."""
    total = np.zeros(n)
    for (lo, hi), (a, b) in _spans(n, step, overlap):
        total[lo:hi] += _ramp(n, lo, hi, a, b, overlap)
    return total
