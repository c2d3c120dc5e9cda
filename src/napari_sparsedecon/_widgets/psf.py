"""PSF dock widget: generate a PSF from the optics, or measure it from beads.

Thin: the numerics are ``psf.models`` and ``analysis.beads``.
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
    Table,
    create_widget,
)
from napari.utils.notifications import show_error, show_info, show_warning

from ..analysis.beads import measure_psf
from ..analysis.roi import NM_PER_UNIT
from ..psf import models as pm
from ._activity import tell
from ._layers import (
    add_helper,
    call_in_worker,
    layer_unit,
    make_scrolling,
    make_section,
    one_per_turn,
    prewarm_imports,
    to_pixels,
    watch_sources,
    wrap_label,
)

MODELS = ("Gaussian (FWHM)", "Born-Wolf (widefield)", "Gibson-Lanni (index mismatch)",
          "Confocal", "Effective NA (SIM, Airyscan)")
VECTORIAL = "Vectorial (psfmodels, optional)"


def _models():
    import importlib.util

    have = importlib.util.find_spec("psfmodels") is not None
    return (*MODELS, VECTORIAL) if have else MODELS


def _generated_psf(m, three, v) -> pm.GeneratedPSF:
    """Compute the PSF of model ``m`` with the control values ``v`` (in a worker)."""
    common = {"pixel_nm": v["pixel"]}
    if m.startswith("Gaussian"):
        return pm.gaussian_psf_nm(fwhm_lateral_nm=v["fwhm_lat"],
                                  fwhm_axial_nm=v["fwhm_ax"] if three else None,
                                  z_step_nm=v["z_step"] if three else None, **common)
    if m.startswith("Effective"):
        return pm.effective_na_psf(effective_na=v["eff_na"], wavelength_nm=v["wavelength"],
                                   **common)
    optics = {"na": v["na"], "z_step_nm": v["z_step"], "three_d": three, **common}
    if m.startswith("Born"):
        return pm.born_wolf_psf(wavelength_nm=v["wavelength"], n_immersion=v["n_imm"],
                                **optics)
    if m == VECTORIAL:
        return pm.vectorial_psf(wavelength_nm=v["wavelength"], n_immersion=v["n_imm"],
                                n_sample=v["n_sample"], depth_nm=v["depth"] * 1000.0, **optics)
    if m.startswith("Gibson"):
        return pm.gibson_lanni_psf(wavelength_nm=v["wavelength"], n_immersion=v["n_imm"],
                                   n_immersion_design=v["n_imm"], n_sample=v["n_sample"],
                                   depth_nm=v["depth"] * 1000.0, **optics)
    return pm.confocal_psf(excitation_nm=v["excitation"], emission_nm=v["wavelength"],
                           n_immersion=v["n_imm"], pinhole_au=v["pinhole"], **optics)


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=str))


class PSFWidget(Container):
    """Generate or measure a PSF; results are PSF image layers for the deconvolution widgets."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=False)
        self._viewer = napari_viewer
        self._worker = None
        self._save_worker = None
        prewarm_imports()  # once per session, off the GUI thread
        watch_sources(self._viewer)  # TIFFs napari opened at scale 1: the file's sizes
        self.report = None
        self.last_psf = None  # (data, scale in um, metadata) of the last generated/measured
        # -- generate
        self.model = ComboBox(label="model", choices=_models(), value=MODELS[1],
                              tooltip="the vectorial model appears when the optional "
                                      "psfmodels package (GPL-3) is installed")
        self.dims = ComboBox(label="dimensions", choices=["2-D", "3-D"], value="3-D")
        self.na = FloatSpinBox(label="NA", value=1.4, min=0.05, max=1.7, step=0.05,
                               tooltip="numerical aperture of the objective")
        self.eff_na = FloatSpinBox(label="effective NA", value=2.8, min=0.1, max=5.0,
                                   step=0.1, tooltip=pm.EFFECTIVE_NA_HINT)
        self.wavelength = FloatSpinBox(label="emission (nm)", value=520.0, min=200, max=2000)
        self.excitation = FloatSpinBox(label="excitation (nm)", value=488.0, min=200, max=2000)
        self.pinhole = FloatSpinBox(label="pinhole (AU)", value=1.0, min=0.0, max=10.0,
                                    step=0.1, tooltip="pinhole diameter in Airy units; 0 = "
                                                      "ideal point")
        self.n_imm = FloatSpinBox(label="immersion index", value=1.515, min=1.0, max=2.0,
                                  step=0.001)
        self.n_sample = FloatSpinBox(label="sample index", value=1.33, min=1.0, max=2.0,
                                     step=0.001)
        self.depth = FloatSpinBox(label="depth (um)", value=5.0, min=0.0, max=500.0,
                                  tooltip="depth of the focal plane below the coverslip")
        self.fwhm_lat = FloatSpinBox(label="lateral FWHM (nm)", value=250.0, min=1, max=5000)
        self.fwhm_ax = FloatSpinBox(label="axial FWHM (nm)", value=600.0, min=1, max=20000)
        self.pixel = FloatSpinBox(label="pixel size (nm)", value=65.0, min=1, max=20000,
                                  tooltip="lateral pixel size in the sample")
        self.z_step = FloatSpinBox(label="z-step (nm)", value=200.0, min=1, max=20000)
        self.pixel_from = create_widget(annotation=napari.layers.Image,
                                        label="pixel size from",
                                        options={"nullable": True,
                                                 "tooltip": "copy the pixel size (and z-step "
                                                            "of a 3-D layer) from an image"})
        self.generate_button = PushButton(text="Generate PSF")
        # -- measure
        self.beads = create_widget(annotation=napari.layers.Image, label="bead image",
                                   options={"nullable": True})
        self.points = create_widget(annotation=napari.layers.Points, label="bead points",
                                    options={"nullable": True,
                                             "tooltip": "optional: beads picked by hand"})
        self.saturation = FloatSpinBox(label="saturation", value=0.0, min=0.0, max=1e9,
                                       tooltip="camera saturation level; 0 = the integer "
                                               "type's maximum")
        self.bead_nm = FloatSpinBox(label="bead diameter (nm)", value=0.0, min=0.0,
                                    max=5000.0, tooltip="> 0 corrects for the bead size")
        self.box = SpinBox(label="box (px)", value=0, min=0, max=201,
                           tooltip="box around each bead; 0 = automatic")
        self.measure_button = PushButton(text="Measure PSF from beads")
        self.save_psf_button = PushButton(text="Save PSF (TIFF)...", enabled=False)
        self.save_report_button = PushButton(text="Save report (CSV/JSON)...", enabled=False)
        self.status = wrap_label(Label(label="status", value=""))
        self.table = Table(value={"data": [], "index": [], "columns": []})
        self.body = Container(labels=False)
        self.body.extend([
            make_section("Generate", [self.model, self.dims, self.na, self.eff_na,
                                      self.wavelength, self.excitation, self.pinhole,
                                      self.n_imm, self.n_sample, self.depth, self.fwhm_lat,
                                      self.fwhm_ax, self.pixel_from, self.pixel, self.z_step,
                                      self.generate_button]),
            make_section("Measure from beads", [self.beads, self.points, self.saturation,
                                                self.bead_nm, self.box, self.measure_button],
                         expanded=False),
            make_section("Result", [self.status, self.save_psf_button,
                                    self.save_report_button, self.table]),
        ])
        self.append(self.body)
        make_scrolling(self, self.body)
        self.table.native.setMinimumHeight(120)
        self.pixel_from.changed.connect(self._pixel_from_changed)
        self.model.changed.connect(self._model_changed)
        self.dims.changed.connect(self._model_changed)
        self.generate_button.changed.connect(self.generate)
        self.measure_button.changed.connect(self.measure)
        self.save_psf_button.changed.connect(self._ask_save_psf)
        self.save_report_button.changed.connect(self._ask_save_report)
        self._model_changed()

    def _model_changed(self, *_):
        m = self.model.value
        three = self.dims.value == "3-D"
        gauss, eff = m.startswith("Gaussian"), m.startswith("Effective")
        self.na.visible = not (gauss or eff)
        self.eff_na.visible = eff
        self.wavelength.visible = not gauss
        self.excitation.visible = self.pinhole.visible = m == "Confocal"
        self.n_imm.visible = not (gauss or eff)
        self.n_sample.visible = self.depth.visible = m.startswith(("Gibson", "Vectorial"))
        self.fwhm_lat.visible = gauss
        self.fwhm_ax.visible = gauss and three
        self.z_step.visible = three and not eff
        if eff:
            self.dims.value = "2-D"

    # -- generate ----------------------------------------------------------
    def _pixel_from_changed(self, *_):
        """Offer the chosen layer's pixel size (and z-step for 3-D) in nm."""
        from .deconv import layer_pixel_nm

        layer = self.pixel_from.value
        if layer is None:
            return
        px = layer_pixel_nm(layer)
        if px is None:
            tell(self.status, f"'{layer.name}' has no physical pixel size (its scale is in "
                              f"pixels); enter it by hand", level="warning", prefix="PSF")
            return
        self.pixel.value = px
        units = getattr(layer, "units", None)
        if layer.ndim == 3 and units is not None:
            f = NM_PER_UNIT.get(str(units[0]).lower())
            if f:
                self.z_step.value = float(layer.scale[0]) * f
        self.status.value = f"pixel size {px:g} nm from '{layer.name}'"

    def generate(self, *_):
        """Compute the PSF in a thread worker; it becomes a layer (a 3-D one shown at its
        focal plane). Returns the worker, or None when the optics are refused."""
        try:
            make = self._generator_call()
        except (ValueError, TypeError) as err:
            return self._on_generate_error(err)
        self.status.value = "generating..."
        self.generate_button.enabled = False

        def finished():
            self._worker = None
            self.generate_button.enabled = True

        self._worker = call_in_worker(make, returned=self._show_generated,
                                      errored=self._on_generate_error, finished=finished)
        return self._worker

    def _generator_call(self):
        """Read the controls here (GUI thread); the returned call computes in a worker."""
        m, three = self.model.value, self.dims.value == "3-D"
        values = {k: getattr(self, k).value for k in (
            "fwhm_lat", "fwhm_ax", "z_step", "pixel", "eff_na", "wavelength", "na", "n_imm",
            "n_sample", "depth", "excitation", "pinhole")}
        return lambda: _generated_psf(m, three, values)

    def _on_generate_error(self, err):
        show_error(f"PSF: {err}")
        self.status.value = f"error: {err}"
        return None

    def _show_generated(self, p):
        name = f"PSF {p.model}"
        scale = tuple(s / 1000 for s in p.scale_nm)
        md = {"psf_model": p.model, **p.params, "scale_nm": list(p.scale_nm)}
        layer = self._viewer.add_image(
            p.data, name=name, scale=scale, units=("um",) * p.data.ndim, colormap="inferno",
            metadata={"napari_sparsedecon": md})
        if p.data.ndim == 3:
            # show the focal plane, not the dark edge plane, where the z slider already is:
            # the PSF is shifted in z (its data and scale unchanged); the sliders are the
            # user's, left where they were
            focus = int(np.argmax(p.data.reshape(p.data.shape[0], -1).max(axis=1)))
            z = float(self._viewer.dims.point[self._viewer.dims.ndim - 3])
            layer.translate = (z - focus * layer.scale[0], *layer.translate[1:])
        self.last_psf = (p.data, list(scale), md)
        self.save_psf_button.enabled = True
        self.status.value = f"generated {name} {p.data.shape}"
        return layer

    # -- measure -----------------------------------------------------------
    def measure(self, *_):
        """Measure the PSF from the bead layer in a thread worker (which also reads the
        layer's data). Returns the worker, or None without a bead layer."""
        layer = self.beads.value
        if layer is None:
            show_error("PSF: choose a bead image layer")
            self.status.value = "error: choose a bead image layer"
            return None
        ndim = layer.data.ndim
        unit = layer_unit(layer)
        f = NM_PER_UNIT.get(unit.lower()) if unit else None
        scale_nm = tuple(float(s) * f for s in layer.scale) if f else None
        positions = None
        if self.points.value is not None and len(self.points.value.data):
            pts = np.asarray(self.points.value.data)[:, -ndim:]
            positions = [tuple(v) for v in to_pixels(pts, self.points.value, layer)]
        theory = None
        if scale_nm is not None:
            lat, ax = pm.theoretical_fwhm_nm(self.na.value, self.wavelength.value,
                                             self.n_imm.value)
            theory = (ax, lat, lat)[-ndim:]
        kw = {"positions": positions, "saturation": self.saturation.value or None,
              "scale_nm": scale_nm, "theoretical_fwhm_nm": theory,
              "bead_diameter_nm": self.bead_nm.value, "box_px": self.box.value or None}
        data = layer.data
        self.status.value = "measuring..."
        self.measure_button.enabled = False

        def finished():
            self._worker = None
            self.measure_button.enabled = True

        self._worker = call_in_worker(lambda: measure_psf(np.asarray(data), **kw),
                                      returned=lambda rep: self._show_report(rep, layer),
                                      errored=self._on_error, finished=finished)
        return self._worker

    def _on_error(self, err):
        show_error(f"PSF measurement: {err}")
        self.status.value = f"error: {err}"

    def _show_report(self, rep, layer):
        self.report = rep
        scale = layer.scale
        units = getattr(layer, "units", None)
        kw = {"units": units} if units is not None else {}
        self._viewer.add_image(rep.psf, name="PSF measured", scale=scale, colormap="inferno",
                               metadata={"napari_sparsedecon": {"psf_model": "measured",
                                                                **rep.summary()}}, **kw)
        # the bead markers a turn later: two layer adds in one callback stalled the
        # window for both (napari builds each layer's controls and visual on this thread)
        one_per_turn(lambda: self._show_beads(rep, layer, kw), parent=self.native)
        rows = rep.table()
        self.table.value = {"data": [list(r.values()) for r in rows],
                            "index": [str(r["bead"]) for r in rows], "columns": list(rows[0])}
        scale_um = [s / 1000 for s in rep.scale_nm] if rep.scale_nm else None
        self.last_psf = (rep.psf, scale_um, {"psf_model": "measured", **rep.summary()})
        self.save_psf_button.enabled = self.save_report_button.enabled = True
        rejected = ", ".join(f"{v} {k}" for k, v in rep.rejected.items()) or "none"
        fwhm = ", ".join(f"{n} {f:.2f}" for n, f in zip("zyx"[-rep.psf.ndim:], rep.fwhm_px,
                                                         strict=True))
        msg = f"{rep.n_used} beads used; FWHM (px) {fwhm}; rejected: {rejected}"
        self.status.value = msg
        for w in rep.warnings:
            show_warning(f"PSF: {w}")
        if not rep.warnings:
            show_info(f"PSF: {msg}")

    def _show_beads(self, rep, layer, kw):
        pos = np.array([b.position for b in rep.beads])
        status = [b.status for b in rep.beads]
        colours = ["lime" if s == "accepted" else "red" for s in status]
        add_helper(self._viewer, lambda: self._viewer.add_points(
            pos, name="beads (green used, red rejected)", scale=layer.scale,
            translate=layer.translate, features={"status": status}, border_color=colours,
            face_color="transparent", size=8, **kw))

    # -- saving ------------------------------------------------------------
    def save_psf(self, path):
        """Write the last generated or measured PSF with the plugin's TIFF writer: its
        pixel size and its optics (or bead summary) in the metadata."""
        from ..io.tiff import write_tiff

        if self.last_psf is None:
            raise ValueError("generate or measure a PSF first")
        data, scale, md = self.last_psf
        return write_tiff(path, data, scale=scale, metadata=_jsonable(md))

    def _save_error(self, err):
        show_error(f"PSF: saving failed: {err}")
        self.status.value = f"error: saving failed: {err}"

    def save_report(self, path):
        return self.report.save_json(path) if str(path).endswith(".json") else \
            self.report.save_csv(path)

    def _ask_save_psf(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(None, "Save PSF", "psf.tif", "TIFF (*.tif)")
        if path:
            self.save_psf_in_worker(path)

    def save_psf_in_worker(self, path):
        """:meth:`save_psf` in a thread worker (the GUI keeps drawing); returns it."""
        from ..io.tiff import write_tiff
        from ._layers import call_in_worker

        if self.last_psf is None:
            self._save_error(ValueError("generate or measure a PSF first"))
            return None
        data, scale, md = self.last_psf  # what is shown now, whatever finishes meanwhile
        md = _jsonable(md)
        self.status.value = "saving the PSF..."
        self.save_psf_button.enabled = False  # one save at a time

        def done(out):
            self.status.value = f"PSF saved to {out}"

        def finished():
            self._save_worker = None
            self.save_psf_button.enabled = self.last_psf is not None

        self._save_worker = call_in_worker(
            lambda: write_tiff(path, data, scale=scale, metadata=md), returned=done,
            errored=self._save_error, finished=finished)
        return self._save_worker

    def _ask_save_report(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(None, "Save report", "psf_report.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            self.save_report(path)
