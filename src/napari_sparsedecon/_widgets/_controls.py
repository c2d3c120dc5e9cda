"""Controls made from a :class:`~napari_sparsedecon.params.Param`: one widget per schema
parameter (type, range, default, unit and help become the widget, its limits, value and
tooltip), its value read back in the parameter's kind, and set from a stored value.
Used by every dock; nothing here lists parameters."""

from __future__ import annotations

import math

from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, SpinBox


def _step(p) -> float:
    v = abs(float(p.default or 0.0))
    return 10.0 ** math.floor(math.log10(v)) / 2 if v > 0 else 0.1


def control_for(p):
    """A magicgui widget for one :class:`~napari_sparsedecon.params.Param`."""
    tip = f"{p.help} ({p.describe()})"
    label = p.name.replace("_", " ") + (f" ({p.unit})" if p.unit else "")
    if p.kind == "bool":
        return CheckBox(label=label, value=bool(p.default), tooltip=tip)
    if p.kind == "choice":
        return ComboBox(label=label, choices=[str(c) for c in p.choices], value=str(p.default),
                        tooltip=tip)
    if p.optional or p.kind == "floats":
        w = LineEdit(label=label, value="" if p.default is None else str(p.default),
                     tooltip=tip + "; leave empty to estimate")
        w.native.setPlaceholderText("auto (estimated)")
        return w
    lo = p.low if p.low is not None else -1e9
    hi = p.high if p.high is not None else 1e9
    if p.kind == "int":
        return SpinBox(label=label, value=int(p.default), min=int(lo), max=int(hi), tooltip=tip)
    return FloatSpinBox(label=label, value=float(p.default), min=float(lo), max=float(hi),
                        step=_step(p), tooltip=tip)


def value_of(p, w):
    """The control's value in the parameter's kind (validation is the schema's job)."""
    if isinstance(w, LineEdit):
        text = str(w.value).strip()
        if not text:
            return None
        try:
            vals = [float(t) for t in text.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"{p.name}: {text!r} is not a number (leave it empty to "
                             f"estimate it)") from None
        return vals[0] if len(vals) == 1 else tuple(vals)
    if p.kind == "choice":
        return next(c for c in p.choices if str(c) == w.value)
    return w.value


def set_control(p, w, value) -> None:
    """Show a stored value (a parameter file, a preset, a suggestion) in the control."""
    if isinstance(w, LineEdit):
        w.value = "" if value is None else (
            " ".join(f"{v:g}" for v in value) if isinstance(value, (tuple, list))
            else f"{value:g}")
    elif p.kind == "choice":
        w.value = str(value)
    else:
        w.value = value
