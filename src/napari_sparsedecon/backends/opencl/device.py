"""OpenCL devices, contexts and compiled programs (all lazy, all cached)."""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import resources


class OpenCLUnavailable(RuntimeError):
    """No usable OpenCL platform/device, or a build failed; the message says why."""


SYSTEM_ICD_DIR = "/etc/OpenCL/vendors"


def _cl():
    # pyopencl's wheels carry their own ICD loader; point it at the system's
    # drivers too (GPU drivers, Debian's PoCL) unless the user chose otherwise.
    if "OCL_ICD_VENDORS" not in os.environ and os.path.isdir(SYSTEM_ICD_DIR):
        os.environ["OCL_ICD_VENDORS"] = SYSTEM_ICD_DIR
    from ...base.signals import deferred_signals

    try:
        with deferred_signals():  # a signal inside nanobind's init aborts the process
            import pyopencl as cl
    except ImportError as err:  # pragma: no cover - pyopencl is a dependency
        raise OpenCLUnavailable(f"pyopencl is not installed ({err}); pip install "
                                f"'pyopencl[pocl]' for a CPU OpenCL device") from err
    return cl


def _all_devices():
    cl = _cl()
    try:
        platforms = cl.get_platforms()
    except Exception as err:  # noqa: BLE001 - pyopencl raises LogicError/RuntimeError
        raise OpenCLUnavailable(f"no OpenCL platform found ({err}); install a driver or "
                                f"pip install 'pyopencl[pocl]'") from err
    out = []
    for p in platforms:
        try:
            devs = p.get_devices()
        except Exception:  # noqa: BLE001 - a broken platform should not hide the others
            continue
        out += devs
    if not out:
        raise OpenCLUnavailable("OpenCL platforms exist but expose no device")
    return out


def list_devices() -> list[dict]:
    """Every OpenCL device: index, name, platform, type, global memory (MiB), compute units."""
    cl = _cl()
    rows = []
    for i, d in enumerate(_all_devices()):
        rows.append({
            "index": i,
            "name": d.name.strip(),
            "platform": d.platform.name.strip(),
            "type": cl.device_type.to_string(d.type),
            "memory_mib": d.global_mem_size // 2**20,
            "max_alloc_mib": d.max_mem_alloc_size // 2**20,
            "compute_units": d.max_compute_units,
            "usable": can_build(d) is None,
        })
    return rows


def is_gpu(dev) -> bool:
    cl = _cl()
    return bool(dev.type & cl.device_type.GPU)


_USABLE: dict = {}


def can_build(dev) -> str | None:
    """None if ``dev`` compiles a trivial kernel, else the compiler's complaint (cached)."""
    key = _key(dev)
    if key not in _USABLE:
        cl = _cl()
        try:
            ctx = cl.Context([dev])
            cl.Program(ctx, "__kernel void k(__global float *a) { a[0] = 1.0f; }").build()
            _USABLE[key] = None
        except Exception as err:  # noqa: BLE001 - any build failure makes it unusable
            _USABLE[key] = str(err).strip().splitlines()[-1][:200]
    return _USABLE[key]


def pick_device(device=None):
    """Device by index or name part; None: the env variable, else the first GPU, else the
    first device whose compiler works."""
    devs = _all_devices()
    if device is None:
        device = os.environ.get("NAPARI_SPARSEDECON_DEVICE") or None
    if device is None:
        ordered = [d for d in devs if is_gpu(d)] + [d for d in devs if not is_gpu(d)]
        problems = []
        for d in ordered:
            err = can_build(d)
            if err is None:
                return d
            problems.append(f"{d.name.strip()}: {err}")
        raise OpenCLUnavailable("no OpenCL device can compile kernels (" + "; ".join(problems)
                                + "); on Debian/Ubuntu install pocl-opencl-icd")
    if isinstance(device, int) or str(device).isdigit():
        i = int(device)
        if not 0 <= i < len(devs):
            raise OpenCLUnavailable(f"OpenCL device index {i} out of range (0..{len(devs) - 1})")
        return devs[i]
    hits = [d for d in devs if str(device).lower() in d.name.lower()]
    if not hits:
        names = ", ".join(d.name.strip() for d in devs)
        raise OpenCLUnavailable(f"no OpenCL device matching {device!r}; available: {names}")
    return hits[0]


@functools.lru_cache(maxsize=8)
def _context_for(dev_key):
    cl = _cl()
    dev = next(d for d in _all_devices() if _key(d) == dev_key)
    ctx = cl.Context([dev])
    return ctx, cl.CommandQueue(ctx)


def _key(dev):
    return (dev.platform.name, dev.name, dev.int_ptr)


def context_and_queue(dev):
    return _context_for(_key(dev))


_PROGRAMS: dict = {}


def kernel_source(name: str) -> str:
    return (resources.files(__package__) / "kernels" / name).read_text()


def build_program(ctx, name: str, options: tuple[str, ...] = ()):
    """Compile kernels/<name> once per (context, source, options)."""
    cl = _cl()
    src = kernel_source(name)
    key = (ctx.int_ptr, hashlib.sha1(src.encode()).hexdigest(), options)
    prog = _PROGRAMS.get(key)
    if prog is None:
        try:
            prog = cl.Program(ctx, src).build(options=list(options))
        except Exception as err:  # noqa: BLE001 - report build logs as our error
            raise OpenCLUnavailable(f"building {name} failed: {err}") from err
        _PROGRAMS[key] = prog
    return prog
