"""Large time-lapse through the command line: peak memory and throughput.

    python benchmarks/batch_large.py                       # 50 x 2048 x 2048, 4 GiB
    python benchmarks/batch_large.py --frames 8 --size 1024 --budget 1GiB   # quicker

Writes a synthetic uint16 time-lapse (puncta, filaments, background, Poisson
noise), then runs ``napari-sparsedecon run`` on it serially and with a local
dask cluster of 2 workers, sampling the resident memory of the whole process
tree (client, scheduler, workers) every 0.2 s. Prints peak memory against the
budget and frames per second.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_input(path: Path, frames: int, size: int, seed: int = 0):
    import tifffile

    rng = np.random.default_rng(seed)
    arr = tifffile.memmap(str(path), shape=(frames, size, size), dtype=np.uint16,
                          imagej=True, metadata={"axes": "TYX"},
                          resolution=(1 / 0.065, 1 / 0.065))
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    bg = 100 + 50 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 3) ** 2) / (size**2 / 4))
    pts = rng.uniform(0, size, (size * size // 2000, 2))
    sigma = 3.0 / 2.3548
    from scipy.ndimage import gaussian_filter

    for t in range(frames):
        img = np.zeros((size, size), np.float32)
        p = (pts + rng.normal(0, 0.3, pts.shape) + t * 0.2) % size
        np.add.at(img, (p[:, 0].astype(int), p[:, 1].astype(int)), 3000.0)
        img[size // 2, :] += 300.0  # a filament
        img = gaussian_filter(img, sigma) + bg
        arr[t] = np.clip(rng.poisson(img), 0, 65535).astype(np.uint16)
    arr.flush()
    del arr


def run_and_sample(cmd):
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    stop = threading.Event()

    def sample():
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [p] + p.children(recursive=True)
                rss = sum(q.memory_info().rss for q in procs if q.is_running())
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    th.start()
    out, _ = proc.communicate()
    dt = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode != 0:
        print(out[-3000:])
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return dt, peak[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--budget", default="4GiB")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--serial-only", action="store_true", help="leave out the 2-worker run")
    ap.add_argument("--extra", default="", help="more flags for the run, e.g. '--iterations 20'")
    args = ap.parse_args(argv)
    from napari_sparsedecon.largedata.batch import parse_size

    budget = parse_size(args.budget)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="nsd_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "timelapse.tif"
    t0 = time.perf_counter()
    make_input(src, args.frames, args.size)
    print(f"napari-sparsedecon batch benchmark, {datetime.date.today().isoformat()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; input {args.frames}x{args.size}x"
          f"{args.size} uint16 ({src.stat().st_size / 2**20:.0f} MiB, made in "
          f"{time.perf_counter() - t0:.0f} s), budget {args.budget}", flush=True)
    exe = str(Path(sys.executable).with_name("napari-sparsedecon"))
    base = [exe, "run", str(src), "--psf-fwhm-px", "3", "--memory-budget", args.budget,
            "--overwrite"] + args.extra.split()
    rows = []
    modes = [("serial", [])] + ([] if args.serial_only else [("2 workers", ["--workers", "2"])])
    for name, extra in modes:
        out = work / name.replace(" ", "_")
        dt, peak = run_and_sample(base + ["--out-dir", str(out)] + extra)
        fps = args.frames / dt
        rows.append((name, dt, fps, peak))
        print(f"{name:<10} {dt:8.1f} s  {fps:6.3f} frames/s  peak {peak / 2**20:7.0f} MiB "
              f"({peak / budget:.2f}x the {args.budget} budget: "
              f"{'within' if peak <= budget else 'OVER'})",
              flush=True)
    if len(rows) > 1:
        print(f"2 workers / serial throughput: {rows[1][2] / rows[0][2]:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
