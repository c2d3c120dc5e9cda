"""Suggest uses the same per-image rule as the default run, for every method that has
one: the photon methods' output resolution and rl's iteration count chosen by data
splitting on the whole image (not only the camera fit)."""

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_sparsedecon.algorithms.registry import get_method
from napari_sparsedecon.core.sparse_hessian import run
from napari_sparsedecon.dock import DeconvModel, ImageInfo
from napari_sparsedecon.dock import jobs as J
from napari_sparsedecon.psf.basic import gaussian_psf
from napari_sparsedecon.psf.models import born_wolf_psf


def _scene(ny=64, nx=64, seed=3):
    rng = np.random.default_rng(seed)
    x = np.zeros((ny, nx), np.float32)
    x[rng.integers(4, ny - 4, 30), rng.integers(4, nx - 4, 30)] = 600
    x[20, 10:50] = 200
    return rng.poisson(gaussian_filter(x, 1.3) + 10).astype(np.float32)


def _model(method, data, **params):
    m = DeconvModel(method)
    m.set_image(ImageInfo(data.shape, "YX", (None, None), "img"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params(params)
    return m


def test_suggest_gives_the_per_image_resolution_of_the_default_run():
    data = _scene()
    m = _model("rl_tv", data, resolution=0.75, iterations=8)
    vals, short, why = run(J.suggest_job(m, (0, 64, 0, 64)).build(data))
    meth = get_method("rl_tv")
    prep, _, _ = meth.prepare(data, gaussian_psf(None, 3.0),
                              meth.validate({**m.values, "resolution": None}))
    assert vals["resolution"] == prep.levels["resolution_auto"]
    assert vals["resolution"] != 0.75 or "resolution" in short
    assert "data splitting" in why and "gain" in vals


def test_suggest_gives_rl_the_iteration_count_its_split_stop_chooses():
    data = _scene()
    m = _model("rl", data, stop="discrepancy", iterations=60)
    vals, short, why = run(J.suggest_job(m, (0, 64, 0, 64)).build(data))
    meth = get_method("rl")
    prep, _, _ = meth.prepare(data, gaussian_psf(None, 3.0),
                              meth.validate({**m.values, "stop": "split"}))
    assert vals["iterations"] == int(prep.levels["split_iterations"])
    assert vals["stop"] == "none" and "iterations" in short


def test_in_focus_width_of_a_widefield_psf_layer():
    """The plane of the maximum, not of the largest sum (a widefield PSF carries the
    same light in every plane, so the largest sum is any plane)."""
    p = born_wolf_psf(na=1.2, wavelength_nm=600.0, n_immersion=1.33, pixel_nm=110.0,
                      z_step_nm=350.0, shape=(19, 31, 31)).data
    m = DeconvModel("rl")
    m.set_image(ImageInfo((19, 64, 64), "ZYX", (None, None, None), "stack"))
    m.set_psf(source="PSF layer", array=p, name="psf")
    focus = int(np.unravel_index(np.argmax(p), p.shape)[0])
    from napari_sparsedecon.psf.basic import measure_fwhm

    assert m.resolved_psf().lateral_fwhm_px() == max(measure_fwhm(p[focus]))
    assert m.resolved_psf().lateral_fwhm_px() < 6.0  # the volume's spread: 14.7 px
