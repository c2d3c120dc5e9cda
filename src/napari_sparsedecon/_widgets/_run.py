"""Running the deconvolution dock's jobs: whole layer in memory or tiled into a store,
cancel, the result layer with its record, the trust checks' layers, Save.

Thin: the jobs are the dock model's (:mod:`napari_sparsedecon.dock.jobs`, ``.tiled``);
this mixin starts them in napari thread workers (reading the layer's data there too),
shows throttled progress and turns results into layers.
"""

from __future__ import annotations

import time

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning

from ..analysis.roi import result_geometry
from ..dock.checks import finish, problems, verdict
from ._layers import (
    EXPECTED,
    add_helper,
    one_per_turn,
    show_progress,
    start_worker,
    tick_format,
    units_kw,
)


class Stored:
    """A tiled run's result: the lazy array read from its store, its contrast limits (read
    in the worker) and the store's path."""

    def __init__(self, data, limits, path):
        self.data, self.limits, self.path = data, limits, path


class RunMixin:
    """Run, cancel, results and Save of the deconvolution dock (needs ``self.model``,
    ``self._viewer``, the run controls and ``self.sync(layer)``)."""

    def _fail(self, err, prefix=None):
        show_error(f"{prefix or self.method_name}: {err}")
        self.status.value = f"error: {err}"

    def run(self, *_):
        """Run on the whole layer: in memory when the estimated peak fits the memory
        budget, else tile by tile into an OME-Zarr store (:meth:`run_tiled`); the status
        and the result's metadata say which path ran. The layer's data is read in the
        worker (a lazy layer is not materialised on the GUI thread)."""
        from ..dock.tiled import choose_path
        from ..largedata.paths import IN_MEMORY

        try:
            layer = self.sync()
            choice = choose_path(self.model, tuple(layer.data.shape), self.budget_bytes())
            frame = self.current_frame(layer) if layer.ndim == 3 else None
            job = None if choice.path != IN_MEMORY else self.make_job(frame=frame)
        except EXPECTED as err:
            self._fail(err)
            return None
        self._choice = choice
        self.path_info.value = choice.describe()
        self.trust_verdict.visible = self.details_section.visible = False  # the last run's
        if job is None:
            return self.run_tiled(layer, choice)
        job.extra["path"] = choice.describe()
        self.cancel()
        t0 = time.perf_counter()
        self.status.value = "running"
        show_progress(self.progress, 0.0)
        return start_worker(self, lambda: finish(job.build(np.asarray(layer.data))),
                            plan=job.plan, yielded=self._on_progress,
                            returned=lambda out: self._on_result(out, layer, job, t0),
                            errored=self._on_error, aborted=self._on_aborted,
                            finished=self._on_finished,
                            activity=f"{self.method_name} on '{layer.name}'")

    def make_job(self, *, frame=None):
        """The model's whole-layer job (read on the GUI thread; built in the worker)."""
        from ..dock.jobs import run_job

        return run_job(self.model, frame=frame)

    def cancel(self, *_):
        """Stop the running job at its next iteration; no layer is added."""
        if self._worker is not None:
            self._worker.quit()

    def _on_progress(self, tick):
        show_progress(self.progress, tick.fraction, tick_format(tick))

    def _add_result(self, data, layer, record, limits, upsample, **kw):
        scale, translate = result_geometry(layer.scale, layer.translate, upsample)
        name = f"{layer.name} {record['method']}"
        self._viewer.add_image(data, name=name, scale=scale, translate=translate,
                               metadata={"napari_sparsedecon": record},
                               colormap=layer.colormap.name, contrast_limits=limits,
                               **kw, **units_kw(layer))
        self._result_name = name
        self.save_button.enabled = True
        self.progress.value = 1000
        return name

    def _on_result(self, done, layer, job, t0):
        seconds = time.perf_counter() - t0
        more = {"trust": done.report.summary()} if done.report is not None else {}
        rec = job.record(seconds=round(seconds, 3), source=layer.name, **more)
        name = self._add_result(done.result, layer, rec, done.limits, job.upsample)
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
        text, found = verdict(report), problems(report)

        def tell():  # the messages on a turn of their own too (notifications are widgets)
            self.trust_verdict.value = text  # under the run's status: where the eye is
            self.trust_details.value = report.summary()
            self.trust_verdict.visible = self.details_section.visible = True
            (show_warning if found else show_info)(f"trust checks of '{name}': {text}")

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

    # -- larger than memory --------------------------------------------------------
    def budget_bytes(self) -> int | None:
        """The memory budget in bytes, or None for the default (half the available)."""
        return int(self.memory_budget.value) * 2**20 or None

    def store_value(self) -> str:
        """The result store's path as typed ('' when none)."""
        return str(self.store_path.line_edit.value).strip()

    def run_tiled(self, layer, choice):
        """Process the whole layer block by block (within the memory budget) into a new
        OME-Zarr store, in a worker, and show the result lazily from the store.
        Cancelling or an error leaves no store (a temporary folder is removed too)."""
        from ..dock.tiled import check_store, tiled_job
        from ..io.axes import from_layer
        from ..largedata.paths import contrast_limits, open_result, remove_temp, temp_store

        try:
            dst, folder = self.store_value(), None
            if dst:
                check_store(dst, getattr(getattr(layer, "source", None), "path", None))
            else:
                dst, folder = temp_store(f"{layer.name}_{self.model.method_name}")
            job = tiled_job(self.model, choice, from_layer(layer), dst)
        except EXPECTED as err:
            self._fail(err)
            return None
        perm, _ = job.axes.ordered()
        self.cancel()
        t0 = time.perf_counter()
        where = f"temporary folder {folder}" if folder else dst
        self.status.value = f"running tiled into {where}"
        show_progress(self.progress, 0.0)
        data, state = layer.data, {}

        def work():
            gen = job.build(data)
            state["gen"] = gen
            out = yield from gen
            lazy, _ = open_result(out, perm)
            return Stored(lazy, contrast_limits(lazy), out)

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

        def stored(st):
            seconds = time.perf_counter() - t0
            rec = job.record(seconds=round(seconds, 3), source=layer.name, store=dst)
            self._add_result(st.data, layer, rec, st.limits, job.upsample, multiscale=False)
            kept = (f"temporary store {st.path} (save it elsewhere to keep it)" if folder
                    else f"store {st.path}")
            self.status.value = (f"done in {seconds:.2f} s, tiled (larger than the memory "
                                 f"budget); shown lazily from the {kept}")

        return start_worker(self, work, plan={"tiles": 1}, yielded=self._on_progress,
                            returned=stored, errored=failed, aborted=aborted,
                            finished=self._on_finished,
                            activity=f"{self.method_name} on '{layer.name}', tiled")

    # -- saving --------------------------------------------------------------
    def save_result(self, path, *, overwrite=False):
        """Write the last result layer with the plugin's writer (``.tif``/``.tiff``:
        ImageJ TIFF, ``.zarr``: OME-Zarr) in a thread worker, keeping its pixel size
        and the record. Refuses an existing path unless ``overwrite``. Returns the
        worker."""
        from pathlib import Path

        from .._napari_io import save_layer_data
        from ._layers import call_in_worker

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
            self._fail(f"saving failed: {err}")

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
                self._fail(err)
