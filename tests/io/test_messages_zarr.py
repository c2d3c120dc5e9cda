"""Crafted OME-Zarr metadata (issue 25 item 7): a zero-size chunk gave
``ZeroDivisionError: division by zero``, JSON nested 100 000 deep a ``RecursionError``;
neither named the store nor what is wrong with it."""

import json

import numpy as np
import pytest

from napari_sparsedecon.cli import main
from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_sparsedecon.largedata.batch import read_image


def _store(tmp_path, name="in.zarr", ngff="0.5"):
    p = tmp_path / name
    write_ome_zarr(p, np.random.default_rng(0).poisson(30, (16, 16)).astype(np.float32),
                   ngff=ngff)
    return p


def _edit(path, fn):
    j = json.loads(path.read_text())
    fn(j)
    path.write_text(json.dumps(j))


@pytest.mark.parametrize("ngff", ["0.5", "0.4"])
def test_a_zero_size_chunk_is_malformed_metadata(tmp_path, ngff):
    p = _store(tmp_path, ngff=ngff)
    if ngff == "0.5":
        _edit(p / "0" / "zarr.json",
              lambda j: j["chunk_grid"]["configuration"].update(chunk_shape=[0, 16]))
    else:
        _edit(p / "0" / ".zarray", lambda j: j.update(chunks=[0, 16]))
    for read in (read_ome_zarr, read_image):
        with pytest.raises(ValueError, match="malformed OME-Zarr metadata") as err:
            read(p)
        assert str(p) in str(err.value) and "chunk" in str(err.value)


def test_a_zero_size_chunk_fails_its_file_under_run(tmp_path, capsys):
    p = _store(tmp_path)
    _edit(p / "0" / "zarr.json",
          lambda j: j["chunk_grid"]["configuration"].update(chunk_shape=[0, 16]))
    rc = main(["run", "--method", "rl", str(p), "-o", str(tmp_path / "o.tif"),
               "--iterations", "1", "--psf-fwhm-px", "2"])
    out = capsys.readouterr()
    assert rc == 1
    assert "malformed OME-Zarr metadata" in out.out + out.err
    assert "ZeroDivisionError" not in out.out + out.err


@pytest.mark.parametrize("where", ["group", "array"])
def test_json_nested_too_deeply_names_the_store(tmp_path, where):
    p = _store(tmp_path)
    meta = p / "zarr.json" if where == "group" else p / "0" / "zarr.json"
    text = meta.read_text()
    meta.write_text(text[:text.rindex("}")] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for read in (read_ome_zarr, read_image):
        with pytest.raises(ValueError, match="nested too deeply") as err:
            read(p)
        assert str(p) in str(err.value)
