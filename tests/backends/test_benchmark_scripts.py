"""The benchmark scripts of the regularised methods run (small shapes; not figures)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
@pytest.mark.opencl
def test_gpu_benchmark_runs_on_any_opencl_device(capsys):
    from napari_sparsedecon.backends.opencl import OpenCLUnavailable
    from napari_sparsedecon.backends.opencl.device import _all_devices

    try:
        _all_devices()
    except OpenCLUnavailable as err:
        pytest.skip(f"no OpenCL device: {err}")
    assert _load("gpu").main(["--small", "--methods", "sparse_psf,rl_tv",
                              "--cpu-iters", "1"]) == 0
    out = capsys.readouterr().out
    assert "sparse_psf 256x256" in out and "rl_tv 16x64x64" in out and "parity" in out


@pytest.mark.slow
def test_regularised_benchmark_runs_small(capsys):
    assert _load("regularised").main(["--small", "--backends", "numpy", "--repeat", "1",
                                      "--iters", "1", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "cores" in out and "FFT pair" in out and "preview" in out
