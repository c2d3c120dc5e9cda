"""`run` with one PSF per channel: files, FWHM in nm, preset wavelengths."""

import hashlib
import json

import numpy as np
import pytest
import tifffile

from napari_sparsedecon.cli import main

FAST = ["--iterations", "6", "--deconv-iterations", "3", "--continuity", "1"]
PX_UM = 0.065


def _img(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.poisson(50, size=shape) + 100).astype(np.uint16)


def _write(path, data, axes):
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / PX_UM, 1 / PX_UM),
                     metadata={"axes": axes, "unit": "um"})
    return path


def _psf(path, sigma):
    yy, xx = np.mgrid[-6:7, -6:7]
    g = np.exp(-(yy**2 + xx**2) / (2 * sigma**2)).astype(np.float32)
    return _write(path, g / g.sum(), "YX")


def _meta(path):
    with tifffile.TiffFile(path) as tf:
        return json.loads(tf.imagej_metadata["Info"])["napari_sparsedecon"]


@pytest.fixture
def two_channels(tmp_path):
    img = np.stack([_img((3, 36, 36), 1), _img((3, 36, 36), 2) * 3])  # C, Z, Y, X
    both = _write(tmp_path / "both.tif", img.transpose(1, 0, 2, 3), "ZCYX")
    alone = [_write(tmp_path / f"c{c}.tif", img[c], "ZYX") for c in range(2)]
    return both, alone


def _check_same(tmp_path, both, alone, both_args, alone_args):
    out = tmp_path / "both_out.tif"
    assert main(["run", "--method", "sparse", str(both), "-o", str(out), *both_args, *FAST]) == 0
    res = tifffile.imread(out)  # Z, C, Y, X
    for c in range(2):
        o = tmp_path / f"c{c}_out.tif"
        assert main(["run", "--method", "sparse",
                     str(alone[c]), "-o", str(o), *alone_args[c], *FAST]) == 0
        np.testing.assert_array_equal(res[:, c], tifffile.imread(o))
    assert not np.array_equal(res[:, 0] / res[:, 0].max(), res[:, 1] / res[:, 1].max())
    return _meta(out)


def test_one_psf_file_per_channel(tmp_path, two_channels):
    both, alone = two_channels
    psfs = [_psf(tmp_path / "p0.tif", 1.0), _psf(tmp_path / "p1.tif", 2.0)]
    meta = _check_same(tmp_path, both, alone, ["--psf", str(psfs[0]), str(psfs[1])],
                       [["--psf", str(q)] for q in psfs])
    assert [r["channel"] for r in meta["psf"]] == [0, 1]
    for r, q in zip(meta["psf"], psfs, strict=True):
        assert r["file"] == q.name
        assert r["sha256"] == hashlib.sha256(q.read_bytes()).hexdigest()


def test_one_fwhm_nm_per_channel(tmp_path, two_channels):
    both, alone = two_channels
    meta = _check_same(tmp_path, both, alone, ["--psf-fwhm-nm", "130", "195"],
                       [["--psf-fwhm-px", "2"], ["--psf-fwhm-px", "3"]])
    assert meta["params"]["psf_fwhm_px"] == pytest.approx([2.0, 3.0])
    assert [r["fwhm_nm"] for r in meta["psf"]] == [130, 195]
    assert [r["model"] for r in meta["psf"]] == ["gaussian", "gaussian"]


@pytest.mark.slow
def test_preset_with_one_wavelength_per_channel(tmp_path, two_channels):
    both, alone = two_channels
    pre = ["--preset", "widefield"]
    meta = _check_same(tmp_path, both, alone, [*pre, "--wavelength-nm", "450", "700"],
                       [[*pre, "--wavelength-nm", "450"], [*pre, "--wavelength-nm", "700"]])
    assert [r["wavelength_nm"] for r in meta["psf"]] == [450, 700]
    assert all(r["model"] == "airy" and r["effective_na"] == 1.4 for r in meta["psf"])
    # one wavelength for every channel: one record
    out = tmp_path / "one.tif"
    assert main(["run", "--method", "sparse",
                 str(both), "-o", str(out), *pre, "--wavelength-nm", "600",
                 *FAST]) == 0
    assert _meta(out)["psf"]["wavelength_nm"] == 600


def test_one_psf_file_serves_every_channel(tmp_path, two_channels):
    both, _ = two_channels
    psf = _psf(tmp_path / "p.tif", 1.5)
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse",
                 str(both), "-o", str(out), "--psf", str(psf), *FAST]) == 0
    assert _meta(out)["psf"]["file"] == "p.tif"


@pytest.mark.parametrize("flags", [["--psf-fwhm-nm", "130", "150", "170"],
                                   ["--preset", "widefield", "--wavelength-nm", "1", "2", "3"],
                                   "psf"])
def test_wrong_count_names_the_channel_count(tmp_path, two_channels, capsys, flags):
    both, _ = two_channels
    if flags == "psf":
        flags = ["--psf"] + [str(_psf(tmp_path / f"p{i}.tif", 1.0)) for i in range(3)]
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse", str(both), "-o", str(out), *flags, *FAST]) == 1
    err = capsys.readouterr().err
    assert "has 2 channels" in err and "3" in err and "one per channel" in err
    assert not out.exists()


def test_two_psfs_for_an_image_without_channels(tmp_path, capsys):
    src = _write(tmp_path / "a.tif", _img((36, 36), 0), "YX")
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(tmp_path / "o.tif"), "--psf-fwhm-nm", "130",
                 "150", *FAST]) == 1
    assert "1 channel (no C axis)" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--wavelength-nm", "520"],
                                   ["--preset", "widefield", "--wavelength-nm", "520",
                                    "--psf-fwhm-nm", "200"],
                                   ["--preset", "widefield", "--wavelength-nm", "-5"]])
def test_wavelength_needs_a_preset_that_makes_the_psf(tmp_path, capsys, flags):
    src = _write(tmp_path / "a.tif", _img((36, 36), 0), "YX")
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(tmp_path / "o.tif"), *flags, *FAST]) == 2
    assert "--wavelength-nm" in capsys.readouterr().err
