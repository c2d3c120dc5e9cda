"""Pieces every command shares: progress lines, the thread setting, signals, devices."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

from ..base.signals import Terminated  # noqa: F401 - raised by the handler, named here


def _bar(i, n, width=20):
    full = int(width * i / max(n, 1))
    return "#" * full + "." * (width - full)


def _progress_printer(stream=None, prefix=""):
    """Progress bars: one line rewritten on a terminal, every 10% otherwise."""
    state = {"stage": None, "t0": time.perf_counter()}

    def show(p):
        out = stream or sys.stderr
        tty = getattr(out, "isatty", lambda: False)()
        every = max(1, p.total // 10)
        dt = time.perf_counter() - state["t0"]
        line = (f"  {prefix}{p.stage:<8} [{_bar(p.iteration, p.total)}] "
                f"{p.iteration:>4}/{p.total:<4} {dt:7.2f} s")
        if tty:
            end = "\n" if p.iteration == p.total else ""
            print("\r" + line, end=end, file=out, flush=True)
        elif p.stage != state["stage"] or p.iteration % every == 0 or p.iteration == p.total:
            print(line, file=out, flush=True)
        state["stage"] = p.stage

    return show


def _add_threads_flag(p):
    p.add_argument("--threads", metavar="N",
                   help="worker threads for the FFTs of each process (default: the "
                        "environment variable NAPARI_SPARSEDECON_THREADS, else all cores; "
                        "with --workers, the cores shared between the workers)")


def _apply_threads(args) -> None:
    """Check --threads (and the environment variable) up front; export the choice so the
    library and dask workers started from here read it."""
    from ..ops.threads import ENV_THREADS, available_cores, check_threads, default_threads

    if args.threads is not None:
        os.environ[ENV_THREADS] = str(check_threads(args.threads, "--threads"))
        return
    default_threads()  # a bad NAPARI_SPARSEDECON_THREADS fails here, before any work
    workers = getattr(args, "workers", None)
    if workers and ENV_THREADS not in os.environ:  # N processes share the cores
        os.environ[ENV_THREADS] = str(max(1, available_cores() // workers))


def _add_ngff_flag(p):
    p.add_argument("--ngff", choices=["0.5", "0.4"], default="0.5",
                   help="OME-Zarr output: NGFF 0.5 on Zarr v3 (default) or NGFF 0.4 on Zarr "
                        "v2 for tools that cannot read Zarr v3 (Fiji n5-ij, MoBIE)")


def _devices() -> int:
    from ..backends.opencl import OpenCLUnavailable, list_devices

    try:
        rows = list_devices()
    except OpenCLUnavailable as err:
        print(f"no OpenCL device: {err}")
        return 1
    for r in rows:
        ok = "usable" if r["usable"] else "cannot compile kernels"
        print(f"[{r['index']}] {r['name']} ({r['platform']}, {r['type']}): "
              f"{r['memory_mib']} MiB, {r['compute_units']} compute units, {ok}")
    return 0


@contextlib.contextmanager
def _signals_unwind():
    """SIGTERM and SIGHUP (schedulers, ``timeout``, a closed terminal) raise
    :class:`Terminated` while a command runs, so its temporary files are removed
    exactly as on Ctrl-C (SIGINT: KeyboardInterrupt). Inside
    :func:`~napari_sparsedecon.base.signals.deferred_signals` (a native extension's
    import) they are raised when the block ends. The previous handlers are restored
    afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from ..base.signals import deferring, hold, note_received

    def handler(signum, _frame):
        note_received(signum)
        if deferring():  # inside a native extension's import: raised when it is done
            hold(signum)
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    sigs = [s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP"))
            if s is not None]
    note_received(None)
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _env_kept():
    """Restore the thread variable that --threads / --workers export (main() called twice
    in one process, as tests do, must not inherit the first call's setting)."""
    from ..ops.threads import ENV_THREADS

    old = os.environ.get(ENV_THREADS)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_THREADS, None)
        else:
            os.environ[ENV_THREADS] = old
