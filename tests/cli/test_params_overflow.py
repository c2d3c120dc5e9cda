"""A parameter file whose numbers overflow to infinity (``1e400``, which Python's json
reads as ``inf``) is bad usage found before any file is read: exit 2, the key named
(issue 25 item 7; seen once in the property tests' random mode as an
``OverflowError: cannot convert float infinity to integer`` failing the file, exit 1)."""

import numpy as np
import pytest

from napari_sparsedecon.algorithms.registry import get_method
from napari_sparsedecon.cli import main
from napari_sparsedecon.io.tiff import write_tiff

CASES = [(m, p.name, v) for m in ("sparse", "sparse_psf", "rl")
         for p in get_method(m).schema if p.kind in ("int", "float", "floats")
         for v in ("1e400", "-1e400", "[1e400, 1e400]")]


@pytest.fixture(scope="module")
def small_tif(tmp_path_factory):
    p = tmp_path_factory.mktemp("overflow") / "in.tif"
    write_tiff(p, np.random.default_rng(3).poisson(30, (16, 16)).astype(np.float32),
               scale=(0.1, 0.1))
    return p


@pytest.mark.parametrize(("method", "key", "value"), CASES)
def test_an_infinite_value_is_refused_up_front_naming_the_key(small_tif, tmp_path, capsys,
                                                               method, key, value):
    pfile = tmp_path / "p.json"
    pfile.write_text(f'{{"{key}": {value}}}', encoding="utf-8")
    capsys.readouterr()
    rc = main(["run", "--method", method, str(small_tif), "--params", str(pfile),
               "-o", str(tmp_path / "out.tif"), "--psf-fwhm-px", "2", "--iterations", "2"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert key in err and "Traceback" not in err and "OverflowError" not in err
    assert not (tmp_path / "out.tif").exists()
