import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

import napari_sparsedecon as nsd  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    img = rng.poisson(50, (96, 80)).astype(np.float32)
    layer = viewer.add_image(img, name="cell", scale=(0.032, 0.032), translate=(1.0, 2.0),
                             units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    return viewer, w, layer


def _wait_done(qtbot, w, timeout=30000):
    qtbot.waitUntil(lambda: w._worker is None, timeout=timeout)


@pytest.mark.slow
def test_run_adds_layer_with_scale_and_metadata(viewer_and_widget, qtbot):
    viewer, w, layer = viewer_and_widget
    before = layer.data.copy()
    w.iterations.value = 10
    w.deconv_iterations.value = 3
    w.fwhm.value = 110.0  # nm, 0.032 um pixels -> 3.44 px
    w.run()
    _wait_done(qtbot, w)
    assert "cell sparse" in viewer.layers
    out = viewer.layers["cell sparse"]
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    md = out.metadata["napari_sparsedecon"]
    assert md["method"] == "sparse" and md["params"]["iterations"] == 10
    assert md["params"]["fidelity"] == 150.0
    assert abs(md["params"]["psf_fwhm_px"] - 110 / 32) < 1e-6
    assert md["version"] == nsd.__version__ and md["seconds"] >= 0 and md["backend"] == "numpy"
    assert md["device"] == "CPU (NumPy/SciPy)"
    expect = nsd.sparse_deconvolve(before, psf_fwhm_px=110 / 32, iterations=10,
                                   deconv_iterations=3)
    np.testing.assert_allclose(out.data, expect, rtol=1e-5)
    np.testing.assert_array_equal(layer.data, before)  # input untouched
    assert w.status.value.startswith("done")


@pytest.mark.slow
def test_upsample_halves_scale(viewer_and_widget, qtbot):
    viewer, w, layer = viewer_and_widget
    w.iterations.value = 3
    w.deconv_iterations.value = 1
    w.upsample.value = "x2 Fourier"
    w.run()
    _wait_done(qtbot, w)
    out = viewer.layers["cell sparse"]
    assert out.data.shape == (192, 160)
    np.testing.assert_allclose(out.scale, np.asarray(layer.scale) / 2)
    np.testing.assert_allclose(out.translate, np.asarray(layer.translate) - 0.032 / 4)


@pytest.mark.slow
def test_cancel_adds_no_layer(viewer_and_widget, qtbot):
    viewer, w, _ = viewer_and_widget
    w.iterations.value = 10000
    n = len(viewer.layers)
    worker = w.run()
    qtbot.waitUntil(lambda: w.progress.value >= 2, timeout=20000)
    with qtbot.waitSignal(worker.finished, timeout=20000):
        w.cancel()
    assert len(viewer.layers) == n
    assert w.status.value == "cancelled"
    assert w.run_button.enabled


@pytest.mark.slow
def test_error_is_reported_not_raised(viewer_and_widget, qtbot):
    viewer, w, layer = viewer_and_widget
    layer.data = np.zeros_like(layer.data)
    n = len(viewer.layers)
    w.run()
    if w._worker is not None:
        _wait_done(qtbot, w)
    assert len(viewer.layers) == n
    assert "error" in w.status.value and "all zero" in w.status.value


@pytest.mark.slow
def test_fwhm_in_nm_needs_a_pixel_size(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((32, 32), np.float32))
    w = SparseDeconWidget(viewer, method="sparse")
    w.image.reset_choices()
    w.image.value = layer
    w.run()
    assert "pixel size" in w.status.value
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 2.0
    assert w.resolved_psf(layer).fwhm_px == 2.0


@pytest.mark.slow
def test_preview_reruns_on_parameter_change(viewer_and_widget, qtbot):
    viewer, w, layer = viewer_and_widget
    viewer.add_shapes([np.array([[1.0 + 0.032 * 10, 2.0 + 0.032 * 12],
                                 [1.0 + 0.032 * 60, 2.0 + 0.032 * 62]])],
                      shape_type="rectangle", name="roi")
    w.iterations.value = 20
    w.preview.value = True
    qtbot.waitUntil(lambda: "sparse preview" in viewer.layers, timeout=20000)
    prev = viewer.layers["sparse preview"]
    assert prev.data.shape == (50, 50)
    np.testing.assert_allclose(prev.translate, (1.0 + 0.032 * 10, 2.0 + 0.032 * 12))
    first = prev.data.copy()
    w.sparsity.value = 1.0
    qtbot.waitUntil(lambda: not np.array_equal(viewer.layers["sparse preview"].data, first),
                    timeout=20000)
    assert [ly.name for ly in viewer.layers].count("sparse preview") == 1


@pytest.mark.slow
def test_rl_widget_with_psf_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    img = np.random.default_rng(1).poisson(40, (64, 64)).astype(np.float32)
    layer = viewer.add_image(img, name="beads")
    psf_layer = viewer.add_image(nsd.gaussian_psf((9, 9), 2.5), name="psf")
    w = SparseDeconWidget(viewer, method="rl")
    w.image.reset_choices()
    w.psf_layer.reset_choices()
    w.image.value = layer
    w.psf_source.value = "PSF layer"
    w.psf_layer.value = psf_layer
    w.ctrl.controls["iterations"].value = 4
    w.ctrl.controls["stop"].value = "none"
    w.threads.value = 1
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=20000)
    out = viewer.layers["beads rl"]
    expect = nsd.deconvolve(img, "rl", psf=psf_layer.data, iterations=4, stop="none")
    np.testing.assert_allclose(out.data, expect, rtol=1e-5)
    meta = out.metadata["napari_sparsedecon"]
    assert meta["method"] == "rl" and meta["params"]["iterations"] == 4
    assert "gain" in meta["estimates"]["camera"]  # what the run estimated is recorded
    assert meta["estimates"]["threads"] == 1  # the dock's thread setting reached the run


