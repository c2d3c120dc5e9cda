"""Parameters chosen per image from the data alone: Poisson data splitting.

Photon counts ``y ~ Poisson(m)`` split into ``y1 ~ Binomial(y, 1/2)`` and
``y2 = y - y1``, two *independent* Poisson images of mean ``m/2`` each (binomial
thinning). A candidate (an iteration count, an output resolution) is run on
``y1`` alone and scored by how well its prediction ``H x(y1) + b/2`` predicts
the half it did not see, ``y2``, with the Poisson deviance. No truth is used.

Read noise: the methods work on shifted photo-electrons ``y/gain + rn^2``
(:func:`napari_sparsedecon.ops.noise.to_photons`), modelled as Poisson with
mean ``H x + b + rn^2``: their variance equals their mean, which is what makes
binomial thinning give uncorrelated halves (``cov(y1, y2) = (var - mean) / 4``).
The shifted data are not integers: the rounded part is thinned and the rounding
remainder ``r`` (``|r| <= 1/2``) is split equally, which leaves a covariance of
``var(r)/4 <= 1/48`` e-^2 between the halves, negligible against their Poisson
variance. (Halves are clipped at 0, like the methods' own data; integer data are
thinned exactly.)

NumPy only, no Qt: the methods call it from their iterate functions.
"""

from __future__ import annotations

import math

import numpy as np

from ..base.validation import FLOAT

#: Seed of the split (fixed: the same image gives the same choice every run).
SPLIT_SEED = 20260

#: ``rl`` auto stop: full-data iterations = this x the best count on half the
#: photons (half the data support fewer iterations). Chosen on the tuning split of
#: benchmarks/heldout_cases.py (see docs/algorithms.md) by the most cases within 0.5 dB
#: of the best count, ties broken by the mean loss: 3.5 with RL started from the data;
#: 3.0 since RL starts flat (2026-12-04: 26/32 cases for 2.5-4.0, mean loss 0.41 dB at
#: 3.0, 0.42 at 3.5, 0.43 at 2.5).
RL_HALF_TO_FULL = 3.0
#: ... and the half run ends once its deviance has not improved for this many
#: iterations and this fraction of the iterations run so far.
RL_PATIENCE = 6
RL_PATIENCE_FRAC = 0.5

#: Output-resolution candidates (fraction of the PSF FWHM) scored for rl_tv/sparse_psf.
RESOLUTION_CANDIDATES = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75)
#: Resolution rule: "whitened" (default) scores each candidate by the held-out residual
#: seen in object space, ``sum |FFT(y2 - H x_r - b/2)|^2 / |OTF|^2`` over the
#: frequencies where ``|OTF| > WHITEN_TAU`` (an unbiased estimate, up to a constant,
#: of the candidate's in-band error against the object, because y2 is independent
#: of x_r); "deviance" uses the data-space Poisson deviance, which hides everything
#: the PSF attenuates and picks the sharpest output almost always (tuning split).
RESOLUTION_RULE = "whitened"
WHITEN_TAU = 0.02
#: Recorded in the report for calibration (benchmarks/heldout.py --tuning).
WHITEN_TAUS = (0.02, 0.05, 0.1, 0.2, 0.3)
#: Deviance rule: the coarsest candidate whose held-out deviance is within
#: this many standard errors of the best one (the "one standard error" rule of
#: cross-validation: the smoothest output the data cannot tell apart from the best
#: fit). The data-space deviance barely sees blur finer than the PSF, so the plain
#: minimum picks 0 almost always; set on the tuning split.
RESOLUTION_SE = 1.0


#: The choices are made on a central crop of at most this many pixels in Y and X (all
#: leading planes): the same choice for every tile, ROI preview and time point of an
#: image, at a cost that does not grow with the image.
CHOICE_CROP = 256


