"""npe2 reader and writer hooks (thin wrappers over napari_sparsedecon.io)."""

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
    except Exception:  # noqa: BLE001 - a reader must say "not mine", not crash
        return None
    return _read_tiff if "napari_sparsedecon" in info else None


def _read_tiff(path):
    from .io.tiff import read_tiff

    data, info = read_tiff(path)
    kw = {"name": Path(path).stem, "metadata": {"napari_sparsedecon": info["metadata"]}}
    if info["scale"]:
        kw["scale"] = info["scale"]
        kw["units"] = ("um",) * data.ndim
    return [(data, kw, "image")]


def write_tiff_layer(path: str, data, meta: dict):
    """Write one image layer to TIFF with its scale and the parameters that made it."""
    from .io.tiff import write_tiff

    md = meta.get("metadata") or {}
    params = md.get("napari_sparsedecon", md)
    scale = meta.get("scale")
    axes = "YX" if data.ndim == 2 else "ZYX"
    write_tiff(path, data, scale=scale, axes=axes, metadata=_jsonable(params))
    return [path]


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=str))


def get_ome_zarr_reader(path):
    """Claim OME-Zarr images (a directory ending in .zarr with multiscales metadata)."""
    if isinstance(path, list) or not str(path).rstrip("/").endswith(".zarr"):
        return None
    try:
        from .io.ome_zarr import read_ome_zarr

        read_ome_zarr(path)
    except Exception:  # noqa: BLE001 - not ours, or not readable: let another reader try
        return None
    return _read_ome_zarr


def _read_ome_zarr(path):
    from .io.ome_zarr import read_ome_zarr

    data, info = read_ome_zarr(path)  # dask: stays lazy in napari
    kw = {"name": Path(str(path).rstrip("/")).stem,
          "metadata": {"napari_sparsedecon": info["metadata"]}}
    if info["scale"]:
        kw["scale"] = info["scale"]
    return [(data, kw, "image")]


def write_ome_zarr_layer(path: str, data, meta: dict):
    """Write one image layer to OME-Zarr with its scale and parameters."""
    from .io.ome_zarr import write_ome_zarr

    md = meta.get("metadata") or {}
    params = md.get("napari_sparsedecon", md)
    write_ome_zarr(path, data, scale=meta.get("scale"), metadata=_jsonable(params))
    return [path]
