"""The docks fit a 1366x768 laptop (at most 380 px wide, nothing reached by scrolling
sideways), say what went wrong beside the control that caused it and as a notification,
and their helper layers never take the active layer (nor its tool)."""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon._widgets.deconv import PREVIEW_NAME, SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
SCREEN = (1366, 768)
MOST = 380  # px


def _laptop(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    qtbot.wait(50)
    return viewer


def _dock_of(widget):
    from qtpy.QtWidgets import QDockWidget

    q = widget.native
    while q is not None and not isinstance(q, QDockWidget):
        q = q.parentWidget()
    return q


def _assert_fits(widget, qtbot):
    qtbot.wait(100)  # the layout settles
    assert widget.native.minimumSizeHint().width() <= MOST
    dw = _dock_of(widget)
    assert dw is not None and dw.width() <= MOST, dw.width()
    bar = widget.scroll_area.horizontalScrollBar()
    assert bar.maximum() == 0  # every control within the width: no sideways scrolling


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sparse_psf", "sparse", "rl", "rl_tv"])
def test_deconvolution_dock_is_at_most_380_px_wide(make_napari_viewer, qtbot, method):
    viewer = _laptop(make_napari_viewer, qtbot)
    layer = viewer.add_image(np.zeros((64, 64), np.float32),
                             name="a layer with a long name, as files often have.tif")
    w = dock(viewer, SparseDeconWidget(viewer, method=method), layer)
    for sec in w.sections.values():  # every section open: the widest dock
        sec.set_expanded(True)
    w.preset.value = w.preset.choices[1]  # a long preset label in the box
    w.model.set_method(method)
    _assert_fits(w, qtbot)


@pytest.mark.slow
def test_psf_dock_is_at_most_380_px_wide(make_napari_viewer, qtbot):
    viewer = _laptop(make_napari_viewer, qtbot)
    w = PSFWidget(viewer)
    viewer.window.add_dock_widget(w, name="PSF")
    for sec in w.body:
        sec.set_expanded(True)
    w.table.value = {"data": [[1, "accepted", 2.5, 2.5, 3.1, 0.98, 1200.0, "", ""]],
                     "index": ["1"], "columns": ["bead", "status", "fwhm y", "fwhm x",
                                                 "fwhm z", "r2", "amplitude", "reason",
                                                 "note"]}
    _assert_fits(w, qtbot)


def _gap(a, b):
    """Vertical distance in pixels between two widgets of one dock."""
    ya = a.native.mapTo(a.native.window(), a.native.rect().topLeft()).y()
    yb = b.native.mapTo(b.native.window(), b.native.rect().topLeft()).y()
    return abs(yb - ya)


@pytest.mark.slow
def test_why_the_preview_shows_nothing_is_said_under_its_box(make_napari_viewer, qtbot,
                                                              monkeypatch):
    viewer = _laptop(make_napari_viewer, qtbot)
    said = []
    monkeypatch.setattr("napari_sparsedecon._widgets._activity.show_warning", said.append)
    layer = viewer.add_image(np.random.default_rng(0).poisson(50, (64, 64)).astype(
        np.float32), name="cell")  # no pixel size: the airyscan preset cannot make its PSF
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    w.preset.value = "airyscan"
    w.preview.value = True
    qtbot.waitUntil(lambda: "preview:" in w.preview_info.value, timeout=5000)
    assert "pixel size" in w.preview_info.value and w.preview_info.native.isVisible()
    assert _gap(w.preview, w.preview_info) < 60  # right under the box, not far down
    assert len(said) == 1 and "pixel size" in said[0]
    w.fwhm.value = 120.0  # another change, the same reason: no second toast
    qtbot.wait(500)
    assert len(said) == 1


@pytest.mark.slow
def test_a_refused_value_is_said_under_the_parameters(make_napari_viewer, qtbot,
                                                      monkeypatch):
    viewer = _laptop(make_napari_viewer, qtbot)
    said = []
    monkeypatch.setattr("napari_sparsedecon._widgets._activity.show_error", said.append)
    layer = viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse_psf"), layer)
    w.resolution.value = "abc"
    assert "resolution" in w.params_info.value and "not a number" in w.params_info.value
    assert w.params_info.parent is not None and not w.params_info.native.isHidden()
    assert said and "not a number" in said[0]
    w.resolution.value = ""
    assert w.params_info.native.isHidden()


@pytest.mark.slow
def test_the_preview_layer_leaves_the_roi_layer_and_its_tool(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).poisson(50, (96, 96)).astype(
        np.float32), name="img", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="rl"), layer)
    w.iterations.value = 2
    roi = viewer.add_shapes([[[0.5, 0.5], [0.5, 2.0], [2.0, 2.0], [2.0, 0.5]]],
                            shape_type="rectangle", name="roi")
    roi.mode = "add_rectangle"  # the user is drawing rectangles
    viewer.layers.selection.active = roi
    w.preview.value = True
    qtbot.waitUntil(lambda: w.previews >= 1, timeout=30000)
    assert PREVIEW_NAME in viewer.layers
    assert viewer.layers.selection.active is roi and roi.mode == "add_rectangle"
