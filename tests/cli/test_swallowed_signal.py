"""A stop signal that a library turns into an ordinary error still stops the run: dask's
threaded scheduler, interrupted by SIGTERM while it waited, raised InvalidStateError,
and the batch reported one failed file with exit 1 instead of stopping with 143 (seen in
CI, tests/cli/test_cli_safety.py::test_signals_leave_nothing_and_exit_cleanly)."""

import os
import signal
import time

import numpy as np
import pytest

from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff
from napari_sparsedecon.largedata import batch, method_batch


def _swallowing(*args, **kwargs):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)  # the handler raises here
    except BaseException as err:  # what dask's scheduler did with it
        raise RuntimeError("InvalidStateError: FINISHED") from err
    raise AssertionError("the signal did not arrive")


@pytest.mark.parametrize(("method", "module", "name"), [
    ("sparse", batch, "process_file"), ("rl", method_batch, "process_method_file")])
def test_a_swallowed_sigterm_still_stops_with_143(tmp_path, monkeypatch, capsys, method,
                                                  module, name):
    src = tmp_path / "a.tif"
    write_tiff(src, np.random.default_rng(0).poisson(30, (32, 32)).astype(np.float32))
    monkeypatch.setattr(module, name, _swallowing)
    code = main(["run", "--method", method, str(src), "--psf-fwhm-px", "2",
                 "-o", str(tmp_path / "o.tif")])
    assert code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "interrupted (SIGTERM)" in err and "FAILED" not in err


def test_an_error_without_a_signal_is_still_one_failed_file(tmp_path, monkeypatch):
    def fails(*a, **k):
        raise RuntimeError("a real failure")

    src = tmp_path / "a.tif"
    write_tiff(src, np.random.default_rng(0).poisson(30, (32, 32)).astype(np.float32))
    monkeypatch.setattr(method_batch, "process_method_file", fails)
    assert main(["run", "--method", "rl", str(src), "--psf-fwhm-px", "2",
                 "-o", str(tmp_path / "o.tif")]) == 1
