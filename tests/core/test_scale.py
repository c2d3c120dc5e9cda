"""Data scale (issue 25 item 4): values all below ~1e-20 gave results that differed by
up to 47% of the range from the same data scaled up, and uint64 data near 2**63
collapsed to a constant without a word. Every registered method either gives the
same result in the data's units (``deconvolve(image * s) == deconvolve(image) * s``) or
refuses the data with a message saying what to change."""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms.registry import methods

NAMES = [getattr(m, "name", m) for m in methods()]
PHOTON = {"rl", "rl_tv", "sparse_psf", "garl"}


def _img():
    return np.random.default_rng(0).poisson(30, (24, 24)).astype(np.float32) + 5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("s", [1e-25, 1e-20])
def test_tiny_data_is_deconvolved_in_its_units_or_refused(name, s):
    ref = nsd.deconvolve(_img(), name, psf_fwhm_px=2, iterations=3)
    try:
        out = nsd.deconvolve(_img() * np.float32(s), name, psf_fwhm_px=2, iterations=3)
    except ValueError as err:
        assert name in PHOTON, f"{name} refused data it can scale: {err}"
        msg = str(err)
        assert "photo-electrons" in msg and "gain" in msg and "rescale" in msg, msg
        return
    span = float(ref.max() - ref.min())
    assert np.abs(out / s - ref).max() <= 1e-3 * span, name


@pytest.mark.parametrize("name", sorted(PHOTON & set(NAMES)))
@pytest.mark.parametrize("s", [1e-5, 1e5])
def test_photon_methods_are_scale_equivariant_with_the_camera_scaled(name, s):
    """The photon methods model counts: the same data in other units is the same data
    when the gain says so (which is why, with the gain assumed, tiny data are refused)."""
    a = nsd.deconvolve(_img(), name, psf_fwhm_px=2, iterations=3, gain=1.0, read_noise=1.0)
    b = nsd.deconvolve(_img() * np.float32(s), name, psf_fwhm_px=2, iterations=3, gain=s,
                       read_noise=1.0)
    assert np.abs(b / s - a).max() <= 1e-4 * float(a.max() - a.min())


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.float64])
def test_values_float32_cannot_tell_apart_are_refused(dtype):
    """uint64 near 2**63 (float32 keeps 24 bits) became a constant image."""
    base = 2**62 if dtype is not np.uint64 else 2**63
    img = (np.asarray(base, dtype=object) + np.arange(24 * 24, dtype=object) % 1000)
    img = np.array(img.reshape(24, 24), dtype=dtype)
    with pytest.raises(ValueError, match="float32") as err:
        nsd.deconvolve(img, "sparse", psf_fwhm_px=2, iterations=1)
    msg = str(err.value)
    assert "subtract" in msg and str(img.dtype) in msg, msg


def test_large_integers_that_float32_holds_are_accepted():
    img = (np.arange(24 * 24).reshape(24, 24) * 2**40).astype(np.uint64) + 2**40
    out = nsd.deconvolve(img, "sparse", psf_fwhm_px=2, iterations=1)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("method", ["sparse", "rl", "sparse_psf"])
def test_the_command_line_refuses_what_float32_cannot_tell_apart(tmp_path, capsys, method):
    """The same uint64 data through `run` (read in blocks, the library's check never saw
    the whole image) were written as a constant image with exit 0."""
    import tifffile

    from napari_sparsedecon.cli import main

    img = np.full((5, 40, 40), 2**63, dtype=np.uint64)
    img[:, 10:20, 10:20] += np.uint64(2**20)
    src = tmp_path / "u64.tif"
    tifffile.imwrite(src, img)
    out = tmp_path / "o.tif"
    assert main(["run", str(src), "--method", method, "--psf-fwhm-px", "2",
                 "--iterations", "2", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "float32" in err and "subtract its offset" in err, err
    assert not out.exists()


def test_the_command_line_keeps_wide_integers_that_float32_holds(tmp_path):
    import tifffile

    from napari_sparsedecon.cli import main

    img = (np.random.default_rng(0).poisson(50, (40, 40)) + 100).astype(np.uint32)
    src = tmp_path / "u32.tif"
    tifffile.imwrite(src, img)
    assert main(["run", str(src), "--method", "rl", "--psf-fwhm-px", "2",
                 "--iterations", "2", "-o", str(tmp_path / "o.tif")]) == 0
