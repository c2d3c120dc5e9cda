"""The paper pipeline on dask.distributed: stacks in blocks, (T, Z, Y, X) files one
volume per task, within a memory budget shared by the client and every worker.

Called by :func:`.batch.process_file` when a client is given (``run --workers N`` /
``--scheduler``); the other methods' files run one per task (:mod:`.method_batch`).
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from ..base.validation import check_block
from ..core.params import validate_params
from ..core.tiled import iter_tiled, scale_to_max_one, to_numpy
from .batch import _channel, read_image

#: Resident memory of the client process (with the local scheduler) and of one
#: dask worker process at rest, measured ~130 MiB each on this project's CI
#: machine; counted against the memory budget with some margin.
PROCESS_OVERHEAD = 192 * 2**20


def _task_budget(client, memory_budget) -> tuple[int, int]:
    """(worker threads, memory for one task): ``memory_budget`` (default half the available
    memory) less 10% margin and the resident baseline of the client and of every worker,
    shared by one task per worker thread (and half a task's worth for the client)."""
    from ..core.tiled import default_budget

    threads = max(1, sum(client.nthreads().values()))
    budget = int(memory_budget) if memory_budget else default_budget()
    task_budget = int((0.9 * budget - PROCESS_OVERHEAD * (threads + 1)) / (threads + 0.5))
    if task_budget <= 0:
        raise MemoryError(f"a memory budget of {budget / 2**20:.0f} MiB does not cover "
                          f"{threads} dask worker(s) (~{PROCESS_OVERHEAD / 2**20:.0f} MiB "
                          f"each at rest); raise --memory-budget or use fewer workers")
    return threads, task_budget


def _run_time_points_distributed(client, job, data, ia, per_ch, writer, memory_budget, tile,
                                 backend, progress):
    """A (T, Z, Y, X) file (optionally with C) on a dask cluster: one task per (channel,
    time point) volume, each the serial path's tiled Z, Y, X solve within one worker
    task's share of ``memory_budget``.

    A task reads its volume from the input file and writes the (unscaled) result into a
    scratch Zarr store in the output's temporary folder, returning its maximum; the client
    copies each finished volume into the output frame by frame and deletes its scratch
    store. With max-1 scaling every channel is then divided by its one maximum over all
    time points, as in :func:`_run_time_points`. On a failure or interrupt the remaining
    tasks are cancelled (the caller removes the temporary folder; a task still running
    then finds its scratch store gone and stops without writing).
    """
    import zarr
    from distributed import as_completed

    from ..progress import Progress, Stage

    _, task_budget = _task_budget(client, memory_budget)
    c = ia.index("C")
    channels = range(data.shape[c]) if c is not None else [None]
    futs = {}
    try:
        for ch in channels:
            p, psf, _ = per_ch[ch or 0]
            q = {**p, "quantitative": True}
            sub = _channel(data, ia, ch)
            up = q["upsample"]
            vshape = tuple(sub.shape[1:-2]) + (sub.shape[-2] * up, sub.shape[-1] * up)
            for t in range(sub.shape[0]):
                store = os.path.join(writer.tmp, f"volume_c{ch or 0}_t{t}.zarr")
                zarr.open_array(store, mode="w", shape=vshape, dtype="float32",
                                fill_value=0.0,
                                chunks=(1, min(vshape[1], 512), min(vshape[2], 512)))
                fut = client.submit(_volume_task, job.src, (c, ch), t, q, psf,
                                    store, task_budget, tile, backend, pure=False)
                futs[fut] = (ch, t, store)
        total = len(futs)
        gmax = dict.fromkeys(channels, 0.0)
        for done, fut in enumerate(as_completed(list(futs)), start=1):
            vmax = fut.result()
            ch, t, store = futs.pop(fut)
            del fut  # let the cluster forget it
            out, vol = writer.view(ch, time=t), zarr.open_array(store, mode="r")
            for k in range(vol.shape[0]):  # a frame at a time
                out[k:k + 1] = vol[k:k + 1]
            shutil.rmtree(store, ignore_errors=True)
            gmax[ch] = max(gmax[ch], vmax)
            if progress:
                progress(Progress(Stage.TILES, done, total))
    except BaseException:
        client.cancel(list(futs))
        raise
    for ch in channels:
        if not per_ch[ch or 0][0]["quantitative"]:  # one scale over all time points
            for t in range(data.shape[ia.index("T")]):
                scale_to_max_one(writer.view(ch, time=t), 1, gmax[ch])


class _ScratchVolume:
    """A worker's scratch Zarr array for one volume: tracks the maximum written, and
    refuses to write once its store is gone (the run was aborted and the temporary
    folder removed: a write would create it again)."""

    def __init__(self, path):
        import zarr

        self.path = path
        self.array = zarr.open_array(path, mode="r+")  # fails if already removed
        self.shape = self.array.shape
        self.max = 0.0

    def __getitem__(self, key):
        return self.array[key]

    def __setitem__(self, key, value):
        value = np.asarray(value, dtype=np.float32)
        if not os.path.isdir(self.path):
            raise RuntimeError(f"scratch store {self.path} is gone: the run was aborted")
        if value.size:
            self.max = max(self.max, float(value.max()))
        self.array[key] = value


def _volume_task(src, channel, t, params, psf, store, memory_budget, tile, backend) -> float:
    """On a worker: time point ``t`` of ``src`` (of one channel: (C axis, index)) through
    the tiled Z, Y, X path into the scratch ``store``; return the volume's maximum."""
    p = validate_params(params)
    out = _ScratchVolume(store)
    data, info = read_image(src)
    try:
        if channel[0] is not None:
            data = data[(slice(None),) * channel[0] + (channel[1],)]
        for _ in iter_tiled(data[t], p, psf=psf, out=out, memory_budget=memory_budget,
                            tile=tile, backend=backend):
            pass
    finally:
        info.get("close", lambda: None)()
    return out.max


def _run_distributed(client, job, data, p, psf, writer, memory_budget, tile, backend,
                     progress, chunk_t=None, out=None, channel=(None, None)):
    """Run one stack on a dask cluster in two passes, within ``memory_budget`` in all.

    1. Frames are prepared (background, up-sampling; frame by frame) on the
       workers into a scratch Zarr store beside the output; their maxima give
       the global intensity scale.
    2. Blocks of the prepared stack (long t-chunks, Y/X tiles, with overlaps)
       are solved on the workers; each returns its kept frames weighted by its
       blending ramps, and the client adds them into the output.

    The budget covers the client, the workers' resident baseline and one block
    per worker thread. Workers must see the input and output paths (a local
    cluster, or a shared file system).
    """
    import zarr
    from distributed import as_completed

    from ..core.pipeline import deconv_psf
    from ..core.tiled import check_scale, iter_blocks, plan_blocks, warn_biggs_seams
    from ..progress import Progress, Stage

    threads, task_budget = _task_budget(client, memory_budget)
    up = p["upsample"]
    nt = data.shape[0]
    wshape = (nt, data.shape[1] * up, data.shape[2] * up)
    wpsf = deconv_psf(p, psf, tuple(data.shape), 3)
    plan = plan_blocks(wshape, p, None if wpsf is None else wpsf.shape,
                       task_budget=task_budget, tile=tile, chunk_t=chunk_t,
                       # Biggs takes one global step per block: split only as needed
                       min_tasks=1 if p["deconv_method"] == "biggs" else 2 * threads)
    blocks = list(iter_blocks(wshape, plan))
    warn_biggs_seams(p, len(blocks), "block")
    # pass 1: prepared frames into scratch storage, a few frames per task
    store = os.path.join(writer.tmp, "prepared.zarr")
    zarr.open_array(store, mode="w", shape=wshape, dtype="float32", fill_value=0.0,
                    chunks=(1, min(wshape[1], 512), min(wshape[2], 512)))
    frame_bytes = 4 * 4 * wshape[1] * wshape[2]  # input, background, work, up-sampling
    per = max(1, min(-(-nt // (2 * threads)), task_budget // frame_bytes))
    params = dict(p)
    futs = {client.submit(_prepare_task, job.src, a, min(a + per, nt), params, store,
                          channel=channel, pure=False) for a in range(0, nt, per)}
    n_steps = len(futs) + len(blocks)
    scale, step = 0.0, 0
    for fut in as_completed(futs):
        scale = max(scale, fut.result())
        futs.discard(fut)  # let the cluster forget it
        step += 1
        if progress:
            progress(Progress(Stage.PREPARE, step, n_steps))
    check_scale(scale, p)
    # pass 2: blocks; the client adds each weighted result into the output
    futs = {client.submit(_block_task, store, spans, params, wpsf, scale, plan, backend,
                          pure=False) for spans in blocks}
    out = writer.array if out is None else out
    for fut in as_completed(futs):
        (ta, tb), (ylo, yhi), (xlo, xhi), res = fut.result()
        futs.discard(fut)
        key = (slice(ta, tb), slice(ylo, yhi), slice(xlo, xhi))
        out[key] = out[key] + res
        del res, fut
        step += 1
        if progress:
            progress(Progress(Stage.TILES, step, n_steps))
    shutil.rmtree(store, ignore_errors=True)
    if not p["quantitative"]:
        scale_to_max_one(out, max(1, plan.chunk_t))


def _prepare_task(src, a, b, params, store, channel=(None, None)) -> float:
    """On a worker: prepare frames [a, b) of ``src`` (of one channel: (C axis, index))
    into ``store``; return their maximum."""
    import zarr

    from ..core.pipeline import prepare

    p = validate_params(params)
    data, info = read_image(src)
    try:
        if channel[0] is not None:
            data = data[(slice(None),) * channel[0] + (channel[1],)]
        block = to_numpy(data[a:b])
    finally:
        info.get("close", lambda: None)()
    check_block(block)
    work = prepare(block, p)
    zarr.open_array(store, mode="r+")[a:b] = work
    return float(work.max())


def _block_task(store, spans, params, wpsf, scale, plan, backend):
    """On a worker: solve one block of the prepared ``store``; see ``solve_block``."""
    import zarr

    from ..core.tiled import solve_block

    arr = zarr.open_array(store, mode="r")
    (tlo, thi), (ta, tb) = spans[0]
    (ylo, yhi), _ = spans[1]
    (xlo, xhi), _ = spans[2]
    block = np.asarray(arr[tlo:thi, ylo:yhi, xlo:xhi], dtype=np.float32)
    res = solve_block(block, scale, params, wpsf, spans, arr.shape,
                      plan, backend=backend)
    return (ta, tb), (ylo, yhi), (xlo, xhi), res
