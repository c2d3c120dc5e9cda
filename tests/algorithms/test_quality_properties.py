"""Image-quality properties of the photon methods on small phantoms (issue 15).

Each test guards one property the quality benchmark (benchmarks/quality.py) measures at
full size: they fail when a default, the background estimate or the weight scaling is
broken (checked by breaking each: see the notes in the tests)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms.registry import DEFAULT_METHOD
from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy
from napari_sparsedecon.core.phantom import make_phantom, pair_resolved
from napari_sparsedecon.ops.noise import camera_model, smooth_background, to_photons

FWHM_PX = 110 / 32


def _data(photons, seed=3, structures=True):
    ph = make_phantom((160, 160), photons=photons, background_photons=12, read_noise=1.5,
                      seed=seed, structures=structures)
    rng = np.random.default_rng(seed + 10)
    noisy = (rng.poisson(np.clip(ph.blurred + ph.background, 0, None))
             + rng.normal(0, 1.5, ph.blurred.shape)).astype(np.float32)
    truth = gaussian_filter(ph.truth, FWHM_PX / 2 / 2.3548)
    return ph, noisy, truth


def rsnr(x, t):
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2))


def rl_best(y, psf, truth):
    plan = NumpyRichardsonLucy(y.shape, psf, background=np.float32(2.25))
    plan.set_data(np.maximum(y + 2.25, 0).astype(np.float32))
    best = -np.inf
    for k in range(1, 61):
        plan.step()
        if k % 5 == 0:
            best = max(best, rsnr(plan.result(), truth))
    return best


def smallest_resolved(img, ph):
    ok = None
    for sep, p1, p2 in sorted(ph.pairs, reverse=True):
        if not pair_resolved(img, p1, p2, dip=0.8):
            break
        ok = sep
    return ok


def test_the_default_method_is_the_photon_sparse_method():
    assert DEFAULT_METHOD == "sparse_psf"


@pytest.mark.slow
@pytest.mark.parametrize("photons", [25, 300])
def test_default_method_beats_rl_at_its_best_and_resolves_closer_pairs(photons):
    """Full-size figures: benchmarks/quality.py. Fails with the settings of the first
    round (no background map, no sparsity, raw estimate): measured 0.7 dB below RL's
    best at 25 photons and 2.0 dB below at 300 on this phantom.

    At the fixed output resolution 0.5 (the default before issue 26): this truth is
    the object at half the PSF width, which is what that resolution shows. The
    automatic resolution (the default now) chooses the output closest to the object
    and misses this target at 300 photons (6.1 dB against RL's 10.9 + 1, measured
    2026-12-03); docs/algorithms.md, held-out benchmark."""
    ph, y, truth = _data(photons)
    out = nsd.deconvolve(y, psf=ph.psf, resolution=0.5)
    assert rsnr(out, truth) >= rl_best(y, ph.psf, truth) + 1.0
    raw = smallest_resolved(y, ph)
    assert smallest_resolved(out, ph) <= raw - 30
    fy, g0, g1, _, _ = ph.gap
    assert pair_resolved(out, (fy, g0 - 2), (fy, g1 + 2), dip=0.8)  # the gap stays open


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sparse_psf", "rl_tv"])
def test_empty_field_is_not_turned_into_specks(method):
    """Background-only data: the result's fluctuation relative to the input level is
    below the input's coefficient of variation (the result is the object without the
    background; with keep_background the plain CV is below the input's too)."""
    ph, y, _ = _data(60, seed=4, structures=False)
    cv_in = y.std() / y.mean()
    out = nsd.deconvolve(y, method, psf=ph.psf)
    assert out.std() / y.mean() <= cv_in
    kept = nsd.deconvolve(y, method, psf=ph.psf, keep_background=True)
    assert kept.std() / kept.mean() <= cv_in
    assert kept.mean() == pytest.approx(y.mean(), rel=0.2)


def test_background_map_follows_a_smooth_background_from_below():
    ph, y, _ = _data(60)
    cam = camera_model(y)
    ye = to_photons(y.copy(), cam)
    bg = smooth_background(ye, (FWHM_PX, FWHM_PX)) - cam.read_noise ** 2
    true_bg = ph.background / cam.gain
    err = bg - true_bg
    # a little under the true background (the percentile of the smoothed noise),
    # never above it by more than a photon, on average within 15 %
    assert np.mean(err) < 0 and np.mean(np.abs(err)) < 0.15 * true_bg.mean()
    assert np.percentile(err, 99) < 1.0


def test_background_map_of_a_ramp_is_a_ramp():
    yy, xx = np.mgrid[0:128, 0:128]
    lam = 5 + 20 * xx / 127.0
    y = np.random.default_rng(0).poisson(lam).astype(np.float32)
    bg = smooth_background(y, (3.0, 3.0))
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(bg - lam)[inner].mean() < 1.5
    assert np.corrcoef(bg[inner].ravel(), lam[inner].ravel())[0, 1] > 0.99


def test_resolution_zero_is_the_raw_estimate_and_half_is_it_blurred():
    ph, y, _ = _data(60)
    raw, info = nsd.deconvolve(y, psf=ph.psf, iterations=10, resolution=0.0,
                               return_info=True)
    assert info["output_sigma_px"] == [0.0, 0.0]
    out, info = nsd.deconvolve(y, psf=ph.psf, iterations=10, resolution=0.5,
                               return_info=True)
    s = 0.5 * FWHM_PX / 2.3548
    assert info["output_sigma_px"] == pytest.approx([s, s], rel=0.02)
    np.testing.assert_allclose(out, gaussian_filter(raw, info["output_sigma_px"]),
                               atol=1e-4 * raw.max())


def test_info_reports_the_estimated_background_and_levels():
    ph, y, _ = _data(300)
    _, info = nsd.deconvolve(y, psf=ph.psf, iterations=2, return_info=True)
    assert info["background"] == "estimated smooth map"
    assert 8 < info["background_mean"] < 14  # 12 photons, gain ~1
    assert 150 < info["signal_photons"] < 400
    assert info["weight"] == pytest.approx(0.005 / np.sqrt(info["signal_photons"]))
    _, info = nsd.deconvolve(y, psf=ph.psf, iterations=2, background=12.0,
                             return_info=True)
    assert info["background"] == "given"


@pytest.mark.slow
def test_time_continuity_helps_a_static_time_lapse():
    """2-D+t: five noisy frames of a still scene; the t terms of the Hessian prior
    (continuity) share information between frames (measured +1.0 dB at 25 photons)."""
    ph, _, truth = _data(25)
    rng = np.random.default_rng(0)
    lam = np.clip(ph.blurred + ph.background, 0, None)
    ys = np.stack([(rng.poisson(lam) + rng.normal(0, 1.5, lam.shape)).astype(np.float32)
                   for _ in range(5)])

    def mean_rsnr(c):
        out = nsd.deconvolve(ys, psf=ph.psf, continuity=c, iterations=60)
        assert out.shape == ys.shape
        return np.mean([rsnr(o, truth) for o in out])

    assert mean_rsnr(1.0) >= mean_rsnr(0.0) + 0.5
