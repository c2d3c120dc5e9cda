"""The batch engine's output: an ImageJ TIFF, OME-TIFF or OME-Zarr written under a
temporary name (``.part``) and moved into place by the one atomic commit of
:mod:`napari_sparsedecon.io.outputs` only when complete."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from ..io.outputs import check_replaceable, commit, part_dir
from .discovery import Job


def check_output_scale(scale, ndim):
    """Refuse pixel sizes an output cannot carry: not one finite positive value per axis."""
    if scale is None:
        return
    try:
        vals = [float(s) for s in scale]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != ndim or not all(math.isfinite(v) and v > 0 for v in vals):
        raise ValueError(f"the input's pixel size metadata {list(scale)!r} is not usable "
                         f"(needs {ndim} positive values, um per pixel, one per axis); fix "
                         f"the file's metadata")


class _MappedTiff:
    """Slice access to a float32 TIFF's pixels, mapping the file per access."""

    def __init__(self, path, shape=None):
        self.path = path
        self._shape = None if shape is None else tuple(shape)

    def _map(self):
        import tifffile

        mm = tifffile.memmap(self.path, mode="r+")
        # a reader may drop length-1 axes (OME); map in the stored shape
        return mm if self._shape is None else mm.reshape(self._shape)

    def __setitem__(self, key, value):
        mm = self._map()
        mm[key] = value
        mm.flush()
        del mm

    def __getitem__(self, key):
        mm = self._map()
        out = np.array(mm[key])
        del mm
        return out

    @property
    def shape(self):
        mm = self._map()
        shape = mm.shape
        del mm
        return shape


def _ome_tiff_output(path, shape, image_axes, meta):
    """A float32 OME-TIFF (tifffile's OME writer: T, C, Z, Y, X order, physical sizes with
    units, the parameters in a MapAnnotation) at ``path``, mapped per access."""
    import tifffile

    from ..io.tiff import ome_layout, tiff_size_kw

    perm, md = ome_layout(image_axes, meta)
    stored = tuple(shape[i] for i in perm)
    mm = tifffile.memmap(path, shape=stored, dtype="float32", ome=True,
                         photometric="minisblack", metadata=md, **tiff_size_kw(stored))
    mm.flush()
    del mm
    out = _MappedTiff(path, shape=stored)
    out.perm = perm
    return out


def _reserve(path, dst) -> None:
    """Allocate the whole (sparse) TIFF at ``path`` now, so that a full disk is an OSError
    naming ``dst`` here, not a SIGBUS when a memory-mapped page is first written."""
    import errno

    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise OSError(err.errno, f"{dst}: {os.strerror(err.errno)} (the output "
                                         f"needs {size} bytes)") from None
        st = os.fstatvfs(fd)  # no fallocate on this file system: check the free space
        if st.f_bavail * st.f_frsize < size - os.fstat(fd).st_blocks * 512:
            raise OSError(errno.ENOSPC, f"{dst}: {os.strerror(errno.ENOSPC)} (the output "
                                        f"needs {size} bytes)")
    finally:
        os.close(fd)


class _FiniteWrites:
    """An output array that refuses blocks holding NaN/Inf (issue 25: a result that is not
    finite is never written); every other access goes to ``base``."""

    def __init__(self, base, dst):
        self._base, self._dst = base, dst

    def __setitem__(self, key, value):
        from ..base.validation import check_result

        try:
            check_result(value)
        except ValueError as err:
            raise ValueError(f"{self._dst}: not written: {err}; rescale the image (e.g. "
                             f"to a maximum of 1e6) or change the parameters") from None
        self._base[key] = value

    def __getitem__(self, key):
        return self._base[key]

    def __getattr__(self, name):
        return getattr(self._base, name)


