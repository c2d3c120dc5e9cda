"""The sparse-Hessian step against a dense-matrix split Bregman and analytic cases."""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.backends.numpy_backend import NumpySparseHessian, hessian_terms


def _d1(n):
    m = np.zeros((n - 1, n))
    m[np.arange(n - 1), np.arange(n - 1)] = -1
    m[np.arange(n - 1), np.arange(1, n)] = 1
    return m


def _dense_ops(shape, c, s):
    """Each L1 term as an explicit matrix, built independently of the solver."""
    eye = [np.eye(n) for n in shape]
    ops = []
    for kind, axes, w in hessian_terms(len(shape), c, s):
        mats = list(eye)
        if kind == "second":
            d = _d1(shape[axes[0]])
            mats[axes[0]] = -d.T @ d  # [1, -2, 1] with mirror ends
        elif kind == "mixed":
            for a in axes:
                mats[a] = _d1(shape[a])
        op = mats[0]
        for m in mats[1:]:
            op = np.kron(op, m)
        ops.append((op, w))
    return ops


def _dense_split_bregman(f, lam, s, c, iters):
    ops = _dense_ops(f.shape, c, s)
    a = lam * np.eye(f.size) + sum(w * k.T @ k for k, w in ops)
    bs = [np.zeros(k.shape[0]) for k, _ in ops]
    rhs = lam * f.ravel()
    for _ in range(iters):
        g = np.linalg.solve(a, rhs)
        rhs = lam * f.ravel()
        for i, (k, w) in enumerate(ops):
            v = k @ g + bs[i]
            d = np.sign(v) * np.maximum(np.abs(v) - 1, 0)
            bs[i] = v - d
            rhs = rhs + w * k.T @ (d - bs[i])
    return g.reshape(f.shape)


@pytest.mark.parametrize(("shape", "c"), [((6, 7), 0.0), ((4, 5, 6), 0.7), ((3, 6, 5), 1.0)])
def test_matches_dense_split_bregman(shape, c, rng):
    f = rng.random(shape)
    ref = _dense_split_bregman(f, 20.0, 2.0, c, 25)
    out = nsd.sparse_hessian(f.astype(np.float32), fidelity=20.0, sparsity=2.0,
                             continuity=c, iterations=25)
    np.testing.assert_allclose(out, ref, atol=2e-5 * np.abs(ref).max())


@pytest.mark.parametrize("shape", [(24, 30), (4, 24, 30)])
def test_flat_region_is_soft_thresholded_not_rescaled(shape):
    """Documented choice: sparsity in both D and rhs -> g = f - sparsity/fidelity."""
    f = np.full(shape, 0.5, np.float32)
    g = nsd.sparse_hessian(f, fidelity=150, sparsity=10, iterations=150)
    np.testing.assert_allclose(g, 0.5 - 10 / 150, rtol=1e-4)


def test_tiny_regularisation_returns_input(rng):
    f = rng.random((32, 40)).astype(np.float32)
    g = nsd.sparse_hessian(f, fidelity=1e6, sparsity=0.0, iterations=20)
    np.testing.assert_allclose(g, f, atol=2e-4)


def test_large_sparsity_drives_output_to_zero(rng):
    f = rng.random((32, 32)).astype(np.float32)
    g = nsd.sparse_hessian(f, fidelity=10, sparsity=50, iterations=100)
    assert np.abs(g).max() < 1e-3


