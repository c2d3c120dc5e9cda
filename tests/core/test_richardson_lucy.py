import numpy as np
import pytest
from scipy.signal import fftconvolve

import napari_sparsedecon as nsd
from napari_sparsedecon.core.phantom import make_phantom


def test_delta_through_forward_model_and_back():
    psf = nsd.gaussian_psf((15, 15), 3.0)
    delta = np.zeros((48, 48), np.float32)
    delta[20, 27] = 1000.0
    y = fftconvolve(delta, psf, mode="same").astype(np.float32) + 1e-3
    x = nsd.richardson_lucy(y, psf, iterations=200)
    assert np.unravel_index(x.argmax(), x.shape) == (20, 27)
    assert x.max() > 8 * y.max()  # energy re-concentrated towards the point
    assert abs(x.sum() - y.sum()) < 1e-3 * y.sum()  # energy conserved
    assert x[20, 27] + x[19:22, 26:29].sum() > 0.5 * delta.sum()


def test_energy_and_nonnegativity_3d(rng):
    psf = nsd.gaussian_psf((7, 9, 9), (3.0, 2.0, 2.0))
    truth = np.zeros((24, 40, 40), np.float32)
    truth[8:16, 12:28, 12:28] = rng.random((8, 16, 16)) * 100
    y = fftconvolve(truth, psf, mode="same").clip(0).astype(np.float32)
    x = nsd.richardson_lucy(y, psf, iterations=20)
    assert x.min() >= 0
    assert abs(float(x.sum()) - float(y.sum())) < 1e-3 * float(y.sum())


def _phantom_case():
    ph = make_phantom((160, 160))
    y = ph.blurred + 1.0
    return ph, y


def test_error_falls_monotonically_on_noise_free_phantom():
    ph, y = _phantom_case()
    errs = []
    for p in nsd.iter_richardson_lucy(y, ph.psf, iterations=15, background=1.0,
                                      return_estimate=True):
        errs.append(float(np.abs(p.estimate - ph.truth).sum()))
    assert all(b < a for a, b in zip(errs, errs[1:], strict=False))
    assert errs[-1] < 0.8 * float(np.abs(ph.blurred - ph.truth).sum())


def test_biggs_reaches_100_classic_iterations_in_30():
    ph, y = _phantom_case()

    def err(x):
        return float(np.linalg.norm(x - ph.truth))

    classic = nsd.richardson_lucy(y, ph.psf, iterations=100, background=1.0)
    fast = nsd.richardson_lucy(y, ph.psf, iterations=30, background=1.0, acceleration="biggs")
    assert err(fast) <= err(classic)


def test_known_background_is_not_deconvolved_into_structure():
    psf = nsd.gaussian_psf((9, 9), 2.5)
    y = np.full((40, 40), 50.0, np.float32)
    x = nsd.richardson_lucy(y, psf, iterations=30, background=50.0)
    assert x.max() < 1.0  # nothing but background -> (almost) nothing


def test_no_wraparound_between_opposite_edges():
    psf = nsd.gaussian_psf((15, 15), 4.0)
    y = np.full((64, 64), 1.0, np.float32)
    y[:, :4] = 100.0
    x = nsd.richardson_lucy(y, psf, iterations=20)
    assert x[:, -6:].max() < 2.0


def test_2d_psf_on_stack_is_plane_by_plane(rng):
    psf = nsd.gaussian_psf((9, 9), 2.0)
    stack = (rng.random((3, 32, 36)) * 10 + 1).astype(np.float32)
    out = nsd.richardson_lucy(stack, psf, iterations=5)
    for i in range(3):
        np.testing.assert_allclose(out[i], nsd.richardson_lucy(stack[i], psf, iterations=5),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_pollen_moves_closer_to_truth(shared_data):
    import tifffile

    truth = tifffile.imread(shared_data / "pollen.tif").astype(np.float32)
    y = tifffile.imread(shared_data / "pollen_poisson_noise_blurred.tif").astype(np.float32)
    psf = tifffile.imread(shared_data / "pollen_psf.tif").astype(np.float32)
    psf = psf[:31, :255, :255]  # odd-sized around the centre
    psf = nsd.center_psf(psf / psf.sum())
    x = nsd.richardson_lucy(y, psf, iterations=20, acceleration="biggs", clip_negative=True)

    def nrmse(a):  # after the best affine fit to the truth
        a = a.ravel().astype(float)
        t = truth.ravel().astype(float)
        coef = np.polyfit(a, t, 1)
        return np.sqrt(np.mean((np.polyval(coef, a) - t) ** 2)) / t.std()

    before, after = nrmse(y), nrmse(x)
    print(f"pollen NRMSE blurred {before:.4f} -> RL {after:.4f}")
    assert after < 0.9 * before


@pytest.mark.parametrize("shape", [(33, 47), (5, 31, 22)])
def test_odd_sizes(shape, rng):
    psf = nsd.gaussian_psf((5, 5), 1.5)
    y = (rng.random(shape) + 0.5).astype(np.float32)
    x = nsd.richardson_lucy(y, psf, iterations=3)
    assert x.shape == y.shape and np.isfinite(x).all()
