"""The full pipeline on phantoms with known truth and real data (goldens: test_goldens.py)."""


import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.core.phantom import make_phantom, pair_resolved


@pytest.fixture(scope="module")
def phantom():
    return make_phantom()


@pytest.fixture(scope="module")
def result(phantom):
    return nsd.sparse_deconvolve(phantom.noisy,
                                 psf_fwhm_px=phantom.psf_fwhm_nm / phantom.pixel_nm)


def _resolved(img, ph):
    return {sep for sep, p1, p2 in ph.pairs if pair_resolved(img, p1, p2)}


def test_defaults_resolve_pairs_the_raw_image_does_not(phantom, result):
    raw, out = _resolved(phantom.noisy, phantom), _resolved(result, phantom)
    print(f"resolved pairs (nm): raw {sorted(raw)} -> sparse {sorted(out)}")
    assert raw <= out  # nothing resolved before is lost
    assert out - raw, "no pair resolved beyond what the raw image shows"
    assert min(out) <= 100


def test_gap_in_filament_stays_open(phantom, result):
    y, g0, g1, xa, _ = phantom.gap
    row = result[int(round(y)) - 1: int(round(y)) + 2].max(axis=0)
    gap_value = row[int(round((g0 + g1) / 2))]
    filament = np.median(row[int(xa) + 5: int(g0) - 3])
    assert filament > 0
    assert gap_value < 0.2 * filament


def test_background_only_image_gives_no_structure(phantom, result):
    empty = make_phantom(structures=False, seed=3)
    out = nsd.sparse_deconvolve(empty.noisy,
                                psf_fwhm_px=phantom.psf_fwhm_nm / phantom.pixel_nm)
    # the dimmest real emitters in the phantom, processed identically
    peaks = [result[int(round(p[0])) - 1: int(round(p[0])) + 2,
                    int(round(p[1])) - 1: int(round(p[1])) + 2].max()
             for _, p, _ in phantom.pairs[-2:]]
    print(f"background-only max {out.max():.1f} vs single-emitter peaks {peaks}")
    assert out.max() < 0.1 * min(peaks)


def test_quantitative_keeps_units_and_max_one_mode(phantom):
    fw = phantom.psf_fwhm_nm / phantom.pixel_nm
    q = nsd.sparse_deconvolve(phantom.noisy, psf_fwhm_px=fw, iterations=30)
    m = nsd.sparse_deconvolve(phantom.noisy, psf_fwhm_px=fw, iterations=30,
                              quantitative=False)
    assert abs(float(m.max()) - 1.0) < 1e-6
    np.testing.assert_allclose(q / q.max(), m, atol=1e-5)
    # total flux stays within 25% of the input's signal flux (input minus background)
    signal = float((phantom.noisy - phantom.background).sum())
    assert 0.75 * signal < float(q.sum()) < 1.25 * signal


@pytest.mark.parametrize("method", ["fourier", "spatial"])
def test_upsample_doubles_yx_on_non_square_stacks(method, rng):
    img = (rng.random((3, 24, 40)) * 50 + 5).astype(np.float32)
    out = nsd.sparse_deconvolve(img, psf_fwhm_px=2.0, upsample=2, upsample_method=method,
                                iterations=5, deconv_iterations=2)
    assert out.shape == (3, 48, 80)
    assert all(out[i].max() > 0 for i in range(3))  # every frame kept, not only the last


def test_upsample2x_keeps_mean_and_every_frame(rng):
    img = (rng.random((4, 10, 14)) + 1).astype(np.float32)
    for method in ("fourier", "spatial"):
        up = nsd.upsample2x(img, method)
        assert up.shape == (4, 20, 28)
        np.testing.assert_allclose(up.mean(axis=(1, 2)), img.mean(axis=(1, 2)), rtol=1e-4)


def test_background_modes_run_and_leave_input_untouched(phantom):
    img = phantom.noisy.copy()
    for mode in nsd.BACKGROUND_MODES:
        out = nsd.sparse_deconvolve(img, psf_fwhm_px=3.4, background=mode, iterations=3,
                                    deconv_iterations=1)
        assert np.isfinite(out).all()
    np.testing.assert_array_equal(img, phantom.noisy)


