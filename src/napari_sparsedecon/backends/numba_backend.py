"""CPU backend with fused, multi-threaded element-wise passes (numba).

The sparse-Hessian iteration is one DCT pair (the g-step, scipy.fft on every core, as
in the NumPy reference) plus the Bregman update of up to seven L1 terms. The NumPy
reference writes that update as ~40 whole-array NumPy passes on one core; here it is
two fused passes over the array, split across threads by rows:

1. for each voxel, every term's ``v = b + K g`` (from g's neighbours), stored in place
   of b: the shrinkage ``b_new = clip(v, -1, 1)`` and ``t = w (v - 2 b_new)`` are
   recomputed from v where they are needed, so no scratch array is kept;
2. the next right-hand side ``fidelity f + sum_i K_i^T t_i`` (gathering neighbours).

Same objective, same iteration, same boundary rules as
:class:`~napari_sparsedecon.backends.numpy_backend.NumpySparseHessian` (tested equal
within float32 rounding). Term arrays are stored at the full shape (a mixed term's last
row/column stays zero), so one indexing scheme serves every term. RL plans are the
NumPy reference's (RL is FFT-bound; its element-wise work is a few passes).

numba is optional: without it this backend is not available and says so. Kernels are
compiled on first use and cached on disk (``cache=True``, :mod:`._numba_kernels`): ~20 s once
per machine here, then ~1.3 s to load per process.
"""

from __future__ import annotations

import numpy as np

from ..base.validation import FLOAT
from .numpy_backend import NumpyBackend, NumpyRegularised, NumpySparseHessian

_KERNELS: dict = {}


class NumbaUnavailable(RuntimeError):
    """numba is not installed (or failed to import)."""


def _kernels():
    """(update2d, update3d), compiled lazily (importing numba costs ~0.3 s)."""
    if _KERNELS:
        return _KERNELS["update2d"], _KERNELS["update3d"]
    from ..base.signals import deferred_signals

    try:
        with deferred_signals():  # a signal inside LLVM's init aborts the process
            import numba  # noqa: F401
    except Exception as err:  # noqa: BLE001 - missing or broken install
        raise NumbaUnavailable(f"backend 'numba' needs the numba package "
                               f"(pip install numba): {err}") from None
    with deferred_signals():
        from . import _numba_kernels as k

    update2d, update3d, divide3d = k.update2d, k.update3d, k.divide3d

    # Load (or compile) every kernel now, then give Python its signal handlers back:
    # LLVM, which numba runs in-process, installs its own SIGINT/SIGTERM/SIGHUP
    # handlers when it first runs, and with them a Ctrl-C during a run could be lost
    # (seen: `run --backend numba` ran to the end after SIGINT).
    f2, f3 = np.zeros((2, 2), FLOAT), np.zeros((2, 2, 2), FLOAT)
    update2d(f2, f2, np.zeros((4, 2, 2), FLOAT), np.zeros(4, FLOAT), FLOAT(1), f2.copy())
    update3d(f3, f3, np.zeros((7, 2, 2, 2), FLOAT), np.zeros(7, FLOAT), FLOAT(1), f3.copy())
    divide3d(f3.copy(), np.zeros(2), np.zeros(2), np.zeros(2), 1.0)
    _restore_signal_handlers()
    _KERNELS.update(update2d=update2d, update3d=update3d, divide3d=divide3d)
    return update2d, update3d


def _reg_kernels():
    """The regularised plan's kernels (:mod:`._numba_reg_kernels`), loaded on first use."""
    if "reg" not in _KERNELS:
        _kernels()  # numba present (or the reason why not)
        from . import _numba_reg_kernels as k

        f = np.ones(16, FLOAT)
        dims = np.array([1, 1, 4, 4], np.int64)
        k.extrapolate(f, f, f.copy(), 0.5, 1e-3)
        k.ratio_chi2(f.copy(), f, f, True, 0.0, f, True, 1e-3)
        z4 = np.zeros(4, FLOAT)
        k.update_hessian_rows(f, f, f, f, f.copy(), dims, z4, np.zeros((4, 4), FLOAT), 1.0,
                              True, 1.0, 0.0, 1e-3)
        k.update_tv_rows(f, f, f, f, f.copy(), dims, z4, 1.0, True, 1.0, 0.0, 1e-3)
        k.update_hessian_planes(f, f, f, f, f.copy(), dims, z4, np.zeros((4, 4), FLOAT),
                                1.0, True, 1.0, 0.0, 1e-3, 2)
        _restore_signal_handlers()
        _KERNELS["reg"] = k
    return _KERNELS["reg"]