def test_hessian_prior_denoises(rng):
    yy, xx = np.mgrid[:64, :64]
    clean = np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / 200.0).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    g = nsd.sparse_hessian(np.clip(noisy, 0, None), fidelity=20, sparsity=0.5, iterations=100)
    assert np.abs(g - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_2d_input_is_solved_in_2d_without_copies():
    plan = NumpySparseHessian((40, 50), fidelity=150, sparsity=10, continuity=0.5)
    assert plan.ndim == 2 and plan.shape == (40, 50)
    # yy, xx, 2*xy on the image's own axes and the L1 identity: no t/z terms (continuity
    # is ignored in 2-D), no third axis
    assert plan.terms == [("second", (0,), 1.0), ("second", (1,), 1.0),
                          ("mixed", (0, 1), 2.0), ("identity", (), 10.0)]
    assert all(b.size == 40 * 50 for b in plan._bufs)


def test_no_wraparound_between_opposite_edges():
    f = np.zeros((64, 64), np.float32)
    f[:, :3] = 1.0  # bright left edge
    g = nsd.sparse_hessian(f, fidelity=5, sparsity=0.1, iterations=50)
    assert np.abs(g[:, -8:]).max() < 1e-6


def test_axis_argument_equals_transposed_input(rng):
    f = rng.random((5, 20, 24)).astype(np.float32)
    a = nsd.sparse_hessian(f, iterations=10, continuity=1.0)
    b = nsd.sparse_hessian(np.moveaxis(f, 0, 2), iterations=10, continuity=1.0, axis=2)
    np.testing.assert_allclose(np.moveaxis(b, 2, 0), a, atol=1e-6)


def test_continuity_couples_frames(rng):
    base = rng.random((20, 20)).astype(np.float32)
    f = np.stack([base, base, 0.2 * base, base, base])
    g0 = nsd.sparse_hessian(f, continuity=0.0, sparsity=0.0, fidelity=10, iterations=50)
    g1 = nsd.sparse_hessian(f, continuity=5.0, sparsity=0.0, fidelity=10, iterations=50)
    # the outlier frame is pulled towards its neighbours only with continuity
    assert np.abs(g1[2] - base).mean() < np.abs(g0[2] - base).mean() - 0.05


def test_generator_yields_progress_and_can_stop():
    f = np.ones((16, 16), np.float32)
    gen = nsd.iter_sparse_hessian(f, iterations=50, return_estimate=True)
    first = next(gen)
    assert first.stage == "sparse" and first.iteration == 1 and first.total == 50
    assert first.estimate.shape == (16, 16)


def test_closing_the_generator_cancels_the_run(rng, monkeypatch):
    """Cancelling between iterations is closing the generator: no iteration
    runs after close(), the generator is finished, the input is unchanged."""
    steps = []
    step = NumpySparseHessian.step
    monkeypatch.setattr(NumpySparseHessian, "step", lambda self: (steps.append(1), step(self)))
    f = rng.random((16, 16)).astype(np.float32)
    before = f.copy()
    gen = nsd.iter_sparse_hessian(f, iterations=50)
    next(gen), next(gen)
    gen.close()
    assert len(steps) == 2
    with pytest.raises(StopIteration):
        next(gen)
    assert len(steps) == 2
    np.testing.assert_array_equal(f, before)


def test_yielded_estimates_are_independent_copies(rng):
    f = rng.random((24, 24)).astype(np.float32)
    ests = [p.estimate for p in nsd.iter_sparse_hessian(f, iterations=4, fidelity=5,
                                                        return_estimate=True)]
    assert not np.shares_memory(ests[0], ests[1])
    assert np.abs(ests[0] - ests[3]).max() > 0


def test_sparse_step_peak_memory_is_at_most_10x_the_input():
    """Issue 14 target: the sparse step's peak (tracemalloc: NumPy's allocations) <= 10x
    the float32 input (3-D with continuity and sparsity: seven term buffers, a spare and
    g). It was 11.7x here: the input was copied, and the result copied once more while
    the plan's buffers were alive. Not timed: a count of bytes."""
    import tracemalloc

    f = np.random.default_rng(0).random((8, 256, 256)).astype(np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        g = nsd.sparse_hessian(f, iterations=2, continuity=0.5, sparsity=10.0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert g.shape == f.shape and g.dtype == np.float32
    assert peak / f.nbytes <= 10.0, f"peak {peak / f.nbytes:.2f}x the input"


def test_sparse_step_does_not_modify_or_alias_a_float32_input():
    """The input is no longer copied (memory): the step must still leave it untouched and
    return a separate array."""
    f = np.random.default_rng(1).random((4, 32, 32)).astype(np.float32)
    before = f.copy()
    g = nsd.sparse_hessian(f, iterations=3)
    assert np.array_equal(f, before)
    assert not np.shares_memory(f, g)
    f2 = f - 0.5
    g2 = nsd.sparse_hessian(f2, iterations=2)  # negative values: read, not changed
    assert np.array_equal(f2, before - 0.5) and not np.shares_memory(f2, g2)
