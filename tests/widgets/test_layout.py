"""The docks fit a 1366x768 laptop screen: they scroll instead of growing the window,
long messages wrap instead of widening the dock, and controls that do not apply are
hidden with a reason."""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
SCREEN = (1366, 768)


def _laptop_viewer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    win = viewer.window._qt_window
    win.resize(*SCREEN)
    qtbot.wait(50)
    return viewer, win


@pytest.mark.slow
def test_docks_fit_a_laptop_screen(make_napari_viewer, qtbot):
    viewer, win = _laptop_viewer(make_napari_viewer, qtbot)
    layer = viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse_psf"), layer)
    for sec in w.sections.values():  # all open, advanced too: the longest dock
        sec.set_expanded(True)
    viewer.window.add_dock_widget(PSFWidget(viewer), name="PSF")
    qtbot.wait(100)
    assert win.minimumSizeHint().height() <= SCREEN[1]
    assert win.height() <= SCREEN[1] and win.width() <= SCREEN[0]
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() >= SCREEN[0] // 3  # the image keeps most of the window


@pytest.mark.slow
def test_long_status_wraps_and_keeps_the_dock_width(make_napari_viewer, qtbot):
    viewer, win = _laptop_viewer(make_napari_viewer, qtbot)
    layer = viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    qtbot.wait(50)
    before = w.native.parent().width()
    w.status.value = "error: " + " ".join(["a-long-explanation"] * 120)
    w.psf_info.value = "x" * 400  # no spaces at all
    qtbot.wait(100)
    assert w.native.parent().width() <= before + 2
    assert win.width() <= SCREEN[0]


@pytest.mark.slow
def test_sections_collapse(make_napari_viewer):
    viewer = make_napari_viewer()
    w = SparseDeconWidget(viewer)
    sec = w.sections["Trust checks"]
    assert not sec.expanded and sec.body.native.isHidden()
    sec.header.changed.emit(True)  # a click on the header
    assert sec.expanded and not sec.body.native.isHidden()
    assert set(w.sections) == {"Method", "Image and PSF", "Parameters",
                               "Advanced (camera, background, ...)", "Preview, Suggest, files",
                               "Trust checks", "Run", "Memory and result store",
                               "More views (multi-view)", "Process files",
                               "Parameter sweep on the ROI"}


@pytest.mark.slow
def test_continuity_hidden_for_2d_with_reason(make_napari_viewer):
    viewer = make_napari_viewer()
    flat = viewer.add_image(np.zeros((32, 32), np.float32), name="flat")
    stack = viewer.add_image(np.zeros((3, 32, 32), np.float32), name="stack")
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), flat)
    assert w.continuity.native.isHidden() and w.axis.native.isHidden()
    assert "stacks" in w.dims_note.value and "'flat' is 2-D" in w.dims_note.value
    w.image.value = stack
    assert not w.continuity.native.isHidden() and not w.axis.native.isHidden()
    assert w.dims_note.value == ""
