"""OME-Zarr (NGFF) writing and lazy reading; the one OME-Zarr writer of the package.

NGFF 0.5 on Zarr v3 by default, or NGFF 0.4 on Zarr v2 (``ngff="0.4"``) for
tools that cannot read Zarr v3 (Fiji's n5-ij, MoBIE). The ``multiscales``
metadata (axes with type and unit, the ``scale`` transform) is written by
ome-zarr-py; one resolution level; the axes in NGFF's t, c, z, y, x order.
The parameters that made the data live in the group attributes under
``"napari_sparsedecon"`` (that key is how the napari reader recognises files
this plugin wrote). Writing goes to a temporary directory that is renamed
into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np

from .axes import ORDER, ImageAxes, from_ngff, to_ngff_axes

NGFF_VERSIONS = ("0.5", "0.4")
KEY = "napari_sparsedecon"


def _ome_writer():
    with warnings.catch_warnings():
        # ome-zarr builds a deprecated Scaler as a default argument at import time.
        warnings.filterwarnings("ignore", message="Call to deprecated class Scaler",
                                category=DeprecationWarning)
        from ome_zarr import format as fmt
        from ome_zarr.writer import write_multiscales_metadata
    return write_multiscales_metadata, {"0.5": fmt.FormatV05, "0.4": fmt.FormatV04}


def create_ome_zarr(path, shape, image_axes: ImageAxes, *, metadata: dict | None = None,
                    chunks=None, dtype="float32", ngff: str = "0.5", name: str | None = None):
    """Create an empty single-scale OME-Zarr image at ``path``; return its zarr array.

    ``shape`` and ``image_axes`` must already be in NGFF order (t, c, z, y, x);
    see :meth:`ImageAxes.ordered`. The caller fills the array (chunk by chunk).
    """
    import zarr

    if ngff not in NGFF_VERSIONS:
        raise ValueError(f"NGFF version {ngff!r}: use one of {', '.join(NGFF_VERSIONS)}")
    if image_axes.ordered(ORDER)[1].axes != image_axes.axes:
        raise ValueError(f"OME-Zarr axes must be in t, c, z, y, x order, got {image_axes.axes}")
    if len(shape) != image_axes.ndim:
        raise ValueError(f"axes {image_axes.axes!r} do not match shape {tuple(shape)}")
    write_meta, formats = _ome_writer()
    zf = 3 if ngff == "0.5" else 2
    root = zarr.open_group(str(path), mode="w", zarr_format=zf)
    if chunks is None:
        chunks = (1,) * (len(shape) - 2) + tuple(min(int(s), 1024) for s in shape[-2:])
    if zf == 2:
        kw = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
    else:
        kw = {"dimension_names": [a.lower() for a in image_axes.axes]}
    arr = root.create_array("0", shape=tuple(int(s) for s in shape), chunks=tuple(chunks),
                            dtype=dtype, fill_value=0, config={"write_empty_chunks": True},
                            **kw)  # every chunk on disk: a missing one means a damaged store
    write_meta(root, [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": image_axes.scale_or_ones()}]}],
        fmt=formats[ngff](), axes=to_ngff_axes(image_axes), name=name or Path(path).stem)
    root.attrs[KEY] = _jsonable(metadata or {})
    return arr


def write_ome_zarr(path, data, *, image_axes: ImageAxes | None = None, scale=None, axes=None,
                   unit: str = "um", metadata: dict | None = None, chunks=None,
                   ngff: str = "0.5") -> Path:
    """Write an array (NumPy or dask) as OME-Zarr at ``path`` (a new directory).

    ``image_axes`` names the axes and gives pixel sizes and units (the data
    is transposed to NGFF's t, c, z, y, x order if needed). Without it,
    ``scale``/``axes``/``unit`` describe the data (T in seconds).
    """
    from .outputs import commit, part_dir
    from .tiff import _legacy_axes

    path = Path(path)
    ndim = data.ndim if hasattr(data, "ndim") else np.ndim(data)
    ia = image_axes if image_axes is not None else _legacy_axes(
        ndim, scale, "".join(axes).upper() if axes else None, unit)
    if ia.ndim != ndim:
        raise ValueError(f"axes {ia.axes!r} do not match data with {ndim} dimensions")
    perm, ia = ia.ordered(ORDER)
    if ngff not in NGFF_VERSIONS:  # checked before any temporary folder is made
        raise ValueError(f"NGFF version {ngff!r}: use one of {', '.join(NGFF_VERSIONS)}")
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it or choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(part_dir(path))
    try:
        lazy = hasattr(data, "dask")
        src = data.transpose(perm) if lazy else np.transpose(np.asarray(data), perm)
        dtype = data.dtype if lazy else np.float32
        inner = tmp / path.name
        arr = create_ome_zarr(inner, src.shape, ia, metadata=metadata, chunks=chunks,
                              dtype=dtype, ngff=ngff, name=path.stem)
        if lazy:
            import os
            from concurrent.futures import ThreadPoolExecutor

            import dask.array as da

            # our own pool: when a chunk fails, leaving the block waits for the chunks
            # still being written, so none lands after the clean-up below
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                da.store(src.rechunk(arr.chunks), arr, lock=False, scheduler="threads",
                         pool=pool)
        else:
            arr[...] = src.astype(np.float32, copy=False)
        # refuses a target that appeared meanwhile (another run) instead of replacing it
        commit(inner, path, overwrite=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _multiscales(attrs: dict):
    ome = attrs.get("ome") or {}
    if not isinstance(ome, dict):
        ome = {}
    ms = ome.get("multiscales") or attrs.get("multiscales")
    version = ome.get("version") or (ms[0].get("version") if ms else None)
    return ms, version


def _is_url(path) -> bool:
    """``http://...``, ``s3://...``: a store that zarr would fetch over the network."""
    return "://" in str(path)


def _refuse_remote(path, allow_remote: bool) -> None:
    if _is_url(path) and not allow_remote:
        raise ValueError(f"{path} is a URL: reading over the network is off; pass "
                         f"allow_remote=True to read it (zarr fetches it with fsspec), or "
                         f"copy the store to a local folder")


def read_ome_zarr(path, *, allow_missing_chunks: bool = False, allow_remote: bool = False):
    """Open an OME-Zarr image lazily: (dask array, info).

    info: 'image_axes' (:class:`ImageAxes`), 'axes', 'scale', 'units',
    'metadata' (this plugin's parameters, {} for other files), 'ngff' (version)
    and 'ours' (whether this plugin wrote it). Reads NGFF 0.4 and 0.5.

    Malformed metadata raises ValueError naming what is wrong. A chunk missing
    from the store (a partial copy, an interrupted write) raises ValueError
    too, instead of reading as zeros; ``allow_missing_chunks=True`` reads
    missing chunks as the array's fill value, for stores written sparsely on
    purpose. A URL (``http://``, ``s3://``) is refused unless ``allow_remote=True``.
    """
    import dask.array as da
    import zarr

    from .tiff import info_dict

    _refuse_remote(path, allow_remote)

    try:
        root = zarr.open_group(str(path), mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path} is not a readable OME-Zarr group ({type(err).__name__}: "
                         f"{err})") from err
    attrs = dict(root.attrs)
    try:
        ms, version = _multiscales(attrs)
        if not ms:
            raise ValueError("no 'multiscales' metadata")
        ds = ms[0]["datasets"][0]
        ia = from_ngff(ms[0])
        arr = root[ds["path"]]
    except ValueError as err:
        raise ValueError(f"{path} is not an OME-Zarr image ({err})") from err
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} has malformed OME-Zarr metadata ({type(err).__name__}: "
                         f"{err}); check its multiscales/datasets entries") from err
    if not hasattr(arr, "nchunks"):
        raise ValueError(f"{path}: dataset {ds['path']!r} is a group, not an array")
    _check_declared_chunks(path, arr)
    if not allow_missing_chunks:
        missing = arr.nchunks - arr.nchunks_initialized
        if missing:
            raise ValueError(f"{path}: {missing} of {arr.nchunks} chunks of dataset "
                             f"{ds['path']!r} are missing (an incomplete copy or an "
                             f"interrupted write?); they would read as zeros. Copy the "
                             f"store again")
    data = da.from_zarr(arr)
    if data.ndim != ia.ndim:
        raise ValueError(f"{path}: {ia.ndim} axes in the metadata, {data.ndim} in the data")
    info = info_dict(ia, attrs.get(KEY, {}))
    info.update(ngff=version, ours=KEY in attrs)
    return data, info


#: More chunks than any store this package reads declares: a crafted or mis-chunked one.
#: (Checked from the metadata alone; counting the chunks present lists each one.)
MAX_CHUNKS = 10**7


def _check_declared_chunks(path, arr) -> None:
    n = arr.nchunks  # from the declared shape and chunk shape: no listing
    if n > MAX_CHUNKS:
        raise ValueError(f"{path}: its dataset declares {n:.3g} chunks (shape "
                         f"{tuple(arr.shape)} in chunks of {tuple(arr.chunks)}); at most "
                         f"{MAX_CHUNKS:.0e} are read: rechunk it into larger chunks")


def is_ours(path) -> bool:
    """Whether ``path`` is an OME-Zarr image that this plugin wrote (cheap: metadata only;
    a URL is never fetched to find out: False)."""
    import zarr

    if _is_url(path):
        return False

    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # noqa: BLE001 - not a zarr group
        return False
    return KEY in attrs and bool(_multiscales(attrs)[0])


def _jsonable(d):
    import json

    return json.loads(json.dumps(d, default=str))
