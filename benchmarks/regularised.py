"""The regularised methods (``sparse_psf``, ``rl_tv``) per backend, against the FFT floor.

    python benchmarks/regularised.py            # the figures of docs/performance.md
    python benchmarks/regularised.py --small    # small shapes: a smoke test, not figures
    python benchmarks/regularised.py --backends numpy,numba

Per iteration, each backend's ``regularised_plan`` step is divided by one all-core real
FFT pair (``scipy.fft.rfftn`` + ``irfftn``, ``workers=-1``) of the same padded shape,
measured in the same run, just before that backend (the machine's load drifts). Each
iteration does two such pairs plus the element-wise and prior work, so 2.0 is the floor
of this scheme and the target is <= 3. Peak memory: tracemalloc's peak of one whole
``deconvolve`` call (host memory: data conversion, background map, plan, output)
divided by the float32 input's size; OpenCL device buffers are not host memory and
are counted from the plan's buffers. Preview: ``deconvolve`` of a 256x256 ROI with
the method's defaults (the dock's live preview), ``backend="auto"``.

Times are the best of ``--repeat`` runs of ``--iters`` steps after two warm-up steps.
Nothing here is a unit test: targets are reported; exit code 0 unless ``--strict``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import tracemalloc

import numpy as np
from scipy import fft as sfft

import napari_sparsedecon as nsd
from napari_sparsedecon.backends import get_backend
from napari_sparsedecon.ops.threads import available_cores, current_threads

#: method -> the plan settings its defaults give on data of this kind (the weights do
#: not change the cost; the active terms do)
PLANS = {
    "sparse_psf": {"prior": "hessian", "weight": 3e-4, "sparsity": 0.2, "continuity": 1.0,
                   "eps": 0.4},
    "rl_tv": {"prior": "tv", "weight": 6e-4, "continuity": 1.0, "eps": 0.4},
}
MISSED = []


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {cpu}, "
            f"{available_cores()} cores (threads {current_threads()}), load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, Python {sys.version.split()[0]}, "
            f"NumPy {np.__version__}")


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fft_pair(pshape, repeat):
    a = np.random.default_rng(0).random(pshape).astype(np.float32)

    def pair():
        sfft.irfftn(sfft.rfftn(a, workers=-1), s=pshape, workers=-1, overwrite_x=True)

    pair()
    return best(pair, repeat)


def step_time(plan, repeat, iters):
    def run():
        for _ in range(iters):
            plan.step()
        if hasattr(plan, "finish"):
            plan.finish()

    plan.step()
    plan.step()
    if hasattr(plan, "finish"):
        plan.finish()
    return best(run, repeat) / iters


def backends_here(names):
    out = []
    for name in names:
        try:
            out.append((name, get_backend(name)))
        except Exception as err:  # noqa: BLE001 - reported, not fatal
            print(f"  backend {name}: not available ({str(err).splitlines()[0][:120]})")
    return out


def data(shape):
    rng = np.random.default_rng(3)
    return (rng.poisson(40.0, shape) + 100).astype(np.float32)


def per_iteration(shape, psf, backends, repeat, iters):
    y = data(shape)
    print(f"\n{'x'.join(map(str, shape))}, PSF {'x'.join(map(str, psf.shape))}:")
    times, pairs = {}, []
    for method, kw in PLANS.items():
        for name, be in backends:
            with be.regularised_plan(shape, psf, **kw) as plan:
                plan.set_data(y, 100.0)
                pshape = plan.pshape
                pair = fft_pair(pshape, repeat)
                t = step_time(plan, repeat, iters)
            pairs.append(pair)
            times[method, name] = t
            print(f"  {method:<10} {name:<7} {t * 1e3:9.1f} ms/iteration   FFT pair "
                  f"{'x'.join(map(str, pshape))} {pair * 1e3:7.1f} ms   ratio "
                  f"{t / pair:5.2f}", flush=True)
    pair = float(np.median(pairs))
    print(f"  FFT pair, median of the {len(pairs)} measurements: {pair * 1e3:.1f} ms "
          f"(range {min(pairs) * 1e3:.1f}-{max(pairs) * 1e3:.1f})")
    for method in PLANS:
        cpu = {n: t for (m, n), t in times.items() if m == method
               and not (n == "opencl" and "GPU" in dict(backends)[n].device_name)}
        name = min(cpu, key=cpu.get)
        ratio = cpu[name] / pair
        ok = ratio <= 3.0
        if not ok:
            MISSED.append(f"{method} {shape}")
        print(f"  -> fastest CPU backend for {method}: {name}, {ratio:.2f} median FFT pairs "
              f"per iteration (target <= 3: {'ok' if ok else 'MISSED'})")


def peak_memory(shape, psf, backends):
    y = data(shape)
    nbytes = y.size * 4
    print(f"\npeak memory of one deconvolve call, {'x'.join(map(str, shape))} "
          f"(input {nbytes / 2**20:.0f} MiB float32):")
    for method in PLANS:
        for name, be in backends:
            tracemalloc.start()
            nsd.deconvolve(y, method, psf=psf, iterations=2, backend=be)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            extra = ""
            if name == "opencl":
                with be.regularised_plan(shape, psf, **PLANS[method]) as plan:
                    n = 8 + (2 if plan.data_term == "lsq" else 0)
                    extra = (f", device {n * plan.n * 4 / nbytes:.1f}x "
                             f"({n} padded arrays)")
                    plan.close()
            ok = peak <= 10 * nbytes
            if not ok:
                MISSED.append(f"memory {method} {name} {shape}")
            print(f"  {method:<10} {name:<7} host peak {peak / 2**20:7.0f} MiB = "
                  f"{peak / nbytes:5.1f}x input{extra} (target <= 10x: "
                  f"{'ok' if ok else 'MISSED'})", flush=True)


def preview(size, repeat):
    img = data((size, size))
    print(f"\npreview: deconvolve of a {size}x{size} ROI with the method's defaults:")
    for method in PLANS:
        for backend in ("auto", "numpy", "numba"):
            try:
                nsd.deconvolve(img, method, psf_fwhm_px=3.0, backend=backend)
                t = best(lambda b=backend, m=method: nsd.deconvolve(
                    img, m, psf_fwhm_px=3.0, backend=b), repeat)
            except Exception as err:  # noqa: BLE001 - reported
                print(f"  {method:<10} {backend:<7} failed: {err}")
                continue
            ok = t < 0.5
            if not ok and backend == "auto":
                MISSED.append(f"preview {method}")
            print(f"  {method:<10} {backend:<7} {t:6.3f} s (target < 0.5 s: "
                  f"{'ok' if ok else 'MISSED'})", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="small shapes (smoke test)")
    ap.add_argument("--backends", default="numpy,numba,opencl")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    print(f"benchmarks/regularised.py: {machine()}")
    backends = backends_here(args.backends.split(","))
    print("backends: " + "; ".join(f"{n} = {be.device_name}" for n, be in backends))
    if args.small:
        cases = [((128, 128), nsd.gaussian_psf((9, 9), 2.5)),
                 ((16, 64, 64), nsd.gaussian_psf((9, 9, 9), (4.0, 2.5, 2.5)))]
        roi = 64
    else:
        cases = [((1024, 1024), nsd.gaussian_psf((15, 15), 3.0)),
                 ((64, 256, 256), nsd.gaussian_psf((17, 17, 17), (4.0, 2.5, 2.5)))]
        roi = 256
    for shape, psf in cases:
        per_iteration(shape, psf, backends, args.repeat, args.iters)
    if not args.no_memory:
        for shape, psf in cases:
            peak_memory(shape, psf, backends)
    preview(roi, args.repeat)
    print("\nmissed: " + (", ".join(MISSED) if MISSED else "none"))
    return 1 if (args.strict and MISSED) else 0


if __name__ == "__main__":
    sys.exit(main())
