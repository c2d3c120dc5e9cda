"""TIFF reading and atomic, ImageJ-compatible float32 writing with parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def atomic_write(path, write_fn, *, overwrite: bool = True) -> Path:
    """Call ``write_fn(tmp_path)`` then move the file into place.

    A failure (or interruption) leaves no half-written file at ``path``.
    Without ``overwrite``, a file at ``path`` (even one that appeared while
    writing) is never replaced: FileExistsError.
    """
    from .outputs import commit, part_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = part_file(path)
    try:
        write_fn(tmp)
        commit(tmp, path, overwrite=overwrite)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_tiff(path, data, *, scale=None, axes: str | None = None, unit: str = "um",
               metadata: dict | None = None, overwrite: bool = True) -> Path:
    """Write float32 data as an ImageJ-compatible TIFF, atomically.

    Parameters
    ----------
    path : str or Path
    data : array_like, 2-D or 3-D
    scale : sequence of float, optional
        Pixel size per axis in ``unit`` (the last two are Y, X; a leading
        value is the z-step or frame interval).
    axes : str, optional
        ``"YX"``, ``"TYX"`` or ``"ZYX"`` (default ``"ZYX"`` for 3-D).
    metadata : dict, optional
        Stored as JSON in the ImageJ ``Info`` property and restored by
        :func:`read_tiff`.
    overwrite : bool
        Replace an existing file at ``path`` (default); if False, raise
        FileExistsError instead, checked when the finished file is moved in.
    """
    import tifffile

    a = np.asarray(data, dtype=np.float32)
    if axes is None:
        axes = "YX" if a.ndim == 2 else "ZYX"
    if len(axes) != a.ndim:
        raise ValueError(f"axes {axes!r} do not match data with {a.ndim} dimensions")
    ij = {"axes": axes, "unit": unit}
    kw = {}
    if scale is not None:
        scale = [float(s) for s in scale]
        ys, xs = scale[-2], scale[-1]
        kw["resolution"] = (1.0 / xs, 1.0 / ys)
        if a.ndim == 3:
            if axes[0] == "Z":
                ij["spacing"] = scale[0]
            else:
                ij["finterval"] = scale[0]
    info = json.dumps({"napari_sparsedecon": metadata or {}, "scale": scale, "axes": axes})
    ij["Info"] = info

    def _write(tmp):
        tifffile.imwrite(tmp, a, imagej=True, metadata=ij, **kw)

    return atomic_write(path, _write, overwrite=overwrite)


def read_tiff_scale(tf, ndim):
    """Pixel size (um, array order) from ImageJ metadata / resolution tags, or None."""
    ij = tf.imagej_metadata or {}
    if "Info" in ij:
        try:
            stored = json.loads(ij["Info"]).get("scale")
            if stored:
                return [float(v) for v in stored]
        except (ValueError, TypeError, AttributeError):
            pass
    tags = tf.pages[0].tags
    if "XResolution" in tags and "YResolution" in tags:
        xr, yr = tags["XResolution"].value, tags["YResolution"].value
        if xr[0] and yr[0]:
            scale = [yr[1] / yr[0], xr[1] / xr[0]]
            if ndim == 3:
                scale = [float(ij.get("spacing", ij.get("finterval", 1.0)))] + scale
            return scale
    return None


def read_tiff(path):
    """Read a TIFF; return (data, info) with info holding 'scale', 'axes' and 'metadata'.

    Pixel sizes come from the ImageJ/TIFF resolution tags when present.
    """
    import tifffile

    with tifffile.TiffFile(path) as tf:
        data = tf.asarray()
        info = {"scale": None, "axes": None, "metadata": {}}
        ij = tf.imagej_metadata or {}
        if "Info" in ij:
            try:
                stored = json.loads(ij["Info"])
                info["metadata"] = stored.get("napari_sparsedecon", {})
                info["scale"] = stored.get("scale")
                info["axes"] = stored.get("axes")
            except (ValueError, TypeError):
                pass
        if info["scale"] is None:
            page = tf.pages[0]
            tags = page.tags
            scale = None
            if "XResolution" in tags and "YResolution" in tags:
                xr = tags["XResolution"].value
                yr = tags["YResolution"].value
                if xr[0] and yr[0]:
                    scale = [yr[1] / yr[0], xr[1] / xr[0]]
            if scale is not None and data.ndim == 3:
                scale = [float(ij.get("spacing", ij.get("finterval", 1.0)))] + scale
            info["scale"] = scale
        if info["axes"] is None:
            info["axes"] = ij.get("axes") or ("YX" if data.ndim == 2 else "ZYX")
    return data, info
