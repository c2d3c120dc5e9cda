"""Helpers shared by the widgets: length units, coordinate conversion, thread workers."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np


def layer_unit(layer) -> str | None:
    """The layer's length unit along its last axis ('micrometer', 'pixel', ...), or None."""
    units = getattr(layer, "units", None)
    return None if units is None else str(units[-1])


def calibrate_from_source(layer) -> str | None:
    """Give an uncalibrated image layer the pixel sizes, units and axis names of the
    file it was read from (napari's own TIFF reader opens every TIFF at scale 1).

    Only a layer whose units are all 'pixel' and whose scale is all 1 is changed, and
    only when its file (``layer.source.path``) states a physical size for axes that
    match the layer's. Returns what was set, for a notification, or None.
    """
    import napari

    from ..io.axes import NGFF_UNIT, source_axes

    if not isinstance(layer, napari.layers.Image) or getattr(layer, "rgb", False):
        return None
    units = [str(u) for u in (getattr(layer, "units", None) or ())]
    if any(u != "pixel" for u in units) or not np.allclose(layer.scale, 1.0):
        return None
    ia = source_axes(layer)
    if ia is None or ia.ndim != layer.ndim:
        return None
    layer.scale = ia.scale_or_ones()
    layer.units = [NGFF_UNIT[u] if u else "pixel" for u in ia.units]
    layer.axis_labels = [a.lower() for a in ia.axes]
    px = ia.pixel_nm()
    what = f"pixel size {px[1]:g} nm" if px else "its scale"
    return f"'{layer.name}': {what} from the file's metadata"


_WATCHED: dict = {}


def watch_sources(viewer):
    """Calibrate (:func:`calibrate_from_source`) the viewer's image layers now and each
    one added later; once per viewer. Returns the messages for the layers changed now."""
    import weakref

    from napari.utils.notifications import show_info

    done = [m for m in map(calibrate_from_source, list(viewer.layers)) if m]
    for msg in done:
        show_info(msg)
    key = id(viewer)
    ref = _WATCHED.get(key)
    if ref is not None and ref() is viewer:
        return done

    def inserted(event):
        msg = calibrate_from_source(event.value)
        if msg:
            show_info(msg)

    viewer.layers.events.inserted.connect(inserted)
    _WATCHED[key] = weakref.ref(viewer)
    return done


def add_helper(viewer, add):
    """``add()`` adds a helper layer (bead markers, a residual, hallucination labels)
    and returns it; the layer that was active stays active, so the helper never takes
    the layer controls or the active tool (a labels layer's paint brush)."""
    before = viewer.layers.selection.active
    layer = add()
    if before is not None and before in viewer.layers and layer is not before:
        viewer.layers.selection.active = before
    return layer


def units_kw(layer, n: int | None = None) -> dict:
    """``{"units": ...}`` for a new layer placed like ``layer`` (its last ``n`` axes), or
    nothing when ``layer`` has no units."""
    units = getattr(layer, "units", None)
    if units is None:
        return {}
    return {"units": units if n is None else units[-n:]}


def to_pixels(coords, src_layer, dst_layer) -> np.ndarray:
    """Data coordinates of ``src_layer`` (last axes) -> pixel coordinates of ``dst_layer``."""
    c = np.asarray(coords, dtype=float)
    n = c.shape[-1]
    world = c * np.asarray(src_layer.scale[-n:]) + np.asarray(src_layer.translate[-n:])
    return (world - np.asarray(dst_layer.translate[-n:])) / np.asarray(dst_layer.scale[-n:])


PROGRESS_INTERVAL = 0.25  # seconds: at most 4 progress updates per second reach the GUI
EXPECTED = (ValueError, TypeError, RuntimeError, MemoryError, OSError)


class Failed:
    """An expected failure carried out of a worker as its return value (so that it is
    reported as a message, not as a traceback)."""

    def __init__(self, err):
        self.err = err

    def __str__(self):
        return str(self.err)


class Tick(NamedTuple):
    """What a worker yields to the GUI: the overall fraction done, a short text and the
    library's Progress record it was made from."""

    fraction: float
    text: str
    progress: object


_PENDING = {"steps": 0}


