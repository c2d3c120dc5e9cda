"""The event loop keeps running during a whole-layer run and PSF generation.

A 20 ms QTimer probe measures the longest gap between ticks. The requirement is
100 ms; these two actions measure 40-60 ms here (benchmarks/gui_stalls.py), and the
assertion leaves a margin for a loaded CI machine (software OpenGL, 2 shared cores;
a repaint alone is 40-80 ms there). The figures are printed (``pytest -s``).

The gap while napari adds the new result layer (its own layer controls, vispy
visual and first paint: 0.2-0.5 s under Xvfb, whatever the plugin does) is
measured apart and only bounded loosely: it is napari's, once per result.
"""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon._widgets._layers import prewarm_imports  # noqa: E402
from napari_sparsedecon._widgets._stall_probe import StallProbe, timed  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
LIMIT_MS = 150.0  # the target is 100 ms; see the module docstring
# (the probe records gaps over two timer intervals: a printed 0 means none over 40 ms)
ADD_LAYER_LIMIT_MS = 2000.0
# The labels' draw itself is one canvas paint of 16 multi-line texts: 75-85 ms on the
# loaded 2-core machine with software OpenGL, 193 ms once in a full CI run (2026-12-03),
# so this bound keeps the older 250 ms margin. The old path (glyphs rasterised in that
# paint) measured 455-483 ms there and fails it.
LABELS_LIMIT_MS = 250.0


@pytest.mark.slow
def test_whole_layer_run_does_not_stall(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    img = np.random.default_rng(0).poisson(50, (256, 256)).astype(np.float32)
    layer = viewer.add_image(img, name="cell", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    spans = []
    w._on_result = timed(spans, w._on_result)
    prewarm_imports().join()  # the docks' one-time background imports, done first
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
    prewarm_imports().join()
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


def sweep_labels_text():
    """A montage's labels as the sweep writes them (values and scores, one per line)."""
    from napari_sparsedecon._widgets.sweep import _fmt_scores

    texts = []
    for fid in (50.0, 126.0, 317.0, 800.0):
        for sp in (1.0, 5.0, 10.0, 20.0):
            scores = _fmt_scores({"residual": 0.0123 * sp, "sparsity": 0.0042 * fid / 50})
            texts.append(f"fidelity {fid:g}\nsparsity {sp:g}\n" + scores.replace(", ", "\n"))
    return texts


@pytest.mark.slow
def test_sweep_labels_first_paint_does_not_stall(make_napari_viewer, qtbot):
    """The first paint of a sweep's labels used to rasterise ~30 glyphs on the GUI thread
    (vispy's signed-distance fields: 1-2 s with napari's layer add). The sweep panel now
    loads them a glyph per event-loop turn while it sits idle, so drawing the labels
    costs only the draw. Measured on a Points layer that already exists, so that
    napari's own layer add is not part of it."""
    viewer = make_napari_viewer(show=True)
    img = np.random.default_rng(0).poisson(50, (128, 128)).astype(np.float32)
    layer = viewer.add_image(img, name="cell")
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    pts = viewer.add_points(np.array([[2.0, 2.0]]), features={"label": [""]},
                            text={"string": "{label}", "color": "white", "size": 10},
                            size=0.1, face_color="transparent", border_color="transparent")
    warmer = getattr(w.sweep, "_glyphs", None)  # (the code before the fix had none)
    qtbot.waitUntil(lambda: warmer is None or warmer.pending == 0, timeout=60000)
    qtbot.wait(300)
    texts = sweep_labels_text()
    grid = np.array([[8.0 + 32 * (i // 4), 2.0 + 32 * (i % 4)] for i in range(16)])
    with StallProbe() as probe:
        pts.data = grid
        pts.features = {"label": texts}
        qtbot.wait(300)  # the labels' first draw
    ms = 1000 * probe.longest
    print(f"\nsweep labels' first paint: longest stall {ms:.0f} ms ({probe.ticks} ticks)")
    assert ms < LABELS_LIMIT_MS


def test_extra_layers_come_one_per_event_loop_turn(qtbot):
    from qtpy.QtCore import QTimer

    from napari_sparsedecon._widgets._layers import one_per_turn, pending_steps

    turns = {"n": 0}  # a zero-interval timer: fires once per pass of the event loop
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: turns.__setitem__("n", turns["n"] + 1))
    ticker.start()
    seen = []
    one_per_turn(lambda: seen.append(("residual", turns["n"])),
                 lambda: seen.append(("labels", turns["n"])))
    assert seen == [] and pending_steps() == 2  # nothing runs inside the queuing callback
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    ticker.stop()
    assert [name for name, _ in seen] == ["residual", "labels"] and pending_steps() == 0
    # other events ran between the two adds (both in one callback: the window stalled
    # for both)
    assert seen[1][1] > seen[0][1], seen


@pytest.mark.slow
def test_progress_ticks_redraw_only_the_bar(make_napari_viewer):
    from types import SimpleNamespace

    from napari_sparsedecon._widgets._layers import Tick

    viewer = make_napari_viewer()
    w = SparseDeconWidget(viewer)
    w.status.value = "running"
    p = SimpleNamespace(stage="sparse", iteration=20, total=100)
    w._on_progress(Tick(0.4, "sparse 20/100", p))
    # the label is left alone (a new text re-laid out the whole dock at every tick)
    assert w.status.value == "running"
    assert w.progress.value == 400
    assert w.progress.native.text() == "sparse 20/100 \u00b7 40% overall"
