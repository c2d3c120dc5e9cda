import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# backend="auto" probes keep their results in memory only during tests (nothing is
# written to the user's cache dir; tests of the disk cache pass their own path).
os.environ.setdefault("NAPARI_SPARSEDECON_PROBE_CACHE", "off")
SHARED = Path(os.environ.get("NAPARI_SPARSEDECON_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "pollen.tif").exists():
        pytest.skip(f"real test images not found in {SHARED} (set NAPARI_SPARSEDECON_SHARED_DATA)")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
