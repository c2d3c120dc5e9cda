"""Hessian operators of the sparse-Hessian prior and the DCT solver of its normal operator."""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft

from ..base.validation import FLOAT
from .threads import fft_workers


def dct_eigenvalues(n: int) -> np.ndarray:
    """Eigenvalues of D^T D (the negated mirror-boundary second difference) in the DCT-II basis."""
    k = np.arange(n, dtype=np.float64)
    return 2.0 - 2.0 * np.cos(np.pi * k / n)


def hessian_terms(ndim: int, continuity: float, sparsity: float):
    """The (kind, axes, weight) list of the objective's L1 terms for 2-D or 3-D data.

    Axis numbers are those of the array: for 3-D, axis 0 is t/z.
    """
    y, x = ndim - 2, ndim - 1
    terms = [("second", (y,), 1.0), ("second", (x,), 1.0), ("mixed", (y, x), 2.0)]
    if ndim == 3 and continuity > 0:
        c = float(continuity)
        terms += [
            ("second", (0,), c),
            ("mixed", (0, y), 2.0 * math.sqrt(c)),
            ("mixed", (0, x), 2.0 * math.sqrt(c)),
        ]
    if sparsity > 0:
        terms.append(("identity", (), float(sparsity)))
    return terms


def term_shape(shape, kind, axes):
    s = list(shape)
    if kind == "mixed":
        for a in axes:
            s[a] -= 1
    return tuple(s)


class DCTSolver:
    """The g-step: solve (fidelity + sparsity + sum_i w_i K_i^T K_i) g = rhs with a DCT pair.

    Eigenvalues ``fidelity + sparsity + (e_y + e_x + sqrt(c) e_t)^2``, divided plane by
    plane so no full-size denominator is stored (2-D: one small table).
    """

    def __init__(self, shape, *, fidelity, sparsity, continuity, workers=None):
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self.workers = fft_workers(workers)
        c = float(continuity) if self.ndim == 3 else 0.0
        self.ey = dct_eigenvalues(self.shape[-2])
        self.ex = dct_eigenvalues(self.shape[-1])
        self.e2d = self.ey[:, None] + self.ex[None, :]
        self.et = (math.sqrt(c) * dct_eigenvalues(self.shape[0]) if self.ndim == 3 and c > 0
                   else np.zeros(self.shape[0] if self.ndim == 3 else 1))
        self.base = float(fidelity) + float(sparsity)
        if self.ndim == 2:
            self._inv2d = (1.0 / (self.base + self.e2d**2)).astype(FLOAT)
            del self.e2d  # float64, twice the image: not kept (peak memory)
        else:  # one plane of the denominator, computed in float64 into reused buffers
            self._den64 = np.empty_like(self.e2d)
            self._den32 = np.empty(self.e2d.shape, dtype=FLOAT)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """g for ``rhs`` (overwrites ``rhs``)."""
        spec = sfft.dctn(rhs, type=2, norm="ortho", workers=self.workers, overwrite_x=True)
        if self.ndim == 2:
            spec *= self._inv2d
        else:
            den, den32 = self._den64, self._den32
            for t in range(self.shape[0]):
                np.add(self.e2d, self.et[t], out=den)
                den *= den
                den += self.base
                np.copyto(den32, den, casting="same_kind")
                spec[t] /= den32
        return sfft.idctn(spec, type=2, norm="ortho", workers=self.workers, overwrite_x=True)
