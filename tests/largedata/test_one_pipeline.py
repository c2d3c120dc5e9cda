"""One pipeline: a method registered here (in the test only) gets, with no other edit,
CLI flags, ``run --method`` on a folder, a tiled run equal to its untiled run,
OME-Zarr output, a preview, a sweep and a metadata record; and the registered photon
methods tile with the whole image's estimates."""

import json

import numpy as np
import pytest
import zarr
from scipy import ndimage

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms import registry
from napari_sparsedecon.algorithms.common import PhotonPrep
from napari_sparsedecon.analysis.preview import iter_preview, preview_window
from napari_sparsedecon.analysis.sweep import sweep, sweepable
from napari_sparsedecon.cli import build_parser, main
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.core.sparse_hessian import run
from napari_sparsedecon.io.axes import ImageAxes
from napari_sparsedecon.io.tiff import read_tiff, write_tiff
from napari_sparsedecon.largedata.blocks import iter_method_tiled
from napari_sparsedecon.ops.noise import CameraModel
from napari_sparsedecon.params import Param
from napari_sparsedecon.progress import Progress, Stage

TOY_SCHEMA = (
    Param("iterations", "int", 3, "diffusion steps", low=1, high=50),
    Param("rate", "float", 0.5, "diffusion rate per step", low=0, high=1),
)


def _toy_prepare(image, psf, params, *, clip_negative=False):
    img = np.asarray(image, dtype=np.float32)
    cam = CameraModel(0.0, 1.0, 0.0, (), "")
    return PhotonPrep(cam, float(np.median(img)), "median", {"level": float(img.mean())},
                      img.shape), img, psf


def _toy_iterate(image, psf, params, *, backend, device, return_estimate, info=None,
                 clip_negative=False, prep=None):
    """A local method: ``iterations`` diffusion steps, minus the whole image's median."""
    if prep is None:
        prep, _, _ = _toy_prepare(image, psf, params)
    x = np.asarray(image, dtype=np.float32) - np.float32(prep.background)
    n = params["iterations"]
    for k in range(n):
        x = x + np.float32(params["rate"]) * (ndimage.uniform_filter(x, 3, mode="reflect")
                                               - x)
        yield Progress(Stage.DECONV, k + 1, n)
    if info is not None:
        info["toy"] = "ran"
    return x.astype(np.float32)


TOY = registry.Method(name="toy_diffuse", title="Toy diffusion", summary="a test method",
                      schema=TOY_SCHEMA, iterate=_toy_iterate, backends=("numpy",),
                      prepare=_toy_prepare, halo=lambda params, psf: params["iterations"] + 2)


@pytest.fixture
def toy():
    registry.methods()  # load the real ones first
    registry.register(TOY)
    yield TOY
    registry._REGISTRY.pop(TOY.name, None)


def _image(seed=0, shape=(70, 90)):
    rng = np.random.default_rng(seed)
    return (rng.poisson(30, shape) + 5 * rng.random(shape)).astype(np.float32)


def test_a_new_method_gets_cli_flags(toy):
    run_parser = build_parser("toy_diffuse")._subparsers._group_actions[0].choices["run"]
    dests = {a.dest for a in run_parser._actions}
    assert {"iterations", "rate", "method"} <= dests
    assert "toy_diffuse" in next(a for a in run_parser._actions if a.dest == "method").choices


def test_a_new_method_tiled_equals_untiled(toy):
    img = _image()
    p = toy.validate({"iterations": 4})
    whole = run(iter_method_tiled(img, toy, p, psf=None))
    tiled = run(iter_method_tiled(img, toy, p, psf=None, tile=20))
    assert np.allclose(tiled, whole, atol=1e-4 * float(np.ptp(whole)))
    # with a halo too small the blocks do differ: the test can fail
    short = registry.Method(**{**TOY.__dict__, "halo": lambda params, psf: 0})
    cut = run(iter_method_tiled(img, short, p, psf=None, tile=20))
    assert not np.allclose(cut, whole, atol=1e-4 * float(np.ptp(whole)))


