"""Calibration table for the 'Suggest' button (core/suggest.py CALIBRATION).

    python benchmarks/calibrate_suggest.py          # ~3 min on 2 cores

For each PSF width and photon level, makes the synthetic phantom, measures
its SNR exactly as ``suggest_parameters`` does (on the raw noisy image), then
sweeps fidelity (10-1000, 13 log steps) x sparsity (0, 0.3, 1, 3) x
deconvolution iterations (10, 30, 60) on the background-free image and scores
each result by RSNR against the truth blurred to half the PSF width (affine
intensity fit). Prints the best setting per row, the range of fidelity within
0.5 dB of it, and the table in the form core/suggest.py holds.
"""

from __future__ import annotations

import datetime
import itertools
import platform
import time

import numpy as np
from scipy import ndimage

import napari_sparsedecon as nsd
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.core.suggest import signal_and_noise

FIDELITIES = np.geomspace(10, 1000, 13)
SPARSITIES = (0.0, 0.3, 1.0, 3.0)
DECONV_ITERATIONS = (10, 30, 60)
PHOTONS = (30, 100, 300, 1000, 3000)
PSF_NM = (110, 200)  # 3.44 and 6.25 px at 32 nm


def rsnr(target, result) -> float:
    """RSNR (dB) of ``result`` against ``target`` after an affine intensity fit."""
    a = np.stack([result.ravel(), np.ones(result.size)], 1)
    coef, *_ = np.linalg.lstsq(a, target.ravel(), rcond=None)
    err = target.ravel() - a @ coef
    return float(10 * np.log10(((target - target.mean()) ** 2).sum() / (err**2).sum()))


def score_grid(ph, fidelities=FIDELITIES, sparsities=SPARSITIES,
               deconv_iterations=DECONV_ITERATIONS):
    """[(rsnr, fidelity, sparsity, deconv_iterations)], best first."""
    fw = ph.psf_fwhm_nm / ph.pixel_nm
    target = ndimage.gaussian_filter(ph.truth.astype(np.float64), fw / 2 / 2.3548)
    y = np.maximum(ph.noisy - ph.background, 0).astype(np.float32)
    rows = []
    for f, s, d in itertools.product(fidelities, sparsities, deconv_iterations):
        r = nsd.sparse_deconvolve(y, psf_fwhm_px=fw, fidelity=float(f), sparsity=s,
                                  deconv_iterations=d)
        rows.append((rsnr(target, r), float(f), s, d))
    return sorted(rows, reverse=True)


def main():
    print(f"suggest calibration, {datetime.date.today().isoformat()}, {platform.machine()}")
    table = {}
    for psf_nm in PSF_NM:
        for photons in PHOTONS:
            t0 = time.perf_counter()
            ph = make_phantom((192, 192), photons=photons, psf_fwhm_nm=psf_nm, seed=2)
            sigma, bg, signal = signal_and_noise(ph.noisy)
            snr = signal / sigma
            rows = score_grid(ph)
            best = rows[0]
            near = [r for r in rows if r[0] >= best[0] - 0.5]
            fw = round(psf_nm / ph.pixel_nm, 2)
            table.setdefault(fw, []).append((round(snr, 1), round(best[1], 1), best[2]))
            print(f"PSF {psf_nm} nm ({fw} px), {photons} photons: SNR {snr:.1f}; best RSNR "
                  f"{best[0]:.2f} dB at fidelity {best[1]:.1f}, sparsity {best[2]}, "
                  f"{best[3]} RL iterations; within 0.5 dB: fidelity "
                  f"{min(r[1] for r in near):.0f}-{max(r[1] for r in near):.0f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print("CALIBRATION = {")
    for fw, rows in table.items():
        print(f"    {fw}: {tuple(rows)},")
    print("}")


if __name__ == "__main__":
    main()
