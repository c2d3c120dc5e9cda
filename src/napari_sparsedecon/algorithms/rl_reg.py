"""Regularised, accelerated Richardson-Lucy: ``rl_tv`` and ``sparse_psf``.

``sparse_psf`` is sparse deconvolution with the PSF inside the data term
(beyond the paper): Poisson or weighted least-squares data term, the
sparse-Hessian prior with t/z continuity, the L1 sparsity term, x >= 0.
``rl_tv`` is RL with a total-variation prior. Both use the accelerated
split-gradient iteration of :mod:`napari_sparsedecon.ops.regularised`; their
weights default to values that scale with the estimated photon level
(``weight = strength / sqrt(mean photons)``), so one set of defaults serves tens
to thousands of photons. Their plan comes from the backend (``regularised_plan``:
NumPy, numba, OpenCL; ``auto`` probes per shape).
"""

from __future__ import annotations

import math

import numpy as np

from ..base.validation import FLOAT
from ..ops.regularised import DATA_TERMS
from ..params import Param
from ..progress import Progress, Stage
from .common import CAMERA, MAX_ITERATIONS, PhotonPrep, block_photons, from_photons, photon_data

ITERATIONS = Param("iterations", "int", 100, "iterations (more keep improving or stay stable)",
                   low=1, high=MAX_ITERATIONS)
ASPECT = Param("aspect", "float", 1.0, "z step / pixel size of 3-D data (z terms scale by it)",
               low=0.01, high=1e3, acts_on="t/z", advanced=True)
#: ``acts_on`` of the time-continuity parameter (the widgets show it for 4-D layers only)
ACTS_ON_T = "t of (T, Z, Y, X)"


def _t_continuity(prior: str) -> Param:
    return Param("t_continuity", "float", 0.0,
                 f"{prior} coupling between time points of (T, Z, Y, X) data, in units of "
                 f"the y/x terms per frame (the time points are solved as one 4-D problem); "
                 f"0 runs each time point as its own volume. For (T, Y, X) data use "
                 f"continuity", low=0, high=1e6, acts_on=ACTS_ON_T)


#: Largest prior strength: 1e4 x the defaults. sparse_psf at 1e3 gave 2.3x the input's
#: mean and 139x its peak on a phantom, at 1e4 ~1e4x the mean (issue 25).
STRENGTH_MAX = 100.0


def _strength(prior: str, default: float) -> Param:
    return Param("strength", "float", default,
                 f"{prior} strength relative to the noise (weight = strength / "
                 f"sqrt(signal photons))", low=0, high=STRENGTH_MAX)


#: The camera model, with the background estimated (a smooth map) unless given.
CAMERA_BG = tuple(p for p in CAMERA if p.name != "background") + (
    Param("background", "float", None,
          "known constant background in input units after the offset; None estimates a "
          "smooth background map (the result is the object without it)", unit="ADU", low=0,
          high=1e12,
          optional=True, advanced=True),
)
RESOLUTION = Param(
    "resolution", "float", None,
    "output resolution as a fraction of the PSF FWHM: the estimate is shown through a "
    "Gaussian of that FWHM (the detail the data support); 0 gives the raw estimate; "
    "None (auto) chooses it per image by data splitting (costs one more run on half "
    "the photons)",
    low=0, high=1.0, optional=True)
KEEP_BACKGROUND = Param("keep_background", "bool", False,
                        "add the background (estimated or given) back to the result",
                        advanced=True)

TV_SCHEMA = (
    ITERATIONS,
    _strength("total-variation", 0.01),
    Param("continuity", "float", 0.0, "TV coupling along t or z (3-D data; z of 4-D data)",
          low=0, high=1e6, acts_on="t/z"),
    _t_continuity("TV"),
    ASPECT,
    RESOLUTION,
    KEEP_BACKGROUND,
) + CAMERA_BG

SPARSE_PSF_SCHEMA = (
    ITERATIONS,
    _strength("sparse-Hessian prior", 0.005),
    Param("sparsity", "float", 1.0,
          "L1 weight on intensities relative to the background noise (weight = sparsity "
          "/ sqrt(background photons)); pulls what is not structure to 0",
          low=0, high=1e6),
    Param("continuity", "float", 1.0,
          "Hessian continuity along t or z (3-D data; z of 4-D data)",
          low=0, high=1e6, acts_on="t/z"),
    _t_continuity("Hessian"),
    ASPECT,
    Param("data_term", "choice", "poisson",
          "Poisson likelihood or weighted least squares", choices=DATA_TERMS,
          advanced=True),
    RESOLUTION,
    KEEP_BACKGROUND,
) + CAMERA_BG

