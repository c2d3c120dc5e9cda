"""``garl``: accelerated Richardson-Lucy with a learned convolutional ridge regulariser.

Minimises, over x >= 0 (photo-electrons, on the mirror-padded domain),

    D(H x + b, y) + c * S * R_sigma(x / S)

with D the (shifted-)Poisson negative log-likelihood, b the background (the smooth
estimate or the given constant, with the read-noise shift), R_sigma the learned
regulariser of :mod:`napari_sparsedecon.ops.ridge` (weights trained by
``training/train_garl.py`` on the project's own simulated objects, shipped in
``data/garl_2d.npz`` and ``data/garl_3d.npz``), S the signal photon level (99.9th
percentile of the PSF-smoothed data above the background: the object scaled by it has a
peak near 1, the scale the regulariser was trained on) and

    sigma = noise_scale / sqrt(S),    c = strength * k_d * lam / noise_scale^2,

sigma is the photon noise at the peak relative to the peak (times noise_scale, default
2), and c makes the prior term the trained denoiser's ``lam / sigma^2`` against a
Gaussian approximation of D at the peak level, times a per-model factor ``k_d``
(:data:`CALIBRATION`, tuned on a split of its own). So one default serves tens to
thousands of photons. (Scaling with the mean photon count instead made the weight grow
with the scene's sparsity and flattened sparse volumes; the Poisson noise below the
peak is weaker than the prior assumes, which is where GARL is weakest: see the docs.)

Iteration (accelerated RL as in Algorithm 1 of the GARL report, with the prior handled
by majorisation): at the Nesterov extrapolation ``v`` (adaptive restart), RL's EM
surrogate of D plus the quadratic majoriser of the prior term (its gradient is
``A``-Lipschitz in photons, ``A = c L / S``, L the Lipschitz bound stored with the
weights) is minimised pixel by pixel:

    x = positive root of  A x^2 + B x - v a = 0,
    a = H^T(y / (H v + b)),  B = 1 + c grad R(v / S) - A v,

which is RL's ``v a`` when c = 0, keeps x > 0 without clipping, and does not blow up
where the prior's gradient dominates (a plain split-gradient step, with its step of
about ``v`` photons against the prior's curvature ``A``, oscillates at the trained
weight). Cost per
iteration: RL's two FFT pairs plus the regulariser's 2 L + 2 FFTs (L = 8 filters).
3-D data with a 3-D PSF use the 3-D filters; planes, and stacks with a 2-D PSF (each
plane deblurred on its own), the 2-D filters.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from ..base.validation import FLOAT
from ..ops.multiview import ViewsMixin
from ..params import Param
from ..progress import Progress, Stage
from .common import (
    CAMERA,
    MAX_ITERATIONS,
    PhotonPrep,
    block_photons,
    from_photons,
    photon_data,
    typical_level,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

#: The prior weight per model at strength 1, relative to the trained denoiser's lam, and
#: the default noise_scale: tuned on the tuning split of ``benchmarks/garl.py --tune``
#: (objects of the training generator with other seeds; not the benchmark cases).
CALIBRATION = {2: 1.0, 3: 4.0}
NOISE_SCALE = 2.0

CAMERA_BG = tuple(p for p in CAMERA if p.name != "background") + (
    Param("background", "float", None,
          "known constant background in input units after the offset; None estimates a "
          "smooth background map (the result is the object without it)", unit="ADU", low=0,
          high=1e12, optional=True, advanced=True),
)

SCHEMA = (
    Param("iterations", "int", 100, "iterations (the estimate keeps improving or stays)",
          low=1, high=MAX_ITERATIONS),
    Param("strength", "float", 1.0,
          "weight of the learned prior (1: the tuned default; more smooths more)",
          low=0, high=1e6),
    Param("noise_scale", "float", NOISE_SCALE,
          "noise level the prior assumes, relative to the photon noise at the signal "
          "level (sigma = noise_scale / sqrt(signal photons))", low=1e-3, high=1e3,
          advanced=True),
    Param("resolution", "float", 0.0,
          "output resolution as a fraction of the PSF FWHM: the estimate is shown through "
          "a Gaussian of that FWHM; 0 gives the raw estimate", low=0, high=1.0),
    Param("keep_background", "bool", False,
          "add the background (estimated or given) back to the result", advanced=True),
) + CAMERA_BG


@functools.lru_cache(maxsize=4)
def load_weights(nd: int):
    """(RidgeWeights, provenance dict) of the shipped ``nd``-D model (checksum checked)."""
    from ..ops.ridge import weights_from_arrays

    if nd not in (2, 3):
        raise ValueError(f"garl has 2-D and 3-D weights, not {nd}-D")
    f = DATA_DIR / f"garl_{nd}d.npz"
    with np.load(f) as z:
        w = weights_from_arrays(dict(z))
    prov = json.loads((DATA_DIR / f"garl_{nd}d.json").read_text())
    if w.checksum() != prov["checksum_sha256"]:
        raise ValueError(f"{f.name}: the weights' checksum does not match its provenance")
    return w, prov


def prepare(image, psf, params, *, clip_negative=False):
    """Camera model, background (given constant or a smooth map) and the signal and
    background photon levels, once per image (tiles and previews reuse them)."""
    from ..ops.noise import smooth_background
    from ..psf.basic import psf_spread_fwhm as measure_fwhm
    from .rl_reg import signal_levels

    given = params["background"]
    ye, p, cam, bg = photon_data(image, psf, {**params, "background": given or 0.0},
                                 clip_negative=clip_negative)
    fw = measure_fwhm(p)
    if given is None:
        bg = smooth_background(ye, fw)
    signal, bmean = signal_levels(ye, bg, fw)
    return PhotonPrep(cam, bg, "estimated smooth map" if given is None else "given",
                      {"signal_photons": signal, "background_photons": bmean,
                       "mean_photons": typical_level(ye)},
                      ye.shape), ye, p


def halo(params, psf) -> int:
    """Y/X margin a block needs: the PSF's support twice over, four lateral FWHMs and
    the filters' reach (the prior couples pixels through W^T W), plus 8."""
    from ..psf.basic import psf_spread_fwhm as measure_fwhm
    from ..psf.basic import psf_support

    p = np.asarray(psf)
    box = psf_support(p)
    half = max((s.stop - s.start) // 2 for s in box[-2:])
    fw = max(measure_fwhm(p)[-2:])
    return int(2 * half + math.ceil(4 * fw) + 12)


class GarlPlan:
    """One shape, one PSF, one set of weights: ``step()`` per iteration."""

    def __init__(self, shape, psf, weights, *, scale, sigma, weight, workers=-1):
        from ..ops.padding import rl_geometry
        from ..ops.ridge import RidgeRegulariser

        self.shape = tuple(int(n) for n in shape)
        self.axes, self.widths, self.pshape, self.otf, self._crop = rl_geometry(shape, psf)
        self.otf_conj = np.conj(self.otf)
        self.workers = workers
        self.scale = FLOAT(scale)
        self.weight = FLOAT(weight)
        self.reg = RidgeRegulariser(weights, self.pshape, sigma, workers)
        # curvature bound of the prior term in photons: c L / S (L stored with the weights)
        self.curv = max(float(weight) * weights.lipschitz / float(scale), 1e-30)

    def _conv(self, x, otf):
        from ..ops.padding import fft_convolve

        return fft_convolve(x, otf, self.axes, self.pshape, self.workers)

    def set_data(self, y, background=0.0):
        from ..ops.padding import mirror_pad

        self.y = mirror_pad(np.asarray(y, dtype=FLOAT), self.widths)
        b = np.asarray(background, dtype=FLOAT)
        self.b = mirror_pad(np.broadcast_to(b, y.shape), self.widths) if b.ndim else b
        self.floor = FLOAT(max(float(self.y.mean()), 1e-30) * 1e-6)
        x = self._conv(self.y, self.otf) - self.b
        np.maximum(x, self.floor + FLOAT(0.01) * FLOAT(max(float(x.mean()), 0.0)), out=x)
        self.x = x.astype(FLOAT)
        self.x_prev = self.x
        self.t, self.k, self.restarts = 1.0, 0, 0
        self.chi2 = float("nan")

    def _em(self, v):
        """(H^T(y / (H v + b)), a spare buffer); sets ``chi2`` of ``v``."""
        from ..ops.regularised import _chi2

        hv = self._conv(v, self.otf)
        hv += self.b
        np.maximum(hv, self.floor, out=hv)
        self.chi2 = _chi2(self.y, hv)
        np.divide(self.y, hv, out=hv)
        return self._conv(hv, self.otf_conj), hv

    def step(self):
        x, xp = self.x, self.x_prev
        if self.k > 0:
            t_next = (1 + math.sqrt(1 + 4 * self.t * self.t)) / 2
            v = x - xp
            v *= FLOAT((self.t - 1) / t_next)
            v += x
            np.maximum(v, self.floor, out=v)
        else:
            t_next, v = 1.0, x
        a, _ = self._em(v)
        np.maximum(a, 0, out=a)
        a *= v  # v H^T(y / (H v + b)): the EM numerator
        if self.weight > 0:
            # minimise the EM surrogate of D plus the quadratic majoriser of the prior
            # (curvature c L / S): A x^2 + B x - v a = 0, its positive root
            g = self.reg.grad(v / self.scale)
            g *= self.weight
            g += 1
            g -= self.curv * v  # B = 1 + g - A v
            disc = g * g
            disc += FLOAT(4 * self.curv) * a
            np.sqrt(disc, out=disc)
            pos = g >= 0
            new = np.where(pos, 2 * a / np.maximum(g + disc, 1e-30),
                           (disc - g) / FLOAT(2 * self.curv))
        else:
            new = a
        np.maximum(new, self.floor, out=new)
        if self.k > 0 and float(np.vdot((new - x).ravel(), (x - xp).ravel())) < 0:
            t_next = 1.0
            self.restarts += 1
        self.t = t_next
        self.x_prev, self.x = x, new
        self.k += 1

    def result(self):
        return np.ascontiguousarray(self.x[self._crop])


def _iterate(image, psf, params, *, backend, device, return_estimate, info=None,
             clip_negative=False, prep=None):
    from scipy.ndimage import gaussian_filter

    from .rl_reg import _output_sigma

    if prep is None:
        prep, ye, p = prepare(image, psf, params, clip_negative=clip_negative)
    else:
        ye, p, _, _ = block_photons(image, psf, params, prep, clip_negative=clip_negative)
    cam, bg = prep.camera, prep.background
    signal = prep.levels["signal_photons"]
    weights, prov, nd, sigma, weight = _settings(params, signal, ye.ndim, p.ndim)
    mean = prep.levels.get("mean_photons")
    plan = GarlPlan(ye.shape, p, weights, scale=signal, sigma=sigma, weight=weight)
    plan.set_data(ye, bg)
    shift = FLOAT(cam.read_noise ** 2)
    out_sigma = _output_sigma(p, ye.ndim, params["resolution"])
    keep = params["keep_background"]

    def output(x):
        if params["resolution"] > 0:
            x = gaussian_filter(x, out_sigma, mode="reflect")
        if keep:
            x += np.maximum(bg - shift, 0)
        return from_photons(x, cam)

    if info is not None:
        info.update(camera=cam.to_dict(), signal_photons=signal, mean_photons=mean,
                    calibration=CALIBRATION[nd],
                    background_photons=prep.levels["background_photons"],
                    background=prep.background_kind,
                    background_mean=(float(np.mean(bg)) - float(shift)) * cam.gain,
                    backend="numpy", prior_sigma=sigma, prior_weight=weight,
                    filters=f"{nd}-D, {weights.channels} x {list(weights.filters.shape[1:])}",
                    weights=f"garl_{nd}d.npz", weights_sha256=prov["checksum_sha256"],
                    weights_code_version=prov.get("code_version"),
                    output_sigma_px=[round(float(v), 4) for v in out_sigma])
    n = params["iterations"]
    for k in range(n):
        plan.step()
        est = output(plan.result()) if return_estimate else None
        yield Progress(Stage.DECONV, k + 1, n, est)
    if info is not None:
        info.update(chi2_per_pixel=plan.chi2, restarts=plan.restarts)
    return np.asarray(output(plan.result()), dtype=FLOAT)


class MultiViewGarlPlan(ViewsMixin, GarlPlan):
    """:class:`GarlPlan` over V views, each with its own PSF and background."""


def _settings(params, signal, ndim, psf_ndim):
    """(weights, provenance, nd, prior sigma, prior weight) from the signal level."""
    nd = 3 if (ndim == 3 and psf_ndim == 3) else 2
    weights, prov = load_weights(nd)
    ns = params["noise_scale"]
    return (weights, prov, nd, ns / math.sqrt(signal),
            params["strength"] * CALIBRATION[nd] * weights.lam / ns ** 2)


def views_plan(shape, psfs, params, preps):
    """Multi-view GARL: the data term summed over the views, the prior scaled with the
    views' mean signal level."""
    from scipy.ndimage import gaussian_filter

    from ..ops.multiview import common_psf
    from .rl_reg import _output_sigma

    signal = float(np.mean([q.levels["signal_photons"] for q in preps]))
    weights, prov, nd, sigma, weight = _settings(params, signal, len(shape), psfs[0].ndim)
    plan = MultiViewGarlPlan(shape, psfs, weights, scale=signal, sigma=sigma, weight=weight)
    cam, bg = preps[0].camera, preps[0].background
    shift = FLOAT(cam.read_noise ** 2)
    out_sigma = _output_sigma(common_psf(psfs), len(shape), params["resolution"])

    def output(x):
        if params["resolution"] > 0:
            x = gaussian_filter(x, out_sigma, mode="reflect")
        if params["keep_background"]:
            x += np.maximum(bg - shift, 0)
        return from_photons(x, cam)

    info = {"signal_photons": signal, "prior_sigma": sigma, "prior_weight": weight,
            "weights_sha256": prov["checksum_sha256"]}
    return plan, output, params["iterations"], info, None


def _make():
    from .registry import Method

    return (Method(name="garl", title="RL with a learned ridge regulariser (GARL)",
                   summary="accelerated RL + a learned weakly-convex convolutional prior",
                   schema=SCHEMA, iterate=_iterate, backends=("numpy",), prepare=prepare,
                   halo=halo, views_plan=views_plan,
                   docs="docs/algorithms.md#garl-rl-with-a-learned-regulariser"),)


METHODS = _make()
