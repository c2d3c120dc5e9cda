"""Axes, pixel sizes and units through every writer and reader, and files by other tools."""

import inspect
import warnings

import numpy as np
import pytest
import tifffile

from napari_sparsedecon import _napari_io as nio
from napari_sparsedecon.io.axes import ImageAxes, from_layer, normalize_unit
from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_sparsedecon.io.tiff import read_tiff, write_tiff
from napari_sparsedecon.largedata import batch

CASES = {
    "YX": ((20, 24), (None, None)),
    "TYX": ((3, 20, 24), (0.5, "s")),
    "ZYX": ((3, 20, 24), (0.2, "um")),
    "CYX": ((2, 20, 24), (None, None)),
}


def _axes(letters, unit):
    lead, lead_unit = CASES[letters][1]
    px = 65.0 if unit == "nm" else 0.065
    scale = ((lead,) if len(letters) == 3 else ()) + (px, px)
    units = ((lead_unit,) if len(letters) == 3 else ()) + (unit, unit)
    return ImageAxes(letters, scale, units)


def _same_physics(a: ImageAxes, b: ImageAxes):
    assert sorted(a.axes) == sorted(b.axes)
    for ax in "ZYX":
        if a.size_nm(ax) is None:
            assert b.size_nm(ax) is None
        else:
            assert b.size_nm(ax) == pytest.approx(a.size_nm(ax))
    assert (a.interval_s is None) == (b.interval_s is None)
    if a.interval_s:
        assert b.interval_s == pytest.approx(a.interval_s)


def _in_order(data, src: ImageAxes, dst: ImageAxes):
    return np.transpose(np.asarray(data), [dst.axes.index(a) for a in src.axes])


def _writers():
    def tif(path, a, ia):
        write_tiff(path.with_suffix(".tif"), a, image_axes=ia, metadata={"k": 1})
        return path.with_suffix(".tif")

    def zarr05(path, a, ia):
        return write_ome_zarr(path.with_suffix(".zarr"), a, image_axes=ia, metadata={"k": 1})

    def zarr04(path, a, ia):
        return write_ome_zarr(path.with_suffix(".zarr"), a, image_axes=ia, metadata={"k": 1},
                              ngff="0.4")

    def napari_tif(path, a, ia):
        p = str(path.with_suffix(".tif"))
        nio.write_tiff_layer(p, a, _layer_meta(ia))
        return p

    def napari_zarr(path, a, ia):
        p = str(path.with_suffix(".zarr"))
        nio.write_ome_zarr_layer(p, a, _layer_meta(ia))
        return p

    return {"tif": tif, "zarr05": zarr05, "zarr04": zarr04, "napari_tif": napari_tif,
            "napari_zarr": napari_zarr}


def _layer_meta(ia):
    """What napari hands a writer: scale, units ('pixel' when unknown), axis labels."""
    from napari_sparsedecon.io.axes import NGFF_UNIT

    return {"scale": ia.scale_or_ones(),
            "units": [NGFF_UNIT[u] if u else "pixel" for u in ia.units],
            "axis_labels": [a.lower() for a in ia.axes],
            "metadata": {"napari_sparsedecon": {"k": 1}}}


@pytest.mark.slow
@pytest.mark.parametrize("writer", list(_writers()))
@pytest.mark.parametrize("unit", ["nm", "um"])
@pytest.mark.parametrize("letters", list(CASES))
def test_roundtrip_every_writer_and_reader(tmp_path, writer, unit, letters):
    ia = _axes(letters, unit)
    a = np.random.default_rng(0).random(CASES[letters][0]).astype(np.float32)
    path = _writers()[writer](tmp_path / "img", a, ia)
    readers = {"batch": batch.read_image}
    readers["own"] = read_tiff if str(path).endswith(".tif") else read_ome_zarr
    for name, read in readers.items():
        data, info = read(str(path))
        got = info["image_axes"]
        _same_physics(ia, got)
        np.testing.assert_array_equal(_in_order(data, ia, got), a, err_msg=name)
        info.get("close", lambda: None)()
    get = nio.get_tiff_reader if str(path).endswith(".tif") else nio.get_ome_zarr_reader
    layers = get(str(path))(str(path))
    kw = layers[0][1]
    if "C" in letters:
        assert kw["channel_axis"] == 0 and len(kw["name"]) == 2
    else:
        back = from_layer({"scale": kw["scale"], "units": kw["units"],
                           "axis_labels": kw["axis_labels"]}, a.ndim)
        _same_physics(ia, back)
    assert kw["metadata"]["napari_sparsedecon"] == {"k": 1}


def test_ome_zarr_output_validates(tmp_path):
    models = pytest.importorskip("ome_zarr_models")
    ia = ImageAxes("TCZYX", (2.0, None, 0.3, 0.1, 0.1), ("s", None, "um", "um", "um"))
    a = np.zeros((2, 2, 3, 8, 8), np.float32)
    for v, mod in (("0.5", "v05"), ("0.4", "v04")):
        p = write_ome_zarr(tmp_path / f"v{v}.zarr", a, image_axes=ia, ngff=v)
        img = models.open_ome_zarr(str(p))
        assert type(img).__module__.startswith(f"ome_zarr_models.{mod}")


