"""`run` end to end: units on input, T stays time, channels independent, refusals.

Only tifffile, zarr and the CLI here (no io.axes), so these also run on older code.
"""

import hashlib
import json

import numpy as np
import pytest
import tifffile
import zarr

from napari_sparsedecon.cli import main

FAST = ["--iterations", "8", "--deconv-iterations", "3"]


def _img(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.poisson(50, size=shape) + 100).astype(np.uint16)


def _info(path):
    with tifffile.TiffFile(path) as tf:
        ij = tf.imagej_metadata
        return tf.series[0].axes, ij, json.loads(ij["Info"])["napari_sparsedecon"]


def test_imagej_tiff_in_nm_converts_psf_fwhm_nm(tmp_path):
    src = tmp_path / "nm.tif"
    tifffile.imwrite(src, _img((48, 48)), imagej=True, resolution=(1 / 65, 1 / 65),
                     metadata={"unit": "nm"})
    out = tmp_path / "out.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(out), "--psf-fwhm-nm", "260", *FAST]) == 0
    _, ij, meta = _info(out)
    assert meta["params"]["psf_fwhm_px"] == pytest.approx(4.0)
    # the output keeps the input's calibration: 65 nm pixels
    with tifffile.TiffFile(out) as tf:
        xr = tf.pages[0].tags["XResolution"].value
    size = xr[1] / xr[0]
    assert {"nm": 1, "um": 1000, "micron": 1000}[ij["unit"]] * size == pytest.approx(65)


def test_ome_tiff_in_nm_converts_psf_fwhm_nm(tmp_path):
    src = tmp_path / "x.ome.tif"
    tifffile.imwrite(src, _img((48, 48)), metadata={
        "axes": "YX", "PhysicalSizeX": 65, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 65,
        "PhysicalSizeYUnit": "nm"})
    out = tmp_path / "out.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(out), "--psf-fwhm-nm", "130", *FAST]) == 0
    assert _info(out)[2]["params"]["psf_fwhm_px"] == pytest.approx(2.0)


def test_uncalibrated_tiff_with_psf_fwhm_nm_is_refused(tmp_path, capsys):
    src = tmp_path / "plain.tif"
    tifffile.imwrite(src, _img((48, 48)))  # tifffile writes resolution 1/1, no unit
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(tmp_path / "o.tif"), "--psf-fwhm-nm", "250",
                 *FAST]) == 1
    err = capsys.readouterr().err
    assert "no pixel size" in err and "Image > Properties" in err and "--psf-fwhm-px" in err
    assert not (tmp_path / "o.tif").exists()


def test_time_lapse_stays_time_in_tiff_and_zarr(tmp_path):
    src = tmp_path / "t.tif"
    tifffile.imwrite(src, _img((4, 40, 40)), imagej=True, resolution=(1 / 0.1, 1 / 0.1),
                     metadata={"axes": "TYX", "unit": "um", "finterval": 2.5})
    out = tmp_path / "t_out.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(out), "--psf-fwhm-px", "2", *FAST]) == 0
    axes, ij, _ = _info(out)
    assert axes == "TYX" and ij.get("frames") == 4 and "slices" not in ij
    assert ij["finterval"] == pytest.approx(2.5) and "spacing" not in ij
    zout = tmp_path / "t_out.zarr"
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(zout), "--psf-fwhm-px", "2", *FAST]) == 0
    attrs = dict(zarr.open_group(str(zout), mode="r").attrs)
    ome = attrs.get("ome", attrs)
    axes_meta = ome["multiscales"][0]["axes"]
    assert axes_meta[0] == {"name": "t", "type": "time", "unit": "second"}
    assert axes_meta[-1] == {"name": "x", "type": "space", "unit": "micrometer"}
    assert ome.get("version", ome["multiscales"][0].get("version")) == "0.5"


