"""Where an output may be written, and how it is put in place.

The rules (docs/reliability.md):

- an output never is, lies inside, or holds an input image, a PSF file or a
  parameter file (paths compared after following symlinks and relative
  parts; hard links compared by inode); ``--overwrite`` only ever replaces
  an earlier *output*;
- every output is written under a temporary ``.part`` name beside it, named
  after the writing process (host and pid), and moved into place only when
  complete; without ``overwrite`` the move fails if something appeared at the
  final path meanwhile (another run), instead of replacing it;
- a later run for the same output removes ``.part`` leftovers of processes
  that no longer run on this host, and says so.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

#: Output name suffixes and the format each one means.
OUTPUT_FORMATS = {".tif": "tif", ".tiff": "tif", ".zarr": "zarr"}
#: Stems ending in these are outputs of this package (``<name>_sparse.tif``,
#: ``<name>_rl.tif``); folders and globs never pick them up as inputs.
OWN_OUTPUT_TAGS = ("_sparse", "_rl")


def real(path) -> Path:
    """Absolute path with ``~``, ``..`` and symlinks resolved (the file need not exist)."""
    return Path(os.path.realpath(os.path.abspath(os.path.expanduser(str(path)))))


def image_stem(path) -> str:
    """File name without its image extension (``a.ome.tif`` -> ``a``)."""
    name = Path(str(path).rstrip("/")).name
    low = name.lower()
    for ext in (".ome.tiff", ".ome.tif", ".ome.zarr", ".tiff", ".tif", ".zarr"):
        if low.endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem


def is_own_output(path) -> bool:
    """Whether ``path`` is named like an output of this package (``*_sparse.*``, ``*_rl.*``)."""
    return image_stem(path).endswith(OWN_OUTPUT_TAGS)


def written_by_this_package(path) -> bool:
    """Whether ``path`` is a file or store that this package wrote, as its own metadata
    key proves (``napari_sparsedecon`` in a TIFF's ImageJ ``Info`` or OME
    MapAnnotation, or in an OME-Zarr store's attributes); a name is no proof. Reads the
    metadata only. A symlink is never counted as one (what it points to is not ours to
    replace)."""
    p = str(path)
    if os.path.islink(p):
        return False
    if os.path.isdir(p):
        from .ome_zarr import is_ours

        return is_ours(p)
    if not os.path.isfile(p):
        return False
    return _tiff_is_ours(p)


def _tiff_is_ours(path) -> bool:
    import json

    from .tiff import OME_NAMESPACE, ome_own_metadata

    try:
        import tifffile

        with tifffile.TiffFile(path) as tf:
            info = (tf.imagej_metadata or {}).get("Info")
            if isinstance(info, str):
                try:
                    if OME_NAMESPACE in json.loads(info):
                        return True
                except ValueError:
                    pass
            return bool(tf.is_ome) and ome_own_metadata(tf.ome_metadata) is not None
    except Exception:  # noqa: BLE001 - not a TIFF (or not readable): not ours
        return False


def check_replaceable(dst) -> None:
    """Refuse (FileExistsError) to replace ``dst`` with ``--overwrite`` unless this package
    wrote it (:func:`written_by_this_package`): a folder named like an output, a plain
    folder named ``*.zarr`` or a raw file named ``*_sparse.tif`` is left alone."""
    if not os.path.lexists(dst) or written_by_this_package(dst):
        return
    if os.path.islink(dst):
        what = "a symbolic link"
    elif os.path.isdir(dst):
        what = "a folder that is not an OME-Zarr store written by napari-sparsedecon"
    else:
        what = "a file without napari-sparsedecon's metadata (not one of its outputs)"
    raise FileExistsError(f"{dst} exists and is {what}; --overwrite only replaces earlier "
                          f"outputs of this package: move it away or choose another "
                          f"output name")


def output_format(path) -> str | None:
    """``"tif"``, ``"ome.tif"`` (``.ome.tif``, ``.ome.tiff``) or ``"zarr"`` from an output
    name's extension, or None without one."""
    name = Path(str(path).rstrip("/")).name.lower()
    if name.endswith((".ome.tif", ".ome.tiff")):
        return "ome.tif"
    return OUTPUT_FORMATS.get(Path(name).suffix)


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_protected(output, protected) -> None:
    """Refuse an output that is, lies inside or holds a protected path.

    ``protected``: ``(path, what)`` pairs, ``what`` as in "an input" or "the
    PSF file". Raises ValueError naming both paths.
    """
    out = real(output)
    for path, what in protected:
        p = real(path)
        if out == p or _same_file(output, path):
            raise ValueError(f"refusing to write {output}: it is {what} ({path}); choose "
                             f"another output name (--overwrite only replaces earlier "
                             f"outputs, never inputs)")
        if p in out.parents:
            raise ValueError(f"refusing to write {output}: it lies inside {what} ({path}); "
                             f"choose an output folder outside it")
        if out in p.parents:
            raise ValueError(f"refusing to write {output}: it holds {what} ({path}), which "
                             f"replacing it would delete; choose another output name")


# --- temporary parts ---------------------------------------------------------

def _tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def part_dir(dst) -> str:
    """A new temporary folder beside ``dst`` for writing it."""
    dst = Path(dst)
    return tempfile.mkdtemp(prefix=f".{dst.name}.{_tag()}.", suffix=".part", dir=dst.parent)


def part_file(dst) -> str:
    """A new (empty, closed) temporary file beside ``dst`` for writing it."""
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.{_tag()}.", suffix=".part",
                               dir=dst.parent)
    os.close(fd)
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale_parts(dst) -> tuple[list[Path], list[Path]]:
    """Remove ``.part`` leftovers of ``dst`` whose writing process is gone.

    Returns (removed, unknown): ``unknown`` are parts that may belong to a
    process still running (on this or another host) or made by an older
    version without a process tag; they are left alone.
    """
    dst = Path(dst)
    head = f".{dst.name}."
    removed, unknown = [], []
    try:
        entries = list(dst.parent.iterdir())
    except OSError:
        return removed, unknown
    host = socket.gethostname()
    for q in entries:
        if not (q.name.startswith(head) and q.name.endswith(".part")):
            continue
        body = q.name[len(head): -len(".part")]  # "<host>-<pid>.<random>" or "<random>"
        tag = body.rsplit(".", 1)[0] if "." in body else ""
        qhost, _, pid = tag.rpartition("-")
        if qhost == host and pid.isdigit() and not _alive(int(pid)):
            _remove(q)
            removed.append(q)
        else:
            unknown.append(q)
    return removed, unknown


