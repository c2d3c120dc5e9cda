"""The backend protocol: what a backend and its plans must provide.

A *plan* holds everything one iteration needs for one array shape (buffers,
transforms, kernels), made once; ``step()`` runs one iteration without
allocating. Its lifetime is explicit: ``close()`` (or leaving a ``with`` block)
drops every buffer it holds, after which ``step()`` raises. Runners close their
plans when they finish, fail or are cancelled (a generator closed early), so a
cancelled run frees device and host memory at once rather than at the next
garbage collection.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Plan(Protocol):
    def set_data(self, data) -> None: ...
    def step(self) -> None: ...
    def result(self): ...
    def close(self) -> None: ...
    def __enter__(self): ...
    def __exit__(self, *exc) -> None: ...


@runtime_checkable
class Backend(Protocol):
    name: str
    device_name: str

    def sparse_hessian_plan(self, shape, *, fidelity, sparsity, continuity) -> Plan: ...
    def rl_plan(self, shape, psf, *, background=0.0, acceleration=None,
                start="data") -> Plan: ...


class PlanBase:
    """Lifetime for plans: ``close()``, context manager, ``closed``.

    ``close()`` drops every attribute the plan holds (host and device arrays,
    transform plans, kernels); an array already handed out by ``result()`` stays
    valid, since the caller holds its own reference. Idempotent.
    """

    _closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self.__dict__.clear()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed: make a new plan")
