"""The backend registry: name -> factory, and the one place that resolves a name.

Backends register themselves here with a lazy factory (a ``"module:callable"``
path), so listing the names imports nothing and nothing touches OpenCL until an
OpenCL backend is asked for. ``"auto"`` is registered like any other backend: an
:class:`~napari_sparsedecon.backends.auto.AutoBackend` whose plans come from the
backend that won a short timed probe for that shape class.

Choice: the ``backend`` argument, else ``NAPARI_SPARSEDECON_BACKEND``, else
``"numpy"``; the device: ``device=``, else ``NAPARI_SPARSEDECON_DEVICE``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

ENV_BACKEND = "NAPARI_SPARSEDECON_BACKEND"
ENV_DEVICE = "NAPARI_SPARSEDECON_DEVICE"


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: ``factory(device)`` (as ``"module:callable"``, relative to
    this package) makes it; ``uses_device`` says whether ``device=`` means anything;
    ``cached``: one instance per device, reused by every run; ``plans``: the plan kinds
    (method names of the backend, e.g. ``"regularised_plan"``) it offers, declared here so
    that methods can list their backends without importing any."""

    name: str
    factory: str
    summary: str
    uses_device: bool = True
    cached: bool = True
    plans: tuple = ("sparse_hessian_plan", "rl_plan")


_ENTRIES: dict[str, BackendEntry] = {}
_INSTANCES: dict = {}


def register_backend(entry: BackendEntry) -> BackendEntry:
    if entry.name in _ENTRIES and _ENTRIES[entry.name] != entry:
        raise ValueError(f"backend {entry.name!r} is registered twice")
    _ENTRIES[entry.name] = entry
    return entry


def backends() -> tuple[str, ...]:
    """Names of the registered backends (``numpy`` is the reference)."""
    return tuple(_ENTRIES)


def backends_offering(kind: str) -> tuple[str, ...]:
    """Names of the registered backends that offer the plan ``kind`` (``"auto"`` left
    out: it offers what its candidates offer)."""
    return tuple(e.name for e in _ENTRIES.values() if kind in e.plans and e.name != "auto")


def backend_entry(name: str) -> BackendEntry:
    if not isinstance(name, str) or name not in _ENTRIES:
        raise ValueError(f"backend must be one of {list(_ENTRIES)}, got {name!r}")
    return _ENTRIES[name]


def get_backend(backend=None, device=None):
    """Resolve a backend name (a backend object passes through unchanged).

    Parameters
    ----------
    backend : str, backend object or None
        A registered name (:func:`backends`); None reads ``NAPARI_SPARSEDECON_BACKEND``
        and defaults to ``"numpy"``.
    device : str or int, optional
        Device (index or part of its name) for backends that have devices; None reads
        ``NAPARI_SPARSEDECON_DEVICE``.
    """
    if backend is not None and not isinstance(backend, str):
        return backend
    entry = backend_entry(backend or os.environ.get(ENV_BACKEND, "numpy"))
    if not entry.uses_device:
        device = None
    elif device is None:
        device = os.environ.get(ENV_DEVICE) or None
    key = (entry.name, device)
    if entry.cached and key in _INSTANCES:
        return _INSTANCES[key]
    mod, func = entry.factory.split(":")
    be = getattr(importlib.import_module(mod, __package__), func)(device)
    if entry.cached:
        _INSTANCES[key] = be
    return be


def _numpy(device):
    from .numpy_backend import NumpyBackend

    return NumpyBackend()


_ALL_PLANS = ("sparse_hessian_plan", "rl_plan", "regularised_plan")

register_backend(BackendEntry(
    "numpy", f"{__name__}:_numpy", "NumPy + scipy.fft on the CPU: the reference",
    uses_device=False, plans=_ALL_PLANS))
register_backend(BackendEntry(
    "opencl", ".opencl:make_opencl_backend",
    "pyopencl on a GPU or CPU device (device=, NAPARI_SPARSEDECON_DEVICE)",
    plans=_ALL_PLANS))
register_backend(BackendEntry(
    "numba", ".numba_backend:make_numba_backend",
    "the NumPy reference with the element-wise passes of the sparse step and of the "
    "regularised RL solver fused and threaded (needs numba)", uses_device=False,
    plans=_ALL_PLANS))
register_backend(BackendEntry(
    "auto", ".auto:AutoBackend",
    "the backend measured fastest on this machine for each shape class",
    plans=_ALL_PLANS))
