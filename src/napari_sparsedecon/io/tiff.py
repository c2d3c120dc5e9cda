"""TIFF reading and atomic, ImageJ-compatible float32 writing with parameters."""

from __future__ import annotations

import contextlib
import json
import os
import weakref
from pathlib import Path

import numpy as np

from .axes import NM_PER, ImageAxes, from_tiff


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


@contextlib.contextmanager
def readable_tiff(path):
    """Errors from inside tifffile on a damaged or crafted file, as a ValueError naming
    ``path``: a truncated header or IFD (``struct.error``, ``IndexError``, ``EOFError``),
    metadata nested too deeply to parse (``RecursionError``)."""
    import struct

    try:
        yield
    except RecursionError:
        raise ValueError(f"{path}: its metadata (OME-XML or ImageJ) is nested too deeply to "
                         f"read: a damaged or crafted file; export the image again (e.g. "
                         f"from Fiji) or strip its metadata") from None
    except (struct.error, IndexError, EOFError) as err:
        raise ValueError(f"{path} is not a readable TIFF (truncated or damaged; tifffile "
                         f"says: {err or type(err).__name__}); copy the file again, or "
                         f"export it again from the acquisition software") from None


IMAGEJ_ORDER = "TZCYX"

#: Pixel data above this many bytes is written as BigTIFF: a classic TIFF's 32-bit
#: offsets end at 4 GiB (tifffile's own limit, leaving 32 MiB for the metadata).
BIGTIFF_BYTES = 2**32 - 2**25


def needs_bigtiff(shape, itemsize: int = 4) -> bool:
    """Whether float32 (``itemsize``) pixels of ``shape`` need a BigTIFF (over ~4 GiB)."""
    return int(np.prod([int(n) for n in shape], dtype=object)) * int(itemsize) > BIGTIFF_BYTES


def tiff_size_kw(shape, itemsize: int = 4) -> dict:
    """tifffile keywords for pixels of ``shape``: ``bigtiff=True`` above ~4 GiB (an ImageJ
    hyperstack then is a BigTIFF, which Fiji opens; tifffile's warning about it is
    silenced by :func:`quiet_bigtiff`), else none."""
    return {"bigtiff": True} if needs_bigtiff(shape, itemsize) else {}


