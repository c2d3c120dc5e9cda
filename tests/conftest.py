import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NAPARI_SPARSEDECON_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "pollen.tif").exists():
        pytest.skip(f"real test images not found in {SHARED} (set NAPARI_SPARSEDECON_SHARED_DATA)")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
