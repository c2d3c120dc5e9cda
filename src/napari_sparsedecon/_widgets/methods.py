"""The method's controls in the deconvolution dock, made from its parameter schema.

Nothing here lists parameters: choosing a method rebuilds the controls from its schema
(type, range, default, unit and help become the widget, its limits, its value and its
tooltip); ``advanced`` parameters go to a collapsed section; which controls act on the
image (t/z, time coupling) is the model's rule (:meth:`DeconvModel.shown_params`). A
schema with both ``upsample`` and ``upsample_method`` (the paper pipeline) gets one
"up-sampling" box for the pair.
"""

from __future__ import annotations

from magicgui.widgets import ComboBox

from ._controls import control_for, set_control, value_of

#: The up-sampling box: one choice per (upsample, upsample_method) pair of the schema.
UPSAMPLE_CHOICES = {
    "none": {"upsample": 1, "upsample_method": "fourier"},
    "x2 Fourier": {"upsample": 2, "upsample_method": "fourier"},
    "x2 spatial": {"upsample": 2, "upsample_method": "spatial"},
}
JOINED = ("upsample", "upsample_method")


class MethodControls:
    """The controls of one method: ``controls`` (name -> widget, the joined up-sampling
    box under "upsample"), split into ``basic`` and ``advanced`` lists."""

    def __init__(self, method):
        self.method = method
        self.schema = {p.name: p for p in method.schema}
        self.controls: dict = {}
        self.basic, self.advanced = [], []
        joined = all(n in self.schema for n in JOINED)
        for p in method.schema:
            if p.name == "psf_fwhm_px" and method.psf_in_schema:
                continue  # the PSF section's
            if joined and p.name in JOINED:
                if p.name == "upsample":
                    w = ComboBox(label="up-sampling", choices=list(UPSAMPLE_CHOICES),
                                 value="none",
                                 tooltip="x2 in Y/X before the sparse step (Fourier or "
                                         "spatial interpolation); output pixels are half "
                                         "the size")
                    self.controls["upsample"] = w
                    (self.advanced if p.advanced else self.basic).append(w)
                continue
            w = control_for(p)
            self.controls[p.name] = w
            (self.advanced if p.advanced else self.basic).append(w)
        self.joined = joined

    def values(self) -> dict:
        """The controls' values in their parameters' kinds (the model validates)."""
        out = {}
        for name, w in self.controls.items():
            if self.joined and name == "upsample":
                out.update(UPSAMPLE_CHOICES[w.value])
            else:
                out[name] = value_of(self.schema[name], w)
        return out

    def show(self, values: dict) -> None:
        """Show stored values (a parameter file, a preset, a suggestion, a sweep tile)."""
        for name, w in self.controls.items():
            if self.joined and name == "upsample":
                if "upsample" in values or "upsample_method" in values:
                    cur = UPSAMPLE_CHOICES[w.value]
                    want = {k: values.get(k, cur[k]) for k in JOINED}
                    if want["upsample"] == 1:
                        want["upsample_method"] = "fourier"
                    w.value = next(k for k, v in UPSAMPLE_CHOICES.items() if v == want)
            elif name in values:
                set_control(self.schema[name], w, values[name])

    def set_shown(self, shown: dict) -> None:
        """Hide the controls that do nothing on this image (the model's rule)."""
        for name, w in self.controls.items():
            w.visible = shown.get(name, True)
