"""The sparse-deconvolution dock (paper pipeline) and the base of every deconvolution dock.

Thin by design: every computation is a library generator
(``iter_sparse_deconvolve``; the other methods: ``_widgets/methods.py``) run in a napari
``thread_worker``; the widget reads its controls, starts/cancels workers and
turns results into layers.
"""

from __future__ import annotations

import time

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
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer

from .. import __version__
from ..analysis.roi import (
    centered_box,
    clamp_box,
    frame_window,
    fwhm_nm_to_px,
    pixel_nm,
    result_geometry,
    roi_geometry,
)
from ..backends.registry import backends
from ..core.params import SparseParams
from ..core.pipeline import iter_sparse_deconvolve
from ..progress import Progress
from ._layers import (
    EXPECTED,
    add_helper,
    crop_of,
    layer_unit,
    make_scrolling,
    make_section,
    one_per_turn,
    prewarm_imports,
    show_progress,
    show_reused,
    start_worker,
    tick_format,
    to_pixels,
    units_kw,
    watch_sources,
    wrap_label,
)

AIRY = "Airy (effective NA)"
PSF_SOURCES = ("FWHM (nm)", "FWHM (pixels)", "PSF layer", AIRY)
NO_PRESET = ""
PREVIEW_SIZE = 256
PREVIEW_NAME = "sparse preview"


class _Checked:
    """A result with the trust report computed after it (returned by the worker)."""

    def __init__(self, result, report):
        self.result, self.report = result, report


class _Done:
    """A finished run, with everything the GUI needs computed in the worker (contrast
    limits, the residual's colour range, the hallucination labels), so that showing it
    costs the event loop no array work."""

    def __init__(self, out):
        self.report = None
        if isinstance(out, _Checked):
            out, self.report = out.result, out.report
        self.result = out
        lo = float(np.min(out)) if out.size else 0.0
        self.limits = (lo, float(max(np.max(out), lo + 1e-6))) if out.size else (0.0, 1.0)
        self.residual_lim = self.hallucination = None
        rep = self.report
        if rep is not None and rep.residual is not None:
            self.residual_lim = float(np.percentile(np.abs(rep.residual), 99.9)) or 1.0
        if rep is not None and rep.hallucination is not None and rep.hallucination.any():
            self.hallucination = rep.hallucination.astype(np.uint8)


class _Stored:
    """A tiled run's result: the lazy array read from its store, its contrast limits (read
    in the worker) and the store's path."""

    def __init__(self, data, limits, path):
        self.data, self.limits, self.path = data, limits, path


def _finish(gen):
    """Pass ``gen``'s progress on and wrap its result in a :class:`_Done`."""
    out = yield from gen
    return _Done(out)


def layer_pixel_nm(layer) -> float | None:
    """The layer's pixel size in nm, or None when it has no physical pixel size."""
    try:
        return pixel_nm(layer.scale[-1], layer_unit(layer))
    except ValueError:
        return None


def _run_checked(gen, data, params, psf, checks, *, pixel_size_nm, frame, backend, tracker):
    """Pass the run's progress on, then check its result (see analysis.trust.assess)."""
    from ..analysis.trust import assess
    from ..core.sparse_hessian import relay

    def observe(pr):
        if tracker is not None:
            tracker(pr)
        return pr._replace(estimate=None)  # estimates stay in the worker

    result = yield from relay(gen, observe)
    yield Progress("trust checks", 0, 1)
    y, x = np.asarray(data), result
    ax = params.axis if y.ndim == 3 else 0
    if ax:  # assess() works with the continuity axis first
        y, x = np.moveaxis(y, ax, 0), np.moveaxis(x, ax, 0)
    rep = assess(y, x, params.replace(axis=0), psf=psf, pixel_nm=pixel_size_nm, frame=frame,
                 residual=checks["residual"], frc_check=checks["frc"],
                 hallucination=checks["hallucination"], tracker=tracker, backend=backend)
    if ax:
        if rep.residual is not None:
            rep.residual = np.moveaxis(rep.residual, 0, ax)
        if rep.hallucination is not None:
            rep.hallucination = np.moveaxis(rep.hallucination, 0, ax)
    yield Progress("trust checks", 1, 1)
    return _Checked(result, rep)


