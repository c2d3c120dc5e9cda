"""Image-quality benchmark: every registered method at its defaults against plain RL at
its best iteration count, on phantoms like users' data (issue 15).

    .venv/bin/python benchmarks/quality.py            # ~2-4 min on 2 cores

Suite (built here, seeds fixed):
- 2-D SIM-like phantom (core.phantom: 110 nm FWHM PSF, 32 nm pixels, point pairs
  40-200 nm, filament with a 200 nm gap, rings, puncta) at peak photons 25, 60 and
  300 over a 12-photon background, Poisson + Gaussian read noise 1.5 e-, offset
  subtracted (negative values kept);
- a background-only field of the same kind (coefficient of variation in/out);
- a 3-D microtubule-like volume (random straight tubes) blurred by an anisotropic
  Gaussian PSF (FWHM 2.5 px lateral, 7.5 px axial), 100 photons peak.

RSNR is measured against the truth blurred to half the PSF width (a deconvolution
cannot recover a delta; the same reference for every method), after the best
affine fit. "pairs" is the smallest separation from which every larger pair is
resolved (dip >= 20% between the peaks); "gap" is whether the filament gap stays
open (dip >= 20% at its middle).
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np
from scipy.ndimage import gaussian_filter

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms.registry import DEFAULT_METHOD
from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy
from napari_sparsedecon.core.phantom import make_phantom, pair_resolved
from napari_sparsedecon.psf.basic import FWHM_PER_SIGMA


def rsnr(x, t):
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2))


def noisy_of(ph, seed):
    rng = np.random.default_rng(seed)
    lam = np.clip(ph.blurred + ph.background, 0, None)
    return (rng.poisson(lam) + rng.normal(0, 1.5, lam.shape)).astype(np.float32)


def pairs_resolved(img, ph):
    ok = None
    for sep, p1, p2 in sorted(ph.pairs, reverse=True):
        if not pair_resolved(img, p1, p2, dip=0.8):
            break
        ok = sep
    return ok


def gap_open(img, ph):
    fy, g0, g1, _, _ = ph.gap
    mid = (g0 + g1) / 2
    return pair_resolved(img, (fy, g0 - 2), (fy, g1 + 2), dip=0.8) and mid > 0


def rl_best(y, psf, truth, bg, its=(5, 10, 15, 20, 30, 40, 50, 70, 100, 150),
            out_sigma=None):
    """Classic RL at its best iteration count (by RSNR against the truth: an oracle no
    user has). ``out_sigma``: also search it shown through a Gaussian of that sigma
    (the output resolution the photon methods use), for a like-for-like comparison."""
    ye = np.maximum(y + bg, 0)
    plan = NumpyRichardsonLucy(y.shape, psf, background=bg)
    plan.set_data(ye)
    best, k = (-np.inf, 0, None), 0
    for n in its:
        while k < n:
            plan.step()
            k += 1
        img = plan.result().copy()
        if out_sigma is not None:
            img = gaussian_filter(img, out_sigma)
        r = rsnr(img, truth)
        if r > best[0]:
            best = (r, n, img)
    return best


checks: list = []
ref: dict = {}


def suite_2d():
    print("\n## 2-D SIM-like phantom (offset-subtracted, read noise 1.5 e-)")
    print("| photons | method | RSNR dB | pairs resolved from (nm) | gap open | time s |")
    print("|---|---|---|---|---|---|")
    for photons in (25, 60, 300):
        ph = make_phantom((192, 192), photons=photons, background_photons=12,
                          read_noise=1.5, seed=3)
        y = noisy_of(ph, 5)
        truth = gaussian_filter(ph.truth, ph.psf_fwhm_nm / ph.pixel_nm / 2 / FWHM_PER_SIGMA)
        print(f"| {photons} | raw | {rsnr(y, truth):.2f} | {pairs_resolved(y, ph)} | "
              f"{gap_open(y, ph)} | |")
        t0 = time.perf_counter()
        r, n, img = rl_best(y, ph.psf, truth, 2.25)
        print(f"| {photons} | RL at its best ({n} it.) | {r:.2f} | "
              f"{pairs_resolved(img, ph)} | {gap_open(img, ph)} | "
              f"{time.perf_counter() - t0:.1f} (search) |")
        ref[photons] = r
        s_out = 0.5 * ph.psf_fwhm_nm / ph.pixel_nm / FWHM_PER_SIGMA
        r2, n2, img2 = rl_best(y, ph.psf, truth, 2.25, out_sigma=s_out)
        print(f"| {photons} | RL at its best ({n2} it.), shown at half the PSF FWHM | "
              f"{r2:.2f} | {pairs_resolved(img2, ph)} | {gap_open(img2, ph)} | |")
        raw_pairs = pairs_resolved(y, ph)
        for m in nsd.methods():
            t0 = time.perf_counter()
            kw = {"psf_fwhm_px": ph.psf_fwhm_nm / ph.pixel_nm} if m == "sparse" else \
                 {"psf": ph.psf}
            out = nsd.deconvolve(y, m, **kw)
            dt = time.perf_counter() - t0
            r_m, pr = rsnr(out, truth), pairs_resolved(out, ph)
            print(f"| {photons} | {m} (defaults) | {r_m:.2f} | "
                  f"{pr} | {gap_open(out, ph)} | {dt:.2f} |")
            if m == DEFAULT_METHOD:
                checks.append((f"{photons} photons: default {m} >= RL best + 1 dB",
                               r_m >= r + 1.0, f"{r_m:.2f} vs {r:.2f}"))
                checks.append((f"{photons} photons: pairs >= 30 nm closer than raw",
                               pr is not None and raw_pairs is not None
                               and pr <= raw_pairs - 30, f"{pr} vs raw {raw_pairs}"))
                checks.append((f"{photons} photons: gap open", gap_open(out, ph), ""))


def suite_empty():
    print("\n## Background-only field: fluctuation std(out) / mean(in) (<= input CV "
          "wanted)")
    print("(the photon methods return the object without the background, so the plain "
          "CV of their output is undefined; for methods that keep the flux the two agree)")
    ph = make_phantom((192, 192), photons=60, background_photons=12, read_noise=1.5,
                      seed=4, structures=False)
    y = noisy_of(ph, 6)
    cv_in = float(np.std(y) / np.mean(y))
    print(f"input CV {cv_in:.3f}")
    for m in nsd.methods():
        kw = {"psf_fwhm_px": 3.44} if m == "sparse" else {"psf": ph.psf}
        v = float(np.std(nsd.deconvolve(y, m, **kw)) / np.mean(y))
        print(f"{m}: {v:.3f}")
        if m == DEFAULT_METHOD:
            checks.append(("empty field: default method <= input CV", v <= cv_in,
                           f"{v:.3f} vs {cv_in:.3f}"))


def tubes_3d(shape=(32, 96, 96), n=12, seed=0):
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, np.float64)
    for _ in range(n):
        p0 = rng.uniform([4, 0, 0], [shape[0] - 4, shape[1], shape[2]])
        d = rng.normal(size=3)
        d[0] *= 0.2
        d /= np.linalg.norm(d)
        for t in np.arange(-150, 150, 0.5):
            z, y, x = np.round(p0 + t * d).astype(int)
            if 0 <= z < shape[0] and 0 <= y < shape[1] and 0 <= x < shape[2]:
                vol[z, y, x] = 1.0
    return vol


def suite_3d(photons=100):
    print("\n## 3-D tubes, anisotropic PSF (FWHM 7.5 px axial, 2.5 px lateral), "
          f"{photons} photons peak")
    truth0 = tubes_3d()
    psf = nsd.gaussian_psf((15, 11, 11), (7.5, 2.5, 2.5))
    from scipy.signal import fftconvolve

    blurred = fftconvolve(truth0, psf, mode="same")
    blurred *= photons / blurred.max()
    rng = np.random.default_rng(1)
    y = (rng.poisson(np.clip(blurred + 10, 0, None)) + rng.normal(0, 1.5, blurred.shape)
         - 0).astype(np.float32)
    truth = gaussian_filter(truth0, (7.5 / 2 / FWHM_PER_SIGMA, 2.5 / 2 / FWHM_PER_SIGMA,
                                     2.5 / 2 / FWHM_PER_SIGMA))
    print(f"raw RSNR {rsnr(y, truth):.2f} dB")
    fw = np.array([7.5, 2.5, 2.5])
    r_half, n_half, _ = rl_best(y, psf, truth, 2.25, its=(10, 20, 30, 50, 70, 100),
                                out_sigma=0.5 * fw / FWHM_PER_SIGMA)
    print(f"classic RL at its best, shown at half the PSF FWHM: {r_half:.2f} dB "
          f"({n_half} it.)")
    print("| method | RSNR @20 | @50 | @100 | best | time @100 s |")
    print("|---|---|---|---|---|---|")
    best = {}
    for m, kw in (("rl", {"acceleration": "none", "stop": "none"}),
                  ("rl", {"acceleration": "biggs", "stop": "none"}),
                  ("rl_tv", {}), ("sparse_psf", {})):
        rs, dt = [], 0.0
        for n in (20, 50, 100):
            t0 = time.perf_counter()
            out = nsd.deconvolve(y, m, psf=psf, iterations=n, **kw)
            dt = time.perf_counter() - t0
            rs.append(rsnr(out, truth))
        label = m + ("" if not kw else f" {kw.get('acceleration', '')}")
        best[label] = rs
        print(f"| {label} | {rs[0]:.2f} | {rs[1]:.2f} | {rs[2]:.2f} | {max(rs):.2f} | "
              f"{dt:.1f} |")
    out, info = nsd.deconvolve(y, "rl", psf=psf, return_info=True)
    print(f"rl defaults (discrepancy stop after {info['iterations_run']} it.): "
          f"{rsnr(out, truth):.2f} dB")
    out = nsd.deconvolve(y, "sparse", psf=psf)
    r_paper = rsnr(out, truth)
    print(f"sparse (paper pipeline) defaults with the 3-D PSF: {r_paper:.2f} dB")
    classic = max(best["rl none"])
    for m in ("sparse_psf", "rl_tv"):
        rs = best[m]
        checks.append((f"3-D: {m} @100 >= @20", rs[2] >= rs[0], f"{rs[2]:.2f} vs {rs[0]:.2f}"))
        checks.append((f"3-D: {m} best >= classic RL best + 1.5 dB", max(rs) >= classic + 1.5,
                       f"{max(rs):.2f} vs {classic:.2f}"))
    checks.append(("3-D: paper pipeline defaults >= plain RL best", r_paper >= classic,
                   f"{r_paper:.2f} vs {classic:.2f}"))


def load_pollen(d):
    """(truth, noisy volume, PSF cropped to 31^3 around its centre and summing to 1) of the
    pollen files in folder ``d``."""
    import tifffile

    truth = tifffile.imread(d / "pollen.tif").astype(np.float32)
    y = tifffile.imread(d / "pollen_poisson_noise_blurred.tif").astype(np.float32)
    psf = tifffile.imread(d / "pollen_psf.tif").astype(np.float32)
    c = np.array(psf.shape) // 2
    p = psf[c[0] - 15:c[0] + 16, c[1] - 15:c[1] + 16, c[2] - 15:c[2] + 16]
    return truth, y, p / p.sum()


def suite_pollen():
    """``rl`` at its defaults against its best iteration count on the pollen volume."""
    from pathlib import Path


    d = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (d / "pollen.tif").exists():
        print("\n(pollen volume not found beside the repository: skipped)")
        return
    print("\n## Pollen volume (../shared/data): rl defaults vs its best iteration count")
    truth, y, p = load_pollen(d)
    out, info = nsd.deconvolve(y, "rl", psf=p, return_info=True)
    r_def = rsnr(out, truth)
    plan = NumpyRichardsonLucy(y.shape, p, acceleration="biggs")
    plan.set_data(y)
    best = (-np.inf, 0)
    for k in range(1, 31):
        plan.step()
        best = max(best, (rsnr(plan.result(), truth), k))
    print(f"rl defaults: {r_def:.2f} dB after {info['iterations_run']} it.; best Biggs "
          f"{best[0]:.2f} dB at {best[1]} it.")
    checks.append(("pollen: rl defaults within 0.3 dB of its best", r_def >= best[0] - 0.3,
                   f"{r_def:.2f} vs {best[0]:.2f}"))


if __name__ == "__main__":
    print(f"# quality benchmark: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, napari-sparsedecon "
          f"{nsd.__version__}")
    suite_2d()
    suite_empty()
    suite_3d()
    suite_pollen()
    print("\n## Targets (issue 15)")
    for name, ok, detail in checks:
        print(f"- [{'x' if ok else ' '}] {name}: {'met' if ok else 'NOT met'} ({detail})")
