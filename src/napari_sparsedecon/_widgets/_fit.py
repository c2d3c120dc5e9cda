"""Keeping a dock narrow enough for a 1366x768 laptop screen (at most :data:`DOCK_WIDTH`
pixels, the canvas keeps the rest): what widens a dock is fixed here once for every
dock, after its controls are made (and again when a method's controls are rebuilt).

- combo boxes size to :data:`COMBO_CHARS` characters and elide longer items (the popup
  shows them whole): a method title, a preset name or a layer name never widens it;
- spin boxes of wide ranges (-1e9..1e9) are sized for :data:`SPIN_WIDTH` pixels, not
  for the longest number of their range;
- file fields keep a short "..." button (the mode's text is its tooltip).

Long messages wrap instead (:func:`._layers.wrap_label`); rows of buttons are at most
two buttons wide in the docks.
"""

from __future__ import annotations

#: The widest a dock may be at 1366x768 (its first width and its minimum).
DOCK_WIDTH = 380
COMBO_CHARS = 10
SPIN_WIDTH = 96


def narrow(container) -> None:
    """Keep the controls under ``container`` (a magicgui Container) from widening their
    dock (see the module's text)."""
    from qtpy.QtWidgets import QAbstractSpinBox, QComboBox

    q = container.native
    for combo in q.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(COMBO_CHARS)
    for spin in q.findChildren(QAbstractSpinBox):
        spin.setMinimumWidth(min(spin.minimumSizeHint().width(), SPIN_WIDTH))
    _short_file_buttons(container)


def _short_file_buttons(container) -> None:
    from magicgui.widgets import Container, FileEdit

    def walk(c):
        for w in c:
            if isinstance(w, FileEdit):
                btn = w.choose_btn
                if btn.text != "...":
                    btn.tooltip = btn.text  # "Choose directory", "Select file", ...
                    btn.text = "..."
            elif isinstance(w, Container):
                walk(w)

    walk(container)


def button_row(*buttons):
    """Buttons side by side (two at most in a dock), without margins of their own."""
    from magicgui.widgets import Container

    row = Container(widgets=list(buttons), layout="horizontal", labels=False)
    row.margins = (0, 0, 0, 0)
    return row


def camera_of(viewer):
    scene = getattr(viewer, "scene", None)  # napari >= 0.9
    return scene.camera if scene is not None else viewer.camera


def world_box(layer):
    """(min y, min x), (max y, max x): the world rectangle a 2-D image layer covers
    (pixel edges, not centres; scale and translate, no rotation)."""
    import numpy as np

    shape = np.asarray(layer.data.shape[-2:], float)
    scale = np.asarray(layer.scale[-2:], float)
    lo = np.asarray(layer.translate[-2:], float) - scale / 2
    return lo, lo + shape * scale


def show_whole(viewer, layer, margin: float = 0.05) -> None:
    """Centre and zoom the camera on ``layer`` alone (a sweep montage, which starts at its
    ROI and runs past the image it came from): all of it in the canvas, ``margin``
    (a fraction of the canvas) left around it."""
    import numpy as np

    lo, hi = world_box(layer)
    cam = camera_of(viewer)
    canvas = np.asarray(viewer.canvas.size, float)[-2:]  # (height, width) in pixels
    cam.center = (*tuple(cam.center)[:-2], *((lo + hi) / 2))
    cam.zoom = float((1 - margin) * np.min(canvas / np.maximum(hi - lo, 1e-12)))
