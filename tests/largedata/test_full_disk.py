"""A full disk under TIFF output (issue 25 item 1): the memory-mapped output used to die
with SIGBUS (exit 135, no message, a .part left, the rest of the batch never run). The
output is now allocated before it is mapped: that file fails with a message naming it
(exit 1), nothing is left, and the other files of the batch are done.

Needs a small tmpfs (root, or a user namespace that may mount); skipped elsewhere."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import napari_sparsedecon
from napari_sparsedecon.io.tiff import read_tiff, write_tiff

SRC = Path(napari_sparsedecon.__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _cli(*argv):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    r = subprocess.run([sys.executable, "-m", "napari_sparsedecon.cli", *map(str, argv)],
                       env=env, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stderr


def _inputs(folder):
    rng = np.random.default_rng(0)
    big, small = folder / "a_big.tif", folder / "b_small.tif"
    write_tiff(big, rng.poisson(30, (544, 544)).astype(np.uint16), scale=(0.1, 0.1))
    write_tiff(small, rng.poisson(30, (32, 32)).astype(np.uint16), scale=(0.1, 0.1))
    return big, small


@pytest.mark.parametrize("fmt", ["tif", "ome.tif"])
def test_a_full_disk_fails_that_file_and_the_batch_goes_on(tmp_path, small_disk, fmt):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _inputs(inputs)
    rc, err = _cli("run", "--method", "sparse", inputs, "--out-dir", small_disk, "--format", fmt,
                   "--psf-fwhm-px", "2", "--iterations", "1", "--deconv-iterations", "1",
                   "--backend", "numpy")
    assert rc == 1, (rc, err)  # not 135 (SIGBUS)
    assert f"a_big_sparse.{fmt}" in err and "No space left" in err, err
    assert "Traceback" not in err
    left = sorted(p.name for p in small_disk.rglob("*"))
    assert left == [f"b_small_sparse.{fmt}"], left  # no .part; the other file done
    assert read_tiff(small_disk / f"b_small_sparse.{fmt}")[0].shape == (32, 32)


def test_a_full_disk_under_a_method_subcommand_exits_1(tmp_path, small_disk):
    big, _ = _inputs(tmp_path)
    dst = small_disk / "big_rl.tif"
    rc, err = _cli("rl", big, "-o", dst, "--psf-fwhm-px", "2", "--iterations", "1",
                   "--backend", "numpy")
    assert rc == 1, (rc, err)
    assert str(dst) in err and "No space left" in err and "Traceback" not in err, err
    assert list(small_disk.iterdir()) == []
