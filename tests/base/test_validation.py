import numpy as np
import pytest

import napari_sparsedecon as nsd

GOOD = np.ones((16, 16), np.float32)
PSF = nsd.gaussian_psf((5, 5), 2.0)


@pytest.mark.parametrize(
    ("image", "exc", "words"),
    [
        (np.full((16, 16), np.nan), ValueError, "NaN"),
        (np.where(np.eye(16) > 0, np.inf, 1.0), ValueError, "nan_to_num"),
        (np.zeros((16, 16)), ValueError, "all zero"),
        (np.ones((1, 16, 16)), ValueError, "squeeze"),
        (np.ones((16, 1)), ValueError, "squeeze"),
        (np.ones((2, 2, 16, 16)), ValueError, "single channel"),
        (np.ones(16), ValueError, "single channel"),
        (np.ones((16, 16), complex), TypeError, "complex"),
        (np.ones((16, 16), bool), TypeError, "boolean"),
        (np.array([["a"] * 8] * 8), TypeError, "numeric"),
        (np.ones((3, 3)), ValueError, "at least"),
    ],
)
@pytest.mark.parametrize("func", ["sparse", "rl"])
def test_bad_images_raise_with_advice(image, exc, words, func):
    with pytest.raises(exc, match=words):
        if func == "sparse":
            nsd.sparse_deconvolve(image, psf_fwhm_px=2.0, iterations=2)
        else:
            nsd.richardson_lucy(image, PSF, iterations=2)


@pytest.mark.parametrize(
    ("psf", "words"),
    [
        (np.ones((4, 5)) / 20, "odd"),
        (np.ones((5, 5)), "normalise"),
        (np.ones((33, 33)) / 33**2, "larger than the image"),
        (-nsd.gaussian_psf((5, 5), 2.0), "negative"),
        (np.full((5, 5), np.nan), "NaN"),
        (np.ones((3, 5, 5)) / 75, "dimensions"),
    ],
)
def test_bad_psf_raises(psf, words):
    with pytest.raises(ValueError, match=words):
        nsd.richardson_lucy(GOOD, psf, iterations=1)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"fidelity": 0}, ValueError),
        ({"fidelity": -1}, ValueError),
        ({"sparsity": -1}, ValueError),
        ({"continuity": -0.1}, ValueError),
        ({"iterations": 0}, ValueError),
        ({"iterations": 2.5}, TypeError),
        ({"deconv_iterations": -1}, ValueError),
        ({"fidelity": float("nan")}, ValueError),
        ({"fidelity": "150"}, TypeError),
        ({"background": "auto"}, ValueError),
        ({"upsample": 3}, ValueError),
        ({"deconv_method": "wiener"}, ValueError),
        ({"psf_fwhm_px": 0.0}, ValueError),
        ({"psf_fwhm_px": None}, ValueError),
    ],
)
def test_bad_parameters_raise(kwargs, exc):
    base = {"psf_fwhm_px": 2.0, "iterations": 2, "deconv_iterations": 1}
    base.update(kwargs)
    with pytest.raises(exc):
        nsd.sparse_deconvolve(GOOD, **base)


def test_clip_negative_option_accepts_offset_data():
    img = np.ones((16, 16), np.float32)
    img[0, 0] = -3
    out = nsd.richardson_lucy(img, PSF, iterations=2, clip_negative=True)
    assert np.isfinite(out).all() and out.min() >= 0


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float64, np.float16])
def test_any_real_dtype_gives_float32_and_input_untouched(dtype, rng):
    img = (rng.random((20, 24)) * 100 + 1).astype(dtype)
    before = img.copy()
    out = nsd.sparse_deconvolve(img, psf_fwhm_px=2.0, iterations=3, deconv_iterations=2)
    assert out.dtype == np.float32 and out.shape == img.shape
    np.testing.assert_array_equal(img, before)
    out = nsd.richardson_lucy(img, PSF, iterations=2)
    np.testing.assert_array_equal(img, before)


def test_a_one_value_list_is_a_scalar_fwhm():
    """Found by the property tests: psf_fwhm_px=(2.0,) on 3-D data was refused with
    "psf_fwhm_px needs 1 or 2 values, got 1"."""
    img = np.random.default_rng(0).poisson(30, (3, 12, 12)).astype(np.float32)
    a = nsd.deconvolve(img, "rl", psf_fwhm_px=(2.0,), iterations=2, backend="numpy")
    b = nsd.deconvolve(img, "rl", psf_fwhm_px=2.0, iterations=2, backend="numpy")
    np.testing.assert_array_equal(a, b)


def test_an_axis_that_leaves_too_small_planes_is_named():
    """Found by the property tests: axis=1 on a (3, 12, 12) stack left 3x12 planes,
    refused as "f is 3x12 pixels", a name the caller never gave."""
    img = np.random.default_rng(0).poisson(30, (3, 12, 12)).astype(np.float32)
    with pytest.raises(ValueError, match=r"axis=1 leaves planes of 3x12 pixels"):
        nsd.deconvolve(img, "sparse", psf_fwhm_px=2.0, axis=1, iterations=2,
                       deconv_iterations=1, backend="numpy")


def test_float64_beyond_float32_is_not_called_nan():
    """A finite float64 image beyond float32's range was reported as "holds NaN/Inf"."""
    img = np.full((8, 8), 1e39)
    with pytest.raises(ValueError, match="beyond float32") as err:
        nsd.deconvolve(img, "rl", psf_fwhm_px=1.5, iterations=1, backend="numpy")
    assert "NaN" not in str(err.value)


def test_a_runaway_camera_offset_is_named():
    """The camera-range refusal named only the gain when the offset given was the cause."""
    img = np.random.default_rng(0).poisson(30, (16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match=r"offset -1e\+12 ADU .*Pass offset="):
        nsd.deconvolve(img, "rl", psf_fwhm_px=2.0, iterations=1, offset=-1e12, gain=1e-3,
                       backend="numpy")


def test_a_denormal_fidelity_is_refused_by_the_schema():
    """Found by the parameter property test at 40 examples: fidelity 5e-324 overflowed
    the DCT solver (RuntimeWarning: invalid value in divide) instead of being refused."""

    img = np.random.default_rng(0).poisson(20, (16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="fidelity"):
        nsd.sparse_deconvolve(img, fidelity=5e-324, iterations=2, deconv_method="none")
    out = nsd.sparse_deconvolve(img, fidelity=1e-6, iterations=2, deconv_method="none")
    assert np.isfinite(out).all()
