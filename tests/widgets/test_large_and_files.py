"""Whole-layer runs over the memory budget (tiled into an OME-Zarr store, shown lazily) and
the "Process files" section (the batch engine on a folder), from the sparse dock."""

import os

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon.core.params import SparseParams  # noqa: E402
from napari_sparsedecon.largedata.paths import IN_MEMORY, TILED, choose_path  # noqa: E402

pytestmark = pytest.mark.gui
BUDGET_MIB = 2  # a 256x256 run needs ~6 MiB in memory: forces the tiled path


def test_path_choice_follows_the_planner():
    p = SparseParams(psf_fwhm_px=3.0).to_dict()
    assert choose_path((256, 256), "sparse", p, 2 * 2**20).path == TILED
    assert choose_path((256, 256), "sparse", p, 64 * 2**20).path == IN_MEMORY
    assert choose_path((256, 256), "sparse", {**p, "upsample": 2}, 16 * 2**20).path == TILED
    # any other method: its working set per voxel (blocks.BYTES_PER_VOXEL)
    assert choose_path((256, 256), "rl", {}, 2 * 2**20).path == TILED
    assert choose_path((256, 256), "rl", {}, 64 * 2**20).path == IN_MEMORY


@pytest.fixture
def big(make_napari_viewer):
    viewer = make_napari_viewer()
    img = np.random.default_rng(3).poisson(40, (256, 256)).astype(np.float32)
    img[100:110, 60:200] += 300
    layer = viewer.add_image(img, name="cell", scale=(0.032, 0.032), translate=(1.0, 2.0),
                             units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.iterations.value, w.deconv_iterations.value = 10, 3
    w.fwhm.value = 110.0
    return viewer, w, layer


@pytest.mark.slow
def test_over_budget_runs_tiled_into_a_store_and_shows_it_lazily(big, qtbot, tmp_path):
    da = pytest.importorskip("dask.array")
    viewer, w, layer = big
    w.memory_budget.value = BUDGET_MIB
    store = tmp_path / "result.zarr"
    w.store_path.value = str(store)
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=120000)
    assert "tiled" in w.status.value and "tiled" in w.path_info.value, w.status.value
    out = viewer.layers["cell sparse"]
    assert isinstance(out.data, da.Array)  # lazy, read from the store
    assert store.is_dir() and not [q for q in tmp_path.iterdir() if q.name.endswith(".part")]
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert [str(u) for u in out.units] == [str(u) for u in layer.units]
    md = out.metadata["napari_sparsedecon"]
    assert md["path"].startswith("tiled") and md["store"] == str(store)
    assert md["params"]["iterations"] == 10
    assert md["memory_budget_bytes"] == BUDGET_MIB * 2**20
    expect = nsd.sparse_deconvolve(layer.data, psf_fwhm_px=110 / 32, iterations=10,
                                   deconv_iterations=3)
    got = np.asarray(out.data)
    # exactly the CLI's tiled run with this budget ...
    from napari_sparsedecon.core.tiled import tiled_deconvolve

    cli = tiled_deconvolve(layer.data, SparseParams(psf_fwhm_px=110 / 32, iterations=10,
                                                    deconv_iterations=3),
                           memory_budget=BUDGET_MIB * 2**20)
    np.testing.assert_allclose(got, cli, rtol=1e-6, atol=1e-6 * np.ptp(cli))
    # ... and the in-memory result within largedata.tiling's tolerance: measured 2e-5 of the
    # range inside a 16 px margin (tests/largedata/test_tiling.py allows 1e-3), 3.1e-3 on the
    # image's edge where a tile's mirror padding meets the bright bar
    rel = np.abs(got - expect) / np.ptp(expect)
    assert rel[16:-16, 16:-16].max() < 2e-4 and rel.max() < 1e-2
    lo, hi = out.contrast_limits
    assert lo < hi and hi <= got.max() + 1e-6
    # the store is a readable OME-Zarr with the pixel size and the parameters
    from napari_sparsedecon.io.ome_zarr import read_ome_zarr

    _, info = read_ome_zarr(store)
    np.testing.assert_allclose(info["scale"][-2:], (0.032, 0.032))
    assert info["metadata"]["method"] == "sparse"


