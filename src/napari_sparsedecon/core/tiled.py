"""Tiled, chunked sparse deconvolution for data larger than memory.

The image is processed in overlapping (Y, X) tiles and, for time-lapses or
stacks, overlapping chunks along the first axis. Normalisation is global:
one intensity scale (the maximum of the prepared data) for every tile, found
in a first pass. Tiles are blended with linear ramps across their overlap;
chunks along t/z keep their central frames, the overlap giving the
continuity term the neighbours it needs. Inputs can be NumPy, dask or zarr
arrays (read a chunk at a time); the output can be any array-like that takes
slice assignment (a zarr array for chunk-by-chunk writing).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..base.resources import available_memory, default_budget  # noqa: F401 - re-exported
from ..base.validation import FLOAT, check_block, to_numpy  # noqa: F401 - re-exported
from ..ops.spans import _ramp, _ramp_sum, _solve_spans, _spans  # noqa: F401 - shared with blocks
from ..progress import Progress, Stage
from .params import BYTES_PER_PIXEL, CHUNK_BYTES_PER_PIXEL, SparseParams, as_params  # noqa: F401
from .pipeline import deconv_psf, iter_solve, prepare
from .sparse_hessian import relay, run

_log = logging.getLogger("napari_sparsedecon")

#: Largest overlap chosen (pixels): beyond any image, i.e. one tile.
MAX_OVERLAP = 2**20


def choose_overlap(params, psf_shape) -> int:
    """Overlap (working pixels) from the PSF size and the regularisation.

    RL needs the PSF's half-width; the sparse step couples pixels over a
    distance that grows with iterations and the Hessian weight relative to the
    fidelity: 16 px + the PSF half-width + 16 px x (iterations / 100) x
    sqrt(150 / fidelity). With the default parameters (about 40 px) tiles match
    the untiled result to float32 round-off (measured 1e-6 of the range).
    """
    params = as_params(params)
    half = max(psf_shape[-2:]) // 2 if psf_shape is not None else 0
    reg = 16 * (params.iterations / 100) * math.sqrt(150 / params.fidelity)
    # a tiny fidelity couples the whole image: more overlap than any image has is the same
    # as one tile (and keeps the number finite: fidelity 1e-323 gave an infinite overlap)
    return int(16 + half + math.ceil(min(reg, MAX_OVERLAP)))


def choose_t_overlap(params, psf_shape=None) -> int:
    """Overlap frames of a t/z-chunk on each side: 6 x sqrt(continuity) (measured: keeps
    chunk seams < 2e-4 of the range at continuity 1), and at least the axial
    half-width of a 3-D PSF plus 2 planes (RL couples planes through it even
    without continuity)."""
    params = as_params(params)
    ov = (int(math.ceil(6 * math.sqrt(max(params.continuity, 0.25))))
          if params.continuity > 0 else 0)
    if psf_shape is not None and len(psf_shape) == 3:
        ov = max(ov, psf_shape[0] // 2 + 2)
    return ov


def check_scale(scale: float, params) -> None:
    """Refuse a zero global intensity scale with the reason."""
    params = as_params(params)
    if scale <= 0:
        raise ValueError("the image is all zero" if params.background == "none" else
                         "nothing is left after background subtraction; choose "
                         "background='none' or a 'low/...' mode")


def warn_biggs_seams(params, n_pieces: int, piece: str = "tile") -> None:
    """Biggs takes one global step per piece: say so when an image is split."""
    params = as_params(params)
    if params.deconv_method == "biggs" and n_pieces > 1:
        _log.warning("Biggs acceleration takes a global step per %s: results can differ "
                     "from the untiled ones by about 1%% of the range at %s seams; use "
                     "deconv_method='rl' for seam-exact %ss", piece, piece, piece)


@dataclass(frozen=True)
class TilePlan:
    tile: int  # tile size (working pixels, Y and X) without overlap
    overlap: int
    chunk_t: int  # frames per chunk without overlap (3-D data)
    t_overlap: int
    budget: int


def plan_tiles(shape, params, psf_shape, *, memory_budget=None, tile=None,
               overlap=None, chunk_t=None, t_overlap=None) -> TilePlan:
    """Choose t-chunk and tile sizes so that everything fits ``memory_budget`` bytes.

    Part of the budget holds a t-chunk whole (background and up-sampling need whole
    frames), the rest one tile's working set. The split is the one (in steps of 5%
    of the budget) that solves the fewest pixels counting the overlaps solved twice
    (:func:`_split_budget`); half and half when sizes are given.
    """
    params = as_params(params)
    budget = int(memory_budget) if memory_budget else default_budget()
    up = params.upsample
    ov = overlap if overlap is not None else choose_overlap(params, psf_shape)
    nd = len(shape)
    nt = shape[0] if nd == 3 else 1
    if t_overlap is None:
        t_overlap = choose_t_overlap(params, psf_shape) if nd == 3 else 0
    ny, nx = shape[-2] * up, shape[-1] * up
    if overlap is None:  # more overlap than the image is one tile: no more is needed
        ov = min(ov, max(ny, nx))
    frame_bytes = CHUNK_BYTES_PER_PIXEL * ny * nx
    if chunk_t is None and tile is None:
        best = _split_budget(budget, nt, ny, nx, frame_bytes, ov, t_overlap)
        if best is not None:
            chunk_t, tile = best
    if chunk_t is None:
        fit = int((budget / 2) // frame_bytes) - 2 * t_overlap
        if fit < 1:
            raise MemoryError(
                f"a memory budget of {budget / 2**20:.0f} MiB cannot hold "
                f"{1 + 2 * t_overlap} frame(s) of {ny}x{nx} working pixels "
                f"(~{(1 + 2 * t_overlap) * frame_bytes / 2**20:.0f} MiB, half the budget); "
                f"raise --memory-budget")
        chunk_t = min(nt, fit)
    if tile is None:
        frames = min(chunk_t + 2 * t_overlap, nt)
        side = int(math.sqrt((budget / 2) / (BYTES_PER_PIXEL * frames))) - 2 * ov
        if side < 2 * ov:
            raise MemoryError(f"a memory budget of {budget / 2**20:.0f} MiB is too small for "
                              f"tiles with {ov} px overlap over {frames} frame(s); raise "
                              f"--memory-budget")
        tile = min(side, max(ny, nx))
    return TilePlan(tile=int(tile), overlap=int(ov), chunk_t=int(chunk_t),
                    t_overlap=int(t_overlap), budget=budget)


def _chunk_and_tile(budget, chunk_share, nt, ny, nx, frame_bytes, ov, t_overlap):
    """(chunk_t, tile) with ``chunk_share`` of the budget for the t-chunk; None if it
    does not fit."""
    room = int((budget * chunk_share) // frame_bytes)  # whole frames that fit
    chunk_t = nt if room >= nt else room - 2 * t_overlap  # all frames: no t-overlap
    if chunk_t < 1:
        return None
    frames = min(chunk_t + 2 * t_overlap, nt)
    side = int(math.sqrt((budget * (1 - chunk_share)) / (BYTES_PER_PIXEL * frames))) - 2 * ov
    if side < 2 * ov:
        return None
    return chunk_t, min(side, max(ny, nx))


def _split_budget(budget, nt, ny, nx, frame_bytes, ov, t_overlap):
    """(chunk_t, tile) of the budget split that solves the fewest pixels, or None.

    A fixed half-and-half split made the 50 x 2048 x 2048 batch (4 GiB) solve 1.62x
    its pixels (t-chunks of 20 frames + 2 x 5 overlap frames, 3 x 3 tiles of 847 px
    + 2 x 38); the best split (60 % for the chunk: 26 frames, 678 px tiles, 4 x 4)
    solves 1.45x. Ties keep the split nearest to half.
    """
    def solved(n, step, overlap):
        return sum(hi - lo for (lo, hi), _ in _spans(n, step, overlap))

    best, best_key = None, None
    for k in range(1, 20):
        share = k / 20
        ct_tile = _chunk_and_tile(budget, share, nt, ny, nx, frame_bytes, ov, t_overlap)
        if ct_tile is None:
            continue
        ct, tile = ct_tile
        work = solved(nt, ct, t_overlap) * solved(ny, tile, ov) * solved(nx, tile, ov)
        key = (work, abs(share - 0.5))
        if best_key is None or key < best_key:
            best, best_key = ct_tile, key
    return best


def plan_blocks(work_shape, params, psf_shape, *, task_budget: int,
                tile=None, chunk_t=None, min_tasks: int = 1) -> TilePlan:
    """Blocks of a *prepared* (N, Y, X) stack for independent tasks (a cluster).

    Unlike :func:`plan_tiles`, no t-chunk is held whole: a task reads its block
    (t-chunk and Y/X tile, each with its overlap) from a store of prepared
    frames, so the whole ``task_budget`` goes to the block's working set. The
    t-chunk is as long as possible (every frame when it fits with tiles of at
    least four overlaps), since t-overlap frames are solved twice; tiles are
    then made equal in size, and split further until there are ``min_tasks``.
    """
    params = as_params(params)
    nt, ny, nx = (int(v) for v in work_shape)
    ov = choose_overlap(params, psf_shape)
    t_ov = choose_t_overlap(params, psf_shape)
    min_side = max(4 * ov, 64)

    def side_for(frames):
        return int(math.sqrt(task_budget / (BYTES_PER_PIXEL * frames))) - 2 * ov

    if chunk_t is None:
        chunk_t = nt
        if side_for(nt) < min(min_side, max(ny, nx)):
            frames = int(task_budget // (BYTES_PER_PIXEL * (min_side + 2 * ov) ** 2))
            chunk_t = min(nt, frames - 2 * t_ov)
            if chunk_t < 1:
                raise MemoryError(
                    f"a memory budget of {task_budget / 2**20:.0f} MiB per task cannot hold "
                    f"{1 + 2 * t_ov} frame(s) of {min_side}+2x{ov} px tiles; raise "
                    f"--memory-budget or use fewer workers")
    frames = min(nt, chunk_t + (2 * t_ov if chunk_t < nt else 0))
    if tile is None:
        side = max(min(side_for(frames), max(ny, nx)), 1)
        if side < min(min_side, max(ny, nx)) // 2:
            raise MemoryError(f"a memory budget of {task_budget / 2**20:.0f} MiB per task is "
                              f"too small for tiles with {ov} px overlap; raise "
                              f"--memory-budget or use fewer workers")
        n_y, n_x = -(-ny // side), -(-nx // side)
        n_t = -(-nt // chunk_t)
        while n_t * n_y * n_x < min_tasks and max(ny / n_y, nx / n_x) > min_side:
            if ny / n_y >= nx / n_x:
                n_y += 1
            else:
                n_x += 1
        tile = max(-(-ny // n_y), -(-nx // n_x))  # equal tiles: balanced tasks
    return TilePlan(tile=int(tile), overlap=int(ov), chunk_t=int(chunk_t),
                    t_overlap=int(t_ov) if chunk_t < nt else 0, budget=int(task_budget))


def iter_blocks(work_shape, plan: TilePlan):
    """Yield (t, y, x) blocks of a plan: ((lo, hi), (a, b)) per axis, as :func:`_spans`."""
    nt, ny, nx = work_shape
    for ts in _spans(nt, plan.chunk_t, plan.t_overlap):
        for ys in _solve_spans(ny, plan.tile, plan.overlap):
            for xs in _solve_spans(nx, plan.tile, plan.overlap):
                yield ts, ys, xs


def solve_block(block, scale, params, work_psf, spans, shape, plan: TilePlan, *,
                backend="numpy", device=None):
    """Solve one prepared block and weight it by its blending ramps.

    ``spans``: ((tlo, thi), (ta, tb)), ((ylo, yhi), (ya, yb)), ((xlo, xhi), (xa, xb));
    ``shape``: the whole prepared stack's (N, Y, X). Returns the frames [ta, tb)
    over the block's whole Y/X span, weighted so that the blocks of a plan sum
    to the blended result (the ramps of neighbouring tiles add up to one).
    """
    params = as_params(params)
    (tlo, _), (ta, tb) = spans[0]
    res = run(_iter_solve_weighted(block, scale, params, work_psf, shape[-2:], spans[1],
                                   spans[2], plan, backend=backend, device=device))
    return res[ta - tlo: tb - tlo]


def _iter_solve_weighted(block, scale, params, work_psf, yx_shape, y_span, x_span,
                         plan: TilePlan, *, backend, device):
    """Solve one tile (all-zero tiles are zero) and weight it by its blending ramps,
    normalised so that the tiles of a plan sum to the blended result."""
    if block.max() > 0:
        res = yield from iter_solve(block, scale, params, work_psf, backend=backend,
                                    device=device)
    else:
        res = np.zeros_like(block)
    (ylo, yhi), (ya, yb) = y_span
    (xlo, xhi), (xa, xb) = x_span
    ov, t = plan.overlap, plan.tile
    ny, nx = yx_shape
    wy = _ramp(ny, ylo, yhi, ya, yb, ov) / _ramp_sum(ny, t, ov)[ylo:yhi]
    wx = _ramp(nx, xlo, xhi, xa, xb, ov) / _ramp_sum(nx, t, ov)[xlo:xhi]
    res *= np.outer(wy, wx).astype(FLOAT)
    return res


def _read(image, sl):
    block = to_numpy(image[sl])
    check_block(block)
    return block


def global_scale(image, params, plan: TilePlan) -> float:
    """Maximum of the prepared (background-subtracted, up-sampled) data, chunk by chunk."""
    params = as_params(params)
    nd = image.ndim
    nt = image.shape[0] if nd == 3 else 1
    m = 0.0
    for a in range(0, nt, max(plan.chunk_t, 1)):
        sl = (slice(a, min(a + plan.chunk_t, nt)),) if nd == 3 else ()
        block = _read(image, sl + (slice(None), slice(None)))
        m = max(m, float(prepare(block, params).max()))
    return m


def iter_tiled(image, params, *, psf=None, out=None, memory_budget=None,
               tile=None, overlap=None, chunk_t=None, t_overlap=None, backend="numpy",
               device=None) -> Iterator[Progress]:
    """Process ``image`` tile by tile; yields Progress(Stage.TILES, i, n); returns ``out``.

    ``image``: (Y, X) or (T, Y, X) NumPy/dask/zarr array (continuity along the
    first axis). ``out``: array-like of the output shape to write into (a zarr
    array writes chunk by chunk); default a NumPy array.
    """
    params = as_params(params)
    nd = image.ndim
    if nd not in (2, 3):
        raise ValueError(f"tiled processing takes 2-D or 3-D data, got shape {image.shape}")
    if nd == 3 and params.axis not in (0, -3):
        # continuity along another axis: tile the stack with that axis first
        # (the result is assembled in memory, then written out a plane at a time)
        moved_in = np.moveaxis(image, params.axis, 0)
        res = yield from iter_tiled(
            moved_in, params.replace(axis=0), psf=psf, memory_budget=memory_budget,
            tile=tile, overlap=overlap, chunk_t=chunk_t, t_overlap=t_overlap,
            backend=backend, device=device)
        res = np.moveaxis(res, 0, params.axis)
        if out is None:
            return np.ascontiguousarray(res)
        for k in range(res.shape[0]):
            out[k] = np.ascontiguousarray(res[k])
        return out
    up = params.upsample
    work_psf = deconv_psf(params, psf, image.shape, nd)
    plan = plan_tiles(image.shape, params, None if work_psf is None else work_psf.shape,
                      memory_budget=memory_budget, tile=tile, overlap=overlap,
                      chunk_t=chunk_t, t_overlap=t_overlap)
    out_shape = image.shape[:-2] + (image.shape[-2] * up, image.shape[-1] * up)
    if out is None:
        out = np.zeros(out_shape, dtype=FLOAT)
    nt = image.shape[0] if nd == 3 else 1
    t_spans = _spans(nt, plan.chunk_t, plan.t_overlap) if nd == 3 else [((0, 1), (0, 1))]
    whole = None
    if len(t_spans) == 1:  # one chunk: prepare it once (background, up-sampling), not
        # once for the scale and again to solve it
        whole = prepare(_read(image, (slice(None), slice(None), slice(None))[:nd]), params)
        scale = float(whole.max())
    else:
        scale = global_scale(image, params, plan)
    check_scale(scale, params)
    ny, nx = out_shape[-2:]
    y_spans = _spans(ny, plan.tile, plan.overlap)
    x_spans = _spans(nx, plan.tile, plan.overlap)
    total = len(t_spans) * len(y_spans) * len(x_spans)
    warn_biggs_seams(params, len(y_spans) * len(x_spans))
    gmax = 0.0
    done = 0
    for (tlo, thi), (ta, tb) in t_spans:
        tsl = (slice(tlo, thi),) if nd == 3 else ()
        # background and up-sampling need whole frames: prepare the chunk once
        if whole is not None:
            work, whole = whole, None
        else:
            work = prepare(_read(image, tsl + (slice(None), slice(None))), params)
        gen = iter_solve_tiles(work, scale, params, work_psf, plan, backend=backend,
                               device=device, pass_progress=total == 1)
        del work  # the generator holds the chunk until it has been solved

        def count_tiles(pr):
            nonlocal done
            if pr.stage != Stage.TILES:
                return pr
            done += 1
            return Progress(Stage.TILES, done, total)

        result = yield from relay(gen, count_tiles)
        keep = result[ta - tlo: tb - tlo] if nd == 3 else result
        gmax = max(gmax, float(keep.max()))
        if nd == 3:
            out[ta:tb] = keep
        else:
            out[...] = keep
    if not params.quantitative:
        scale_to_max_one(out, plan.chunk_t, gmax)
    return out


def scale_to_max_one(out, chunk: int, gmax: float | None = None) -> None:
    """The reference's max-1 scaling, applied globally and a t-chunk at a time.

    ``gmax``: the output's maximum when the caller tracked it; else read back.
    """
    nd, nt, chunk = len(out.shape), out.shape[0], max(int(chunk), 1)
    spans = ([(slice(a, min(a + chunk, nt)),) for a in range(0, nt, chunk)] if nd == 3
             else [(slice(None),)])
    if gmax is None:
        gmax = max(float(np.max(out[sl])) for sl in spans)
    if gmax > 0:
        for sl in spans:
            out[sl] = np.asarray(out[sl]) / FLOAT(gmax)


def iter_solve_tiles(work, scale, params, work_psf, plan, *, backend="numpy", device=None,
                     pass_progress=False):
    """Solve a prepared (N, Y, X) or (Y, X) chunk tile by tile and blend the tiles.

    Yields Progress(Stage.TILES, i, n) per tile (and the iteration progress when
    ``pass_progress``); returns the blended float32 result.
    """
    ny, nx = work.shape[-2:]
    y_spans = _solve_spans(ny, plan.tile, plan.overlap)
    x_spans = _solve_spans(nx, plan.tile, plan.overlap)
    n = len(y_spans) * len(x_spans)
    acc = np.zeros(work.shape, dtype=FLOAT)
    i = 0
    for ys in y_spans:
        (ylo, yhi), _ = ys
        for xs in x_spans:
            (xlo, xhi), _ = xs
            block = np.ascontiguousarray(work[..., ylo:yhi, xlo:xhi])
            gen = _iter_solve_weighted(block, scale, params, work_psf, (ny, nx), ys, xs, plan,
                                       backend=backend, device=device)
            acc[..., ylo:yhi, xlo:xhi] += (yield from gen) if pass_progress else run(gen)
            del block
            i += 1
            yield Progress(Stage.TILES, i, n)
    return acc


def tiled_deconvolve(image, params=None, **kwargs):
    """Plain-function form of :func:`iter_tiled`."""
    return run(iter_tiled(image, params or SparseParams(), **kwargs))


def estimate(shape, params, psf_shape=None, *, memory_budget=None,
             seconds_per_megapixel_iteration=None):
    """(peak bytes, seconds) estimates for a dry run."""
    params = as_params(params)
    plan = plan_tiles(shape, params, psf_shape, memory_budget=memory_budget)
    up = params.upsample
    nt = shape[0] if len(shape) == 3 else 1
    frames = min(plan.chunk_t + 2 * plan.t_overlap, nt)
    tile_px = (plan.tile + 2 * plan.overlap) ** 2
    peak = (BYTES_PER_PIXEL * frames * tile_px
            + CHUNK_BYTES_PER_PIXEL * frames * shape[-2] * shape[-1] * up * up)
    mpx = nt * shape[-2] * shape[-1] * up * up / 1e6
    overhead = ((plan.tile + 2 * plan.overlap) / max(plan.tile, 1)) ** 2
    s = seconds_per_megapixel_iteration or _calibrate()
    its = params.iterations + 2 * params.deconv_iterations
    return peak, mpx * overhead * its * s, plan


_CAL = {}


def _calibrate() -> float:
    """Seconds per megapixel per iteration on this machine (measured once, 256x256)."""
    if "s" not in _CAL:
        import time

        from ..backends import get_backend

        f = np.random.default_rng(0).random((256, 256)).astype(FLOAT)
        plan = get_backend("numpy").sparse_hessian_plan(f.shape, fidelity=150, sparsity=10,
                                                        continuity=0.5)
        with plan:
            plan.set_data(f)
            plan.step()
            t0 = time.perf_counter()
            for _ in range(10):
                plan.step()
            _CAL["s"] = (time.perf_counter() - t0) / 10 / (f.size / 1e6)
    return _CAL["s"]
