"""The sweep section of the deconvolution dock: one or two parameters of any method.

Thin: the dock model's sweep job (:func:`napari_sparsedecon.dock.jobs.sweep_job`:
:func:`~napari_sparsedecon.analysis.sweep.iter_sweep` on the preview window, with the
whole image's estimates) runs in a thread worker with the dock's parameters as the
base; the parameters offered are the method's sweepable ones (from its schema); the
montage is one image layer, fitted to the view when it appears (values and scores
written by a Points layer's text in a strip along the top of each tile); clicking a
tile, or choosing it in the list and pressing "Use tile", copies its values into the
widget.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, LineEdit, PushButton
from napari.utils.notifications import show_error, show_info

from ..analysis.sweep import SWEEPABLE, montage, parse_values, tile_at
from ._fit import button_row, show_whole
from ._layers import (
    EXPECTED,
    GlyphWarmer,
    place,
    show_progress,
    show_reused,
    start_worker,
    units_kw,
    wrap_label,
)

MONTAGE_NAME = "sparse sweep"
LABELS_NAME = "sparse sweep labels"


SCORE_NAMES = {"residual": "residual", "sparsity": "bright px"}
# what a montage label is written with: parameter names, values, scores, tile numbers
LABEL_CHARS = "".join(SWEEPABLE) + "".join(SCORE_NAMES.values()) + "0123456789.,%+-e#"


def _fmt_scores(scores: dict) -> str:
    """Scores, short: residual energy fraction, share of bright pixels (in %)."""
    out = []
    for k, v in scores.items():
        out.append(f"{SCORE_NAMES.get(k, k)} {100 * v:.1f}%" if k == "sparsity"
                   else f"{SCORE_NAMES.get(k, k)} {v:.3g}")
    return ", ".join(out)


class SweepPanel(Container):
    """Sweep one or two parameters on the ROI of the deconvolution dock."""

    def __init__(self, owner):
        super().__init__(labels=True)
        self._owner = owner
        self._viewer = owner._viewer
        self._worker = None
        self.tiles = []
        self.grid = {}
        self._geometry = None
        self._partial = []
        self._glyphs = GlyphWarmer()
        self._labels_due = False
        self._names = SWEEPABLE  # the method's sweepable parameters (method_changed)
        self._tile_choices = []
        # callable choices: napari re-reads a dock's choices (reset_choices) when layers
        # change, which would put static lists back to their first value
        self.param1 = ComboBox(label="sweep", choices=lambda _w: self._names, value="fidelity",
                               tooltip="first parameter: rows of the montage")
        self.values1 = LineEdit(label="values", value="50:400:4 log",
                                tooltip="a list '50, 100, 200' or a range start:stop:count "
                                        "with lin or log, e.g. '10:1000:5 log'")
        self.param2 = ComboBox(label="and", choices=lambda _w: ("none",) + tuple(self._names),
                               value="sparsity",
                               tooltip="second parameter (columns), or none")
        self.values2 = LineEdit(label="values ", value="1, 5, 10, 20")
        self.run_button = PushButton(text="Run sweep on ROI")
        self.cancel_button = PushButton(text="Cancel sweep", enabled=False)
        self.tile = ComboBox(label="tile", choices=lambda _w: self._tile_choices, nullable=True,
                             tooltip="a finished tile (or click it in the montage)")
        self.use_button = PushButton(text="Use tile", enabled=False,
                                     tooltip="copy the chosen tile's parameter values into "
                                             "the dock's controls")
        self.export_button = PushButton(text="Export sweep...", enabled=False)
        self.info = Label(label="sweep", value="")
        self.extend([self.param1, self.values1, self.param2, self.values2,
                     button_row(self.run_button, self.cancel_button),
                     self.info,  # right under the buttons: progress, errors, the best tile
                     self.tile, button_row(self.use_button, self.export_button)])
        self.margins = (0, 0, 0, 0)
        # long tile names and messages must not widen the dock over the canvas
        from qtpy.QtWidgets import QComboBox

        self.tile.native.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.tile.native.setMinimumContentsLength(24)
        wrap_label(self.info)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.use_button.changed.connect(self.use_tile)
        self.export_button.changed.connect(self._ask_export)
        self.param2.changed.connect(lambda *_: setattr(self.values2, "visible",
                                                       self.param2.value != "none"))
        # the labels' usual characters, rasterised while the panel sits idle
        self._glyphs.warm(self._viewer, LABEL_CHARS)

    # -- running -----------------------------------------------------------
    #: Starting values per parameter (the rest: around the current value).
    START = {"fidelity": "50:400:4 log", "sparsity": "1, 5, 10, 20",
             "strength": "0.001:0.05:4 log"}

    def method_changed(self):
        """Offer the new method's sweepable parameters (from its schema)."""
        from ..dock.jobs import sweepable

        names = sweepable(self._owner.model)
        if tuple(self._names) == tuple(names):
            return
        self._names = tuple(names)
        first = next((n for n in names if n in self.START), names[0] if names else None)
        second = next((n for n in names if n in self.START and n != first), "none")
        self.param1.reset_choices()
        self.param2.reset_choices()
        if first is not None:
            self.param1.value = first
            self.values1.value = self._start(first)
        self.param2.value = second
        if second != "none":
            self.values2.value = self._start(second)
        self.values2.visible = second != "none"

    def _start(self, name):
        if name in self.START:
            return self.START[name]
        v = self._owner.model.values.get(name)
        if isinstance(v, int):
            return ", ".join(str(max(1, int(v * f))) for f in (0.5, 1, 2))
        return ", ".join(f"{float(v or 1.0) * f:g}" for f in (0.5, 1, 2))

    def read_grid(self) -> dict:
        grid = {self.param1.value: parse_values(self.values1.value, self.param1.value)}
        if self.param2.value != "none":
            if self.param2.value == self.param1.value:
                raise ValueError("choose two different parameters, or 'none' for the second")
            grid[self.param2.value] = parse_values(self.values2.value, self.param2.value)
        return grid

    def run(self, *_):
        """Run every combination on the owner's ROI in a background worker."""
        from ..dock.jobs import sweep_job

        owner = self._owner
        try:
            grid = self.read_grid()
            layer = owner.sync()
            box = owner.roi(layer)
            job = sweep_job(owner.model, box, grid, **owner._where(layer))
        except EXPECTED as err:
            show_error(f"sweep: {err}")
            self.info.value = f"error: {err}"
            return None
        self.cancel()
        n = int(np.prod([len(v) for v in grid.values()]))
        self.grid, self.tiles, self._base = grid, [], dict(job.params)
        self._geometry = (layer, None, box[0], box[2], job.upsample)
        self._set_tiles([])
        self._partial = []
        self.info.value = f"0/{n} combinations"
        self._warm_label_glyphs(grid)
        data = layer.data
        return start_worker(self, lambda: job.build(data), plan={"sweep": n},
                            yielded=self._on_progress,
                            returned=self._on_done, errored=self._on_error,
                            aborted=lambda: setattr(self.info, "value", "cancelled"),
                            finished=self._on_finished,
                            activity=f"sweep of {', '.join(grid)} ({n} tiles)")

    def _set_tiles(self, choices):
        self._tile_choices = list(choices)
        self.tile.reset_choices()

    def _warm_label_glyphs(self, grid):
        """Have the glyphs of the montage's labels rasterised while the sweep runs (a
        glyph at a time between events), not all at the labels' first paint."""
        from ..analysis.sweep import SweepTile, combinations

        values = "".join(SweepTile(v, None).label()
                         for v in combinations(grid, self._owner.model.method_name))
        self._glyphs.warm(self._viewer, values + LABEL_CHARS)

    def cancel(self, *_):
        if self._worker is not None:
            self._worker.quit()

    def _frame(self, img):
        return img  # the job's tiles are the ROI at the plane shown

    def _on_error(self, err):
        show_error(f"sweep failed: {err}")
        self.info.value = f"error: {err}"

    def _on_progress(self, tick):
        p = tick.progress
        show_progress(self._owner.progress, tick.fraction, "%p%")
        text = f"{p.iteration}/{p.total} combinations"
        if self.info.value != text:  # a label's new text re-lays out the dock
            self.info.value = text
        if p.tile is not None:  # show results as they finish: fill the montage so far
            self._partial.append(p.tile.image)  # one Progress per finished combination
            self._show(self._partial, final=False)

    def _on_done(self, tiles):
        if not tiles:
            return
        self.tiles = tiles
        self._show([t.image for t in tiles], final=True)
        self._set_tiles([(f"#{i} {t.label()} ({_fmt_scores(t.scores)})", i)
                         for i, t in enumerate(tiles)])
        best = min(range(len(tiles)), key=lambda i: tiles[i].scores.get("residual", 0))
        self.tile.value = best
        self.use_button.enabled = self.export_button.enabled = True
        self.info.value = (f"{len(tiles)} tiles; lowest residual: {tiles[best].label()}; "
                           f"click a tile or pick it above")

    def _on_finished(self):
        self._worker = None
        self._partial = []
        self.run_button.enabled = True
        self.cancel_button.enabled = False

    # -- montage layer -----------------------------------------------------
    def _show(self, images, final):
        from ..analysis.roi import roi_geometry
        from ..analysis.sweep import SweepTile, combinations

        layer, frames, y0, x0, up = self._geometry
        combos = list(combinations(self.grid, self._owner.model.method_name))
        shape = self._frame(images[0]).shape
        tiles = [SweepTile(v, self._frame(im)) for v, im in zip(combos, images, strict=False)]
        blank = [SweepTile(v, np.zeros(shape, np.float32)) for v in combos[len(tiles):]]
        if final:
            for t, full in zip(tiles, self.tiles, strict=True):
                t.scores = full.scores
        img, labels = montage(tiles + blank, self.grid)
        scale, translate = roi_geometry(layer.scale, layer.translate, y0, x0, up)
        v = self._viewer
        units = units_kw(layer, 2)
        new = MONTAGE_NAME not in v.layers
        resized = not new and v.layers[MONTAGE_NAME].data.shape != img.shape
        ml = show_reused(v, MONTAGE_NAME, img, scale, translate, colormap="magma", **units)
        if new:
            ml.mouse_drag_callbacks.append(self._on_click)
        if new or resized:  # a new grid: the whole montage in view (the labels follow)
            show_whole(v, ml)
        ml.metadata["napari_sparsedecon"] = {"sweep": self.grid, "base": self._base,
                                             "method": self._owner.model.method_name}
        self._label_parts = ([lab for _, lab in labels],
                             [_fmt_scores(t.scores) if t.scores else "" for t in tiles + blank])
        self._tile_world = (np.asarray(shape[-2:], float) * np.asarray(scale[-2:], float))
        size, text = self._label_fit()
        full = [lab + ("\n" + sc.replace(", ", "\n") if sc else "")
                for lab, sc in zip(*self._label_parts, strict=True)]
        pts = np.array([[p[0] + 1, p[1] + 1] for p, _ in labels], dtype=float)
        self._labels_state = (pts, text, full, size, scale, translate, units)
        if LABELS_NAME in v.layers:
            self._put_labels()
        elif not self._labels_due:
            # a new labels layer: added on the next turn of the event loop, so that
            # napari's two layer adds (montage, labels) are two short stalls, not one
            from qtpy.QtCore import QTimer

            self._labels_due = True
            QTimer.singleShot(0, self._put_labels)
        v.layers.selection.active = ml

    def _put_labels(self):
        """Show the montage's labels (the latest :meth:`_show`) in the Points layer."""
        self._labels_due = False
        v = self._viewer
        pts, text, full, size, scale, translate, units = self._labels_state
        if LABELS_NAME in v.layers:
            pl = v.layers[LABELS_NAME]
            if not np.array_equal(pl.data, pts):
                pl.data = pts
            pl.features = {"label": text, "full": full}
            pl.text.size = size
            place(pl, scale, translate)
        elif MONTAGE_NAME in v.layers:
            text_kw = {"string": "{label}", "color": "white", "size": size,
                       "anchor": "lower_left"}  # the text hangs down from the tile's corner
            v.add_points(pts, name=LABELS_NAME, features={"label": text, "full": full},
                         text=text_kw, size=0.1, scale=scale, translate=translate,
                         face_color="transparent", border_color="transparent", **units)
            self._follow_zoom()
            v.layers.selection.active = v.layers[MONTAGE_NAME]

    # -- labels readable at any zoom -------------------------------------------
    def _camera(self):
        scene = getattr(self._viewer, "scene", None)  # napari >= 0.9
        return scene.camera if scene is not None else self._viewer.camera

    def _label_fit(self):
        """(font size, texts) of the labels at the current zoom (analysis.sweep.fit_labels)."""
        from ..analysis.sweep import fit_labels

        tile_px = self._tile_world * float(self._camera().zoom)
        return fit_labels(*self._label_parts, tile_px)

    def _follow_zoom(self):
        """Refit the labels whenever the view zooms (once per widget)."""
        if getattr(self, "_zoom_hooked", False):
            return
        ev = self._camera().events.zoom
        ev.connect(self._refit_labels)
        self.native.destroyed.connect(lambda *_: ev.disconnect(self._refit_labels))
        self._zoom_hooked = True

    def _refit_labels(self, *_):
        v = self._viewer
        if LABELS_NAME not in v.layers or not hasattr(self, "_label_parts"):
            return
        pl = v.layers[LABELS_NAME]
        size, text = self._label_fit()
        if list(pl.features["label"]) != text:
            pl.features = {"label": text, "full": list(pl.features["full"])}
        if float(np.asarray(pl.text.size)) != size:
            pl.text.size = size

    def _on_click(self, layer, event):
        if not self.tiles:
            return
        pos = layer.world_to_data(event.position)[-2:]
        i = tile_at(self.grid, self.tiles[0].image.shape[-2:], pos)
        if i is not None:
            self.tile.value = i
            self.use_tile()

    # -- tiles -> widget, export ---------------------------------------------
    def use_tile(self, *_):
        """Copy the chosen tile's values into the deconvolution widget's controls."""
        i = self.tile.value
        if i is None or not self.tiles:
            show_error("sweep: run a sweep and choose a tile first")
            return None
        t = self.tiles[i]
        self._owner.model.set_params(t.values)  # the model's event fills the controls
        self.info.value = f"using {t.label()}"
        show_info(f"sweep: parameters set to {t.label()}")
        return t

    def export(self, path):
        from ..analysis.sweep import export_sweep

        if not self.tiles:
            raise ValueError("run a sweep first")
        layer, _, _, _, up = self._geometry
        scale = [s / up for s in layer.scale[-2:]]
        tiles = [type(t)(t.values, self._frame(t.image), t.scores) for t in self.tiles]
        return export_sweep(path, tiles, self.grid, scale=scale, base=self._base)

    def _ask_export(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(None, "Export sweep", "sweep.tif",
                                              "TIFF + CSV (*.tif)")
        if path:
            try:
                tif, csv = self.export(path)
                show_info(f"sweep written to {tif} and {csv}")
            except (ValueError, OSError) as err:
                show_error(f"sweep: {err}")

