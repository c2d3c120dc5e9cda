"""Any registered method in Y/X blocks: whole-image estimates, halos, blended tiles.

The method protocol (:class:`~napari_sparsedecon.algorithms.registry.Method`) gives
what this module needs: ``prepare`` (camera model, background, levels: estimated once
over the whole image), ``halo`` (the margin a block needs) and ``iterate(...,
prep=prep.block(slices))`` (one block solved with the whole image's estimates). Blocks
overlap by the halo and are blended with the linear ramps of :mod:`.tiling`, so a tiled
run equals the whole-image run to within the seams' round-off (tested: 1e-3 of the
range). A method with its own large-data runner (``Method.tiled``: the paper pipeline's
t-chunks) is handed to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..base.resources import default_budget
from ..base.validation import FLOAT, check_result, to_numpy
from ..ops.spans import _ramp, _ramp_sum, _solve_spans
from ..progress import Progress, Stage

#: Working-set bytes per voxel of a block of the photon methods (the padded
#: estimate, its extrapolation, two spectra, the prior's terms and the data).
BYTES_PER_VOXEL = 4 * 24
#: Bytes per voxel held for the whole image while its blocks run: the image (float32),
#: the method's whole-image estimates (a background map) and the blended result.
WHOLE_BYTES_PER_VOXEL = 4 * 4


def check_whole_fits(shape, method_name: str, memory_budget=None, *,
                     views: bool = False) -> None:
    """Refuse, before any work, an image whose whole-image estimates do not fit the budget
    (the blocks bound the solver's memory, not the image's). ``views``: a multi-view run
    (``shape`` starts with the views), which holds every view whole."""
    budget = int(memory_budget) if memory_budget else default_budget()
    need = WHOLE_BYTES_PER_VOXEL * int(np.prod(shape))
    if need > budget:
        what = (f"holds all {shape[0]} views of {tuple(shape[1:])} in memory"
                if views else f"holds one image of {tuple(shape)} in memory for its "
                              f"whole-image estimates")
        fix = ("crop the views to the region of interest" if views else
               "split the file, or use --method sparse (its t-chunks stream the stack)")
        raise MemoryError(
            f"method {method_name!r} {what} (~{need / 2**20:.0f} MiB, over the budget of "
            f"{budget / 2**20:.0f} MiB); raise --memory-budget, {fix}")


def _method(method):
    from ..algorithms.registry import get_method

    return get_method(method) if isinstance(method, str) else method


def block_side(shape, halo: int, memory_budget=None) -> int:
    """Y/X core size of a block whose working set (with its halo) fits the budget."""
    budget = int(memory_budget) if memory_budget else default_budget()
    lead = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    side = int(math.sqrt(budget / (BYTES_PER_VOXEL * lead))) - 2 * halo
    if side < max(16, halo):
        need = BYTES_PER_VOXEL * lead * (3 * max(16, halo)) ** 2
        raise MemoryError(f"a memory budget of {budget / 2**20:.0f} MiB cannot hold one "
                          f"block of {lead} plane(s) with a {halo} px halo (~"
                          f"{need / 2**20:.0f} MiB); raise --memory-budget")
    return side


def iter_method_tiled(image, method, params: dict, *, psf, out=None, memory_budget=None,
                      tile=None, backend="numpy", device=None, prep=None, info=None,
                      clip_negative=False, given=None, client=None) -> Iterator[Progress]:
    """Run ``method`` (a name or a registry entry) on ``image`` in Y/X blocks; returns the
    float32 result (written into ``out`` too when given).

    ``params``: the method's validated parameters. ``prep``: the method's whole-image
    estimates (made here when None). ``tile``: the block core size in pixels (default:
    from ``memory_budget``). One block covering the image runs the method unchanged.
    ``info`` receives the estimates, the blocks and the halo. The result is checked
    (:func:`~napari_sparsedecon.base.validation.check_result`: finite, not runaway)
    before it is written; ``given`` (the parameters the user set) are named if not.
    ``client``: a dask.distributed client; the blocks then run as tasks on its workers
    (at most two per worker thread in flight, each sized to one task's share of the
    budget) and are blended here as they come back.
    """
    m = _method(method)
    if m.tiled is not None:
        res = yield from m.tiled(image, params, psf=psf, out=out, memory_budget=memory_budget,
                                 tile=tile, backend=backend, device=device)
        return res
    if not m.tileable:
        raise ValueError(f"method {m.name!r} cannot run in blocks (it has no prepare/halo)")
    check_whole_fits(np.shape(image), m.name, memory_budget)
    img = to_numpy(image)
    if prep is None:
        prep, _, _ = m.prepare(img, psf, params, clip_negative=clip_negative)
    h = int(m.halo(params, psf))
    ny, nx = img.shape[-2:]
    block_budget = memory_budget
    if client is not None and not tile:
        from .cluster import _task_budget

        block_budget = _task_budget(client, memory_budget)[1]
    side = int(tile) if tile else block_side(img.shape, h, block_budget)
    if tile is not None and tile <= 0:
        raise ValueError(f"tile must be a positive number of pixels, got {tile}")
    kw = {"backend": backend, "device": device, "return_estimate": False,
          "clip_negative": clip_negative}
    if side >= max(ny, nx):
        res = yield from m.iterate(img, psf, params, prep=prep, info=info, **kw)
        blocks = 1
    else:
        runs: list = []
        res = yield from _blocks(m, img, psf, params, prep, side, h, kw, runs, client)
        blocks = len(runs)
        if info is not None:
            workers = {r.pop("_worker") for r in runs if "_worker" in r}
            info.update(_block_summary(runs))
            if client is not None:
                info["block_workers"] = len(workers)
    if info is not None:
        info.update({**prep.record(), "blocks": blocks, "halo_px": h,
                     "block_px": min(side, max(ny, nx))})
    check_result(res, img, method=m.name, given=given)
    if out is not None:
        _write(out, res)
    return res


def _block_summary(runs: list) -> dict:
    """What the blocks' runs said, compactly: the values every block agreed on, the range
    of the numbers that differ (e.g. ``iterations_run`` of a stopping rule)."""
    out: dict = {}
    for k in dict.fromkeys(k for r in runs for k in r):
        vals = [r[k] for r in runs if k in r]
        if all(v == vals[0] for v in vals):
            out[k] = vals[0]
        elif all(isinstance(v, int | float) for v in vals):
            out[k] = {"min": min(vals), "max": max(vals), "per_block": len(vals)}
    return out


def _block_weights(ny, nx, side, h):
    """[(slices, blend weights)] of every block, row by row."""
    ys, xs = _solve_spans(ny, side, h), _solve_spans(nx, side, h)
    wsum_y, wsum_x = _ramp_sum(ny, side, h), _ramp_sum(nx, side, h)
    out = []
    for (ylo, yhi), (ya, yb) in ys:
        wy = _ramp(ny, ylo, yhi, ya, yb, h) / wsum_y[ylo:yhi]
        for (xlo, xhi), (xa, xb) in xs:
            wx = _ramp(nx, xlo, xhi, xa, xb, h) / wsum_x[xlo:xhi]
            out.append(((Ellipsis, slice(ylo, yhi), slice(xlo, xhi)),
                        np.outer(wy, wx).astype(FLOAT)))
    return out


def _solve_block(name, block, psf, params, prep, kw) -> tuple:
    """One block through the method ``name`` (a task on a dask worker: the method is
    looked up there); returns (result, what the run said, worker address)."""
    from ..core.sparse_hessian import run

    try:
        from distributed import get_worker

        where = get_worker().address
    except (ImportError, ValueError):
        where = "local"
    m = _method(name)
    said: dict = {}
    res = run(m.iterate(block, psf, params, prep=prep, info=said, **kw))
    return res, said, where


def _blocks(m, img, psf, params, prep, side, h, kw, runs, client=None):
    from ..core.sparse_hessian import run

    ny, nx = img.shape[-2:]
    blocks = _block_weights(ny, nx, side, h)
    acc = np.zeros(img.shape, dtype=FLOAT)
    n = len(blocks)
    if client is not None:
        yield from _blocks_on(client, m, img, psf, params, prep, blocks, kw, runs, acc)
        return acc
    for i, (sl, w) in enumerate(blocks):
        block = np.ascontiguousarray(img[sl])
        runs.append({})
        res = run(m.iterate(block, psf, params, prep=prep.block(sl), info=runs[-1], **kw))
        acc[sl] += res * w
        yield Progress(Stage.TILES, i + 1, n)
    return acc


def _blocks_on(client, m, img, psf, params, prep, blocks, kw, runs, acc):
    """The blocks as tasks on ``client``'s workers (two per worker thread in flight),
    blended into ``acc`` as each comes back."""
    from distributed import wait

    kw = {**kw, "backend": getattr(kw["backend"], "name", kw["backend"])}  # by name
    limit = 2 * max(1, sum(client.nthreads().values()))
    todo, pending, n = list(range(len(blocks))), {}, len(blocks)
    done = 0
    try:
        while todo or pending:
            while todo and len(pending) < limit:
                i = todo.pop(0)
                sl = blocks[i][0]
                fut = client.submit(_solve_block, m.name, np.ascontiguousarray(img[sl]), psf,
                                    params, prep.block(sl), kw, pure=False)
                pending[fut] = i
            finished = wait(list(pending), return_when="FIRST_COMPLETED").done
            for fut in finished:
                i = pending.pop(fut)
                res, said, where = fut.result()
                sl, w = blocks[i]
                acc[sl] += res * w
                runs.append({**said, "_worker": where})
                done += 1
                yield Progress(Stage.TILES, done, n)
    finally:
        for fut in pending:
            fut.cancel()


def _write(out, res) -> None:
    """``res`` into an array-like output, a leading-axis plane at a time."""
    if res.ndim <= 2:
        out[...] = res
        return
    for k in range(res.shape[0]):
        out[k] = res[k]
