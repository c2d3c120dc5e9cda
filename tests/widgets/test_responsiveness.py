"""The event loop keeps running during a whole-layer run and PSF generation.

A 20 ms QTimer probe measures the longest gap between ticks. The requirement is
100 ms; the assertion leaves a margin for a loaded CI machine (software OpenGL,
2 shared cores) and the figures are printed (``pytest -s``) for the record.

The gap while napari adds the new result layer (its own layer controls, vispy
visual and first paint: 0.2-0.5 s under Xvfb, whatever the plugin does) is
measured apart and only bounded loosely: it is napari's, once per result.
"""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon._widgets._stall_probe import StallProbe, timed  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
LIMIT_MS = 250.0  # the target is 100 ms; see the module docstring
# (the probe records gaps over two timer intervals: a printed 0 means none over 40 ms)
ADD_LAYER_LIMIT_MS = 2000.0


@pytest.mark.slow
def test_whole_layer_run_does_not_stall(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    img = np.random.default_rng(0).poisson(50, (256, 256)).astype(np.float32)
    layer = viewer.add_image(img, name="cell", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    spans = []
    w._on_result = timed(spans, w._on_result)
    qtbot.wait(200)  # let the window settle
    with StallProbe() as probe:
        w.run()
        qtbot.waitUntil(lambda: w._worker is None, timeout=120000)
        qtbot.wait(100)  # and the result layer's first draw
    running, adding = probe.longest_ms_apart(spans)
    print(f"\nwhole-layer run 256x256: longest stall while running {running:.0f} ms, "
          f"while napari adds the result layer {adding:.0f} ms ({probe.ticks} ticks)")
    assert "cell sparse" in viewer.layers and len(spans) == 1
    assert running < LIMIT_MS
    assert adding < ADD_LAYER_LIMIT_MS


@pytest.mark.slow
def test_psf_generation_does_not_stall(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    w = PSFWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.value = "Gibson-Lanni (index mismatch)"
    w.dims.value = "3-D"
    spans = []
    w._show_generated = timed(spans, w._show_generated)
    qtbot.wait(200)
    with StallProbe() as probe:
        w.generate()
        qtbot.waitUntil(lambda: w._worker is None, timeout=120000)
        qtbot.wait(100)
    running, adding = probe.longest_ms_apart(spans)
    print(f"\nGibson-Lanni 3-D PSF: longest stall while computing {running:.0f} ms, "
          f"while napari adds the layer {adding:.0f} ms ({probe.ticks} ticks)")
    assert viewer.layers[-1].data.ndim == 3 and len(spans) == 1
    assert running < LIMIT_MS
    assert adding < ADD_LAYER_LIMIT_MS
