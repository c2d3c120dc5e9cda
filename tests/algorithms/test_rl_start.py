"""`rl` starts from a flat image (the data's mean per plane) instead of the data (issue
26: at its best iteration count the project's RL lost 0.4-1.5 dB in 2-D to peers that
start flat; on the held-out benchmark's tuning split the flat start was better against
the object on 25 of 32 cases, by up to 0.8 dB at low counts)."""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.ops.padding import rl_start


def _rsnr(x, t):
    x, t = x.ravel().astype(float), t.ravel().astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(((t - t.mean()) ** 2).sum() / ((t - fit) ** 2).sum())


def test_the_flat_start_is_one_value_per_plane_of_the_psf_axes():
    y = np.stack([np.full((6, 7), 10.0, np.float32), np.full((6, 7), 50.0, np.float32)])
    y[0, 2, 3] = 100.0
    x = rl_start(y, np.float32(2.0), np.float32(1e-6), axes=(1, 2), start="flat")
    assert np.ptp(x[0]) == 0 and np.ptp(x[1]) == 0 and x[1, 0, 0] > x[0, 0, 0]
    d = rl_start(y, np.float32(2.0), np.float32(1e-6), axes=(1, 2), start="data")
    assert d[0, 2, 3] > d[0, 0, 0]
    with pytest.raises(ValueError, match="start must be one of"):
        rl_start(y, 0.0, 1e-6, axes=(1, 2), start="zero")


def test_rl_starts_flat_by_default_and_says_so():
    img = np.random.default_rng(0).poisson(30, (40, 40)).astype(np.float32)
    assert nsd.method_info("rl").defaults()["start"] == "flat"
    flat = nsd.deconvolve(img, "rl", psf_fwhm_px=2, iterations=3, stop="none")
    data = nsd.deconvolve(img, "rl", psf_fwhm_px=2, iterations=3, stop="none",
                          start="data")
    assert not np.allclose(flat, data)


def _best(ph, start):
    return max(_rsnr(nsd.deconvolve(ph.noisy, "rl", psf=ph.psf, iterations=n, stop="none",
                                    acceleration="none", start=start, backend="numpy"),
                     ph.truth) for n in (1, 2, 3, 5, 8, 12, 20, 30))


def test_at_25_photons_the_flat_start_reaches_a_better_best_than_the_data_start():
    """Measured 2026-12-04 on this phantom: 1.02 against 0.83 dB (seed 0); at 300
    photons the two are within 0.1 dB."""
    ph = make_phantom((160, 160), photons=25, seed=0)
    assert _best(ph, "flat") > _best(ph, "data") + 0.1
