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
    rc, err = _cli("run", small_tif, "--params", special, "--psf-fwhm-px", "2", "--dry-run")
    assert rc == 2, err
    assert f"--params {special}: not a regular file" in err, err
    assert "Traceback" not in err


def test_a_huge_params_file_is_refused_by_its_size(small_tif, tmp_path, capsys):
    pfile = tmp_path / "params.json"
    with open(pfile, "wb") as f:  # a sparse file: large, nothing to read
        f.truncate(PARAMS_FILE_MAX_BYTES * 64)
    assert main(["run", str(small_tif), "--params", str(pfile), "--psf-fwhm-px", "2",
                 "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"--params {pfile}" in err and "at most" in err, err


def test_a_params_file_under_the_bound_still_reads(small_tif, tmp_path, capsys):
    pfile = tmp_path / "params.json"
    pfile.write_text(json.dumps({"iterations": 3}) + " " * 1000)
    assert main(["run", str(small_tif), "--params", str(pfile), "--psf-fwhm-px", "2",
                 "--dry-run"]) == 0
