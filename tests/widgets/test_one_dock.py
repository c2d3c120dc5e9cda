"""The one deconvolution dock: every method, its controls from the schema, preview, sweep,
run with the record. Mechanisms, not timings: the work runs in worker threads and the
dock's events arrive (generous timeouts)."""

import threading

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon._widgets.deconv import PREVIEW_NAME, SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.sweep import MONTAGE_NAME  # noqa: E402
from napari_sparsedecon.algorithms.registry import DEFAULT_METHOD, get_method  # noqa: E402

pytestmark = pytest.mark.gui


def _stack(nz=12, n=64, seed=0):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    x = np.zeros((nz, n, n), np.float32)
    x[nz // 2, 20:24, 10:50] = 3000
    x[nz // 2 - 3, 40, 40] = 5000
    return rng.poisson(gaussian_filter(x, (1.5, 1.5, 1.5)) + 20).astype(np.float32)


def test_one_dock_in_the_manifest():
    from pathlib import Path

    import yaml

    import napari_sparsedecon

    man = yaml.safe_load((Path(napari_sparsedecon.__file__).parent / "napari.yaml")
                         .read_text())
    docks = [w["command"] for w in man["contributions"]["widgets"]]
    assert docks == ["napari-sparsedecon.sparse_widget", "napari-sparsedecon.psf_widget"]


def test_method_picker_rebuilds_controls_from_the_schema(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((32, 32), np.float32), name="flat")
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    assert w.method.value == DEFAULT_METHOD
    assert set(w.method.choices) == set(nsd.methods())
    for name in w.method.choices:
        w.method.value = name
        m = get_method(name)
        names = {p.name for p in m.schema} - {"psf_fwhm_px"}
        if m.psf_in_schema:
            names -= {"upsample_method"}  # one up-sampling box for the pair
        assert set(w.ctrl.controls) == names
        advanced = {p.name for p in m.schema if p.advanced} & names
        assert {n for n in names if w.ctrl.controls[n] in w.ctrl.advanced} == advanced
        if not m.psf_in_schema:
            assert w.parameters() == m.defaults()
    w.method.value = "sparse_psf"
    assert w.ctrl.controls["continuity"].native.isHidden()  # t/z: hidden on a 2-D image
    assert w.backend.enabled  # sparse_psf has numba and OpenCL plans (issue 23)
    w.ctrl.controls["gain"].value = "abc"
    w.run()
    assert "gain" in w.status.value and "flat sparse_psf" not in viewer.layers
    # a preset gives sparse_psf its PSF and keeps its parameters; the paper pipeline
    # then takes the preset's values too
    w.ctrl.controls["gain"].value = ""
    before = w.parameters()
    w.preset.value = w.preset.choices[1]
    assert w.method.value == "sparse_psf" and w.model.preset == w.preset.value
    assert w.parameters() == before and "stay its own" in w.preset_info.value
    w.method.value = "sparse"
    from napari_sparsedecon.presets import get_preset

    pr = get_preset(w.preset.value)
    assert w.parameters()["fidelity"] == pr.params["fidelity"]
    assert w.preset.value == pr.name


def test_preview_of_sparse_psf_on_a_stack_with_a_3d_psf_follows_roi_and_slider(
        make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack(), name="stack")
    psf = viewer.add_image(nsd.gaussian_psf((9, 9, 9), (3.0, 2.0, 2.0)), name="psf",
                           visible=False)
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse_psf"), layer)
    w.psf_layer.reset_choices()
    w.psf_source.value = "PSF layer"
    w.psf_layer.value = psf
    w.iterations.value = 3
    viewer.dims.set_point(0, 6)
    shapes = viewer.add_shapes([np.array([[8.0, 8.0], [40.0, 40.0]])],
                               shape_type="rectangle", name="roi")
    main, threads = threading.current_thread(), []
    import napari_sparsedecon.dock.jobs as jobs

    orig = jobs._read

    def spy(*a):
        threads.append(threading.current_thread())
        return orig(*a)

    jobs._read = spy
    try:
        w.preview.value = True
        qtbot.waitUntil(lambda: w.previews >= 1, timeout=60000)
        assert viewer.layers[PREVIEW_NAME].data.shape == (32, 32)
        assert "9 for the PSF" in w.preview_info.value and "3-D" in w.psf_info.value
        # moving the rectangle re-runs the preview there
        shapes.data = [np.array([[20.0, 16.0], [60.0, 48.0]])]
        qtbot.waitUntil(lambda: w.previews >= 2, timeout=60000)
        qtbot.waitUntil(lambda: viewer.layers[PREVIEW_NAME].data.shape == (40, 32),
                        timeout=60000)
        n = w.previews
        viewer.dims.set_point(0, 3)  # the slider: another plane
        qtbot.waitUntil(lambda: w.previews > n, timeout=60000)
        n = w.previews  # a rectangle drawn in a new Shapes layer: the preview goes there
        viewer.add_shapes([np.array([[0.0, 0.0], [24.0, 56.0]])], shape_type="rectangle")
        qtbot.waitUntil(lambda: w.previews > n and
                        viewer.layers[PREVIEW_NAME].data.shape == (24, 56), timeout=60000)
    finally:
        jobs._read = orig
    assert threads and all(t is not main for t in threads)  # read in the workers
    assert len(w.model._prep) == 1  # one set of whole-image estimates for every preview


def test_sweep_for_rl_tv(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack()[6], name="img")
    viewer.add_shapes([np.array([[8.0, 8.0], [40.0, 40.0]])], shape_type="rectangle")
    w = dock(viewer, SparseDeconWidget(viewer, method="rl_tv"), layer)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 3.0
    w.iterations.value = 3
    sw = w.sweep
    assert sw.param1.value == "strength" and "fidelity" not in sw.param1.choices
    sw.values1.value = "0.005, 0.02"
    sw.param2.value, sw.values2.value = "iterations", "2, 4"
    sw.run()
    qtbot.waitUntil(lambda: sw._worker is None, timeout=60000)
    assert len(sw.tiles) == 4 and viewer.layers[MONTAGE_NAME].data.shape == (66, 66)
    sw.tile.value = 3
    sw.use_tile()
    assert w.strength.value == 0.02 and w.model.values["iterations"] == 4


def test_run_lands_a_layer_with_scale_and_the_record(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    img = _stack()[6]
    layer = viewer.add_image(img, name="cell", scale=(0.05, 0.05), translate=(1.0, 2.0),
                             units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="rl_tv"), layer)
    w.fwhm.value = 150.0  # nm at 50 nm pixels: 3 px
    w.iterations.value = 4
    w.check_residual.value = True
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    out = viewer.layers["cell rl_tv"]
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    rec = out.metadata["napari_sparsedecon"]
    assert rec["method"] == "rl_tv" and rec["params"]["iterations"] == 4
    assert rec["psf"]["model"] == "gaussian" and rec["psf"]["fwhm_px"] == pytest.approx(3.0)
    assert "camera" in rec["estimates"] and rec["version"] == nsd.__version__
    assert rec["source"] == "cell" and rec["path"].startswith("in memory")
    assert "residual" in rec["trust"]
    expect = nsd.deconvolve(img, "rl_tv", psf_fwhm_px=3.0, iterations=4)
    np.testing.assert_allclose(out.data, expect, rtol=1e-4, atol=1e-4 * float(expect.max()))


def test_more_views_run_the_multi_view_form_and_record_every_view(make_napari_viewer,
                                                                   qtbot):
    """Two layers of one object seen through PSFs elongated along Y and along X: view 2
    and its PSF set in the "More views" section; the result is deconvolve([...],
    psf=[...]) and its record names both views."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(5)
    truth = np.zeros((48, 48), np.float32)
    truth[rng.integers(6, 42, 15), rng.integers(6, 42, 15)] = 300.0
    p1, p2 = nsd.gaussian_psf(None, (6.0, 2.0)), nsd.gaussian_psf(None, (2.0, 6.0))
    v1, v2 = (rng.poisson(fftconvolve(truth, p, mode="same").clip(0) + 5).astype(np.float32)
              for p in (p1, p2))
    viewer = make_napari_viewer()
    a = viewer.add_image(v1, name="arm A")
    b = viewer.add_image(v2, name="arm B")
    viewer.add_image(p1, name="psf A", visible=False)
    viewer.add_image(p2, name="psf B", visible=False)
    w = dock(viewer, SparseDeconWidget(viewer, method="rl_tv"), a)
    w.psf_layer.reset_choices()
    w.psf_source.value = "PSF layer"
    w.psf_layer.value = viewer.layers["psf A"]
    view, psf = w.views.rows[0]
    view.reset_choices()
    psf.reset_choices()
    view.value, psf.value = b, viewer.layers["psf B"]
    w.iterations.value = 6
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    out = viewer.layers["arm A rl_tv"]
    rec = out.metadata["napari_sparsedecon"]
    assert rec["views"] == ["arm A", "arm B"] and [r["name"] for r in rec["psf"]] == [
        "psf A", "psf B"]
    ref = nsd.deconvolve([v1, v2], "rl_tv", psf=[p1, p2], backend="numpy", iterations=6)
    np.testing.assert_allclose(out.data, ref, rtol=1e-4, atol=1e-4 * float(ref.max()))
    # a method without a multi-view form says so where the eye is
    w.method.value = "sparse"
    w.run()
    assert "no multi-view form" in w.status.value


def test_process_files_runs_the_dock_method_on_a_folder(make_napari_viewer, qtbot, tmp_path):
    import tifffile

    from napari_sparsedecon.io.tiff import read_tiff

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(5)
    for name in ("a", "b"):
        tifffile.imwrite(src / f"{name}.tif", rng.poisson(30, (48, 40)).astype(np.uint16))
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((8, 8), np.float32))
    w = dock(viewer, SparseDeconWidget(viewer, method="rl"), layer)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 3.0
    w.iterations.value = 3
    w.files.folder.value = str(src)
    w.files.out_dir.value = str(tmp_path / "out")
    w.files.run()
    qtbot.waitUntil(lambda: w.files._worker is None, timeout=120000)
    assert w.files.status.value.startswith("2 ok"), w.files.status.value
    outs = sorted((tmp_path / "out").iterdir())
    assert len(outs) == 2
    _, info = read_tiff(outs[0])
    assert info["metadata"]["method"] == "rl" and info["metadata"]["params"]["iterations"] == 3
