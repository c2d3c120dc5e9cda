"""How long the first Shapes layer blocks napari's window, with and without the docks'
background warm-up (napari compiles its numba shape code on first use).

    xvfb-run -a python benchmarks/first_shapes.py cold   # no dock opened first
    xvfb-run -a python benchmarks/first_shapes.py warm   # a dock opened, warm-up done

Each run uses a fresh, empty numba cache (a first session after installing), so run
each mode in its own process. Prints one JSON line: seconds the GUI thread was busy
adding an empty Shapes layer (what the ROI and bead tools make), adding a rectangle,
and switching to the rectangle tool; and, for 'warm', how long the warm-up took in
the background.
"""

import json
import os
import sys
import tempfile
import time

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="first-shapes-numba-")

import napari  # noqa: E402
import numpy as np  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402


def busy(fn):
    t0 = time.perf_counter()
    fn()
    QApplication.processEvents()
    return round(time.perf_counter() - t0, 3)


def main(mode):
    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    out = {"mode": mode}
    if mode == "warm":
        from napari_sparsedecon._widgets._layers import prewarm_imports
        from napari_sparsedecon._widgets.deconv import SparseDeconWidget

        t0 = time.perf_counter()
        viewer.window.add_dock_widget(SparseDeconWidget(viewer))
        prewarm_imports().join()
        out["warm_up_s"] = round(time.perf_counter() - t0, 3)
    holder = {}
    out["add_shapes_s"] = busy(lambda: holder.setdefault("l", viewer.add_shapes(name="ROI")))
    layer = holder["l"]
    out["add_rectangle_s"] = busy(lambda: layer.add_rectangles(
        np.array([[[10.0, 10.0], [50.0, 60.0]]])))
    out["rectangle_tool_s"] = busy(lambda: setattr(layer, "mode", "add_rectangle"))
    print(json.dumps(out))
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cold")