def one_per_turn(*steps, parent=None, delay_ms: int = 0) -> None:
    """Run ``steps`` (callables) one per event-loop turn, in order. napari builds each new
    layer's controls and visual on the GUI thread (~0.1-0.3 s here): two layer adds in
    one callback stall the window for both, one per turn lets it draw in between.

    ``parent`` (a QObject, e.g. the dock's ``native``): the steps die with it, so none
    runs after its widget is gone. :func:`pending_steps` counts those not run yet."""
    if not steps:
        return
    from qtpy.QtCore import QTimer

    timer = QTimer(parent)
    timer.setSingleShot(True)
    _PENDING["steps"] += len(steps)

    def run():
        _PENDING["steps"] -= len(steps)
        try:
            steps[0]()
        finally:
            one_per_turn(*steps[1:], parent=parent, delay_ms=delay_ms)
            if parent is not None:
                timer.deleteLater()

    if parent is None:  # kept alive by the closure until it fires
        run.timer = timer
    timer.timeout.connect(run)
    timer.start(delay_ms)


def pending_steps() -> int:
    """Steps queued by :func:`one_per_turn` that have not run yet."""
    return _PENDING["steps"]


def show_progress(bar, fraction: float, text: str = "") -> None:
    """Show a tick in a magicgui ProgressBar (0..1000) with its text *inside* the bar:
    one small repaint per tick. (A status label changed at every tick as well re-laid
    out the dock and doubled the repaint: ~50-80 ms per tick under software OpenGL,
    twice that with the cores busy.) ``text`` may use Qt's ``%p`` (the percentage)."""
    q = getattr(bar, "native", None)
    if q is not None and hasattr(q, "setFormat"):
        q.setFormat(text or "%p%")
    bar.value = int(round(1000 * min(max(fraction, 0.0), 1.0)))


def tick_format(tick) -> str:
    """A Tick's text for :func:`show_progress`: stage, iteration and the overall %."""
    p = tick.progress
    stage, it, total = (getattr(p, "stage", ""), getattr(p, "iteration", 0),
                        getattr(p, "total", 0))
    return f"{stage} {it}/{total} \u00b7 %p% overall" if total else "%p%"


def overall_fraction(plan: dict, stage: str, iteration: int, total: int) -> float | None:
    """Fraction of a whole job done, from ``plan`` (``{stage: weight}`` in run order) and
    the current stage's ``iteration`` of ``total``; None for a stage not in the plan."""
    if stage not in plan:
        return None
    names = list(plan)
    whole = float(sum(plan.values())) or 1.0
    before = sum(plan[n] for n in names[: names.index(stage)])
    part = plan[stage] * (min(iteration, total) / total if total > 0 else 1.0)
    return min((before + part) / whole, 1.0)


def ticks(gen, plan=None, *, interval=PROGRESS_INTERVAL, clock=time.monotonic):
    """Drive ``gen`` (a generator of Progress records) and yield :class:`Tick` s at most
    once per ``interval`` seconds, plus every record that carries an ``estimate`` or a
    sweep ``tile`` (those are results the GUI shows). Returns ``gen``'s result.

    ``plan`` (``{stage: weight}``) gives the overall fraction; without it, the record's
    ``fraction`` when it has one (a run over time points), else the stage's own fraction.
    Qt-free, so that the throttling is tested without a GUI.
    """
    last, frac = -float("inf"), 0.0
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        stage, it, total = (getattr(p, "stage", ""), getattr(p, "iteration", 0),
                            getattr(p, "total", 0))
        given = getattr(p, "fraction", None)  # the run's own overall fraction, if any
        f = overall_fraction(plan, stage, it, total) if plan else (
            given if given is not None else it / total if total else 0.0)
        frac = max(frac, f) if f is not None else frac
        now = clock()
        if (getattr(p, "estimate", None) is not None or getattr(p, "tile", None) is not None
                or now - last >= interval):
            last = now
            yield Tick(frac, f"{stage} {it}/{total} \u00b7 {100 * frac:.0f}% overall", p)


