"""An empty ``MemoryError: `` (raised without a message by an allocation deep inside
numpy/scipy/numba) named neither the size needed nor what to change (issue 25 item 7).
The allocation failure is simulated: a real one needs the machine's memory."""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon import api
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff
from napari_sparsedecon.largedata import batch, method_batch


def _img(shape=(40, 48)):
    return np.random.default_rng(0).poisson(30, shape).astype(np.float32)


def _no_memory(*args, **kwargs):
    raise MemoryError()
    yield  # (a generator, as the functions it replaces)


@pytest.mark.parametrize("method", ["rl", "sparse"])
def test_an_empty_memory_error_from_the_library_states_the_size(monkeypatch, method):
    monkeypatch.setattr(api, "_with_fraction", _no_memory)
    with pytest.raises(MemoryError) as err:
        nsd.deconvolve(_img(), method, psf_fwhm_px=2, iterations=1)
    msg = str(err.value)
    assert "(40, 48)" in msg and "GiB" in msg, msg
    assert "smaller region" in msg and "--memory-budget" in msg, msg


def test_a_memory_error_with_a_message_is_left_as_it_is(monkeypatch):
    def sized(*a, **k):
        raise MemoryError("a memory budget of 1 MiB is too small; raise --memory-budget")
        yield

    monkeypatch.setattr(api, "_with_fraction", sized)
    with pytest.raises(MemoryError, match="^a memory budget of 1 MiB is too small"):
        nsd.deconvolve(_img(), "rl", psf_fwhm_px=2, iterations=1)


@pytest.mark.parametrize(("method", "module", "name"), [
    ("sparse", batch, "iter_tiled"), ("rl", method_batch, "iter_method_tiled")])
def test_an_empty_memory_error_in_the_batch_says_what_to_change(tmp_path, capsys,
                                                                monkeypatch, method,
                                                                module, name):
    from napari_sparsedecon.base import resources

    src = tmp_path / "in.tif"
    write_tiff(src, _img((3, 40, 48)))
    monkeypatch.setattr(module, name, _no_memory)
    monkeypatch.setattr(resources, "process_rss", lambda: 100 * 2**20)  # not pytest's size
    rc = main(["run", "--method", method, str(src), "-o", str(tmp_path / "o.tif"),
               "--psf-fwhm-px", "2", "--iterations", "1", "--memory-budget", "1GiB"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc == 1
    assert "MemoryError: out of memory" in text, text
    assert "(3, 40, 48)" in text and "MiB" in text, text
    assert "--memory-budget" in text and "--tile" in text, text
    assert "MemoryError: \n" not in text and not text.rstrip().endswith("MemoryError:")