class _DeconvBase(Container):
    """Shared parts: image/PSF choice, run/cancel/progress, result layers.

    Every computation (reading the layer's data included) runs in a thread worker;
    the event loop only reads controls, shows throttled progress and adds layers.
    The controls live in ``self.body``, a column of collapsible sections inside a
    scroll area, so the dock fits a small screen.
    """

    method_name = "deconv"

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=False)
        self._viewer = viewer
        self._worker = None
        prewarm_imports()  # once per session, off the GUI thread
        watch_sources(self._viewer)  # TIFFs napari opened at scale 1: the file's sizes
        self._preview_worker = None
        self._save_worker = None
        self._result_name = None
        self.body = Container(labels=False)
        self.image = create_widget(annotation=napari.layers.Image, label="image",
                                   options={"tooltip": "the layer to deconvolve (never modified)"})
        self.psf_source = ComboBox(label="PSF from", choices=PSF_SOURCES, value=PSF_SOURCES[0],
                                   tooltip="a Gaussian from its FWHM, or a PSF image layer "
                                           "(odd-sized, centred, summing to 1)")
        self.fwhm = FloatSpinBox(label="PSF FWHM", value=110.0, min=0.1, max=5000.0, step=1.0,
                                 tooltip="lateral full width at half maximum; nm uses the "
                                         "layer's scale as the pixel size")
        self.psf_layer = create_widget(annotation=napari.layers.Image, label="PSF layer",
                                       options={"nullable": True})
        self.eff_na = FloatSpinBox(label="effective NA", value=1.4, min=0.1, max=10.0, step=0.05,
                                   tooltip="NA x resolution gain over widefield (SIM ~2x, "
                                           "SD-SIM ~1.4x, Airyscan ~1.7x); the Airy PSF is "
                                           "made at the layer's pixel size")
        self.wavelength = FloatSpinBox(label="emission (nm)", value=520.0, min=200.0,
                                       max=2000.0, step=1.0)
        self.psf_info = wrap_label(Label(label="PSF used", value=""))
        self.backend = ComboBox(label="backend", choices=list(backends()),
                                value="numpy",
                                tooltip="numpy: the reference on the CPU; opencl: the OpenCL "
                                        "device (NAPARI_SPARSEDECON_DEVICE picks one); auto: "
                                        "whichever a short timed probe found fastest here "
                                        "for this shape (said in the log)")
        from ..ops.threads import ENV_THREADS, available_cores

        self.threads = SpinBox(label="threads", value=0, min=0, max=available_cores(),
                               tooltip=f"threads for the FFTs of a run: 0 = the default "
                                       f"({ENV_THREADS} if set, else every core)")
        self.run_button = PushButton(text="Run on whole layer")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.save_button = PushButton(text="Save result...", enabled=False,
                                      tooltip="write the last result with the plugin's writer "
                                              "(TIFF or OME-Zarr): keeps the pixel size and the "
                                              "parameters")
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1000)
        self.status = wrap_label(Label(label="status", value="idle"))
        self.psf_source.changed.connect(self._psf_source_changed)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.save_button.changed.connect(self._ask_save_result)
        self._psf_source_changed()

    def _finish_layout(self, sections):
        """Put the sections in the scrolling body (called by subclasses)."""
        self.sections = {sec.title: sec for sec in sections}
        self.body.extend(sections)
        self.append(self.body)
        make_scrolling(self, self.body)

    def _run_section(self):
        return Container(widgets=[Container(widgets=[self.run_button, self.cancel_button],
                                            layout="horizontal", labels=False),
                                  self.progress, self.status, self.save_button], labels=True)

    # -- PSF ---------------------------------------------------------------
    def _psf_source_changed(self, *_):
        src = self.psf_source.value
        self.fwhm.visible = src.startswith("FWHM")
        self.psf_layer.visible = src == "PSF layer"
        self.eff_na.visible = self.wavelength.visible = src == AIRY
        self.fwhm.label = "PSF FWHM (nm)" if src == "FWHM (nm)" else "PSF FWHM (pixels)"

    def psf_arguments(self, layer):
        """(psf array or None, fwhm in pixels or None, human description)."""
        src = self.psf_source.value
        if src == "PSF layer":
            p = self.psf_layer.value
            if p is None:
                raise ValueError("choose a PSF layer, or switch 'PSF from' to a FWHM")
            data = np.asarray(p.data, dtype=np.float32)
            ps, ls = np.asarray(p.scale[-2:], float), np.asarray(layer.scale[-2:], float)
            if not np.allclose(ps, ls, rtol=1e-3):
                raise ValueError(
                    f"the PSF layer's pixel size {tuple(ps)} differs from the image's "
                    f"{tuple(ls)}; generate or measure the PSF at the image's pixel size")
            return data, None, f"layer '{p.name}' {data.shape}"
        if src == AIRY:
            return self._airy_psf(layer)
        if src == "FWHM (nm)":
            px = fwhm_nm_to_px(self.fwhm.value, layer.scale[-1], layer_unit(layer))
            return None, px, f"Gaussian {self.fwhm.value:g} nm = {px:.2f} px"
        return None, float(self.fwhm.value), f"Gaussian {self.fwhm.value:g} px"

    def _airy_psf(self, layer):
        from ..psf.airy import airy_psf

        px = layer_pixel_nm(layer)
        if px is None:
            raise ValueError(f"the Airy PSF is made at the layer's pixel size, and "
                             f"'{layer.name}' has none: set its scale and units (e.g. "
                             f"layer.scale = (0.032, 0.032) with units 'um'), or choose "
                             f"'PSF from: FWHM (pixels)'")
        na, wl = self.eff_na.value, self.wavelength.value
        g = airy_psf(effective_na=na, wavelength_nm=wl, pixel_nm=px)
        return g.data, None, f"Airy, effective NA {na:g}, {wl:g} nm, at {px:.4g} nm/pixel"

    # -- running -----------------------------------------------------------
    def _require_image(self):
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer first")
        if layer.rgb:
            raise ValueError("RGB layers are not supported; split the channels first")
        return layer

    def make_job(self, layer, with_checks=True):
        """Read the controls (on the GUI thread) and return ``(build, meta, upsample,
        plan)``: ``build(data)`` makes the library generator in the worker, ``plan`` the
        stage weights of its overall progress."""
        raise NotImplementedError

    def resolved_backend(self):
        from ..backends import get_backend

        return get_backend(self.backend.value)

    def run(self, *_):
        """Run on the whole layer in a background worker; the result becomes a new layer.

        The layer's data is read in the worker (a lazy layer is not materialised on the
        GUI thread)."""
        try:
            layer = self._require_image()
            build, meta, upsample, plan = self.make_job(layer)
        except EXPECTED as err:
            show_error(f"{self.method_name}: {err}")
            self.status.value = f"error: {err}"
            return None
        self.cancel()
        t0 = time.perf_counter()
        self.status.value = "running"
        show_progress(self.progress, 0.0)
        return start_worker(self, lambda: _finish(build(np.asarray(layer.data))), plan=plan,
                            yielded=self._on_progress,
                            returned=lambda out: self._on_result(out, layer, meta, upsample, t0),
                            errored=self._on_error, aborted=self._on_aborted,
                            finished=self._on_finished)

    def cancel(self, *_):
        """Stop the running job at its next iteration; no layer is added."""
        if self._worker is not None:
            self._worker.quit()

    def _on_progress(self, tick):
        show_progress(self.progress, tick.fraction, tick_format(tick))

    def _on_result(self, done, layer, meta, upsample, t0):
        seconds = time.perf_counter() - t0
        scale, translate = result_geometry(layer.scale, layer.translate, upsample)
        meta = dict(meta, seconds=round(seconds, 3), version=__version__, source=layer.name)
        name = f"{layer.name} {self.method_name}"
        kw = {"name": name, "scale": scale, "translate": translate,
              "metadata": {"napari_sparsedecon": meta}, "colormap": layer.colormap.name,
              "contrast_limits": done.limits, **units_kw(layer)}
        if done.report is not None:
            meta["trust"] = done.report.summary()
        self._viewer.add_image(done.result, **kw)
        self._result_name = name
        self.save_button.enabled = True
        self.progress.value = 1000
        self.status.value = f"done in {seconds:.2f} s"
        if done.report is not None:
            self._show_report(done, layer, name)

    def _show_report(self, done, layer, name):
        """Extra layers and messages for the trust checks."""
        report = done.report
        scale, translate = list(layer.scale), list(layer.translate)
        kw = units_kw(layer)
        steps = []  # each extra layer on its own event-loop turn (see one_per_turn)
        if report.residual is not None:
            lim = done.residual_lim
            steps.append(lambda: add_helper(self._viewer, lambda: self._viewer.add_image(
                report.residual, name=f"{name} residual", colormap="PiYG",
                contrast_limits=(-lim, lim), scale=scale, translate=translate, visible=False,
                metadata={"napari_sparsedecon": {
                    "trust": "residual y - (H x + b), input units"}}, **kw)))
        if done.hallucination is not None:
            steps.append(lambda: add_helper(self._viewer, lambda: self._viewer.add_labels(
                done.hallucination, name=f"{name} hallucination", scale=scale,
                translate=translate, opacity=0.6, **kw)))
        text = report.summary()

        def tell():  # the messages on a turn of their own too (notifications are widgets)
            self.status.value = text.splitlines()[0] if text else self.status.value
            show_info(f"trust checks for '{name}':\n{text}")
            for w in report.warnings:
                show_warning(f"{name}: {w}")

        one_per_turn(*steps, tell, parent=self.native)

    def _on_error(self, err):
        show_error(f"{self.method_name} failed: {err}")
        self.status.value = f"error: {err}"

    def _on_aborted(self):
        self.status.value = "cancelled"
        show_info(f"{self.method_name}: cancelled, no layer added")

    def _on_finished(self):
        self._worker = None
        show_progress(self.progress, self.progress.value / 1000)  # back to "NN%"
        self.run_button.enabled = True
        self.cancel_button.enabled = False

    # -- saving --------------------------------------------------------------
    def save_result(self, path, *, overwrite=False):
        """Write the last result layer with the plugin's writer (``.tif``/``.tiff``:
        ImageJ TIFF, ``.zarr``: OME-Zarr) in a thread worker, keeping its pixel size
        and the parameters. Refuses an existing path unless ``overwrite``. Returns the
        worker."""
        from pathlib import Path

        from .._napari_io import save_layer_data

        name = self._result_name
        if name is None or name not in self._viewer.layers:
            raise ValueError("run on the whole layer first: there is no result to save")
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name")
        layer = self._viewer.layers[name]
        data, scale, md = layer.data, tuple(layer.scale), dict(layer.metadata)
        units = getattr(layer, "units", None)
        self.status.value = f"saving {path.name}..."

        def done(out):
            self.status.value = f"saved {Path(out[0]).name} (pixel size and parameters kept)"

        def failed(err):
            show_error(f"{self.method_name}: saving failed: {err}")
            self.status.value = f"error: saving failed: {err}"

        from ._layers import call_in_worker

        self._save_worker = call_in_worker(
            lambda: save_layer_data(path, data, scale=scale, units=units, metadata=md),
            returned=done, errored=failed,
            finished=lambda: setattr(self, "_save_worker", None))
        return self._save_worker

    def _ask_save_result(self, *_):
        from qtpy.QtWidgets import QFileDialog

        default = f"{self._result_name or 'result'}.tif".replace(" ", "_")
        path, _ = QFileDialog.getSaveFileName(None, "Save result", default,
                                              "TIFF (*.tif *.tiff);;OME-Zarr (*.zarr)")
        if path:
            try:
                self.save_result(path, overwrite=True)  # the dialog asked already
            except EXPECTED as err:
                show_error(f"{self.method_name}: {err}")
                self.status.value = f"error: {err}"


