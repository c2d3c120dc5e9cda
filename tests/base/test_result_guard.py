"""Finite input never gives a non-finite or runaway result without an error (issue 25
item 4): one guard (``core.validation.check_result``) at the end of
``api.iter_deconvolve`` and on every block the batch writer stores; the refusal names
the value to change."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.base.validation import MAX_MEAN_GAIN, check_result
from napari_sparsedecon.io.tiff import write_tiff
from napari_sparsedecon.largedata import batch

SRC = Path(nsd.__file__).resolve().parents[1]


def _img(seed=0, shape=(32, 32)):
    return np.random.default_rng(seed).poisson(30, shape).astype(np.float32)


@pytest.mark.parametrize("method, kw, name", [
    ("sparse_psf", {"strength": 1e4}, "strength must be <= 100"),
    ("rl_tv", {"strength": 1e6}, "strength must be <= 100"),
    ("rl", {"read_noise": 1e6}, "read_noise must be <= 1000"),
    ("sparse_psf", {"read_noise": 1e4}, "read_noise must be <= 1000"),
])
def test_schema_ranges_stop_at_sane_results(method, kw, name):
    """sparse_psf with strength 1e4 returned ~1e4x the input's mean intensity (8x its
    total in the issue's case), read_noise 1e6 a flat image at 60x the input's maximum:
    the schema now stops where results were still sane (measured on a phantom)."""
    with pytest.raises(ValueError, match=name):
        nsd.deconvolve(_img(), method, psf_fwhm_px=2.0, iterations=20, backend="numpy", **kw)


@pytest.mark.parametrize("method", ["rl", "sparse_psf", "rl_tv"])
def test_an_in_range_runaway_is_refused_naming_the_values(method):
    """Values each in range that together give nothing (a camera offset above every
    pixel: all zero) are refused by the guard, which names them."""
    with pytest.raises(ValueError, match="all zero although the image is not") as err:
        nsd.deconvolve(_img(), method, psf_fwhm_px=2.0, iterations=5, backend="numpy",
                       offset=1e9, gain=1.0)
    assert "offset=1000000000.0" in str(err.value)


@pytest.mark.parametrize("method", ["sparse", "rl", "rl_tv", "sparse_psf"])
def test_defaults_pass_the_guard(method):
    img = _img()
    out = nsd.deconvolve(img, method, psf_fwhm_px=2.0, iterations=10, backend="numpy")
    assert np.isfinite(out).all()
    assert np.abs(out).mean() <= MAX_MEAN_GAIN * np.abs(img).mean()


@pytest.mark.parametrize("method", ["sparse", "rl", "rl_tv", "sparse_psf"])
def test_an_image_near_float32s_limit_is_finite_or_refused(method):
    img = _img()
    big = (img / img.max() * 3e38).astype(np.float32)
    try:  # (numpy's overflow warnings on the way are not the point: the outcome is)
        with np.errstate(over="ignore", invalid="ignore"):
            out = nsd.deconvolve(big, method, psf_fwhm_px=2.0, iterations=5, backend="numpy")
    except ValueError as err:
        assert "rescale" in str(err), err
    else:
        assert np.isfinite(out).all()


def test_richardson_lucy_refuses_an_all_negative_image():
    """It returned all NaN (RL divides by its blurred estimate)."""
    with pytest.raises(ValueError, match="no positive values"):
        nsd.richardson_lucy(-_img(), nsd.gaussian_psf((7, 7), 2.0), iterations=3)


def test_the_guard_itself():
    img = _img()
    bad = img.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        check_result(bad, img, method="rl", given={"gain": 2.0})
    with pytest.raises(ValueError, match="all zero"):
        check_result(np.zeros_like(img), img)
    with pytest.raises(ValueError, match=r"gain=2\.0"):
        check_result(img * 100, img, given={"gain": 2.0})
    check_result(img * 100, img, normalised=True)  # a result scaled to a maximum of one
    check_result(img, img)


def test_the_batch_writer_refuses_a_non_finite_block(tmp_path, monkeypatch):
    """The batch path (tiles into the output file) stored what it computed: a NaN block
    is refused, the file fails, no output and no .part are left."""
    from napari_sparsedecon.core import tiled as tiling

    src = tmp_path / "in.tif"
    write_tiff(src, _img(), scale=(0.1, 0.1))
    solve = tiling.solve_block

    def nan_block(*a, **k):
        out = solve(*a, **k)
        out.flat[0] = np.nan
        return out

    monkeypatch.setattr(tiling, "solve_block", nan_block)
    real = tiling._iter_solve_weighted

    def nan_weighted(*a, **k):
        out = yield from real(*a, **k)
        out.flat[0] = np.inf
        return out

    monkeypatch.setattr(tiling, "_iter_solve_weighted", nan_weighted)
    for fmt, name in (("tif", "o.tif"), ("ome.tif", "o.ome.tif"), ("zarr", "o.zarr")):
        dst = tmp_path / name
        job = batch.Job(str(src), str(dst), fmt)
        r = batch._file_task(job, {"iterations": 2, "deconv_iterations": 1,
                                   "psf_fwhm_px": 2.0}, None, None, None, "numpy")
        assert r["status"] == "failed", r
        assert "NaN/Inf" in r["error"] and str(dst) in r["error"], r["error"]
        assert not dst.exists()
    assert [p for p in tmp_path.rglob("*") if ".part" in p.name] == []


def test_the_method_subcommand_refuses_a_runaway_result(tmp_path):
    src = tmp_path / "in.tif"
    write_tiff(src, _img(), scale=(0.1, 0.1))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-m", "napari_sparsedecon.cli", "sparse_psf",
                        str(src), "-o", str(tmp_path / "o.tif"), "--psf-fwhm-px", "2",
                        "--offset", "1e9", "--gain", "1", "--iterations", "5"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode in (1, 2), r.stderr
    assert "offset=1000000000.0" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.tif").exists()
