"""Backends: one protocol, several implementations.

A backend makes *plans* for one array shape (buffers, transforms and kernels
allocated once) whose ``step()`` runs one iteration:

- ``sparse_hessian_plan(shape, fidelity=, sparsity=, continuity=)``
- ``rl_plan(shape, psf, background=, acceleration=)``

Each plan has ``set_data(array)``, ``step()`` and ``result()``.

Choice: the ``backend`` argument, else the environment variable
``NAPARI_SPARSEDECON_BACKEND``, else ``"numpy"``. Nothing here touches
OpenCL until an OpenCL backend is asked for. ``"auto"`` is an
:class:`~.auto.AutoBackend`: each plan comes from the backend that won a short
timed probe on this machine for that shape class (NumPy without a probe for
small work), see :mod:`.auto`.
"""

from __future__ import annotations

import os
from typing import Protocol

BACKENDS = ("numpy", "opencl", "auto")
ENV_BACKEND = "NAPARI_SPARSEDECON_BACKEND"
ENV_DEVICE = "NAPARI_SPARSEDECON_DEVICE"


class Plan(Protocol):
    def set_data(self, data) -> None: ...
    def step(self) -> None: ...
    def result(self): ...


class Backend(Protocol):
    name: str
    device_name: str

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity) -> Plan: ...
    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None) -> Plan: ...


_NUMPY = None
_AUTO: dict = {}


def get_backend(backend=None, device=None) -> Backend:
    """Resolve a backend name (or pass through a backend object).

    Parameters
    ----------
    backend : {"numpy", "opencl", "auto"} or backend object or None
        None reads ``NAPARI_SPARSEDECON_BACKEND`` and defaults to ``"numpy"``.
    device : str or int, optional
        OpenCL device (index or part of its name); None reads
        ``NAPARI_SPARSEDECON_DEVICE``.
    """
    global _NUMPY
    if backend is not None and not isinstance(backend, str):
        return backend
    name = backend or os.environ.get(ENV_BACKEND, "numpy")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {name!r}")
    if name == "numpy":
        if _NUMPY is None:
            from .numpy_backend import NumpyBackend

            _NUMPY = NumpyBackend()
        return _NUMPY
    if device is None:
        device = os.environ.get(ENV_DEVICE) or None
    if name == "auto":
        if device not in _AUTO:
            from .auto import AutoBackend

            _AUTO[device] = AutoBackend(device)
        return _AUTO[device]
    from .opencl import select_backend

    return select_backend(name, device)
