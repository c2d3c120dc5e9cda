"""Helpers shared by the widgets: length units, coordinate conversion, thread workers."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from ._warm import (  # noqa: F401 - the warm-ups, re-exported for the docks
    TEXT_METRIC_CHARS,
    WORKER_MODULES,
    GlyphWarmer,
    canvas_font,
    prewarm_imports,
    qt_viewer_of,
    warm_imports,
    warm_napari_shapes,
)


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


def start_worker(owner, job, *, plan=None, yielded, returned, errored, aborted, finished,
                 attr="_worker", buttons=True, activity=None):
    """Run ``job`` in a napari thread worker stored as ``owner.<attr>``.

    ``job`` is a generator of Progress records, or a function returning one; a function
    is called in the worker, so that reading lazy layer data and the library's eager
    checks happen there too. ``yielded`` receives throttled :class:`Tick` s (see
    :func:`ticks`); an expected error (ValueError, ...) goes to ``errored`` as the
    exception. Disables ``owner.run_button`` and enables ``owner.cancel_button``
    (``finished`` should undo that) when ``buttons``, starts the worker and returns it.
    ``activity`` (a short description): the job's progress also goes to a bar in
    napari's activity panel (``worker.activity``, :class:`._activity.Activity`), closed
    when the worker finishes, whether it returned, failed or was cancelled.
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
    worker.activity = None
    if activity:
        from ._activity import Activity

        bar = worker.activity = Activity(activity)
        worker.yielded.connect(lambda t: bar.update(
            t.fraction, f"{activity}: {getattr(t.progress, 'stage', '')}"))
        worker.returned.connect(lambda out: isinstance(out, Failed) or bar.update(1.0))
        worker.finished.connect(bar.close)
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
    its minimum height is small; its first width at most :data:`._fit.DOCK_WIDTH`. The
    controls are kept from widening the dock (:func:`._fit.narrow`).
    """
    from qtpy.QtCore import QEvent, QSize, Qt
    from qtpy.QtWidgets import QFrame, QScrollArea

    from ._fit import DOCK_WIDTH, narrow

    class _Scroll(QScrollArea):
        def minimumSizeHint(self):
            inner = self.widget().minimumSizeHint().width() if self.widget() else 0
            bar = self.verticalScrollBar().sizeHint().width()
            return QSize(inner + bar + 2 * self.frameWidth() + 2, 120)

        def sizeHint(self):  # the dock's first width: at most DOCK_WIDTH
            hint = super().sizeHint()
            least = self.minimumSizeHint().width()
            return QSize(max(least, min(hint.width(), DOCK_WIDTH)), hint.height())

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
    narrow(body)
    container.scroll_area = scroll
    return scroll
