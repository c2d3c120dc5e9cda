"""Messages that name what the user can change (issue 25 item 7), each of which was a
raw numpy/Python message or a wrong advice before."""

import numpy as np
import pytest

import napari_sparsedecon as nsd


def _img():
    return np.random.default_rng(0).poisson(30, (16, 16)).astype(np.float32)


@pytest.mark.parametrize("call", [
    lambda img, psf: nsd.deconvolve(img, "rl", psf=psf, iterations=1),
    lambda img, psf: nsd.richardson_lucy(img, psf, iterations=1),
    lambda img, psf: nsd.sparse_deconvolve(img, psf=psf, iterations=1),
])
def test_an_empty_psf_is_named(call):
    """Was numpy's "zero-size array to reduction operation minimum"."""
    with pytest.raises(ValueError, match=r"psf is empty \(shape \(0, 0\)\)"):
        call(_img(), np.zeros((0, 0), np.float32))


def test_a_scalar_image_is_named():
    """Was "max() arg is an empty sequence"."""
    with pytest.raises(ValueError, match="image has 0 dimensions"):
        nsd.deconvolve(np.float32(3), "rl", psf_fwhm_px=2, iterations=1)


def test_a_negative_image_clipped_is_not_called_all_zero():
    with pytest.raises(ValueError, match="no positive values") as err:
        nsd.sparse_deconvolve(-_img(), psf_fwhm_px=2, clip_negative=True, iterations=1)
    assert "all zero" not in str(err.value)


def test_no_advice_to_choose_the_background_already_chosen():
    """A negative image with background='none' was told to "choose background='none'"."""
    with pytest.raises(ValueError, match="no positive values") as err:
        nsd.deconvolve(-_img(), "sparse", psf_fwhm_px=2, iterations=1, background="none")
    assert "choose background='none'" not in str(err.value)
