"""One-time warm-ups off the GUI thread: the imports a first run needs, napari's numba
shape code, the canvas font's glyphs (so a first paint does not stall)."""


from __future__ import annotations

import numpy as np

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
