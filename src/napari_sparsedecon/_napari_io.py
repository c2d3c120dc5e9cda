"""npe2 reader and writer hooks (thin wrappers over napari_sparsedecon.io).

The readers claim only files that this plugin wrote (they carry its
``napari_sparsedecon`` metadata), so they do not compete with napari's own
TIFF reader or napari-ome-zarr for other files. Axis names, pixel sizes and
units travel both ways (layer ``scale``, ``units``, ``axis_labels``); a C axis
becomes one layer per channel.
"""

from __future__ import annotations

from pathlib import Path


def get_tiff_reader(path):
    """Claim TIFFs written by napari-sparsedecon (they carry our metadata); else None."""
    if isinstance(path, list) or not str(path).lower().endswith((".tif", ".tiff")):
        return None
    try:
        import tifffile

        with tifffile.TiffFile(path) as tf:
            info = (tf.imagej_metadata or {}).get("Info", "")
            if tf.is_ome and not info:  # our OME-TIFFs: parameters in a MapAnnotation
                from .io.tiff import ome_own_metadata

                info = "napari_sparsedecon" if ome_own_metadata(tf.ome_metadata) else ""
    except Exception:  # noqa: BLE001 - a reader must say "not mine", not crash
        return None
    return _read_tiff if "napari_sparsedecon" in str(info) else None


def _layer(data, info, path):
    from .io.axes import napari_kwargs

    name = Path(str(path).rstrip("/")).stem
    kw = {"name": name, "metadata": {"napari_sparsedecon": info["metadata"]},
          **napari_kwargs(info["image_axes"])}
    if "channel_axis" in kw:
        kw["name"] = [f"{name} [c{i}]" for i in range(data.shape[kw["channel_axis"]])]
    return [(data, kw, "image")]


def _read_tiff(path):
    from .io.tiff import read_tiff

    data, info = read_tiff(path)
    return _layer(data, info, path)


def _layer_axes(data, meta):
    from .io.axes import from_layer

    return from_layer(meta, data.ndim)


def _params(meta):
    md = meta.get("metadata") or {}
    return _jsonable(md.get("napari_sparsedecon", md))


def write_tiff_layer(path: str, data, meta: dict):
    """Write one image layer to TIFF with its axes, scale, units and parameters."""
    from .io.tiff import write_tiff

    write_tiff(path, data, image_axes=_layer_axes(data, meta), metadata=_params(meta))
    return [path]


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=str))


def get_ome_zarr_reader(path):
    """Claim OME-Zarr images that this plugin wrote; others are left to napari-ome-zarr."""
    if isinstance(path, list) or not str(path).rstrip("/").endswith(".zarr"):
        return None
    from .io.ome_zarr import is_ours

    return _read_ome_zarr if is_ours(path) else None


def _read_ome_zarr(path):
    from .io.ome_zarr import read_ome_zarr

    data, info = read_ome_zarr(path)  # dask: stays lazy in napari
    return _layer(data, info, path)


def write_ome_zarr_layer(path: str, data, meta: dict):
    """Write one image layer to OME-Zarr (NGFF 0.5) with its axes, units and parameters."""
    from .io.ome_zarr import write_ome_zarr

    write_ome_zarr(path, data, image_axes=_layer_axes(data, meta), metadata=_params(meta))
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
