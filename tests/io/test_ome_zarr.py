import numpy as np
import pytest

pytest.importorskip("ome_zarr")

from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr  # noqa: E402


@pytest.mark.parametrize("shape", [(20, 24), (3, 16, 20)])
def test_roundtrip_is_lazy_and_keeps_scale_and_parameters(tmp_path, shape):
    a = np.random.default_rng(0).random(shape).astype(np.float32)
    scale = (0.5, 0.032, 0.032)[-len(shape):]
    p = write_ome_zarr(tmp_path / "r.zarr", a, scale=scale, metadata={"sparsity": 10.0})
    data, info = read_ome_zarr(p)
    assert type(data).__module__.startswith("dask")
    np.testing.assert_array_equal(data.compute(), a)
    np.testing.assert_allclose(info["scale"], scale)
    assert info["axes"] == ("YX" if len(shape) == 2 else "ZYX")
    assert info["metadata"] == {"sparsity": 10.0}


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        write_ome_zarr(tmp_path / "bad.zarr", np.ones((2, 2, 2, 2)), axes="ZYX")
    with pytest.raises(ValueError, match="NGFF version"):
        write_ome_zarr(tmp_path / "bad.zarr", np.ones((2, 2)), ngff="0.3")
    assert list(tmp_path.iterdir()) == []
    p = write_ome_zarr(tmp_path / "x.zarr", np.ones((8, 8), np.float32))
    with pytest.raises(FileExistsError):
        write_ome_zarr(p, np.ones((8, 8), np.float32))


def test_failed_write_leaves_nothing(tmp_path):
    """A failure while the chunks are being written (after the temporary store
    exists and holds data) leaves neither the output nor the temporary store."""
    import dask.array as da

    seen = []

    def block(x, block_info=None):
        if block_info and block_info[None]["chunk-location"][0] == 2:  # a later chunk fails
            seen.extend(p.name for p in tmp_path.rglob("*"))
            raise OSError("disk went away")
        return x

    data = da.ones((4, 8, 8), np.float32, chunks=(1, 8, 8)).map_blocks(block, dtype=np.float32)
    with pytest.raises(OSError, match="disk went away"):
        write_ome_zarr(tmp_path / "out.zarr", data, axes="ZYX")
    assert any(".part" in name for name in seen)  # the failure came after the temp store
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_chunks_in_flight_when_one_fails_do_not_land_after_the_clean_up(tmp_path):
    """The other chunks are still being computed when one fails: the writer must wait for
    them before removing its temporary store, or they recreate it (a leftover .part)."""
    import time

    import dask.array as da

    def block(x, block_info=None):
        if block_info and block_info[None]["chunk-location"][0] == 0:
            raise OSError("disk went away")
        time.sleep(0.3)  # still writing when the failure is raised
        return x

    data = da.ones((6, 8, 8), np.float32, chunks=(1, 8, 8)).map_blocks(block, dtype=np.float32)
    with pytest.raises(OSError, match="disk went away"):
        write_ome_zarr(tmp_path / "out.zarr", data, axes="ZYX")
    time.sleep(0.8)  # any straggler would have written by now
    assert list(tmp_path.iterdir()) == []


def test_napari_hooks_roundtrip(tmp_path):
    from napari_sparsedecon._napari_io import get_ome_zarr_reader, write_ome_zarr_layer

    a = np.random.default_rng(2).random((4, 12, 10)).astype(np.float32)
    path = str(tmp_path / "layer.zarr")
    write_ome_zarr_layer(path, a, {"scale": (0.3, 0.05, 0.05),
                                   "units": ("micrometer",) * 3,
                                   "metadata": {"napari_sparsedecon": {"fidelity": 150.0}}})
    reader = get_ome_zarr_reader(path)
    assert reader is not None
    ((data, kw, kind),) = reader(path)
    np.testing.assert_array_equal(np.asarray(data), a)
    np.testing.assert_allclose(kw["scale"], (0.3, 0.05, 0.05))
    assert kw["metadata"]["napari_sparsedecon"] == {"fidelity": 150.0}
    assert get_ome_zarr_reader(str(tmp_path / "nothing.zarr")) is None


def test_urls_are_not_fetched_unless_asked(monkeypatch):
    """Issue 25 item 8: the library's reader and the napari reader fetched http:// URLs
    (the CLI refuses them). Now the reader refuses unless ``allow_remote=True`` and the
    napari reader's check declines, both without a network call."""
    import zarr

    from napari_sparsedecon._napari_io import get_ome_zarr_reader
    from napari_sparsedecon.io.ome_zarr import is_ours, read_ome_zarr

    opened = []

    def no_network(store, *a, **k):
        opened.append(str(store))
        raise FileNotFoundError(store)

    monkeypatch.setattr(zarr, "open_group", no_network)
    url = "http://127.0.0.1:9/data.zarr"
    with pytest.raises(ValueError, match="allow_remote=True"):
        read_ome_zarr(url)
    assert not is_ours(url) and get_ome_zarr_reader(url) is None
    assert opened == []
    with pytest.raises(ValueError, match="not a readable OME-Zarr"):
        read_ome_zarr(url, allow_remote=True)  # asked for: zarr is called
    assert opened == [url]
