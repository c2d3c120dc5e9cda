"""(T, Z, Y, X) data in the photon methods (issue 12): a 3-D PSF on each time point,
continuity along T (``t_continuity``) solving the time-lapse as one 4-D problem."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import napari_sparsedecon as nsd
from napari_sparsedecon.psf.basic import gaussian_psf

FWHM = (3.0, 2.0, 2.0)  # z, y, x in pixels


def rsnr(x, t):
    """RSNR in dB after the best affine fit of ``x`` to the truth ``t``."""
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2))


def _static_volume(shape=(16, 32, 32), seed=0):
    """A static object: a few beads and two short filaments in a small volume."""
    rng = np.random.default_rng(seed)
    obj = np.zeros(shape, np.float32)
    nz, ny, nx = shape
    for _ in range(8):
        z, y, x = rng.integers(2, nz - 2), rng.integers(4, ny - 4), rng.integers(4, nx - 4)
        obj[z, y, x] += 1.0
    for k in range(4, 28):
        obj[nz // 2, k, k] += 0.6
        obj[nz // 2 - 2, 20, k] += 0.6
    return obj


def _time_lapse(nt, photons, seed=1):
    """(truth volume, PSF, (T, Z, Y, X) data): the same object, independent noise."""
    obj = _static_volume()
    psf = gaussian_psf(None, FWHM)
    from scipy.signal import fftconvolve

    blurred = np.clip(fftconvolve(obj, psf, mode="same"), 0, None)
    blurred *= photons / blurred.max()
    rng = np.random.default_rng(seed)
    bg = 2.0
    data = (rng.poisson(np.broadcast_to(blurred + bg, (nt,) + obj.shape))
            + rng.normal(0, 1.0, (nt,) + obj.shape)).astype(np.float32)
    truth = gaussian_filter(obj, [f / 2 / 2.3548 for f in FWHM])  # the detail kept
    return truth, psf, data


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sparse_psf", "rl_tv"])
def test_t_continuity_zero_equals_volume_by_volume(method):
    """t_continuity 0 keeps today's behaviour: each time point is its own volume."""
    _, psf, data = _time_lapse(3, 30)
    kw = dict(psf=psf, iterations=8, gain=1.0, read_noise=1.0, t_continuity=0.0)
    out, info = nsd.deconvolve(data, method, return_info=True, **kw)
    assert "own volume" in info["time_points"]
    for t in range(data.shape[0]):
        alone = nsd.deconvolve(data[t], method, **kw)
        np.testing.assert_allclose(out[t], alone, rtol=1e-5, atol=1e-5 * float(alone.max()))


def test_t_continuity_solves_one_4d_problem_and_couples_time():
    """t_continuity > 0: one problem (the info says so); time points differ from the
    volume-by-volume results (they are coupled)."""
    _, psf, data = _time_lapse(3, 30)
    kw = dict(psf=psf, iterations=8, gain=1.0, read_noise=1.0)
    out, info = nsd.deconvolve(data, "sparse_psf", t_continuity=1.0, return_info=True, **kw)
    assert out.shape == data.shape and out.dtype == np.float32
    assert "one (T, Z, Y, X) problem" in info["time_points"]
    assert info["t_continuity_used"] == 1.0
    assert info["continuity_used"] > 0  # the z terms of the 3-D PSF stay on
    sep = nsd.deconvolve(data, "sparse_psf", t_continuity=0.0, **kw)
    assert np.abs(out - sep).max() > 1e-3 * float(sep.max())
    # coupled in time: the time points of a static object agree more closely
    assert np.std(out, axis=0).mean() < np.std(sep, axis=0).mean()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sparse_psf", "rl_tv"])
def test_t_continuity_helps_a_static_object_at_low_photons(method):
    """Static object, several time points, independent noise at ~15 photons peak:
    coupling in time raises the RSNR of every time point against the truth."""
    truth, psf, data = _time_lapse(4, 15)
    # one fixed output resolution for both runs (the automatic one is chosen per run,
    # and would mix its choice into the comparison)
    kw = dict(psf=psf, iterations=30, gain=1.0, read_noise=1.0, resolution=0.5)
    if method == "rl_tv":
        kw["strength"] = 0.02
    sep = nsd.deconvolve(data, method, t_continuity=0.0, **kw)
    joint = nsd.deconvolve(data, method, t_continuity=2.0, **kw)
    r_sep = [rsnr(sep[t], truth) for t in range(data.shape[0])]
    r_joint = [rsnr(joint[t], truth) for t in range(data.shape[0])]
    assert min(np.subtract(r_joint, r_sep)) > 0.5, (r_sep, r_joint)


def test_t_continuity_with_a_psf_fwhm_of_three_values():
    """psf_fwhm_px (z, y, x) on (T, Z, Y, X) data makes a 3-D PSF (it used to fail:
    'needs 1 or 2 values')."""
    _, _, data = _time_lapse(2, 30)
    out, info = nsd.deconvolve(data, "sparse_psf", psf_fwhm_px=FWHM, iterations=3,
                               t_continuity=1.0, return_info=True)
    assert out.shape == data.shape
    assert len(info["psf_shape"]) == 3


def test_t_continuity_is_validated():
    _, psf, data = _time_lapse(2, 30)
    with pytest.raises(ValueError, match="t_continuity"):
        nsd.deconvolve(data, "sparse_psf", psf=psf, t_continuity=-1.0)


def test_5d_input_is_refused_naming_the_shape():
    with pytest.raises(ValueError, match="T, Z, Y, X"):
        nsd.deconvolve(np.ones((2, 2, 4, 8, 8), np.float32), "sparse_psf",
                       psf_fwhm_px=2.0, t_continuity=1.0)