@contextlib.contextmanager
def quiet_bigtiff():
    """A context in which tifffile's "nonconformant BigTIFF ImageJ" warning is silent."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*nonconformant BigTIFF ImageJ")
        yield


def _legacy_axes(ndim, scale, axes, unit) -> ImageAxes:
    """ImageAxes from the older (scale, axes, unit) arguments; T is in seconds."""
    axes = axes or ImageAxes.default(ndim).axes
    if len(axes) != ndim:
        raise ValueError(f"axes {axes!r} do not match data with {ndim} dimensions")
    units = tuple(None if a == "C" else ("s" if a == "T" else unit) for a in axes)
    return ImageAxes(axes, tuple(scale) if scale is not None else (), units if scale else ())


def imagej_layout(ia: ImageAxes):
    """(permutation to ImageJ's TZCYX order, ImageJ metadata, resolution or None)."""
    perm, ij_axes = ia.ordered(IMAGEJ_ORDER)
    ij = {"axes": ij_axes.axes}
    y, x = ia.size_nm("Y"), ia.size_nm("X")
    res = None
    if y is not None and x is not None:
        # one length unit for X, Y, Z in ImageJ: the file's own when they agree, else um
        spatial = {u for a, u in zip(ia.axes, ia.units, strict=True) if a in "ZYX" and u}
        unit = spatial.pop() if len(spatial) == 1 else "um"
        per = NM_PER[unit]
        ij["unit"] = unit
        res = (per / x, per / y)
        z = ia.size_nm("Z")
        if z is not None:
            ij["spacing"] = z / per
    if ia.interval_s is not None:
        ij["finterval"] = ia.interval_s
        ij["tunit"] = "sec"
    return perm, ij, res


def write_tiff(path, data, *, scale=None, axes: str | None = None, unit: str = "um",
               metadata: dict | None = None, image_axes: ImageAxes | None = None,
               overwrite: bool = True, channel_names=None) -> Path:
    """Write float32 data as an ImageJ hyperstack TIFF, atomically.

    Parameters
    ----------
    path : str or Path
    data : array_like, 2-D to 5-D
    image_axes : ImageAxes, optional
        Axis names, pixel sizes and units; the data is stored in ImageJ's
        T, Z, C, Y, X order with frames vs slices, spacing, finterval (s) and
        unit set. Without it, ``scale``/``axes``/``unit`` describe the data
        (``axes`` default "YX" or "ZYX"; a T size is in seconds).
    metadata : dict, optional
        Stored as JSON in the ImageJ ``Info`` property and restored by
        :func:`read_tiff`.
    channel_names : list of str, optional
        One name per channel of a C axis, stored as ImageJ slice labels (Fiji
        shows them; :func:`open_tiff` reads them back).
    overwrite : bool
        Replace an existing file at ``path`` (default); if False, raise
        FileExistsError instead, checked when the finished file is moved in.
    """
    import tifffile

    a = np.asarray(data, dtype=np.float32)
    ia = image_axes if image_axes is not None else _legacy_axes(a.ndim, scale, axes, unit)
    if ia.ndim != a.ndim:
        raise ValueError(f"axes {ia.axes!r} do not match data with {a.ndim} dimensions")
    perm, ij, res = imagej_layout(ia)
    ij["Info"] = json.dumps({"napari_sparsedecon": metadata or {}, **ia.to_dict()},
                            default=str)
    kw = {"resolution": res} if res else {}
    a = np.transpose(a, perm)
    names = _fitting_names(channel_names, a.shape, ij["axes"])
    if names and "C" in ij["axes"]:
        planes = int(np.prod(a.shape[:-2]))  # ImageJ planes run C fastest (TZC order)
        ij["Labels"] = [names[i % len(names)] for i in range(planes)]

    def _write(tmp):
        with quiet_bigtiff():
            tifffile.imwrite(tmp, a, imagej=True, metadata=ij, **kw, **tiff_size_kw(a.shape))

    return atomic_write(path, _write, overwrite=overwrite)


#: Our short units -> OME-XML unit symbols (UnitsLength / UnitsTime).
OME_UNIT = {"pm": "pm", "angstrom": "Å", "nm": "nm", "um": "µm", "mm": "mm", "cm": "cm",
            "m": "m", "ns": "ns", "us": "µs", "ms": "ms", "s": "s", "min": "min", "h": "h"}
#: Namespace of the MapAnnotation that holds this package's parameters in an OME-TIFF.
OME_NAMESPACE = "napari_sparsedecon"


def ome_layout(ia: ImageAxes, metadata: dict | None = None):
    """(permutation to OME's T, C, Z, Y, X order, tifffile OME metadata) for axes ``ia``.

    Pixel sizes go to ``PhysicalSize{X,Y,Z}`` with their units, the frame interval to
    ``TimeIncrement``; ``metadata`` (the parameters) to a MapAnnotation (namespace
    ``napari_sparsedecon``, key ``napari_sparsedecon``, JSON) with the axes.
    """
    from .axes import ORDER

    perm, oa = ia.ordered(ORDER)
    md: dict = {"axes": oa.axes}
    for a, s, u in zip(oa.axes, oa.scale, oa.units, strict=True):
        if s is None or a == "C":
            continue
        key = "TimeIncrement" if a == "T" else f"PhysicalSize{a}"
        md[key], md[f"{key}Unit"] = float(s), OME_UNIT[u]
    payload = json.dumps({"napari_sparsedecon": metadata or {}, **ia.to_dict()}, default=str)
    md["Description"] = "napari-sparsedecon output; parameters in the MapAnnotation " \
                        f"{OME_NAMESPACE!r}"
    md["MapAnnotation"] = {"Namespace": OME_NAMESPACE,
                           "Value": {"napari_sparsedecon": payload}}
    return perm, md


def ome_own_metadata(xml: str | None) -> dict | None:
    """This package's parameters from an OME-XML MapAnnotation, or None."""
    if not xml or OME_NAMESPACE not in xml:
        return None
    import tifffile

    ann = tifffile.xml2dict(xml).get("OME", {}).get("StructuredAnnotations", {})
    maps = ann.get("MapAnnotation", [])
    for m in maps if isinstance(maps, list) else [maps]:
        if not isinstance(m, dict) or m.get("Namespace") != OME_NAMESPACE:
            continue
        items = m.get("Value", {}).get("M", [])
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict) and item.get("K") == "napari_sparsedecon":
                try:
                    return json.loads(item.get("value", "")).get("napari_sparsedecon", {})
                except (ValueError, TypeError, AttributeError):
                    return None
    return None


def _fitting_names(names, shape, axes: str) -> list[str] | None:
    """``names`` as strings when there is one per channel (one for data without C)."""
    n = int(shape[axes.index("C")]) if "C" in axes else 1
    return [str(v) for v in names] if names is not None and len(names) == n else None


def write_ome_tiff(path, data, *, image_axes: ImageAxes | None = None,
                   metadata: dict | None = None, overwrite: bool = True,
                   channel_names=None) -> Path:
    """Write float32 data as an OME-TIFF (tifffile's OME writer), atomically.

    Axes are stored in OME's T, C, Z, Y, X order with ``PhysicalSize*`` and their
    units, ``TimeIncrement`` in the input's time unit and the parameters in a
    MapAnnotation (see :func:`ome_layout`), one ``Channel/@Name`` per channel from
    ``channel_names``. ``overwrite`` as in :func:`write_tiff`.
    """
    import tifffile

    a = np.asarray(data, dtype=np.float32)
    ia = image_axes if image_axes is not None else ImageAxes.default(a.ndim)
    if ia.ndim != a.ndim:
        raise ValueError(f"axes {ia.axes!r} do not match data with {a.ndim} dimensions")
    perm, md = ome_layout(ia, metadata)
    a = np.transpose(a, perm)
    names = _fitting_names(channel_names, a.shape, md["axes"])
    if names:
        md["Channel"] = {"Name": names}

    def _write(tmp):
        tifffile.imwrite(tmp, a, ome=True, photometric="minisblack", metadata=md,
                         **tiff_size_kw(a.shape))

    return atomic_write(path, _write, overwrite=overwrite)


