"""The suggested starting point lands where a sweep finds the best RSNR."""

import numpy as np
import pytest
from scipy import ndimage

import napari_sparsedecon as nsd
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.core.suggest import signal_and_noise, suggest_parameters

FIDELITIES = np.geomspace(10, 1000, 13)


def _rsnr(target, result):
    a = np.stack([result.ravel(), np.ones(result.size)], 1)
    coef, *_ = np.linalg.lstsq(a, target.ravel(), rcond=None)
    err = target.ravel() - a @ coef
    return 10 * np.log10(((target - target.mean()) ** 2).sum() / (err**2).sum())


@pytest.mark.slow
@pytest.mark.parametrize("photons", [30, 300, 3000])
def test_suggestion_within_best_rsnr_range(photons):
    # seed 7: not the phantom the calibration table was made from (seed 2)
    ph = make_phantom((192, 192), photons=photons, seed=7)
    fw = ph.psf_fwhm_nm / ph.pixel_nm
    s = suggest_parameters(ph.noisy, psf_fwhm_px=fw)
    target = ndimage.gaussian_filter(ph.truth.astype(np.float64), fw / 2 / 2.3548)
    y = np.maximum(ph.noisy - ph.background, 0).astype(np.float32)
    kw = {"psf_fwhm_px": fw, "sparsity": s.params["sparsity"],
          "deconv_iterations": s.params["deconv_iterations"]}
    scores = np.array([_rsnr(target, nsd.sparse_deconvolve(y, fidelity=float(f), **kw))
                       for f in FIDELITIES])
    good = FIDELITIES[scores >= scores.max() - 0.5]
    assert good.min() <= s.params["fidelity"] <= good.max(), (s.params["fidelity"], good)
    # and it is a real gain over the worst setting of the sweep
    mine = _rsnr(target, nsd.sparse_deconvolve(y, fidelity=s.params["fidelity"], **kw))
    assert mine >= scores.max() - 0.5 and mine > scores.min() + 0.5


def test_suggestion_follows_noise_and_explains_itself():
    lo = suggest_parameters(make_phantom((192, 192), photons=30, seed=1).noisy,
                            psf_fwhm_px=3.44)
    hi = suggest_parameters(make_phantom((192, 192), photons=3000, seed=1).noisy + 200,
                            psf_fwhm_px=3.44)
    assert lo.snr < hi.snr and lo.params["fidelity"] < hi.params["fidelity"]
    msg = hi.message()
    assert "noise sigma" in msg and "SNR" in msg and "fidelity" in msg
    assert lo.params["background"] == "none"  # a 20-photon background: within 3 noise sigmas
    assert hi.params["background"] == "low/2"  # a camera offset of 200


def test_noise_estimate_and_bad_roi():
    rng = np.random.default_rng(0)
    flat = 100 + rng.normal(0, 5.0, (128, 128))
    sigma, bg, _ = signal_and_noise(flat)
    assert abs(sigma - 5.0) < 0.25 and abs(bg - 100) < 3
    with pytest.raises(ValueError, match="at least 16 x 16"):
        suggest_parameters(np.ones((8, 8)), psf_fwhm_px=3)
    with pytest.raises(ValueError, match="psf_fwhm_px must be positive"):
        suggest_parameters(flat, psf_fwhm_px=0)
