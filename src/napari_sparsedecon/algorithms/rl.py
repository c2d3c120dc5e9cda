"""Richardson-Lucy on photon counts, classic or Biggs-accelerated, with a stopping rule.

The data are converted to shifted-Poisson photo-electrons with the camera
model (:mod:`napari_sparsedecon.ops.noise`), so offset-subtracted data with
negative values are accepted. Unregularised RL amplifies noise once it starts
fitting it; ``stop="split"`` (default) chooses the iteration count per image by
data splitting (:mod:`napari_sparsedecon.algorithms.selection`: RL on half the
photons, scored on the other half); ``stop="discrepancy"`` ends the run when the
Pearson chi^2 per pixel of the fit reaches 0.9 (the discrepancy principle).
``iterations`` is then the maximum.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..base.validation import FLOAT
from ..core.sparse_hessian import _host
from ..ops.padding import RL_STARTS, fft_convolve, mirror_pad
from ..params import Param
from ..progress import Progress, Stage
from .common import CAMERA, MAX_ITERATIONS, PhotonPrep, block_photons, from_photons, photon_data

STOP_RULES = ("split", "discrepancy", "none")

SCHEMA = (
    Param("iterations", "int", 100,
          "iterations (the maximum when a stopping rule is on)", low=1, high=MAX_ITERATIONS),
    Param("acceleration", "choice", "biggs", "Biggs-Andrews vector extrapolation, or none",
          choices=("biggs", "none")),
    Param("start", "choice", "flat",
          "first estimate: flat (the data's mean; better at low photon counts on the "
          "tuning split) or data (the background-subtracted data)",
          choices=RL_STARTS, advanced=True),
    Param("stop", "choice", "split",
          "split: the iteration count chosen per image by data splitting (RL on half the "
          "photons, scored on the other half); discrepancy: stop when the fit reaches "
          "the noise level (chi^2 per pixel <= 0.9, or below 1 and no longer falling "
          "with Biggs); none: run every iteration", choices=STOP_RULES),
) + CAMERA

#: The discrepancy rule stops at chi^2 per data pixel <= this. Below 1 because the
#: estimate absorbs part of the noise (its effective degrees of freedom): at the best
#: iteration count the chi^2 was 0.85-0.97 on the benchmark's five cases.
CHI2_TARGET = 0.9
#: Biggs RL also stops once the fit explains the data (chi^2 <= 1) and chi^2 falls by
#: less than this fraction per iteration (mean of the last two): it has stopped
#: fitting signal and starts fitting noise, which accelerated RL does fast. Both
#: constants were set on benchmarks/quality.py's cases (2-D at 25/60/300 photons, 3-D
#: tubes, pollen): the stop came within 0.25 dB of the best iteration count on each.
CHI2_STALL = 0.003
MIN_ITERATIONS = 2


def prepare(image, psf, params, *, clip_negative=False):
    """The whole-image estimates of ``rl``: the camera model and the constant background
    (tiles and time points of one image are converted to photons alike)."""
    ye, p, cam, bg = photon_data(image, psf, params, clip_negative=clip_negative)
    prep = PhotonPrep(cam, bg, "given", {}, ye.shape)
    if params["stop"] == "split":  # chosen once per image (every tile the same)
        n, why = _split_choice(ye, p, bg, params)
        prep = dataclasses.replace(prep, levels={"split_iterations": float(n)},
                                   choices={"stop_choice": why})
    return prep, ye, p


def halo(params, psf) -> int:
    """Y/X margin (pixels) of a block: the PSF's support twice over plus 8 (RL couples
    pixels through H^T H each iteration; measured seams < 1e-3 of the range)."""
    from ..psf.basic import psf_support

    box = psf_support(np.asarray(psf))
    return int(2 * max((s.stop - s.start) // 2 for s in box[-2:]) + 8)


def iter_rl(image, psf, params, *, backend="numpy", device=None, return_estimate=False,
            info=None, clip_negative=False, prep=None):
    from ..backends import get_backend

    if prep is None:
        prep, ye, p = prepare(image, psf, params, clip_negative=clip_negative)
    else:
        ye, p, _, _ = block_photons(image, psf, params, prep, clip_negative=clip_negative)
    cam, bg = prep.camera, prep.background
    be = get_backend(backend, device)
    acc = None if params["acceleration"] == "none" else params["acceleration"]
    plan = be.rl_plan(ye.shape, p, background=bg, acceleration=acc, start=params["start"])
    with plan:  # closed on return, error or cancel (the generator closed early)
        on_plan = hasattr(plan, "track_chi2")
        if on_plan:
            plan.track_chi2 = True
        plan.set_data(ye)
        n, stop = params["iterations"], params["stop"] == "discrepancy"
        split = None
        if params["stop"] == "split":
            split = prep.choices.get("stop_choice") or _split_choice(ye, p, bg, params)[1]
            n = min(n, int(split["chosen"]))
        host_chi2 = _HostChi2(ye, p, bg) if stop and not on_plan else None
        chi2, done = float("nan"), n
        hist: list = []
        for k in range(n):
            plan.step()
            if on_plan:
                chi2 = plan.chi2
            elif host_chi2 is not None:
                chi2 = host_chi2(_host(plan.result()))
            est = from_photons(_host(plan.result()).copy(), cam) if return_estimate else None
            yield Progress(Stage.DECONV, k + 1, n, est)
            hist.append(chi2)
            if stop and k + 1 >= MIN_ITERATIONS and _should_stop(hist, acc is not None):
                done = k + 1
                break
        if info is not None:
            info.update(camera=cam.to_dict(), iterations_run=done, chi2_per_pixel=chi2,
                        backend=be.name, device=be.device_name)
            if split is not None:
                info["stop_choice"] = split
        return np.asarray(from_photons(np.array(_host(plan.result()), dtype=FLOAT), cam))


def _split_choice(ye, p, bg, params):
    """(iterations, report) chosen by data splitting on the central crop of ``ye`` (NumPy
    plans: the same choice on every backend)."""
    from ..backends import get_backend
    from .selection import central_crop, split_rl_iterations

    be = get_backend("numpy", None)
    acc = None if params["acceleration"] == "none" else params["acceleration"]
    crop = central_crop(ye.shape)
    b = bg[crop] if np.ndim(bg) else bg

    def make_plan(shape, psf, background):
        return be.rl_plan(shape, psf, background=background, acceleration=acc,
                          start=params["start"])

    n, why = split_rl_iterations(np.ascontiguousarray(ye[crop]), p, b, make_plan,
                                 params["iterations"])
    why["crop"] = [[s.start, s.stop] for s in crop[-2:]]
    return n, why


def _should_stop(hist: list, accelerated: bool) -> bool:
    """The stopping rule on the chi^2 history (one value per iteration)."""
    c = hist[-1]
    if c <= CHI2_TARGET:
        return True
    if accelerated and len(hist) >= 3 and c <= 1.0:
        return (hist[-3] - c) / 2 / c < CHI2_STALL
    return False


class _HostChi2:
    """Chi^2 per pixel of a plan without its own tracking (host FFT; made once per run)."""

    def __init__(self, ye, psf, bg):
        from ..ops.padding import rl_geometry

        self.axes, self.widths, self.pshape, self.otf, self.crop = rl_geometry(ye.shape, psf)
        self.y, self.b = ye, bg

    def __call__(self, x) -> float:
        """Chi^2 per data pixel (the padding is left out, as on the NumPy plan)."""
        hx = fft_convolve(mirror_pad(np.asarray(x, FLOAT), self.widths), self.otf,
                          self.axes, self.pshape)[self.crop]
        hx += self.b
        np.maximum(hx, 1e-30, out=hx)
        return float(np.mean((self.y - hx) ** 2 / hx))


def views_plan(shape, psfs, params, preps):
    """Multi-view RL: the data term summed over the views; accelerated (Nesterov momentum
    with restart, the multi-view form of Biggs' extrapolation) unless acceleration is
    'none'; the split stop takes the largest of the views' counts (together they hold
    more photons than any one), the discrepancy stop the views' mean chi^2."""
    from ..ops.multiview import MultiViewRegularisedPlan

    acc = params["acceleration"] != "none"
    plan = MultiViewRegularisedPlan(shape, psfs, prior="none", momentum=acc)
    n, stop = params["iterations"], None
    if params["stop"] == "split":
        n = min(n, max(int(q.levels["split_iterations"]) for q in preps))
    elif params["stop"] == "discrepancy":
        def stop(hist):
            return len(hist) >= MIN_ITERATIONS and _should_stop(hist, acc)
    cam = preps[0].camera
    return plan, lambda x: from_photons(np.array(x, dtype=FLOAT), cam), n, {}, stop


def _make():
    from .registry import Method

    return (Method(name="rl", title="Richardson-Lucy",
                   summary="classic or Biggs-accelerated RL, stopped by data splitting",
                   schema=SCHEMA, iterate=iter_rl, prepare=prepare, halo=halo,
                   views_plan=views_plan,
                   docs="docs/algorithms.md#richardson-lucy"),)


METHODS = _make()