def test_sample_data_and_tiff_writer_reader(tmp_path):
    from napari_sparsedecon._napari_io import get_tiff_reader, write_tiff_layer
    from napari_sparsedecon._sample_data import celegans_sample, phantom_sample

    (data, kw, kind), truth = phantom_sample()
    assert kind == "image" and data.shape == (256, 256) and kw["scale"] == (0.032, 0.032)
    assert celegans_sample()[0][0].shape == (316, 316)
    path = str(tmp_path / "r.tif")
    write_tiff_layer(path, data, {"scale": (0.032, 0.032), "units": ("micrometer",) * 2,
                                  "metadata": {"napari_sparsedecon": {"sparsity": 10.0}}})
    reader = get_tiff_reader(path)
    assert reader is not None
    (d2, kw2, _), = reader(path)
    np.testing.assert_array_equal(d2, data)
    np.testing.assert_allclose(kw2["scale"], (0.032, 0.032))
    assert kw2["units"] == ["micrometer"] * 2 and kw2["axis_labels"] == ["y", "x"]
    assert kw2["metadata"]["napari_sparsedecon"] == {"sparsity": 10.0}
    import tifffile

    other = str(tmp_path / "plain.tif")
    tifffile.imwrite(other, data)
    (_, kw3, _), = get_tiff_reader(other)(other)  # any TIFF: uncalibrated here
    assert kw3["units"] == ["pixel", "pixel"]


@pytest.mark.slow
@pytest.mark.opencl
def test_opencl_backend_from_widget(viewer_and_widget, qtbot):
    from napari_sparsedecon.backends import get_backend
    from napari_sparsedecon.backends.opencl import OpenCLUnavailable

    try:
        get_backend("opencl", None)
    except OpenCLUnavailable as err:
        pytest.skip(f"no OpenCL device: {err}")
    viewer, w, layer = viewer_and_widget
    w.iterations.value = 10
    w.deconv_iterations.value = 3
    w.backend.value = "opencl"
    w.run()
    _wait_done(qtbot, w)
    out = viewer.layers["cell sparse"]
    md = out.metadata["napari_sparsedecon"]
    assert md["backend"] == "opencl" and md["device"]
    expect = nsd.sparse_deconvolve(layer.data, psf_fwhm_px=110 / 32, iterations=10,
                                   deconv_iterations=3)
    assert np.abs(out.data - expect).max() <= 1e-4 * float(expect.max())


