"""Trust checks for every method (not only the paper pipeline): the residual uses the
method's own background estimate and PSF, the FRC runs the method on both halves."""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms.registry import get_method
from napari_sparsedecon.analysis.trust import assess
from napari_sparsedecon.core.phantom import make_phantom


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(5)
    ph = make_phantom((160, 160), photons=200, background_photons=20, read_noise=1.0, seed=5)
    y = rng.poisson(np.clip(ph.blurred + ph.background, 0, None)) + 100.0  # offset 100
    return y.astype(np.float32), ph


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rl_tv", "sparse_psf", "rl"])
def test_method_residual_is_near_the_noise_and_a_wrong_result_is_not(noisy, name):
    y, ph = noisy
    psf = ph.psf
    p = get_method(name).validate({"iterations": 20, "offset": 100.0,
                                   **({"resolution": 0.0} if name != "rl" else {})})
    out = nsd.deconvolve(y, name, psf=psf, **p)
    rep = assess(y, out, p, psf=psf, method=name, frc_check=False)
    assert rep.residual.shape == y.shape
    assert rep.residual_rms_over_noise < 3.0, rep.residual_rms_over_noise
    assert abs(rep.residual_offset) < 0.1 * float(np.ptp(y))
    bad = assess(y, np.roll(out, 3, axis=1), p, psf=psf, method=name, frc_check=False)
    assert bad.residual_rms_over_noise > 1.5 * rep.residual_rms_over_noise


@pytest.mark.slow
def test_method_frc_runs_the_method_on_both_checkerboard_halves(noisy):
    y, ph = noisy
    psf = ph.psf
    p = get_method("rl_tv").validate({"iterations": 10, "offset": 100.0})
    out = nsd.deconvolve(y, "rl_tv", psf=psf, **p)
    rep = assess(y, out, p, psf=psf, method="rl_tv", pixel_nm=40.0)
    assert rep.frc_method == "checkerboard" and rep.frc_result is not None
    assert np.isfinite(rep.frc_result.curve).all()


def test_a_parameter_dict_needs_its_method():
    with pytest.raises(ValueError, match="method="):
        assess(np.ones((16, 16)), np.ones((16, 16)), {"iterations": 1},
               psf=nsd.gaussian_psf(None, 2.0))