def commit(tmp, dst, *, overwrite: bool) -> None:
    """Move the finished ``tmp`` (file or folder) to ``dst``.

    Without ``overwrite`` an existing ``dst`` is never replaced, even one that
    appeared while ``tmp`` was being written: FileExistsError. With it, the
    earlier output is replaced only once the new one is complete.
    """
    tmp, dst = str(tmp), str(dst)
    if not overwrite:
        if os.path.isdir(tmp):
            if os.path.lexists(dst):
                raise _exists(dst)
            try:
                os.rename(tmp, dst)  # fails on a non-empty folder or a file at dst
            except OSError as err:
                if err.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise _exists(dst) from None
                raise
            return
        try:
            os.link(tmp, dst)  # atomic: fails if dst exists
        except FileExistsError:
            raise _exists(dst) from None
        except OSError:  # no hard links on this file system
            if os.path.lexists(dst):
                raise _exists(dst) from None
            os.replace(tmp, dst)
            return
        os.remove(tmp)
        return
    if os.path.isdir(dst) and not os.path.islink(dst):
        old = part_dir(dst)
        os.rmdir(old)
        os.rename(dst, old)  # the earlier output, moved aside until the new one is in place
        try:
            os.rename(tmp, dst)
        except BaseException:
            os.rename(old, dst)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if os.path.isdir(tmp) and os.path.lexists(dst):
            os.remove(dst)  # a file (or link) where a folder goes
        os.replace(tmp, dst)


def _exists(dst) -> FileExistsError:
    return FileExistsError(f"{dst} exists now (another run wrote it while this one was "
                           f"computing?); it was left as it is and this result was not "
                           f"saved. Use --overwrite to replace it, or another output name")