@pytest.mark.slow
def test_preview_on_timelapse_uses_current_frame_and_neighbours(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(3)
    stack = rng.poisson(40, (9, 64, 64)).astype(np.float32)
    stack[6, 20:30, 20:30] += 400  # a bright square only in frame 6
    layer = viewer.add_image(stack, name="movie", scale=(2.0, 1.0, 1.0))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 2.5
    w.iterations.value = 10
    viewer.dims.set_point(0, 12.0)  # world t = 12 -> frame 6 with scale 2
    assert w.current_frame(layer) == 6
    w.preview.value = True
    qtbot.waitUntil(lambda: "sparse preview" in viewer.layers, timeout=20000)
    prev = viewer.layers["sparse preview"].data
    assert prev.ndim == 2 and prev.shape == (64, 64)
    assert prev[22:28, 22:28].mean() > 3 * prev[40:50, 40:50].mean()


@pytest.mark.slow
def test_psf_layer_with_other_pixel_size_is_refused(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.ones((32, 32), np.float32), name="img", scale=(0.065, 0.065))
    psf = viewer.add_image(nsd.gaussian_psf((7, 7), 2.0), name="psf", scale=(0.1, 0.1))
    w = SparseDeconWidget(viewer, method="rl")
    w.image.reset_choices()
    w.psf_layer.reset_choices()
    w.image.value = layer
    w.psf_source.value = "PSF layer"
    w.psf_layer.value = psf
    w.run()
    assert "pixel size" in w.status.value and "img rl" not in viewer.layers


@pytest.mark.slow
def test_parameter_file_reproduces_widget_result_headless(viewer_and_widget, qtbot,
                                                          tmp_path):
    import tifffile

    from napari_sparsedecon.cli import main
    from napari_sparsedecon.io.tiff import read_tiff

    viewer, w, layer = viewer_and_widget
    w.iterations.value = 12
    w.sparsity.value = 7.0
    w.deconv_iterations.value = 4
    w.background.value = "low/2"
    w.save_params(tmp_path / "p.json")
    w.run()
    _wait_done(qtbot, w)
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.asarray(layer.data))
    assert main(["run", "--method", "sparse", str(src), "-o", str(tmp_path / "o.tif"), "--params",
                 str(tmp_path / "p.json")]) == 0
    headless, _ = read_tiff(tmp_path / "o.tif")
    np.testing.assert_array_equal(headless, viewer.layers["cell sparse"].data)
    # and loading fills the widget back
    w.sparsity.value = 1.0
    w.load_params(tmp_path / "p.json")
    assert w.sparsity.value == 7.0 and w.psf_source.value == "FWHM (pixels)"


