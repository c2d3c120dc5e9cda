import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

import napari_sparsedecon as nsd
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import read_tiff, write_tiff


def test_import_is_qt_and_opencl_free():
    code = (
        "import sys, napari_sparsedecon;"
        "bad=[m for m in ('qtpy','PyQt5','PyQt6','napari','magicgui','pyopencl') "
        "if m in sys.modules];print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_cli_run_bundled_data(tmp_path, capsys):
    dest = tmp_path / "out.tif"
    assert main(["run", "--method", "sparse",
                 "-o", str(dest), "--iterations", "20", "--deconv-iterations", "5"]) == 0
    err = capsys.readouterr().err
    assert "sparse" in err and "20/20" in err and "ok" in err and "1 ok, 0 failed" in err
    data, info = read_tiff(dest)
    assert data.shape == (316, 316) and data.dtype == np.float32
    assert info["metadata"]["params"]["iterations"] == 20
    assert info["metadata"]["method"] == "sparse"


def test_cli_params_file_and_flags(tmp_path):
    img = np.random.default_rng(0).poisson(30, (40, 48)).astype(np.uint16)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, img)
    params = nsd.SparseParams(iterations=7, deconv_iterations=2, psf_fwhm_px=2.5)
    pfile = tmp_path / "p.json"
    pfile.write_text(params.to_json())
    dest = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse", str(src), "-o", str(dest), "--params", str(pfile),
                 "--sparsity", "5"]) == 0
    data, info = read_tiff(dest)
    expect = nsd.sparse_deconvolve(img, **params.replace(sparsity=5.0).to_dict())
    np.testing.assert_allclose(data, expect, rtol=1e-6)
    assert info["metadata"]["params"]["sparsity"] == 5.0


def test_cli_rl_and_errors(tmp_path, capsys):
    img = np.random.default_rng(0).poisson(30, (40, 48)).astype(np.float32)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, img)
    assert main(["rl", str(src), "-o", str(tmp_path / "r.tif"), "--psf-fwhm-px", "2",
                 "--iterations", "3"]) == 0
    assert main(["rl", str(src), "-o", str(tmp_path / "r2.tif")]) == 2
    assert "needs --psf" in capsys.readouterr().err
    bad = tmp_path / "nan.tif"
    tifffile.imwrite(bad, np.full((20, 20), np.nan, np.float32))
    assert main(["run", "--method", "sparse",
                 str(bad), "-o", str(tmp_path / "x.tif"), "--psf-fwhm-px", "2"]) == 1
    assert "NaN" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()


def test_tiff_roundtrip_scale_and_metadata(tmp_path):
    a = np.random.default_rng(1).random((3, 10, 12)).astype(np.float32)
    p = write_tiff(tmp_path / "a.tif", a, scale=(0.5, 0.032, 0.032), axes="ZYX",
                   metadata={"fidelity": 150.0})
    data, info = read_tiff(p)
    np.testing.assert_array_equal(data, a)
    np.testing.assert_allclose(info["scale"], (0.5, 0.032, 0.032))
    assert info["axes"] == "ZYX" and info["metadata"] == {"fidelity": 150.0}


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    """tifffile fails half-way (the temporary file exists and holds bytes): no
    temporary file is left, and an earlier file at the destination survives."""
    dest = tmp_path / "never.tif"
    seen = []

    def half_write(tmp, *args, **kwargs):
        with open(tmp, "wb") as f:
            f.write(b"II*\x00 half a TIFF")
        seen.extend(p.name for p in tmp_path.iterdir())
        raise OSError("disk went away")

    monkeypatch.setattr(tifffile, "imwrite", half_write)
    with pytest.raises(OSError, match="disk went away"):
        write_tiff(dest, np.ones((4, 4)))
    assert len(seen) == 1 and ".part" in seen[0]  # it failed with the temp file there
    assert list(tmp_path.iterdir()) == []
    dest.write_bytes(b"earlier result")
    with pytest.raises(OSError, match="disk went away"):
        write_tiff(dest, np.ones((4, 4)))
    assert list(tmp_path.iterdir()) == [dest] and dest.read_bytes() == b"earlier result"


def test_params_roundtrip_and_unknown_key():
    p = nsd.SparseParams(sparsity=12.0, psf_fwhm_px=[1.0, 2.0])
    assert nsd.SparseParams.from_dict(json.loads(p.to_json())) == p
    try:
        nsd.SparseParams.from_dict({"sparsty": 1})
    except ValueError as err:
        assert "sparsty" in str(err)
    else:
        raise AssertionError("unknown key accepted")


def test_cli_devices_lists_or_explains(capsys):
    rc = main(["devices"])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert ("MiB" in out) if rc == 0 else ("no OpenCL device" in out)
