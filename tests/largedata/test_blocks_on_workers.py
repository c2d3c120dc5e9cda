"""One file's Y/X blocks of any method on dask workers (``run --workers``): the same
result as the serial blocked run, the blocks ran as tasks."""

import numpy as np
import pytest

from napari_sparsedecon.algorithms.registry import get_method
from napari_sparsedecon.core.sparse_hessian import run
from napari_sparsedecon.largedata.blocks import iter_method_tiled
from napari_sparsedecon.psf.basic import gaussian_psf


def _image():
    rng = np.random.default_rng(4)
    truth = np.zeros((96, 112), np.float32)
    truth[20:24, 10:100] = 40
    truth[40:80, 60:62] = 60
    truth[rng.integers(0, 96, 30), rng.integers(0, 112, 30)] = 200
    from scipy.ndimage import gaussian_filter

    return rng.poisson(gaussian_filter(truth, 1.5) + 5).astype(np.float32)


@pytest.mark.parametrize("method", ["rl_tv", "rl"])
def test_blocks_of_one_image_run_on_dask_workers_and_match_the_serial_run(method):
    distributed = pytest.importorskip("distributed")
    img, psf = _image(), gaussian_psf(None, 2.5)
    m = get_method(method)
    params = m.validate({"iterations": 5, **({"stop": "none"} if method == "rl" else {})})
    serial_info, info = {}, {}
    ref = run(iter_method_tiled(img, m, params, psf=psf, tile=40, info=serial_info))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, \
            distributed.get_task_stream(client) as ts:
        seen = []
        gen = iter_method_tiled(img, m, params, psf=psf, tile=40, info=info, client=client)
        try:
            while True:
                seen.append(next(gen))
        except StopIteration as stop:
            out = stop.value
    assert serial_info["blocks"] == info["blocks"] == 9  # 3 x 3 blocks of 40 px
    tasks = [t for t in ts.data if "_solve_block" in t["key"]]
    assert len(tasks) == 9 and 1 <= info["block_workers"] <= 2
    assert [p.iteration for p in seen] == list(range(1, 10))
    # blended in another order: equal to float32 rounding
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * float(ref.max()))