def test_two_channels_equal_each_channel_alone(tmp_path):
    img = np.stack([_img((3, 40, 40), seed=1), _img((3, 40, 40), seed=2) * 3])  # C, Z, Y, X
    both = tmp_path / "both.tif"
    tifffile.imwrite(both, img.transpose(1, 0, 2, 3), imagej=True,
                     metadata={"axes": "ZCYX"})
    args = ["--psf-fwhm-px", "2", "--continuity", "1", *FAST]
    assert main(["run", "--method", "sparse",
                 str(both), "-o", str(tmp_path / "both_out.tif"), *args]) == 0
    res = tifffile.imread(tmp_path / "both_out.tif")  # Z, C, Y, X
    for c in range(2):
        one = tmp_path / f"c{c}.tif"
        tifffile.imwrite(one, img[c], imagej=True, metadata={"axes": "ZYX"})
        assert main(["run", "--method", "sparse",
                     str(one), "-o", str(tmp_path / f"c{c}_out.tif"), *args]) == 0
        np.testing.assert_array_equal(res[:, c], tifffile.imread(tmp_path / f"c{c}_out.tif"))


def test_rgb_is_refused_clearly(tmp_path, capsys):
    src = tmp_path / "rgb.tif"
    tifffile.imwrite(src, np.zeros((40, 40, 3), np.uint8), photometric="rgb")
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(tmp_path / "o.tif"), "--psf-fwhm-px", "2",
                 *FAST]) == 1
    assert "RGB" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["tif", "zarr"])
def test_time_lapse_of_volumes_runs_volume_by_volume_and_stays_tzyx(tmp_path, fmt):
    """(T, Z, Y, X): each time point is the Z, Y, X volume run alone (a 3-D PSF), T stays
    time with its interval, Z stays space with its step."""
    src = tmp_path / "tz.tif"
    vol = _img((2, 5, 40, 40))
    tifffile.imwrite(src, vol, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "TZYX", "spacing": 0.2, "finterval": 3.0,
                               "unit": "um"})
    out = tmp_path / f"o.{fmt}"
    args = ["--psf-fwhm-px", "2.5", "2", *FAST, "--background", "none"]
    assert main(["run", "--method", "sparse", str(src), "-o", str(out), *args]) == 0
    one = tmp_path / "t1.tif"
    tifffile.imwrite(one, vol[1], imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "ZYX", "spacing": 0.2, "unit": "um"})
    alone = tmp_path / "t1_out.tif"
    assert main(["run", "--method", "sparse", str(one), "-o", str(alone), *args]) == 0
    if fmt == "tif":
        axes, ij, meta = _info(out)
        assert axes == "TZYX" and ij["finterval"] == pytest.approx(3.0)
        assert ij["spacing"] == pytest.approx(0.2)
        res = tifffile.imread(out)
        assert "time points" in meta["time_points"]
    else:
        g = zarr.open_group(out, mode="r")
        ms = g.attrs["ome"]["multiscales"][0]
        assert [a["name"] for a in ms["axes"]] == ["t", "z", "y", "x"]
        assert ms["axes"][0]["type"] == "time"
        res = np.asarray(g["0"])
    assert res.shape == (2, 5, 40, 40)
    np.testing.assert_allclose(res[1], tifffile.imread(alone), rtol=1e-5,
                               atol=1e-5 * float(res.max()))


def test_metadata_records_psf_file_and_hash(tmp_path):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, _img((48, 48)), imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"unit": "um"})
    yy, xx = np.mgrid[-5:6, -5:6]
    psf = np.exp(-(yy**2 + xx**2) / 4.0).astype(np.float32)
    psf_path = tmp_path / "psf.tif"
    tifffile.imwrite(psf_path, psf / psf.sum(), imagej=True,
                     resolution=(1 / 0.065, 1 / 0.065), metadata={"unit": "um"})
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse", str(src), "-o", str(out), "--psf", str(psf_path),
                 "--psf-fwhm-px", "3.5", *FAST]) == 0
    meta = _info(out)[2]
    assert meta["psf"]["file"] == "psf.tif"
    assert meta["psf"]["sha256"] == hashlib.sha256(psf_path.read_bytes()).hexdigest()
    assert meta["params"]["psf_fwhm_px"] is None  # the file was used, not a Gaussian
    assert meta["input_pixel_size"]["x_nm"] == pytest.approx(65)
    assert meta["version"]