def signal_levels(ye: np.ndarray, bg, fwhm) -> tuple[float, float]:
    """(signal, background) photon levels the automatic weights scale with.

    signal: the 99.9th percentile of the PSF-smoothed data above the background
    (about the peak photon count of the bright structure); background: the mean of
    the background (with the read-noise shift). Both floored at one photon.
    """
    from scipy.ndimage import gaussian_filter

    from ..psf.basic import FWHM_PER_SIGMA

    nd = ye.ndim
    sig = [0.0] * (nd - len(fwhm)) + [f / FWHM_PER_SIGMA for f in fwhm]
    sm = gaussian_filter(ye, sig, mode="reflect")
    sm -= bg
    return max(float(np.percentile(sm, 99.9)), 1.0), max(float(np.mean(bg)), 1.0)


#: smoothing of the L1 norms, in units of the photon noise at the typical level
EPS_REL = 0.1


def _output_sigma(psf: np.ndarray, ndim: int, resolution: float):
    """Gaussian sigma per axis of ``ndim``-D data for the output resolution."""
    from ..psf.basic import FWHM_PER_SIGMA
    from ..psf.basic import psf_spread_fwhm as measure_fwhm

    fw = measure_fwhm(psf)
    return [0.0] * (ndim - len(fw)) + [resolution * f / FWHM_PER_SIGMA for f in fw]


def prepare(image, psf, params, *, clip_negative=False):
    """The whole-image estimates of ``rl_tv`` / ``sparse_psf``: camera model, background
    (the given constant, or a smooth map), and the signal and background photon levels
    the automatic weights scale with. Tiles, ROI previews and time points of one image
    pass the result to :func:`_iterate` (``prep=``) so that they use the same weights."""
    from ..ops.noise import smooth_background
    from ..psf.basic import psf_spread_fwhm as measure_fwhm

    given = params["background"]
    ye, p, cam, bg = photon_data(image, psf, {**params, "background": given or 0.0},
                                 clip_negative=clip_negative, max_ndim=4)
    fw = measure_fwhm(p)
    if given is None:
        bg = smooth_background(ye, fw)
    signal, bmean = signal_levels(ye, bg, fw)
    levels, choices = {"signal_photons": signal, "background_photons": bmean}, {}
    if params["resolution"] is None:  # chosen once per image (every tile the same)
        res, why = _auto_resolution_crop(ye, p, bg, params)
        levels["resolution_auto"] = res
        choices["resolution_choice"] = why
    return PhotonPrep(cam, bg, "estimated smooth map" if given is None else "given",
                      levels, ye.shape, choices), ye, p


def _auto_resolution_crop(ye, p, bg, params):
    """:func:`_auto_resolution` on the central crop of ``ye`` (prior and couplings as
    :func:`_iterate` sets them: the Hessian prior for the schema with ``sparsity``)."""
    from .selection import central_crop

    prior = "hessian" if "sparsity" in params else "tv"
    cont = params["continuity"] if ye.ndim >= 3 else 0.0
    if ye.ndim >= 3 and p.ndim == 3 and prior == "hessian" and cont == 0:
        cont = 1.0
    t_cont = params.get("t_continuity", 0.0) if ye.ndim == 4 else 0.0
    crop = central_crop(ye.shape)
    b = bg[crop] if np.ndim(bg) else bg
    res, why = _auto_resolution(np.ascontiguousarray(ye[crop]), p, b, params, prior, cont,
                                t_cont)
    why["crop"] = [[s.start, s.stop] for s in crop[-2:]]
    return res, why


