"""The napari writers: each keeps scale, units, axes, channel names and parameters, and
their files validate (OME-XML against the OME schema, NGFF against ome-zarr-models)."""

import numpy as np
import pytest
import tifffile

from napari_sparsedecon import _napari_io as nio
from napari_sparsedecon.io.tiff import open_tiff


def _meta(name, labels, scale, units, **extra):
    return {"name": name, "scale": list(scale), "units": list(units),
            "axis_labels": list(labels), "metadata": {"napari_sparsedecon": {"k": 1}, **extra}}


LAYER = _meta("GFP", "zyx", (0.2, 0.065, 0.065), ("micrometer",) * 3)
CZYX = _meta("cells", "czyx", (1.0, 0.2, 0.065, 0.065),
             ("pixel", "micrometer", "micrometer", "micrometer"),
             channel_names=["DAPI", "actin"])


@pytest.mark.parametrize("suffix,write", [(".ome.tif", nio.write_ome_tiff_layer),
                                          (".ome.tiff", nio.write_tiff_layer)])
def test_ome_tiff_is_valid_ome_with_channel_names(tmp_path, suffix, write):
    ome_types = pytest.importorskip("ome_types")
    for meta, shape, names in ((LAYER, (3, 16, 16), ["GFP"]),
                               (CZYX, (2, 3, 16, 16), ["DAPI", "actin"])):
        p = str(tmp_path / (meta["name"] + suffix))
        assert write(p, np.ones(shape, np.float32), meta) == [p]
        with tifffile.TiffFile(p) as tf:
            assert tf.is_ome and not tf.is_imagej
            ome = ome_types.from_xml(tf.ome_metadata, validate=True)  # the OME schema
        px = ome.images[0].pixels
        assert [c.name for c in px.channels] == names
        assert px.physical_size_x == pytest.approx(0.065)
        assert px.physical_size_x_unit.value == "µm"
        assert px.physical_size_z == pytest.approx(0.2)
        data, info = open_tiff(p)
        assert info["channel_names"] == names and info["metadata"] == {"k": 1}
        assert info["image_axes"].size_nm("Z") == pytest.approx(200.0)
        info["close"]()


def test_ome_schema_check_can_fail():
    ome_types = pytest.importorskip("ome_types")
    bad = ('<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="x">'
           '</Image></OME>')
    with pytest.raises(Exception, match="(?i)valid|pixels|ID"):
        ome_types.from_xml(bad, validate=True)


def test_imagej_tiff_keeps_channel_names_for_fiji(tmp_path):
    p = str(tmp_path / "c.tif")
    nio.write_tiff_layer(p, np.ones((2, 3, 16, 16), np.float32), CZYX)
    with tifffile.TiffFile(p) as tf:
        assert tf.is_imagej
        assert tf.imagej_metadata["Labels"][:2] == ["DAPI", "actin"]
    (data, kw, _), = nio.get_tiff_reader(p)(p)
    assert kw["name"] == ["DAPI", "actin"] and kw["scale"] == pytest.approx(
        [0.2, 0.065, 0.065])


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_ome_zarr_has_omero_pyramid_and_validates(tmp_path, ngff):
    models = pytest.importorskip("ome_zarr_models")
    from napari_sparsedecon.io.axes import ImageAxes
    from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr

    a = np.random.default_rng(2).random((2, 1500, 40)).astype(np.float32)
    p = write_ome_zarr(tmp_path / "x.zarr", a, ngff=ngff, pyramid=True,
                       image_axes=ImageAxes("CYX", (None, 0.1, 0.1), (None, "um", "um")),
                       channel_names=["DAPI", "actin"], metadata={"k": 1})
    img = models.open_ome_zarr(str(p))  # raises on invalid NGFF (omero included)
    attrs = img.attributes.model_dump(exclude_none=True)
    attrs = attrs.get("ome", attrs)
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["DAPI", "actin"]
    ds = attrs["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in ds] == [
        [1.0, 0.1, 0.1], [1.0, 0.2, 0.2]]
    data, info = read_ome_zarr(p)
    assert info["channel_names"] == ["DAPI", "actin"] and info["metadata"] == {"k": 1}
    np.testing.assert_array_equal(np.asarray(data), a)


