"""The GPU benchmark: one command on a machine with an OpenCL GPU, nothing installed.

    python benchmarks/gpu.py                  # 2048x2048 and 64x512x512 (a few minutes)
    python benchmarks/gpu.py --small          # 256x256 and 16x64x64: runs anywhere (PoCL)
    python benchmarks/gpu.py --device NVIDIA  # the OpenCL device (index or part of name)

For each method with an OpenCL plan (``sparse_psf``, ``rl_tv``, ``rl`` and the paper
pipeline's sparse step) on a 2-D and a 3-D case it prints: seconds per 100 iterations
on the OpenCL device (100 iterations timed, the queue drained), on NumPy and on the
fastest other CPU backend (numba where installed), the ratio NumPy / device, the
transfer time (``set_data``: the upload, with the host-side start for the
regularised methods; ``result()``: the download), the device memory the plan holds
(its buffers; with ``nvidia-smi`` present also the GPU's used memory while the plan is
open) and the parity of the device against NumPy after the same iterations (max
difference / NumPy's range; target 1e-4).

CPU backends are timed on ``--cpu-iters`` iterations (default 4, after one warm-up)
and scaled to 100: a full 100 on NumPy would take minutes per case. ``--budget``
(default 270 s) skips the cases left once it is spent, saying so, so that a run stays
under five minutes. Uses only what the project already depends on (pyopencl; pyvkfft
for device FFTs where installed, else the FFTs run on the host and the line says so).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

import napari_sparsedecon as nsd
from napari_sparsedecon.backends import get_backend
from napari_sparsedecon.ops.threads import available_cores

START = time.perf_counter()
REG = {
    "sparse_psf": {"prior": "hessian", "weight": 3e-4, "sparsity": 0.2, "continuity": 1.0,
                   "eps": 0.4},
    "rl_tv": {"prior": "tv", "weight": 6e-4, "continuity": 1.0, "eps": 0.4},
}


def make_plan(be, method, shape, psf):
    if method in REG:
        return be.regularised_plan(shape, psf, **REG[method])
    if method == "rl":
        return be.rl_plan(shape, psf, background=100.0, acceleration="biggs")
    return be.sparse_hessian_plan(shape, fidelity=150.0, sparsity=10.0,
                                  continuity=0.5 if len(shape) == 3 else 0.0)


def set_data(plan, method, y):
    if method in REG:
        plan.set_data(y, 100.0)
    elif method == "rl":
        plan.set_data(y)
    else:
        plan.set_data(y / np.float32(y.max()))


def sync(plan):
    if hasattr(plan, "finish"):
        plan.finish()


def gpu_used_mib():
    """The GPU's used memory (MiB) from nvidia-smi, or None."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=memory.used", "--format=csv,noheader,"
                              "nounits"], capture_output=True, text=True, timeout=10)
        return float(out.stdout.split()[0])
    except Exception:  # noqa: BLE001 - informative only
        return None


def plan_device_bytes(plan) -> int:
    """Bytes of the OpenCL buffers the plan holds (pyvkfft's own work buffers not
    counted)."""
    import pyopencl as cl
    import pyopencl.array as cla

    seen, total = set(), 0
    for v in list(vars(plan).values()) + [x for d in vars(plan).values()
                                           if isinstance(d, dict) for x in d.values()]:
        buf = v.base_data if isinstance(v, cla.Array) else v
        if isinstance(buf, cl.Buffer) and buf.int_ptr not in seen:
            seen.add(buf.int_ptr)
            total += buf.size
    return total


def cpu_time(be, method, shape, psf, y, iters):
    """(s per 100 iterations scaled from ``iters``, result after 1 + iters steps)."""
    with make_plan(be, method, shape, psf) as plan:
        set_data(plan, method, y)
        plan.step()
        t0 = time.perf_counter()
        for _ in range(iters):
            plan.step()
        sync(plan)
        dt = time.perf_counter() - t0
        return dt / iters * 100, np.array(plan.result())


