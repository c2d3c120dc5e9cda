"""The real pollen volume of ../shared/data (it has a truth; nobody tuned to it): every
photon method at its defaults against classic RL at its best iteration count, and the
two defaults changed on 2026-12-04 against what they replaced (issue 26).

    PYTHONPATH=src .venv/bin/python benchmarks/pollen.py      # ~3 min on 2 cores

RSNR (dB, after the best affine fit) against the truth. The noisy volume is in photon
counts; the PSF is the file's, cropped to 31^3 around its centre.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from heldout import rsnr  # noqa: E402
from quality import load_pollen  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon.algorithms.rl_reg import VOLUME_PRIOR_SCALE  # noqa: E402
from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy  # noqa: E402


def main():
    d = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (d / "pollen.tif").exists():
        raise SystemExit("the pollen volume is not beside the repository (../shared/data)")
    truth, y, p = load_pollen(d)
    print(f"# pollen {y.shape}, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; "
          f"raw {rsnr(y, truth):.2f} dB")
    for start in ("flat", "data"):
        plan = NumpyRichardsonLucy(y.shape, p, start=start)
        plan.set_data(y)
        best = (-np.inf, 0)
        for k in range(1, 101):
            plan.step()
            if k in (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100):
                best = max(best, (rsnr(plan.result(), truth), k))
        print(f"classic RL, {start} start, best: {best[0]:.2f} dB at {best[1]} it.")
    runs = [("rl (defaults: flat start, split stop)", "rl", {}),
            ("rl, data start", "rl", {"start": "data"}),
            ("sparse_psf (defaults: volume weights x 0.25)", "sparse_psf", {}),
            ("sparse_psf, unscaled weights (before)", "sparse_psf",
             {"strength": 0.005 / VOLUME_PRIOR_SCALE, "sparsity": 1.0 / VOLUME_PRIOR_SCALE}),
            ("rl_tv (defaults)", "rl_tv", {})]
    for label, method, kw in runs:
        t0 = time.perf_counter()
        out, info = nsd.deconvolve(y, method, psf=p, return_info=True, backend="numpy", **kw)
        extra = (f", {info['iterations_run']} it." if method == "rl" else
                 f", resolution {info.get('resolution_used')}")
        print(f"{label}: {rsnr(out, truth):.2f} dB{extra} ({time.perf_counter() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
