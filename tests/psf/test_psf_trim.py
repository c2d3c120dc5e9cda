"""RL pads by the PSF's real support (issue 14): trimming keeps >= 1 - 1e-4 of the energy,
a PSF stored in a big zero-filled array gives the tight PSF's result and padded shape."""

import numpy as np
import pytest
from scipy import fft as sfft

import napari_sparsedecon as nsd
from napari_sparsedecon.backends.numpy_backend import NumpyRichardsonLucy
from napari_sparsedecon.ops import padding
from napari_sparsedecon.psf.basic import PSF_TAIL, psf_support, trim_psf


def _embed(p, shape):
    big = np.zeros(shape, np.float32)
    big[tuple(slice(n // 2 - m // 2, n // 2 - m // 2 + m) for n, m in
              zip(shape, p.shape, strict=True))] = p
    return big


def _psfs():
    rng = np.random.default_rng(3)
    heavy = 1.0 / (1.0 + np.hypot(*np.mgrid[-30:31, -30:31]) ** 2.5)  # slow 2-D tails
    noisy = nsd.gaussian_psf((15, 31, 31), (4.0, 2.0, 2.0)) + rng.random((15, 31, 31)) * 1e-7
    return {
        "tight gaussian": nsd.gaussian_psf(None, 2.5, ndim=3),
        "gaussian, big array": nsd.gaussian_psf((41, 61, 61), (3.0, 2.0, 2.0)),
        "zero-padded": _embed(nsd.gaussian_psf((9, 13, 13), (3.0, 2.5, 2.5)), (33, 65, 65)),
        "heavy tails 2-D": heavy / heavy.sum(),
        "gaussian + faint noise": noisy / noisy.sum(),
    }


@pytest.mark.parametrize("name", list(_psfs()))
def test_trimming_keeps_all_but_the_tail(name):
    p = _psfs()[name].astype(np.float64)
    box = psf_support(p)
    kept = p[box].sum() / p.sum()
    assert kept >= 1 - PSF_TAIL
    t = trim_psf(p)
    assert all(n % 2 == 1 for n in t.shape)
    # centred: the box is symmetric about the stored centre pixel
    for s, n in zip(box, p.shape, strict=True):
        assert s.start + s.stop - 1 == 2 * (n // 2)
    assert abs(float(t.sum(dtype=np.float64)) - p.sum()) < 1e-6


def test_trimming_finds_the_support_and_leaves_tight_psfs_alone():
    tight = nsd.gaussian_psf((9, 13, 13), (3.0, 2.5, 2.5))
    tight = trim_psf(tight)  # the 1e-4 rule may cut a Gaussian's outermost planes
    assert trim_psf(tight).shape == tight.shape
    np.testing.assert_array_equal(trim_psf(tight), tight)
    big = _embed(tight, (33, 65, 65))
    assert trim_psf(big).shape == tight.shape
    np.testing.assert_allclose(trim_psf(big), tight, rtol=1e-6, atol=0)


def _image(shape, seed=4):
    rng = np.random.default_rng(seed)
    img = rng.poisson(20, shape).astype(np.float32)
    img[shape[0] // 3: shape[0] // 2, 10:30, 15:40] += 400
    img[:, 5:8, :] += 150
    return img


def test_zero_padded_psf_gives_the_tight_result_and_geometry():
    tight = nsd.gaussian_psf((9, 13, 13), (3.0, 2.5, 2.5))
    big = _embed(tight, (31, 41, 41))  # stored much bigger than its support
    img = _image((36, 48, 52))
    # the bright blocks are noise-free (not Poisson): the camera is given, not estimated
    cam = {"gain": 1.0, "read_noise": 0.0}
    a, ia = nsd.deconvolve(img, "rl", psf=tight, iterations=8, stop="none", return_info=True,
                            backend="numpy", **cam)
    b, ib = nsd.deconvolve(img, "rl", psf=big, iterations=8, stop="none", return_info=True,
                            backend="numpy", **cam)
    rng_ = float(a.max() - a.min())
    assert float(np.abs(a - b).max()) <= 1e-4 * rng_
    assert ib["psf_shape"] == [31, 41, 41]
    assert ib["psf_support"] == ia["psf_support"] == list(trim_psf(tight).shape)
    assert ib["psf_tail"] == PSF_TAIL
    pa = NumpyRichardsonLucy(img.shape, tight).pshape
    pb = NumpyRichardsonLucy(img.shape, big).pshape
    assert pa == pb
    # every padded axis, z included, is an FFT-friendly length
    assert all(n == sfft.next_fast_len(n, real=True) for n in pb)


def test_trimming_real_tails_changes_rl_by_less_than_1e4_of_the_range(monkeypatch):
    """Classic RL: Biggs's step length is one scalar over the whole padded domain, so any
    change of the padding (not only this one) moves a Biggs result by ~1e-3 of its range."""
    psf = nsd.gaussian_psf((31, 41, 41), (3.0, 2.0, 2.0))  # real (tiny) tails everywhere
    img = _image((36, 48, 52), seed=5)
    kw = {"iterations": 8, "stop": "none", "acceleration": "none", "backend": "numpy"}
    trimmed = nsd.deconvolve(img, "rl", psf=psf, **kw)
    assert NumpyRichardsonLucy(img.shape, psf).pshape < (60, 80, 80)
    monkeypatch.setattr(padding, "trim_psf", lambda p: np.asarray(p, np.float32))
    full = nsd.deconvolve(img, "rl", psf=psf, **kw)
    assert NumpyRichardsonLucy(img.shape, psf).pshape >= (64, 80, 90)
    rng_ = float(full.max() - full.min())
    assert float(np.abs(trimmed - full).max()) <= 1e-4 * rng_


def test_stopping_chi2_counts_data_pixels_only(monkeypatch):
    """The discrepancy stop must not depend on how far the data are padded: the outer
    padding meets the far side in the circular convolution and is not data."""
    monkeypatch.setattr(padding, "trim_psf", lambda p: np.asarray(p, np.float32))
    tight = nsd.gaussian_psf((9, 13, 13), (3.0, 2.5, 2.5))
    big = _embed(tight, (31, 41, 41))
    img = _image((36, 48, 52), seed=6)
    chi2 = []
    for p in (tight, big):
        plan = NumpyRichardsonLucy(img.shape, p)
        plan.track_chi2 = True
        plan.set_data(img)
        for _ in range(4):
            plan.step()
        chi2.append(plan.chi2)
    assert abs(chi2[0] - chi2[1]) <= 0.01 * chi2[0], chi2
