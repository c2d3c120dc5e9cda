"""Bounded reads and work on the command line (issue 25 item 5): a parameter file is read
with a size bound (a FIFO, a device or a huge file is refused before it is read), and
``--workers`` is capped by the machine's cores."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import napari_sparsedecon
from napari_sparsedecon.cli import PARAMS_FILE_MAX_BYTES, main
from napari_sparsedecon.io.tiff import write_tiff

SRC = Path(napari_sparsedecon.__file__).resolve().parents[1]  # the code under test


@pytest.fixture
def small_tif(tmp_path):
    p = tmp_path / "in.tif"
    write_tiff(p, np.random.default_rng(0).poisson(30, (16, 16)).astype(np.float32),
               scale=(0.1, 0.1))
    return p


def _limited():  # in the child: 3 GiB of address space, so a runaway read fails fast
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _cli(*argv):
    """Run the CLI in a child with a memory cap and a generous timeout (a hang or an
    unbounded read fails the test instead of the machine)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    try:
        r = subprocess.run([sys.executable, "-m", "napari_sparsedecon.cli", *map(str, argv)],
                           env=env, capture_output=True, text=True, timeout=180,
                           preexec_fn=_limited)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the CLI did not return: {argv}")
    return r.returncode, r.stderr


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_params_from_a_device_or_a_fifo_is_refused_unread(small_tif, tmp_path, special):
    if special == "fifo":
        special = tmp_path / "params.fifo"
        os.mkfifo(special)  # no writer: opening it would block forever
    elif not os.path.exists(special):
        pytest.skip(f"no {special} here")
    rc, err = _cli("run", "--method", "sparse",
                   small_tif, "--params", special, "--psf-fwhm-px", "2", "--dry-run")
    assert rc == 2, err
    assert f"--params {special}: not a regular file" in err, err
    assert "Traceback" not in err


def test_a_huge_params_file_is_refused_by_its_size(small_tif, tmp_path, capsys):
    pfile = tmp_path / "params.json"
    with open(pfile, "wb") as f:  # a sparse file: large, nothing to read
        f.truncate(PARAMS_FILE_MAX_BYTES * 64)
    assert main(["run", "--method", "sparse",
                 str(small_tif), "--params", str(pfile), "--psf-fwhm-px", "2",
                 "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"--params {pfile}" in err and "at most" in err, err


def test_a_params_file_under_the_bound_still_reads(small_tif, tmp_path, capsys):
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps({"iterations": 3}) + " " * 1000)
    assert main(["run", "--method", "sparse",
                 str(small_tif), "--params", str(pfile), "--psf-fwhm-px", "2",
                 "--dry-run"]) == 0


def test_workers_are_capped_by_the_cores(small_tif, tmp_path, capsys, monkeypatch):
    """`--workers 100000` sat in set-up while memory grew: it starts as many workers as
    this run has cores, and says so."""
    distributed = pytest.importorskip("distributed")
    from napari_sparsedecon.ops.threads import available_cores

    started = []

    class Cluster:  # records what the CLI asks for, then stops the run there
        def __init__(self, n_workers=None, **kw):
            started.append(n_workers)
            raise RuntimeError("cluster start recorded")

    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    rc = main(["run", "--method", "sparse",
               str(small_tif), "--workers", "100000", "--psf-fwhm-px", "2",
               "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert started == [available_cores()], (started, err)
    assert f"--workers 100000: this run has {available_cores()} core(s)" in err
    assert rc == 2


def test_a_zarr_declaring_too_many_chunks_is_refused_from_its_metadata(tmp_path, capsys):
    """A 2 KB OME-Zarr declaring 10^12 chunks hung the run and --dry-run (zarr counted
    the initialised chunks one key at a time)."""
    zarr = pytest.importorskip("zarr")
    from napari_sparsedecon.io.ome_zarr import read_ome_zarr, write_ome_zarr

    good = tmp_path / "good.zarr"
    write_ome_zarr(good, np.ones((8, 8), np.float32), axes="YX")
    attrs = dict(zarr.open_group(str(good), mode="r").attrs)
    bad = tmp_path / "crafted.zarr"
    root = zarr.open_group(str(bad), mode="w")
    name = attrs.get("ome", attrs).get("multiscales")[0]["datasets"][0]["path"]
    root.create_array(name, shape=(10**6, 10**6), chunks=(1, 1), dtype="float32")
    root.attrs.update(attrs)
    size = sum(p.stat().st_size for p in bad.rglob("*") if p.is_file())
    assert size < 10_000  # metadata only
    with pytest.raises(ValueError, match="declares 1e\\+12 chunks"):
        read_ome_zarr(bad)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-m", "napari_sparsedecon.cli", "run", "--method", "sparse",
                        str(bad),
                        "--psf-fwhm-px", "2", "--dry-run"], env=env, capture_output=True,
                       text=True, timeout=180, preexec_fn=_limited)
    assert "declares 1e+12 chunks" in r.stdout + r.stderr, (r.stdout, r.stderr)
