"""The napari reader functions on TIFFs other tools wrote, driven directly (no viewer)."""

import gc
import tracemalloc

import numpy as np
import pytest
import tifffile

from napari_sparsedecon import _napari_io as nio
from napari_sparsedecon.io.axes import ImageAxes
from napari_sparsedecon.io.ome_zarr import write_ome_zarr


def _read(path):
    reader = nio.get_tiff_reader(str(path))
    assert reader is not None, f"{path} not claimed"
    return reader(str(path))


def test_fiji_hyperstack_opens_calibrated_with_channel_names(tmp_path):
    p = tmp_path / "fiji.tif"
    a = np.arange(3 * 2 * 16 * 20, dtype=np.uint16).reshape(3, 2, 16, 20)  # Z, C, Y, X
    tifffile.imwrite(p, a, imagej=True, resolution=(1 / 0.065, 1 / 0.065),
                     metadata={"axes": "ZCYX", "unit": "um", "spacing": 0.2,
                               "Labels": ["GFP", "RFP"] * 3})
    (data, kw, kind), = _read(p)
    assert kind == "image" and type(data).__module__.startswith("dask")
    assert kw["channel_axis"] == 1 and kw["name"] == ["GFP", "RFP"]
    assert kw["scale"] == pytest.approx([0.2, 0.065, 0.065])
    assert kw["units"] == ["micrometer"] * 3 and kw["axis_labels"] == ["z", "y", "x"]
    np.testing.assert_array_equal(np.asarray(data), a)


def test_ome_tiff_from_tifffile_opens_calibrated_with_channel_names(tmp_path):
    p = tmp_path / "cells.ome.tif"
    a = np.zeros((2, 3, 16, 16), np.float32)
    tifffile.imwrite(p, a, ome=True, metadata={
        "axes": "CZYX", "PhysicalSizeX": 65.0, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 65.0, "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 0.2,
        "Channel": {"Name": ["DAPI", "actin"]}})
    (data, kw, _), = _read(p)
    assert kw["channel_axis"] == 0 and kw["name"] == ["DAPI", "actin"]
    assert kw["scale"] == pytest.approx([0.2, 65.0, 65.0])  # in the file's own units
    assert kw["units"] == ["micrometer", "nanometer", "nanometer"]
    assert kw["metadata"]["channel_names"] == ["DAPI", "actin"]


def test_plain_tiff_opens_uncalibrated(tmp_path):
    p = tmp_path / "plain.tiff"
    tifffile.imwrite(p, np.ones((5, 16, 16), np.uint8), photometric="minisblack")
    (data, kw, _), = _read(p)
    assert data.shape == (5, 16, 16) and kw["name"] == "plain"
    assert kw["scale"] == [1.0, 1.0, 1.0] and kw["units"] == ["pixel"] * 3


def test_pyramidal_ome_tiff_opens_as_multiscale(tmp_path):
    p = tmp_path / "pyr.ome.tif"
    a = np.zeros((64, 64), np.uint16)
    with tifffile.TiffWriter(p) as tw:
        tw.write(a, subifds=1, metadata={"axes": "YX", "PhysicalSizeX": 0.1,
                                         "PhysicalSizeY": 0.1})
        tw.write(a[::2, ::2], subfiletype=1)
    (data, kw, _), = _read(p)
    assert kw["multiscale"] and [d.shape for d in data] == [(64, 64), (32, 32)]
    assert kw["scale"] == pytest.approx([0.1, 0.1])
    gc.collect()  # the file stays open while the levels are in use
    assert int(data[1][:4, :4].sum().compute()) == 0
    assert int(data[0][:4, :4].sum().compute()) == 0
    del data
    gc.collect()  # and is closed with them (an unclosed file warns, an error here)


