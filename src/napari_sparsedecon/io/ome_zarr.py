"""OME-Zarr (NGFF) writing and lazy reading, through the ome-zarr package.

One resolution level; the pixel size is the ``scale`` coordinate
transformation; the parameters that made the data live in the group
attributes under ``"napari_sparsedecon"``. Writing goes to a temporary
directory that is renamed into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

AXES = {2: ["y", "x"], 3: ["z", "y", "x"]}


def write_ome_zarr(path, data, *, scale=None, axes=None, unit: str = "micrometer",
                   metadata: dict | None = None, chunks=None) -> Path:
    """Write a 2-D or 3-D array (NumPy or dask) as OME-Zarr at ``path`` (a directory)."""
    import warnings

    import zarr

    from .outputs import commit, part_dir

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
    tmp = Path(part_dir(path))
    try:
        root = zarr.open_group(str(tmp), mode="w")
        opts = {"chunks": chunks} if chunks is not None else None
        with zarr.config.set({"array.write_empty_chunks": True}):  # every chunk on disk:
            # a missing chunk then always means a damaged store (read_ome_zarr refuses it)
            write_image(data if hasattr(data, "dask") or hasattr(data, "compute")
                        else np.asarray(data, dtype=np.float32),
                        group=root, scale_factors=(), axes=axes_meta,
                        scale=dict(zip(axes, scale, strict=True)),
                        storage_options=opts)
        root.attrs["napari_sparsedecon"] = metadata or {}
        commit(tmp, path, overwrite=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_ome_zarr(path, *, allow_missing_chunks: bool = False):
    """Open an OME-Zarr image lazily: (dask array, info with 'scale', 'axes', 'metadata').

    Malformed metadata raises ValueError naming what is wrong. A chunk missing
    from the store (a partial copy, an interrupted write) raises ValueError
    too, instead of reading as zeros; ``allow_missing_chunks=True`` reads
    missing chunks as the array's fill value, for stores written sparsely on
    purpose.
    """
    import dask.array as da
    import zarr

    try:
        root = zarr.open_group(str(path), mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path} is not a readable OME-Zarr group ({type(err).__name__}: "
                         f"{err})") from err
    attrs = dict(root.attrs)
    try:
        ome = attrs.get("ome", {})
        ms = attrs.get("multiscales") or (ome.get("multiscales") if isinstance(ome, dict)
                                          else None)
        if not ms:
            raise ValueError("no 'multiscales' metadata")
        ds = ms[0]["datasets"][0]
        scale = None
        for t in ds.get("coordinateTransformations", []):
            if t.get("type") == "scale":
                scale = [float(s) for s in t["scale"]]
        axes = [a["name"] if isinstance(a, dict) else str(a) for a in ms[0].get("axes", [])]
        arr = root[ds["path"]]
    except ValueError as err:
        raise ValueError(f"{path} is not an OME-Zarr image ({err})") from err
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} has malformed OME-Zarr metadata ({type(err).__name__}: "
                         f"{err}); check its multiscales/datasets entries") from err
    if not hasattr(arr, "nchunks"):
        raise ValueError(f"{path}: dataset {ds['path']!r} is a group, not an array")
    if not allow_missing_chunks:
        missing = arr.nchunks - arr.nchunks_initialized
        if missing:
            raise ValueError(f"{path}: {missing} of {arr.nchunks} chunks of dataset "
                             f"{ds['path']!r} are missing (an incomplete copy or an "
                             f"interrupted write?); they would read as zeros. Copy the "
                             f"store again")
    data = da.from_zarr(arr)
    return data, {"scale": scale, "axes": axes, "metadata": attrs.get("napari_sparsedecon", {})}
