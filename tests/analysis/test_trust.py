"""Trust tools on cases where the right answer is known."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

import napari_sparsedecon as nsd
from napari_sparsedecon.analysis.trust import (
    convergence,
    estimate_noise_sigma,
    frc,
    frc_single,
    hallucination_mask,
    residual_map,
)
from napari_sparsedecon.core.phantom import make_phantom


def test_residual_is_zero_for_the_exact_forward_model_and_shows_a_wrong_psf():
    ph = make_phantom((160, 160), seed=0)
    psf = nsd.gaussian_psf((21, 21), 3.44)
    truth = ph.truth.astype(float)
    y = fftconvolve(np.pad(truth, 10, mode="reflect"), psf, mode="valid") + 20.0
    r = residual_map(y, truth, psf, background=20.0)
    assert np.abs(r).max() < 1e-3 * y.max()
    wrong = residual_map(y, truth, nsd.gaussian_psf((21, 21), 2.0), background=20.0)
    assert np.abs(wrong).max() > 0.1 * (y.max() - 20)


def test_residual_of_upsampled_result():
    x = np.zeros((64, 64))
    x[20:24, 30:34] = 100.0
    psf = nsd.gaussian_psf((9, 9), 2.0)
    hx = fftconvolve(np.pad(x, 4, mode="reflect"), psf, mode="valid")
    y = hx.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    assert np.abs(residual_map(y, x, psf, upsample=2)).max() < 1e-6 * y.max()


def test_noise_sigma_estimate():
    rng = np.random.default_rng(0)
    img = 100 + rng.normal(0, 5.0, (256, 256))
    assert abs(estimate_noise_sigma(img) - 5.0) < 0.3


def test_frc_resolution_tracks_blur_and_is_in_nm():
    rng = np.random.default_rng(1)
    ph = make_phantom((256, 256), seed=2)
    out = []
    for fwhm in (3.0, 6.0):
        psf = nsd.gaussian_psf(None, fwhm)
        clean = fftconvolve(ph.truth, psf, mode="same") + 10
        a = rng.poisson(np.clip(clean, 0, None)).astype(float)
        b = rng.poisson(np.clip(clean, 0, None)).astype(float)
        out.append(frc(a, b, pixel_nm=32.0))
    assert out[0].resolution_px < out[1].resolution_px  # less blur: finer resolution
    assert out[1].resolution_nm == out[1].resolution_px * 32.0
    assert 2.0 <= out[0].resolution_px <= 12.0 and not out[0].nyquist_limited
    # no blur at all: the curve stays high up to Nyquist, reported as sampling-limited
    a = rng.poisson(ph.truth + 10).astype(float)
    b = rng.poisson(ph.truth + 10).astype(float)
    sharp = frc(a, b)
    assert sharp.nyquist_limited and sharp.resolution_px == 2.0


def test_frc_single_image_split():
    ph = make_phantom((256, 256), seed=3)
    r = frc_single(ph.noisy, pixel_nm=32.0)
    assert np.isfinite(r.resolution_px) and r.resolution_nm > 64


@pytest.mark.slow
def test_hallucination_guard_flags_structure_in_background_only():
    ph = make_phantom((192, 192), seed=4)
    result = nsd.sparse_deconvolve(ph.noisy, psf_fwhm_px=3.44)
    real = hallucination_mask(ph.noisy, result)
    fake = result.copy()
    fake[150:153, 20:23] = result.max()  # bright punctum where the input is background
    flagged = hallucination_mask(ph.noisy, fake)
    assert flagged[150:153, 20:23].all()
    assert real.sum() < 0.001 * real.size


@pytest.mark.slow
def test_convergence_flags_too_few_iterations():
    ph = make_phantom((160, 160), seed=5)
    f = ph.noisy / ph.noisy.max()
    ests = [p.estimate for p in nsd.iter_sparse_hessian(f, iterations=200,
                                                        return_estimate=True)]
    early = convergence(ests[3], ests[4])
    late = convergence(ests[-2], ests[-1])
    assert not early.converged and "more iterations" in early.message
    assert late.converged


# -- assess(): the checks the widget runs -------------------------------------------
def _run_tracked(y, p):
    from napari_sparsedecon.analysis.trust import ConvergenceTracker
    from napari_sparsedecon.core.pipeline import iter_sparse_deconvolve

    tracker = ConvergenceTracker()
    gen = iter_sparse_deconvolve(y, return_estimate=True, **p.to_dict())
    while True:
        try:
            tracker(next(gen))
        except StopIteration as stop:
            return stop.value, tracker


def test_assess_residual_of_the_truth_is_the_noise():
    from scipy import ndimage

    from napari_sparsedecon.analysis.trust import assess
    from napari_sparsedecon.core.params import SparseParams

    rng = np.random.default_rng(3)
    x = np.zeros((128, 128))
    x[rng.integers(8, 120, 60), rng.integers(8, 120, 60)] = 500.0
    noise = rng.normal(0, 2.0, x.shape)
    y = ndimage.gaussian_filter(x, 3.0 / 2.3548, mode="reflect") + 10.0 + noise
    p = SparseParams(psf_fwhm_px=3.0, background="none")
    # the truth through the forward model leaves exactly the background + the noise
    rep = assess(y, x, p, residual=True, frc_check=False, hallucination=False)
    left = rep.residual - 10.0
    assert abs(float(left.mean())) < 0.05
    assert np.corrcoef(left.ravel(), noise.ravel())[0, 1] > 0.99
    # a 1.5x too wide PSF leaves structure: clearly more than the noise
    wrong = assess(y, x, p.replace(psf_fwhm_px=4.5), frc_check=False, hallucination=False)
    assert 0.9 < rep.residual_rms_over_noise < 1.1  # only the noise is left
    assert wrong.residual_rms_over_noise > 1.5


@pytest.mark.slow
def test_assess_flags_hallucination_and_early_stop_only_when_due():
    from napari_sparsedecon.analysis.trust import assess
    from napari_sparsedecon.core.params import SparseParams

    p = SparseParams(psf_fwhm_px=3.44)
    empty = make_phantom((192, 192), photons=400, seed=3, structures=False).noisy
    r, _ = _run_tracked(empty, p)
    rep = assess(empty, r, p, frc_check=False, residual=False)
    assert any("bright where the input holds only background" in w for w in rep.warnings)
    ph = make_phantom((192, 192), photons=400, seed=3)
    r, tracker = _run_tracked(ph.noisy, p)
    rep = assess(ph.noisy, r, p, frc_check=False, residual=False, tracker=tracker)
    assert rep.warnings == [] and rep.convergence["sparse"].converged
    short = p.replace(iterations=10)
    r, tracker = _run_tracked(ph.noisy, short)
    rep = assess(ph.noisy, r, short, frc_check=False, residual=False, tracker=tracker)
    assert any("sparse step" in w and "far from convergence" in w for w in rep.warnings)


@pytest.mark.slow
def test_assess_frc_units_and_methods():
    from napari_sparsedecon.analysis.trust import assess
    from napari_sparsedecon.core.params import SparseParams

    ph = make_phantom((192, 192), photons=1000, seed=3)
    p = SparseParams(psf_fwhm_px=3.44, iterations=30, deconv_iterations=10, upsample=2)
    r = nsd.sparse_deconvolve(ph.noisy, **p.to_dict())
    rep = assess(ph.noisy, r, p, pixel_nm=32.0, residual=True, hallucination=True)
    assert rep.frc_method == "checkerboard"
    assert rep.frc_input.resolution_nm == pytest.approx(rep.frc_input.resolution_px * 32.0)
    # the result's pixels are 16 nm after x2 up-sampling
    assert rep.frc_result.resolution_nm == pytest.approx(rep.frc_result.resolution_px * 16.0)
    assert rep.residual.shape == ph.noisy.shape  # binned back to the input grid
    # a time-lapse: two frames with independent noise
    mean = np.maximum(ph.blurred + ph.background, 0)
    stack = np.stack([np.random.default_rng(k).poisson(mean) for k in (1, 2)]).astype(
        np.float32)
    p1 = p.replace(upsample=1)
    r = nsd.sparse_deconvolve(stack, **p1.to_dict())
    rep = assess(stack, r, p1, pixel_nm=32.0, residual=False, hallucination=False)
    assert rep.frc_method == "two frames"
    assert 64.0 <= rep.frc_input.resolution_nm < 1000.0


def test_checkerboard_frc_removes_the_half_pixel_shift_of_the_split():
    """The (odd, odd) pixels sit half a split pixel from the (even, even) ones; without
    the phase correction a noise-free image decorrelates at high frequencies
    (curve ~ cos(pi f (dy + dx)))."""
    from scipy.ndimage import gaussian_filter

    from napari_sparsedecon.analysis.trust import checkerboard_split

    img = gaussian_filter(np.random.default_rng(0).normal(size=(256, 256)), 1.0) * 100 + 500
    a, b = checkerboard_split(img)
    plain = frc(a, b)
    fixed = frc(a, b, shift=(0.5, 0.5))
    mid = slice(25, 35)  # around half the Nyquist frequency of the split grid
    assert fixed.curve[mid].min() > 0.97
    assert plain.curve[mid].max() < 0.85
    # the single-image FRC uses the correction
    r = frc_single(img)
    np.testing.assert_allclose(r.curve, fixed.curve)


def test_frc_at_the_sampling_limit_says_it_cannot_rank():
    """On the C. elegans Airyscan image the corrected split FRC reaches the split grid's
    Nyquist limit: the report says the FRC cannot show a gain, it quotes no resolution
    as a measurement."""
    import tifffile

    from napari_sparsedecon.analysis.trust import TrustReport, checkerboard_split
    from napari_sparsedecon.datasets import celegans_path

    c = tifffile.imread(celegans_path())
    a, b = checkerboard_split(c)
    assert not frc(a, b).nyquist_limited  # uncorrected: 4.5 px, a false measurement
    r = frc_single(c, pixel_nm=42.6)
    assert r.nyquist_limited and r.resolution_px == 4.0
    rep = TrustReport(frc_input=r, frc_method="checkerboard")
    text = rep.summary()
    assert "sampling limit" in text and "cannot show a resolution gain" in text
