"""The deconvolution dock's model: what the dock shows and runs, without Qt.

Like napari-animation's ``Animation`` (the model) and ``AnimationWidget`` (the view):
the view reads and writes the model and subscribes to its :class:`Signal` s; every
rule (which parameters a method has, which of them act on this image, what a preset
sets, what a parameter file holds, which PSF an image gets) lives here.

Events (each a :class:`Signal`; callbacks get the model's new value):
``method`` (name), ``params`` (the values dict), ``psf`` (the :class:`PSFChoice`),
``preset`` (name or None), ``image`` (the :class:`ImageInfo` or None).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from ..algorithms.registry import DEFAULT_METHOD, get_method, methods
from .psf_source import (
    AIRY,
    FWHM_PX,
    ImageInfo,
    PSFChoice,
    ResolvedPSF,
    ViewChoice,
    resolve_psf,
)

__all__ = ["DeconvModel", "ImageInfo", "Signal", "ViewChoice", "PRESET_METHOD",
           "TRUST_CHECKS"]

#: The method whose parameters a preset holds; every method takes a preset's PSF.
PRESET_METHOD = "sparse"
#: The trust checks a run can add (see :mod:`.checks`).
TRUST_CHECKS = ("residual", "frc", "hallucination", "convergence")
#: ``acts_on`` of parameters that act only on (T, Z, Y, X) data (time coupling).
ACTS_ON_T = "t of (T, Z, Y, X)"


class Signal:
    """A list of callbacks: ``connect(cb)``, ``disconnect(cb)``, ``emit(value)``."""

    def __init__(self):
        self._callbacks: list = []

    def connect(self, cb):
        if cb not in self._callbacks:
            self._callbacks.append(cb)
        return cb

    def disconnect(self, cb) -> None:
        if cb in self._callbacks:
            self._callbacks.remove(cb)

    def emit(self, value=None) -> None:
        for cb in list(self._callbacks):
            cb(value)


class Events:
    def __init__(self):
        self.method, self.params, self.psf = Signal(), Signal(), Signal()
        self.preset, self.image = Signal(), Signal()


class DeconvModel:
    """Method, validated parameters, PSF source, preset, backend and trust checks of the
    deconvolution dock, and the image they apply to. Jobs: :mod:`.jobs`."""

    def __init__(self, method: str | None = None):
        self.events = Events()
        self.method_name = method or DEFAULT_METHOD
        get_method(self.method_name)  # a clear error for an unknown name
        self.values = get_method(self.method_name).defaults()
        self.psf = PSFChoice()
        self.preset: str | None = None
        self.backend = "numpy"
        self.threads = 0
        self.checks = dict.fromkeys(TRUST_CHECKS, False)
        self.memory_budget: int | None = None
        self.image: ImageInfo | None = None
        #: more views of the image's object (multi-view): [ViewChoice], the image is view 1
        self.views: list = []
        self._prep: dict = {}
        self._prep_lock = threading.Lock()

    # -- method and parameters -------------------------------------------------------
    @staticmethod
    def method_names() -> tuple[str, ...]:
        return methods()

    @property
    def method(self):
        return get_method(self.method_name)

    def set_method(self, name: str) -> None:
        """Switch method: its parameters are rebuilt from its schema's defaults (no value
        carries over: two methods' "sparsity" are on different scales). A chosen preset
        stays (it describes the microscope: its PSF is every method's); switching to the
        paper pipeline fills the preset's parameters in."""
        m = get_method(name)
        if name == self.method_name:
            return
        self.method_name, self.values = name, m.defaults()
        if not m.backends or self.backend not in m.backends:
            self.backend = "numpy"
        if self.preset is not None:
            from ..presets import preset_method_params

            vals = preset_method_params(self.preset, name)
            self.values = m.validate({**self.values, **{k: v for k, v in vals.items()
                                                        if k in self.values}})
        self.events.method.emit(name)
        self.events.params.emit(self.values)
        if self.preset is not None:
            self.events.preset.emit(self.preset)  # its text names the method

    def param(self, name: str):
        for p in self.method.schema:
            if p.name == name:
                return p
        raise ValueError(f"method {self.method_name!r} has no parameter {name!r}; its "
                         f"parameters: {[p.name for p in self.method.schema]}")

    def set_param(self, name: str, value) -> None:
        """Set one parameter (checked by its schema entry: type, range, choices)."""
        v = self.param(name).check(value)
        if self.values.get(name) != v:
            self.values = {**self.values, name: v}
            self.events.params.emit(self.values)

    def set_params(self, values: dict) -> None:
        """Set several parameters (those left out keep their value); all are checked
        before any is set."""
        new = self.method.validate({**self.values, **dict(values)})
        if new != self.values:
            self.values = new
            self.events.params.emit(self.values)

    def shown_params(self, ndim: int | None = None) -> dict:
        """{name: whether its control acts on an image of ``ndim`` axes}: t/z parameters
        act on 3-D and 4-D images, time coupling on (T, Z, Y, X) only; the PSF FWHM of a
        method that takes it (the paper pipeline) is the PSF section's."""
        out = {}
        for p in self.method.schema:
            if p.name == "psf_fwhm_px" and self.method.psf_in_schema:
                continue
            if p.acts_on == ACTS_ON_T:
                out[p.name] = ndim is None or ndim >= 4
            elif p.name == "axis":  # the axis continuity takes among a stack's three
                out[p.name] = ndim is None or ndim == 3
            elif p.acts_on == "t/z":
                out[p.name] = ndim is None or ndim >= 3
            else:
                out[p.name] = True
        return out

    def dims_note(self) -> str:
        """What the t/z parameters do on the current image, in words ('' when plain)."""
        img = self.image
        if img is None or img.ndim == 3:
            return ""
        if img.ndim == 4:
            if "t_continuity" in self.values:
                return (f"'{img.name}' is (T, Z, Y, X): t_continuity > 0 solves the time "
                        f"points as one problem, 0 runs each time point as its own volume")
            return (f"'{img.name}' is (T, Z, Y, X): each time point runs as its own volume, "
                    f"continuity along z within it; time points are not coupled")
        if any(p.acts_on for p in self.method.schema):
            return f"the t/z parameters apply to stacks; '{img.name}' is {img.ndim}-D"
        return ""

    # -- more views of the same object (multi-view) ------------------------------------
    def set_views(self, views) -> None:
        """More views of the image's object, registered onto its grid (:class:`ViewChoice`
        each, with its own PSF): the run then uses the method's multi-view form (the
        data term summed over the image and these views). ``[]``: one view."""
        self.views = list(views)

    def check_views(self, image: ImageInfo | None = None) -> None:
        """The views fit the image and the method (a ValueError saying what to change)."""
        img = image or self.image
        if not self.views:
            return
        if self.method.views_plan is None:
            from ..algorithms.multiview import multiview_methods

            raise ValueError(f"method {self.method_name!r} has no multi-view form: choose "
                             f"one of {multiview_methods()}, or clear the extra views")
        for v in self.views:
            if img is not None and tuple(v.shape) != tuple(img.shape):
                raise ValueError(f"view '{v.name}' is {tuple(v.shape)}, the image "
                                 f"'{img.name}' {tuple(img.shape)}: register and resample "
                                 f"the views onto one grid first")
            if v.psf is None:
                raise ValueError(f"view '{v.name}' needs its PSF layer")
            if np.ndim(v.psf) not in (2, 3) or (img is not None and np.ndim(v.psf) > len(
                    img.shape)):
                raise ValueError(f"the PSF of view '{v.name}' is {np.ndim(v.psf)}-D; give a "
                                 f"2-D or 3-D PSF no deeper than the image")

    # -- image, PSF ------------------------------------------------------------------
    def set_image(self, info: ImageInfo | None) -> None:
        if info != self.image:
            self.image = info
            self.events.image.emit(info)

    def set_psf(self, **changes) -> None:
        """Change PSF controls (:class:`PSFChoice` fields)."""
        changed = False
        for k, v in changes.items():
            if not hasattr(self.psf, k):
                raise ValueError(f"unknown PSF setting {k!r}")
            old = getattr(self.psf, k)
            same = (old is v or (isinstance(old, np.ndarray) and isinstance(v, np.ndarray)
                                 and old.shape == v.shape and np.array_equal(old, v))
                    or (not isinstance(old, np.ndarray) and not isinstance(v, np.ndarray)
                        and old == v))
            if not same:
                setattr(self.psf, k, v)
                changed = True
        if changed:
            self.events.psf.emit(self.psf)

    def resolved_psf(self, image: ImageInfo | None = None) -> ResolvedPSF:
        img = image or self.image
        if img is None:
            raise ValueError("choose an image layer first")
        return resolve_psf(self.psf, img, fwhm_in_params=self.method.psf_in_schema)

    def job_params(self, psf: ResolvedPSF, image: ImageInfo | None = None) -> dict:
        """The validated parameters a run on ``image`` takes: the paper pipeline's PSF
        FWHM from the PSF source, its continuity axis 0 unless the image is 3-D, and an
        aspect (z step / pixel size) at its default taken from the image's scale."""
        img = image or self.image
        vals = dict(self.values)
        if self.method.psf_in_schema:
            vals["psf_fwhm_px"] = psf.fwhm_px if psf.array is None else None
        if "axis" in vals and (img is None or img.ndim != 3):
            vals["axis"] = 0
        if "aspect" in vals and vals["aspect"] == 1.0 and img is not None:
            dz, px = img.z_step_nm, img.pixel_nm
            if dz and px:
                vals["aspect"] = float(np.clip(dz / px, 0.01, 1e3))
        return self.method.validate(vals)

    # -- presets: the microscope's PSF for every method, the paper pipeline's values --
    @staticmethod
    def presets():
        from ..presets import list_presets

        return list_presets()

    def apply_preset(self, name: str | None):
        """Set the preset's Airy PSF (its effective NA and wavelength, made at the image's
        pixel size) for the current method, and with the paper pipeline every parameter
        from the preset (other methods keep their own parameters: the preset's fidelity
        and sparsity are on the paper pipeline's scale). ``None`` clears the preset (the
        values stay). Returns the preset (or None)."""
        if name is None:
            if self.preset is not None:
                self.preset = None
                self.events.preset.emit(None)
            return None
        from ..presets import get_preset, preset_method_params

        p = get_preset(name)
        vals = preset_method_params(p, self.method_name)
        self.set_params({k: v for k, v in vals.items() if k in self.values})
        self.set_psf(source=AIRY, effective_na=p.effective_na, wavelength_nm=p.wavelength_nm)
        self.preset = p.name
        self.events.preset.emit(p.name)
        return p

    def preset_text(self) -> str:
        if self.preset is None:
            return ""
        from ..presets import get_preset, preset_note

        p = get_preset(self.preset)
        notes = p.notes if self.method_name == PRESET_METHOD else ()
        text = (f"{p.name} {preset_note(p, self.method_name)}. {p.reference}"
                + "".join(f"; {n}" for n in notes))
        if self.image is not None and self.image.pixel_nm is None:
            text = (f"'{self.image.name}' has no pixel size: set its scale and units for "
                    f"the Airy PSF. " + text)
        return text

    # -- parameter files (``napari-sparsedecon run --params`` reads them) -------------
    def params_document(self) -> dict:
        """What a parameter file holds. The paper pipeline: its flat parameter object
        (with the PSF FWHM in pixels for the current image), as ``run --method sparse
        --params`` reads it; other methods: ``{"method": name, "params": {...}}``, the
        shape of a result's record, which ``run --method NAME --params`` reads."""
        from ..params import jsonable

        if self.method.psf_in_schema:
            psf = self.resolved_psf() if self.image is not None else None
            return jsonable(self.job_params(psf) if psf is not None else self.values)
        return jsonable({"method": self.method_name, "params": self.values})

    def save_params(self, path) -> str:
        from ..io.tiff import atomic_write

        text = json.dumps(self.params_document(), indent=2)

        def write(tmp):
            with open(tmp, "w") as fh:
                fh.write(text)

        return atomic_write(path, write)

    def load_params(self, path) -> dict:
        """Fill the model from a parameter file (a result's record, or a flat object of
        one method's parameters: the current method's when they fit it, else the one
        method whose schema holds every name). Returns the values set."""
        d = json.loads(Path(path).read_text())
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object of name: value")
        if isinstance(d.get("params"), dict):
            name, vals = d.get("method", self.method_name), d["params"]
        else:
            name, vals = self._method_of(d), d
        m = get_method(name)
        checked = m.validate(vals)  # every value checked before anything is set
        self.set_method(name)
        self.set_params(checked)
        fw = checked.get("psf_fwhm_px") if m.psf_in_schema else None
        if fw is not None:
            if np.ndim(fw):
                self.set_psf(source=FWHM_PX, fwhm=float(fw[-1]), axial_fwhm=float(fw[0]))
            else:
                self.set_psf(source=FWHM_PX, fwhm=float(fw), axial_fwhm=0.0)
        return checked

    def _method_of(self, d: dict) -> str:
        keys = set(d)
        fits = [n for n in (self.method_name, *methods())
                if keys <= {p.name for p in get_method(n).schema}]
        if not fits:
            raise ValueError(f"no method has every parameter of the file: {sorted(keys)}")
        return fits[0]

    # -- whole-image estimates, once per image ------------------------------------------
    def prep_key(self, token, psf: np.ndarray, params: dict) -> tuple:
        """What the estimates depend on: the image, the method, the PSF and the method's
        advanced parameters (camera model, background)."""
        adv = tuple((p.name, repr(params.get(p.name))) for p in self.method.schema
                    if p.advanced)
        pa = np.ascontiguousarray(psf)
        return (token, self.method_name, pa.shape, hash(pa.tobytes()), adv)

    def prep_for(self, image, psf, params: dict, *, token=None):
        """The method's whole-image estimates of ``image`` (``Method.prepare``), made once
        and cached under :meth:`prep_key` (``token`` names the image; default its id),
        so that previews, sweeps and Suggest reuse them. None for a method without.
        ``image`` may be a function returning it: called only when not cached."""
        m = self.method
        if m.prepare is None:
            return None
        key = self.prep_key(id(image) if token is None else token, psf, params)
        with self._prep_lock:
            hit = self._prep.get(key)
        if hit is not None:
            return hit
        if callable(image):
            image = image()
        prep, _, _ = m.prepare(np.asarray(image, dtype=np.float32), psf, params)
        with self._prep_lock:
            if len(self._prep) > 8:
                self._prep.clear()
            self._prep[key] = prep
        return prep

    def clear_prep(self) -> None:
        with self._prep_lock:
            self._prep.clear()

    # -- metadata -------------------------------------------------------------------
    def record(self, params: dict, psf: ResolvedPSF, *, estimates=None, backend=None,
               device=None, **extra) -> dict:
        """The result's metadata record (:func:`~napari_sparsedecon.algorithms.record.
        make_record`): method, parameters, PSF, estimates, backend, device, version, and
        the preset when one is chosen."""
        from ..algorithms.record import make_record

        if self.preset is not None:
            extra.setdefault("preset", self.preset)
        rec = dict(psf.record, text=psf.text)
        return make_record(self.method_name, params, psf=rec, estimates=estimates,
                           backend=backend, device=device, **extra)
