"""The "More views (multi-view)" section of the deconvolution dock: other layers that
are views of the image's object (registered onto its grid, e.g. the two arms of a
dual-view light sheet), each with its PSF layer.

Thin: the choices go into the model (:meth:`~napari_sparsedecon.dock.DeconvModel.
set_views`); the run is the model's multi-view job (:func:`~napari_sparsedecon.dock.
jobs.views_job`, ``deconvolve([...], psf=[...])`` in a worker).
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import Container, Label, create_widget

from ._layers import wrap_label

#: Extra views the section offers (the image is view 1).
MORE_VIEWS = 2


class ViewsPanel(Container):
    """View 2, 3, ... layers and their PSF layers; ``choices()`` for the model."""

    def __init__(self):
        super().__init__(labels=True)
        self.rows = []
        for k in range(2, 2 + MORE_VIEWS):
            view = create_widget(annotation=napari.layers.Image, label=f"view {k}",
                                 options={"nullable": True})
            view.tooltip = ("a layer showing the image's object from another view, on the "
                            "image's grid (same shape and pixel size); empty: not used")
            psf = create_widget(annotation=napari.layers.Image, label=f"PSF {k}",
                                options={"nullable": True})
            psf.tooltip = f"the PSF of view {k}, at the image's pixel size"
            self.rows.append((view, psf))
            self.extend([view, psf])
        self.info = wrap_label(Label(value=(
            "The image above is view 1 with its PSF. With more views the run sums the data "
            "term over all of them (rl, rl_tv, sparse_psf, garl; NumPy; whole layers in "
            "memory; no trust checks). Preview, sweep and Suggest use view 1 alone.")))
        self.append(self.info)

    def choices(self) -> list:
        """The views set (a layer and its PSF layer each), as the model takes them; a view
        without its PSF is refused by the model with what to change."""
        from ..dock import ViewChoice

        out = []
        for view, psf in self.rows:
            layer, p = view.value, psf.value
            if layer is None:
                continue
            arr = None if p is None else np.asarray(p.data, dtype=np.float32)
            out.append(ViewChoice(layer.name, tuple(layer.data.shape), layer.data, arr,
                                  "" if p is None else p.name))
        return out
