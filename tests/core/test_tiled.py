"""Tiled and chunked processing equals the untiled result away from the image border."""

import logging

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.core.params import SparseParams
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.core.tiled import plan_tiles, tiled_deconvolve

MARGIN = 16


def _rel(a, b):
    d = np.abs(a - b) / (float(b.max()) - float(b.min()))
    return float(d[..., MARGIN:-MARGIN, MARGIN:-MARGIN].max())


@pytest.mark.slow
@pytest.mark.parametrize("background", ["none", "low/2"])
def test_2d_tiles_match_untiled(background):
    ph = make_phantom((224, 240), seed=1)
    p = SparseParams(psf_fwhm_px=3.44, background=background)
    ref = nsd.sparse_deconvolve(ph.noisy, **p.to_dict())
    out = tiled_deconvolve(ph.noisy, p, tile=72)  # 4 x 4 tiles, automatic overlap
    assert _rel(out, ref) < 1e-3


@pytest.mark.slow
def test_timelapse_chunks_match_untiled():
    stack = np.stack([make_phantom((160, 160), seed=s).noisy for s in range(10)])
    p = SparseParams(psf_fwhm_px=3.44, continuity=1.0, iterations=60, deconv_iterations=10)
    ref = nsd.sparse_deconvolve(stack, **p.to_dict())
    out = tiled_deconvolve(stack, p, tile=80, chunk_t=3)
    assert _rel(out, ref) < 1e-3


@pytest.mark.slow
def test_upsampled_and_max_one_modes_tile():
    ph = make_phantom((160, 160), seed=2)
    p = SparseParams(psf_fwhm_px=3.44, upsample=2, upsample_method="spatial",
                     quantitative=False, iterations=40, deconv_iterations=10)
    ref = nsd.sparse_deconvolve(ph.noisy, **p.to_dict())
    out = tiled_deconvolve(ph.noisy, p, tile=128)
    assert out.shape == (320, 320)
    assert abs(float(out.max()) - 1) < 1e-6
    assert _rel(out, ref) < 1e-3


@pytest.mark.slow
def test_dask_input_and_memory_budget_make_tiles():
    da = pytest.importorskip("dask.array")
    ph = make_phantom((192, 192), seed=3)
    p = SparseParams(psf_fwhm_px=3.44, iterations=40, deconv_iterations=5)
    plan = plan_tiles((192, 192), p, (21, 21), memory_budget=2 * 80 * 150**2)
    assert plan.tile < 192  # the budget forces several tiles
    lazy = da.from_array(ph.noisy, chunks=(64, 64))
    out = tiled_deconvolve(lazy, p, memory_budget=2 * 80 * 150**2)
    ref = nsd.sparse_deconvolve(ph.noisy, **p.to_dict())
    assert _rel(out, ref) < 1e-3


def test_biggs_on_tiles_warns(caplog):
    ph = make_phantom((160, 160), seed=0)
    p = SparseParams(psf_fwhm_px=3.44, deconv_method="biggs", iterations=5,
                     deconv_iterations=3)
    with caplog.at_level(logging.WARNING, logger="napari_sparsedecon"):
        tiled_deconvolve(ph.noisy, p, tile=64)
    assert any("Biggs" in r.message for r in caplog.records)


def test_too_small_budget_is_a_clear_error():
    with pytest.raises(MemoryError, match="memory budget"):
        plan_tiles((2048, 2048), SparseParams(psf_fwhm_px=3.0), (21, 21),
                   memory_budget=10_000)


@pytest.mark.slow
def test_tiles_are_solved_on_fast_lengths_with_unchanged_blending(monkeypatch):
    """Issue 14 (batch throughput): tile spans are grown, inside the image, to fast
    DCT/FFT lengths (a prime-length DCT ran 4-5x slower per pixel). The growth is extra
    context only: the blending weights still sum to one, and the result matches the
    untiled one as before."""
    from scipy import fft as sfft

    from napari_sparsedecon.core import tiled as tiling

    seen = []
    real = tiling.iter_solve

    def spy(block, *a, **kw):
        seen.append(block.shape)
        return (yield from real(block, *a, **kw))

    monkeypatch.setattr(tiling, "iter_solve", spy)
    ph = make_phantom((203, 190), seed=4)
    p = SparseParams(psf_fwhm_px=3.44, iterations=20, deconv_iterations=5)
    out = tiled_deconvolve(ph.noisy, p, tile=61, overlap=16)
    assert len(seen) > 4
    for shape in seen:
        for n, full in zip(shape, (203, 190), strict=True):
            assert n == full or sfft.next_fast_len(n, real=True) == n, shape
    ref = nsd.sparse_deconvolve(ph.noisy, **p.to_dict())
    assert _rel(out, ref) < 1e-3
    for n, step, ov in ((2048, 839, 38), (203, 61, 16), (190, 61, 16)):
        total = np.zeros(n)
        for (lo, hi), (a, b) in tiling._solve_spans(n, step, ov):
            assert lo <= max(a - ov, 0) and hi >= min(b + ov, n)  # only ever grown
            total[lo:hi] += tiling._ramp(n, lo, hi, a, b, ov) / tiling._ramp_sum(n, step, ov)[lo:hi]
        assert np.allclose(total, 1.0)