WORKER_MODULES = (  # what the first run, check, sweep or bead fit would import
    "pandas",  # napari, for the first layer with features (~1 s)
    "scipy.signal", "scipy.stats", "scipy.optimize", "scipy.interpolate",
    "napari_sparsedecon.analysis.trust", "napari_sparsedecon.analysis.sweep",
    "napari_sparsedecon.analysis.suggest", "napari_sparsedecon.analysis.beads",
    "napari_sparsedecon.psf.models", "napari_sparsedecon.largedata",
    # saving and tiled runs: tifffile alone, imported by a worker during a save, stalled
    # the window ~200 ms; the OME-Zarr stack (zarr, dask) ~1 s
    "tifffile", "napari_sparsedecon._napari_io", "napari_sparsedecon.io.tiff",
    "napari_sparsedecon.io.ome_zarr", "napari_sparsedecon.largedata.writer",
    "napari_sparsedecon.largedata.discovery", "zarr", "dask.array",
    # napari's numba shape code, compiled on first use (the ROI and bead boxes)
    "napari_sparsedecon._widgets._layers:warm_napari_shapes",
    # dask imports dask.distributed, when installed, at the first compute of a lazy layer
    # (~1 s of import): in a worker during a tiled run, or on the GUI thread when napari
    # first draws a lazy layer
    "distributed",
)


_WARMED = set()


def warm_napari_shapes():
    """Have napari compile its numba shape code now, off the GUI thread.

    With numba installed (the ``[all]`` extra), napari compiles its triangulation
    helpers the first time a Shapes layer is made and the first time a shape is added
    (cached on disk afterwards): the first ROI or bead box froze the window 20 s + 20 s
    on a loaded 2-core machine (benchmarks/first_shapes.py). A throw-away layer (a
    model, no Qt; never shown) with one shape of each kind the tools draw compiles it
    here instead. Without numba there is nothing to compile.
    """
    import importlib.util
    import logging

    if importlib.util.find_spec("numba") is None:
        return
    try:
        from napari.layers import Shapes

        layer = Shapes(ndim=2)
        box = np.array([[[0.0, 0.0], [8.0, 10.0]]])
        layer.add_rectangles(box)
        layer.add_ellipses(box)
        layer.add_polygons([np.array([[0.0, 0.0], [6.0, 9.0], [2.0, 7.0], [0.0, 5.0]])])
        layer.add_paths([np.array([[0.0, 0.0], [4.0, 5.0], [9.0, 1.0]])])
        layer.add_lines(box)
    except Exception as err:  # noqa: BLE001 - another napari: the first box compiles it
        logging.getLogger(__name__).debug("napari shapes warm-up skipped: %s", err)


def warm_imports():
    """Import, off the GUI thread, the modules a job or napari would otherwise import
    during an action (pandas for the first layer with features, scipy.signal/stats:
    ~2 s in all). A module's import holds the GIL and the import lock for up to
    ~0.25 s at a time: done during a run, that stalled the window. Each entry is tried
    once per session (every job calls this; after the first, it costs nothing)."""
    import importlib
    import importlib.util
    import logging

    for entry in WORKER_MODULES:
        if entry in _WARMED:
            continue
        _WARMED.add(entry)
        name, _, fn = entry.partition(":")
        try:
            if importlib.util.find_spec(name.split(".")[0]) is not None:
                mod = importlib.import_module(name)
                if fn:
                    getattr(mod, fn)()
        except (ImportError, Warning) as err:  # an optional dependency, or a warning made
            # an error (tests): the job that needs the module imports it and reports
            logging.getLogger(__name__).debug("warm-up of %s skipped: %s", entry, err)


_PREWARM = {}


def prewarm_imports():
    """Start :func:`warm_imports` once per session in a background thread, when a dock
    opens (before any action). Returns the thread; ``.join()`` waits for it."""
    import threading

    t = _PREWARM.get("thread")
    if t is None:
        t = threading.Thread(target=warm_imports, name="sparsedecon-imports", daemon=True)
        _PREWARM["thread"] = t
        t.start()
    return t


