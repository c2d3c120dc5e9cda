"""One notion of an image's axes and physical scale, read from every input format.

:class:`ImageAxes` names each array axis with one of ``T``, ``C``, ``Z``, ``Y``,
``X`` (in that order, the OME-NGFF order) and gives its pixel size and unit.
Lengths are kept in the file's own unit and converted on demand
(:meth:`ImageAxes.size_nm`); times likewise (:meth:`ImageAxes.interval_s`). A
size that a file does not state is ``None``: nothing here assumes 1 um.

Readers: :func:`from_tiff` (ImageJ hyperstacks, OME-TIFF through tifffile's
OME-XML parser, plain TIFF with a centimetre resolution unit),
:func:`from_ngff` (OME-Zarr ``multiscales``, NGFF 0.4 and 0.5) and
:func:`from_layer` (a napari layer or the ``meta`` dict a writer receives).
No Qt, no napari import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

ORDER = "TCZYX"

#: nanometres per length unit; keys are lower-case spellings found in the wild
#: (ImageJ writes 'micron' or an escaped '\\u00B5m', OME 'µm', NGFF 'micrometer').
NM_PER = {
    "pm": 1e-3, "picometer": 1e-3, "picometre": 1e-3,
    "å": 0.1, "angstrom": 0.1, "ångström": 0.1,
    "nm": 1.0, "nanometer": 1.0, "nanometre": 1.0,
    "um": 1e3, "µm": 1e3, "μm": 1e3, "\\u00b5m": 1e3, "micron": 1e3, "microns": 1e3,
    "micrometer": 1e3, "micrometre": 1e3,
    "mm": 1e6, "millimeter": 1e6, "millimetre": 1e6,
    "cm": 1e7, "centimeter": 1e7, "centimetre": 1e7,
    "m": 1e9, "meter": 1e9, "metre": 1e9,
}
#: seconds per time unit
S_PER = {
    "ns": 1e-9, "nanosecond": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "microsecond": 1e-6,
    "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
#: canonical (short) spelling of each unit, and its UDUNITS name for OME-NGFF
_SHORT = {1e-3: "pm", 0.1: "angstrom", 1.0: "nm", 1e3: "um", 1e6: "mm", 1e7: "cm", 1e9: "m"}
_SHORT_T = {1e-9: "ns", 1e-6: "us", 1e-3: "ms", 1.0: "s", 60.0: "min", 3600.0: "h"}
NGFF_UNIT = {"pm": "picometer", "angstrom": "angstrom", "nm": "nanometer",
             "um": "micrometer", "mm": "millimeter", "cm": "centimeter", "m": "meter",
             "ns": "nanosecond", "us": "microsecond", "ms": "millisecond", "s": "second",
             "min": "minute", "h": "hour"}
_NO_UNIT = ("", "pixel", "pixels", "px", "none", "unknown")

HOW_TO_CALIBRATE = (
    "set the pixel size in the file (Fiji: Image > Properties, then save as TIFF; "
    "napari: the layer's scale and units; OME-Zarr: the 'scale' transform and axis "
    "'unit'), or give the PSF size in pixels (--psf-fwhm-px)")


def normalize_unit(unit) -> str | None:
    """The short spelling ('nm', 'um', 's', 'ms', ...) of a unit, or None for none/pixel.

    Raises ValueError for a unit that is neither a length nor a time.
    """
    if unit is None:
        return None
    key = str(unit).strip().lower()
    if key in _NO_UNIT:
        return None
    if key in NM_PER:
        return _SHORT[NM_PER[key]]
    if key in S_PER:
        return _SHORT_T[S_PER[key]]
    raise ValueError(f"unknown unit {unit!r}: use a length (nm, um, mm) or a time (s, ms)")


def is_length(unit) -> bool:
    u = normalize_unit(unit)
    return u is not None and u in _SHORT.values()


def is_time(unit) -> bool:
    u = normalize_unit(unit)
    return u is not None and u in _SHORT_T.values()


@dataclass(frozen=True)
class ImageAxes:
    """Axis names, pixel sizes and units of one image (array order).

    axes: distinct letters from ``"TCZYX"`` ending in Y, X (e.g. ``"TYX"``, ``"CZYX"``;
    ImageJ files give ``"ZCYX"``; :meth:`ordered` gives another order).
    scale: pixel size per axis in ``units`` (None where unknown; always None on C).
    units: short unit per axis ('nm', 'um', 's', ...; None where unknown or on C).
    """

    axes: str
    scale: tuple = ()
    units: tuple = ()

    def __post_init__(self):
        axes = str(self.axes).upper()
        if not axes or any(a not in ORDER for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"axes {self.axes!r}: use distinct letters from T, C, Z, Y, X")
        if not axes.endswith("YX"):
            raise ValueError(f"axes {self.axes!r} must end with Y, X")
        n = len(axes)
        scale = tuple(self.scale) if self.scale else (None,) * n
        units = tuple(self.units) if self.units else (None,) * n
        if len(scale) != n or len(units) != n:
            raise ValueError(f"axes {axes!r}: scale {scale} and units {units} need {n} values")
        scale = tuple(None if s is None or a == "C" else float(s)
                      for a, s in zip(axes, scale, strict=True))
        units = tuple(None if a == "C" else normalize_unit(u)
                      for a, u in zip(axes, units, strict=True))
        for a, s, u in zip(axes, scale, units, strict=True):
            if s is not None and not s > 0:
                raise ValueError(f"axis {a}: pixel size must be > 0, got {s}")
            if u is not None and a in "ZYX" and not is_length(u):
                raise ValueError(f"axis {a} is spatial but its unit is {u!r}")
            if u is not None and a == "T" and not is_time(u):
                raise ValueError(f"axis T is time but its unit is {u!r}")
        # a size without a unit is not physical: keep neither
        scale = tuple(None if u is None else s for s, u in zip(scale, units, strict=True))
        units = tuple(None if s is None else u for s, u in zip(scale, units, strict=True))
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "units", units)

    @classmethod
    def default(cls, ndim: int) -> ImageAxes:
        """Uncalibrated axes for a bare array: YX, ZYX (ImageJ's stack) or TZYX."""
        names = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}
        if ndim not in names:
            raise ValueError(f"cannot name the axes of {ndim}-D data")
        return cls(names[ndim])

    @property
    def ndim(self) -> int:
        return len(self.axes)

    def index(self, axis: str) -> int | None:
        i = self.axes.find(axis.upper())
        return None if i < 0 else i

    def size_nm(self, axis: str) -> float | None:
        """Pixel size along spatial ``axis`` in nm, or None when not known."""
        i = self.index(axis)
        if i is None or axis.upper() not in "ZYX" or self.scale[i] is None:
            return None
        return self.scale[i] * NM_PER[self.units[i]]

    @property
    def interval_s(self) -> float | None:
        """Frame interval in seconds, or None."""
        i = self.index("T")
        if i is None or self.scale[i] is None:
            return None
        return self.scale[i] * S_PER[self.units[i]]

    def pixel_nm(self) -> tuple[float, float] | None:
        """(Y, X) pixel size in nm, or None when the file does not state it."""
        y, x = self.size_nm("Y"), self.size_nm("X")
        return None if y is None or x is None else (y, x)

    def require_pixel_nm(self, what: str = "the image") -> tuple[float, float]:
        """(Y, X) pixel size in nm; raises ValueError saying how to set it when unknown."""
        px = self.pixel_nm()
        if px is None:
            raise ValueError(f"{what} has no pixel size in its metadata, so a size in nm "
                             f"cannot be converted to pixels; {HOW_TO_CALIBRATE}")
        return px

    def physical(self) -> dict:
        """Pixel sizes in nm per spatial axis and the frame interval in s (known ones)."""
        out = {f"{a.lower()}_nm": self.size_nm(a) for a in "ZYX" if self.size_nm(a)}
        if self.interval_s:
            out["t_s"] = self.interval_s
        return out

    def drop(self, axis: str) -> ImageAxes:
        """These axes without ``axis`` (e.g. one channel of a C stack)."""
        i = self.index(axis)
        if i is None:
            return self
        keep = [j for j in range(self.ndim) if j != i]
        return ImageAxes("".join(self.axes[j] for j in keep),
                         tuple(self.scale[j] for j in keep), tuple(self.units[j] for j in keep))

    def zoom_yx(self, factor: int) -> ImageAxes:
        """Pixel sizes after up-sampling Y and X by ``factor``."""
        scale = tuple(s / factor if s is not None and a in "YX" else s
                      for a, s in zip(self.axes, self.scale, strict=True))
        return replace(self, scale=scale)

    def scale_or_ones(self) -> list[float]:
        """Per-axis scale for viewers and the NGFF transform: unknown sizes as 1 (pixels)."""
        return [1.0 if s is None else float(s) for s in self.scale]

    def ordered(self, order: str = ORDER) -> tuple[tuple[int, ...], ImageAxes]:
        """(permutation, axes) to put these axes in ``order`` (NGFF: TCZYX, ImageJ: TZCYX).

        ``numpy.transpose(data, permutation)`` gives the data in the new order.
        """
        perm = tuple(sorted(range(self.ndim), key=lambda i: order.index(self.axes[i])))
        return perm, ImageAxes("".join(self.axes[i] for i in perm),
                               tuple(self.scale[i] for i in perm),
                               tuple(self.units[i] for i in perm))

    def to_dict(self) -> dict:
        return {"axes": self.axes, "scale": list(self.scale), "units": list(self.units)}

    @classmethod
    def from_dict(cls, d: dict) -> ImageAxes:
        return cls(d["axes"], tuple(d.get("scale") or ()), tuple(d.get("units") or ()))


