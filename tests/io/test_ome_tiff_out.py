"""OME-TIFF output: tifffile's OME writer, read back by tifffile's own OME-XML parser."""

import json

import numpy as np
import pytest
import tifffile

from napari_sparsedecon import _napari_io as nio
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.axes import ImageAxes
from napari_sparsedecon.io.tiff import read_tiff, write_ome_tiff
from napari_sparsedecon.largedata import batch

FAST = ["--iterations", "6", "--deconv-iterations", "3"]
SHAPES = {"YX": (20, 24), "TYX": (3, 20, 24), "ZYX": (4, 20, 24), "CYX": (2, 20, 24),
          "TZYX": (2, 3, 20, 24), "CZYX": (2, 3, 20, 24)}
OME_SYMBOL = {"nm": "nm", "um": "µm"}


def _axes(letters, unit):
    px = 65.0 if unit == "nm" else 0.065
    size = {"T": 2.5, "C": None, "Z": 200.0 if unit == "nm" else 0.2, "Y": px, "X": px}
    units = {"T": "s", "C": None, "Z": unit, "Y": unit, "X": unit}
    return ImageAxes(letters, tuple(size[a] for a in letters),
                     tuple(units[a] for a in letters))


def _pixels(path):
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ome and not tf.is_imagej
        ome = tifffile.xml2dict(tf.ome_metadata)["OME"]
        return tf.series[0].axes, ome["Image"]["Pixels"], ome


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["nm", "um"])
@pytest.mark.parametrize("letters", list(SHAPES))
def test_roundtrip_through_tifffile_ome_parser(tmp_path, letters, unit):
    ia = _axes(letters, unit)
    a = np.random.default_rng(0).random(SHAPES[letters]).astype(np.float32)
    path = write_ome_tiff(tmp_path / "x.ome.tif", a, image_axes=ia, metadata={"k": 1})
    axes, px, ome = _pixels(path)
    assert axes == letters  # T, C, Z, Y, X order is the data's order here
    assert px["Type"] == "float"
    assert px["PhysicalSizeX"] == pytest.approx(ia.scale[-1])
    assert px["PhysicalSizeXUnit"] == OME_SYMBOL[unit]
    assert px["PhysicalSizeY"] == pytest.approx(ia.scale[-2])
    assert px["PhysicalSizeYUnit"] == OME_SYMBOL[unit]
    if "Z" in letters:
        assert px["PhysicalSizeZ"] == pytest.approx(ia.scale[ia.index("Z")])
        assert px["PhysicalSizeZUnit"] == OME_SYMBOL[unit]
    else:
        assert "PhysicalSizeZ" not in px
    if "T" in letters:
        assert px["TimeIncrement"] == pytest.approx(2.5) and px["TimeIncrementUnit"] == "s"
    else:
        assert "TimeIncrement" not in px
    for ax in "TCZ":
        n = SHAPES[letters][letters.index(ax)] if ax in letters else 1
        assert px[f"Size{ax}"] == n
    ann = ome["StructuredAnnotations"]["MapAnnotation"]
    assert ann["Namespace"] == "napari_sparsedecon"
    assert json.loads(ann["Value"]["M"]["value"])["napari_sparsedecon"] == {"k": 1}
    np.testing.assert_array_equal(tifffile.imread(path), a)
    for read in (read_tiff, batch.read_image):  # and our readers: same physics, metadata
        data, info = read(str(path))
        got = info["image_axes"]
        assert got.axes == letters
        for ax in "ZYX":
            assert got.size_nm(ax) == (None if ia.size_nm(ax) is None
                                       else pytest.approx(ia.size_nm(ax)))
        assert got.interval_s == (pytest.approx(2.5) if "T" in letters else None)
        np.testing.assert_array_equal(np.asarray(data), a)
        info.get("close", lambda: None)()
    assert read_tiff(str(path))[1]["metadata"] == {"k": 1}
    assert nio.get_tiff_reader(str(path)) is not None  # napari: ours


