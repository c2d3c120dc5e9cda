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
from .numpy_backend import NumpyBackend, NumpySparseHessian

_KERNELS: dict = {}


class NumbaUnavailable(RuntimeError):
    """numba is not installed (or failed to import)."""


def _kernels():
    """(update2d, update3d), compiled lazily (importing numba costs ~0.3 s)."""
    if _KERNELS:
        return _KERNELS["update2d"], _KERNELS["update3d"]
    try:
        import numba  # noqa: F401
    except Exception as err:  # noqa: BLE001 - missing or broken install
        raise NumbaUnavailable(f"backend 'numba' needs the numba package "
                               f"(pip install numba): {err}") from None
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


def make_numba_backend(device=None) -> NumbaBackend:
    """The registry's factory (``device`` is ignored: the CPU)."""
    return NumbaBackend()