def central_crop(shape, size: int = CHOICE_CROP) -> tuple:
    """Slices of the central ``size`` x ``size`` Y/X window of ``shape`` (whole leading axes)."""
    out = [slice(None)] * (len(shape) - 2)
    for n in shape[-2:]:
        a = max(0, (n - size) // 2)
        out.append(slice(a, min(n, a + size)))
    return tuple(out)


def thin(ye: np.ndarray, seed: int = SPLIT_SEED):
    """Two independent halves of shifted-Poisson data ``ye`` (photo-electrons, >= 0).

    Each half has mean ``E[ye] / 2`` and, for Poisson data, variance ``E[ye] / 2``;
    ``y1 + y2 == ye`` up to the clipping at 0.
    """
    rng = np.random.default_rng(seed)
    ye = np.asarray(ye, dtype=np.float64)
    k = np.rint(np.maximum(ye, 0.0))
    r = ye - k
    k1 = rng.binomial(k.astype(np.int64), 0.5).astype(np.float64)
    y1 = k1 + r / 2
    y2 = (k - k1) + r / 2
    return (np.maximum(y1, 0).astype(FLOAT), np.maximum(y2, 0).astype(FLOAT))


def poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    """Mean Poisson deviance per pixel, ``2 mean(y log(y/mu) - (y - mu))`` (y log y = 0 at 0)."""
    return float(np.mean(_deviance_map(y, mu)))


class Predictor:
    """``x -> H x + b`` on the data grid (mirror-padded FFT convolution, made once)."""

    def __init__(self, shape, psf, background):
        from ..ops.padding import rl_geometry

        self.axes, self.widths, self.pshape, self.otf, self.crop = rl_geometry(shape, psf)
        self.b = np.asarray(background, dtype=FLOAT)

    def __call__(self, x) -> np.ndarray:
        from ..ops.padding import fft_convolve, mirror_pad

        hx = fft_convolve(mirror_pad(np.asarray(x, FLOAT), self.widths), self.otf,
                          self.axes, self.pshape)[self.crop]
        hx += self.b
        return hx


def split_rl_iterations(ye, psf, bg, make_plan, n_max: int, *, seed: int = SPLIT_SEED):
    """The ``rl`` iteration count for the full data ``ye``, chosen by data splitting.

    ``make_plan(shape, psf, background)`` builds the RL plan the method runs (same
    backend, same acceleration). RL runs on one half; after every iteration its
    prediction of the other half is scored; the run ends ``RL_PATIENCE`` (and at least
    ``RL_PATIENCE_FRAC`` x the iterations so far) past the best. Returns
    ``(iterations for the full data, report dict)``.
    """
    from ..core.sparse_hessian import _host

    y1, y2 = thin(ye, seed)
    half_bg = np.asarray(bg, FLOAT) * FLOAT(0.5)
    pred = Predictor(ye.shape, psf, half_bg)
    n_half_max = max(1, int(math.ceil(n_max / RL_HALF_TO_FULL)))
    curve: list[float] = []
    best_k, best = 0, poisson_deviance(y2, pred(np.maximum(y1 - half_bg, 0)))
    start = best
    with make_plan(ye.shape, psf, half_bg) as plan:
        plan.set_data(y1)
        for k in range(1, n_half_max + 1):
            plan.step()
            d = poisson_deviance(y2, pred(_host(plan.result())))
            curve.append(d)
            if d < best:
                best, best_k = d, k
            if k - best_k >= max(RL_PATIENCE, RL_PATIENCE_FRAC * best_k):
                break
    best_k = max(best_k, 1)
    n_full = int(min(n_max, max(1, round(RL_HALF_TO_FULL * best_k))))
    report = {
        "rule": "data splitting (binomial thinning of the photo-electrons; the Poisson "
                "deviance of the half not seen)",
        "best_on_half": best_k, "half_to_full": RL_HALF_TO_FULL, "chosen": n_full,
        "deviance_start": round(start, 5), "deviance_best": round(best, 5),
        "half_iterations_run": len(curve),
        "deviance_curve": [round(v, 5) for v in curve],
    }
    return n_full, report


def split_resolution(ye, psf, bg, make_plan, n_iter: int, sigma_of, *,
                     candidates=RESOLUTION_CANDIDATES, seed: int = SPLIT_SEED):
    """The output resolution of ``rl_tv``/``sparse_psf`` for ``ye``, by data splitting.

    ``make_plan(y, bg)`` returns a plan already given the half data ``y`` with
    background ``bg`` (its weights computed from those data as the method would);
    it runs ``n_iter`` iterations, then every candidate resolution's output
    (``gaussian_filter(x, sigma_of(res))``) predicts the other half. Returns
    ``(resolution for the full data, report dict)``.
    """
    from scipy.ndimage import gaussian_filter

    y1, y2 = thin(ye, seed)
    half_bg = np.asarray(bg, FLOAT) * FLOAT(0.5)
    pred = Predictor(ye.shape, psf, half_bg)
    plan = make_plan(y1, half_bg)
    for _ in range(n_iter):
        plan.step()
    x1 = np.asarray(plan.result(), FLOAT)
    per_px = []
    for r in candidates:
        xr = gaussian_filter(x1, sigma_of(r), mode="reflect") if r > 0 else x1
        per_px.append(_deviance_map(y2, pred(xr)).ravel())
    scores = [float(np.mean(d)) for d in per_px]
    i = int(np.argmin(scores))
    z = []
    for d in per_px:
        diff = d - per_px[i]
        se = float(np.std(diff)) / math.sqrt(diff.size)
        z.append(0.0 if se == 0 else float(np.mean(diff)) / se)
    white = _whitened_scores(y2, [pred(gaussian_filter(x1, sigma_of(r), mode="reflect")
                                       if r > 0 else x1) for r in candidates], psf,
                             pred.axes)
    if RESOLUTION_RULE == "whitened":
        j = int(np.argmin(white[WHITEN_TAU]))
        why = (f"the smallest held-out residual in object space (|OTF| > {WHITEN_TAU:g})")
    else:
        ok = [j for j, v in enumerate(z) if v <= RESOLUTION_SE]
        j = max(ok, key=lambda k: candidates[k])
        why = f"the coarsest candidate within {RESOLUTION_SE:g} standard errors of the best"
    res = float(candidates[j])
    report = {
        "rule": "data splitting (binomial thinning of the photo-electrons, the method run "
                "on one half, each candidate scored on the other): " + why,
        "candidates": list(candidates), "chosen": res,
        "whitened": [round(v, 6) for v in white[WHITEN_TAU]],
        "deviance": [round(s, 6) for s in scores],
        "excess_se": [round(v, 3) for v in z],
        "whitened_by_tau": {str(t): [round(v, 6) for v in w] for t, w in white.items()},
        "deviance_best": candidates[i], "half_iterations": n_iter,
    }
    return res, report


def _whitened_scores(y2, predictions, psf, axes):
    """{tau: [score per prediction]}: ``mean |FFT(y2 - pred)|^2 / |OTF|^2`` over the
    frequencies where ``|OTF| > tau`` (FFT over the PSF's axes)."""
    from scipy import fft as sfft

    from ..psf.basic import psf_to_otf, trim_psf

    p = trim_psf(np.asarray(psf, FLOAT))
    p = p / p.sum()
    shape = y2.shape
    if any(p.shape[k] > shape[a] for k, a in enumerate(axes)):
        p = p[tuple(slice(max(0, (p.shape[k] - shape[a]) // 2),
                          max(0, (p.shape[k] - shape[a]) // 2) + shape[a])
                    for k, a in enumerate(axes))]
        p = p / p.sum()
    a2 = np.abs(psf_to_otf(p, shape, axes)) ** 2
    specs = [np.abs(sfft.rfftn(np.asarray(y2, np.float64) - mu, axes=axes)) ** 2
             for mu in predictions]
    out = {}
    for t in WHITEN_TAUS:
        band = a2 > t * t
        w = np.where(band, 1.0 / np.maximum(a2, 1e-30), 0.0)
        out[t] = [float(np.sum(sp * w) / sp.size) for sp in specs]
    return out


def _deviance_map(y, mu):
    y = np.asarray(y, np.float64)
    mu = np.maximum(np.asarray(mu, np.float64), 1e-12)
    t = np.where(y > 0, y * np.log(np.maximum(y, 1e-300) / mu), 0.0)
    return 2.0 * (t - (y - mu))
