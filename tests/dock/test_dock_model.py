"""The deconvolution dock's model, driven without napari or Qt."""

import json
import subprocess
import sys

import numpy as np
import pytest

from napari_sparsedecon.algorithms.registry import DEFAULT_METHOD, get_method
from napari_sparsedecon.core.sparse_hessian import run
from napari_sparsedecon.dock import DeconvModel, ImageInfo
from napari_sparsedecon.dock import jobs as J
from napari_sparsedecon.psf.basic import gaussian_psf


def _events(model):
    seen = []
    for name in ("method", "params", "psf", "preset", "image"):
        getattr(model.events, name).connect(lambda v, n=name: seen.append(n))
    return seen


def test_default_method_and_switch_rebuilds_parameters_from_the_schema():
    m = DeconvModel()
    assert m.method_name == DEFAULT_METHOD
    m.set_param("strength", 0.02)
    seen = _events(m)
    m.set_method("rl_tv")
    assert m.values == get_method("rl_tv").defaults()  # nothing carried over
    assert seen[:2] == ["method", "params"]
    m.set_method("sparse")
    assert set(m.values) == {p.name for p in get_method("sparse").schema}
    with pytest.raises(ValueError, match="must be"):
        m.set_param("fidelity", -1.0)
    with pytest.raises(ValueError, match="no parameter"):
        m.set_param("strength", 1.0)


def test_t_and_z_controls_act_only_where_they_act():
    m = DeconvModel("sparse_psf")
    assert not m.shown_params(2)["continuity"] and m.shown_params(3)["continuity"]
    assert not m.shown_params(3)["t_continuity"] and m.shown_params(4)["t_continuity"]
    assert "psf_fwhm_px" not in DeconvModel("sparse").shown_params(2)


def test_a_preset_gives_every_method_its_psf_and_the_paper_pipeline_its_values():
    m = DeconvModel("rl_tv")
    m.set_image(ImageInfo((64, 64), "YX", (94.0, 94.0), "cell"))
    before = dict(m.values)
    name = "sd-sim-tubulin"
    seen = _events(m)
    p = m.apply_preset(name)
    # rl_tv keeps its method and its own parameters; the preset gives the PSF
    assert m.method_name == "rl_tv" and m.preset == name and m.values == before
    assert m.psf.source.startswith("Airy") and m.psf.effective_na == p.effective_na
    assert "preset" in seen and "method" not in seen
    assert "stay its own" in m.preset_text() and "rl_tv" in m.preset_text()
    psf = m.resolved_psf()
    from napari_sparsedecon.presets import preset_psf
    np.testing.assert_allclose(psf.array, preset_psf(name, 94.0).data, rtol=1e-5)
    rec = m.record(m.job_params(psf), psf)
    assert rec["preset"] == name and rec["psf"]["model"] == "airy"
    # switching to the paper pipeline fills the preset's values; the preset stays
    m.set_method("sparse")
    assert m.preset == name and m.values["fidelity"] == p.params["fidelity"]
    assert m.values["deconv_iterations"] == p.params["deconv_iterations"]
    m.set_method("rl")
    assert m.preset == name and m.values == get_method("rl").defaults()
    m.apply_preset(None)
    assert m.preset is None


@pytest.mark.parametrize("method", ["sparse", "rl_tv"])
def test_parameter_file_round_trip(tmp_path, method):
    m = DeconvModel(method)
    m.set_image(ImageInfo((64, 64), "YX", (32.0, 32.0), "cell"))
    name = "iterations"
    m.set_param(name, 7)
    path = tmp_path / "p.json"
    m.save_params(path)
    doc = json.loads(path.read_text())
    if method == "sparse":  # flat, with the FWHM in pixels for this image (run --params)
        assert doc["iterations"] == 7 and abs(doc["psf_fwhm_px"] - 110 / 32) < 1e-9
    else:  # a record naming its method
        assert doc["method"] == "rl_tv" and doc["params"]["iterations"] == 7
    other = DeconvModel("rl")
    other.load_params(path)
    assert other.method_name == method and other.values[name] == 7
    if method == "sparse":
        assert other.psf.source == "FWHM (pixels)" and abs(other.psf.fwhm - 110 / 32) < 1e-9


