"""OME-Zarr (NGFF) writing and lazy reading, through the ome-zarr package.

One resolution level; the pixel size is the ``scale`` coordinate
transformation; the parameters that made the data live in the group
attributes under ``"napari_sparsedecon"``. Writing goes to a temporary
directory that is renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

AXES = {2: ["y", "x"], 3: ["z", "y", "x"]}


def write_ome_zarr(path, data, *, scale=None, axes=None, unit: str = "micrometer",
                   metadata: dict | None = None, chunks=None) -> Path:
    """Write a 2-D or 3-D array (NumPy or dask) as OME-Zarr at ``path`` (a directory)."""
    import warnings

    import zarr

    with warnings.catch_warnings():
        # ome-zarr builds a deprecated Scaler as a default argument at import time.
        warnings.filterwarnings("ignore", message="Call to deprecated class Scaler",
                                category=DeprecationWarning)
        from ome_zarr.writer import write_image

    path = Path(path)
    ndim = np.ndim(data) if not hasattr(data, "ndim") else data.ndim
    if ndim not in AXES:
        raise ValueError(f"OME-Zarr writer takes 2-D or 3-D data, got {ndim}-D")
    axes = list(axes) if axes is not None else AXES[ndim]
    if axes[0] == "t" and ndim == 3:
        axes_meta = [{"name": "t", "type": "time"}] + [
            {"name": a, "type": "space", "unit": unit} for a in axes[1:]]
    else:
        axes_meta = [{"name": a, "type": "space", "unit": unit} for a in axes]
    scale = [1.0] * ndim if scale is None else [float(s) for s in scale]
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        root = zarr.open_group(str(tmp), mode="w")
        opts = {"chunks": chunks} if chunks is not None else None
        write_image(data if hasattr(data, "dask") or hasattr(data, "compute")
                    else np.asarray(data, dtype=np.float32),
                    group=root, scale_factors=(), axes=axes_meta,
                    scale=dict(zip(axes, scale, strict=True)),
                    storage_options=opts)
        root.attrs["napari_sparsedecon"] = metadata or {}
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_ome_zarr(path):
    """Open an OME-Zarr image lazily: (dask array, info with 'scale', 'axes', 'metadata')."""
    import dask.array as da
    import zarr

    root = zarr.open_group(str(path), mode="r")
    attrs = dict(root.attrs)
    ms = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not ms:
        raise ValueError(f"{path} is not an OME-Zarr image (no 'multiscales' metadata)")
    ds = ms[0]["datasets"][0]
    scale = None
    for t in ds.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [float(s) for s in t["scale"]]
    axes = [a["name"] if isinstance(a, dict) else a for a in ms[0].get("axes", [])]
    data = da.from_zarr(root[ds["path"]])
    return data, {"scale": scale, "axes": axes, "metadata": attrs.get("napari_sparsedecon", {})}