@pytest.mark.parametrize("make", ["rgb", "garbage", "empty", "wrong_suffix"])
def test_returns_none_for_what_it_cannot_read(tmp_path, make):
    p = tmp_path / ("x.png" if make == "wrong_suffix" else "x.tif")
    if make == "rgb":
        tifffile.imwrite(p, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    elif make == "garbage":
        p.write_bytes(b"II*\x00" + b"\xff" * 64)
    elif make == "empty":
        p.write_bytes(b"")
    else:
        tifffile.imwrite(p, np.zeros((16, 16), np.uint8))
    assert nio.get_tiff_reader(str(p)) is None
    assert nio.get_tiff_reader([str(p)]) is None


def test_a_small_file_declaring_a_huge_image_is_not_decoded(tmp_path):
    # 8192 x 8192 uint16 (128 MiB) of zlib-compressed zeros: a ~100 kB file
    p = tmp_path / "bomb.tif"
    tile = np.zeros((512, 512), np.uint16)
    tifffile.imwrite(p, (tile for _ in range(256)), shape=(8192, 8192), dtype=np.uint16,
                     tile=(512, 512), compression="zlib")
    assert p.stat().st_size < 2**20
    tracemalloc.start()
    try:
        (data, kw, _), = _read(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.shape == (8192, 8192) and type(data).__module__.startswith("dask")
    assert peak < 16 * 2**20, f"reading the header allocated {peak / 2**20:.0f} MiB"
    assert int(data[:4, :4].sum().compute()) == 0  # and a region reads on demand


def test_bundled_sample_opens_at_its_real_pixel_size():
    from napari_sparsedecon._sample_data import celegans_sample
    from napari_sparsedecon.datasets import celegans_path

    (data, kw, _), = celegans_sample()
    assert data.shape == (316, 316)
    assert kw["scale"] == pytest.approx([0.04261, 0.04261], rel=1e-3)
    assert kw["units"] == ["micrometer", "micrometer"]
    (_, kw2, _), = _read(celegans_path())  # the reader agrees with the sample
    assert kw2["scale"] == pytest.approx(kw["scale"])


def test_ome_zarr_by_any_writer_opens_lazily_with_channel_names(tmp_path):
    import zarr

    p = tmp_path / "ext.zarr"  # NGFF 0.4 written by hand, as other tools do
    root = zarr.open_group(str(p), mode="w", zarr_format=2)
    root.create_array("0", shape=(2, 8, 8), dtype="uint16",
                      chunk_key_encoding={"name": "v2", "separator": "/"})[...] = 1
    root.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 0.1, 0.1]}]}]}]
    root.attrs["omero"] = {"channels": [{"label": "a"}, {"label": "b"}]}
    reader = nio.get_ome_zarr_reader(str(p))
    assert reader is not None
    (data, kw, _), = reader(str(p))
    assert type(data).__module__.startswith("dask") and kw["name"] == ["a", "b"]
    assert kw["scale"] == pytest.approx([0.1, 0.1]) and kw["channel_axis"] == 0
    assert nio.get_ome_zarr_reader(str(tmp_path / "missing.zarr")) is None
    (tmp_path / "junk.zarr").mkdir()
    assert nio.get_ome_zarr_reader(str(tmp_path / "junk.zarr")) is None


def test_own_ome_zarr_pyramid_opens_as_multiscale(tmp_path):
    a = np.random.default_rng(0).random((2, 2100, 1100)).astype(np.float32)
    p = write_ome_zarr(tmp_path / "big.zarr", a, image_axes=ImageAxes(
        "CYX", (None, 0.05, 0.05), (None, "um", "um")), channel_names=["x", "y"],
        pyramid=True)
    (data, kw, _), = nio.get_ome_zarr_reader(str(p))(str(p))
    assert kw["multiscale"] and [d.shape for d in data] == [
        (2, 2100, 1100), (2, 1050, 550), (2, 525, 275)]
    assert kw["name"] == ["x", "y"]
    np.testing.assert_allclose(np.asarray(data[1][0, :2, :2]),
                               a[0, :4, :4].reshape(2, 2, 2, 2).mean(axis=(1, 3)), rtol=1e-6)
