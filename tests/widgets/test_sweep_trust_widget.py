"""Sweep section, Suggest button and trust checks of the sparse widget."""

import re

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.sweep import LABELS_NAME, MONTAGE_NAME  # noqa: E402
from napari_sparsedecon.core.phantom import make_phantom  # noqa: E402
from napari_sparsedecon.io.tiff import read_tiff  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def phantom_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    ph = make_phantom((192, 192), photons=400, seed=4)
    layer = viewer.add_image(ph.noisy.astype(np.float32), name="ph", scale=(0.032, 0.032),
                             units=("um", "um"))
    viewer.add_shapes([[[40, 40], [40, 120], [120, 120], [120, 40]]], shape_type="rectangle",
                      name="roi", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.fwhm.value = 110.0
    return viewer, w, layer, ph


@pytest.mark.slow
def test_sweep_montage_click_copies_parameters_and_export(phantom_widget, qtbot, tmp_path):
    viewer, w, layer, _ = phantom_widget
    w.iterations.value = 20
    w.deconv_iterations.value = 5
    sw = w.sweep
    sw.param1.value, sw.values1.value = "fidelity", "50, 200"
    sw.param2.value, sw.values2.value = "sparsity", "1:9:3"
    sw.run()
    qtbot.waitUntil(lambda: sw._worker is None, timeout=60000)
    assert len(sw.tiles) == 6
    ml = viewer.layers[MONTAGE_NAME]
    assert ml.data.shape == (2 * 80 + 2, 3 * 80 + 2 * 2)  # 2 rows x 3 columns of the 80 px ROI
    np.testing.assert_allclose(ml.scale, layer.scale)
    labels = viewer.layers[LABELS_NAME].features["full"]
    assert "fidelity 200, sparsity 9" in labels.iloc[5] and "residual" in labels.iloc[5]
    # the tile equals a plain run on the ROI with its parameters
    roi = np.asarray(layer.data[40:120, 40:120])
    expect = nsd.sparse_deconvolve(roi, psf_fwhm_px=110 / 32, iterations=20,
                                   deconv_iterations=5, fidelity=200.0, sparsity=5.0)
    np.testing.assert_allclose(sw.tiles[4].image, expect, rtol=1e-5, atol=1e-5)
    viewer.add_image(np.zeros((4, 4)), name="later")  # napari resets the docks' choices
    assert len(sw.tile.choices) == 7  # None and the six tiles

    class Click:  # a click on the middle of row 1, column 2 (world coordinates)
        position = (np.array([80 + 2 + 40, 2 * (80 + 2) + 40]) * 0.032
                    + np.asarray(ml.translate))

    sw._on_click(ml, Click)
    assert w.fidelity.value == 200.0 and w.sparsity.value == 9.0
    tif, csv = sw.export(tmp_path / "sweep")
    img, info = read_tiff(tif)
    np.testing.assert_array_equal(img, ml.data)
    assert info["metadata"]["sweep"] == {"fidelity": [50.0, 200.0], "sparsity": [1.0, 5.0, 9.0]}
    rows = csv.read_text().splitlines()
    assert rows[0].startswith("fidelity,sparsity,score_") and len(rows) == 7


@pytest.mark.slow
def test_sweep_bad_values_error(phantom_widget, monkeypatch):
    viewer, w, _, _ = phantom_widget
    seen = []
    monkeypatch.setattr("napari_sparsedecon._widgets.sweep.show_error", seen.append)
    w.sweep.values1.value = "ten, twenty"
    assert w.sweep.run() is None
    assert "cannot read fidelity" in seen[0] and MONTAGE_NAME not in viewer.layers


@pytest.mark.slow
def test_suggest_fills_widget_and_says_why(phantom_widget, qtbot, monkeypatch):
    import threading

    from napari_sparsedecon.dock import jobs

    _, w, _, _ = phantom_widget
    w.fidelity.value, w.sparsity.value = 5.0, 0.0
    readers, main = [], threading.current_thread()
    read = jobs._read

    def spy(*args):  # records the thread that reads the image
        readers.append(threading.current_thread())
        return read(*args)

    monkeypatch.setattr(jobs, "_read", spy)
    worker = w.suggest()
    assert worker is not None
    qtbot.waitUntil(lambda: w._suggest_worker is None, timeout=30000)
    s = w.suggestion
    assert readers and all(t is not main for t in readers)
    assert s is not None and w.fidelity.value == s["fidelity"] != 5.0
    assert w.sparsity.value == s["sparsity"]
    assert "SNR" in w.suggest_info.value and "noise sigma" in w.suggest_info.tooltip


@pytest.mark.slow
def test_trust_checks_add_layers_and_report(phantom_widget, qtbot):
    viewer, w, layer, _ = phantom_widget
    w.iterations.value = 10  # far from convergence on purpose
    w.deconv_iterations.value = 5
    for cb in (w.check_residual, w.check_frc, w.check_hallucination, w.check_convergence):
        cb.value = True
    warnings = []
    import napari_sparsedecon._widgets._run as mod

    orig = mod.show_warning
    mod.show_warning = warnings.append
    from napari_sparsedecon._widgets._layers import pending_steps

    try:
        w.run()
        qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
        # the extra layers and the messages come one per event-loop turn after the result
        qtbot.waitUntil(lambda: pending_steps() == 0, timeout=5000)
    finally:
        mod.show_warning = orig
    res = viewer.layers["ph sparse residual"]
    # the helper layers leave the result active (no labels paint tools on a check)
    assert viewer.layers.selection.active is viewer.layers["ph sparse"]
    lo, hi = res.contrast_limits
    assert res.colormap.name == "PiYG" and lo == -hi  # centred on zero
    assert res.data.shape == layer.data.shape
    md = viewer.layers["ph sparse"].metadata["napari_sparsedecon"]
    # the input's FRC in nm: a resolution, or the sampling limit when the curve never falls
    assert re.search(r"FRC (resolution )?of the input: (at the sampling limit \()?\d+ nm",
                     md["trust"]), md["trust"]
    assert any("far from convergence" in m for m in warnings)


@pytest.mark.slow
def test_sweep_shows_partial_results_and_cancels(phantom_widget, qtbot):
    viewer, w, _, _ = phantom_widget
    w.iterations.value = 300
    sw = w.sweep
    sw.values1.value, sw.values2.value = "50:400:4 log", "1, 5, 10, 20"
    sw.run()
    qtbot.waitUntil(lambda: MONTAGE_NAME in viewer.layers, timeout=60000)  # first tile shown
    sw.cancel()
    qtbot.waitUntil(lambda: sw._worker is None, timeout=60000)
    assert sw.info.value == "cancelled" and sw.tiles == []
    assert sw.run_button.enabled and not sw.use_button.enabled
    assert w.fidelity.value == 150.0  # nothing copied into the widget


@pytest.mark.slow
def test_timelapse_sweep_and_checks_use_the_current_frame(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ph = make_phantom((160, 160), photons=400, seed=4)
    mean = np.maximum(ph.blurred + ph.background, 0)
    stack = np.stack([np.random.default_rng(k).poisson(mean) for k in range(5)]).astype(
        np.float32)
    layer = viewer.add_image(stack, name="tl", scale=(1.0, 0.032, 0.032))
    viewer.dims.set_point(0, 2.0)
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 3.44
    w.iterations.value, w.deconv_iterations.value = 20, 5
    w.sweep.values1.value, w.sweep.param2.value = "100, 300", "none"
    w.sweep.run()
    qtbot.waitUntil(lambda: w.sweep._worker is None, timeout=60000)
    ml = viewer.layers[MONTAGE_NAME]
    assert ml.data.ndim == 2 and ml.data.shape == (2 * 160 + 2, 160)  # the current frame
    w.check_frc.value = True
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    trust = viewer.layers["tl sparse"].metadata["napari_sparsedecon"]["trust"]
    assert "[two frames]" in trust and " px " in trust  # no physical pixel size: pixels


@pytest.mark.slow
def test_sweep_labels_fit_their_tiles_at_default_zoom_and_follow_zoom(phantom_widget, qtbot):
    from napari_sparsedecon.analysis.sweep import CHAR_W, LINE_H, MIN_LABEL_PX

    viewer, w, layer, _ = phantom_widget
    w.iterations.value, w.deconv_iterations.value = 2, 1
    sw = w.sweep
    sw.param1.value, sw.values1.value = "fidelity", "50, 100, 200, 400"
    sw.param2.value, sw.values2.value = "sparsity", "1, 5, 10, 20"
    sw.run()
    qtbot.waitUntil(lambda: sw._worker is None, timeout=60000)
    viewer.reset_view()  # the default zoom: the whole montage in view
    qtbot.wait(50)
    pl = viewer.layers[LABELS_NAME]
    cam = getattr(viewer, "scene", viewer).camera
    tile_px = 80 * 0.032 * cam.zoom  # an 80 px tile on screen
    size = float(pl.text.size)
    assert size >= MIN_LABEL_PX
    for t in pl.features["label"]:  # each label inside its own tile: no collisions
        lines = t.split("\n")
        assert max(map(len, lines)) * CHAR_W * size <= tile_px
        assert len(lines) * LINE_H * size <= tile_px
    assert "residual" in pl.features["full"].iloc[0]  # full values + scores kept
    before = (size, list(pl.features["label"]))
    cam.zoom = cam.zoom * 4  # zoomed in: bigger or fuller labels
    qtbot.wait(50)
    after = (float(pl.text.size), list(pl.features["label"]))
    assert after != before and after[0] >= before[0]


@pytest.mark.slow
def test_use_tile_copies_every_sweepable_parameter(phantom_widget):
    from napari_sparsedecon.analysis.sweep import SWEEPABLE, SweepTile

    _, w, _, _ = phantom_widget
    values = {"fidelity": 77.0, "sparsity": 3.0, "continuity": 0.25, "iterations": 12,
              "deconv_iterations": 4}
    assert set(values) == set(SWEEPABLE)
    sw = w.sweep
    sw.tiles = [SweepTile(values, np.zeros((4, 4), np.float32))]
    sw.tile.choices = [("only", 0)]
    sw.tile.value = 0
    assert sw.use_tile() is sw.tiles[0]
    assert {k: getattr(w, k).value for k in values} == values
