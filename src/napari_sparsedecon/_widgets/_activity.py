"""What a dock tells its user while and after a job runs:

- :func:`tell`: a message beside the control that caused it (a label under the button or
  box) and as a napari notification, once per new message (a preview that re-runs on
  every change does not repeat its toast);
- :class:`Activity`: the job's progress in napari's activity panel too (a
  ``napari.utils.progress`` bar, updated from the worker's already throttled ticks, and
  closed when the job ends, is cancelled or fails).
"""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info, show_warning


def tell(label, text: str, *, level: str = "error", prefix: str = "") -> None:
    """Show ``text`` in ``label`` (a magicgui Label beside the control that caused it;
    "error: ..." or "warning: ..." for those levels) and, when it is new there, as a
    napari notification of ``level`` ("error", "warning" or "info") starting with
    ``prefix``."""
    shown = f"{level}: {text}" if level in ("error", "warning") else text
    new = label is None or label.value != shown
    if label is not None:
        label.value = shown
        label.visible = True
    if new:
        show = {"error": show_error, "warning": show_warning, "info": show_info}[level]
        show(f"{prefix}: {text}" if prefix else text)


#: The activity panel's bar counts to this (fractions of a job are shown in 0.1%).
STEPS = 1000


class Activity:
    """A job's bar in napari's activity panel (``napari.utils.progress``): made when the
    job starts, :meth:`update` with each (throttled) tick, :meth:`close` once at the end
    whatever the end (a second close does nothing)."""

    def __init__(self, desc: str):
        from napari.utils import progress

        self.bar = progress(total=STEPS, desc=desc, leave=False)
        self.closed = False

    def update(self, fraction: float, text: str | None = None) -> None:
        if self.closed:
            return
        n = int(round(STEPS * min(max(float(fraction), 0.0), 1.0)))
        if text and text != self.bar.desc:
            self.bar.set_description(text)
        if n > self.bar.n:
            self.bar.update(n - self.bar.n)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bar.close()
