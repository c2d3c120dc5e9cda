"""The NumPy/SciPy reference backend: every other backend is tested against it.

Sparse-Hessian step
-------------------
Split Bregman with one auxiliary/Bregman pair per term of

    (fidelity/2)||f - g||^2 + ||g_yy|| + ||g_xx|| + 2||g_xy||
    + c||g_tt|| + 2 sqrt(c)(||g_ty|| + ||g_tx||) + sparsity ||g||      (L1 norms)

with per-term penalty equal to the term's weight w_i, so every shrink
threshold is 1 (f is scaled to max 1). Boundaries are mirror (half-sample
symmetric) on every axis. With those boundaries the normal operator

    fidelity + sparsity + sum_i w_i K_i^T K_i

is diagonalised *exactly* by the type-II DCT, so the g-step is one DCT pair
on the unpadded array: no padded copies, no wrap-around between opposite
edges. With the paper's weights its eigenvalues collapse to
``fidelity + sparsity + (e_y + e_x + sqrt(c) e_t)^2`` with
``e = 2 - 2 cos(pi k / n)`` per axis, computed plane by plane.

Memory: besides f and g, one buffer per term and one spare (about 10x the
input for 3-D data, 7x for 2-D). The Bregman update is written as
``b <- clip(K g + b, -1, 1)`` and ``d - b <- (K g + b) - 2 clip(...)``, which
needs no separate d arrays.

Richardson-Lucy
---------------
Circular FFT convolution on the data mirror-padded by half the PSF size and
then to an FFT-friendly size; with a PSF summing to 1, H^T 1 = 1 on that
domain, so no normalisation image is needed.
"""

from __future__ import annotations

import numpy as np

from ..base.validation import FLOAT
from ..ops.hessian import DCTSolver, hessian_terms, term_shape
from ..ops.padding import fft_convolve, mirror_pad, rl_geometry, rl_start
from ..ops.regularised import RegularisedRLPlan
from ..ops.threads import fft_workers
from .base import PlanBase


def _sl(ndim: int, axis: int, s: slice) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = s
    return tuple(idx)


HEAD = slice(None, -1)
TAIL = slice(1, None)