# ---------------------------------------------------------------- TIFF


def _letters_from_tifffile(axes: str) -> str:
    """tifffile's series axes -> ours. 'S' (samples) is refused when it is colour."""
    out = []
    for a in axes:
        if a in "TCZYX":
            out.append(a)
        elif a == "S":
            raise ValueError(
                "this is an RGB (colour) image; deconvolution needs single-channel "
                "intensity data: split the channels (Fiji: Image > Color > Split Channels) "
                "or save the raw grey-level channels")
        elif a in "IQ" and "Z" not in out and "Z" not in axes:
            out.append("Z")  # an unnamed stack: ImageJ opens it as slices
        else:
            raise ValueError(
                f"cannot tell which TIFF axes of {axes!r} are time, z or channel (axis "
                f"{a!r}); save the file as an ImageJ hyperstack (Fiji: Image > Hyperstacks "
                f"> Stack to Hyperstack) or split channels or positions into separate files")
    return "".join(out)


def from_tiff(tf, series=None) -> ImageAxes:
    """Axes and pixel sizes of ``tf`` (a ``tifffile.TiffFile``), its first series."""
    series = tf.series[0] if series is None else series
    photometric = getattr(tf.pages[0], "photometric", None)
    raw_axes = series.axes
    if "S" in raw_axes and int(photometric or 0) not in (2, 6):  # not RGB/YCbCr
        raw_axes = raw_axes.replace("S", "C") if "C" not in raw_axes else raw_axes
    axes = _letters_from_tifffile(raw_axes)
    if tf.is_ome and tf.ome_metadata:
        return _from_ome_xml(tf.ome_metadata, axes, tf.series.index(series))
    return _from_imagej_or_tags(tf, axes)


