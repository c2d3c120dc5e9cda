"""Regularised, accelerated Richardson-Lucy: ``rl_tv`` and ``sparse_psf``.

``sparse_psf`` is sparse deconvolution with the PSF inside the data term
(beyond the paper): Poisson or weighted least-squares data term, the
sparse-Hessian prior with t/z continuity, the L1 sparsity term, x >= 0.
``rl_tv`` is RL with a total-variation prior. Both use the accelerated
split-gradient iteration of :mod:`napari_sparsedecon.ops.regularised`; their
weights default to values that scale with the estimated photon level
(``weight = strength / sqrt(mean photons)``), so one set of defaults serves tens
to thousands of photons. NumPy only for now.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.progress import Progress, Stage
from ..core.validation import FLOAT
from ..ops.regularised import DATA_TERMS
from ..params import Param
from .common import CAMERA, MAX_ITERATIONS, from_photons, photon_data, typical_level

ITERATIONS = Param("iterations", "int", 100, "iterations (more keep improving or stay stable)",
                   low=1, high=MAX_ITERATIONS)
ASPECT = Param("aspect", "float", 1.0, "z step / pixel size of 3-D data (z terms scale by it)",
               low=0, low_open=True, high=1e3, acts_on="t/z", advanced=True)


def _strength(prior: str, default: float) -> Param:
    return Param("strength", "float", default,
                 f"{prior} strength relative to the noise (weight = strength / "
                 f"sqrt(mean photons))", low=0, high=1e6)


TV_SCHEMA = (
    ITERATIONS,
    _strength("total-variation", 0.1),
    Param("continuity", "float", 0.0, "TV coupling along t or z (3-D data)", low=0,
          high=1e6, acts_on="t/z"),
    ASPECT,
) + CAMERA

SPARSE_PSF_SCHEMA = (
    ITERATIONS,
    _strength("sparse-Hessian prior", 0.03),
    Param("sparsity", "float", 0.0,
          "L1 weight on intensities relative to the noise (pulls background to 0)",
          low=0, high=1e6),
    Param("continuity", "float", 1.0, "Hessian continuity along t or z (3-D data)",
          low=0, high=1e6, acts_on="t/z"),
    ASPECT,
    Param("data_term", "choice", "poisson",
          "Poisson likelihood or weighted least squares", choices=DATA_TERMS,
          advanced=True),
) + CAMERA

#: smoothing of the L1 norms, in units of the photon noise at the typical level
EPS_REL = 0.1


def _iterate(image, psf, params, *, prior, backend, device, return_estimate, info=None,
             clip_negative=False):
    from ..ops.regularised import RegularisedRLPlan

    ye, p, cam, bg = photon_data(image, psf, params, clip_negative=clip_negative)
    level = typical_level(ye)
    weight = params["strength"] / math.sqrt(level)
    sparsity = params.get("sparsity", 0.0) / math.sqrt(level)
    cont = params["continuity"] if ye.ndim == 3 else 0.0
    if ye.ndim == 3 and p.ndim == 3 and prior == "hessian" and cont == 0:
        cont = 1.0  # a 3-D PSF: the volume is one object, z terms always on
    plan = RegularisedRLPlan(ye.shape, p, prior=prior, weight=weight, sparsity=sparsity,
                             continuity=cont, aspect=params["aspect"],
                             eps=EPS_REL * math.sqrt(level),
                             data_term=params.get("data_term", "poisson"))
    plan.set_data(ye, bg)
    if info is not None:
        info.update(camera=cam.to_dict(), photon_level=level, weight=weight,
                    sparsity_weight=sparsity, continuity_used=cont, backend="numpy")
    n = params["iterations"]
    for k in range(n):
        plan.step()
        est = from_photons(plan.result(), cam) if return_estimate else None
        yield Progress(Stage.DECONV, k + 1, n, est)
    if info is not None:
        info["chi2_per_pixel"] = plan.chi2
    return np.asarray(from_photons(plan.result(), cam), dtype=FLOAT)


def _make():
    from .registry import Method

    def tv(image, psf, params, **kw):
        return _iterate(image, psf, params, prior="tv", **kw)

    def hess(image, psf, params, **kw):
        return _iterate(image, psf, params, prior="hessian", **kw)

    return (
        Method(name="sparse_psf", title="Sparse deconvolution, PSF in the data term",
               summary="Poisson/WLS data term + sparse-Hessian and L1 priors, accelerated",
               schema=SPARSE_PSF_SCHEMA, iterate=hess, backends=("numpy",),
               docs="docs/algorithms.md#sparse-deconvolution-with-the-psf-in-the-data-term"),
        Method(name="rl_tv", title="Richardson-Lucy with total variation",
               summary="RL with a TV prior and Nesterov momentum", schema=TV_SCHEMA,
               iterate=tv, backends=("numpy",),
               docs="docs/algorithms.md#regularised-richardson-lucy"),
    )


METHODS = _make()
