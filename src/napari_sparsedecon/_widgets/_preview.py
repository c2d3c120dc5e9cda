"""The ROI, the live preview and Suggest of the deconvolution dock.

The ROI is the last rectangle of a Shapes layer (or 256x256 around the view centre).
The preview re-runs (debounced) after a parameter or PSF change, when a rectangle is
drawn, moved or resized, and when the z/t slider moves; on a stack it solves the planes
the PSF needs around the plane shown (the model's window, said in the preview's line).
Every preview, sweep and Suggest runs in a worker with the whole image's estimates,
made once per image and cached by the model.
"""

from __future__ import annotations

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info

from ..analysis.roi import centered_box, clamp_box, roi_geometry
from ._activity import tell
from ._layers import (
    EXPECTED,
    add_helper,
    call_in_worker,
    show_reused,
    start_worker,
    to_pixels,
    units_kw,
)

PREVIEW_SIZE = 256
PREVIEW_NAME = "sparse preview"


class PreviewMixin:
    """ROI, preview and Suggest (needs ``self.model``, ``self._viewer``, ``self.sync``)."""

    def _hook_viewer(self):
        """Follow the z/t slider and every Shapes layer's rectangles (drawn, moved,
        resized, removed); unhooked when the dock goes."""
        viewer = self._viewer
        on_slice, on_insert, on_shape = (self._slice_changed, self._layer_inserted,
                                         self._schedule_preview)
        dims_event = viewer.dims.events.current_step
        dims_event.connect(on_slice)
        layers = viewer.layers.events
        layers.inserted.connect(on_insert)
        for ly in viewer.layers:
            self._hook_shapes(ly)

        def unhook(*_):  # only the captured references: the dock is going
            dims_event.disconnect(on_slice)
            layers.inserted.disconnect(on_insert)
            for ly in list(viewer.layers):
                if isinstance(ly, napari.layers.Shapes):
                    ly.events.data.disconnect(on_shape)

        self.native.destroyed.connect(unhook)

    def _layer_inserted(self, event):
        self._hook_shapes(event.value)
        if isinstance(event.value, napari.layers.Shapes):
            self._schedule_preview()

    def _hook_shapes(self, layer):
        if isinstance(layer, napari.layers.Shapes):
            layer.events.data.connect(self._schedule_preview)

    def _schedule_preview(self, *_):
        if self.preview.value:
            self._debounce.start()

    def _preview_toggled(self, *_):
        """On: preview now; off: stop it and remove its layer."""
        if self.preview.value:
            self._debounce.start()
            return
        self._debounce.stop()
        if self._preview_worker is not None:
            self._preview_worker.quit()
            self._preview_worker = None
        if PREVIEW_NAME in self._viewer.layers:
            self._viewer.layers.remove(PREVIEW_NAME)

    def _slice_changed(self, *_):
        """The preview follows the plane (z or t) of a stack and the time point."""
        layer = self.image.value
        if layer is not None and layer.ndim >= 3:
            self._schedule_preview()

    # -- where ---------------------------------------------------------------
    def roi(self, layer):
        """(y0, y1, x0, x1) of the preview region in layer pixels."""
        data_shape = layer.data.shape
        for shp in reversed(self._viewer.layers):
            if isinstance(shp, napari.layers.Shapes) and len(shp.data):
                verts = np.asarray(shp.data[-1])[:, -2:]
                pix = to_pixels(verts, shp, layer)
                return clamp_box(pix.min(axis=0), pix.max(axis=0), data_shape)
        scene = getattr(self._viewer, "scene", None)  # napari >= 0.9
        camera = scene.camera if scene is not None else self._viewer.camera
        centre = np.asarray(camera.center[-2:])
        pix = (centre - np.asarray(layer.translate[-2:])) / np.asarray(layer.scale[-2:])
        return centered_box(pix, (PREVIEW_SIZE, PREVIEW_SIZE), data_shape)

    def _index(self, layer, axis: int) -> int:
        """The layer's index along ``axis`` (negative) at the viewer's position."""
        d = self._viewer.dims
        point = d.point[axis] if d.ndim >= -axis else 0.0
        return int(np.clip(round((point - layer.translate[axis]) / layer.scale[axis]), 0,
                           layer.data.shape[axis] - 1))

    def current_frame(self, layer) -> int | None:
        """The plane (z, or t of a (T, Y, X) layer) the viewer shows, None for 2-D."""
        return self._index(layer, -3) if layer.ndim >= 3 else None

    def current_time(self, layer) -> int | None:
        """The time point of a (T, Z, Y, X) layer the viewer shows, else None."""
        return self._index(layer, -4) if layer.ndim == 4 else None

    def _where(self, layer) -> dict:
        return {"plane": self.current_frame(layer), "time": self.current_time(layer),
                "token": id(layer.data)}

    # -- preview -------------------------------------------------------------
    def run_preview(self, *_):
        """Run the current method and parameters on the ROI in a worker (which reads
        the data too); show it in one reused layer."""
        from ..dock.jobs import preview_job

        layer = self.image.value
        if layer is None or not self.preview.value:
            return None
        if self._preview_worker is not None:
            self._preview_worker.quit()
        try:
            layer = self.sync()
            box = self.roi(layer)
            job = preview_job(self.model, box, **self._where(layer))
        except EXPECTED as err:
            self._preview_failed(err)
            return None
        data = layer.data

        def done(out):
            if worker is not self._preview_worker or not self.preview.value:
                return  # stale, or preview switched off meanwhile
            scale, translate = roi_geometry(layer.scale, layer.translate, box[0], box[2],
                                            job.upsample)
            # a helper layer: the ROI's Shapes layer stays active, with its tool
            add_helper(self._viewer, lambda: show_reused(
                self._viewer, PREVIEW_NAME, out, scale, translate, colormap="magma",
                blending="translucent_no_depth", **units_kw(layer, 2)))
            self.preview_info.value = f"preview of {job.method}: {job.info.get('window', '')}"
            self.status.value = "preview updated"
            self.previews += 1

        def finished():
            if self._preview_worker is worker:
                self._preview_worker = None

        worker = start_worker(self, lambda: job.build(data), attr="_preview_worker",
                              buttons=False, yielded=lambda _t: None, returned=done,
                              errored=self._preview_failed,
                              aborted=lambda: None, finished=finished)
        return worker

    def _preview_failed(self, err):
        """Why the preview shows nothing: under the "live preview" box (where the eye is
        after ticking it) and as a notification, once per new reason."""
        tell(self.preview_info, f"preview: {err}", level="warning", prefix=self.method_name)

    # -- suggestion ----------------------------------------------------------
    def suggest(self, *_):
        """Fill the parameters the method can estimate (the paper pipeline: fidelity,
        sparsity, iterations and background from the ROI's noise; the photon methods:
        the camera model fitted over the image). Measured in a worker; the controls are
        filled when it returns. Returns the worker (None on an error found before)."""
        from ..core.sparse_hessian import run as drive
        from ..dock.jobs import suggest_job

        try:
            layer = self.sync()
            job = suggest_job(self.model, self.roi(layer), **self._where(layer))
        except EXPECTED as err:
            self._suggest_failed(err)
            return None
        data = layer.data
        self.suggest_info.value = "estimating..."
        self.suggest_button.enabled = False

        def finished():
            self._suggest_worker = None
            self.suggest_button.enabled = True

        self._suggest_worker = call_in_worker(lambda: drive(job.build(data)),
                                              returned=self._apply_suggestion,
                                              errored=self._suggest_failed,
                                              finished=finished)
        return self._suggest_worker

    def _suggest_failed(self, err):
        show_error(f"suggest: {err}")
        self.suggest_info.value = f"error: {err}"

    def _apply_suggestion(self, out):
        values, short, message = out
        self.model.set_params(values)
        self.suggestion = values
        self.suggest_info.value = short
        self.suggest_info.tooltip = message
        show_info(f"suggest: {message}")
