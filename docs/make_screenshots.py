"""Remake the user-guide screenshots from a real napari window.

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python docs/make_screenshots.py [dock psf]

Writes docs/images/*.png: every window at 1366x768, a laptop screen (the docks
scroll; sections not shown are collapsed). Name the groups to make (default: all).
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_sparsedecon._sample_data import phantom_sample
from napari_sparsedecon._widgets.deconv import SparseDeconWidget

OUT = Path(__file__).resolve().parent / "images"
SCREEN = (1366, 768)


def wait_for(cond, timeout=120.0):
    from napari_sparsedecon._widgets._stall_probe import wait_for as run_until

    run_until(cond, timeout)


def psf_screenshot():
    import math

    from napari_sparsedecon._widgets.psf import PSFWidget

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    rng = np.random.default_rng(0)
    sigma = 3.0 / (2 * math.sqrt(2 * math.log(2)))
    yy, xx = np.mgrid[:256, :256].astype(float)
    img = np.full((256, 256), 100.0)
    for y in range(24, 240, 36):
        for x in range(24, 240, 36):
            y0, x0 = y + rng.uniform(-3, 3), x + rng.uniform(-3, 3)
            amp = 30.0 if (y, x) == (96, 168) else 1.0
            img += amp * 4000 / (2 * np.pi * sigma**2) * np.exp(
                -((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * sigma**2))
    img = np.minimum(rng.poisson(img), 4095).astype(np.uint16)
    layer = viewer.add_image(img, name="beads", scale=(0.065, 0.065), units=("um", "um"))
    w = PSFWidget(viewer)
    viewer.window.add_dock_widget(w, name="PSF", area="right")
    w.beads.reset_choices()
    w.beads.value = layer
    w.saturation.value = 4095
    w.na.value, w.wavelength.value = 1.4, 520.0
    for sec in w.body:  # show the measurement and its result
        sec.set_expanded(sec.title != "Generate")
    worker = w.measure()
    wait_for(lambda: w.report is not None and w._worker is None)
    del worker
    viewer.layers.selection.active = layer
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "psf_widget.png"), canvas_only=False)
    viewer.close()


def sweep_screenshot():
    """The sweep section, its montage, and the trust-check layers of a run."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    (data, kw, _), _ = phantom_sample()
    layer = viewer.add_image(data, **kw)
    w = SparseDeconWidget(viewer, method="sparse")
    viewer.window.add_dock_widget(w, name="Deconvolution", area="right")
    w.image.reset_choices()
    w.image.value = layer
    viewer.add_shapes([np.array([[0.032 * 70, 0.032 * 70], [0.032 * 170, 0.032 * 170]])],
                      shape_type="rectangle", name="ROI", edge_color="yellow",
                      face_color="transparent", edge_width=0.02, units=("um", "um"))
    w.suggest()
    wait_for(lambda: w._suggest_worker is None)
    for title, sec in w.sections.items():
        sec.set_expanded(title in ("Run", "Parameter sweep on the ROI"))
    w.sweep.values1.value = "50:800:3 log"
    w.sweep.values2.value = "1, 5, 10"
    w.sweep.run()
    wait_for(lambda: w.sweep._worker is None and w.sweep.tiles)
    layer.visible = False
    viewer.layers["ROI"].visible = False  # the view is the dock's: fitted to the montage
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "sweep_montage.png"), canvas_only=False)
    for name in ("sparse sweep", "sparse sweep labels"):
        viewer.layers.remove(name)
    viewer.layers.remove("ROI")
    layer.visible = True
    for cb in (w.check_residual, w.check_frc, w.check_hallucination, w.check_convergence):
        cb.value = True
    for title, sec in w.sections.items():
        sec.set_expanded(title in ("Trust checks", "Run"))
    w.run()
    wait_for(lambda: w._worker is None)
    # the checks' extra layers come one per event-loop turn after the result
    wait_for(lambda: f"{layer.name} sparse residual" in viewer.layers)
    layer.visible = False
    viewer.layers[f"{layer.name} sparse"].visible = False
    viewer.layers[f"{layer.name} sparse residual"].visible = True
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "trust_residual.png"), canvas_only=False)
    viewer.close()


def dock_screenshots():
    """The one deconvolution dock: the default method (sparse_psf) previewing a ROI, then
    the whole-layer result."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    (data, kw, _), _ = phantom_sample()
    layer = viewer.add_image(data, **kw)
    w = SparseDeconWidget(viewer)
    viewer.window.add_dock_widget(w, name="Deconvolution", area="right")
    w.image.reset_choices()
    w.image.value = layer
    for title, sec in w.sections.items():
        sec.set_expanded(title in ("Method", "Image and PSF", "Parameters",
                                   "Preview, Suggest, files"))
    viewer.add_shapes([np.array([[0.032 * 60, 0.032 * 60], [0.032 * 188, 0.032 * 188]])],
                      shape_type="rectangle", name="ROI", edge_color="yellow",
                      face_color="transparent", edge_width=0.02, units=("um", "um"))
    viewer.layers.selection.active = layer
    w.preview.value = True
    wait_for(lambda: w.previews >= 1)
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "deconv_dock_preview.png"), canvas_only=False)
    viewer.layers.remove("sparse preview")
    viewer.layers.remove("ROI")
    w.preview.value = False
    for title, sec in w.sections.items():
        sec.set_expanded(title in ("Method", "Parameters", "Run"))
    w.run()
    wait_for(lambda: w._worker is None)
    layer.visible = False
    viewer.reset_view()
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "deconv_dock_result.png"), canvas_only=False)
    viewer.close()
    stack_screenshot()


def stack_screenshot():
    """A z-stack: a FWHM with an axial FWHM gives a 3-D PSF ("PSF used" says so), and the
    preview solves the planes that PSF needs around the plane shown."""
    from scipy.ndimage import gaussian_filter

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)
    rng = np.random.default_rng(0)
    x = np.zeros((20, 128, 128), np.float32)
    x[10, 40:44, 20:110] = 3000
    x[7, 80, 80] = 20000
    x[13, 60:90, 60] = 3000
    img = rng.poisson(gaussian_filter(x, (2.5, 1.5, 1.5)) + 20).astype(np.float32)
    layer = viewer.add_image(img, name="stack", scale=(0.2, 0.05, 0.05), units=("um",) * 3)
    w = SparseDeconWidget(viewer)
    viewer.window.add_dock_widget(w, name="Deconvolution", area="right")
    w.image.reset_choices()
    w.image.value = layer
    for title, sec in w.sections.items():
        sec.set_expanded(title in ("Image and PSF", "Parameters", "Preview, Suggest, files"))
    w.fwhm.value, w.axial_fwhm.value, w.iterations.value = 150.0, 600.0, 20
    viewer.add_shapes([np.array([[1.0, 0.5], [5.0, 6.0]])], shape_type="rectangle",
                      name="ROI", edge_color="yellow", face_color="transparent",
                      edge_width=0.02, units=("um", "um"))
    viewer.dims.set_point(0, 2.0)
    w.preview.value = True
    wait_for(lambda: w.previews >= 1)
    QApplication.processEvents()
    viewer.screenshot(str(OUT / "deconv_dock_stack.png"), canvas_only=False)
    viewer.close()


GROUPS = {"dock": dock_screenshots, "psf": psf_screenshot, "sweep": sweep_screenshot}


def main(names=()):
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or GROUPS:
        GROUPS[name]()
    print("wrote", sorted(p.name for p in OUT.glob("*.png")))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
