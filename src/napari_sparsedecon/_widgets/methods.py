"""The "Deconvolution methods" dock: any registered method (``rl``, ``rl_tv``,
``sparse_psf``, ...) with controls generated from the method's parameter schema.

Nothing here lists parameters: choosing a method rebuilds the controls from
``method_info(name).schema`` (type, range, default, unit and help become the
widget, its limits, its value and its tooltip; ``advanced`` parameters go to a
collapsed section; t/z parameters are hidden for 2-D images). The run is the
library's :func:`napari_sparsedecon.iter_deconvolve` in a thread worker.
"""

from __future__ import annotations

import napari
import numpy as np
from magicgui.widgets import ComboBox, Label

from ..algorithms.registry import DEFAULT_METHOD, get_method, methods
from ..psf.basic import gaussian_psf
from ._controls import control_for, value_of
from ._layers import make_section, wrap_label
from .deconv import _DeconvBase

#: The paper pipeline has its own dock (preview, sweep, presets).
OWN_DOCK = ("sparse",)


class MethodWidget(_DeconvBase):
    """Any registered deconvolution method, its controls made from its schema."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, method: str | None = None):
        super().__init__(napari_viewer)
        names = [n for n in methods() if n not in OWN_DOCK]
        start = method or (DEFAULT_METHOD if DEFAULT_METHOD in names else names[0])
        self.method = ComboBox(label="method", choices=names, value=start,
                               tooltip="every registered method except the paper pipeline, "
                                       "which has its own dock")
        self.summary = wrap_label(Label(label="what", value=""))
        self.controls: dict = {}
        self.params_section = make_section("Parameters", [])
        self.advanced_section = make_section("Advanced (camera, background, ...)", [],
                                             expanded=False)
        self._finish_layout([
            make_section("Image and PSF", [self.image, self.psf_source, self.fwhm,
                                           self.psf_layer, self.eff_na, self.wavelength,
                                           self.psf_info]),
            make_section("Method", [self.method, self.summary, self.backend, self.threads]),
            self.params_section,
            self.advanced_section,
            make_section("Run", [self._run_section()], labels=False),
        ])
        self.method.changed.connect(self._rebuild)
        self.image.changed.connect(self._applicability)
        self._rebuild()

    @property
    def method_name(self) -> str:  # the result layer's suffix and the messages' prefix
        return self.method.value

    def _rebuild(self, *_):
        m = get_method(self.method.value)
        self.summary.value = m.summary + (f" - {m.docs}" if m.docs else "")
        for sec in (self.params_section, self.advanced_section):
            sec.body.clear()
        self.controls = {}
        for p in m.schema:
            if p.name == "psf_fwhm_px":
                continue
            w = control_for(p)
            self.controls[p.name] = w
            (self.advanced_section if p.advanced else self.params_section).body.append(w)
        self.backend.enabled = "opencl" in m.backends
        if not self.backend.enabled:
            self.backend.value = "numpy"
            self.backend.tooltip = f"{m.name} runs on NumPy only for now"
        self._applicability()

    def _applicability(self, *_):
        """Hide t/z controls for 2-D images and the time-continuity control for images
        that are not (T, Z, Y, X) (they would do nothing)."""
        from ..algorithms.rl_reg import ACTS_ON_T

        layer = self.image.value
        ndim = None if layer is None else layer.data.ndim
        m = get_method(self.method.value)
        for p in m.schema:
            if p.name not in self.controls:
                continue
            if p.acts_on == "t/z":
                self.controls[p.name].visible = ndim is None or ndim >= 3
            elif p.acts_on == ACTS_ON_T:
                self.controls[p.name].visible = ndim is None or ndim >= 4

    def parameters(self) -> dict:
        """The controls' values, validated by the method's schema (ValueError otherwise)."""
        m = get_method(self.method.value)
        vals = {p.name: value_of(p, self.controls[p.name]) for p in m.schema
                if p.name in self.controls}
        return m.validate(vals)

    def make_job(self, layer, with_checks=True):
        from ..api import iter_deconvolve
        from ..io.axes import from_layer

        name = self.method.value
        params = self.parameters()
        ia = from_layer(layer)
        z, x = ia.size_nm("Z"), ia.size_nm("X")
        if "aspect" in params and z and x and params["aspect"] == 1.0:
            # the control at its default: take the layer's z step / pixel size
            params = get_method(name).validate({**params, "aspect": z / x})
        psf, fwhm_px, desc = self.psf_arguments(layer)
        self.psf_info.value = desc
        if psf is None:
            psf = gaussian_psf(None, fwhm_px)
        backend = self.backend.value
        threads = self.threads.value or None
        info: dict = {}
        meta = {"method": name, "params": params, "psf": desc, "backend": backend,
                "estimated": info}

        def build(data):
            return iter_deconvolve(np.asarray(data), name, psf=psf, backend=backend,
                                   info=info, threads=threads, **params)

        return build, meta, 1, {"deconv": params.get("iterations", 1)}