#: The up-sampling box: one choice per (upsample, upsample_method) pair of the schema.
UPSAMPLE_CHOICES = {
    "none": {"upsample": 1, "upsample_method": "fourier"},
    "x2 Fourier": {"upsample": 2, "upsample_method": "fourier"},
    "x2 spatial": {"upsample": 2, "upsample_method": "spatial"},
}


class SparseDeconWidget(_DeconvBase):
    """Sparse deconvolution: parameters, live ROI preview, run, cancel."""

    method_name = "sparse"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer)
        # One control per schema parameter of the paper pipeline (its type, range,
        # default, unit and help); the two up-sampling parameters share one box, and the
        # PSF FWHM is part of the PSF section.
        from ..algorithms.sparse import SCHEMA
        from ._controls import control_for

        self.schema = {p.name: p for p in SCHEMA}
        self.param_controls = {}
        for p in SCHEMA:
            if p.name in ("psf_fwhm_px", "upsample", "upsample_method"):
                continue
            w = control_for(p)
            self.param_controls[p.name] = w
            setattr(self, p.name, w)
        self.upsample = ComboBox(label="up-sampling", choices=list(UPSAMPLE_CHOICES),
                                 value="none",
                                 tooltip="x2 in Y/X before the sparse step (Fourier or "
                                         "spatial interpolation); output pixels are half "
                                         "the size")
        self.save_params_button = PushButton(text="Save parameters...")
        self.load_params_button = PushButton(text="Load parameters...")
        self.suggest_button = PushButton(text="Suggest from ROI",
                                         tooltip="estimate noise and background on the ROI "
                                                 "and fill fidelity, sparsity, iterations "
                                                 "and background from the calibration")
        self.suggest_info = Label(label="suggestion", value="")
        self.check_residual = CheckBox(text="residual map y - (Hx + b)", value=False,
                                       tooltip="a layer of what the result does not explain, "
                                               "zero-centred colours: structure in it means a "
                                               "wrong PSF, background or too strong a prior")
        self.check_frc = CheckBox(text="FRC resolution (nm)", value=False,
                                  tooltip="Fourier ring correlation of input and result: two "
                                          "frames of a time-lapse, else a checkerboard split; "
                                          "the result's from two independent runs")
        self.check_hallucination = CheckBox(text="hallucination guard", value=False,
                                            tooltip="flag bright result where the input is "
                                                    "background at the noise level")
        self.check_convergence = CheckBox(text="convergence check", value=False,
                                          tooltip="warn when the last iteration still "
                                                  "changed the result noticeably")
        self.trust_box = Container(widgets=[self.check_residual, self.check_frc,
                                            self.check_hallucination,
                                            self.check_convergence],
                                   layout="vertical", labels=False, label="trust checks")
        from .sweep import SweepPanel

        self.sweep = SweepPanel(self)
        self.preview = CheckBox(text="live preview on ROI", value=False,
                                tooltip="re-runs on the last rectangle of a Shapes layer (or "
                                        "256x256 around the view centre) after each change")
        self.dims_note = wrap_label(Label(value=""))
        self._make_large_controls()
        self._make_preset_controls()
        self._finish_layout([
            make_section("Image and PSF", [self.preset, self.preset_info, self.image,
                                           self.psf_source, self.fwhm, self.psf_layer,
                                           self.eff_na, self.wavelength, self.psf_info]),
            make_section("Parameters", [
                self.fidelity, self.sparsity, self.continuity, self.axis, self.dims_note,
                self.iterations, self.background, self.upsample, self.deconv_method,
                self.deconv_iterations, self.quantitative, self.backend, self.threads,
                Container(widgets=[self.save_params_button, self.load_params_button],
                          layout="horizontal", labels=False),
                Container(widgets=[self.suggest_button], labels=False), self.suggest_info]),
            make_section("Preview", [self.preview], labels=False),
            make_section("Trust checks", [self.trust_box], labels=False, expanded=False),
            make_section("Run", [self._run_section()], labels=False),
            make_section("Memory and result store", [self.memory_budget, self.store_path,
                                                     self.path_info], expanded=False),
            make_section("Process files", [self.files], labels=False, expanded=False),
            make_section("Parameter sweep on the ROI", [self.sweep], labels=False,
                         expanded=False),
        ])
        self.suggest_button.changed.connect(self.suggest)
        wrap_label(self.suggest_info)
        self.save_params_button.changed.connect(self._ask_save_params)
        self.load_params_button.changed.connect(self._ask_load_params)
        self._debounce = QTimer(self.native)  # dies with the widget
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.run_preview)
        for w in (self.fidelity, self.sparsity, self.continuity, self.axis, self.iterations,
                  self.background, self.upsample, self.deconv_method, self.deconv_iterations,
                  self.quantitative, self.fwhm, self.psf_source, self.psf_layer, self.image,
                  self.backend, self.eff_na, self.wavelength):
            w.changed.connect(self._schedule_preview)
        self.preview.changed.connect(self._preview_toggled)
        self.image.changed.connect(self._image_changed)
        dims_event = self._viewer.dims.events.current_step
        dims_event.connect(self._slice_changed)
        self.native.destroyed.connect(lambda *_: dims_event.disconnect(self._slice_changed))
        self._image_changed()

    def _image_changed(self, *_):
        """Continuity acts along t or z: 3-D images have it along the chosen axis, (T, Z,
        Y, X) images along z within each time point (run as its own volume)."""
        layer = self.image.value
        nd = None if layer is None else layer.ndim
        self.continuity.enabled = nd in (3, 4)
        self.axis.enabled = nd == 3
        if nd == 4:
            note = (f"'{layer.name}' is (T, Z, Y, X): each time point runs as its own "
                    f"volume, continuity along z within it; time points are not coupled")
        elif nd is None or nd == 3:
            note = ""
        else:
            note = (f"continuity and its axis apply to 3-D (t or z) images; "
                    f"'{layer.name}' is {nd}-D")
        self.dims_note.value = note
        self.dims_note.visible = bool(note)

    def params(self, layer) -> tuple[SparseParams, object]:
        psf, fwhm_px, desc = self.psf_arguments(layer)
        self.psf_info.value = desc
        return self.control_params(fwhm_px, layer.ndim), psf

    def control_params(self, fwhm_px=None, ndim=2) -> SparseParams:
        """The parameter controls as SparseParams (the PSF FWHM in pixels given apart)."""
        from ._controls import value_of

        values = {n: value_of(self.schema[n], w) for n, w in self.param_controls.items()}
        values.update(UPSAMPLE_CHOICES[self.upsample.value], psf_fwhm_px=fwhm_px)
        if ndim != 3:
            values["axis"] = 0
        return SparseParams(**values)

    def set_params(self, values: dict) -> None:
        """Show stored values (a parameter file, a preset, a suggestion) in the controls;
        parameters that ``values`` leaves out keep their current value."""
        from ._controls import set_control

        for name, w in self.param_controls.items():
            if name in values:
                set_control(self.schema[name], w, values[name])
        if "upsample" in values or "upsample_method" in values:
            cur = UPSAMPLE_CHOICES[self.upsample.value]
            want = {"upsample": values.get("upsample", cur["upsample"]),
                    "upsample_method": values.get("upsample_method", cur["upsample_method"])}
            if want["upsample"] == 1:
                want["upsample_method"] = "fourier"
            self.upsample.value = next(k for k, v in UPSAMPLE_CHOICES.items() if v == want)

    # -- larger-than-memory runs (napari_sparsedecon.largedata.paths) --------------------
    def _make_large_controls(self):
        from .files import FilesPanel

        self.memory_budget = SpinBox(
            label="memory budget (MiB)", value=0, min=0, max=10**8,
            tooltip="0: half the memory available now (as the CLI). A whole-layer run whose "
                    "estimated peak is over the budget runs tile by tile into an OME-Zarr "
                    "store and is shown lazily from it")
        self.store_path = FileEdit(label="result store", mode="w", filter="*.zarr", value="",
                                   tooltip="where a tiled run writes its OME-Zarr result "
                                           "(never replaced); empty: a new temporary folder, "
                                           "named in the status")
        self.path_info = wrap_label(Label(label="last run", value=""))
        self._choice = None
        self._cleanup_worker = None
        self._suggest_worker = None
        self.suggestion = None
        self.files = FilesPanel(self)

    def budget_bytes(self) -> int | None:
        """The memory budget in bytes, or None for the default (half the available)."""
        return int(self.memory_budget.value) * 2**20 or None

    def store_value(self) -> str:
        """The result store's path as typed ('' when none)."""
        return str(self.store_path.line_edit.value).strip()

    def run(self, *_):
        """Run on the whole layer: in memory when the planner's estimated peak fits the
        memory budget, else tile by tile into an OME-Zarr store (see :meth:`run_tiled`);
        the status and the result's metadata say which path ran."""
        from ..largedata.paths import IN_MEMORY, choose_path

        try:
            layer = self._require_image()
            p, _ = self.params(layer)
            shape = tuple(layer.data.shape)
            if len(shape) > 4:
                raise ValueError(f"'{layer.name}' is {len(shape)}-D; the sparse dock takes "
                                 f"(Y, X), (T or Z, Y, X) or (T, Z, Y, X) layers (split "
                                 f"the channels first)")
            # (T, Z, Y, X): one volume at a time is in the solver
            choice = choose_path(shape[1:] if len(shape) == 4 else shape, p,
                                 self.budget_bytes())
        except EXPECTED as err:
            show_error(f"{self.method_name}: {err}")
            self.status.value = f"error: {err}"
            return None
        self._choice = choice
        self.path_info.value = choice.describe()
        if choice.path == IN_MEMORY:
            return super().run()
        return self.run_tiled(layer, choice)

    def run_tiled(self, layer, choice):
        """Process the whole layer tile by tile (the CLI's planner and memory budget) into
        a new OME-Zarr store, in a worker, and show the result lazily from the store.
        Cancelling or an error leaves no store (a temporary folder is removed too)."""
        from ..io.axes import from_layer
        from ..io.outputs import check_not_protected
        from ..largedata.paths import (
            contrast_limits,
            iter_tiled_to_store,
            open_result,
            output_axes,
            remove_temp,
            temp_store,
        )

        try:
            p, psf = self.params(layer)
            if layer.ndim not in (2, 3):
                raise ValueError(f"tiled runs take 2-D or 3-D layers; '{layer.name}' is "
                                 f"{layer.ndim}-D")
            be = self.resolved_backend()
            ia = output_axes(from_layer(layer), p)
            perm, _ = ia.ordered()
            meta = {"method": "sparse_deconvolve", **p.to_dict(), "backend": be.name,
                    "device": be.device_name, "psf": self.psf_info.value,
                    "path": choice.describe(), "memory_budget_bytes": choice.budget}
            if self.preset.value != NO_PRESET:
                meta["preset"] = self.preset.value
            dst, folder = self.store_value(), None
            if dst:
                if not dst.rstrip("/").lower().endswith(".zarr"):
                    raise ValueError(f"result store {dst!r}: name it .zarr (OME-Zarr)")
                import os

                if os.path.lexists(dst):
                    raise FileExistsError(f"{dst} exists; choose a new name for the result "
                                          f"store (it is never replaced)")
                src = getattr(getattr(layer, "source", None), "path", None)
                if src:
                    check_not_protected(dst, [(src, "the layer's file")])
            else:
                dst, folder = temp_store(f"{layer.name}_sparse")
        except EXPECTED as err:
            show_error(f"{self.method_name}: {err}")
            self.status.value = f"error: {err}"
            return None
        self.cancel()
        t0 = time.perf_counter()
        where = f"temporary folder {folder}" if folder else dst
        self.status.value = f"running tiled into {where}"
        show_progress(self.progress, 0.0)
        data = layer.data
        state = {}

        def job():
            gen = iter_tiled_to_store(data, p, dst, ia, meta, psf=psf,
                                      memory_budget=choice.budget, backend=be)
            state["gen"] = gen
            out = yield from gen
            lazy, _ = open_result(out, perm)
            return _Stored(lazy, contrast_limits(lazy), out)

        def cleanup():  # in a worker: removing a partial store may take a while
            from ._layers import call_in_worker

            gen = state.pop("gen", None)

            def clean():
                if gen is not None:
                    gen.close()  # the writer removes its .part folder
                remove_temp(folder)

            self._cleanup_worker = call_in_worker(
                clean, returned=lambda _: None, errored=lambda _: None,
                finished=lambda: setattr(self, "_cleanup_worker", None))

        def failed(err):
            cleanup()
            if isinstance(err, MemoryError):  # the planner's advice, in the dock's words
                err = MemoryError(str(err).replace("--memory-budget",
                                                   "'memory budget (MiB)' (Memory section)"))
            self._on_error(err)

        def aborted():
            cleanup()
            self.status.value = "cancelled: no store left behind"
            show_info(f"{self.method_name}: cancelled, no layer added and no store kept")

        meta_layer = dict(meta, store=dst)
        return start_worker(self, job, plan={"tiles": 1}, yielded=self._on_progress,
                            returned=lambda out: self._on_stored(out, layer, meta_layer, p,
                                                                 t0, folder),
                            errored=failed, aborted=aborted, finished=self._on_finished)

    def _on_stored(self, st, layer, meta, p, t0, folder):
        seconds = time.perf_counter() - t0
        scale, translate = result_geometry(layer.scale, layer.translate, p.upsample)
        meta = dict(meta, seconds=round(seconds, 3), version=__version__, source=layer.name)
        name = f"{layer.name} {self.method_name}"
        self._viewer.add_image(st.data, name=name, scale=scale, translate=translate,
                               metadata={"napari_sparsedecon": meta},
                               colormap=layer.colormap.name, contrast_limits=st.limits,
                               multiscale=False, **units_kw(layer))
        self._result_name = name
        self.save_button.enabled = True
        self.progress.value = 1000
        where = f"temporary store {st.path} (save it elsewhere to keep it)" if folder \
            else f"store {st.path}"
        self.status.value = (f"done in {seconds:.2f} s, tiled (larger than the memory "
                             f"budget); shown lazily from the {where}")

    # -- presets (napari_sparsedecon.presets) --------------------------------
    def _make_preset_controls(self):
        from ..presets import list_presets

        choices = [("(none: set the parameters below)", NO_PRESET)]
        choices += [(p.label, p.name) for p in list_presets()]
        self.preset = ComboBox(label="preset", choices=choices, value=NO_PRESET,
                               tooltip="published settings of Zhao et al. 2022 (by microscope "
                                       "and sample) or project starting points: fills every "
                                       "parameter and an Airy PSF at the layer's pixel size")
        self.preset_info = wrap_label(Label(label="", value=""))
        self.preset_info.visible = False
        self.preset.changed.connect(self._preset_changed)

    def _preset_changed(self, *_):
        name = self.preset.value
        if name != NO_PRESET:
            self.apply_preset(name)
        else:
            self.preset_info.value = ""
            self.preset_info.visible = False

    def apply_preset(self, name):
        """Fill every parameter control and the PSF (Airy from the preset's effective NA and
        wavelength, made at the layer's pixel size when run) from a preset."""
        from ..presets import get_preset

        p = get_preset(name)
        q = p.params
        self.set_params(q)
        self.psf_source.value = AIRY
        self.eff_na.value, self.wavelength.value = p.effective_na, p.wavelength_nm
        if self.preset.value != p.name:
            self.preset.value = p.name
        text = p.reference + "".join(f"; {n}" for n in p.notes)
        layer = self.image.value
        if layer is not None and layer_pixel_nm(layer) is None:
            text = (f"'{layer.name}' has no pixel size: set its scale and units for the "
                    f"Airy PSF. " + text)
        self.preset_info.value = text
        self.preset_info.visible = True
        return p

    # -- parameter files (the CLI's --params reads the same JSON) -----------
    def save_params(self, path):
        """Write the current parameters (with the FWHM in pixels for this image) as JSON."""
        from ..io.tiff import atomic_write

        layer = self._require_image()
        p, _ = self.params(layer)

        def write(tmp):
            with open(tmp, "w") as fh:
                fh.write(p.to_json())

        return atomic_write(path, write)

    def load_params(self, path):
        """Fill the widget from a JSON parameter file (from the widget or written by hand)."""
        import json
        from pathlib import Path

        p = SparseParams.from_dict(json.loads(Path(path).read_text()))
        self.set_params(p.to_dict())
        if p.psf_fwhm_px is not None and np.ndim(p.psf_fwhm_px) == 0:
            self.psf_source.value = "FWHM (pixels)"
            self.fwhm.value = float(p.psf_fwhm_px)
        return p

    def _ask_save_params(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(None, "Save parameters", "sparse_params.json",
                                              "JSON (*.json)")
        if path:
            try:
                self.save_params(path)
            except (ValueError, TypeError, OSError) as err:
                show_error(f"sparse: {err}")

    def _ask_load_params(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(None, "Load parameters", "", "JSON (*.json)")
        if path:
            try:
                self.load_params(path)
            except (ValueError, TypeError, OSError) as err:
                show_error(f"sparse: {err}")

    def checks(self) -> dict:
        return {"residual": self.check_residual.value, "frc": self.check_frc.value,
                "hallucination": self.check_hallucination.value,
                "convergence": self.check_convergence.value}

    def make_job(self, layer, with_checks=True):
        from ..analysis.trust import ConvergenceTracker

        p, psf = self.params(layer)
        be = self.resolved_backend()
        checks = self.checks()
        four = layer.ndim == 4
        checked = with_checks and any(checks.values()) and not four
        frame = self.current_frame(layer) if layer.ndim == 3 and checked else None
        meta = {"method": "sparse_deconvolve", **p.to_dict(), "backend": be.name,
                "device": be.device_name, "psf": self.psf_info.value}
        if four:
            meta["time_points"] = ("each time point deconvolved as its own (Z, Y, X) "
                                   "volume (continuity along z; not coupled in time)")
            if with_checks and any(checks.values()):
                meta["trust_checks"] = "not run on (T, Z, Y, X) layers"
        if self.preset.value != NO_PRESET:
            meta["preset"] = self.preset.value
        if self._choice is not None and with_checks:
            meta["path"] = self._choice.describe()
        deconv = p.deconv_iterations if p.deconvolves else 0
        plan = {"prepare": max(1, (p.iterations + deconv) // 50), "sparse": p.iterations,
                "deconv": deconv}
        if checked:  # FRC of the result runs the deconvolution twice more
            work = p.iterations + deconv
            plan["trust checks"] = 2 * work if checks["frc"] else max(1, work // 10)

        if four:  # stage weights restart per time point: the run's own fraction instead
            plan = None

        def build(data):
            if np.ndim(data) == 4:  # one volume per time point, as deconvolve() does
                from ..api import iter_deconvolve

                return iter_deconvolve(data, "sparse", psf=psf, backend=be, **p.to_dict())
            gen = iter_sparse_deconvolve(data, psf=psf, backend=be, **p.to_dict(),
                                         return_estimate=checks["convergence"] and checked)
            if checked:
                gen = _run_checked(gen, data, p, psf, checks,
                                   pixel_size_nm=layer_pixel_nm(layer), frame=frame,
                                   backend=be, tracker=ConvergenceTracker()
                                   if checks["convergence"] else None)
            return gen

        return build, meta, p.upsample, plan

    # -- suggestion ----------------------------------------------------------
    def suggest(self, *_):
        """Fill fidelity, sparsity, iterations and background from the ROI's noise.

        The ROI is read and measured in a worker; the controls are filled when it
        returns. Returns the worker (None on an error found before it starts)."""
        from ._layers import call_in_worker

        try:
            layer = self._require_image()
            p, psf = self.params(layer)
            if psf is None and p.psf_fwhm_px is None:
                raise ValueError("give a PSF (FWHM or layer) first")
            frames, box = self.roi(layer)
        except EXPECTED as err:
            self._suggest_failed(err)
            return None
        data = layer.data

        def compute():
            from ..analysis.suggest import suggest_parameters
            from ..psf.basic import measure_fwhm

            crop = crop_of(data, frames, box)
            if frames is not None:
                crop = crop[frames[0] - frames[1]]
            fw = p.psf_fwhm_px if psf is None else max(measure_fwhm(psf)[-2:])
            return suggest_parameters(crop, psf_fwhm_px=fw, base=p)

        self.suggest_info.value = "estimating on the ROI..."
        self.suggest_button.enabled = False

        def finished():
            self._suggest_worker = None
            self.suggest_button.enabled = True

        self._suggest_worker = call_in_worker(compute, returned=self._apply_suggestion,
                                              errored=self._suggest_failed,
                                              finished=finished)
        return self._suggest_worker

    def _suggest_failed(self, err):
        show_error(f"suggest: {err}")
        self.suggest_info.value = f"error: {err}"

    def _apply_suggestion(self, s):
        q = s.params
        self.set_params({k: q.to_dict()[k] for k in ("fidelity", "sparsity", "iterations",
                                                     "deconv_iterations", "background")})
        self.suggestion = s
        self.suggest_info.value = (f"SNR {s.snr:.0f}: fidelity {q.fidelity:g}, "
                                   f"sparsity {q.sparsity:g}")
        self.suggest_info.tooltip = s.message()
        show_info(f"suggest: {s.message()}")

    # -- preview -----------------------------------------------------------
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
        """The preview follows the current time point / z plane of a 3-D image."""
        layer = self.image.value
        if layer is not None and layer.ndim == 3:
            self._schedule_preview()

    def roi(self, layer):
        """(frames slice or None, y0, y1, x0, x1) of the preview region in layer pixels."""
        data_shape = layer.data.shape
        box = None
        for shp in reversed(self._viewer.layers):
            if isinstance(shp, napari.layers.Shapes) and len(shp.data):
                verts = np.asarray(shp.data[-1])[:, -2:]
                pix = to_pixels(verts, shp, layer)
                box = clamp_box(pix.min(axis=0), pix.max(axis=0), data_shape)
                break
        if box is None:
            scene = getattr(self._viewer, "scene", None)  # napari >= 0.9
            camera = scene.camera if scene is not None else self._viewer.camera
            centre = np.asarray(camera.center[-2:])
            pix = (centre - np.asarray(layer.translate[-2:])) / np.asarray(layer.scale[-2:])
            box = centered_box(pix, (PREVIEW_SIZE, PREVIEW_SIZE), data_shape)
        frames = None
        if layer.ndim == 3:
            idx = self.current_frame(layer)
            if int(self.axis.value) == 0:  # the current frame and the ones continuity needs
                frames = (idx, *frame_window(idx, data_shape[0]))
            else:  # continuity along y or x: keep every plane of the stack in the ROI
                frames = (idx, 0, data_shape[0])
        return frames, box

    def current_frame(self, layer) -> int:
        """Index along the first axis of a 3-D layer at the viewer's current position."""
        point = self._viewer.dims.point[-3] if self._viewer.dims.ndim >= 3 else 0.0
        return int(np.clip(round((point - layer.translate[0]) / layer.scale[0]), 0,
                           layer.data.shape[0] - 1))

    def roi_crop(self, layer):
        """(frames, box, crop): :meth:`roi` and the layer's data inside it (for 3-D
        layers frames [a, b), of which frame ``frames[0]`` is the current one)."""
        frames, box = self.roi(layer)
        return frames, box, crop_of(layer.data, frames, box)

    def run_preview(self, *_):
        """Run the current parameters on the ROI in a worker (which also reads the
        crop); show it in one reused layer."""
        layer = self.image.value
        if layer is None or not self.preview.value:
            return None
        if self._preview_worker is not None:
            self._preview_worker.quit()
        try:
            frames, box = self.roi(layer)
            build, _, upsample, _ = self.make_job(layer, with_checks=False)
        except EXPECTED as err:
            self.status.value = f"preview: {err}"
            return None
        y0, x0 = box[0], box[2]
        data = layer.data

        def done(out):
            if worker is not self._preview_worker or not self.preview.value:
                return  # stale, or preview switched off meanwhile
            scale, translate = roi_geometry(layer.scale, layer.translate, y0, x0, upsample)
            show_reused(self._viewer, PREVIEW_NAME, out.result, scale, translate,
                        colormap="magma", blending="translucent_no_depth", **units_kw(layer, 2))
            self.status.value = "preview updated"

        def finished():
            if self._preview_worker is worker:
                self._preview_worker = None

        def job():
            out = yield from _on_crop(build, data, frames, box)
            return _Done(out)

        worker = start_worker(self, job, attr="_preview_worker", buttons=False,
                              yielded=lambda _t: None, returned=done,
                              errored=lambda e: setattr(self.status, "value", f"preview: {e}"),
                              aborted=lambda: None, finished=finished)
        return worker


def _on_crop(build, data, frames, box):
    """Run ``build`` on the crop (read here, in the worker); return the current frame."""
    out = yield from build(crop_of(data, frames, box))
    return out[frames[0] - frames[1]] if frames is not None else out
