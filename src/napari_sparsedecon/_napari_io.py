"""npe2 reader and writer hooks (thin wrappers over napari_sparsedecon.io).

The readers open any TIFF (ImageJ hyperstack, OME-TIFF, plain) and any OME-Zarr
image lazily, with the file's pixel sizes, units, axis names and channel names;
they return None for what they cannot read. Axis names, pixel sizes and units
travel both ways (layer ``scale``, ``units``, ``axis_labels``); a C axis becomes
one layer per channel, named after the file's channels. See docs/formats.md for
which reader napari uses for which file.
"""

from __future__ import annotations

from pathlib import Path

TIFF_SUFFIXES = (".tif", ".tiff")
OME_TIFF_SUFFIXES = (".ome.tif", ".ome.tiff")


def get_tiff_reader(path):
    """A reader for any TIFF whose axes can be named (ImageJ hyperstacks, OME-TIFF,
    plain TIFF); None for what it cannot read (RGB, unnamed axes, not a TIFF).

    Only the metadata is parsed here; the reader returns lazy dask arrays.
    """
    if isinstance(path, list) or not str(path).lower().endswith(TIFF_SUFFIXES):
        return None
    try:
        import tifffile

        from .io.axes import from_tiff

        with tifffile.TiffFile(path) as tf:
            from_tiff(tf)  # raises for files whose axes cannot be named
    except Exception:  # noqa: BLE001 - a reader must say "not mine", not crash
        return None
    return _read_tiff


def _base_name(path) -> str:
    name = Path(str(path).rstrip("/")).name
    for suffix in (*OME_TIFF_SUFFIXES, *TIFF_SUFFIXES, ".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name


def _layer(data, info, path):
    from .io.axes import napari_kwargs

    name = _base_name(path)
    md = {"napari_sparsedecon": info["metadata"]}
    names = info.get("channel_names")
    if names:
        md["channel_names"] = list(names)
    kw = {"name": name, "metadata": md, **napari_kwargs(info["image_axes"])}
    if info.get("multiscale"):
        kw["multiscale"] = True
    if names and len(names) == 1 and "channel_axis" not in kw:
        kw["name"] = names[0]  # the file's one channel, named (the layer saved into it)
    if "channel_axis" in kw:
        n = (data[0] if isinstance(data, list) else data).shape[kw["channel_axis"]]
        kw["name"] = list(names) if names and len(names) == n else \
            [f"{name} [c{i}]" for i in range(n)]
    return [(data, kw, "image")]


def _read_tiff(path):
    from .io.tiff import open_tiff

    data, info = open_tiff(path)  # lazy: the file stays open while napari reads it
    return _layer(data, info, path)


def _layer_axes(data, meta):
    from .io.axes import from_layer

    return from_layer(meta, data.ndim)


def _full_resolution(data):
    """A multiscale layer's data is a list of levels: the writers save the first."""
    return data[0] if isinstance(data, list | tuple) else data


def _params(meta):
    md = meta.get("metadata") or {}
    return _jsonable(md.get("napari_sparsedecon", md))


def _channel_names(data, meta, ia) -> list[str] | None:
    """Names for the channels of a layer's data: one channel is the layer's name, a
    C axis takes ``metadata['channel_names']`` when they fit, else c0, c1, ..."""
    c = ia.index("C")
    name = str(meta.get("name") or "image")
    if c is None:
        return [name]
    n = int(data.shape[c])
    names = (meta.get("metadata") or {}).get("channel_names")
    if isinstance(names, list | tuple) and len(names) == n:
        return [str(v) for v in names]
    return [f"{name} c{i}" for i in range(n)]


def write_tiff_layer(path: str, data, meta: dict):
    """Write one image layer to TIFF with its axes, scale, units and parameters: an
    ImageJ hyperstack, or an OME-TIFF when the name ends in ``.ome.tif``/``.ome.tiff``."""
    data = _full_resolution(data)
    from .io.tiff import write_tiff

    if str(path).lower().endswith(OME_TIFF_SUFFIXES):
        return write_ome_tiff_layer(path, data, meta)
    ia = _layer_axes(data, meta)
    write_tiff(path, data, image_axes=ia, metadata=_params(meta),
               channel_names=_channel_names(data, meta, ia))
    return [path]


def write_ome_tiff_layer(path: str, data, meta: dict):
    """Write one image layer to OME-TIFF: axes, physical sizes with units, channel
    names (the layer's name for one channel) and the parameters (a MapAnnotation)."""
    data = _full_resolution(data)
    from .io.tiff import write_ome_tiff

    ia = _layer_axes(data, meta)
    write_ome_tiff(path, data, image_axes=ia, metadata=_params(meta),
                   channel_names=_channel_names(data, meta, ia))
    return [path]


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=str))


def get_ome_zarr_reader(path):
    """A lazy reader for any OME-Zarr image (NGFF 0.4 / 0.5); None for other paths."""
    if isinstance(path, list) or not str(path).rstrip("/\\").lower().endswith(".zarr"):
        return None
    from .io.ome_zarr import is_image

    return _read_ome_zarr if is_image(path) else None


def _read_ome_zarr(path):
    from .io.ome_zarr import read_ome_zarr

    data, info = read_ome_zarr(path, levels=True)  # dask: stays lazy in napari
    return _layer(data, info, path)


def write_ome_zarr_layer(path: str, data, meta: dict):
    """Write one image layer to OME-Zarr (NGFF 0.5): axes, units, scale, channel names
    (``omero``), the parameters, and a pyramid for large images."""
    data = _full_resolution(data)
    from .io.ome_zarr import write_ome_zarr

    ia = _layer_axes(data, meta)
    write_ome_zarr(path, data, image_axes=ia, metadata=_params(meta),
                   channel_names=_channel_names(data, meta, ia), pyramid=True)
    return [path]


def scale_in_um(scale, units) -> tuple[list | None, list | None]:
    """A layer's scale and units with every length axis converted to micrometres (the
    unit the plugin's files use); other axes (time, 'pixel') kept as they are. (None,
    None) without a scale; the units are None when no axis has a physical length."""
    from .analysis.roi import NM_PER_UNIT

    if scale is None:
        return None, None
    units = [None] * len(scale) if units is None else [str(u) for u in units]
    out, out_units, physical = [], [], False
    for s, u in zip(scale, units, strict=True):
        f = NM_PER_UNIT.get((u or "").lower())
        physical |= f is not None
        out.append(float(s) * f / 1000.0 if f is not None else float(s))
        out_units.append("um" if f is not None else u)
    if not physical:
        return [float(s) for s in scale], None
    return out, out_units


def save_layer_data(path, data, *, scale=None, units=None, metadata=None) -> list:
    """Write an image layer's data with the plugin's writers (by extension: ``.tif`` /
    ``.tiff`` ImageJ TIFF, ``.zarr`` OME-Zarr), keeping its pixel size (in um) and the
    ``napari_sparsedecon`` parameters in its metadata. Used by the widgets' Save
    buttons; Qt-free."""
    p = str(path)
    scale_um, units_um = scale_in_um(scale, units)
    meta = {"scale": scale_um, "metadata": metadata or {}}
    if units_um is not None:  # the writers read the units with the scale
        meta["units"] = units_um
    if p.lower().endswith((".tif", ".tiff")):
        return write_tiff_layer(p, data, meta)
    if p.rstrip("/").lower().endswith(".zarr"):
        return write_ome_zarr_layer(p, data, meta)
    raise ValueError(f"cannot save to {p!r}: use a .tif, .tiff or .zarr name")