def halo(params, psf) -> int:
    """Y/X margin (pixels) a block needs so that a tiled run equals the whole-image run
    within 1e-3 of the range: the PSF's support twice over (the data term couples pixels
    through H^T H), four lateral FWHMs for the priors and the output blur, plus 8."""
    from ..psf.basic import psf_spread_fwhm as measure_fwhm
    from ..psf.basic import psf_support

    p = np.asarray(psf)
    box = psf_support(p)
    half = max((s.stop - s.start) // 2 for s in box[-2:])
    fw = max(measure_fwhm(p)[-2:])
    return int(2 * half + math.ceil(4 * fw) + 8)


def _iterate(image, psf, params, *, prior, backend, device, return_estimate, info=None,
             clip_negative=False, prep=None):
    from scipy.ndimage import gaussian_filter

    from ..backends import get_backend

    if prep is None:
        prep, ye, p = prepare(image, psf, params, clip_negative=clip_negative)
    else:
        ye, p, _, _ = block_photons(image, psf, params, prep, clip_negative=clip_negative,
                                    max_ndim=4)
    cam, bg = prep.camera, prep.background
    signal = prep.levels["signal_photons"]
    bmean = prep.levels["background_photons"]
    kw = _plan_settings(params, signal, bmean, ye.ndim, p.ndim, prior)
    weight, sparsity = kw["weight"], kw["sparsity"]
    cont, t_cont = kw["continuity"], kw["t_continuity"]
    be = get_backend(backend, device)
    plan = be.regularised_plan(ye.shape, p, **kw,
                               data_term=params.get("data_term", "poisson"))
    plan.set_data(ye, bg)
    shift = FLOAT(cam.read_noise ** 2)  # the shifted-Poisson offset inside bg
    res = params["resolution"]
    if res is None:
        if "resolution_auto" in prep.levels:
            res, why = prep.levels["resolution_auto"], prep.choices.get("resolution_choice")
        else:
            res, why = _auto_resolution(ye, p, bg, params, prior, cont, t_cont)
        if info is not None:
            info["resolution_choice"] = why
    sigma = _output_sigma(p, ye.ndim, res)
    keep = params["keep_background"]

    def output(x):
        if res > 0:
            x = gaussian_filter(x, sigma, mode="reflect")
        if keep:
            x += np.maximum(bg - shift, 0)
        return from_photons(x, cam)

    if info is not None:
        info.update(camera=cam.to_dict(), signal_photons=signal, background_photons=bmean,
                    weight=weight, prior_scale=prior_scale(p.ndim, prior),
                    sparsity_weight=sparsity, continuity_used=cont, backend=be.name,
                    device=be.device_name, **_choice(be),
                    t_continuity_used=t_cont,
                    background=prep.background_kind,
                    background_mean=(float(np.mean(bg)) - float(shift)) * cam.gain,
                    resolution_used=res,
                    output_sigma_px=[round(float(v), 4) for v in sigma])
    n = params["iterations"]
    with plan:  # closed on return, error or cancel (the generator closed early)
        for k in range(n):
            plan.step()
            est = output(plan.result()) if return_estimate else None
            yield Progress(Stage.DECONV, k + 1, n, est)
        if info is not None:
            info["chi2_per_pixel"] = plan.chi2
        return np.asarray(output(plan.result()), dtype=FLOAT)


#: ``sparse_psf`` with a 3-D PSF (a volume): the sparse-Hessian and L1 weights times
#: this. The 2-D constants over-regularised volumes: on the 3-D tuning split of
#: benchmarks/heldout_cases.py (6 cases, 2026-12-04; benchmarks/volume_weights.py) the
#: median RSNR against the object was 2.73 dB at scale 1 and 4.59 dB with both weights
#: x 0.25 (strength alone x 0.25: 3.59; strength x 0.25 without L1: 4.58), above scale 1
#: on all 6 cases. Points tried (strength x sparsity factors): 4x1, 1x1, 0.5x1, 0.25x1,
#: 1x0.25, 1x0, 0.5x0, 0.25x0.25, 0.25x0, 0x0; not fitted further.
VOLUME_PRIOR_SCALE = 0.25


def prior_scale(psf_ndim: int, prior: str) -> float:
    """The factor on the prior weights of :data:`VOLUME_PRIOR_SCALE` (1 but for the
    Hessian prior with a 3-D PSF)."""
    return VOLUME_PRIOR_SCALE if psf_ndim == 3 and prior == "hessian" else 1.0


def _plan_settings(params, signal, bmean, ndim, psf_ndim, prior) -> dict:
    """The plan's weights from the photon levels (one rule for single- and multi-view,
    and the data-splitting runs)."""
    cont = params["continuity"] if ndim >= 3 else 0.0
    if ndim >= 3 and psf_ndim == 3 and prior == "hessian" and cont == 0:
        cont = 1.0  # a 3-D PSF: the volume is one object, z terms always on
    k = prior_scale(psf_ndim, prior)
    return {"prior": prior, "weight": k * params["strength"] / math.sqrt(signal),
            "sparsity": k * params.get("sparsity", 0.0) / math.sqrt(bmean),
            "continuity": cont,
            "t_continuity": params.get("t_continuity", 0.0) if ndim == 4 else 0.0,
            "aspect": params["aspect"], "eps": EPS_REL * math.sqrt(bmean)}


def _views_plan(prior):
    """``views_plan`` of ``sparse_psf`` / ``rl_tv``: the weights from the views' mean
    photon levels; the output resolution given, or the median of the views' choices."""

    def make(shape, psfs, params, preps):
        from scipy.ndimage import gaussian_filter

        from ..ops.multiview import MultiViewRegularisedPlan, common_psf

        signal = float(np.mean([q.levels["signal_photons"] for q in preps]))
        bmean = float(np.mean([q.levels["background_photons"] for q in preps]))
        kw = _plan_settings(params, signal, bmean, len(shape), psfs[0].ndim, prior)
        plan = MultiViewRegularisedPlan(shape, psfs, **kw,
                                        data_term=params.get("data_term", "poisson"))
        res = params["resolution"]
        if res is None:
            res = float(np.median([q.levels["resolution_auto"] for q in preps]))
        sigma = _output_sigma(common_psf(psfs), len(shape), res)
        cam, bg = preps[0].camera, preps[0].background
        shift = FLOAT(cam.read_noise ** 2)

        def output(x):
            if res > 0:
                x = gaussian_filter(x, sigma, mode="reflect")
            if params["keep_background"]:
                x += np.maximum(bg - shift, 0)
            return from_photons(x, cam)

        info = {"signal_photons": signal, "background_photons": bmean,
                "weight": kw["weight"], "resolution_used": res}
        return plan, output, params["iterations"], info, None

    return make


def _choice(be) -> dict:
    """``auto``'s choice and its reason, for the run's metadata."""
    last = getattr(be, "last_choice", None)
    return {"backend_choice": last["why"]} if last else {}


def _auto_resolution(ye, p, bg, params, prior, cont, t_cont):
    """The output resolution chosen by data splitting: the same solver (weights from
    the half data by the same rule) on half the photons, each candidate scored on the
    other half."""
    from ..ops.regularised import RegularisedRLPlan
    from ..psf.basic import psf_spread_fwhm as measure_fwhm
    from .selection import split_resolution

    fw = measure_fwhm(p)

    def make_plan(y, b):
        s, bm = signal_levels(y, b, fw)
        kw = _plan_settings(params, s, bm, y.ndim, p.ndim, prior)
        kw.update(continuity=cont, t_continuity=t_cont)
        plan = RegularisedRLPlan(y.shape, p, **kw,
                                 data_term=params.get("data_term", "poisson"))
        plan.set_data(y, b)
        return plan

    return split_resolution(ye, p, bg, make_plan, params["iterations"],
                            lambda r: _output_sigma(p, ye.ndim, r))


def _make():
    from ..backends import backends_offering
    from .registry import Method

    reg_backends = backends_offering("regularised_plan")

    def tv(image, psf, params, **kw):
        return _iterate(image, psf, params, prior="tv", **kw)

    def hess(image, psf, params, **kw):
        return _iterate(image, psf, params, prior="hessian", **kw)

    return (
        Method(name="sparse_psf", title="Sparse deconvolution, PSF in the data term",
               summary="Poisson/WLS data term + sparse-Hessian and L1 priors, accelerated",
               schema=SPARSE_PSF_SCHEMA, iterate=hess, backends=reg_backends,
               prepare=prepare, halo=halo, views_plan=_views_plan("hessian"),
               docs="docs/algorithms.md#sparse-deconvolution-with-the-psf-in-the-data-term"),
        Method(name="rl_tv", title="Richardson-Lucy with total variation",
               summary="RL with a TV prior and Nesterov momentum", schema=TV_SCHEMA,
               iterate=tv, backends=reg_backends, prepare=prepare, halo=halo,
               views_plan=_views_plan("tv"),
               docs="docs/algorithms.md#regularised-richardson-lucy"),
    )


METHODS = _make()