def _restore_signal_handlers() -> None:
    """Re-install Python's handlers (as Python knows them) for the signals a run must
    answer, over any a native library installed behind Python's back (main thread
    only: signals are set there)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        h = signal.getsignal(sig)
        if h is not None:
            signal.signal(sig, h)


#: kernel slot of each (kind, axes) term, per dimensionality (axes as in hessian_terms)
_SLOTS = {
    2: {("second", (0,)): 0, ("second", (1,)): 1, ("mixed", (0, 1)): 2, ("identity", ()): 3},
    3: {("second", (1,)): 0, ("second", (2,)): 1, ("mixed", (1, 2)): 2, ("second", (0,)): 3,
        ("mixed", (0, 1)): 4, ("mixed", (0, 2)): 5, ("identity", ()): 6},
}


class NumbaSparseHessian(NumpySparseHessian):
    """The NumPy reference plan with its Bregman update fused into two threaded passes."""

    def __init__(self, shape, *, fidelity, sparsity, continuity, workers=None):
        super().__init__(shape, fidelity=fidelity, sparsity=sparsity, continuity=continuity,
                         workers=workers)
        self._update2d, self._update3d = _kernels()
        slots = _SLOTS[self.ndim]
        self._w = np.zeros(len(slots), dtype=FLOAT)
        for kind, axes, w in self.terms:
            self._w[slots[(kind, axes)]] = w
        # full-shape term arrays holding each term's last v = b + K g (b = clip(v) and
        # t = w (v - 2 clip(v)) are recomputed from it where needed: no scratch arrays)
        del self._bufs, self._spare
        self._b3 = np.zeros((len(slots),) + self.shape, dtype=FLOAT)
        self._rhs = np.empty(self.shape, dtype=FLOAT)

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        if self.ndim == 2:  # one small precomputed table: the NumPy path is one pass
            return self.solver.solve(rhs)
        from scipy import fft as sfft

        sv = self.solver
        spec = sfft.dctn(rhs, type=2, norm="ortho", workers=sv.workers, overwrite_x=True)
        _KERNELS["divide3d"](spec, sv.ey, sv.ex, sv.et, float(sv.base))
        return sfft.idctn(spec, type=2, norm="ortho", workers=sv.workers, overwrite_x=True)

    def set_data(self, f: np.ndarray) -> None:
        super().set_data(np.ascontiguousarray(f, dtype=FLOAT))  # the kernels read rows

    def _reset_terms(self) -> None:
        self._b3.fill(0)

    def _update(self) -> None:
        import numba

        from ..ops.threads import current_threads

        numba.set_num_threads(max(1, min(current_threads(), numba.config.NUMBA_NUM_THREADS)))
        g = np.ascontiguousarray(self._g)
        rhs = self._rhs if self._rhs is not g else np.empty_like(g)
        kernel = self._update2d if self.ndim == 2 else self._update3d
        kernel(g, self._f, self._b3, self._w, FLOAT(self.fidelity), rhs)
        # the old g's buffer becomes the next rhs buffer (the solve consumes rhs)
        self._rhs = g
        self._g = rhs


def _set_threads() -> None:
    import numba

    from ..ops.threads import current_threads

    numba.set_num_threads(max(1, min(current_threads(), numba.config.NUMBA_NUM_THREADS)))


class NumbaRegularised(NumpyRegularised):
    """The reference regularised RL plan with its element-wise work in three fused,
    threaded passes per iteration (:mod:`._numba_reg_kernels`): the extrapolation; the
    background, floor, chi^2 and Poisson ratio; the prior's gradient (computed from the
    extrapolated point's neighbours, no array per term), the split-gradient update and
    the restart test. The two FFT pairs are scipy.fft's on every core, as in the
    reference. Buffers x, x_prev and v are made once and rotated; per iteration only
    the FFTs' outputs are new arrays.
    """

    def __init__(self, shape, psf, **kw):
        super().__init__(shape, psf, **kw)
        self._k = _reg_kernels()
        nd = len(self.shape)
        self._dims = np.array((1,) * (4 - nd) + tuple(self.pshape), np.int64)
        off = 4 - nd
        self._s2 = np.zeros(4, FLOAT)
        self._mx = np.zeros((4, 4), FLOAT)
        self._tvw = np.zeros(4, FLOAT)
        pr = self.prior
        self._kind = "none" if pr is None else pr.kind
        if self._kind == "hessian":
            for kind, axes, w in pr.terms:
                if kind == "2":
                    self._s2[axes[0] + off] += w
                else:
                    a, b = sorted(ax + off for ax in axes)
                    self._mx[a, b] += w
        elif self._kind == "tv":
            for a, w in pr.axes:
                self._tvw[a + off] = w
        self._e2 = float(pr.eps2) if pr is not None else 1.0

    def set_data(self, y, background=0.0) -> None:
        super().set_data(y, background)
        self.x = np.ascontiguousarray(self.x, dtype=FLOAT)
        self.x_prev = self.x.copy()  # its own buffer: the update writes the new x in it
        self._v = np.empty_like(self.x)
        self._yf = np.ascontiguousarray(self.y, dtype=FLOAT).reshape(-1)
        b = np.asarray(self.b, dtype=FLOAT)
        self._bf = np.ascontiguousarray(b).reshape(-1) if b.ndim else None
        self._b0 = float(b) if not b.ndim else 0.0
        if self.data_term == "lsq":
            self._wf = np.ascontiguousarray(self.w).reshape(-1)
            self._nd = np.ascontiguousarray(self.num_data, dtype=FLOAT).reshape(-1)
        self._floor = float(self.floor)

    def step(self) -> None:
        import math

        from scipy import fft as sfft

        from ..ops.threads import fft_workers

        self._check_open()
        _set_threads()
        k = self._k
        x, xp, v = self.x, self.x_prev, self._v
        xf, xpf, vf = x.reshape(-1), xp.reshape(-1), v.reshape(-1)
        if self.momentum and self.k > 0:
            t_next = (1 + math.sqrt(1 + 4 * self.t * self.t)) / 2
            beta = (self.t - 1) / t_next
        else:
            t_next, beta = 1.0, 0.0
        k.extrapolate(xf, xpf, vf, float(FLOAT(beta)), self._floor)
        workers, axes, s = fft_workers(self.workers), self.axes, [self.pshape[a] for a in self.axes]
        spec = sfft.rfftn(v, axes=axes, workers=workers)
        spec *= self.otf
        hv = sfft.irfftn(spec, s=s, axes=axes, workers=workers, overwrite_x=True)
        del spec
        hvf = hv.reshape(-1)
        poisson = self.data_term == "poisson"
        bf = self._bf if self._bf is not None else hvf
        wf = hvf if poisson else self._wf
        self.chi2 = k.ratio_chi2(hvf, self._yf, bf, self._bf is not None, self._b0, wf,
                                 poisson, self._floor) / hvf.size
        spec = sfft.rfftn(hv, axes=axes, workers=workers)
        del hv, hvf
        spec *= self.otf_conj
        a = sfft.irfftn(spec, s=s, axes=axes, workers=workers, overwrite_x=True)
        del spec
        af = np.ascontiguousarray(a, dtype=FLOAT).reshape(-1)
        ndf = af if poisson else self._nd
        lam = float(self.weight) if self.prior is not None else 0.0
        args = (vf, af, ndf, xf, xpf, self._dims)
        tail = (poisson, lam, float(self.sparsity), self._floor)
        if self._kind == "tv":
            dot = k.update_tv_rows(*args, self._tvw, self._e2, *tail)
        elif self._dims[1] > 1:  # volumes: plane by plane, one chunk of planes per thread
            import numba

            dot = k.update_hessian_planes(*args, self._s2, self._mx, self._e2, *tail,
                                          numba.get_num_threads())
        else:  # 2-D: row by row (one plane cannot be split into chunks of planes)
            dot = k.update_hessian_rows(*args, self._s2, self._mx, self._e2, *tail)
        if self.momentum and self.k > 0 and dot < 0:
            t_next = 1.0  # adaptive restart: the step turned against the momentum
        self.t = t_next
        self.x_prev, self.x = x, xp  # xp's buffer now holds the new estimate
        self.k += 1


class NumbaBackend(NumpyBackend):
    """NumPy reference with the sparse step's element-wise passes fused (numba)."""

    name = "numba"
    device_name = "CPU (numba, fused threaded passes + scipy.fft)"

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        _kernels()  # fails here, with the reason, when numba is missing

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity):
        return NumbaSparseHessian(shape, fidelity=fidelity, sparsity=sparsity,
                                  continuity=continuity, workers=self.workers)

    def regularised_plan(self, shape, psf, *, prior, weight, sparsity=0.0, continuity=0.0,
                         t_continuity=0.0, aspect=1.0, eps=1.0, data_term="poisson"):
        """:meth:`NumpyBackend.regularised_plan` with fused, threaded passes."""
        return NumbaRegularised(shape, psf, prior=prior, weight=weight, sparsity=sparsity,
                                continuity=continuity, t_continuity=t_continuity,
                                aspect=aspect, eps=eps, data_term=data_term,
                                workers=-1 if self.workers is None else self.workers)


def make_numba_backend(device=None) -> NumbaBackend:
    """The registry's factory (``device`` is ignored: the CPU)."""
    return NumbaBackend()
