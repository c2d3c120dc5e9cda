"""The deconvolution dock: one dock for every registered method.

A thin view of :class:`napari_sparsedecon.dock.DeconvModel` (method, parameters, PSF
source, preset, jobs, metadata): the controls write into the model, the model's events
update the controls, and every job is the model's, run in a napari ``thread_worker``
(:mod:`._run`: whole layer, tiled, Save; :mod:`._preview`: ROI, live preview,
Suggest; :mod:`.sweep`; :mod:`.files`).
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer

from ..backends.registry import backends
from ..dock import DeconvModel, ImageInfo
from ..dock.psf_source import AIRY, FWHM_NM, FWHM_PX, LAYER, PSF_SOURCES
from ._activity import tell
from ._fit import button_row, narrow
from ._layers import (
    EXPECTED,
    make_scrolling,
    make_section,
    prewarm_imports,
    watch_sources,
    wrap_label,
)
from ._preview import PREVIEW_NAME, PreviewMixin
from ._run import RunMixin
from .methods import UPSAMPLE_CHOICES, MethodControls

__all__ = ["AIRY", "PREVIEW_NAME", "PSF_SOURCES", "SparseDeconWidget", "UPSAMPLE_CHOICES",
           "image_info", "layer_pixel_nm"]
NO_PRESET = ""
BACKEND_TIP = ("numpy: the reference on the CPU; opencl: the OpenCL device "
               "(NAPARI_SPARSEDECON_DEVICE picks one); auto: whichever a short timed probe "
               "found fastest here")


def layer_pixel_nm(layer) -> float | None:
    """The layer's pixel size in nm, or None when it has no physical pixel size."""
    return image_info(layer).pixel_nm


def image_info(layer) -> ImageInfo:
    """The model's view of a layer: shape, axis letters, pixel sizes in nm, name."""
    from ..io.axes import from_layer

    ia = from_layer(layer)
    return ImageInfo(tuple(layer.data.shape), ia.axes,
                     tuple(ia.size_nm(a) for a in ia.axes), layer.name,
                     tuple(float(v) for v in layer.scale))


