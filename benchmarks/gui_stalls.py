"""Longest event-loop stall per GUI action, measured with a 20 ms QTimer probe.

    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_stalls.py
    ... gui_stalls.py --no-big      # skip the 2048x2048 actions

For each action: the longest gap between timer ticks while the work runs (target
< 100 ms), apart from the gap while napari adds the new layer (napari's own layer
controls, vispy visual and first paint; once per result), and the wall time.
Figures depend on the machine's load; nothing here is a unit test.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import napari
import numpy as np

from napari_sparsedecon._widgets._layers import prewarm_imports
from napari_sparsedecon._widgets._stall_probe import StallProbe, timed, wait_for
from napari_sparsedecon._widgets.deconv import SparseDeconWidget
from napari_sparsedecon._widgets.psf import PSFWidget
from napari_sparsedecon.core.phantom import make_phantom

ROWS = []


def measure(name, start, done, hooks=()):
    """Run ``start()``, pump events until ``done()``; record the stalls."""
    spans = []
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in hooks]
    for obj, attr, fn in saved:
        setattr(obj, attr, timed(spans, fn))
    t0 = time.perf_counter()
    with StallProbe() as probe:
        start()
        wait_for(done, timeout=900)
        pump(0.15)  # the first paint of what was added
    for obj, attr, fn in saved:
        setattr(obj, attr, fn)
    working, adding = probe.longest_ms_apart(spans)
    wall = time.perf_counter() - t0
    ROWS.append((name, working, adding, wall))
    def ms(v):  # the probe records gaps over two timer intervals (40 ms) only
        return f"{v:5.0f} ms" if v else "<40 ms"

    print(f"{name:<38} {ms(working):>11} {ms(adding):>13} {wall:8.1f} s", flush=True)


def pump(seconds):
    t = time.perf_counter()
    wait_for(lambda: time.perf_counter() - t >= seconds)


def beads_image():
    rng = np.random.default_rng(0)
    sigma = 3.0 / (2 * math.sqrt(2 * math.log(2)))
    yy, xx = np.mgrid[:256, :256].astype(float)
    img = np.full((256, 256), 100.0)
    for y in range(24, 240, 36):
        for x in range(24, 240, 36):
            img += 4000 / (2 * np.pi * sigma**2) * np.exp(
                -((yy - y - rng.uniform(-1, 1)) ** 2 + (xx - x - rng.uniform(-1, 1)) ** 2)
                / (2 * sigma**2))
    return rng.poisson(img).astype(np.uint16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-big", action="store_true", help="skip the 2048x2048 actions")
    args = ap.parse_args(argv)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    ph = make_phantom((256, 256), photons=400, seed=1)
    layer = viewer.add_image(ph.noisy.astype(np.float32), name="ph", scale=(0.032, 0.032),
                             units=("um", "um"))
    w = SparseDeconWidget(viewer)
    viewer.window.add_dock_widget(w, name="Sparse deconvolution")
    w.image.reset_choices()
    w.image.value = layer
    pw = PSFWidget(viewer)
    viewer.window.add_dock_widget(pw, name="PSF")
    prewarm_imports().join()  # the session's one-time imports, started as the docks open
    pump(0.5)
    print(f"{'action':<38} {'working':>11} {'adding layer':>13} {'wall':>10}")
    run_hooks = [(w, "_on_result")]
    measure("whole-layer run 256x256", w.run, lambda: w._worker is None, hooks=run_hooks)
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gui_stalls_result.tif")
    if os.path.exists(out):
        os.remove(out)
    measure("save result 256x256 (TIFF)", lambda: w.save_result(out, overwrite=True),
            lambda: w._save_worker is None)
    for cb in (w.check_residual, w.check_frc, w.check_hallucination):
        cb.value = True
    measure("run + trust checks 256x256", w.run, lambda: w._worker is None,
            hooks=run_hooks + [(w, "_show_report")])
    for cb in (w.check_residual, w.check_frc, w.check_hallucination):
        cb.value = False
    w.preview.value = True
    wait_for(lambda: "sparse preview" in viewer.layers, 300)
    measure("preview re-run (256 ROI)", lambda: setattr(w.sparsity, "value", 8.0),
            lambda: w._preview_worker is None and not w._debounce.isActive())
    w.preview.value = False
    sw = w.sweep
    sw.values1.value, sw.values2.value = "50, 200", "1, 10"
    w.iterations.value, w.deconv_iterations.value = 40, 10
    measure("sweep 2x2 on the ROI", sw.run, lambda: sw._worker is None,
            hooks=[(sw, "_on_progress"), (sw, "_on_done"), (sw, "_put_labels")])
    for model, dims in (("Confocal", "2-D"), ("Gibson-Lanni (index mismatch)", "3-D")):
        pw.model.value, pw.dims.value = model, dims
        measure(f"PSF generation {model.split()[0]} {dims}", pw.generate,
                lambda: pw._worker is None, hooks=[(pw, "_show_generated")])
    beads = viewer.add_image(beads_image(), name="beads", scale=(0.065, 0.065),
                             units=("um", "um"))
    pw.beads.reset_choices()
    pw.beads.value = beads
    measure("bead measurement 256x256", pw.measure, lambda: pw._worker is None,
            hooks=[(pw, "_show_report")])
    measure("suggest from ROI 256x256", w.suggest, lambda: w._suggest_worker is None)
    if not args.no_big:
        big = make_phantom((2048, 2048), photons=400, seed=2).noisy.astype(np.float32)
        bl = viewer.add_image(big, name="big", scale=(0.032, 0.032), units=("um", "um"))
        w.image.reset_choices()
        w.image.value = bl
        w.iterations.value, w.deconv_iterations.value = 20, 5
        measure("whole-layer run 2048x2048 (20+5 it.)", w.run, lambda: w._worker is None,
                hooks=run_hooks)
        measure("save result 2048x2048 (TIFF)", lambda: w.save_result(out, overwrite=True),
                lambda: w._save_worker is None)
        w.memory_budget.value = 256  # over budget: tiled into a temporary OME-Zarr store
        measure("tiled run 2048x2048 (256 MiB budget)", w.run, lambda: w._worker is None,
                hooks=[(w, "_on_stored")])
        w.memory_budget.value = 0
    if os.path.exists(out):
        os.remove(out)
    worst = max(r[1] for r in ROWS)
    print(f"worst stall while working: {worst:.0f} ms (target 100 ms); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    viewer.close()


if __name__ == "__main__":
    main()
