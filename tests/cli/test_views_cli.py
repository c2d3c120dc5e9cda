"""`run --views`: files that are views of one object through a method's multi-view form
(issue 27 item 4, on the command line): one output, equal to the library's
``deconvolve(views, psf=[...])``, the views and their PSFs in its record."""

import json

import numpy as np
import pytest
import tifffile
from scipy.signal import fftconvolve

import napari_sparsedecon as nsd
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff
from napari_sparsedecon.psf.basic import gaussian_psf


@pytest.fixture
def two_views(tmp_path):
    """Points seen through PSFs elongated along Y (view 1) and along X (view 2)."""
    rng = np.random.default_rng(1)
    truth = np.zeros((48, 48), np.float32)
    truth[rng.integers(6, 42, 20), rng.integers(6, 42, 20)] = 300.0
    psfs = [gaussian_psf(None, (6.0, 2.0)), gaussian_psf(None, (2.0, 6.0))]
    paths = []
    for i, p in enumerate(psfs, 1):
        v = rng.poisson(fftconvolve(truth, p, mode="same").clip(0) + 5).astype(np.float32)
        write_tiff(tmp_path / f"v{i}.tif", v, scale=(0.1, 0.1))
        write_tiff(tmp_path / f"p{i}.tif", p)
        paths.append((tmp_path / f"v{i}.tif", tmp_path / f"p{i}.tif"))
    return tmp_path, paths


def _record(path):
    with tifffile.TiffFile(path) as tf:
        return tf.asarray(), json.loads(tf.imagej_metadata["Info"])["napari_sparsedecon"]


@pytest.mark.parametrize("method", ["rl", "rl_tv", "sparse_psf"])
def test_views_give_the_library_result_and_record_every_view(two_views, method):
    d, ((v1, p1), (v2, p2)) = two_views
    out = d / "fused.tif"
    assert main(["run", "--method", method, "--views", str(v1), str(v2), "--psf", str(p1),
                 str(p2), "--iterations", "15", "-o", str(out)]) == 0
    got, meta = _record(out)
    lib = nsd.deconvolve([tifffile.imread(v1), tifffile.imread(v2)], method,
                         psf=[tifffile.imread(p1), tifffile.imread(p2)], backend="numpy",
                         iterations=15)
    assert np.abs(got - lib).max() <= 1e-5 * float(lib.max())
    assert meta["method"] == method and meta["views"] == [str(v1), str(v2)]
    assert [r["shape"] for r in meta["psf"]] == [[list(p.shape) for p in (
        tifffile.imread(p1), tifffile.imread(p2))][i] for i in range(2)]
    assert meta["output_pixel_size"] == {"y_nm": 100.0, "x_nm": 100.0}
    assert meta["estimates"]["views"] == 2