@pytest.mark.slow
def test_preview_follows_the_time_slider_and_goes_when_off(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(5)
    stack = rng.poisson(40, (6, 48, 48)).astype(np.float32)
    stack[1, 10:20, 10:20] += 500  # bright only in frame 1
    stack[4, 30:40, 30:40] += 500  # and elsewhere only in frame 4
    layer = viewer.add_image(stack, name="movie")
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value, w.iterations.value, w.deconv_iterations.value = 2.0, 5, 2
    viewer.dims.set_point(0, 1)
    w.preview.value = True
    qtbot.waitUntil(lambda: "sparse preview" in viewer.layers, timeout=20000)
    prev = viewer.layers["sparse preview"]
    qtbot.waitUntil(lambda: prev.data[10:20, 10:20].mean() > 3 * prev.data[30:40, 30:40].mean(),
                    timeout=20000)
    viewer.dims.set_point(0, 4)  # the preview follows the slider: now frame 4
    qtbot.waitUntil(lambda: prev.data[30:40, 30:40].mean() > 3 * prev.data[10:20, 10:20].mean(),
                    timeout=20000)
    w.preview.value = False
    assert "sparse preview" not in viewer.layers
    qtbot.wait(500)  # no late preview brings it back
    assert "sparse preview" not in viewer.layers


@pytest.mark.slow
def test_lazy_layer_is_read_in_the_worker_and_result_saved(make_napari_viewer, qtbot,
                                                           tmp_path):
    import threading

    da = pytest.importorskip("dask.array")
    from napari_sparsedecon.io.tiff import read_tiff

    viewer = make_napari_viewer()
    img = np.random.default_rng(2).poisson(50, (64, 64)).astype(np.float32)
    readers = []

    def block(x):  # records the thread that materialises the lazy data
        readers.append(threading.current_thread())
        return x

    lazy = da.from_array(img, chunks=32).map_blocks(block, dtype=np.float32)
    layer = viewer.add_image(lazy, name="lazy", scale=(32.0, 32.0), units=("nm", "nm"),
                             contrast_limits=(0, 100))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.iterations.value, w.deconv_iterations.value = 5, 2
    readers.clear()
    main = threading.current_thread()
    w.run()
    assert all(t is not main for t in readers)  # nothing read on the GUI thread
    _wait_done(qtbot, w)
    assert "lazy sparse" in viewer.layers and readers
    assert all(t is not main for t in readers)
    assert w.save_button.enabled
    worker = w.save_result(tmp_path / "out.tif")
    qtbot.waitUntil(lambda: w._save_worker is None, timeout=20000)
    assert worker is not None and "saved out.tif" in w.status.value
    data, info = read_tiff(tmp_path / "out.tif")
    np.testing.assert_array_equal(data, viewer.layers["lazy sparse"].data)
    np.testing.assert_allclose(info["scale"], (0.032, 0.032))  # nm -> um
    md = info["metadata"]
    assert md["params"]["iterations"] == 5 and md["source"] == "lazy"
    with pytest.raises(FileExistsError):
        w.save_result(tmp_path / "out.tif")  # never overwrites without asking


@pytest.mark.slow
def test_every_parameter_widget_file_cli_tiled_equals_the_api(make_napari_viewer, qtbot,
                                                              tmp_path):
    """Issue 11: every schema field of the paper pipeline, set to a non-default value in
    the dock, goes widget -> parameter file -> `run --params` (tiled, 3 tiles a side) and
    comes out equal to the direct API call with the same values; loading the file into a
    fresh dock restores every field. The controls are the schema's, so a field without a
    control fails here."""
    import json

    import tifffile

    from napari_sparsedecon.algorithms.sparse import SCHEMA
    from napari_sparsedecon.cli import main

    rng = np.random.default_rng(3)
    img = (rng.poisson(40, (6, 72, 64)) + rng.normal(0, 1.5, (6, 72, 64))).astype(np.float32)
    # axis -3 is the first axis, written another way: a non-default value that the run
    # can combine with up-sampling (continuity along Y or X with --upsample 2 is refused)
    viewer = make_napari_viewer()
    layer = viewer.add_image(img, name="stack")
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    want = dict(fidelity=90.0, sparsity=4.0, continuity=0.8, iterations=9, background="low/2",
                upsample=2, upsample_method="spatial", deconv_method="biggs",
                deconv_iterations=3, axis=-3, quantitative=False)
    names = {p.name for p in SCHEMA} - {"psf_fwhm_px"}
    assert set(want) == names, "a new schema field needs a value in this test"
    for p in SCHEMA:
        if p.name in want:
            assert want[p.name] != p.default, p.name
    w.set_params(want)
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 2.2
    w.save_params(tmp_path / "p.json")
    saved = json.loads((tmp_path / "p.json").read_text())
    assert {k: saved[k] for k in want} == want and saved["psf_fwhm_px"] == 2.2

    fresh = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    fresh.load_params(tmp_path / "p.json")
    assert fresh.model.job_params(fresh.resolved_psf()) == w.model.job_params(w.resolved_psf())

    src = tmp_path / "in.tif"
    tifffile.imwrite(src, img)
    ref = nsd.deconvolve(img, "sparse", psf_fwhm_px=2.2, backend="numpy", **want)
    rng_ = ref.max() - ref.min()
    for extra, tol in (([], 1e-5), (["--tile", "60"], 2e-2)):
        out = tmp_path / f"o{len(extra)}.tif"
        assert main(["run", "--method", "sparse",
                     str(src), "-o", str(out), "--params", str(tmp_path / "p.json"),
                     "--backend", "numpy", *extra]) == 0
        got = tifffile.imread(out)
        assert got.shape == ref.shape == (6, 144, 128)
        # untiled: the API's result; tiled: within Biggs' documented seam error (~1%)
        assert np.abs(got - ref).max() <= tol * rng_, extra


def test_upsampling_with_continuity_along_y_or_x_is_refused(tmp_path, capsys):
    import tifffile

    from napari_sparsedecon.cli import main

    src = tmp_path / "in.tif"
    tifffile.imwrite(src, np.ones((6, 40, 32), np.float32))
    assert main(["run", "--method", "sparse",
                 str(src), "-o", str(tmp_path / "o.tif"), "--axis", "2",
                 "--upsample", "2", "--psf-fwhm-px", "2"]) == 1
    assert "continuity axis 2" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.slow
def test_sparse_dock_runs_a_4d_layer_one_volume_per_time_point(make_napari_viewer, qtbot):
    """A (T, Z, Y, X) layer in the sparse (paper pipeline) dock: each time point is run as
    its own volume, as deconvolve(..., 'sparse') does; T and Z keep their scale."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(4)
    img = rng.poisson(40, (2, 6, 40, 36)).astype(np.float32)
    layer = viewer.add_image(img, name="tl", scale=(5.0, 0.2, 0.05, 0.05),
                             units=("s", "um", "um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    # continuity along z of each volume: no axis to choose
    assert not w.continuity.native.isHidden() and w.axis.native.isHidden()
    assert "time point" in w.dims_note.value
    w.psf_source.value = "FWHM (pixels)"
    w.fwhm.value = 2.5
    w.iterations.value, w.deconv_iterations.value = 4, 2
    w.backend.value = "numpy"
    for c in (w.check_residual, w.check_frc, w.check_hallucination, w.check_convergence):
        c.value = False
    w.run()
    _wait_done(qtbot, w)
    assert w.status.value.startswith("done"), w.status.value
    out = viewer.layers["tl sparse"]
    assert out.data.shape == img.shape
    assert tuple(out.scale) == pytest.approx((5.0, 0.2, 0.05, 0.05))
    meta = out.metadata["napari_sparsedecon"]
    assert "its own volume" in meta["estimates"]["time_points"]
    alone = nsd.deconvolve(img[1], "sparse", psf_fwhm_px=2.5, iterations=4,
                           deconv_iterations=2, backend="numpy")
    np.testing.assert_allclose(out.data[1], alone, rtol=1e-4, atol=1e-4 * float(alone.max()))


@pytest.mark.slow
def test_t_continuity_shown_for_4d_layers_only(make_napari_viewer):
    viewer = make_napari_viewer()
    vol = viewer.add_image(np.zeros((6, 32, 32), np.float32), name="vol")
    tl = viewer.add_image(np.zeros((2, 6, 32, 32), np.float32), name="tl")
    w = dock(viewer, SparseDeconWidget(viewer), vol)

    def shown(name):  # hidden explicitly (isVisible also needs the dock on screen)
        return not w.ctrl.controls[name].native.isHidden()

    for name in ("sparse_psf", "rl_tv"):
        w.method.value = name
        w.image.value = vol
        assert shown("continuity") and not shown("t_continuity")
        w.image.value = tl
        assert shown("continuity") and shown("t_continuity")