def _src(tmp_path, letters, shape):
    rng = np.random.default_rng(1)
    data = (rng.poisson(50, size=shape) + 100).astype(np.uint16)
    src = tmp_path / "in.tif"
    ij = {"TZYX": "TZYX", "CZYX": "ZCYX", "TYX": "TYX", "YX": "YX"}[letters]
    stored = data.transpose(1, 0, 2, 3) if letters == "CZYX" else data
    tifffile.imwrite(src, stored, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": ij, "unit": "um", "spacing": 0.2, "finterval": 2.0})
    return src


@pytest.mark.slow
@pytest.mark.parametrize("how", ["-o", "--format"])
@pytest.mark.parametrize("letters,shape", [("TYX", (3, 32, 32)), ("TZYX", (2, 3, 32, 32)),
                                           ("CZYX", (2, 3, 32, 32))])
def test_run_writes_ome_tiff(tmp_path, how, letters, shape):
    src = _src(tmp_path, letters, shape)
    tif = tmp_path / "in_sparse.tif"
    flags = ["--psf-fwhm-px", "2", *FAST, "--background", "none"]
    assert main(["run", "--method", "sparse", str(src), "-o", str(tif), *flags]) == 0
    if how == "-o":
        out = tmp_path / "res.ome.tif"
        assert main(["run", "--method", "sparse", str(src), "-o", str(out), *flags]) == 0
    else:
        out = tmp_path / "o" / "in_sparse.ome.tif"
        assert main(["run", "--method", "sparse",
                     str(src), "--out-dir", str(tmp_path / "o"), "--format",
                     "ome.tif", *flags]) == 0
    axes, px, _ = _pixels(out)
    assert axes == letters
    assert px["PhysicalSizeX"] == pytest.approx(0.065) and px["PhysicalSizeXUnit"] == "µm"
    if "T" in letters:
        assert px["TimeIncrement"] == pytest.approx(2.0) and px["TimeIncrementUnit"] == "s"
    if "Z" in letters:
        assert px["PhysicalSizeZ"] == pytest.approx(0.2)
    data, info = read_tiff(str(out))
    assert info["metadata"]["psf"]["model"] == "gaussian"
    assert info["metadata"]["params"]["fidelity"] > 0
    ij = tifffile.imread(tif)  # ImageJ order (T, Z, C, Y, X) -> the OME order (T, C, Z)
    ij = ij.transpose(1, 0, 2, 3) if letters == "CZYX" else ij
    np.testing.assert_array_equal(data, ij)
    assert [q.name for q in out.parent.iterdir() if ".part" in q.name] == []


def test_ome_tiff_output_is_atomic_and_never_replaces(tmp_path, capsys):
    src = _src(tmp_path, "YX", (32, 32))
    out = tmp_path / "r.ome.tif"
    out.write_bytes(b"mine")
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(out), "--psf-fwhm-px", "2", *FAST]) == 0
    assert out.read_bytes() == b"mine"  # skipped, not replaced
    assert "exists" in capsys.readouterr().err
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(src.with_name("in.ome.tif")), "--psf-fwhm-px",
                 "2", *FAST]) == 0
    # an input named .ome.tif is never the output
    assert main(["run", "--method", "sparse", str(src.with_name("in.ome.tif")), "-o",
                 str(src.with_name("in.ome.tif")), "--overwrite", "--psf-fwhm-px", "2",
                 *FAST]) == 2
    assert "refusing" in capsys.readouterr().err


def test_rl_writes_ome_tiff(tmp_path):
    src = _src(tmp_path, "TYX", (3, 32, 32))
    out = tmp_path / "r.ome.tif"
    assert main(["rl", str(src), "-o", str(out), "--psf-fwhm-px", "2", "--iterations",
                 "3"]) == 0
    axes, px, _ = _pixels(out)
    assert axes == "TYX" and px["TimeIncrement"] == pytest.approx(2.0)
    assert read_tiff(str(out))[1]["metadata"]["method"] == "rl"