def start_worker(owner, job, *, plan=None, yielded, returned, errored, aborted, finished,
                 attr="_worker", buttons=True):
    """Run ``job`` in a napari thread worker stored as ``owner.<attr>``.

    ``job`` is a generator of Progress records, or a function returning one; a function
    is called in the worker, so that reading lazy layer data and the library's eager
    checks happen there too. ``yielded`` receives throttled :class:`Tick` s (see
    :func:`ticks`); an expected error (ValueError, ...) goes to ``errored`` as the
    exception. Disables ``owner.run_button`` and enables ``owner.cancel_button``
    (``finished`` should undo that) when ``buttons``, starts the worker and returns it.
    """
    from napari.qt.threading import thread_worker

    from ..ops.threads import threaded

    control = getattr(owner, "threads", None)
    n = int(getattr(control, "value", 0) or 0) or None  # 0: the default (all cores)

    @thread_worker
    def work():
        warm_imports()
        try:
            gen = job() if callable(job) else job
            return (yield from ticks(threaded(gen, n), plan))
        except EXPECTED as err:
            return Failed(err)

    worker = work()
    setattr(owner, attr, worker)
    worker.yielded.connect(yielded)
    worker.returned.connect(lambda out: errored(out.err) if isinstance(out, Failed)
                            else returned(out))
    worker.errored.connect(errored)
    worker.aborted.connect(aborted)
    worker.finished.connect(finished)
    if buttons:
        owner.run_button.enabled = False
        owner.cancel_button.enabled = True
    worker.start()
    return worker


def call_in_worker(fn, *, returned, errored, finished=None):
    """Run ``fn()`` in a napari thread worker; its result goes to ``returned`` and an
    expected error (ValueError, OSError, ...) to ``errored``. Returns the started worker."""
    from napari.qt.threading import thread_worker

    @thread_worker
    def work():
        warm_imports()
        try:
            return fn()
        except EXPECTED as err:
            return Failed(err)

    worker = work()
    worker.returned.connect(lambda out: errored(out.err) if isinstance(out, Failed)
                            else returned(out))
    worker.errored.connect(errored)
    if finished is not None:
        worker.finished.connect(finished)
    worker.start()
    return worker


def crop_of(data, frames, box):
    """The ROI ``box`` (y0, y1, x0, x1) of ``data`` (frames [a, b) for 3-D) as an array."""
    y0, y1, x0, x1 = box
    if frames is None:
        return np.asarray(data[y0:y1, x0:x1])
    return np.asarray(data[frames[1]:frames[2], y0:y1, x0:x1])


def place(layer, scale, translate):
    """Set a layer's scale and translate only where they change (each assignment makes
    napari recompute its dims and transforms: ~0.1 s on the GUI thread)."""
    if not np.allclose(layer.scale, scale):
        layer.scale = scale
    if not np.allclose(layer.translate, translate):
        layer.translate = translate


