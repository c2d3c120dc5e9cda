"""TIFF outputs over 4 GiB and damaged TIFF inputs (issue 25 item 7): each was a raw
``struct.error`` / ``IndexError`` that named no file and nothing to change."""

import numpy as np
import pytest
import tifffile

from napari_sparsedecon.cli import main
from napari_sparsedecon.io import tiff as tiffio
from napari_sparsedecon.io.axes import ImageAxes
from napari_sparsedecon.largedata import writer as wmod
from napari_sparsedecon.largedata.discovery import Job


def _img():
    return np.random.default_rng(0).poisson(30, (2, 16, 16)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["tif", "ome.tif"])
def test_a_mosaic_over_4_gib_is_created_as_bigtiff(tmp_path, monkeypatch, fmt):
    """A 34000 x 34000 float32 output (4.3 GiB) failed with "struct.error: 'I' format
    requires 0 <= number <= 4294967295". The file is created sparse and never filled
    (the whole-file allocation is skipped here, so the test needs no 4 GiB of disk)."""
    monkeypatch.setattr(wmod, "_reserve", lambda path, dst: None)
    job = Job(str(tmp_path / "in.tif"), str(tmp_path / f"mosaic.{fmt}"), fmt)
    w = wmod._Writer(job, (34000, 34000), ImageAxes.default(2), {"method": "test"})
    try:
        with tifffile.TiffFile(w.path) as tf:
            assert tf.is_bigtiff
            assert tf.series[0].shape == (34000, 34000)
    finally:
        w.abort()


def test_the_bigtiff_decision():
    assert not tiffio.needs_bigtiff((16, 16))
    assert not tiffio.needs_bigtiff((32000, 32000))      # 3.8 GiB: still classic
    assert tiffio.needs_bigtiff((34000, 34000))          # 4.3 GiB
    assert tiffio.needs_bigtiff((3, 100_000, 100_000))   # no int64 overflow in the count


@pytest.mark.parametrize("fmt", ["tif", "ome.tif"])
def test_run_writes_bigtiff_above_the_limit_and_it_reads_back(tmp_path, monkeypatch, fmt):
    """The whole run with the limit lowered to a few bytes: a BigTIFF that reads back as
    the same result as the classic TIFF."""
    src = tmp_path / "in.tif"
    tiffio.write_tiff(src, _img())
    small = tmp_path / f"small.{fmt}"
    assert main(["run", "--method", "rl", str(src), "-o", str(small), "--iterations", "2",
                 "--psf-fwhm-px", "2"]) == 0
    monkeypatch.setattr(tiffio, "BIGTIFF_BYTES", 100)
    big = tmp_path / f"big.{fmt}"
    assert main(["run", "--method", "rl", str(src), "-o", str(big), "--iterations", "2",
                 "--psf-fwhm-px", "2"]) == 0
    with tifffile.TiffFile(big) as tf, tifffile.TiffFile(small) as tf0:
        assert tf.is_bigtiff and not tf0.is_bigtiff
        assert tf.is_imagej == (fmt == "tif")
        np.testing.assert_array_equal(tf.asarray(), tf0.asarray())
    data, info = tiffio.read_tiff(big)
    assert info["metadata"].get("method")


@pytest.mark.parametrize("writer", [tiffio.write_tiff, tiffio.write_ome_tiff])
def test_in_memory_writers_write_bigtiff_above_the_limit(tmp_path, monkeypatch, writer):
    monkeypatch.setattr(tiffio, "BIGTIFF_BYTES", 100)
    p = writer(tmp_path / "x.tif", _img(), metadata={"k": 1})
    with tifffile.TiffFile(p) as tf:
        assert tf.is_bigtiff
    data, info = tiffio.read_tiff(p)
    np.testing.assert_array_equal(data, _img())
    assert info["metadata"] == {"k": 1}


DAMAGED = {
    "four.tif": b"II*\x00",                          # header cut after the magic number
    "six.tif": b"II*\x00\x08\x00",                   # IFD offset cut short
    "eight.tif": b"II*\x00\x08\x00\x00\x00",         # IFD offset past the end
    "eight0.tif": b"II*\x00\x00\x00\x00\x00",        # no IFD at all
    "bigtiff8.tif": b"II+\x00\x08\x00\x00\x00",      # a BigTIFF header cut short
    "motorola6.tif": b"MM\x00*\x00\x00",
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_truncated_tiff_is_named(tmp_path, name):
    """6- and 8-byte files gave "struct.error: unpack requires a buffer of 4 bytes" or
    "IndexError: list index out of range"."""
    from napari_sparsedecon.largedata.batch import read_image

    p = tmp_path / name
    p.write_bytes(DAMAGED[name])
    for read in (read_image, tiffio.read_tiff, tiffio.open_tiff):
        with pytest.raises(ValueError, match="not a readable TIFF") as err:
            read(p)
        assert str(p) in str(err.value)
        assert "truncated" in str(err.value)


def test_a_truncated_tiff_fails_its_file_in_the_batch(tmp_path, capsys):
    good, bad = tmp_path / "a.tif", tmp_path / "b.tif"
    tiffio.write_tiff(good, _img())
    bad.write_bytes(DAMAGED["six.tif"])
    rc = main(["run", "--method", "rl", str(tmp_path), "--out-dir", str(tmp_path / "o"),
               "--iterations", "1", "--psf-fwhm-px", "2"])
    out = capsys.readouterr()
    assert rc == 1
    text = out.out + out.err
    assert "not a readable TIFF" in text
    assert "struct.error" not in text and "IndexError" not in text
    assert (tmp_path / "o" / "a_sparse.tif").exists()  # (the other file is done)


def test_a_tiff_with_deeply_nested_ome_xml_is_named(tmp_path):
    """A crafted OME-XML nested 50 000 deep gave "RecursionError: maximum recursion depth
    exceeded while calling a Python object", naming no file."""
    from napari_sparsedecon.largedata.batch import read_image

    xml = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/'
           '2016-06">' + "<a>" * 50000 + "</a>" * 50000 + "</OME>")
    p = tmp_path / "deep.ome.tif"
    tifffile.imwrite(p, _img()[0], description=xml)
    for read in (read_image, tiffio.read_tiff, tiffio.open_tiff):
        with pytest.raises(ValueError, match="nested too deeply") as err:
            read(p)
        assert str(p) in str(err.value)