def device_run(be, method, shape, psf, y, iters):
    used0 = gpu_used_mib()
    with make_plan(be, method, shape, psf) as plan:
        t0 = time.perf_counter()
        set_data(plan, method, y)
        sync(plan)
        t_up = time.perf_counter() - t0
        for _ in range(1 + iters):  # the same steps as the CPU runs, for parity
            plan.step()
        t0 = time.perf_counter()
        first = np.array(plan.result())
        t_down = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(100):
            plan.step()
        sync(plan)
        t100 = time.perf_counter() - t0
        dev_mib = plan_device_bytes(plan) / 2**20
        used1 = gpu_used_mib()
    used = None if used0 is None or used1 is None else used1 - used0
    return t100, first, t_up, t_down, dev_mib, used


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="small shapes (runs on PoCL)")
    ap.add_argument("--device", default=None, help="OpenCL device (index or name part)")
    ap.add_argument("--cpu-iters", type=int, default=4)
    ap.add_argument("--budget", type=float, default=270.0, help="seconds (default 270)")
    ap.add_argument("--methods", default="sparse_psf,rl_tv,rl,sparse")
    args = ap.parse_args(argv)

    from napari_sparsedecon.backends.opencl import OpenCLBackend, list_devices
    from napari_sparsedecon.backends.opencl.device import is_gpu

    print(f"benchmarks/gpu.py: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, {available_cores()} cores, "
          f"napari-sparsedecon {nsd.__version__}")
    for r in list_devices():
        print(f"  OpenCL device {r['index']}: {r['name']} ({r['platform']}, {r['type']}, "
              f"{r['memory_mib']} MiB, usable={r['usable']})")
    dev = OpenCLBackend(args.device)
    gpu = is_gpu(dev.device)
    print(f"device: {dev.device_name}; FFTs on the {dev.transforms} "
          f"({'pyvkfft' if dev.transforms == 'device' else 'scipy.fft'})"
          + ("" if gpu else "  [not a GPU: these are not GPU figures]"))
    cpus = [("numpy", get_backend("numpy"))]
    try:
        cpus.append(("numba", get_backend("numba")))
    except Exception as err:  # noqa: BLE001 - optional
        print(f"  numba: not available ({str(err).splitlines()[0][:100]})")
    if args.small:
        cases = [((256, 256), nsd.gaussian_psf((15, 15), 3.0)),
                 ((16, 64, 64), nsd.gaussian_psf((9, 9, 9), (4.0, 2.5, 2.5)))]
    else:
        cases = [((2048, 2048), nsd.gaussian_psf((15, 15), 3.0)),
                 ((64, 512, 512), nsd.gaussian_psf((17, 17, 17), (4.0, 2.5, 2.5)))]
    print(f"\n{'case':<26} {'device s/100':>12} {'NumPy s/100':>12} {'fastest CPU':>18} "
          f"{'NumPy/dev':>9} {'upload':>8} {'download':>8} {'dev MiB':>8} "
          f"{'parity':>9}")
    worst = 0.0
    for shape, psf in cases:
        y = (np.random.default_rng(0).poisson(40.0, shape) + 100).astype(np.float32)
        for method in args.methods.split(","):
            label = f"{method} {'x'.join(map(str, shape))}"
            if time.perf_counter() - START > args.budget:
                print(f"{label:<26} skipped: the --budget of {args.budget:.0f} s is spent")
                continue
            cpu = {}
            ref = None
            for name, be in cpus:
                cpu[name], out = cpu_time(be, method, shape, psf, y, args.cpu_iters)
                if name == "numpy":
                    ref = out
            t100, first, t_up, t_down, dev_mib, used = device_run(
                dev, method, shape, psf, y, args.cpu_iters)
            rng = float(ref.max() - ref.min()) or 1.0
            par = float(np.max(np.abs(first - ref))) / rng
            worst = max(worst, par)
            fast = min(cpu, key=cpu.get)
            mem = f"{dev_mib:8.0f}" + (f" (GPU used +{used:.0f})" if used is not None else "")
            print(f"{label:<26} {t100:12.3f} {cpu['numpy']:12.2f} "
                  f"{fast + ' ' + format(cpu[fast], '.2f'):>18} {cpu['numpy'] / t100:9.1f} "
                  f"{t_up:8.3f} {t_down:8.3f} {mem} {par:9.1e}", flush=True)
    print(f"\nworst parity {worst:.1e} of NumPy's range (target 1e-4; the regularised "
          f"methods' own float32 sensitivity can exceed it, see tests/algorithms/"
          f"test_parity.py); total {time.perf_counter() - START:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