class NumpySparseHessian(PlanBase):
    """Plan for the sparse-Hessian split-Bregman iteration on one array shape.

    Use: ``plan.set_data(f)``, then ``plan.step()`` per iteration, then
    ``plan.result()``.
    """

    def __init__(self, shape, *, fidelity: float, sparsity: float, continuity: float,
                 workers: int | None = None):
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self.fidelity = float(fidelity)
        self.sparsity = float(sparsity)
        self.continuity = float(continuity) if self.ndim == 3 else 0.0
        self.workers = fft_workers(workers)
        self.terms = hessian_terms(self.ndim, self.continuity, self.sparsity)
        self.solver = DCTSolver(self.shape, fidelity=fidelity, sparsity=sparsity,
                                continuity=continuity, workers=self.workers)
        size = int(np.prod(self.shape))
        self._bufs = [np.zeros(size, dtype=FLOAT) for _ in self.terms]
        self._spare = np.empty(size, dtype=FLOAT)
        self._f = None
        self._g = None
        self._pending_update = False

    # -- views -------------------------------------------------------------
    @staticmethod
    def _view(buf, shape):
        return buf[: int(np.prod(shape))].reshape(shape)

    def _b(self, i):
        kind, axes, _ = self.terms[i]
        return self._view(self._bufs[i], term_shape(self.shape, kind, axes))

    # -- public ------------------------------------------------------------
    def set_data(self, f: np.ndarray) -> None:
        f = np.asarray(f, dtype=FLOAT)
        if f.shape != self.shape:
            raise ValueError(f"data shape {f.shape} does not match the plan's {self.shape}")
        self._f = f
        self._reset_terms()
        self._g = self.fidelity * f  # rhs of the first g-step (d = b = 0)
        self._pending_update = False

    def _reset_terms(self) -> None:
        for b in self._bufs:
            b.fill(0)

    def step(self) -> None:
        """One split-Bregman iteration: (Bregman update of the last g, then) the g-step."""
        self._check_open()
        if self._pending_update:
            self._update()
        self._g = self._solve(self._g)
        self._pending_update = True

    def result(self) -> np.ndarray:
        return self._g

    # -- internals ---------------------------------------------------------
    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        return self.solver.solve(rhs)

    def _update(self) -> None:
        g = self._g
        nd = self.ndim
        # Phase 1: v_i = b_i + K_i g, in place in each b_i.
        diff_axes = [nd - 1, nd - 2] + ([0] if nd == 3 else [])
        for a in diff_axes:
            dshape = list(self.shape)
            dshape[a] -= 1
            da = self._view(self._spare, tuple(dshape))
            np.subtract(g[_sl(nd, a, TAIL)], g[_sl(nd, a, HEAD)], out=da)
            for i, (kind, axes, _) in enumerate(self.terms):
                b = self._b(i)
                if kind == "second" and axes[0] == a:
                    b[_sl(nd, a, HEAD)] += da
                    b[_sl(nd, a, TAIL)] -= da
                elif kind == "mixed" and axes[1] == a:
                    q = axes[0]
                    # da has full length on q; the mixed term is D_q D_a g.
                    da_q = da
                    b += da_q[_sl(nd, q, TAIL)]
                    b -= da_q[_sl(nd, q, HEAD)]
        for i, (kind, _, _) in enumerate(self.terms):
            if kind == "identity":
                self._b(i)[...] += g
        # Phase 2: shrink/Bregman update and the next right-hand side, built in g's buffer.
        rhs = g
        np.multiply(self._f, self.fidelity, out=rhs)
        for i, (kind, axes, w) in enumerate(self.terms):
            shape = term_shape(self.shape, kind, axes)
            v = self._view(self._bufs[i], shape)
            bnew = self._view(self._spare, shape)
            np.clip(v, -1.0, 1.0, out=bnew)
            v -= bnew
            v -= bnew  # v is now (d - b_new) = v - 2 clip(v)
            v *= w
            t = v
            if kind == "identity":
                rhs += t
            elif kind == "second":
                (a,) = axes
                rhs[_sl(nd, a, TAIL)] += t[_sl(nd, a, HEAD)]
                rhs[_sl(nd, a, HEAD)] += t[_sl(nd, a, TAIL)]
                rhs -= t
                rhs -= t
                rhs[_sl(nd, a, slice(0, 1))] += t[_sl(nd, a, slice(0, 1))]
                rhs[_sl(nd, a, slice(-1, None))] += t[_sl(nd, a, slice(-1, None))]
            else:
                q, a = axes
                idx = [slice(None)] * nd
                for sq, sa, sign in ((TAIL, TAIL, 1), (TAIL, HEAD, -1),
                                     (HEAD, TAIL, -1), (HEAD, HEAD, 1)):
                    idx[q], idx[a] = sq, sa
                    if sign > 0:
                        rhs[tuple(idx)] += t
                    else:
                        rhs[tuple(idx)] -= t
            # The spare now holds b_new: swap buffers so the old one becomes the spare.
            self._bufs[i], self._spare = self._spare, self._bufs[i]
        self._g = rhs