class _View:
    """Slices of ``base`` (stored with its axes permuted by ``perm``) in the data's axis
    order, with the axes in ``fixed`` ({data axis: index}) held at one index."""

    def __init__(self, base, perm, fixed=None):
        self.base, self.perm, self.fixed = base, tuple(perm), dict(fixed or {})
        self.free = [i for i in range(len(perm)) if i not in self.fixed]
        kept = [q for q in self.perm if q not in self.fixed]  # free axes in storage order
        self._to_store = tuple(sorted(kept).index(q) for q in kept)
        self._to_data = tuple(int(i) for i in np.argsort(self._to_store))

    @property
    def shape(self):
        bshape = self.base.shape
        full = [bshape[self.perm.index(i)] for i in range(len(self.perm))]
        return tuple(full[i] for i in self.free)

    def _key(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (len(self.free) - len(key) + 1) + key[i + 1:]
        key = key + (slice(None),) * (len(self.free) - len(key))
        full = dict(self.fixed)
        full.update(zip(self.free, key, strict=True))
        return tuple(full[q] for q in self.perm)

    def __getitem__(self, key):
        return np.transpose(np.asarray(self.base[self._key(key)]), self._to_data)

    def __setitem__(self, key, value):
        value = np.asarray(value)
        if value.ndim == len(self.free):
            value = np.transpose(value, self._to_store)
        self.base[self._key(key)] = value


class _Writer:
    """An output array under a temporary name, moved into place by commit().

    ``image_axes`` names the output's axes (data order) with pixel sizes and
    units; TIFFs are ImageJ hyperstacks (T, Z, C, Y, X), OME-Zarr is written by
    :func:`napari_sparsedecon.io.ome_zarr.create_ome_zarr` (``ngff`` "0.5" on
    Zarr v3 or "0.4" on Zarr v2). :meth:`view` gives one channel in data order.

    Everything that can be checked is checked before the temporary folder is
    made; a failure while making it removes it again.
    """

    def __init__(self, job: Job, shape, image_axes, meta, ngff="0.5"):
        from ..io.axes import ImageAxes
        from ..io.ome_zarr import NGFF_VERSIONS

        if image_axes is None:
            image_axes = ImageAxes.default(len(shape))
        self.job = job
        dst = Path(job.dst)
        if job.fmt not in ("tif", "zarr", "ome.tif"):
            raise ValueError(f"output format {job.fmt!r}: use 'tif', 'ome.tif' or 'zarr'")
        if job.fmt == "zarr" and ngff not in NGFF_VERSIONS:
            raise ValueError(f"NGFF version {ngff!r}: use one of {', '.join(NGFF_VERSIONS)}")
        if image_axes.ndim != len(shape):
            raise ValueError(f"axes {image_axes.axes!r} do not match shape {tuple(shape)}")
        known = [v for v in image_axes.scale if v is not None]
        check_output_scale(known or None, len(known))
        if os.path.lexists(dst) and not job.overwrite:
            raise FileExistsError(f"{dst} exists; use --overwrite to replace it")
        check_replaceable(dst)  # (with --overwrite: only an earlier output of ours)
        if not dst.parent.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(dst.parent, os.W_OK):
            raise PermissionError(f"output folder {dst.parent} is not writable")
        self.image_axes = image_axes
        self.tmp = part_dir(dst)
        self.path = os.path.join(self.tmp, dst.name)
        try:
            self._create(dst, shape, image_axes, meta, ngff)
            if job.fmt != "zarr":
                _reserve(self.path, dst)
            self.array = _FiniteWrites(self.array, dst)
        except BaseException:
            self.abort()
            raise

    def _create(self, dst, shape, image_axes, meta, ngff):
        from ..io.axes import ORDER

        job = self.job
        if job.fmt == "zarr":
            from ..io.ome_zarr import create_ome_zarr

            self.perm, zaxes = image_axes.ordered(ORDER)
            zshape = tuple(shape[i] for i in self.perm)
            self.array = create_ome_zarr(self.path, zshape, zaxes, metadata=meta, ngff=ngff,
                                         name=dst.stem)
        elif job.fmt == "ome.tif":
            self.array = _ome_tiff_output(self.path, shape, image_axes, meta)
            self.perm = self.array.perm
        else:
            import tifffile

            from ..io.tiff import imagej_layout, quiet_bigtiff, tiff_size_kw

            self.perm, ij, res = imagej_layout(image_axes)
            ij["Info"] = json.dumps({"napari_sparsedecon": meta, **image_axes.to_dict()},
                                    default=str)
            self._ij = ij
            stored = tuple(shape[i] for i in self.perm)
            kw = {"resolution": res} if res else {}
            with quiet_bigtiff():  # over ~4 GiB: a BigTIFF (a classic TIFF cannot hold it)
                mm = tifffile.memmap(self.path, shape=stored, dtype="float32", imagej=True,
                                     metadata=ij, **kw, **tiff_size_kw(stored))
            mm.flush()
            del mm
            # Map the file only while writing a block, so its pages are not held
            # resident (and counted against the memory budget) for the whole run.
            self.array = _MappedTiff(self.path)

    def update_metadata(self, meta) -> bool:
        """Replace the parameters record (what a run measured is known only after it):
        OME-Zarr attributes and the ImageJ TIFF's Info tag are rewritten before the commit;
        an OME-TIFF keeps the record it was created with (returns False)."""
        if self.job.fmt == "zarr":
            import zarr

            from ..io.ome_zarr import KEY
            from ..params import jsonable

            zarr.open_group(self.path, mode="a").attrs[KEY] = jsonable(meta)
            return True
        if self.job.fmt != "tif":
            return False
        import tifffile

        ij = {**self._ij, "Info": json.dumps({"napari_sparsedecon": meta,
                                              **self.image_axes.to_dict()}, default=str)}
        tags = tifffile.imagej_metadata_tag(
            {k: v for k, v in ij.items() if k in ("Info", "Labels", "Ranges", "LUTs")}, "<")
        with tifffile.TiffFile(self.path, mode="r+b") as tf:
            page = tf.pages[0]
            for code, dtype, _, value, _ in tags:
                page.tags[code].overwrite(value, dtype=dtype)
        return True

    def view(self, channel=None, time=None):
        """The output in the data's axis order; with ``channel`` (``time``), that channel
        (time point) only."""
        c, t = self.image_axes.index("C"), self.image_axes.index("T")
        fixed = {c: channel} if c is not None and channel is not None else {}
        if t is not None and time is not None:
            fixed[t] = time
        if not fixed and self.perm == tuple(range(len(self.perm))):
            return self.array
        return _View(self.array, self.perm, fixed)

    def commit(self):
        if self.job.fmt == "zarr":  # lower resolutions for large images (napari opens
            from ..io.ome_zarr import add_pyramid  # them level by level)

            add_pyramid(self.path)
        # checked again here, at the last moment: another run may have written dst meanwhile
        try:
            commit(self.path, self.job.dst, overwrite=self.job.overwrite)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def abort(self):
        self.array = None
        shutil.rmtree(self.tmp, ignore_errors=True)
