"""The "Process files" section of the deconvolution dock: the batch engine on a folder.

Thin: :func:`napari_sparsedecon.largedata.batch.run_batch` runs in a thread worker with the dock's
current parameters and PSF (FWHM in pixels or nm, or the Airy recipe, converted per file
at the file's own pixel size, as the CLI does); the GUI polls the worker's progress ten
times a second. Cancel stops the file being written (its temporary output is removed;
finished files are kept) and skips the rest.
"""

from __future__ import annotations

import time

from magicgui.widgets import ComboBox, Container, FileEdit, Label, ProgressBar, PushButton
from napari.utils.notifications import show_error, show_info, show_warning

from ._fit import button_row
from ._layers import EXPECTED, call_in_worker, wrap_label


class Cancelled(BaseException):
    """Raised in the worker by the progress callback once cancel was asked (a
    BaseException, so that the batch engine's per-file error handling lets it through
    after removing the file's temporary output)."""


def batch_arguments(owner) -> tuple[str, dict, dict]:
    """(method, parameter dict, PSF keywords of the batch engine) from the dock's model:
    the PSF as a FWHM in pixels or nm (converted per file at its own pixel size, as the
    CLI does), or the paper pipeline's Airy recipe."""
    from .deconv import AIRY

    model = owner.model
    if owner.ctrl is not None:
        model.set_params(owner.ctrl.values())
    m = model.method
    src = owner.psf_source.value
    kw, fwhm_px = {}, None
    if src == "PSF layer":
        raise ValueError("Process files takes the PSF as a FWHM or an Airy PSF (made at each "
                         "file's pixel size); for a measured PSF save it as a TIFF and use "
                         "'napari-sparsedecon run --psf'")
    if src == AIRY:
        if not m.psf_in_schema:
            raise ValueError(f"Process files makes an Airy PSF per file for the paper "
                             f"pipeline only; give method {m.name!r} a FWHM (nm or pixels)")
        kw["psf_optics"] = {"effective_na": float(owner.eff_na.value),
                            "wavelength_nm": float(owner.wavelength.value)}
    elif src == "FWHM (nm)":
        kw["psf_fwhm_nm"] = float(owner.fwhm.value)
    else:
        fwhm_px = float(owner.fwhm.value)
    params = dict(model.values)
    if m.psf_in_schema:
        params["psf_fwhm_px"] = fwhm_px
    elif fwhm_px is not None:
        kw["psf_fwhm_px"] = fwhm_px
    return m.name, m.validate(params), kw


def process_folder(folder, params: dict, *, out_dir=None, fmt="tif", memory_budget=None,
                   backend="numpy", state=None, method="sparse", **psf_kw) -> dict:
    """Run the batch engine on the images of ``folder`` (Qt-free) with ``method``.

    ``state`` (a dict shared with the GUI) receives 'n', 'i' (files finished), 'name',
    'tick' (the current file's last Progress) and 'results'; setting ``state['cancel']``
    stops at the next progress report. Returns {'results', 'skipped', 'earlier',
    'cancelled', 'seconds'}.
    """
    from ..io.outputs import check_not_protected
    from ..largedata import batch

    state = {} if state is None else state
    t0 = time.perf_counter()
    files, earlier = batch.expand_inputs([str(folder)])
    if not files:
        raise ValueError(f"no .tif, .tiff or .zarr images in {folder}")
    jobs, skipped = batch.plan_jobs(files, out_dir=out_dir or None, fmt=fmt)
    for j in jobs:
        check_not_protected(j.dst, [(f, "an input") for f in files])
    state.update(n=len(jobs), i=0, name=jobs[0].src if jobs else "", results=[])

    def progress(pr):
        if state.get("cancel"):
            raise Cancelled
        state["tick"] = pr

    def on_file(r, i, n):
        state["results"].append(r)
        state["i"] = i
        state["tick"] = None
        if i < n:
            state["name"] = jobs[i].src
        if state.get("cancel") and i < n:
            raise Cancelled

    cancelled = False
    try:
        if method == "sparse":
            batch.run_batch(jobs, params, memory_budget=memory_budget, backend=backend,
                            on_file=on_file, progress=progress, **psf_kw)
        else:
            from ..largedata.method_batch import run_method_batch

            run_method_batch(jobs, method, params, memory_budget=memory_budget,
                             backend=backend, on_file=on_file, progress=progress, **psf_kw)
    except Cancelled:
        cancelled = True
    return {"results": list(state["results"]), "skipped": skipped, "earlier": earlier,
            "cancelled": cancelled, "seconds": time.perf_counter() - t0, "n": len(jobs)}


