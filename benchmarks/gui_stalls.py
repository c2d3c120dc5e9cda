"""Longest event-loop stall per GUI action, measured with a 20 ms QTimer probe.

    QT_API=pyqt6 xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/gui_stalls.py
    ... gui_stalls.py --no-big      # skip the 2048x2048 actions

For each action: the longest gap between timer ticks while the work runs (target
< 100 ms), apart from the gaps while napari adds a layer (``viewer.add_image`` /
``add_labels`` / ``add_points``: napari's layer controls, vispy visual and the first
paint: a gap that starts within 30 ms of the call's end counts as the add's), and the wall time.
The first rows time napari alone adding the same images from a script: the floor of
the "adding layer" column on this machine, whatever a plugin does.
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


ADD_CALLS = ("add_image", "add_labels", "add_points")
PAINT_MS = 30  # a gap starting this soon after an add call is that layer's first paint


def measure(name, start, done, viewer):
    """Run ``start()``, pump events until ``done()``; record the stalls, the gaps while
    napari adds a layer apart."""
    spans = []
    cls = type(viewer)  # (a pydantic model: its instances take no new attributes)
    saved = [(cls, attr, getattr(cls, attr)) for attr in ADD_CALLS]
    for obj, attr, fn in saved:
        setattr(obj, attr, timed(spans, fn))
    t0 = time.perf_counter()
    try:
        with StallProbe() as probe:
            start()
            wait_for(done, timeout=900)
            pump(0.15)  # the first paint of what was added
    finally:
        for obj, attr, _ in saved:
            delattr(obj, attr)  # the subclass's wrapper: the inherited method again
    spans = [(a, b + PAINT_MS / 1000) for a, b in spans]
    working, adding = probe.longest_ms_apart(spans)
    wall = time.perf_counter() - t0
    ROWS.append((name, working, adding, wall))

    def ms(v):  # the probe records gaps over two timer intervals (40 ms) only
        return f"{v:5.0f} ms" if v else "<40 ms"

    print(f"{name:<46} {ms(working):>9} {ms(adding):>13} {wall:6.1f} s", flush=True)


def pump(seconds):
    t = time.perf_counter()
    wait_for(lambda: time.perf_counter() - t >= seconds)


def beads_image(n=256):
    """Poisson image of Gaussian beads (FWHM 3 px) on a grid: 36 at 256x256."""
    rng = np.random.default_rng(0)
    sigma = 3.0 / (2 * math.sqrt(2 * math.log(2)))
    img = np.full((n, n), 100.0)
    yy, xx = np.mgrid[-12:13, -12:13].astype(float)
    step = 36 if n <= 256 else n // 8
    for y in range(24, n - 16, step):
        for x in range(24, n - 16, step):
            dy, dx = rng.uniform(-1, 1, 2)
            img[y - 12:y + 13, x - 12:x + 13] += 4000 / (2 * np.pi * sigma**2) * np.exp(
                -((yy - dy) ** 2 + (xx - dx) ** 2) / (2 * sigma**2))
    return rng.poisson(img).astype(np.uint16)


def napari_alone_updates(viewer, img):
    """napari alone redrawing a changed layer (what a preview or a sweep's partial
    montage costs) while a plain thread computes as a run does: the floor of the
    "working" column for those actions."""
    import threading

    import napari_sparsedecon as nsd

    montage = np.tile(img, (2, 2))
    lay = viewer.add_image(montage.copy(), name="napari alone", units=("um", "um"))
    pump(0.5)
    stop = threading.Event()

    def compute():
        while not stop.is_set():
            nsd.deconvolve(img, "sparse", psf_fwhm_px=3.0, iterations=20,
                           deconv_iterations=5, backend="numpy")

    state = {"n": 0, "next": 0.0}
    t = threading.Thread(target=compute, daemon=True)

    def start():
        t.start()
        state["next"] = time.perf_counter() + 0.3

    def done():  # four data updates 0.3 s apart, as a 2x2 sweep's partial montages
        if time.perf_counter() >= state["next"]:
            lay.data = montage * (1 + 0.1 * state["n"])
            state["n"] += 1
            state["next"] = time.perf_counter() + 0.3
        return state["n"] >= 4

    measure("napari alone: 4 data updates, 512x512 *", start, done, viewer)
    stop.set()
    t.join()
    viewer.layers.remove(lay)
    pump(0.3)


def sweep_labels_paint(viewer, w):
    """The first paint of a 4x4 sweep's labels (16 multi-line texts) on a Points layer
    that already exists, once the sweep panel's glyph warm-up is done: the draw alone
    (the figure tests/widgets/test_responsiveness.py bounded until issue 25; it now
    checks that the glyphs are cached before the paint)."""
    from napari_sparsedecon._widgets.sweep import _fmt_scores

    texts = []
    for fid in (50.0, 126.0, 317.0, 800.0):
        for sp in (1.0, 5.0, 10.0, 20.0):
            scores = _fmt_scores({"residual": 0.0123 * sp, "sparsity": 0.0042 * fid / 50})
            texts.append(f"fidelity {fid:g}\nsparsity {sp:g}\n" + scores.replace(", ", "\n"))
    pts = viewer.add_points(np.array([[2.0, 2.0]]), features={"label": [""]},
                            text={"string": "{label}", "color": "white", "size": 10},
                            size=0.1, face_color="transparent", border_color="transparent")
    warmer = w.sweep._glyphs
    wait_for(lambda: warmer.pending == 0, timeout=300)
    pump(0.3)
    grid = np.array([[8.0 + 32 * (i // 4), 2.0 + 32 * (i % 4)] for i in range(16)])

    def start():
        pts.data = grid
        pts.features = {"label": texts}

    measure("sweep labels' first paint (16 labels)", start, lambda: True, viewer)
    pump(0.3)
    viewer.layers.remove(pts)
    pump(0.3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-big", action="store_true", help="skip the 2048x2048 actions")
    args = ap.parse_args(argv)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    ph = make_phantom((256, 256), photons=400, seed=1)
    layer = viewer.add_image(ph.noisy.astype(np.float32), name="ph", scale=(0.032, 0.032),
                             units=("um", "um"))
    w = SparseDeconWidget(viewer, method="sparse")
    viewer.window.add_dock_widget(w, name="Deconvolution")
    w.image.reset_choices()
    w.image.value = layer
    pw = PSFWidget(viewer)
    viewer.window.add_dock_widget(pw, name="PSF")
    prewarm_imports().join()  # the session's one-time imports, started as the docks open
    pump(0.5)
    big = None if args.no_big else make_phantom((2048, 2048), photons=400,
                                                seed=2).noisy.astype(np.float32)
    print(f"{'action':<46} {'working':>9} {'adding layer':>13} {'wall':>8}")

    def napari_alone(img, label):
        added = []
        measure(f"napari alone: add_image {label}",
                lambda: added.append(viewer.add_image(img.copy(), name="napari alone",
                                                     units=("um", "um"))),
                lambda: bool(added), viewer)
        viewer.layers.remove(added[0])
        pump(0.3)

    napari_alone(ph.noisy.astype(np.float32), "256x256")
    if big is not None:
        napari_alone(big, "2048x2048")
    napari_alone_updates(viewer, ph.noisy.astype(np.float32))

    def run_actions(lay, size, beads):
        w.image.reset_choices()
        w.image.value = lay
        measure(f"whole-layer run {size}{' (20+5 it.)' if size != '256x256' else ''}",
                w.run, lambda: w._worker is None, viewer)
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gui_stalls_result.tif")
        measure(f"save result {size} (TIFF)", lambda: w.save_result(out, overwrite=True),
                lambda: w._save_worker is None, viewer)
        if os.path.exists(out):
            os.remove(out)
        for cb in (w.check_residual, w.check_frc, w.check_hallucination):
            cb.value = True  # (at 2048x2048 the checks take ~50 s here)
        measure(f"run + trust checks {size}", w.run, lambda: w._worker is None, viewer)
        for cb in (w.check_residual, w.check_frc, w.check_hallucination):
            cb.value = False
        w.preview.value = True
        wait_for(lambda: "sparse preview" in viewer.layers, 300)
        measure(f"preview re-run (ROI of {size})", lambda: setattr(
            w.sparsity, "value", 8.0 if w.sparsity.value != 8.0 else 9.0),
            lambda: w._preview_worker is None and not w._debounce.isActive(), viewer)
        w.preview.value = False
        sw = w.sweep
        sw.values1.value, sw.values2.value = "50, 200", "1, 10"
        it = (w.iterations.value, w.deconv_iterations.value)
        w.iterations.value, w.deconv_iterations.value = 40, 10
        measure(f"sweep 2x2 (ROI of {size})", sw.run, lambda: sw._worker is None, viewer)
        w.iterations.value, w.deconv_iterations.value = it
        measure(f"suggest from ROI ({size})", w.suggest, lambda: w._suggest_worker is None,
                viewer)
        bl = viewer.add_image(beads, name=f"beads {size}", scale=(0.065, 0.065),
                              units=("um", "um"))
        pw.beads.reset_choices()
        pw.beads.value = bl
        pump(0.3)
        measure(f"bead measurement {size}", pw.measure, lambda: pw._worker is None, viewer)
        pump(0.3)  # the bead markers come a turn later

    run_actions(layer, "256x256", beads_image(256))
    sweep_labels_paint(viewer, w)
    for model, dims in (("Confocal", "2-D"), ("Gibson-Lanni (index mismatch)", "3-D")):
        pw.model.value, pw.dims.value = model, dims
        measure(f"PSF generation {model.split()[0]} {dims}", pw.generate,
                lambda: pw._worker is None, viewer)
    if big is not None:
        bl = viewer.add_image(big, name="big", scale=(0.032, 0.032), units=("um", "um"))
        w.iterations.value, w.deconv_iterations.value = 20, 5
        run_actions(bl, "2048x2048", beads_image(2048))
        w.memory_budget.value = 256  # over budget: tiled into a temporary OME-Zarr store
        w.iterations.value, w.deconv_iterations.value = 20, 5  # (Suggest changed them)
        measure("tiled run 2048x2048 (20+5 it., 256 MiB budget)", w.run, lambda: w._worker is None,
                viewer)
        w.memory_budget.value = 0
    print("* while a thread computes (sparse, NumPy): what a preview or a sweep's partial "
          "montage redraw costs, whatever the plugin does")
    plugin = [r for r in ROWS if not r[0].startswith("napari alone")]
    worst = max(r[1] for r in plugin)
    floor = max(r[2] for r in ROWS if r[0].startswith("napari alone: add"))
    redraw = max(r[1] for r in ROWS if r[0].startswith("napari alone: 4"))
    print(f"worst stall while working: {worst:.0f} ms (target 100 ms; napari alone "
          f"redrawing a changed layer while a thread computes: {redraw:.0f} ms); worst while "
          f"napari adds a layer: {max(r[2] for r in plugin):.0f} ms (napari alone, same "
          f"machine: up to {floor:.0f} ms); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    viewer.close()


if __name__ == "__main__":
    main()
