"""Finding input images and naming their outputs (never an input, never twice)."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..io.outputs import image_stem, is_own_output, real

IMAGE_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Job:
    src: str
    dst: str
    fmt: str  # "tif" or "zarr"
    overwrite: bool = False  # replace an earlier output at dst (never an input)


def expand_inputs(specs) -> tuple[list[str], list[str]]:
    """(input paths, earlier outputs left out) from files, globs and folders.

    Folders give their *.tif, *.tiff and *.zarr; an existing file name is
    taken literally even if it holds glob characters. Files named like this
    package's outputs (``*_sparse.*``, ``*_rl.*``) found in a folder or by a
    glob are left out, so a re-run does not process its own earlier results;
    name one explicitly to process it.
    """
    out, own = [], []
    for spec in specs:
        p = Path(spec)
        if p.is_dir() and not p.name.endswith(".zarr"):
            hits = sorted(str(q) for q in p.iterdir()
                          if q.suffix.lower() in IMAGE_SUFFIXES or q.name.endswith(".zarr"))
        elif not p.exists() and any(ch in spec for ch in "*?["):
            hits = sorted(glob.glob(spec))
        else:
            hits = [str(p)]
        if hits != [str(p)]:  # expanded: leave out earlier outputs
            own += [h for h in hits if is_own_output(h) and h not in own]
            hits = [h for h in hits if not is_own_output(h)]
        out += [h for h in hits if h not in out]
    return out, own


def output_path(src: str, out_dir: str | None, fmt: str, suffix: str = "_sparse") -> str:
    p = Path(src.rstrip("/"))
    folder = Path(out_dir) if out_dir else p.parent
    return str(folder / f"{image_stem(p)}{suffix}.{fmt}")


def _ext_tag(src: str) -> str:
    """``a.ome.tif`` -> ``ome_tif``: the extension, to tell same-stem inputs apart."""
    name = Path(src.rstrip("/")).name
    return name[len(image_stem(name)):].lstrip(".").replace(".", "_").lower()


def plan_jobs(inputs, *, out_dir=None, fmt="tif", overwrite=False):
    """(jobs to run, outputs skipped because they exist).

    Inputs that would share an output name (``a.tif``, ``a.tiff`` and
    ``a.ome.tif`` in one folder) get their extension in it
    (``a_tif_sparse.tif``, ...); inputs that would still share one (``x/a.tif``
    and ``y/a.tif`` into one ``out_dir``) are refused with ValueError.
    """
    dsts = [output_path(src, out_dir, fmt) for src in inputs]
    groups: dict[Path, list[int]] = {}
    for i, d in enumerate(dsts):
        groups.setdefault(real(d), []).append(i)
    for idx in groups.values():
        if len(idx) > 1:
            for i in idx:
                src = inputs[i]
                folder = Path(out_dir) if out_dir else Path(src.rstrip("/")).parent
                dsts[i] = str(folder / f"{image_stem(src)}_{_ext_tag(src)}_sparse.{fmt}")
    groups = {}
    for i, d in enumerate(dsts):
        groups.setdefault(real(d), []).append(i)
    clash = [idx for idx in groups.values() if len(idx) > 1]
    if clash:
        names = ", ".join(inputs[i] for i in clash[0])
        raise ValueError(f"{names} would all write the same output {dsts[clash[0][0]]}; "
                         f"process them into separate --out-dir folders")
    jobs, skipped = [], []
    for src, dst in zip(inputs, dsts, strict=True):
        if os.path.lexists(dst) and not overwrite:
            skipped.append(dst)
        else:
            jobs.append(Job(src, dst, fmt, overwrite))
    return jobs, skipped
