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
