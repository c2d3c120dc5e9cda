"""Remake the user-guide screenshots from a real napari window.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

Writes docs/images/*.png.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_sparsedecon._sample_data import phantom_sample
from napari_sparsedecon._widgets.deconv import RLWidget, SparseDeconWidget

OUT = Path(__file__).resolve().parent / "images"


def wait_for(cond, timeout=60.0):
    import time

    t0 = time.time()
    while not cond():
        QApplication.processEvents()
        if time.time() - t0 > timeout:
            raise TimeoutError("screenshot script waited too long")
        time.sleep(0.02)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    (data, kw, _), (truth, tkw, _) = phantom_sample()
    layer = viewer.add_image(data, **kw)
    w = SparseDeconWidget(viewer)
    viewer.window.add_dock_widget(w, name="Sparse deconvolution", area="right")
    w.image.reset_choices()
    w.image.value = layer
    w.background.value = "low/2"
    viewer.add_shapes([np.array([[0.032 * 60, 0.032 * 60], [0.032 * 188, 0.032 * 188]])],
                      shape_type="rectangle", name="ROI", edge_color="yellow",
                      face_color="transparent", edge_width=0.02, units=("um", "um"))
    viewer.layers.selection.active = layer
    w.preview.value = True
    wait_for(lambda: "sparse preview" in viewer.layers)
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "sparse_widget_preview.png"), canvas_only=False)
    viewer.layers.remove("sparse preview")
    viewer.layers.remove("ROI")
    w.preview.value = False
    w.run()
    wait_for(lambda: w._worker is None)
    layer.visible = False
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "sparse_widget_result.png"), canvas_only=False)
    r = RLWidget(viewer)
    viewer.window.add_dock_widget(r, name="Richardson-Lucy", area="right")
    r.image.reset_choices()
    r.image.value = layer
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "rl_widget.png"), canvas_only=False)
    viewer.close()
    print("wrote", sorted(p.name for p in OUT.glob("*.png")))


if __name__ == "__main__":
    main()