def summary(out: dict) -> str:
    """One line: how many files were written, failed, skipped; and whether cancelled."""
    res = out["results"]
    ok = sum(r["status"] == "ok" for r in res)
    text = (f"{ok} ok, {len(res) - ok} failed, {len(out['skipped'])} skipped (output exists)"
            f" in {out['seconds']:.1f} s")
    if out["cancelled"]:
        text += f"; cancelled after {len(res)} of {out['n']} file(s), its partial output removed"
    return text


class FilesPanel(Container):
    """Process every image of a folder with the owner dock's parameters."""

    def __init__(self, owner):
        super().__init__(labels=True)
        from qtpy.QtCore import QTimer

        self._owner = owner
        self._worker = None
        self.activity = None  # the last batch's bar in napari's activity panel
        self._state = {}
        self.folder = FileEdit(label="input folder", mode="d",
                               tooltip="its .tif, .tiff and .zarr images are processed "
                                       "(earlier *_sparse outputs are left out)")
        self.out_dir = FileEdit(label="output folder", mode="d", value="",
                                tooltip="empty: beside each input, as <name>_sparse.<format>; "
                                        "existing outputs are skipped, never replaced")
        self.fmt = ComboBox(label="format", choices=[("ImageJ TIFF", "tif"),
                                                     ("OME-Zarr", "zarr")], value="tif")
        self.run_button = PushButton(text="Process folder")
        self.cancel_button = PushButton(text="Cancel files", enabled=False)
        self.progress = ProgressBar(label="files", value=0, min=0, max=1000)
        self.status = wrap_label(Label(label="status", value="idle"))
        self.extend([self.folder, self.out_dir, self.fmt,
                     button_row(self.run_button, self.cancel_button),
                     self.progress, self.status])
        self.margins = (0, 0, 0, 0)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self._timer = QTimer(self.native)
        self._timer.setInterval(250)  # progress polled 4 times a second (each is a repaint)
        self._timer.timeout.connect(self._poll)

    @staticmethod
    def _path(edit) -> str:
        return str(edit.line_edit.value).strip()

    def run(self, *_):
        """Start the batch engine on the folder in a worker; returns the worker."""
        owner = self._owner
        try:
            folder = self._path(self.folder)
            if not folder:
                raise ValueError("choose an input folder")
            method, params, psf_kw = batch_arguments(owner)
        except EXPECTED as err:
            show_error(f"process files: {err}")
            self.status.value = f"error: {err}"
            return None
        self._state = state = {}
        kw = dict(out_dir=self._path(self.out_dir) or None, fmt=self.fmt.value,
                  memory_budget=owner.budget_bytes(), backend=owner.backend.value,
                  state=state, method=method, **psf_kw)
        self.status.value = f"starting on {folder}"
        from ._layers import show_progress

        show_progress(self.progress, 0.0)  # "0%", not the last batch's stage text
        self.run_button.enabled, self.cancel_button.enabled = False, True
        from ._activity import Activity

        self.activity = Activity(f"process files in {folder}")
        self._worker = call_in_worker(lambda: process_folder(folder, params, **kw),
                                      returned=self._on_done, errored=self._on_error,
                                      finished=self._on_finished)
        self._timer.start()
        return self._worker

    def cancel(self, *_):
        """Stop at the next progress report: the file being written is removed, the
        finished ones are kept, the rest are not started."""
        if self._worker is not None:
            self._state["cancel"] = True
            self.status.value = "cancelling..."

    def _poll(self):
        st = self._state
        n = st.get("n")
        if not n or st.get("cancel"):
            return
        i, tick = st.get("i", 0), st.get("tick")
        part = 0.0
        text = ""
        if tick is not None and getattr(tick, "total", 0):
            part = min(tick.iteration / tick.total, 1.0)
            text = f" \u00b7 {tick.stage} {tick.iteration}/{tick.total}"
        from pathlib import Path

        from ._layers import show_progress

        show_progress(self.progress, min((i + part) / n, 1.0), f"%p%{text}")
        self.activity.update(min((i + part) / n, 1.0))
        status = f"file {i + 1}/{n}: {Path(st.get('name', '')).name}"
        if i < n and self.status.value != status:  # a new label text re-lays out the dock
            self.status.value = status

    def _on_done(self, out):
        self.result = out
        text = summary(out)
        failed = [r for r in out["results"] if r["status"] != "ok"]
        for r in failed:
            show_warning(f"process files: {r['src']} failed: {r['error']}")
        self.progress.value = 1000 if not out["cancelled"] else self.progress.value
        self.status.value = text + "".join(f"\n{r['src']}: {r['error']}" for r in failed)
        show_info(f"process files: {text}")

    def _on_error(self, err):
        show_error(f"process files: {err}")
        self.status.value = f"error: {err}"

    def _on_finished(self):
        from ._layers import show_progress

        self._timer.stop()
        self._worker = None
        self.activity.close()
        show_progress(self.progress, self.progress.value / 1000)  # back to "NN%"
        self.run_button.enabled, self.cancel_button.enabled = True, False