def test_a_bad_parameter_file_changes_nothing(tmp_path):
    m = DeconvModel("rl")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"method": "rl_tv", "params": {"strength": -5}}))
    with pytest.raises(ValueError):
        m.load_params(path)
    assert m.method_name == "rl"


def test_fwhm_on_a_z_stack_says_2d_or_3d():
    m = DeconvModel("sparse_psf")
    m.set_image(ImageInfo((16, 64, 64), "ZYX", (200.0, 50.0, 50.0), "stack"))
    psf = m.resolved_psf()
    assert psf.dims == 2 and psf.array.ndim == 2
    assert "2-D PSF on a z-stack" in psf.text and "no axial deblurring" in psf.text
    m.set_psf(axial_fwhm=600.0)  # nm, with a 200 nm z step: 3 planes
    psf = m.resolved_psf()
    assert psf.dims == 3 and psf.array.ndim == 3 and "3-D PSF" in psf.text
    assert psf.record["dims"] == 3
    m.set_image(ImageInfo((16, 64, 64), "TYX", (None, 50.0, 50.0), "movie"))
    assert m.resolved_psf().dims == 2 and "z-stack" not in m.resolved_psf().text


def _stack(nz=16, ny=48, nx=48, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((nz, ny, nx), np.float32)
    x[nz // 2, ny // 2, nx // 2] = 4000
    x[nz // 2 - 2, 10, 30] = 3000
    from scipy.ndimage import gaussian_filter

    return rng.poisson(gaussian_filter(x, (2, 1.5, 1.5)) + 20).astype(np.float32)


def test_preview_of_a_3d_layer_with_a_9x9x9_psf_takes_the_planes_the_psf_needs():
    data = _stack()
    psf = gaussian_psf((9, 9, 9), (3.0, 2.0, 2.0))
    m = DeconvModel("sparse_psf")
    m.set_image(ImageInfo(data.shape, "ZYX", (None, None, None), "stack"))
    m.set_psf(source="PSF layer", array=psf, name="psf")
    m.set_params({"iterations": 3})
    job = J.preview_job(m, (10, 40, 12, 36), plane=8, token="stack")
    out = run(job.build(data))
    assert out.shape == (30, 24) and np.isfinite(out).all()
    assert "planes 4-12 (9 for the PSF)" in job.info["window"]
    # the whole-image estimates were made once and are reused by the next preview
    assert len(m._prep) == 1
    run(J.preview_job(m, (0, 20, 0, 20), plane=3, token="stack").build(data))
    assert len(m._prep) == 1


def test_preview_of_the_paper_pipeline_with_upsampling_keeps_the_roi():
    data = _stack()[8]
    m = DeconvModel("sparse")
    m.set_image(ImageInfo(data.shape, "YX", (None, None), "img"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params({"iterations": 2, "deconv_iterations": 1, "upsample": 2})
    out = run(J.preview_job(m, (8, 40, 4, 20)).build(data))
    assert out.shape == (64, 32)


def test_run_job_record_and_trust_checks_for_a_photon_method():
    data = _stack()[8]
    m = DeconvModel("rl_tv")
    m.set_image(ImageInfo(data.shape, "YX", (50.0, 50.0), "img"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params({"iterations": 4})
    m.checks.update(residual=True, hallucination=True, frc=True)
    job = J.run_job(m)
    out = run(job.build(data))
    assert out.result.shape == data.shape and out.report.residual.shape == data.shape
    assert out.report.frc_result is not None and out.report.frc_method == "checkerboard"
    rec = job.record(source="img")
    assert rec["method"] == "rl_tv" and rec["params"]["iterations"] == 4
    assert rec["psf"]["model"] == "gaussian" and rec["backend"] == "numpy"
    assert "camera" in rec["estimates"] and rec["version"]


def test_a_psf_layer_goes_into_the_record_whole_with_its_file_and_checksum():
    from napari_sparsedecon.algorithms.record import psf_from_record, psf_sha256

    data = _stack()[8]
    m = DeconvModel("rl")
    m.set_image(ImageInfo(data.shape, "YX", (None, None), "img"))
    psf = gaussian_psf((11, 11), 2.5)
    m.set_psf(source="PSF layer", array=psf, name="bead psf", layer_file="/data/psf.tif")
    m.set_params({"iterations": 2})
    job = J.run_job(m, with_checks=False)
    run(job.build(data))
    rec = json.loads(json.dumps(job.record(source="img")))  # plain JSON
    p = rec["psf"]
    assert p["model"] == "layer" and p["name"] == "bead psf" and p["file"] == "/data/psf.tif"
    np.testing.assert_array_equal(psf_from_record(p), psf.astype(np.float32))
    assert p["values_sha256"] == psf_sha256(psf) and p["dims"] == 2
    big = np.ones((48, 48, 48), np.float32) / 48**3  # too large to store: the checksum
    m.set_psf(array=big, layer_file=None)
    m.set_image(ImageInfo((48, 96, 96), "ZYX", (None, None, None), "vol"))
    p = m.record({}, m.resolved_psf())["psf"]
    assert "array" not in p and "array_omitted" in p and p["values_sha256"]


def test_sweep_job_over_any_schema_parameter():
    data = _stack()[8]
    m = DeconvModel("rl_tv")
    m.set_image(ImageInfo(data.shape, "YX", (None, None), "img"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params({"iterations": 2})
    assert "strength" in J.sweepable(m)
    job = J.sweep_job(m, (8, 40, 8, 40), {"strength": [0.005, 0.02], "iterations": [1, 2]})
    tiles = run(job.build(data))
    assert len(tiles) == 4 and tiles[0].image.shape == (32, 32)
    with pytest.raises(ValueError, match="cannot sweep"):
        J.sweep_job(m, (8, 40, 8, 40), {"fidelity": [1.0]})


def test_suggest_reads_the_in_focus_width_of_a_3d_psf_and_photon_methods_fit_the_camera():
    m = DeconvModel("sparse")
    data = _stack()
    m.set_image(ImageInfo(data.shape, "ZYX", (None, None, None), "stack"))
    psf = gaussian_psf((9, 9, 9), (6.0, 2.0, 2.0))
    m.set_psf(source="PSF layer", array=psf, name="psf")
    assert abs(m.resolved_psf().lateral_fwhm_px() - 2.0) < 0.1
    m.set_method("rl")
    assert J.can_suggest(m)
    vals, short, _ = run(J.suggest_job(m, (0, 48, 0, 48), plane=8).build(data))
    assert vals["gain"] > 0 and "gain" in short


def test_tiled_job_of_a_photon_method_equals_its_untiled_run(tmp_path):
    from napari_sparsedecon.dock.tiled import choose_path, tiled_job
    from napari_sparsedecon.io.axes import ImageAxes
    from napari_sparsedecon.io.ome_zarr import read_ome_zarr

    data = _stack(ny=96, nx=96)[8]
    m = DeconvModel("rl")
    m.set_image(ImageInfo(data.shape, "YX", (None, None), "img"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params({"iterations": 5, "stop": "none"})
    choice = choose_path(m, data.shape, memory_budget=2**19)
    assert choice.path == "tiled"
    dst = str(tmp_path / "out.zarr")
    out = run(tiled_job(m, choice, ImageAxes.default(2), dst).build(data))
    lazy, _ = read_ome_zarr(out)
    whole = run(J.run_job(m).build(data))
    inner = (slice(12, -12), slice(12, -12))  # the image's own edges are padded per block
    np.testing.assert_allclose(np.asarray(lazy)[inner], whole[inner],
                               atol=5e-3 * float(np.ptp(whole)))  # Biggs RL: seams ~2e-3


def test_the_model_imports_no_gui():
    code = ("import sys, napari_sparsedecon.dock, napari_sparsedecon.dock.jobs, "
            "napari_sparsedecon.dock.tiled\n"
            "print(sorted(m for m in ('qtpy', 'magicgui', 'napari') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_preview_of_a_4d_layer_solves_the_time_point_shown():
    data = np.stack([_stack(nz=6, seed=0), _stack(nz=6, seed=1) * 3])
    m = DeconvModel("rl")
    m.set_image(ImageInfo(data.shape, "TZYX", (None,) * 4, "tl"))
    m.set_psf(source="FWHM (pixels)", fwhm=3.0)
    m.set_params({"iterations": 2, "stop": "none"})
    a = run(J.preview_job(m, (0, 48, 0, 48), plane=3, time=0, token="tl").build(data))
    b = run(J.preview_job(m, (0, 48, 0, 48), plane=3, time=1, token="tl").build(data))
    assert a.shape == b.shape == (48, 48) and b.mean() > 2 * a.mean()
    assert len(m._prep) == 2  # one set of estimates per time point


def test_a_multi_view_run_in_the_dock_model_equals_the_library_and_records_the_views():
    """The image (view 1, its PSF from the PSF source) and a second view with its PSF
    layer: the run is deconvolve([...], psf=[...]); wrong shapes and methods say what to
    change."""
    from scipy.signal import fftconvolve

    from napari_sparsedecon import deconvolve
    from napari_sparsedecon.dock import ViewChoice

    rng = np.random.default_rng(2)
    truth = np.zeros((48, 48), np.float32)
    truth[rng.integers(6, 42, 15), rng.integers(6, 42, 15)] = 300.0
    p1, p2 = gaussian_psf(None, (6.0, 2.0)), gaussian_psf(None, (2.0, 6.0))
    v1, v2 = (rng.poisson(fftconvolve(truth, p, mode="same").clip(0) + 5).astype(np.float32)
              for p in (p1, p2))
    m = DeconvModel("rl_tv")
    m.set_image(ImageInfo(v1.shape, "YX", (None, None), "arm A"))
    m.set_psf(source="PSF layer", array=p1, name="psf A")
    m.set_params({"iterations": 6})
    m.set_views([ViewChoice("arm B", v2.shape, v2, p2, "psf B")])
    job = J.run_job(m)
    out = run(job.build(v1))
    ref = deconvolve([v1, v2], "rl_tv", psf=[p1, p2], backend="numpy", iterations=6)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * float(ref.max()))
    rec = json.loads(json.dumps(job.record(source="arm A")))
    assert rec["views"] == ["arm A", "arm B"] and len(rec["psf"]) == 2
    assert rec["psf"][1]["name"] == "psf B" and rec["estimates"]["views"] == 2
    # the tiled path is never taken: all views in memory, or a clear refusal
    from napari_sparsedecon.dock.tiled import choose_path

    assert choose_path(m, v1.shape, memory_budget=2**30).path == "in memory"
    with pytest.raises(MemoryError, match="all 2 views in memory"):
        choose_path(m, v1.shape, memory_budget=2**16)
    m.set_views([ViewChoice("small", (32, 32), v2[:32, :32], p2, "psf B")])
    with pytest.raises(ValueError, match="register and resample"):
        J.run_job(m)
    m.set_views([ViewChoice("arm B", v2.shape, v2, p2, "psf B")])
    m.set_method("sparse")
    with pytest.raises(ValueError, match="no multi-view form"):
        J.run_job(m)