def show_reused(viewer, name, data, scale, translate, **add_kw):
    """Show ``data`` in the image layer ``name``: updated in place when it exists (data,
    placement, contrast), else added with ``add_kw``. Returns the layer."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        place(layer, scale, translate)
        lo = float(data.min())
        layer.contrast_limits = (lo, float(max(data.max(), lo + 1e-6)))
        return layer
    return viewer.add_image(data, name=name, scale=scale, translate=translate, **add_kw)


def qt_viewer_of(viewer):
    """The ``napari.qt.QtViewer`` showing ``viewer``, found among the application's
    widgets (napari's public Qt class; ``Window._qt_viewer`` is private), or None."""
    from napari.qt import QtViewer
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    for top in app.topLevelWidgets() if app is not None else ():
        found = [top] if isinstance(top, QtViewer) else top.findChildren(QtViewer)
        for qv in found:
            if qv.viewer is viewer:
                return qv
    return None


def canvas_font(viewer):
    """The texture font napari's canvas draws layer text with (points labels), or None
    where there is no canvas or napari draws text otherwise (``QtViewer.canvas``,
    its ``font_info()``, the font manager's ``get_font``: public names)."""
    try:
        info = qt_viewer_of(viewer).canvas.font_info()
        return info.font_manager.get_font(info.face, False, False)
    except Exception:  # noqa: BLE001 - another napari: no warm-up, nothing breaks
        return None


# vispy's text layout always reads these glyphs (line metrics) and the space
TEXT_METRIC_CHARS = "\u00c5\u00c9\u00d1\u0150jgpqy "


class GlyphWarmer:
    """Rasterise the glyphs of some text ahead of its first paint, one glyph per turn of
    the event loop.

    vispy renders a glyph (a signed-distance field of a 256 pt rendering) on the GUI
    thread the first time a text visual draws it: 10-40 ms each, so the first paint of
    a sweep's labels (~30 new glyphs) stalled the window 1-2 s. Loading them one at a
    time between other events keeps each step well under 100 ms; by the time the
    labels are drawn their glyphs are cached. The glyphs are drawing state (a texture
    atlas), so this stays on the GUI thread.
    """

    def __init__(self):
        self._todo, self._font, self._timer = [], None, None
        self._done = set()  # (font, character) already loaded through this warmer

    def warm(self, viewer, text: str):
        font = canvas_font(viewer)
        if font is None:
            return
        from qtpy.QtCore import QTimer

        if font is not self._font:
            self._done = set()
        new = [c for c in dict.fromkeys(TEXT_METRIC_CHARS + text)
               if c not in "\n\t\r" and c not in self._done and c not in self._todo]
        self._font = font
        self._todo.extend(new)
        if self._timer is None:
            self._timer = QTimer()
            self._timer.setInterval(0)
            self._timer.timeout.connect(self._step)
        if self._todo and not self._timer.isActive():
            self._timer.start()

    def _step(self):
        if not self._todo:
            self._timer.stop()
            return
        c = self._todo.pop(0)
        self._done.add(c)
        try:
            self._font[c]  # loads and caches the glyph (instant when already cached)
        except Exception:  # noqa: BLE001 - a glyph the font lacks: drawn as vispy would
            pass

    @property
    def pending(self) -> int:
        return len(self._todo)


# -- layout: scrolling docks, collapsible sections, wrapping labels -----------------
def wrap_label(label):
    """Let a magicgui Label wrap its text and never widen its dock (long errors, paths)."""
    from qtpy.QtWidgets import QSizePolicy

    q = label.native
    q.setWordWrap(True)
    q.setMinimumWidth(0)
    q.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def make_section(title, widgets, *, expanded=True, labels=True, tooltip=None):
    """A collapsible section: a header button that shows or hides a Container of
    ``widgets``. The returned Container has ``.header``, ``.body``, ``.expanded`` and
    ``.set_expanded(bool)``."""
    from magicgui.widgets import Container, PushButton

    header = PushButton(text=title, tooltip=tooltip or f"show or hide {title}")
    header.native.setStyleSheet("text-align: left; font-weight: bold; padding: 2px 6px;")
    body = Container(widgets=widgets, labels=labels)
    body.margins = (4, 0, 0, 4)
    sec = Container(widgets=[header, body], labels=False)
    sec.margins = (0, 0, 0, 0)
    sec.header, sec.body, sec.title = header, body, title

    def set_expanded(on: bool):
        sec.expanded = bool(on)
        body.native.setVisible(sec.expanded)
        header.text = ("\u25be " if sec.expanded else "\u25b8 ") + title

    sec.set_expanded = set_expanded
    header.changed.connect(lambda *_: set_expanded(not sec.expanded))
    set_expanded(expanded)
    return sec


def make_scrolling(container, body):
    """Show ``body`` (already a child of ``container``) inside a vertical scroll area, so
    that the dock can be shorter than its contents and never grows the main window.

    napari docks a magicgui widget's ``native``, which for magicgui's own
    ``scrollable=True`` is the inner widget (the scroll area is lost); so the scroll
    area is put inside ``container.native`` here. Its minimum width follows the
    contents' (as styled once docked, sections opened or closed) so nothing is clipped;
    its minimum height is small. Combo boxes are kept from widening the dock by long
    layer names.
    """
    from qtpy.QtCore import QEvent, QSize, Qt
    from qtpy.QtWidgets import QComboBox, QFrame, QScrollArea

    class _Scroll(QScrollArea):
        def minimumSizeHint(self):
            inner = self.widget().minimumSizeHint().width() if self.widget() else 0
            bar = self.verticalScrollBar().sizeHint().width()
            return QSize(inner + bar + 2 * self.frameWidth() + 2, 120)

        def eventFilter(self, obj, event):
            if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
                self.updateGeometry()  # a section opened or closed: new minimum width
            return super().eventFilter(obj, event)

    layout = container.native.layout()
    layout.removeWidget(body.native)
    scroll = _Scroll()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    scroll.setWidget(body.native)
    layout.addWidget(scroll)
    container.margins = (0, 0, 0, 0)
    for combo in body.native.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
    container.scroll_area = scroll
    return scroll