def test_views_dry_run_names_the_views_and_writes_nothing(two_views, capsys):
    d, ((v1, p1), (v2, p2)) = two_views
    assert main(["run", "--method", "rl", "--views", str(v1), str(v2), "--psf", str(p1),
                 str(p2), "-o", str(d / "f.tif"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{v1} + {v2}" in out and "2 views" in out
    assert not (d / "f.tif").exists()


@pytest.mark.parametrize(("extra", "words"), [
    (["--psf", "P1"], None),  # one PSF for both views is allowed
    (["--psf", "P1", "P2", "P1"], "one PSF file per view"),
    (["--psf", "P1", "P2", "--method", "sparse"], "no multi-view form"),
    (["--psf", "P1", "P2", "--backend", "opencl"], "NumPy only"),
])
def test_views_flags_that_cannot_be_meant_are_usage_errors(two_views, capsys, extra, words):
    d, ((v1, p1), (v2, p2)) = two_views
    extra = [{"P1": str(p1), "P2": str(p2)}.get(a, a) for a in extra]
    code = main(["run", "--views", str(v1), str(v2), *extra, "--iterations", "2",
                 "-o", str(d / "f.tif")])
    if words is None:
        assert code == 0
    else:
        assert code == 2 and words in capsys.readouterr().err
        assert not (d / "f.tif").exists()


def test_views_need_two_files_and_an_output(two_views, capsys):
    d, ((v1, p1), (v2, p2)) = two_views
    assert main(["run", "--views", str(v1), "--psf", str(p1), "-o", str(d / "f.tif")]) == 2
    assert "two or more input files" in capsys.readouterr().err
    assert main(["run", "--views", str(v1), str(v2), "--psf", str(p1), str(p2)]) == 2
    assert "-o" in capsys.readouterr().err
    assert main(["run", "--views", str(v1), str(v2), "--psf", str(p1), str(p2),
                 "-o", str(v2), "--overwrite"]) == 2  # an input is never an output
    assert tifffile.imread(v2).shape == (48, 48)


@pytest.mark.parametrize("what", ["shape", "pixel"])
def test_views_not_on_one_grid_fail_with_what_to_do(two_views, capsys, what):
    d, ((v1, p1), _) = two_views
    other = d / "other.tif"
    img = tifffile.imread(v1)
    if what == "shape":
        write_tiff(other, img[:40], scale=(0.1, 0.1))
    else:
        write_tiff(other, img, scale=(0.2, 0.2))
    assert main(["run", "--views", str(v1), str(other), "--psf", str(p1), "--iterations",
                 "2", "-o", str(d / "f.tif")]) == 1
    err = capsys.readouterr().err
    assert ("not on one grid" if what == "shape" else "different pixel sizes") in err, err
    assert "resample" in err and not (d / "f.tif").exists()


def test_views_along_an_axis_of_one_file_equal_the_views_as_files(two_views, capsys):
    """A Fiji hyperstack holding the two views as its channels: --views-axis C gives what
    the two files give; a wrong axis or PSF count says what to change."""
    d, ((v1, p1), (v2, p2)) = two_views
    both = np.stack([tifffile.imread(v1), tifffile.imread(v2)])  # (C, Y, X)
    stack = d / "dual.tif"
    write_tiff(stack, both, axes="CYX", scale=(1.0, 0.1, 0.1))
    out_files, out_axis = d / "f_files.tif", d / "f_axis.tif"
    assert main(["run", "--method", "rl_tv", "--views", str(v1), str(v2), "--psf", str(p1),
                 str(p2), "--iterations", "8", "-o", str(out_files)]) == 0
    assert main(["run", "--method", "rl_tv", str(stack), "--views-axis", "C", "--psf",
                 str(p1), str(p2), "--iterations", "8", "-o", str(out_axis)]) == 0
    a, _ = _record(out_files)
    b, meta = _record(out_axis)
    assert a.shape == b.shape == (48, 48)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(a.max()))
    assert meta["views_axis"] == "C" and meta["views"] == [f"{stack} [C=0]",
                                                          f"{stack} [C=1]"]
    assert meta["axes"] == "YX" and meta["output_pixel_size"] == {"y_nm": 100.0,
                                                                  "x_nm": 100.0}
    capsys.readouterr()
    assert main(["run", "--method", "rl", str(stack), "--views-axis", "Z", "--psf", str(p1),
                 "-o", str(d / "bad.tif")]) == 1
    assert "--views-axis Z" in capsys.readouterr().err and not (d / "bad.tif").exists()
    assert main(["run", "--method", "rl", str(stack), "--views-axis", "C", "--psf", str(p1),
                 str(p2), str(p1), "-o", str(d / "bad.tif")]) == 1
    assert "one PSF file per view" in capsys.readouterr().err
    assert main(["run", "--method", "rl", str(stack), "--views-axis", "C", "--psf", str(p1),
                 "-o", str(d / "dry.tif"), "--dry-run"]) == 0
    assert "2 views of (48, 48)" in capsys.readouterr().out