def _ome_zarr_py():
    pytest.importorskip("ome_zarr")  # a test dependency only: files by another writer
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from ome_zarr.format import FormatV04, FormatV05
        from ome_zarr.writer import write_image
    return write_image, {"0.5": FormatV05, "0.4": FormatV04}


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_reads_ome_zarr_py_files(tmp_path, version):
    import zarr

    write_image, fmts = _ome_zarr_py()
    root = zarr.open_group(str(tmp_path / "ext.zarr"), mode="w",
                           zarr_format=3 if version == "0.5" else 2)
    a = np.random.default_rng(1).random((3, 16, 16)).astype(np.float32)
    units = {"t": "millisecond", "y": "nanometer", "x": "nanometer"}
    if "axes_units" in inspect.signature(write_image).parameters:  # ome-zarr >= 0.13
        write_image(a, group=root, scale_factors=(), fmt=fmts[version](), axes=["t", "y", "x"],
                    axes_units=units, scale={"t": 250.0, "y": 65.0, "x": 65.0})
    else:
        write_image(a, group=root, scaler=None, fmt=fmts[version](),
                    axes=[{"name": k, "type": "time" if k == "t" else "space", "unit": u}
                          for k, u in units.items()],
                    coordinate_transformations=[[{"type": "scale",
                                                  "scale": [250.0, 65.0, 65.0]}]])
    data, info = read_ome_zarr(tmp_path / "ext.zarr")
    ia = info["image_axes"]
    assert ia.axes == "TYX" and ia.interval_s == pytest.approx(0.25)
    assert ia.pixel_nm() == pytest.approx((65.0, 65.0))
    assert info["ngff"] == version and not info["ours"]
    assert type(data).__module__.startswith("dask")
    (layer_data, kw, _), = nio.get_ome_zarr_reader(str(tmp_path / "ext.zarr"))(
        str(tmp_path / "ext.zarr"))  # the napari reader opens other writers' files too
    assert kw["scale"] == pytest.approx([250.0, 65.0, 65.0])
    assert kw["units"] == ["millisecond", "nanometer", "nanometer"]


def test_tifffile_ome_writer_units(tmp_path):
    p = tmp_path / "x.ome.tif"
    tifffile.imwrite(p, np.zeros((2, 3, 16, 16), np.uint16), metadata={
        "axes": "TZYX", "PhysicalSizeX": 65, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 0.065, "PhysicalSizeYUnit": "µm", "PhysicalSizeZ": 200,
        "PhysicalSizeZUnit": "nm", "TimeIncrement": 500, "TimeIncrementUnit": "ms"})
    _, info = read_tiff(p)
    ia = info["image_axes"]
    assert ia.axes == "TZYX"
    assert ia.pixel_nm() == pytest.approx((65.0, 65.0))
    assert ia.size_nm("Z") == pytest.approx(200.0) and ia.interval_s == pytest.approx(0.5)


@pytest.mark.parametrize("unit,factor", [("nm", 1.0), ("micron", 1e3), ("\\u00B5m", 1e3),
                                         ("um", 1e3)])
def test_imagej_units(tmp_path, unit, factor):
    p = tmp_path / "ij.tif"
    tifffile.imwrite(p, np.zeros((3, 16, 16), np.float32), imagej=True,
                     resolution=(1 / 0.5, 1 / 0.5),
                     metadata={"axes": "ZYX", "unit": unit, "spacing": 2.0})
    ia = read_tiff(p)[1]["image_axes"]
    assert ia.pixel_nm() == pytest.approx((0.5 * factor, 0.5 * factor))
    assert ia.size_nm("Z") == pytest.approx(2.0 * factor)


def test_no_calibration_is_none_never_one_micron(tmp_path):
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, np.zeros((16, 16), np.float32))
    ia = read_tiff(p)[1]["image_axes"]
    assert ia.pixel_nm() is None
    with pytest.raises(ValueError, match="no pixel size.*--psf-fwhm-px"):
        ia.require_pixel_nm()
    tifffile.imwrite(p, np.zeros((16, 16), np.float32), imagej=True)  # ImageJ, no unit
    assert read_tiff(p)[1]["image_axes"].pixel_nm() is None


def test_unit_names():
    assert normalize_unit("micrometer") == "um" and normalize_unit("µm") == "um"
    assert normalize_unit("nanometer") == "nm" and normalize_unit("pixel") is None
    assert normalize_unit("millisecond") == "ms"
    with pytest.raises(ValueError, match="unknown unit"):
        normalize_unit("furlong")
    with pytest.raises(ValueError, match="spatial"):
        ImageAxes("ZYX", (1.0, 1.0, 1.0), ("s", "um", "um"))


def test_napari_layer_axes():
    napari = pytest.importorskip("napari")
    layer = napari.layers.Image(np.zeros((3, 8, 8)), scale=(0.5, 65, 65),
                                units=("second", "nanometer", "nanometer"))
    ia = from_layer(layer)
    assert ia.axes == "TYX" and ia.interval_s == pytest.approx(0.5)
    assert ia.pixel_nm() == pytest.approx((65, 65))
    plain = from_layer(napari.layers.Image(np.zeros((3, 8, 8))))
    assert plain.axes == "ZYX" and plain.pixel_nm() is None
