"""Signals held back while a native extension initialises.

The command line turns SIGINT, SIGTERM and SIGHUP into an exception that unwinds and
cleans up (:mod:`napari_sparsedecon.cli.common`). Raised while a compiled extension is
being imported (pyopencl's nanobind enums, numba's LLVM), that exception aborts the
whole process instead ("Critical nanobind error", exit -6, the temporary output left):
seen once in CI when SIGTERM arrived while the ``auto`` backend first imported
pyopencl. Such imports run inside :func:`deferred_signals`: the command line's handler
then only notes the signal (:func:`hold`), and it is raised again when the block ends.
(Masking the signal would not do: the kernel delivers a process-directed signal to any
thread that does not block it, and Python runs its handler in the main thread at once.)
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

_STATE = {"depth": 0, "pending": [], "received": None}
_LOCK = threading.Lock()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM / SIGHUP, so they unwind like Ctrl-C."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def note_received(signum) -> None:
    """The command line's handler saw ``signum`` (None: forget it, a new run starts)."""
    _STATE["received"] = None if signum is None else int(signum)


def raise_if_received() -> None:
    """Re-raise a stop signal that a library swallowed on its way up (dask's threaded
    scheduler, interrupted while it waits, raised ``InvalidStateError`` instead, and the
    batch reported one failed file and exit 1 instead of stopping with 143; seen in CI)."""
    sig = _STATE["received"]
    if sig is None:
        return
    if sig == int(signal.SIGINT):
        raise KeyboardInterrupt
    raise Terminated(sig)


def deferring() -> bool:
    """Whether a signal handler should only note its signal now (:func:`hold`)."""
    return _STATE["depth"] > 0


def hold(signum: int) -> None:
    """Note ``signum`` to raise when the outermost :func:`deferred_signals` block ends."""
    _STATE["pending"].append(int(signum))


@contextmanager
def deferred_signals():
    """The ``with`` block runs without being interrupted by the command line's signal
    handlers; the first signal that arrived meanwhile is raised when it ends. Off the
    main thread a no-op: Python runs signal handlers in the main thread only, so an
    import elsewhere is never interrupted by them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _LOCK:
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            sig = _STATE["pending"][0] if _STATE["depth"] == 0 and _STATE["pending"] \
                else None
            if _STATE["depth"] == 0:
                _STATE["pending"].clear()
        if sig is not None:
            signal.raise_signal(sig)