def test_a_new_method_runs_on_a_folder_to_ome_zarr_with_one_record(toy, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        write_tiff(src / f"cell{i}.tif", _image(i), image_axes=ImageAxes("YX", (65.0, 65.0),
                                                                         ("nm", "nm")))
    out = tmp_path / "out"
    assert main(["run", str(src), "--method", "toy_diffuse", "--rate", "0.25",
                 "--psf-fwhm-px", "2", "--out-dir", str(out), "--format", "zarr",
                 "--tile", "24"]) == 0
    for i in range(2):
        g = zarr.open(str(out / f"cell{i}_sparse.zarr"), mode="r")
        rec = g.attrs["napari_sparsedecon"]
        assert rec["method"] == "toy_diffuse" and rec["params"]["rate"] == 0.25
        assert rec["estimates"]["background"] == "median"
        assert rec["estimates"]["toy"] == "ran"  # what each block run reported
        assert rec["psf"]["model"] == "gaussian" and rec["version"] == nsd.__version__
        data = np.asarray(g["0"])
        expect = run(iter_method_tiled(_image(i), toy, toy.validate({"rate": 0.25}),
                                       psf=None))
        assert np.allclose(data, expect, atol=1e-4 * float(np.ptp(expect)))
    # a dry run says what it would do, writes nothing
    assert main(["run", str(src), "--method", "toy_diffuse", "--psf-fwhm-px", "2",
                 "--out-dir", str(tmp_path / "dry"), "--dry-run"]) == 0
    assert not (tmp_path / "dry").exists()


def test_a_new_method_gets_a_preview_and_a_sweep(toy):
    img = _image(shape=(40, 64, 64))
    p = toy.validate({})
    res, w = run(iter_preview(img, toy, p, None, ((10, 30), (20, 50)), plane=39))
    assert res.shape == (5, 20, 30) and w.planes == (35, 40)
    assert "rate" in sweepable("toy_diffuse")
    tiles = sweep(img[0], p, {"rate": [0.1, 0.9]}, method="toy_diffuse")
    assert [t.values for t in tiles] == [{"rate": 0.1}, {"rate": 0.9}]
    assert tiles[0].image.std() > tiles[1].image.std()  # more diffusion, smoother


def test_preview_window_takes_the_planes_a_3d_psf_needs_and_follows_the_plane():
    w = preview_window((40, 128, 128), ((0, 64), (0, 64)), psf_shape=(9, 9, 9), plane=3)
    assert w.planes == (0, 9)
    w = preview_window((40, 128, 128), ((0, 64), (0, 64)), psf_shape=(9, 9, 9), plane=30)
    assert w.planes == (26, 35)
    assert preview_window((3, 64, 64), ((0, 8), (0, 8)), psf_shape=(9, 9),
                          plane=1).planes == (0, 3)
    with pytest.raises(ValueError, match="holds no pixels"):
        preview_window((64, 64), ((70, 80), (0, 8)))


def _phantom(shape=(160, 160), seed=2):
    rng = np.random.default_rng(seed)
    ph = make_phantom(shape, photons=60, background_photons=12, read_noise=1.5, seed=seed)
    return (rng.poisson(np.clip(ph.blurred + ph.background, 0, None))
            + rng.normal(0, 1.5, ph.blurred.shape)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rl_tv", "sparse_psf"])
def test_photon_methods_tile_with_the_whole_image_estimates(name):
    """Seams inside the image match the whole-image run within 1e-3 of the range (the
    band of one PSF support along the image's own border differs more: both runs pad the
    data there by the PSF only, and the circular FFT wraps across a different width)."""
    y = _phantom()
    psf = nsd.gaussian_psf(None, 3.0)
    m = registry.get_method(name)
    p = m.validate({"iterations": 30})
    info: dict = {}
    whole = run(iter_method_tiled(y, name, p, psf=psf))
    assert np.array_equal(whole, nsd.deconvolve(y, name, psf=psf, iterations=30,
                                                backend="numpy"))
    tiled = run(iter_method_tiled(y, name, p, psf=psf, tile=50, info=info))
    assert info["blocks"] == 16 and info["background"] == "estimated smooth map"
    r = float(np.ptp(whole))
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(tiled - whole)[inner].max() < 1e-3 * r
    # blocks estimated on their own (no whole-image prep) are visibly different
    own = np.zeros_like(whole)
    for sl in [(slice(0, 80), slice(0, 80)), (slice(80, 160), slice(0, 80))]:
        own[sl] = nsd.deconvolve(y[sl], name, psf=psf, iterations=30, backend="numpy")
    assert np.abs(own - whole)[inner].max() > 1e-2 * r


def test_record_has_one_shape(tmp_path):
    from napari_sparsedecon.algorithms.record import make_record, psf_record

    psf = nsd.gaussian_psf(None, 2.0)
    rec = make_record("rl", {"iterations": np.int64(3)}, psf=psf_record(psf, model="gaussian",
                      image_ndim=3, fwhm_px=[2.0]), estimates={"camera": {"gain": 1.0}},
                      backend="numpy", device="CPU")
    assert set(rec) >= {"method", "params", "psf", "estimates", "backend", "device", "version"}
    assert rec["psf"]["dims"] == 2 and "no axial deblurring" in rec["psf"]["note"]
    json.dumps(rec)
    assert rec["params"]["iterations"] == 3 and isinstance(rec["params"]["iterations"], int)


def test_run_method_records_a_2d_psf_on_a_stack_and_the_aspect(tmp_path):
    src = tmp_path / "z.tif"
    write_tiff(src, _image(shape=(6, 48, 48)), image_axes=ImageAxes("ZYX", (200.0, 40.0, 40.0),
                                                                   ("nm", "nm", "nm")))
    dst = tmp_path / "o.tif"
    assert main(["run", str(src), "--method", "rl_tv", "--psf-fwhm-px", "2", "-o", str(dst),
                 "--iterations", "3"]) == 0
    out, info = read_tiff(dst)
    rec = info["metadata"]
    assert out.shape == (6, 48, 48) and info["image_axes"].axes == "ZYX"
    assert rec["psf"]["dims"] == 2 and "no axial deblurring" in rec["psf"]["note"]
    assert rec["params"]["aspect"] == pytest.approx(5.0) and "aspect_note" in rec


def test_a_flag_of_another_method_names_the_method(capsys, tmp_path):
    src = tmp_path / "a.tif"
    write_tiff(src, _image())
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, exit status 2
        main(["run", str(src), "--fidelity", "100", "--psf-fwhm-px", "2"])
    assert exc.value.code == 2
    assert "add --method sparse" in capsys.readouterr().err


def test_an_image_whose_estimates_do_not_fit_the_budget_is_refused_up_front(toy):
    from napari_sparsedecon.largedata.blocks import check_whole_fits

    check_whole_fits((512, 512), "toy_diffuse", memory_budget=64 * 2**20)
    with pytest.raises(MemoryError, match="raise --memory-budget"):
        run(iter_method_tiled(np.zeros((2048, 2048), np.float32), toy, toy.validate({}),
                              psf=None, memory_budget=32 * 2**20))


def test_a_large_ome_zarr_output_gets_a_pyramid(tmp_path):
    import zarr

    src = tmp_path / "big.tif"
    write_tiff(src, _image(shape=(1100, 1300)), image_axes=ImageAxes("YX", (65.0, 65.0),
                                                                     ("nm", "nm")))
    dst = tmp_path / "big.zarr"
    assert main(["run", str(src), "--method", "rl", "--iterations", "2", "--stop", "none",
                 "--psf-fwhm-px", "2", "-o", str(dst)]) == 0
    g = zarr.open_group(str(dst), mode="r")
    ms = (g.attrs.get("ome") or g.attrs)["multiscales"][0]
    assert len(ms["datasets"]) >= 2
    assert g[ms["datasets"][1]["path"]].shape == (550, 650)


def test_a_new_method_gets_dock_controls_a_preview_and_a_record_in_the_dock_model(toy):
    """The dock's Qt-free model (what the view draws and runs) takes the method from the
    registry alone: its controls from the schema, a preview job, a run job's record."""
    from napari_sparsedecon.dock import DeconvModel, ImageInfo
    from napari_sparsedecon.dock import jobs as J

    assert "toy_diffuse" in DeconvModel.method_names()
    m = DeconvModel("toy_diffuse")
    assert set(m.shown_params(2)) >= {"iterations", "rate"}
    data = _image(shape=(64, 64))
    m.set_image(ImageInfo(data.shape, "YX", (65.0, 65.0), "cells"))
    m.set_psf(source="FWHM (pixels)", fwhm=2.0)
    m.set_params({"rate": 0.3})
    out = run(J.preview_job(m, (8, 40, 4, 36), token="cells").build(data))
    assert out.shape == (32, 32) and np.isfinite(out).all()
    job = J.run_job(m, with_checks=False)
    res = run(job.build(data))
    res = getattr(res, "result", res)
    assert res.shape == data.shape
    rec = job.record(source="cells")
    assert rec["method"] == "toy_diffuse" and rec["params"]["rate"] == 0.3
    assert rec["estimates"]["toy"] == "ran"  # what the run reported


def test_views_over_the_budget_say_how_many_views_and_what_to_do(tmp_path):
    """A multi-view run holds every view whole: the refusal counts the views and does not
    send the user to the paper pipeline (which has no multi-view form)."""
    from napari_sparsedecon.largedata import views
    from napari_sparsedecon.largedata.discovery import Job

    srcs = []
    for i in range(2):
        write_tiff(tmp_path / f"v{i}.tif", np.ones((48, 48), np.float32) * 10)
        srcs.append(str(tmp_path / f"v{i}.tif"))
    job = Job(srcs[0], str(tmp_path / "f.tif"), "tif")
    with pytest.raises(MemoryError) as err:
        views.process_views(job, srcs, "rl", {}, psf_fwhm_px=2.0, memory_budget=1000)
    assert "all 2 views of (48, 48)" in str(err.value)
    assert "--method sparse" not in str(err.value) and "crop the views" in str(err.value)
    assert not (tmp_path / "f.tif").exists()
