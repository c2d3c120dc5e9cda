"""OpenCL backend (pyopencl). Nothing here runs at import time.

``select_backend("opencl", device)`` returns an :class:`OpenCLBackend` or
raises :class:`OpenCLUnavailable` with the reason; ``"auto"`` uses OpenCL only
on a GPU and otherwise returns the NumPy backend, saying once (log warning)
which it chose and why.
"""

from __future__ import annotations

import logging

from .device import OpenCLUnavailable, list_devices

__all__ = ["OpenCLBackend", "OpenCLUnavailable", "list_devices", "select_backend"]

log = logging.getLogger("napari_sparsedecon")
_CACHE: dict = {}
_SAID: set = set()


class OpenCLBackend:
    name = "opencl"

    def __init__(self, device=None):
        from .device import context_and_queue, pick_device

        self.device = pick_device(device)
        self.ctx, self.queue = context_and_queue(self.device)
        self.device_name = f"{self.device.name.strip()} ({self.device.platform.name.strip()})"

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity):
        from .plans import OpenCLSparseHessian

        return OpenCLSparseHessian(self, shape, fidelity=fidelity, sparsity=sparsity,
                                   continuity=continuity)

    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None):
        from .plans import OpenCLRichardsonLucy

        return OpenCLRichardsonLucy(self, shape, psf, background=background,
                                    acceleration=acceleration)


def _say_once(msg):
    if msg not in _SAID:
        _SAID.add(msg)
        log.warning(msg)


def select_backend(name: str, device=None):
    key = (name, device)
    if key in _CACHE:
        return _CACHE[key]
    if name == "opencl":
        be = OpenCLBackend(device)
    else:  # auto
        from ..numpy_backend import NumpyBackend
        from .device import is_gpu

        try:
            be = OpenCLBackend(device)
        except OpenCLUnavailable as err:
            _say_once(f"backend 'auto': OpenCL unavailable ({err}); using NumPy on the CPU")
            be = NumpyBackend()
        else:
            if is_gpu(be.device):
                _say_once(f"backend 'auto': using OpenCL on {be.device_name}")
            else:
                _say_once(f"backend 'auto': {be.device_name} is not a GPU, and the NumPy "
                          f"path is as fast on a CPU; using NumPy")
                be = NumpyBackend()
    _CACHE[key] = be
    return be
