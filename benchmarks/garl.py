"""GARL benchmark: ``garl`` at 20 / 50 / 100 iterations against classic RL at its best
iteration count (an oracle), ``rl_tv`` and ``sparse_psf`` at their defaults, RSNR
against the object itself (after the best affine fit).

    PYTHONPATH=src .venv/bin/python benchmarks/garl.py --quick   # a few minutes

Cases (none of them is in GARL's training set, which is training/garl_phantoms.py):
- 3-D tubes (benchmarks/quality.py's random straight tubes, 32x96x96), anisotropic
  Gaussian PSF FWHM 7.5 px axial / 2.5 px lateral, 100 photons peak, background 10,
  read noise 1.5 e-;
- the pollen volume (shared/data: pollen_poisson_noise_blurred.tif, truth pollen.tif,
  PSF pollen_psf.tif); --quick: the central 32x128x128 of it;
- 2-D SIM-like phantom (core.phantom, as in quality.py) at 25 and 300 photons peak.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from quality import noisy_of, rsnr, tubes_3d  # benchmarks/ is on sys.path

import napari_sparsedecon as nsd
from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy
from napari_sparsedecon.core.phantom import make_phantom

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def rl_best(y, psf, truth, bg, its):
    ye = np.maximum(y + bg, 0)
    plan = NumpyRichardsonLucy(y.shape, psf, background=bg)
    plan.set_data(ye)
    best, k = (-np.inf, 0), 0
    t0 = time.perf_counter()
    for n in its:
        while k < n:
            plan.step()
            k += 1
        r = rsnr(plan.result(), truth)
        if r > best[0]:
            best = (r, n)
    return best[0], best[1], (time.perf_counter() - t0) / k


def garl_at(y, psf, truth, its=(20, 50, 100), **kw):
    info: dict = {}
    gen = nsd.iter_deconvolve(y, "garl", psf=psf, return_estimate=True, info=info,
                              iterations=max(its), **kw)
    out = {}
    t0 = time.perf_counter()
    try:
        while True:
            p = next(gen)
            if p.iteration in its and p.estimate is not None:
                out[p.iteration] = rsnr(p.estimate, truth)
    except StopIteration:
        pass
    return out, (time.perf_counter() - t0) / max(its), info


def case_tubes():
    from scipy.signal import fftconvolve

    truth = tubes_3d()
    psf = nsd.gaussian_psf((15, 11, 11), (7.5, 2.5, 2.5))
    b = fftconvolve(truth, psf, mode="same")
    b *= 100 / b.max()
    rng = np.random.default_rng(1)
    y = (rng.poisson(np.clip(b + 10, 0, None)) + rng.normal(0, 1.5, b.shape)).astype(
        np.float32)
    return "3-D tubes, 100 photons", y, psf, truth, 2.25


def case_pollen(quick):
    import tifffile

    y = tifffile.imread(DATA / "pollen_poisson_noise_blurred.tif").astype(np.float32)
    truth = tifffile.imread(DATA / "pollen.tif").astype(np.float32)
    psf = tifffile.imread(DATA / "pollen_psf.tif").astype(np.float32)
    c = np.array(psf.shape) // 2  # the odd 31^3 box around the centre (as quality.py)
    psf = psf[c[0] - 15:c[0] + 16, c[1] - 15:c[1] + 16, c[2] - 15:c[2] + 16]
    psf /= psf.sum()
    if quick:
        sl = (slice(None), slice(64, 192), slice(64, 192))
        y, truth = y[sl], truth[sl]
    return "pollen" + (" (central 32x128x128)" if quick else ""), y, psf, truth, 0.0


def case_2d(photons):
    ph = make_phantom((192, 192), photons=photons, background_photons=12, read_noise=1.5,
                      seed=3)
    return f"2-D SIM-like phantom, {photons} photons", noisy_of(ph, 5), ph.psf, ph.truth, 2.25


def run_case(name, y, psf, truth, bg, rows):
    print(f"\n## {name}: shape {y.shape}", flush=True)
    raw = rsnr(y, truth)
    r_rl, n_rl, t_rl = rl_best(y, psf, truth, bg, (5, 10, 15, 20, 30, 40, 50, 70, 100, 150))
    res = {"case": name, "raw": raw, "rl_best": r_rl, "rl_best_it": n_rl, "rl_s_it": t_rl}
    for m in ("rl_tv", "sparse_psf"):
        t0 = time.perf_counter()
        res[m] = rsnr(nsd.deconvolve(y, m, psf=psf), truth)
        res[m + "_s"] = time.perf_counter() - t0
    g, t_g, info = garl_at(y, psf, truth)
    res.update({f"garl@{k}": v for k, v in g.items()}, garl_s_it=t_g,
               filters=info.get("filters"))
    for k, v in res.items():
        print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}", flush=True)
    rows.append(res)


def _blur_noise(x, psf, photons, rng, bg=10.0):
    from scipy.signal import fftconvolve

    b = np.clip(fftconvolve(x, psf, mode="same"), 0, None)
    b *= photons / b.max()
    return (rng.poisson(b + bg) + rng.normal(0, 1.5, b.shape)).astype(np.float32)


def tune():
    """The defaults' tuning split: objects of GARL's own generator (seeds 900, 901; not
    in its training set, not in the benchmark cases), through Gaussian PSFs."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    import garl_phantoms

    rng = np.random.default_rng(900)
    cases = []
    for ph in (30, 1000):
        x = garl_phantoms.make_object((96, 96), rng)
        psf = nsd.gaussian_psf(None, 3.0)
        cases.append((f"2-D {ph} ph", x, psf, _blur_noise(x, psf, ph, rng)))
    x = garl_phantoms.make_object((16, 48, 48), np.random.default_rng(901))
    psf = nsd.gaussian_psf((15, 11, 11), (6.0, 2.5, 2.5))
    cases.append(("3-D 100 ph", x, psf, _blur_noise(x, psf, 100, rng)))
    print("| case | strength | noise_scale | RSNR @20 | @50 | @100 |")
    print("|---|---|---|---|---|---|")
    for name, x, psf, y in cases:
        for st in (0.25, 0.5, 1.0, 2.0, 4.0):
            for ns in (0.5, 1.0, 2.0):
                g, _, _ = garl_at(y, psf, x, strength=st, noise_scale=ns)
                print(f"| {name} | {st} | {ns} | {g[20]:.2f} | {g[50]:.2f} | {g[100]:.2f} |",
                      flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the pollen crop only")
    ap.add_argument("--tune", action="store_true",
                    help="the defaults' tuning grid (strength x noise_scale) instead")
    ap.add_argument("--cases", nargs="+", default=["tubes", "pollen", "2d"],
                    choices=["tubes", "pollen", "2d"])
    a = ap.parse_args(argv)
    if a.tune:
        return tune()
    print(f"# GARL benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores (shared), napari-sparsedecon {nsd.__version__}")
    rows: list = []
    if "tubes" in a.cases:
        run_case(*case_tubes(), rows)
    if "pollen" in a.cases:
        run_case(*case_pollen(a.quick), rows)
    for ph in (25, 300):
        if "2d" in a.cases:
            run_case(*case_2d(ph), rows)
    print("\n| case | raw | RL best (it.) | rl_tv | sparse_psf | garl @20 | @50 | @100 | "
          "garl s/it | RL s/it |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['raw']:.2f} | {r['rl_best']:.2f} ({r['rl_best_it']}) | "
              f"{r['rl_tv']:.2f} | {r['sparse_psf']:.2f} | {r['garl@20']:.2f} | "
              f"{r['garl@50']:.2f} | {r['garl@100']:.2f} | {r['garl_s_it']:.3f} | "
              f"{r['rl_s_it']:.3f} |")
    ok = all(r["garl@100"] >= r["garl@20"] - 0.05 and r["garl@100"] > r["raw"] for r in rows)
    print(f"\ngarl keeps improving 20 -> 100 and beats the raw input everywhere: {ok}")


if __name__ == "__main__":
    main()