@pytest.mark.slow
def test_within_budget_runs_in_memory_and_says_so(big, qtbot):
    viewer, w, _ = big
    w.memory_budget.value = 64
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    out = viewer.layers["cell sparse"]
    assert isinstance(out.data, np.ndarray)
    assert w.path_info.value.startswith("in memory")
    assert out.metadata["napari_sparsedecon"]["path"].startswith("in memory")


@pytest.mark.slow
def test_cancelled_tiled_run_leaves_no_store(big, qtbot, tmp_path):
    viewer, w, _ = big
    w.memory_budget.value = 4  # 3x3 tiles of 100 iterations: a few seconds
    w.iterations.value = 100
    w.store_path.line_edit.value = ""  # empty: a temporary folder, named in the status
    n = len(viewer.layers)
    worker = w.run()
    folder = w.status.value.split("temporary folder ", 1)[1]
    assert os.path.isdir(folder)
    qtbot.waitUntil(lambda: w.progress.value >= 1, timeout=60000)
    with qtbot.waitSignal(worker.finished, timeout=60000):
        w.cancel()
    qtbot.waitUntil(lambda: w._cleanup_worker is None, timeout=20000)
    assert len(viewer.layers) == n and "cancelled" in w.status.value
    assert not os.path.exists(folder)


@pytest.mark.slow
def test_existing_store_is_refused(big, tmp_path):
    _, w, _ = big
    w.memory_budget.value = BUDGET_MIB
    (tmp_path / "taken.zarr").mkdir()
    w.store_path.value = str(tmp_path / "taken.zarr")
    assert w.run() is None
    assert "exists" in w.status.value and "never replaced" in w.status.value


def _two_tiffs(folder):
    import tifffile

    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        img = rng.poisson(30, (48, 40)).astype(np.uint16)
        tifffile.imwrite(folder / f"{name}.tif", img, imagej=True,
                         resolution=(1 / 0.032, 1 / 0.032), metadata={"unit": "um"})


@pytest.mark.slow
def test_process_files_runs_the_batch_engine_on_a_folder(big, qtbot, tmp_path):
    from napari_sparsedecon.io.tiff import read_tiff

    _, w, _ = big
    src = tmp_path / "in"
    src.mkdir()
    _two_tiffs(src)
    f = w.files
    f.folder.value = str(src)
    f.out_dir.value = str(tmp_path / "out")
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 3.0
    f.run()
    qtbot.waitUntil(lambda: f._worker is None, timeout=120000)
    assert f.status.value.startswith("2 ok, 0 failed, 0 skipped"), f.status.value
    assert f.progress.value == 1000
    for name in ("a", "b"):
        data, info = read_tiff(tmp_path / "out" / f"{name}_sparse.tif")
        assert data.shape == (48, 40)
        assert info["metadata"]["params"]["iterations"] == 10
    # the same run as the CLI's engine with these parameters
    import tifffile

    expect = nsd.sparse_deconvolve(tifffile.imread(src / "a.tif").astype(np.float32),
                                   psf_fwhm_px=3.0, iterations=10, deconv_iterations=3)
    np.testing.assert_allclose(read_tiff(tmp_path / "out" / "a_sparse.tif")[0], expect,
                               rtol=1e-4, atol=1e-4 * expect.max())
    f.run()  # again: both outputs exist and are skipped, never replaced
    qtbot.waitUntil(lambda: f._worker is None, timeout=60000)
    assert f.status.value.startswith("0 ok, 0 failed, 2 skipped"), f.status.value


@pytest.mark.slow
def test_process_files_cancel_keeps_no_partial_output(big, qtbot, tmp_path):
    _, w, _ = big
    src = tmp_path / "in"
    src.mkdir()
    _two_tiffs(src)
    w.iterations.value = 10000
    w.psf_source.value = "FWHM (pixels)"
    f = w.files
    f.folder.value = str(src)
    f.run()
    qtbot.waitUntil(lambda: f._state.get("tick") is not None, timeout=60000)
    f.cancel()
    qtbot.waitUntil(lambda: f._worker is None, timeout=60000)
    assert "cancelled after 0 of 2" in f.status.value, f.status.value
    assert sorted(q.name for q in src.iterdir()) == ["a.tif", "b.tif"]  # nothing else


@pytest.mark.slow
def test_process_files_without_a_folder_says_so(big):
    _, w, _ = big
    assert w.files.run() is None
    assert "choose an input folder" in w.files.status.value
