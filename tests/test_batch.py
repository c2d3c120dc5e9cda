"""Headless batch: folders, failures, skip/overwrite, dry run, formats, dask.distributed."""

import errno
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_sparsedecon as nsd
from napari_sparsedecon import batch
from napari_sparsedecon.cli import main
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_sparsedecon.io.tiff import read_tiff, write_tiff

FAST = ["--iterations", "20", "--deconv-iterations", "5"]
KW = {"iterations": 20, "deconv_iterations": 5}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        img = make_phantom((160, 160), seed=i).noisy.astype(np.uint16)
        write_tiff(d / f"cell{i}.tif", img, scale=(0.032, 0.032))
    good = (d / "cell0.tif").read_bytes()
    (d / "broken.tif").write_bytes(good[: len(good) // 3])  # truncated
    write_ome_zarr(d / "stack.zarr", make_phantom((160, 160), seed=5).noisy[None].repeat(3, 0),
                   scale=(0.2, 0.032, 0.032))
    return d


def _leftovers(path: Path):
    return [p for p in path.rglob("*") if ".part" in p.name]


def test_folder_batch_reports_failure_and_goes_on(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(folder), "--out-dir", str(out), "--psf-fwhm-px", "3.44", *FAST])
    err = capsys.readouterr().err
    assert rc == 1  # one file failed
    assert "FAILED" in err and "broken.tif" in err and "2 ok" not in err
    assert "3 ok, 1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["cell0_sparse.tif", "cell1_sparse.tif",
                                                     "stack_sparse.tif"]
    assert not _leftovers(out)
    data, info = read_tiff(out / "cell0_sparse.tif")
    src, _ = read_tiff(folder / "cell0.tif")
    np.testing.assert_allclose(data, nsd.sparse_deconvolve(src, psf_fwhm_px=3.44, **KW),
                               rtol=1e-5, atol=1e-5 * float(data.max()))
    np.testing.assert_allclose(info["scale"], (0.032, 0.032))
    assert info["metadata"]["iterations"] == 20
    stack, sinfo = read_tiff(out / "stack_sparse.tif")
    assert stack.shape == (3, 160, 160)
    np.testing.assert_allclose(sinfo["scale"], (0.2, 0.032, 0.032))
    # second run: everything that exists is skipped
    rc = main(["run", str(folder / "cell*.tif"), "--out-dir", str(out), "--psf-fwhm-px",
               "3.44", *FAST])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("skip:") == 2
    before = (out / "cell0_sparse.tif").stat().st_mtime_ns
    assert main(["run", str(folder / "cell0.tif"), "--out-dir", str(out), "--overwrite",
                 "--psf-fwhm-px", "3.44", *FAST]) == 0
    assert (out / "cell0_sparse.tif").stat().st_mtime_ns != before


def test_dry_run_writes_nothing(folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out-dir", str(out), "--psf-fwhm-px", "3",
                 "--dry-run", "--memory-budget", "256MiB"]) == 0
    text = capsys.readouterr().out
    assert "MiB" in text and " s" in text and "cannot be read" in text
    assert "dry run: 4 file(s)" in text
    assert not out.exists()


def test_ome_zarr_out_and_pixel_size_from_metadata(folder, tmp_path):
    out = tmp_path / "z"
    assert main(["run", str(folder / "cell1.tif"), "--out-dir", str(out), "--format", "zarr",
                 "--psf-fwhm-nm", "110", *FAST]) == 0
    data, info = read_ome_zarr(out / "cell1_sparse.zarr")
    np.testing.assert_allclose(info["scale"], (0.032, 0.032))
    assert info["metadata"]["psf_fwhm_px"] == pytest.approx(110 / 32)
    src, _ = read_tiff(folder / "cell1.tif")
    ref = nsd.sparse_deconvolve(src, psf_fwhm_px=110 / 32, **KW)
    np.testing.assert_allclose(np.asarray(data), ref, rtol=1e-5, atol=1e-5 * float(ref.max()))


def test_psf_file_with_other_pixel_size_fails_clearly(folder, tmp_path, capsys):
    psf = tmp_path / "psf.tif"
    write_tiff(psf, nsd.gaussian_psf((11, 11), 2.0), scale=(0.05, 0.05))
    rc = main(["run", str(folder / "cell0.tif"), "--out-dir", str(tmp_path / "o"),
               "--psf", str(psf), *FAST])
    assert rc == 1 and "pixel size mismatch" in capsys.readouterr().err


def test_unwritable_output_and_full_disk(folder, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    rc = main(["run", str(folder / "cell0.tif"), "--out-dir", str(blocker / "sub"),
               "--psf-fwhm-px", "3", *FAST])
    assert rc == 1 and "FAILED" in capsys.readouterr().err

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch._Writer, "commit", full)
    out = tmp_path / "o2"
    rc = main(["run", str(folder / "cell0.tif"), str(folder / "cell1.tif"), "--out-dir",
               str(out), "--psf-fwhm-px", "3", *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("No space left on device") == 2
    assert not list(out.iterdir())  # no partial output, no temporary files


def test_wrong_axes_is_reported(tmp_path, capsys):
    bad = tmp_path / "rgb.tif"
    tifffile.imwrite(bad, np.ones((2, 3, 32, 32), np.uint16), photometric="minisblack")
    assert main(["run", str(bad), "--out-dir", str(tmp_path / "o"), "--psf-fwhm-px", "2",
                 *FAST]) == 1
    assert "split channels" in capsys.readouterr().err


def test_parse_size():
    assert batch.parse_size("4GiB") == 4 * 2**30
    assert batch.parse_size("500MB") == 500_000_000
    assert batch.parse_size("1024") == 1024


@pytest.mark.slow
def test_local_cluster_matches_serial(folder, tmp_path):
    pytest.importorskip("distributed")
    serial, dist = tmp_path / "serial", tmp_path / "dist"
    args = ["--psf-fwhm-px", "3.44", *FAST]
    files = [str(folder / "cell0.tif"), str(folder / "cell1.tif")]
    assert main(["run", *files, "--out-dir", str(serial), *args]) == 0
    assert main(["run", *files, "--out-dir", str(dist), "--workers", "2", *args]) == 0
    for name in ("cell0_sparse.tif", "cell1_sparse.tif"):
        a, _ = read_tiff(serial / name)
        b, _ = read_tiff(dist / name)
        np.testing.assert_array_equal(a, b)
    # one stack split into t-chunks across the two workers
    stack = folder / "stack.zarr"
    assert main(["run", str(stack), "--out-dir", str(serial), "--continuity", "1", *args]) == 0
    assert main(["run", str(stack), "--out-dir", str(dist), "--continuity", "1", "--workers",
                 "2", *args]) == 0
    a, _ = read_tiff(serial / "stack_sparse.tif")
    b, _ = read_tiff(dist / "stack_sparse.tif")
    assert np.abs(a - b).max() <= 1e-3 * (float(a.max()) - float(a.min()))
