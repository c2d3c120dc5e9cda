"""After the docks' background warm-up, a save or a tiled run imports nothing new.

A module imported for the first time by a worker thread stalled the window: tifffile
during the first save (~200 ms here), dask.distributed (which dask imports at the
first compute of a lazy array, when installed) during a tiled run (100-150 ms). The
docks now import them in the background when they open (``prewarm_imports``). This
runs in a fresh interpreter, so that what other tests imported does not hide a miss.
"""

import json
import subprocess
import sys

import pytest

CODE = r"""
import json, sys
import numpy as np
from napari_sparsedecon._widgets._layers import warm_imports
warm_imports()
before = set(sys.modules)
import napari_sparsedecon as nsd
from napari_sparsedecon._napari_io import save_layer_data
from napari_sparsedecon.io.axes import from_layer
from napari_sparsedecon.largedata.paths import contrast_limits, iter_to_store, open_result
out = sys.argv[1]
img = np.random.default_rng(0).poisson(50, (96, 96)).astype(np.float32)
save_layer_data(out + "/a.tif", img, scale=(0.03, 0.03), units=("um", "um"), metadata={})
save_layer_data(out + "/a.zarr", img, scale=(0.03, 0.03), units=("um", "um"), metadata={})
p = nsd.SparseParams(psf_fwhm_px=3.0, iterations=3, deconv_iterations=1)
ia = from_layer({"scale": (0.03, 0.03), "units": ("um", "um")})
gen = iter_to_store(img, "sparse", p.to_dict(), out + "/t.zarr", ia, {},
                    memory_budget=2**20, backend="numpy")
try:
    while True:
        next(gen)
except StopIteration as stop:
    dst = stop.value
lazy, _ = open_result(dst)
contrast_limits(lazy)
new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps(new))
"""


@pytest.mark.slow
def test_save_and_tiled_run_import_nothing_new_after_warm_up(tmp_path):
    pytest.importorskip("zarr")
    r = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    new = set(json.loads(r.stdout.strip().splitlines()[-1]))
    # only the standard library may still appear (small, quick imports)
    third_party = sorted(m for m in new if m not in sys.stdlib_module_names
                         and not m.startswith("_") and m != "napari_sparsedecon")
    assert third_party == [], f"imported by a save or tiled run after warm-up: {third_party}"