def read_tiff(path):
    """Read a TIFF; return (data, info): 'image_axes', 'scale', 'axes', 'units', 'metadata'.

    Pixel sizes come from the OME-XML or ImageJ metadata (None where not stated).
    """
    import tifffile

    with readable_tiff(path), tifffile.TiffFile(path) as tf:
        ia = from_tiff(tf)
        data = tf.series[0].asarray()
        meta = _own_metadata(tf)
    return data, info_dict(ia, meta)


def _own_metadata(tf) -> dict:
    """This package's parameters stored in ``tf`` (ImageJ Info or OME MapAnnotation)."""
    meta = ome_own_metadata(tf.ome_metadata if tf.is_ome else None) or {}
    info = (tf.imagej_metadata or {}).get("Info")
    if info and "napari_sparsedecon" in str(info):
        try:
            meta = json.loads(info).get("napari_sparsedecon", {})
        except (ValueError, TypeError, AttributeError):
            meta = {}
    return meta if isinstance(meta, dict) else {}


def channel_names(tf, ia: ImageAxes) -> list[str] | None:
    """Channel names of ``tf``'s first series (OME ``Channel/@Name``, also of a single
    channel, or ImageJ slice labels that repeat once per channel), or None when the file
    does not name them."""
    s = tf.series[0]
    if ia.index("C") is None:
        n = 1  # one channel: OME may still name it
    else:
        n = int(s.shape[s.axes.index("C")]) if "C" in s.axes else None
    names = None
    if tf.is_ome and tf.ome_metadata:
        import tifffile

        images = tifffile.xml2dict(tf.ome_metadata).get("OME", {}).get("Image", [])
        images = images if isinstance(images, list) else [images]
        chans = images[0].get("Pixels", {}).get("Channel", []) if images else []
        chans = chans if isinstance(chans, list) else [chans]
        names = [str(ch.get("Name", "")) if isinstance(ch, dict) else "" for ch in chans]
    elif tf.imagej_metadata and ia.index("C") is not None:
        labels = tf.imagej_metadata.get("Labels")
        if isinstance(labels, list) and n and len(labels) >= n and all(
                labels[i] == labels[i % n] for i in range(len(labels))):
            names = [str(v) for v in labels[:n]]
    if not names or len(names) != n or not all(names):
        return None
    return names


def open_tiff(path):
    """Open a TIFF lazily (tifffile's ``aszarr`` store read through dask): (data, info).

    Nothing is decoded here: a small file that declares a huge image costs nothing
    until a region is read. ``data`` is a dask array, or a list of them (largest
    first) for a pyramidal file. info as :func:`read_tiff`, plus 'channel_names'
    (or None), 'multiscale' and 'close' (releases the file). Raises ValueError for
    files that are not single-channel intensity stacks (RGB, unnamed axes) and
    tifffile's errors for files that are not TIFFs.
    """
    import dask.array as da
    import tifffile
    import zarr

    with readable_tiff(path), tifffile.TiffFile(path) as tf:
        ia = from_tiff(tf)
        names = channel_names(tf, ia)
        meta = _own_metadata(tf)
        nlevels = len(tf.series[0].levels)
    with readable_tiff(path):
        store = tifffile.imread(path, aszarr=True)
    try:
        z = zarr.open(store, mode="r")
        arrays = [z[k] for k in sorted(z.array_keys(), key=int)] if nlevels > 1 else [z]
        # the file stays open while the arrays are in use (a napari layer), and is
        # closed when the last of them is collected, or by info['close']
        left = [len(arrays)]

        def gone():
            left[0] -= 1
            if left[0] == 0:
                store.close()

        for arr in arrays:
            weakref.finalize(arr, gone)
        data = [da.from_zarr(arr) for arr in arrays]
        data = data if nlevels > 1 else data[0]
        shape = (data[0] if isinstance(data, list) else data).shape
        if len(shape) != ia.ndim:
            raise ValueError(f"{path}: {len(shape)} array axes but metadata names {ia.axes}")
    except BaseException:
        store.close()
        raise
    info = info_dict(ia, meta)
    info.update(channel_names=names, multiscale=nlevels > 1, close=store.close)
    return data, info


def info_dict(ia: ImageAxes, metadata=None) -> dict:
    """The info dict that readers return."""
    return {"image_axes": ia, "axes": ia.axes, "scale": list(ia.scale),
            "units": list(ia.units), "metadata": metadata or {}}
