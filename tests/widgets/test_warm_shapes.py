"""napari compiles its numba shape code on first use; the docks' warm-up does it in the
background, so the first ROI or bead box compiles nothing on the GUI thread."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("napari")
pytest.importorskip("numba")

CODE = r"""
import json, sys
import numpy as np
from numba.core import event
from napari.layers import Shapes
if sys.argv[1] == "warm":
    from napari_sparsedecon._widgets._layers import warm_napari_shapes
    warm_napari_shapes()
with event.install_recorder("numba:compile") as rec:
    layer = Shapes(ndim=2)  # what the ROI and bead tools make, then draw in
    layer.add_rectangles(np.array([[[10.0, 10.0], [50.0, 60.0]]]))
    layer.add_ellipses(np.array([[[5.0, 5.0], [20.0, 30.0]]]))
print(json.dumps(len(rec.buffer)))
"""


def _compiles(mode, tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / mode)}  # a first session
    r = subprocess.run([sys.executable, "-c", CODE, mode], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_first_shapes_compile_nothing_after_the_warm_up(tmp_path):
    assert _compiles("cold", tmp_path) > 0  # the check can fail: napari does compile
    assert _compiles("warm", tmp_path) == 0