class NumpyRichardsonLucy(PlanBase):
    """Plan for Richardson-Lucy (optionally Biggs-Andrews accelerated) on one shape.

    The PSF acts on the last ``psf.ndim`` axes; a 2-D PSF on 3-D data
    deconvolves each plane independently.
    """

    def __init__(self, shape, psf, *, background=0.0, acceleration=None, workers=None,
                 start="data"):
        self.shape = tuple(int(n) for n in shape)
        self.axes, self.widths, self.pshape, self.otf, self._crop = rl_geometry(shape, psf)
        self.start = start
        self.otf_conj = np.conj(self.otf)
        self.background = background
        self.acceleration = acceleration
        self.workers = fft_workers(workers)
        self.track_chi2 = False
        self.chi2 = float("nan")

    def _conv(self, x, otf):
        return fft_convolve(x, otf, self.axes, self.pshape, self.workers)

    def set_data(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=FLOAT)
        self.y = mirror_pad(y, self.widths)
        b = np.asarray(self.background, dtype=FLOAT)
        self.b = mirror_pad(np.broadcast_to(b, y.shape), self.widths) if b.ndim else b
        ymax = float(self.y.max())
        self.eps = FLOAT(max(ymax, 1e-30) * 1e-6)
        self.x = rl_start(self.y, self.b, self.eps, self.axes, self.start, self._crop)
        self.x_prev = None
        self.g1 = None
        self.g2 = None
        self._r = None  # chi^2 scratch, made once
        self.k = 0

    def _rl_update(self, x):
        hx = self._conv(x, self.otf)
        hx += self.b
        np.maximum(hx, self.eps, out=hx)
        if self.track_chi2:  # Pearson chi^2 per data pixel of the current fit (stopping
            # rule); not over the padding: its outer planes meet the far side (circular
            # convolution) and would be counted as misfit.
            c = self._crop
            if self._r is None:
                self._r = np.empty(self.shape, dtype=FLOAT)
            r = self._r
            np.subtract(self.y[c], hx[c], out=r)
            r *= r
            r /= hx[c]
            self.chi2 = float(r.mean())
        np.divide(self.y, hx, out=hx)
        corr = self._conv(hx, self.otf_conj)
        corr *= x
        np.maximum(corr, 0, out=corr)
        return corr

    def step(self) -> None:
        self._check_open()
        if self.acceleration is None:
            self.x = self._rl_update(self.x)
        else:  # "biggs": Biggs & Andrews (1997) first-order vector extrapolation
            x = self.x
            if self.x_prev is not None and self.g2 is not None:
                num = float(np.vdot(self.g1.ravel(), self.g2.ravel()))
                den = float(np.vdot(self.g2.ravel(), self.g2.ravel()))
                alpha = min(max(num / den, 0.0), 1.0) if den > 0 else 0.0
            else:
                alpha = 0.0
            # Buffers are recycled: x_prev is dropped at the end of this step, so the
            # extrapolated point is built in it; g2 is dropped too and takes the new g.
            # Only the two FFT outputs of the convolutions are new arrays.
            if alpha > 0:
                yk = np.subtract(x, self.x_prev, out=self.x_prev)
                yk *= FLOAT(alpha)
                yk += x
                np.maximum(yk, 0, out=yk)
            else:
                yk = x
            new = self._rl_update(yk)
            g = np.subtract(new, yk, out=self.g2)
            self.g2, self.g1 = self.g1, g
            self.x_prev = x
            self.x = new
        self.k += 1

    def result(self) -> np.ndarray:
        return self.x[self._crop].copy()  # a copy: x's buffer is recycled by step()

    def padded_estimate(self) -> np.ndarray:
        return self.x


#: The plan kinds a backend may offer (methods name the one they need; the registry
#: says which backends offer each, see ``registry.backends_offering``).
PLAN_KINDS = ("sparse_hessian_plan", "rl_plan", "regularised_plan")


class NumpyBackend:
    """Reference backend (NumPy + scipy.fft)."""

    name = "numpy"
    device_name = "CPU (NumPy/SciPy)"
    plan_kinds = PLAN_KINDS

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity):
        return NumpySparseHessian(shape, fidelity=fidelity, sparsity=sparsity,
                                  continuity=continuity, workers=self.workers)

    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None, start="data"):
        return NumpyRichardsonLucy(shape, psf, background=background,
                                   acceleration=acceleration, workers=self.workers,
                                   start=start)

    def regularised_plan(self, shape, psf, *, prior, weight, sparsity=0.0, continuity=0.0,
                         t_continuity=0.0, aspect=1.0, eps=1.0, data_term="poisson"):
        """The split-gradient accelerated RL plan of ``rl_tv`` / ``sparse_psf``:
        ``set_data(y, background)``, ``step()``, ``result()``, ``chi2``."""
        return NumpyRegularised(shape, psf, prior=prior, weight=weight, sparsity=sparsity,
                                continuity=continuity, t_continuity=t_continuity,
                                aspect=aspect, eps=eps, data_term=data_term,
                                workers=-1 if self.workers is None else self.workers)


class NumpyRegularised(PlanBase, RegularisedRLPlan):
    """The reference regularised RL plan (:class:`~..ops.regularised.RegularisedRLPlan`,
    behind ``rl_tv`` and ``sparse_psf``) with a plan's lifetime (``close()`` / ``with``)."""

    def step(self) -> None:
        self._check_open()
        RegularisedRLPlan.step(self)