def _from_ome_xml(xml: str, axes: str, index: int = 0) -> ImageAxes:
    import tifffile

    ome = tifffile.xml2dict(xml).get("OME", {})
    images = ome.get("Image", [])
    images = images if isinstance(images, list) else [images]
    pixels = images[min(index, len(images) - 1)].get("Pixels", {}) if images else {}

    def size(key, default_unit):
        v = pixels.get(key)
        if v is None:
            return None, None
        return float(v), pixels.get(f"{key}Unit", default_unit)

    got = {"X": size("PhysicalSizeX", "µm"), "Y": size("PhysicalSizeY", "µm"),
           "Z": size("PhysicalSizeZ", "µm"), "T": size("TimeIncrement", "s")}
    scale = tuple(got.get(a, (None, None))[0] for a in axes)
    units = tuple(got.get(a, (None, None))[1] for a in axes)
    return ImageAxes(axes, scale, units)


def _from_imagej_or_tags(tf, axes: str) -> ImageAxes:
    ij = tf.imagej_metadata or {}
    tags = tf.pages[0].tags
    xy = [None, None]  # Y, X in `unit`
    unit = None
    if "XResolution" in tags and "YResolution" in tags:
        xr, yr = tags["XResolution"].value, tags["YResolution"].value
        if xr[0] and yr[0]:
            xy = [yr[1] / yr[0], xr[1] / xr[0]]
    if ij:  # ImageJ: no unit (or one we do not know) = uncalibrated (pixels)
        unit = normalize_unit_or_none(ij.get("unit"))
        unit = unit if is_length(unit) else None
    elif "ResolutionUnit" in tags and int(tags["ResolutionUnit"].value) == 3:
        unit = "cm"  # 2 (inch) is a print resolution (72 dpi), not a pixel size
    spacing = ij.get("spacing")
    finterval = ij.get("finterval")
    scale, units = [], []
    for a in axes:
        if a == "X":
            scale.append(xy[1]), units.append(unit)
        elif a == "Y":
            scale.append(xy[0]), units.append(unit)
        elif a == "Z":
            scale.append(spacing), units.append(unit if spacing else None)
        elif a == "T":
            tunit = normalize_unit_or_none(ij.get("tunit", "s"))
            ok = finterval and is_time(tunit)
            scale.append(finterval if ok else None), units.append(tunit if ok else None)
        else:
            scale.append(None), units.append(None)
    return ImageAxes(axes, tuple(scale), tuple(units))


def normalize_unit_or_none(unit) -> str | None:
    try:
        return normalize_unit(unit)
    except ValueError:
        return None


# ---------------------------------------------------------------- OME-Zarr