def test_background_estimate_follows_smooth_background(phantom):
    bg = nsd.estimate_background(phantom.noisy, "low/2")
    assert bg.shape == phantom.noisy.shape and bg.dtype == np.float32
    # the estimate is smooth and of the right order (the 'low' modes under-estimate by design)
    assert np.corrcoef(bg.ravel(), phantom.background.ravel())[0, 1] > 0.8
    assert 0.2 * phantom.background.mean() < bg.mean() < 1.5 * phantom.background.mean()


def test_background_odd_sizes_are_float(rng):
    img = (rng.random((37, 53)) * 100).astype(np.float32)
    bg = nsd.estimate_background(img, "high/2.5")
    assert bg.shape == img.shape and bg.dtype == np.float32 and np.isfinite(bg).all()


def test_generator_stages_and_cancel(phantom):
    gen = nsd.iter_sparse_deconvolve(phantom.noisy, psf_fwhm_px=3.4, background="low/2",
                                     iterations=4, deconv_iterations=3)
    stages = []
    try:
        while True:
            stages.append(next(gen).stage)
    except StopIteration as stop:
        out = stop.value
    assert stages[:2] == ["prepare", "prepare"]
    assert stages.count("sparse") == 4 and stages.count("deconv") == 3
    assert out.shape == phantom.noisy.shape


def test_closing_the_pipeline_cancels_it(phantom, monkeypatch):
    """close() after the first sparse iteration: no further sparse or RL
    iteration runs, the generator is finished and the input is unchanged."""
    from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy, NumpySparseHessian

    steps = []
    for cls in (NumpySparseHessian, NumpyRichardsonLucy):
        monkeypatch.setattr(cls, "step", lambda self, _s=cls.step: (steps.append(1), _s(self)))
    img = phantom.noisy.copy()
    gen = nsd.iter_sparse_deconvolve(img, psf_fwhm_px=3.4, iterations=50)
    while next(gen).stage != "sparse":
        pass
    gen.close()
    assert len(steps) == 1
    with pytest.raises(StopIteration):
        next(gen)
    assert len(steps) == 1
    np.testing.assert_array_equal(img, phantom.noisy)


def test_3d_stack_with_3d_psf_and_axis(rng):
    vol = (rng.random((12, 32, 32)) * 10 + 1).astype(np.float32)
    psf = nsd.gaussian_psf((7, 7, 7), (3.0, 2.0, 2.0))
    out = nsd.sparse_deconvolve(vol, psf=psf, iterations=5, deconv_iterations=3)
    assert out.shape == vol.shape
    out2 = nsd.sparse_deconvolve(np.moveaxis(vol, 0, 2), psf_fwhm_px=2.0, axis=2,
                                 iterations=5, deconv_iterations=3)
    assert out2.shape == (32, 32, 12)


@pytest.mark.slow
def test_real_airyscan_image_is_sharpened():
    img = nsd.datasets.celegans()
    out = nsd.sparse_deconvolve(img, psf_fwhm_px=nsd.datasets.CELEGANS_PSF_FWHM_PX)

    def highpass_energy(a):
        f = np.abs(np.fft.rfft2(a / a.sum()))
        ky = np.fft.fftfreq(a.shape[0])[:, None]
        kx = np.fft.rfftfreq(a.shape[1])[None, :]
        return float((f[np.hypot(ky, kx) > 0.1] ** 2).sum())

    assert out.shape == img.shape and np.isfinite(out).all() and out.min() >= 0
    assert highpass_energy(out) > 2 * highpass_energy(img)


def test_generators_validate_eagerly():
    bad = np.zeros((16, 16), np.float32)
    with pytest.raises(ValueError, match="all zero"):
        nsd.iter_sparse_deconvolve(bad, psf_fwhm_px=2.0)
    with pytest.raises(ValueError, match="all zero"):
        nsd.iter_richardson_lucy(bad, nsd.gaussian_psf((5, 5), 2.0))
    with pytest.raises(ValueError, match="fidelity"):
        nsd.iter_sparse_hessian(np.ones((8, 8)), fidelity=-1)