def _solved_fraction(shape, plan):
    from napari_sparsedecon.core.tiled import _spans

    nt = shape[0] if len(shape) == 3 else 1
    f = sum(hi - lo for (lo, hi), _ in _spans(nt, plan.chunk_t, plan.t_overlap)) / nt
    for n in shape[-2:]:
        f *= sum(hi - lo for (lo, hi), _ in _spans(n, plan.tile, plan.overlap)) / n
    return f


def test_budget_split_solves_fewer_overlap_pixels_within_the_budget():
    """Issue 14 (batch throughput): the chunk/tile split of the budget is chosen to solve
    the fewest pixels. The 50 x 2048 x 2048 batch at 4 GiB solved 1.62x its pixels with
    the fixed half-and-half split (20-frame chunks + 2 x 5 overlap frames); now <= 1.4x.
    A short stack that fits whole is no longer refused for want of t-overlap frames."""
    from napari_sparsedecon.core.tiled import BYTES_PER_PIXEL, CHUNK_BYTES_PER_PIXEL

    p = SparseParams(psf_fwhm_px=3.0)
    shape, budget = (50, 2048, 2048), 4 * 2**30
    plan = plan_tiles(shape, p, (13, 13), memory_budget=budget)
    assert _solved_fraction(shape, plan) <= 1.4
    frames = min(plan.chunk_t + 2 * plan.t_overlap, 50)
    assert (CHUNK_BYTES_PER_PIXEL * frames * 2048**2
            + BYTES_PER_PIXEL * frames * (plan.tile + 2 * plan.overlap) ** 2) <= budget
    small = plan_tiles((4, 1024, 1024), p, (13, 13), memory_budget=2**28)
    assert small.chunk_t == 4  # all four frames, no frame solved twice
    assert (CHUNK_BYTES_PER_PIXEL * 4 * 1024**2
            + BYTES_PER_PIXEL * 4 * (small.tile + 2 * small.overlap) ** 2) <= 2**28
    # explicit sizes keep their meaning
    assert plan_tiles(shape, p, (13, 13), memory_budget=budget, tile=500).tile == 500


def test_a_single_chunk_is_prepared_once(monkeypatch):
    """Background estimation (~2 s per 2048x2048 frame) ran twice per frame of a stack
    held in one chunk: once for the global scale, once to solve it. Now once, with the
    same result."""
    from napari_sparsedecon.core import tiled as tiling

    ph = make_phantom((160, 160), seed=5)
    p = SparseParams(psf_fwhm_px=3.0, iterations=5, deconv_iterations=2,
                     background="low/2")
    calls = []
    real = tiling.prepare

    def spy(img, params):
        calls.append(img.shape)
        return real(img, params)

    monkeypatch.setattr(tiling, "prepare", spy)
    out = tiled_deconvolve(ph.noisy + 20, p)
    assert calls == [(160, 160)]
    stack = np.stack([ph.noisy + 20] * 3)
    calls.clear()
    tiled_deconvolve(stack, p)
    assert calls == [(3, 160, 160)]
    ref = nsd.sparse_deconvolve(ph.noisy + 20, **p.to_dict())
    assert np.allclose(out, ref, rtol=0, atol=1e-5 * float(ref.max()))


def test_a_tiny_fidelity_gives_a_finite_overlap_and_runs_as_one_tile(tmp_path):
    """Found by the parameter-file property test: fidelity 1e-323 made the overlap
    infinite (OverflowError in the batch; such values are refused by the schema now);
    the smallest fidelity couples the whole image: one tile."""
    from napari_sparsedecon.core.params import SparseParams
    from napari_sparsedecon.core.tiled import choose_overlap, tiled_deconvolve

    p = SparseParams(fidelity=1e-6, iterations=1, deconv_iterations=0)
    ov = choose_overlap(p, (9, 9))
    assert 0 < ov < 2**21
    img = np.random.default_rng(0).poisson(20, (40, 40)).astype(np.float32)
    out = tiled_deconvolve(img, p)
    assert out.shape == img.shape and np.isfinite(out).all()
