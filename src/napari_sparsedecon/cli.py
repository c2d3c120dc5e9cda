"""Command line: ``napari-sparsedecon run`` and ``napari-sparsedecon rl``.

Runs the same library functions as the napari widgets, headless.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .core.background import BACKGROUND_MODES


def _progress_printer(stream=None):
    state = {"stage": None, "t0": time.perf_counter()}

    def show(p):
        every = max(1, p.total // 10)
        if p.stage != state["stage"] or p.iteration % every == 0 or p.iteration == p.total:
            state["stage"] = p.stage
            dt = time.perf_counter() - state["t0"]
            print(f"  {p.stage:<10} {p.iteration:>4}/{p.total:<4} {dt:7.2f} s",
                  file=stream or sys.stderr, flush=True)

    return show


def _drive(gen, show):
    while True:
        try:
            show(next(gen))
        except StopIteration as stop:
            return stop.value


def _load(path):
    from .io.tiff import read_tiff

    data, info = read_tiff(path)
    return data, info


def _add_common(p):
    p.add_argument("input", nargs="?", help="input TIFF; default: the bundled C. elegans image")
    p.add_argument("-o", "--output", help="output TIFF (default: <input>_<method>.tif here)")
    p.add_argument("--psf", help="PSF TIFF (odd-sized, centred, summing to 1) at the input "
                                 "pixel size")
    p.add_argument("--psf-fwhm-px", type=float, nargs="+", metavar="PX",
                   help="Gaussian PSF FWHM in input pixels (1 value, or axial lateral)")
    p.add_argument("--backend", default="numpy", choices=["numpy", "opencl", "auto"])
    p.add_argument("--device", help="OpenCL device index or name part")
    p.add_argument("--clip-negative", action="store_true",
                   help="set negative input values to 0 instead of failing")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="napari-sparsedecon",
                                 description="Sparse deconvolution and Richardson-Lucy, headless.")
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="sparse deconvolution (background, sparse-Hessian, RL)")
    _add_common(r)
    r.add_argument("--params", help="JSON parameter file (as the widget exports); flags "
                                    "given explicitly override it")
    r.add_argument("--fidelity", type=float, help="data-term weight (default 150)")
    r.add_argument("--sparsity", type=float, help="L1 weight (default 10)")
    r.add_argument("--continuity", type=float, help="t/z continuity weight (default 0.5)")
    r.add_argument("--iterations", type=int, help="sparse-Hessian iterations (default 100)")
    r.add_argument("--background", choices=BACKGROUND_MODES, help="background mode (default none)")
    r.add_argument("--upsample", type=int, choices=[1, 2], help="x2 up-sampling in Y/X")
    r.add_argument("--upsample-method", choices=["fourier", "spatial"])
    r.add_argument("--deconv-method", choices=["rl", "biggs", "none"])
    r.add_argument("--deconv-iterations", type=int, help="RL iterations after the sparse step "
                                                         "(default 30)")
    r.add_argument("--axis", type=int, help="continuity axis of 3-D data (default 0)")
    r.add_argument("--max-one", action="store_true",
                   help="scale the output to max 1 instead of keeping intensity units")
    l_ = sub.add_parser("rl", help="Richardson-Lucy deconvolution")
    _add_common(l_)
    l_.add_argument("--iterations", type=int, default=30, help="RL iterations (default 30)")
    l_.add_argument("--acceleration", choices=["none", "biggs"], default="biggs")
    l_.add_argument("--background-level", type=float, default=0.0,
                    help="constant background in input intensity units (default 0)")
    sub.add_parser("devices", help="list OpenCL devices with their memory")
    return ap


def _devices() -> int:
    from .backends.opencl import OpenCLUnavailable, list_devices

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


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "devices":
        return _devices()
    from . import datasets
    from .core.params import SparseParams
    from .io.tiff import write_tiff

    try:
        if args.input is None:
            src = Path(str(datasets.celegans_path()))
            image, info = datasets.celegans(), {"scale": None, "axes": "YX"}
            if args.psf is None and args.psf_fwhm_px is None:
                args.psf_fwhm_px = [datasets.CELEGANS_PSF_FWHM_PX]
            print(f"no input given: using the bundled C. elegans Airyscan image "
                  f"(PSF FWHM {args.psf_fwhm_px[0]} px)", file=sys.stderr)
        else:
            src = Path(args.input)
            image, info = _load(src)
        psf = None
        if args.psf:
            psf, _ = _load(args.psf)
        fwhm = None
        if args.psf_fwhm_px:
            fwhm = args.psf_fwhm_px[0] if len(args.psf_fwhm_px) == 1 else tuple(args.psf_fwhm_px)
        show = _progress_printer()
        t0 = time.perf_counter()
        if args.command == "run":
            base = SparseParams()
            if args.params:
                base = SparseParams.from_dict(json.loads(Path(args.params).read_text()))
            changes = {k: getattr(args, k) for k in (
                "fidelity", "sparsity", "continuity", "iterations", "background", "upsample",
                "upsample_method", "deconv_method", "deconv_iterations", "axis")
                if getattr(args, k) is not None}
            if fwhm is not None:
                changes["psf_fwhm_px"] = fwhm
            if args.max_one:
                changes["quantitative"] = False
            params = base.replace(**changes)
            from .core.pipeline import iter_sparse_deconvolve

            kw = params.to_dict()
            gen = iter_sparse_deconvolve(image, psf=psf, backend=args.backend,
                                         device=args.device, clip_negative=args.clip_negative,
                                         **kw)
            meta = {"method": "sparse_deconvolve", **kw}
            suffix = "sparse"
        else:
            if psf is None:
                if fwhm is None:
                    raise ValueError("rl needs --psf or --psf-fwhm-px")
                from .core.psf import gaussian_psf

                psf = gaussian_psf(None, fwhm)
            from .core.richardson_lucy import iter_richardson_lucy

            acc = None if args.acceleration == "none" else args.acceleration
            gen = iter_richardson_lucy(image, psf, iterations=args.iterations,
                                       background=args.background_level, acceleration=acc,
                                       clip_negative=args.clip_negative,
                                       backend=args.backend, device=args.device)
            meta = {"method": "richardson_lucy", "iterations": args.iterations,
                    "acceleration": acc, "background": args.background_level}
            params = None
            suffix = "rl"
        out = _drive(gen, show)
        dt = time.perf_counter() - t0
        from . import __version__
        from .backends import get_backend

        be = get_backend(args.backend, args.device)
        meta.update(version=__version__, backend=be.name, device=be.device_name,
                    seconds=round(dt, 3), source=str(src))
        scale = info.get("scale")
        if scale is not None and params is not None and params.upsample == 2:
            scale = list(scale[:-2]) + [s / 2 for s in scale[-2:]]
        dest = Path(args.output) if args.output else Path(f"{src.stem}_{suffix}.tif")
        axes = info.get("axes") if info.get("axes") and len(info["axes"]) == out.ndim else None
        write_tiff(dest, out, scale=scale, axes=axes, metadata=meta)
        print(f"wrote {dest} shape {out.shape} float32, range "
              f"[{float(np.min(out)):.4g}, {float(np.max(out)):.4g}] in {dt:.2f} s",
              file=sys.stderr)
        return 0
    except (ValueError, TypeError, OSError, MemoryError, RuntimeError) as err:
        print(f"napari-sparsedecon: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
