"""Golden arrays: stored outputs of documented runs (scripts/make_goldens.py).

The recipes (input, call, parameters, tolerance) are read from the script
that made the files, and tests/data/goldens.json records each file's
provenance and sha256; to remake one on purpose, see the script's docstring.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_goldens", ROOT / "scripts" /
                                                  "make_goldens.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


goldens = _load_script()


def test_every_golden_has_a_recipe_and_a_provenance_record():
    record = goldens.load_record()
    files = sorted(p.name for p in DATA.glob("*.npy"))
    assert files == sorted(goldens.RECIPES) == sorted(record)
    for name in files:
        rec = record[name]
        assert rec["sha256"] == goldens.sha256(DATA / name), f"{name} changed without its record"
        assert rec["params"] == goldens.RECIPES[name]["params"], f"{name}: recipe changed"
        for key in ("script", "input", "call", "package_version", "git_commit", "date",
                    "numpy", "scipy"):
            assert rec[key], f"{name}: provenance field {key!r} is empty"
        ref = np.load(DATA / name)
        assert list(ref.shape) == rec["shape"] and str(ref.dtype) == rec["dtype"]


@pytest.mark.parametrize("name", sorted(goldens.RECIPES))
def test_golden_regression(name):
    ref = np.load(DATA / name)
    tol = goldens.RECIPES[name]["tolerance"]
    out = goldens.compute(name)
    np.testing.assert_allclose(out, ref, rtol=tol["rtol"],
                               atol=tol["atol_of_max"] * float(np.abs(ref).max()))
