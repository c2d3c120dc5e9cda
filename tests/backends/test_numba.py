"""The numba backend: the NumPy reference's sparse step with fused, threaded passes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_sparsedecon.backends import get_backend

pytest.importorskip("numba")


@pytest.mark.parametrize("shape, continuity, sparsity", [
    ((64, 48), 0.5, 10.0),   # 2-D: yy, xx, yx, identity
    ((33, 40), 0.0, 0.0),    # 2-D without the identity term
    ((7, 30, 26), 0.5, 10.0),  # 3-D: all seven terms
    ((5, 30, 26), 0.0, 10.0),  # 3-D without continuity terms
    ((6, 20, 22), 1.3, 0.0),   # 3-D, continuity only
])
def test_numba_plan_equals_the_numpy_reference(shape, continuity, sparsity):
    f = np.random.default_rng(0).random(shape).astype(np.float32)
    out = []
    for be in ("numpy", "numba"):
        with get_backend(be).sparse_hessian_plan(shape, fidelity=150.0, sparsity=sparsity,
                                                 continuity=continuity) as plan:
            plan.set_data(f)
            for _ in range(25):
                plan.step()
            out.append(np.array(plan.result()))
    err = np.abs(out[0] - out[1]).max() / np.abs(out[0]).max()
    assert err < 1e-5, err  # float32 rounding in another order (measured <= 7e-7)


def test_numba_thread_counts_agree(monkeypatch):
    from napari_sparsedecon.ops.threads import using_threads

    f = np.random.default_rng(1).random((6, 40, 36)).astype(np.float32)
    out = []
    for n in (1, 2):
        with using_threads(n), get_backend("numba").sparse_hessian_plan(
                f.shape, fidelity=150.0, sparsity=10.0, continuity=0.5) as plan:
            plan.set_data(f)
            for _ in range(5):
                plan.step()
            out.append(np.array(plan.result()))
    np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-6 * np.abs(out[0]).max())


REG_CASES = [  # (shape, PSF ndim, plan settings): every prior term on and off
    ((40, 48), 2, {"prior": "tv"}),
    ((40, 48), 2, {"prior": "hessian", "sparsity": 0.02}),
    ((6, 30, 34), 3, {"prior": "hessian", "sparsity": 0.02, "continuity": 1.0,
                      "aspect": 2.0}),
    ((6, 30, 34), 3, {"prior": "tv", "continuity": 0.7, "aspect": 2.0}),
    ((6, 30, 34), 2, {"prior": "tv"}),  # z off: a TV axis with weight 0
    ((6, 30, 34), 2, {"prior": "hessian", "continuity": 0.5, "data_term": "lsq"}),
    ((3, 5, 20, 22), 3, {"prior": "hessian", "sparsity": 0.01, "continuity": 1.0,
                         "t_continuity": 0.5, "aspect": 2.0}),
    ((3, 5, 20, 22), 3, {"prior": "tv", "continuity": 1.0, "t_continuity": 0.5}),
    ((40, 48), 2, {"prior": "none"}),
]


@pytest.mark.parametrize("shape, psf_nd, kw", REG_CASES)
def test_numba_regularised_plan_equals_the_reference(shape, psf_nd, kw):
    from napari_sparsedecon.psf.basic import gaussian_psf

    rng = np.random.default_rng(0)
    psf = gaussian_psf(ndim=psf_nd, fwhm_px=2.5)
    y = rng.poisson(30 * rng.random(shape) + 5).astype(np.float32)
    bg = np.full(shape, 4.0, np.float32) if len(shape) == 3 else 4.0
    kw = {"weight": 1e-3 if kw["prior"] != "none" else 0.0, "eps": 0.25, **kw}
    out = []
    for be in ("numpy", "numba"):
        with get_backend(be).regularised_plan(shape, psf, **kw) as plan:
            plan.set_data(y, bg)
            for _ in range(5):
                plan.step()
            out.append((plan.result(), plan.chi2))
    ref = out[0][0]
    assert np.isfinite(out[1][0]).all()
    err = np.abs(out[1][0] - ref).max() / (ref.max() - ref.min())
    assert err < 1e-4, err  # measured <= 3e-6 at 5 iterations
    assert out[1][1] == pytest.approx(out[0][1], rel=1e-5)


@pytest.mark.parametrize("shape", [(1, 7, 30, 34), (3, 5, 20, 22), (1, 3, 9, 5)])
def test_numba_plane_kernel_equals_the_row_kernel(shape):
    """The plane-by-plane Hessian kernel (volumes) against the row kernel, every term on,
    any chunking of the planes."""
    from napari_sparsedecon.backends.numba_backend import _reg_kernels

    k = _reg_kernels()
    rng = np.random.default_rng(1)
    n = int(np.prod(shape))
    v, a, x = ((rng.random(n) + 0.5).astype(np.float32) for _ in range(3))
    s2 = np.array([0.5, 1.3, 1.0, 1.0], np.float32)
    mx = np.zeros((4, 4), np.float32)
    mx[np.triu_indices(4, 1)] = [0.4, 0.7, 0.7, 1.1, 1.1, 2.0]
    if shape[0] == 1:
        s2[0] = 0
        mx[0] = 0
    dims = np.array(shape, np.int64)
    xprev = rng.random(n).astype(np.float32)
    o1 = xprev.copy()  # holds x_prev, then the new estimate
    d1 = k.update_hessian_rows(v, a, a, x, o1, dims, s2, mx, 0.2, True, 0.05, 0.01, 1e-3)
    for chunks in (1, 2, 3):
        o2 = xprev.copy()
        d2 = k.update_hessian_planes(v, a, a, x, o2, dims, s2, mx, 0.2, True, 0.05, 0.01,
                                     1e-3, chunks)
        np.testing.assert_allclose(o2, o1, rtol=2e-6, atol=0)
        assert d2 == pytest.approx(d1, rel=1e-5)