def from_ngff(multiscale: dict) -> ImageAxes:
    """Axes and pixel sizes from one OME-NGFF ``multiscales`` entry (0.4 or 0.5)."""
    axes_meta = multiscale.get("axes") or []
    letters, units = [], []
    for ax in axes_meta:
        ax = ax if isinstance(ax, dict) else {"name": ax}
        name, typ = str(ax.get("name", "")).lower(), ax.get("type")
        if typ == "time" or (typ is None and name in ("t", "time")):
            letters.append("T")
        elif typ == "channel" or (typ is None and name in ("c", "channel")):
            letters.append("C")
        elif name in ("z", "y", "x"):
            letters.append(name.upper())
        else:
            raise ValueError(f"OME-Zarr axis {ax!r} is not one of t, c, z, y, x")
        units.append(normalize_unit_or_none(ax.get("unit")))
    ds = multiscale["datasets"][0]
    scale = None
    for t in list(multiscale.get("coordinateTransformations") or []) + list(
            ds.get("coordinateTransformations") or []):
        if t.get("type") == "scale" and "scale" in t:
            s = [float(v) for v in t["scale"]]
            scale = s if scale is None else [a * b for a, b in zip(scale, s, strict=True)]
    if not letters:
        raise ValueError("OME-Zarr image without axes (NGFF < 0.4) is not supported")
    scale = scale or [None] * len(letters)
    return ImageAxes("".join(letters), tuple(scale), tuple(units))


def to_ngff_axes(ia: ImageAxes) -> list[dict]:
    """OME-NGFF axis dicts (name, type, unit) for ``ia``."""
    types = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
    out = []
    for a, u in zip(ia.axes, ia.units, strict=True):
        d = {"name": a.lower(), "type": types[a]}
        if u is not None:
            d["unit"] = NGFF_UNIT[u]
        out.append(d)
    return out


# ---------------------------------------------------------------- napari


def from_layer(layer, ndim: int | None = None) -> ImageAxes:
    """Axes and pixel sizes of a napari layer, or of a writer's ``meta`` dict.

    Axis names come from ``axis_labels`` when they are t/c/z/y/x (or time,
    channel); otherwise a 3-D layer whose first unit is a time is T, Y, X,
    else Z, Y, X. Units 'pixel' mean uncalibrated (see :func:`source_axes` for a
    layer that napari's own reader opened at scale 1).
    """
    get = layer.get if isinstance(layer, dict) else (lambda k, d=None: getattr(layer, k, d))
    scale = get("scale")
    n = ndim if ndim is not None else (len(scale) if scale is not None else None)
    if n is None:
        data = get("data")
        n = getattr(data, "ndim", 2)
    units = get("units")
    units = [None if u is None else str(u) for u in units] if units is not None else [None] * n
    labels = [str(s).lower() for s in (get("axis_labels") or [])]
    names = {"t": "T", "time": "T", "c": "C", "channel": "C", "z": "Z", "y": "Y", "x": "X"}
    if len(labels) == n and all(lab in names for lab in labels):
        letters = "".join(names[lab] for lab in labels)
    else:
        letters = ImageAxes.default(n).axes
        if n == 3 and is_time(normalize_unit_or_none(units[0]) if units[0] else None):
            letters = "TYX"
    units = [normalize_unit_or_none(u) for u in units]
    scale = list(scale) if scale is not None else [None] * n
    return ImageAxes(letters, tuple(scale), tuple(units))


def source_axes(layer) -> ImageAxes | None:
    """Axes and pixel sizes from the file a napari layer was read from (its
    ``source.path``: a TIFF or an OME-Zarr; metadata only), or None when the layer
    has no such file, the file cannot be read or states no physical size."""
    path = getattr(getattr(layer, "source", None), "path", None)
    if not path:
        return None
    p = str(path)
    try:
        if p.lower().endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(p) as tf:
                ia = from_tiff(tf)
        elif p.rstrip("/\\").lower().endswith(".zarr"):
            import zarr

            from .ome_zarr import _multiscales

            ms, _ = _multiscales(dict(zarr.open_group(p, mode="r").attrs))
            ia = from_ngff(ms[0])
        else:
            return None
    except Exception:  # noqa: BLE001 - a missing or unreadable file: nothing to learn
        return None
    return ia if any(ia.units) else None


def napari_kwargs(ia: ImageAxes) -> dict:
    """Layer keyword arguments (scale, units, axis_labels) for data with axes ``ia``.

    Uncalibrated axes get scale 1 and unit 'pixel'. A C axis is not included in
    the result's lists: pass ``channel_axis`` and napari splits the channels.
    """
    out_axes = ia.drop("C")
    kw = {"scale": out_axes.scale_or_ones(),
          "units": [NGFF_UNIT[u] if u else "pixel" for u in out_axes.units],
          "axis_labels": [a.lower() for a in out_axes.axes]}
    if "C" in ia.axes:
        kw["channel_axis"] = ia.index("C")
    return kw
