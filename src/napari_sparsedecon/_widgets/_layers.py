"""Helpers shared by the widgets: length units, coordinate conversion, thread workers."""

from __future__ import annotations

import numpy as np


def layer_unit(layer) -> str | None:
    """The layer's length unit along its last axis ('micrometer', 'pixel', ...), or None."""
    units = getattr(layer, "units", None)
    return None if units is None else str(units[-1])


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


def start_worker(owner, gen, *, yielded, returned, errored, aborted, finished):
    """Run generator ``gen`` in a napari thread worker stored as ``owner._worker``.

    Connects the handlers, disables ``owner.run_button`` and enables
    ``owner.cancel_button`` (``finished`` should undo that), starts it and
    returns the worker.
    """
    from napari.qt.threading import thread_worker

    @thread_worker
    def work():
        return (yield from gen)

    worker = work()
    owner._worker = worker
    worker.yielded.connect(yielded)
    worker.returned.connect(returned)
    worker.errored.connect(errored)
    worker.aborted.connect(aborted)
    worker.finished.connect(finished)
    owner.run_button.enabled = False
    owner.cancel_button.enabled = True
    worker.start()
    return worker


def show_reused(viewer, name, data, scale, translate, **add_kw):
    """Show ``data`` in the image layer ``name``: updated in place when it exists (data,
    placement, contrast), else added with ``add_kw``. Returns the layer."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        layer.scale, layer.translate = scale, translate
        lo = float(data.min())
        layer.contrast_limits = (lo, float(max(data.max(), lo + 1e-6)))
        return layer
    return viewer.add_image(data, name=name, scale=scale, translate=translate, **add_kw)
