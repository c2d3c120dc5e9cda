"""The thread setting (issue 14): API keyword, CLI flag, environment variable; every
scipy.fft call gets it; results do not depend on it; bad values are refused clearly."""

import numpy as np
import pytest
import scipy.fft
import tifffile

import napari_sparsedecon as nsd
from napari_sparsedecon.cli import main
from napari_sparsedecon.ops import threads as th

BAD = [0, -3, 1.5, "x", True]


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(th.ENV_THREADS, raising=False)


@pytest.fixture
def fft_calls(monkeypatch):
    """Record the ``workers`` of every scipy.fft transform (None when not given)."""
    seen = []
    for name in ("rfftn", "irfftn", "dctn", "idctn", "fft", "ifft", "rfft", "irfft",
                 "fftn", "ifftn"):
        orig = getattr(scipy.fft, name)

        def wrapped(*a, _orig=orig, _name=name, **kw):
            seen.append((_name, kw.get("workers")))
            return _orig(*a, **kw)

        monkeypatch.setattr(scipy.fft, name, wrapped)
    return seen


def _stack(rng):
    img = rng.poisson(40, (6, 40, 44)).astype(np.float32)
    img[:, 15:25, 10:30] += 200
    return img


@pytest.mark.parametrize("method,kw", [
    ("sparse", {"iterations": 6, "deconv_iterations": 3, "upsample": 2}),
    ("rl", {"iterations": 5}),
])
def test_every_fft_gets_the_thread_setting(rng, no_env, fft_calls, method, kw):
    img = _stack(rng)
    nsd.deconvolve(img, method, psf_fwhm_px=2.5, threads=2, **kw)
    assert fft_calls, "no FFT recorded"
    assert {w for _, w in fft_calls} == {2}, fft_calls


@pytest.mark.parametrize("method,kw", [
    ("sparse", {"iterations": 8, "deconv_iterations": 4}),
    ("rl", {"iterations": 6, "stop": "none"}),
    ("rl", {"iterations": 6, "stop": "none", "acceleration": "none"}),
])
def test_result_does_not_depend_on_threads(rng, no_env, method, kw):
    img = _stack(rng)
    a, ia = nsd.deconvolve(img, method, psf_fwhm_px=2.5, threads=1, return_info=True, **kw)
    b, ib = nsd.deconvolve(img, method, psf_fwhm_px=2.5, threads=2, return_info=True, **kw)
    assert ia["threads"] == 1 and ib["threads"] == 2
    scale = float(np.max(np.abs(a)))
    assert float(np.max(np.abs(a - b))) <= 1e-6 * scale


def test_default_is_every_core_and_env_overrides(monkeypatch, no_env):
    assert th.current_threads() == th.available_cores()
    monkeypatch.setenv(th.ENV_THREADS, "3")
    assert th.current_threads() == 3
    with th.using_threads(1):
        assert th.current_threads() == 1
    assert th.current_threads() == 3


def test_generator_setting_does_not_leak(rng, no_env):
    gen = nsd.iter_deconvolve(_stack(rng), "rl", psf_fwhm_px=2.5, iterations=3, threads=1)
    next(gen)
    assert th.current_threads() == th.available_cores()  # between yields: caller's setting
    gen.close()


@pytest.mark.parametrize("bad", BAD)
def test_api_refuses_bad_threads(rng, no_env, bad):
    with pytest.raises(ValueError, match="threads must be a whole number of threads >= 1"):
        nsd.deconvolve(_stack(rng), "rl", psf_fwhm_px=2.5, iterations=2, threads=bad)


@pytest.mark.parametrize("bad", ["0", "-3", "1.5", "x"])
def test_env_refuses_bad_threads(rng, monkeypatch, bad):
    monkeypatch.setenv(th.ENV_THREADS, bad)
    with pytest.raises(ValueError, match=th.ENV_THREADS):
        nsd.deconvolve(_stack(rng), "rl", psf_fwhm_px=2.5, iterations=2)


@pytest.fixture
def small_tif(tmp_path, rng):
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, rng.poisson(30, (32, 36)).astype(np.uint16))
    return src


@pytest.mark.parametrize("cmd", ["run", "rl"])
@pytest.mark.parametrize("bad", ["0", "-3", "1.5", "x"])
def test_cli_refuses_bad_threads(small_tif, tmp_path, capsys, no_env, cmd, bad):
    rc = main([cmd, str(small_tif), "-o", str(tmp_path / "o.tif"), "--psf-fwhm-px", "2",
               f"--threads={bad}"])
    assert rc == 2
    assert "--threads must be a whole number" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def test_cli_threads_flag_is_used_and_not_kept(small_tif, tmp_path, no_env, fft_calls):
    out = tmp_path / "o.tif"
    assert main(["rl", str(small_tif), "-o", str(out), "--psf-fwhm-px", "2",
                 "--iterations", "2", "--threads", "1"]) == 0
    assert {w for _, w in fft_calls} == {1}
    assert th.ENV_THREADS not in __import__("os").environ
    fft_calls.clear()
    assert main(["run", "--method", "sparse",
                 str(small_tif), "-o", str(tmp_path / "r.tif"), "--psf-fwhm-px", "2",
                 "--iterations", "2", "--deconv-iterations", "2", "--threads", "2"]) == 0
    assert {w for _, w in fft_calls} == {2}