class SparseDeconWidget(PreviewMixin, RunMixin, Container):
    """Deconvolution with any registered method: method picker, controls from its
    schema, presets and parameter files, PSF, live ROI preview, sweep, Suggest, trust
    checks, whole-layer and tiled runs, Save, files. ``method``: the starting method
    (default: the library's default)."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, method: str | None = None):
        Container.__init__(self, labels=False)
        self._viewer = napari_viewer
        self.model = DeconvModel(method)
        self._worker = self._preview_worker = self._save_worker = None
        self._suggest_worker = self._cleanup_worker = None
        self._result_name = self._choice = self.suggestion = None
        self._showing = False
        self.previews = 0  # previews shown (tests wait on it)
        self.ctrl = None
        prewarm_imports()  # once per session, off the GUI thread
        watch_sources(self._viewer)  # TIFFs napari opened at scale 1: the file's sizes
        self._make_method_controls()
        self._make_psf_controls()
        self._make_run_controls()
        from .files import FilesPanel
        from .sweep import SweepPanel
        from .views import ViewsPanel

        self.sweep = SweepPanel(self)
        self.files = FilesPanel(self)
        self.views = ViewsPanel()
        self.params_section = make_section("Parameters", [])
        self.advanced_section = make_section("Advanced (camera, background, ...)", [],
                                             expanded=False)
        self.body = Container(labels=False)
        sections = [
            make_section("Method", [self.method, self.summary, self.preset,
                                    self.preset_info]),
            make_section("Image and PSF", [self.image, self.psf_source, self.fwhm,
                                           self.axial_fwhm, self.psf_layer, self.eff_na,
                                           self.wavelength, self.psf_info]),
            self.params_section, self.advanced_section,
            make_section("Preview, Suggest, files", [
                self.preview, self.preview_info, self.suggest_button, self.suggest_info,
                button_row(self.save_params_button, self.load_params_button)],
                labels=False),
            make_section("Trust checks", [self.trust_box], labels=False, expanded=False),
            make_section("Run", [self._run_section()], labels=False),
            make_section("Memory and result store", [self.memory_budget, self.store_path,
                                                     self.path_info], expanded=False),
            make_section("More views (multi-view)", [self.views], labels=False,
                         expanded=False),
            make_section("Process files", [self.files], labels=False, expanded=False),
            make_section("Parameter sweep on the ROI", [self.sweep], labels=False,
                         expanded=False),
        ]
        self.sections = {sec.title: sec for sec in sections}
        self.body.extend(sections)
        self.append(self.body)
        make_scrolling(self, self.body)
        _keep_heights(self.body)
        self._debounce = QTimer(self.native)  # dies with the widget
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.run_preview)
        ev = self.model.events
        ev.method.connect(self._on_method)
        ev.params.connect(self._on_params)
        ev.psf.connect(self._on_psf)
        ev.preset.connect(self._on_preset)
        self.method.changed.connect(lambda v: self.model.set_method(v))
        self.preset.changed.connect(self._preset_chosen)
        for w in (self.psf_source, self.fwhm, self.axial_fwhm, self.eff_na, self.wavelength):
            w.changed.connect(self._psf_edited)
        for w in (self.psf_layer, self.backend, self.threads):
            w.changed.connect(self._schedule_preview)
        self.image.changed.connect(self._image_changed)
        self.preview.changed.connect(self._preview_toggled)
        self._hook_viewer()
        self._on_method(self.model.method_name)
        self._on_psf(self.model.psf)

    @property
    def method_name(self) -> str:  # the messages' prefix
        return self.model.method_name

    # -- controls ------------------------------------------------------------------
    def _make_method_controls(self):
        m = self.model
        self.method = ComboBox(label="method", value=m.method_name,
                               choices=[(f"{n}: {_title(n)}", n)
                                        for n in m.method_names()],
                               tooltip="every registered method; the default is the "
                                       "library's (deconvolve()'s)")
        self.summary = wrap_label(Label(label="what", value=""))
        choices = [("(none: set the parameters below)", NO_PRESET)]
        choices += [(p.label, p.name) for p in m.presets()]
        self.preset = ComboBox(label="preset", choices=choices, value=NO_PRESET,
                               tooltip="published settings of Zhao et al. 2022 (by microscope "
                                       "and sample) or project starting points, for the "
                                       "paper pipeline (choosing one switches to 'sparse'): "
                                       "fills every parameter and an Airy PSF")
        self.preset_info = wrap_label(Label(label="", value=""))
        self.preset_info.visible = False

    def _make_psf_controls(self):
        self.image = create_widget(annotation=napari.layers.Image, label="image",
                                   options={"tooltip": "the layer to deconvolve (never "
                                                       "modified)"})
        self.psf_source = ComboBox(label="PSF from", choices=PSF_SOURCES, value=FWHM_NM,
                                   tooltip="a Gaussian from its FWHM, a PSF image layer "
                                           "(odd-sized, centred, summing to 1), or an Airy "
                                           "pattern from the optics")
        self.fwhm = FloatSpinBox(label="PSF FWHM", value=110.0, min=0.1, max=5000.0, step=1.0,
                                 tooltip="lateral full width at half maximum; nm uses the "
                                         "layer's scale as the pixel size")
        self.axial_fwhm = FloatSpinBox(label="axial FWHM", value=0.0, min=0.0, max=1e5,
                                       step=10.0,
                                       tooltip="z-stacks: the PSF's axial FWHM (nm, or planes "
                                               "for a FWHM in pixels); 0 gives a 2-D PSF (each "
                                               "plane deblurred laterally only)")
        self.psf_layer = create_widget(annotation=napari.layers.Image, label="PSF layer",
                                       options={"nullable": True})
        self.eff_na = FloatSpinBox(label="effective NA", value=1.4, min=0.1, max=10.0, step=0.05,
                                   tooltip="NA x resolution gain over widefield (SIM ~2x, "
                                           "SD-SIM ~1.4x, Airyscan ~1.7x); the Airy PSF is "
                                           "made at the layer's pixel size")
        self.wavelength = FloatSpinBox(label="emission (nm)", value=520.0, min=200.0,
                                       max=2000.0, step=1.0)
        self.psf_info = wrap_label(Label(label="PSF used", value=""))

    def _make_run_controls(self):
        from ..ops.threads import ENV_THREADS, available_cores

        self.backend = ComboBox(label="backend", choices=list(backends()), value="numpy",
                                tooltip=BACKEND_TIP)
        self.threads = SpinBox(label="threads", value=0, min=0, max=available_cores(),
                               tooltip=f"threads for the FFTs of a run: 0 = the default "
                                       f"({ENV_THREADS} if set, else every core)")
        self.save_params_button = PushButton(text="Save parameters...")
        self.load_params_button = PushButton(text="Load parameters...")
        self.suggest_button = PushButton(text="Suggest",
                                         tooltip="estimate what the method can from the data: "
                                                 "the paper pipeline's weights from the ROI's "
                                                 "noise, the photon methods' camera model")
        self.suggest_info = wrap_label(Label(label="suggestion", value=""))
        self.preview = CheckBox(text="live preview on ROI", value=False,
                                tooltip="re-runs on the last rectangle of a Shapes layer (or "
                                        "256x256 around the view centre) after each change, "
                                        "when the rectangle moves and when the slider moves")
        self.preview_info = wrap_label(Label(value=""))
        checks = (("residual", "residual map y - (Hx + b)", "a layer of what the result does "
                   "not explain: structure in it means a wrong PSF, background or prior"),
                  ("frc", "FRC resolution (nm)", "Fourier ring correlation of input and "
                   "result (two frames of a time-lapse, else a checkerboard split)"),
                  ("hallucination", "hallucination guard", "flag bright result where the "
                   "input is background at the noise level"),
                  ("convergence", "convergence check", "warn when the last iteration still "
                   "changed the result noticeably"))
        for key, text, tip in checks:
            setattr(self, f"check_{key}", CheckBox(text=text, value=False, tooltip=tip))
        self.trust_box = Container(widgets=[getattr(self, f"check_{k}") for k, *_ in checks],
                                   layout="vertical", labels=False, label="trust checks")
        self.run_button = PushButton(text="Run on whole layer")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.save_button = PushButton(text="Save result...", enabled=False,
                                      tooltip="write the last result with the plugin's writer "
                                              "(TIFF or OME-Zarr): keeps the pixel size and the "
                                              "record")
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1000)
        self.status = wrap_label(Label(label="status", value="idle"))
        # the trust checks of the last run: a verdict in words, the numbers behind a toggle
        self.trust_verdict = wrap_label(Label(label="checks", value=""))
        self.trust_details = wrap_label(Label(value=""))
        self.details_section = make_section(
            "details", [self.trust_details], labels=False, expanded=False,
            tooltip="the numbers behind the trust checks' verdict")
        for w in (self.trust_verdict, self.details_section):
            w.visible = False
        self.dims_note = wrap_label(Label(value=""))
        self.params_info = wrap_label(Label(value=""))  # a refused value, under the controls
        self.params_info.visible = False
        self.memory_budget = SpinBox(
            label="memory budget (MiB)", value=0, min=0, max=10**8,
            tooltip="0: half the memory available now (as the CLI). A whole-layer run whose "
                    "estimated peak is over the budget runs block by block into an OME-Zarr "
                    "store and is shown lazily from it")
        self.store_path = FileEdit(label="result store", mode="w", filter="*.zarr", value="",
                                   tooltip="where a tiled run writes its OME-Zarr result "
                                           "(never replaced); empty: a new temporary folder")
        self.path_info = wrap_label(Label(label="last run", value=""))
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.save_button.changed.connect(self._ask_save_result)
        self.suggest_button.changed.connect(self.suggest)
        self.save_params_button.changed.connect(self._ask_save_params)
        self.load_params_button.changed.connect(self._ask_load_params)

    def _run_section(self):
        box = Container(widgets=[button_row(self.run_button, self.cancel_button),
                                 self.progress, self.status, self.trust_verdict,
                                 self.details_section, self.save_button], labels=True)
        box.margins = (0, 0, 0, 0)
        return box

    # -- model -> view -------------------------------------------------------------
    def _on_method(self, name):
        """A new method: its controls, rebuilt from its schema."""
        from ..dock.jobs import can_suggest

        m = self.model.method
        self._showing = True
        try:
            if self.method.value != name:
                self.method.value = name
            for sec in (self.params_section, self.advanced_section):
                sec.body.clear()
            for old in (self.ctrl.controls if self.ctrl else {}):
                self.__dict__.pop(old, None)
            self.ctrl = MethodControls(m)
            for pname, w in self.ctrl.controls.items():
                self.__dict__[pname] = w  # w.<parameter>: the control
                w.changed.connect(self._param_edited)
            self.params_section.body.extend(self.ctrl.basic + [self.dims_note, self.backend,
                                                                self.threads,
                                                                self.params_info])
            self.advanced_section.body.extend(self.ctrl.advanced)
            self.advanced_section.visible = bool(self.ctrl.advanced)
            self.ctrl.show(self.model.values)
            narrow(self.params_section)
            narrow(self.advanced_section)
            _keep_heights(self.params_section)
            _keep_heights(self.advanced_section)
        finally:
            self._showing = False
        self.summary.value = m.summary + (f" ({m.docs})" if m.docs else "")
        self.backend.enabled = len(m.backends) > 1
        if not self.backend.enabled:
            self.backend.value = "numpy"
        self.backend.tooltip = (BACKEND_TIP if self.backend.enabled else
                                f"{m.name} runs on NumPy only for now")
        self.suggest_button.enabled = can_suggest(self.model)
        self.sweep.method_changed()
        self._applicability()
        self._schedule_preview()

    def _on_params(self, values):
        if self.ctrl is not None and not self._showing:
            self._showing = True
            try:
                self.ctrl.show(values)
            finally:
                self._showing = False
        self._schedule_preview()

    def _on_psf(self, psf):
        self._showing = True
        try:
            for w, v in ((self.psf_source, psf.source), (self.fwhm, psf.fwhm),
                         (self.axial_fwhm, psf.axial_fwhm), (self.eff_na, psf.effective_na),
                         (self.wavelength, psf.wavelength_nm)):
                if w.value != v:
                    w.value = v
        finally:
            self._showing = False
        src = psf.source
        self.fwhm.visible = src in (FWHM_NM, FWHM_PX)
        self.psf_layer.visible = src == LAYER
        self.eff_na.visible = self.wavelength.visible = src == AIRY
        self.fwhm.label = "PSF FWHM (nm)" if src == FWHM_NM else "PSF FWHM (pixels)"
        self.axial_fwhm.label = ("axial FWHM (planes)" if src == FWHM_PX
                                 else "axial FWHM (nm)")
        self._applicability()
        self._schedule_preview()

    def _on_preset(self, name):
        if self.preset.value != (name or NO_PRESET):
            self._showing = True
            try:
                self.preset.value = name or NO_PRESET
            finally:
                self._showing = False
        text = self.model.preset_text()
        self.preset_info.value = text
        self.preset_info.visible = bool(text)

    def _applicability(self, *_):
        """Controls that act on the chosen image only (t/z, time coupling, axial FWHM)."""
        layer = self.image.value
        ndim = None if layer is None else layer.ndim
        if self.ctrl is not None:
            self.ctrl.set_shown(self.model.shown_params(ndim))
        info = None if layer is None else image_info(layer)
        self.model.set_image(info)
        self.axial_fwhm.visible = (info is not None and info.is_z_stack
                                   and self.psf_source.value != LAYER)
        note = self.model.dims_note()
        self.dims_note.value = note
        self.dims_note.visible = bool(note)

    def _image_changed(self, *_):
        self._applicability()
        self._on_preset(self.model.preset)
        self._schedule_preview()

    # -- view -> model -------------------------------------------------------------
    def _param_edited(self, *_):
        if self._showing:
            return
        try:
            self.model.set_params(self.ctrl.values())
        except EXPECTED as err:  # said under the controls, where the value was typed
            tell(self.params_info, str(err), prefix=self.method_name)
            return
        self.params_info.value = ""
        self.params_info.visible = False

    def _psf_edited(self, *_):
        if not self._showing:
            self.model.set_psf(source=self.psf_source.value, fwhm=float(self.fwhm.value),
                               axial_fwhm=float(self.axial_fwhm.value),
                               effective_na=float(self.eff_na.value),
                               wavelength_nm=float(self.wavelength.value))

    def _preset_chosen(self, *_):
        if not self._showing:
            self.model.apply_preset(self.preset.value or None)

    def sync(self):
        """Read every control into the model (on the GUI thread, before a job): the image,
        the PSF (the PSF layer's array), the parameters (checked), backend, threads and
        trust checks. Returns the image layer; raises ValueError for a bad value."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        if layer.rgb:
            raise ValueError("RGB layers are not supported; split the channels first")
        self.model.set_image(image_info(layer))
        self._psf_edited()
        p = self.psf_layer.value
        if self.psf_source.value == LAYER and p is not None:
            self.model.set_psf(array=np.asarray(p.data, dtype=np.float32), name=p.name,
                               layer_pixel_nm=layer_pixel_nm(p),
                               layer_scale=tuple(float(v) for v in p.scale[-2:]),
                               layer_file=getattr(p.source, "path", None) or None)
        else:
            self.model.set_psf(array=None, name="", layer_scale=None, layer_file=None)
        self.model.set_params(self.ctrl.values())
        self.model.set_views(self.views.choices())
        self.model.backend = self.backend.value
        self.model.threads = int(self.threads.value)
        self.model.checks = {k: bool(getattr(self, f"check_{k}").value)
                             for k in self.model.checks}
        self.psf_info.value = self.model.resolved_psf().text
        return layer

    def resolved_psf(self, layer=None):
        """The PSF the next run uses (the model's, for the chosen layer)."""
        self.sync() if layer is None else self.model.set_image(image_info(layer))
        return self.model.resolved_psf()

    def parameters(self) -> dict:
        """The controls' values, validated by the method's schema."""
        self.model.set_params(self.ctrl.values())
        return dict(self.model.values)

    def set_params(self, values: dict) -> None:
        """Set parameters (a file, a preset, a suggestion): into the model, then shown."""
        self.model.set_params(values)

    def apply_preset(self, name):
        return self.model.apply_preset(name)

    # -- parameter files -----------------------------------------------------------
    def save_params(self, path):
        """Write the parameters as JSON (what ``napari-sparsedecon run --params`` reads;
        the paper pipeline's with its PSF FWHM in pixels for this image)."""
        self.sync()
        return self.model.save_params(path)

    def load_params(self, path):
        """Fill the dock from a parameter file (switching method when it names one)."""
        return self.model.load_params(path)

    def _ask_save_params(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(None, "Save parameters",
                                              f"{self.method_name}_params.json",
                                              "JSON (*.json)")
        if path:
            try:
                self.save_params(path)
            except EXPECTED as err:
                show_error(f"{self.method_name}: {err}")

    def _ask_load_params(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(None, "Load parameters", "", "JSON (*.json)")
        if path:
            try:
                self.load_params(path)
            except EXPECTED as err:
                show_error(f"{self.method_name}: {err}")


def _keep_heights(container) -> None:
    """Buttons, boxes and fields keep their height when wrapped labels (PSF used, the
    preview's window) take more lines than the layout's minimum foresaw: the dock
    scrolls instead of squashing them."""
    from qtpy.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    for kind in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit):
        for q in container.native.findChildren(kind):
            q.setMinimumHeight(q.sizeHint().height())


def _title(name: str) -> str:
    from ..algorithms.registry import get_method

    return get_method(name).title
