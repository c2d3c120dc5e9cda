import numpy as np
import pytest

import napari_sparsedecon as nsd


@pytest.mark.parametrize("fwhm", [1.5, 2.4, 5.0])
def test_gaussian_psf_2d_fwhm_sum_centre(fwhm):
    psf = nsd.gaussian_psf((41, 41), fwhm)
    assert psf.dtype == np.float32
    assert abs(float(psf.sum()) - 1) < 1e-6
    assert np.unravel_index(psf.argmax(), psf.shape) == (20, 20)
    # The log of a sampled Gaussian is a parabola: its second difference is -1/sigma^2.
    lp = np.log(psf[20, 19:22].astype(float))
    sigma = 1.0 / np.sqrt(-(lp[0] - 2 * lp[1] + lp[2]))
    assert abs(2.3548 * sigma - fwhm) < 0.01 * fwhm
    assert np.allclose(nsd.measure_fwhm(psf), fwhm, rtol=0.01)


def test_gaussian_psf_3d_anisotropic():
    psf = nsd.gaussian_psf((21, 15, 15), (6.0, 2.0, 3.0))
    assert psf.shape == (21, 15, 15)
    assert np.unravel_index(psf.argmax(), psf.shape) == (10, 7, 7)
    np.testing.assert_allclose(nsd.measure_fwhm(psf), (6.0, 2.0, 3.0), rtol=0.02)


def test_gaussian_psf_auto_shape_is_odd():
    psf = nsd.gaussian_psf(None, 3.0)
    assert psf.ndim == 2 and all(n % 2 == 1 for n in psf.shape)
    psf3 = nsd.gaussian_psf(None, (4.0, 2.0, 2.0))
    assert psf3.ndim == 3 and all(n % 2 == 1 for n in psf3.shape)


def test_gaussian_psf_rejects_even_shape():
    with pytest.raises(ValueError, match="odd"):
        nsd.gaussian_psf((10, 11), 2.0)


def test_center_psf_recentres_shifted_psf():
    psf = nsd.gaussian_psf((21, 21), 3.0)
    shifted = np.roll(psf, (2, -3), axis=(0, 1))[:-1, :-1]  # even, off-centre
    c = nsd.center_psf(shifted)
    assert c.shape == (21, 21) and abs(float(c.sum()) - 1) < 1e-5
    assert np.unravel_index(c.argmax(), c.shape) == (10, 10)


def test_zoom_psf_doubles_fwhm_in_pixels():
    psf = nsd.gaussian_psf((15, 15), 3.0)
    z = nsd.zoom_psf(psf, (2, 2))
    assert all(n % 2 == 1 for n in z.shape)
    np.testing.assert_allclose(nsd.measure_fwhm(z), (6.0, 6.0), rtol=0.03)


def test_measure_fwhm_widefield_3d_is_the_in_focus_width():
    """A widefield PSF's out-of-focus cone must not count as lateral width: the
    second moments over the whole volume gave 14.7 px for a PSF whose in-focus FWHM is
    2.5 px (the regularised methods' weights, background blocks and output blur used it)."""
    from napari_sparsedecon.psf.models import born_wolf_psf, theoretical_fwhm_nm

    p = born_wolf_psf(na=1.2, wavelength_nm=600.0, n_immersion=1.33, pixel_nm=110.0,
                      z_step_nm=350.0, shape=(19, 31, 31)).data
    from napari_sparsedecon.psf.basic import psf_spread_fwhm

    fz, fy, fx = nsd.measure_fwhm(p)
    _, ax_nm = theoretical_fwhm_nm(1.2, 600.0, 1.33)
    focus = int(np.unravel_index(np.argmax(p), p.shape)[0])
    assert (fy, fx) == pytest.approx(nsd.measure_fwhm(p[focus]), rel=1e-6)
    spread = psf_spread_fwhm(p)
    assert fy < 0.4 * spread[1] and fx == pytest.approx(fy, rel=0.02)
    assert fz == pytest.approx(ax_nm / 350.0, rel=0.3) and fz < 0.4 * spread[0]


@pytest.mark.parametrize("fz", [1.5, 3.0, 7.0])
def test_measure_fwhm_3d_gaussian_exact_axially(fz):
    psf = nsd.gaussian_psf(None, (fz, 2.0, 2.5))
    np.testing.assert_allclose(nsd.measure_fwhm(psf), (fz, 2.0, 2.5), rtol=0.01)