def test_small_ome_zarr_from_napari_has_one_level_and_the_layer_name(tmp_path):
    from napari_sparsedecon.io.ome_zarr import read_ome_zarr

    p = str(tmp_path / "s.ome.zarr")
    nio.write_ome_zarr_layer(p, np.ones((3, 16, 16), np.float32), LAYER)
    data, info = read_ome_zarr(p, levels=True)
    assert not info["multiscale"] and data.shape == (3, 16, 16)
    assert info["channel_names"] == ["GFP"]
    assert info["image_axes"].pixel_nm() == pytest.approx((65.0, 65.0))


def test_multiscale_layer_saves_its_full_resolution(tmp_path):
    a = np.arange(2 * 3 * 16 * 16, dtype=np.float32).reshape(2, 3, 16, 16)
    for name in ("m.tif", "m.ome.tif", "m.zarr"):
        p = str(tmp_path / name)
        write = nio.write_ome_zarr_layer if name.endswith("zarr") else nio.write_tiff_layer
        write(p, [a, a[..., ::2, ::2]], CZYX)
        read = nio.get_ome_zarr_reader if name.endswith("zarr") else nio.get_tiff_reader
        (data, kw, _), = read(p)(p)
        # ImageJ stores Z, C, Y, X; napari splits at channel_axis either way
        np.testing.assert_array_equal(np.moveaxis(np.asarray(data), kw["channel_axis"], 0), a)
        assert kw["name"] == ["DAPI", "actin"]


def test_ome_zarr_needs_no_ome_zarr_py(tmp_path):
    """The base install has no ome-zarr-py (it brings scikit-image, s3fs, aiohttp)."""
    import subprocess
    import sys

    code = f"""
import sys
sys.modules["ome_zarr"] = None  # any import of ome-zarr-py fails
import numpy as np
from napari_sparsedecon._napari_io import get_ome_zarr_reader, write_ome_zarr_layer
p = {str(tmp_path / "x.zarr")!r}
write_ome_zarr_layer(p, np.ones((3, 16, 16), np.float32), {LAYER!r})
(data, kw, _), = get_ome_zarr_reader(p)(p)
assert kw["scale"] == [0.2, 0.065, 0.065], kw
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_add_pyramid_to_a_store_written_chunk_by_chunk(tmp_path):
    """What a tiled run writes (create_ome_zarr, filled block by block) can get levels
    and channel names afterwards, and still validates."""
    models = pytest.importorskip("ome_zarr_models")
    from napari_sparsedecon.io.axes import ImageAxes
    from napari_sparsedecon.io.ome_zarr import (
        add_pyramid,
        create_ome_zarr,
        read_ome_zarr,
        set_channel_names,
    )

    ia = ImageAxes("ZYX", (0.2, 0.05, 0.05), ("um", "um", "um"))
    arr = create_ome_zarr(tmp_path / "t.zarr", (2, 1100, 2300), ia, chunks=(1, 512, 512))
    arr[...] = 1.0
    assert add_pyramid(tmp_path / "t.zarr") == 3
    assert add_pyramid(tmp_path / "t.zarr") == 3  # a second call changes nothing
    assert set_channel_names(tmp_path / "t.zarr", ["GFP"])
    assert not set_channel_names(tmp_path / "t.zarr", ["a", "b"])  # one channel here
    models.open_ome_zarr(str(tmp_path / "t.zarr"))
    data, info = read_ome_zarr(tmp_path / "t.zarr", levels=True)
    assert [d.shape for d in data] == [(2, 1100, 2300), (2, 550, 1150), (2, 275, 575)]
    assert info["channel_names"] == ["GFP"]
    assert float(data[2][0, 0, 0].compute()) == 1.0
