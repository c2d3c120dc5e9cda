"""Backends: one protocol (:mod:`.base`), one registry (:mod:`.registry`), several
implementations.

A backend makes *plans* for one array shape (buffers, transforms and kernels
allocated once) whose ``step()`` runs one iteration:

- ``sparse_hessian_plan(shape, fidelity=, sparsity=, continuity=)``
- ``rl_plan(shape, psf, background=, acceleration=, start=)``
- ``regularised_plan(shape, psf, prior=, weight=, sparsity=, continuity=, t_continuity=,
  aspect=, eps=, data_term=)`` (``rl_tv``, ``sparse_psf``; ``set_data(y, background)``)

Each plan has ``set_data(array)``, ``step()``, ``result()`` and an explicit lifetime
(``close()`` / ``with``; :class:`~.base.PlanBase`).

Registered: ``numpy`` (the reference, :mod:`.numpy_backend`), ``opencl``
(:mod:`.opencl`) and ``auto`` (:mod:`.auto`: each plan from the backend that won a
short timed probe on this machine for that shape class). Nothing here touches
OpenCL until an OpenCL backend is asked for. Adding a backend: implement the
protocol and add one :func:`~.registry.register_backend` line in :mod:`.registry`.
"""

from __future__ import annotations

from .base import Backend, Plan, PlanBase
from .registry import (
    ENV_BACKEND,
    ENV_DEVICE,
    BackendEntry,
    backend_entry,
    backends,
    backends_offering,
    get_backend,
    register_backend,
)

#: Registered backend names, in registration order.
BACKENDS = backends()

__all__ = ["BACKENDS", "ENV_BACKEND", "ENV_DEVICE", "Backend", "BackendEntry", "Plan",
           "PlanBase", "backend_entry", "backends", "backends_offering", "get_backend",
           "register_backend"]
