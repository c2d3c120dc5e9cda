"""The number of worker threads: one setting for every FFT/DCT of a run.

Resolution, first match wins:

1. ``threads=`` given to :func:`napari_sparsedecon.deconvolve` /
   :func:`~napari_sparsedecon.iter_deconvolve` (held for that run only, see
   :func:`using_threads` / :func:`threaded`),
2. the environment variable ``NAPARI_SPARSEDECON_THREADS`` (the CLI's
   ``--threads N`` sets it, so dask workers started by the CLI inherit it),
3. every core this process may run on (``os.sched_getaffinity``).

Every ``scipy.fft`` call passes ``workers=fft_workers(...)``: ``None`` (or
SciPy's ``-1``, "all") means "the current setting"; a positive int is used
as given.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import os

ENV_THREADS = "NAPARI_SPARSEDECON_THREADS"

_override: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "napari_sparsedecon_threads", default=None)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` without it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def check_threads(value, name: str = "threads") -> int:
    """``value`` as a thread count >= 1; a ValueError naming ``name`` otherwise.

    Strings (environment variable, CLI) must be decimal integers; numbers must be
    integral (1.5 is refused, ``True`` too).
    """
    hint = (f"{name} must be a whole number of threads >= 1 (default: all "
            f"{available_cores()} cores)")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit():
            raise ValueError(f"{hint}, got {value!r}")
        n = int(text)
    elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{hint}, got {value!r}")
    else:
        n = int(value)
    if n < 1:
        raise ValueError(f"{hint}, got {value!r}")
    return n


def default_threads() -> int:
    """The setting without an API override: the environment variable, else all cores."""
    env = os.environ.get(ENV_THREADS)
    if env is not None and env.strip():
        return check_threads(env, f"the environment variable {ENV_THREADS}")
    return available_cores()


def current_threads() -> int:
    """The thread count in force here: the run's ``threads=``, the environment, all cores."""
    n = _override.get()
    return default_threads() if n is None else n


def fft_workers(workers=None) -> int:
    """``workers=`` for scipy.fft: None or -1 -> :func:`current_threads`; else checked."""
    if workers is None or (not isinstance(workers, bool) and workers == -1):
        return current_threads()
    return check_threads(workers, "workers")


@contextlib.contextmanager
def using_threads(threads):
    """Hold ``threads`` (None: no change) for the code inside the ``with`` block."""
    if threads is None:
        yield current_threads()
        return
    n = check_threads(threads)
    token = _override.set(n)
    try:
        yield n
    finally:
        _override.reset(token)


def threaded(gen, threads):
    """Drive generator ``gen`` with ``threads`` in force whenever it runs.

    Each resume runs in a private context holding the setting, so nothing leaks
    to the caller between yields (or to other generators interleaved with it),
    and a generator moved to another thread (a GUI worker) keeps its setting.
    Returns ``gen``'s return value.
    """
    if threads is None:
        return (yield from gen)
    n = check_threads(threads)
    ctx = contextvars.copy_context()
    ctx.run(_override.set, n)
    send, value = gen.send, None
    while True:
        try:
            item = ctx.run(send, value)
        except StopIteration as stop:
            return stop.value
        send = gen.send
        try:
            value = yield item
        except GeneratorExit:
            ctx.run(gen.close)
            raise
        except BaseException as err:  # noqa: BLE001 - forwarded into gen
            send, value = gen.throw, err
