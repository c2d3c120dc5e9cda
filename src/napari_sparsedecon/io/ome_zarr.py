"""OME-Zarr (NGFF) writing and lazy reading; the one OME-Zarr writer of the package.

NGFF 0.5 on Zarr v3 by default, or NGFF 0.4 on Zarr v2 (``ngff="0.4"``) for
tools that cannot read Zarr v3 (Fiji's n5-ij, MoBIE). The ``multiscales``
metadata (axes with type and unit, a ``scale`` transform per level) and the
``omero`` block (channel names, display windows) are written here from the NGFF
spec and validated against ome-zarr-models in the tests; a pyramid (2x2 means)
for large images on request; the axes in NGFF's t, c, z, y, x order.
The parameters that made the data live in the group attributes under
``"napari_sparsedecon"`` (that key is how the napari reader recognises files
this plugin wrote). Writing goes to a temporary directory that is renamed
into place, so a failure leaves nothing behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .axes import ORDER, ImageAxes, from_ngff, to_ngff_axes

NGFF_VERSIONS = ("0.5", "0.4")
KEY = "napari_sparsedecon"


#: a pyramid level is added while the last one is larger than this in Y or X
PYRAMID_SIDE = 1024
#: display colours of the channels in the ``omero`` block (one channel: white)
COLORS = ("00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF")


def multiscales_attrs(image_axes: ImageAxes, scales: list, *, name: str, ngff: str = "0.5",
                      omero: dict | None = None) -> dict:
    """The group attributes of an NGFF image: ``multiscales`` (axes with type and unit,
    one ``scale`` transform per level, paths "0", "1", ...) and ``omero`` if given.

    NGFF 0.5 nests them under ``"ome"`` with the version; 0.4 puts them at the top
    with the version inside the multiscales entry. Written by hand from the spec
    (validated against ome-zarr-models in the tests).
    """
    if ngff not in NGFF_VERSIONS:
        raise ValueError(f"NGFF version {ngff!r}: use one of {', '.join(NGFF_VERSIONS)}")
    ms = {"datasets": [{"path": str(i), "coordinateTransformations": [
        {"type": "scale", "scale": [float(v) for v in sc]}]} for i, sc in enumerate(scales)],
        "name": name, "axes": to_ngff_axes(image_axes)}
    if ngff == "0.4":
        out = {"multiscales": [{**ms, "version": "0.4"}]}
        if omero:
            out["omero"] = omero
        return out
    ome = {"version": "0.5", "multiscales": [ms]}
    if omero:
        ome["omero"] = omero
    return {"ome": ome}


def omero_block(names, windows) -> dict:
    """An ``omero`` block: one channel per name, with its display window (min, max)."""
    chans = []
    for i, (label, (lo, hi)) in enumerate(zip(names, windows, strict=True)):
        lo, hi = float(lo), float(hi)
        hi = hi if hi > lo else lo + 1.0
        chans.append({"label": str(label), "active": True, "coefficient": 1.0,
                      "color": "FFFFFF" if len(names) == 1 else COLORS[i % len(COLORS)],
                      "family": "linear", "inverted": False,
                      "window": {"min": lo, "max": hi, "start": lo, "end": hi}})
    return {"channels": chans, "rdefs": {"model": "color" if len(names) > 1 else
                                                   "greyscale"}}


def pyramid_shapes(shape, axes: str, side: int = PYRAMID_SIDE) -> list[tuple]:
    """Shapes of the levels: each halves Y and X (rounding down) until both fit ``side``."""
    y, x = axes.index("Y"), axes.index("X")
    shapes = [tuple(int(n) for n in shape)]
    while max(shapes[-1][y], shapes[-1][x]) > side and min(shapes[-1][y], shapes[-1][x]) >= 2:
        s = list(shapes[-1])
        s[y], s[x] = s[y] // 2, s[x] // 2
        shapes.append(tuple(s))
    return shapes


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
    zf = 3 if ngff == "0.5" else 2
    root = zarr.open_group(str(path), mode="w", zarr_format=zf)
    arr = _create_level(root, "0", shape, image_axes, chunks, dtype, zf)
    root.attrs.update(multiscales_attrs(image_axes, [image_axes.scale_or_ones()],
                                        name=name or Path(path).stem, ngff=ngff))
    root.attrs[KEY] = _jsonable(metadata or {})
    return arr


def _create_level(root, key, shape, image_axes, chunks, dtype, zf):
    if chunks is None:
        chunks = (1,) * (len(shape) - 2) + tuple(min(int(s), 1024) for s in shape[-2:])
    chunks = tuple(min(int(c), max(int(s), 1)) for c, s in zip(chunks, shape, strict=True))
    if zf == 2:
        kw = {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
    else:
        kw = {"dimension_names": [a.lower() for a in image_axes.axes]}
    return root.create_array(key, shape=tuple(int(s) for s in shape), chunks=chunks,
                             dtype=dtype, fill_value=0, config={"write_empty_chunks": True},
                             **kw)  # every chunk on disk: a missing one means a damaged store


def _store(src, arr):
    """Write a dask or NumPy array into zarr array ``arr``."""
    if not hasattr(src, "dask"):
        arr[...] = np.asarray(src).astype(arr.dtype, copy=False)
        return
    import os
    from concurrent.futures import ThreadPoolExecutor

    import dask.array as da

    # our own pool: when a chunk fails, leaving the block waits for the chunks
    # still being written, so none lands after the clean-up
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        da.store(src.rechunk(arr.chunks), arr, lock=False, scheduler="threads", pool=pool)


def write_ome_zarr(path, data, *, image_axes: ImageAxes | None = None, scale=None, axes=None,
                   unit: str = "um", metadata: dict | None = None, chunks=None,
                   ngff: str = "0.5", channel_names=None, pyramid: bool = False) -> Path:
    """Write an array (NumPy or dask) as OME-Zarr at ``path`` (a new directory).

    ``image_axes`` names the axes and gives pixel sizes and units (the data
    is transposed to NGFF's t, c, z, y, x order if needed). Without it,
    ``scale``/``axes``/``unit`` describe the data (T in seconds).
    ``channel_names`` (one per channel; one for data without a C axis) go to an
    ``omero`` block with display windows. With ``pyramid``, levels "1", "2", ...
    halve Y and X (2x2 means) while the last is larger than ``PYRAMID_SIDE``
    pixels, so viewers open large images fast.
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
        _store(src, arr)
        if pyramid:
            add_pyramid(inner, chunks=chunks)
        if channel_names is not None:
            set_channel_names(inner, channel_names)
        # refuses a target that appeared meanwhile (another run) instead of replacing it
        commit(inner, path, overwrite=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _open_image(path):
    """(group opened r+, its multiscales entry, NGFF version, ImageAxes, zarr format)."""
    import zarr

    root = zarr.open_group(str(path), mode="r+")
    ms, version = _multiscales(dict(root.attrs))
    if not ms:
        raise ValueError(f"{path} is not an OME-Zarr image (no 'multiscales')")
    return root, ms[0], str(version), from_ngff(ms[0]), root.metadata.zarr_format


def _update_multiscales(root, version, entry, omero=None):
    attrs = dict(root.attrs)
    if version == "0.4":
        attrs["multiscales"] = [{**entry, "version": "0.4"}]
        if omero is not None:
            attrs["omero"] = omero
    else:
        ome = dict(attrs.get("ome") or {})
        ome["multiscales"] = [entry]
        if omero is not None:
            ome["omero"] = omero
        attrs["ome"] = ome
    root.attrs.update(attrs)


def add_pyramid(path, *, side: int = PYRAMID_SIDE, chunks=None) -> int:
    """Add resolution levels to a single-level OME-Zarr image at ``path`` (in place):
    each halves Y and X (2x2 means of the one before) while the last is larger than
    ``side`` pixels; the ``multiscales`` datasets and their ``scale`` transforms are
    updated last. Returns the number of levels. For a store this package is still
    writing (before it is moved into place), e.g. a tiled run's result."""
    import dask.array as da

    root, entry, version, ia, zf = _open_image(path)
    datasets = list(entry["datasets"])
    base = root[datasets[0]["path"]]
    shapes = pyramid_shapes(base.shape, ia.axes, side)
    if len(datasets) > 1 or len(shapes) == 1:
        return len(datasets)
    y, x = ia.axes.index("Y"), ia.axes.index("X")
    prev, scale = base, [float(v) for v in
                         datasets[0]["coordinateTransformations"][0]["scale"]]
    for k, shp in enumerate(shapes[1:], start=1):
        lev = da.coarsen(np.mean, da.from_zarr(prev), {y: 2, x: 2}, trim_excess=True)
        prev = _create_level(root, str(k), shp, ia, chunks or base.chunks, base.dtype, zf)
        _store(lev.astype(base.dtype), prev)
        scale = list(scale)
        scale[y], scale[x] = scale[y] * 2, scale[x] * 2
        datasets.append({"path": str(k), "coordinateTransformations": [
            {"type": "scale", "scale": scale}]})
    _update_multiscales(root, version, {**entry, "datasets": datasets})
    return len(datasets)


def set_channel_names(path, names) -> bool:
    """Write an ``omero`` block (labels, colours, display windows from the smallest
    level) to the OME-Zarr image at ``path``; False (nothing written) when the number
    of names is not the number of channels (one without a C axis)."""
    root, entry, version, ia, _ = _open_image(path)
    last = root[entry["datasets"][-1]["path"]]
    n = last.shape[ia.index("C")] if "C" in ia.axes else 1
    if names is None or len(names) != n:
        return False
    _update_multiscales(root, version, entry,
                        omero=omero_block([str(v) for v in names], _windows(last, ia)))
    return True


def _windows(arr, ia: ImageAxes) -> list[tuple[float, float]]:
    """(min, max) per channel of the last pyramid level, from at most ~4 planes per
    time/z axis (bounded work on long stacks)."""
    idx = tuple(slice(None) if a in "CYX" else slice(None, None, max(1, n // 4))
                for a, n in zip(ia.axes, arr.shape, strict=True))
    a = np.asarray(arr[idx], dtype=np.float64)
    c = ia.index("C")
    planes = [a] if c is None else [np.take(a, i, axis=c) for i in range(a.shape[c])]
    out = []
    for p in planes:
        finite = p[np.isfinite(p)]
        out.append((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    return out


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


def read_ome_zarr(path, *, allow_missing_chunks: bool = False, levels: bool = False,
                  allow_remote: bool = False):
    """Open an OME-Zarr image lazily: (dask array, info).

    info: 'image_axes' (:class:`ImageAxes`), 'axes', 'scale', 'units',
    'metadata' (this plugin's parameters, {} for other files), 'ngff' (version),
    'ours' (whether this plugin wrote it), 'channel_names' (the ``omero`` labels,
    or None) and 'multiscale'. Reads NGFF 0.4 and 0.5. With ``levels`` and a
    pyramid, the data is the list of every level's dask array (largest first, as
    napari takes a multiscale image); otherwise the full-resolution level.

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
    except RecursionError:
        raise ValueError(_TOO_DEEP.format(path=path)) from None
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
    except RecursionError:
        raise ValueError(_TOO_DEEP.format(path=path)) from None
    except ValueError as err:
        raise ValueError(f"{path} is not an OME-Zarr image ({err})") from err
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} has malformed OME-Zarr metadata ({type(err).__name__}: "
                         f"{err}); check its multiscales/datasets entries") from err
    if not isinstance(arr, zarr.Array):  # (not hasattr nchunks: it divides by the chunks)
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
    pyramid = [data]
    if levels:
        for d in ms[0]["datasets"][1:]:
            try:
                lev = root[d["path"]]
            except (KeyError, TypeError) as err:
                raise ValueError(f"{path}: pyramid level {d!r} is missing ({err})") from err
            if not hasattr(lev, "shape") or len(lev.shape) != data.ndim:
                raise ValueError(f"{path}: pyramid level {d.get('path')!r} is not an "
                                 f"array with {data.ndim} axes")
            pyramid.append(da.from_zarr(lev))
    params = attrs.get(KEY, {})
    info = info_dict(ia, params if isinstance(params, dict) else {})
    info.update(ngff=version, ours=KEY in attrs, multiscale=len(pyramid) > 1,
                channel_names=_omero_names(attrs, ia, data.shape))
    return (pyramid if len(pyramid) > 1 else data), info


def _omero_names(attrs, ia: ImageAxes, shape) -> list[str] | None:
    """Channel labels of the ``omero`` block when there is one per channel, else None."""
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
    omero = ome.get("omero") or attrs.get("omero")
    chans = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(chans, list):
        return None
    n = shape[ia.index("C")] if "C" in ia.axes else 1
    names = [str(c.get("label", "")) if isinstance(c, dict) else "" for c in chans]
    return names if len(names) == n and all(names) else None


def is_image(path) -> bool:
    """Whether ``path`` is an OME-Zarr image that :func:`read_ome_zarr` can open
    (metadata only: the group, its multiscales, the axes and the first array); a URL
    is never fetched to find out: False."""
    import zarr

    if _is_url(path):
        return False
    try:
        root = zarr.open_group(str(path), mode="r")
        ms, _ = _multiscales(dict(root.attrs))
        from_ngff(ms[0])
        return hasattr(root[ms[0]["datasets"][0]["path"]], "shape")
    except Exception:  # noqa: BLE001 - anything unreadable is "not an image we open"
        return False


#: More chunks than any store this package reads declares: a crafted or mis-chunked one.
#: (Checked from the metadata alone; counting the chunks present lists each one.)
MAX_CHUNKS = 10**7


_TOO_DEEP = ("{path}: its metadata (zarr.json / .zattrs / .zarray) is JSON nested too "
             "deeply to read: a damaged or crafted store; write the store again")


def _check_declared_chunks(path, arr) -> None:
    chunks = tuple(int(c) for c in arr.chunks)
    if any(c < 1 for c in chunks):  # (zarr would divide by it: ZeroDivisionError)
        raise ValueError(f"{path} has malformed OME-Zarr metadata (its dataset declares a "
                         f"chunk shape {chunks} with a zero size; every chunk side must be "
                         f"at least 1): write the store again")
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
