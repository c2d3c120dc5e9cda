"""The per-method commands (rl, rl_tv, sparse_psf, ...): generated from the registry,
with the input's axes, pixel sizes and every parameter used in the output."""

import json

import numpy as np
import pytest
import tifffile

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms.registry import get_method, methods
from napari_sparsedecon.cli import build_parser, main
from napari_sparsedecon.core.phantom import make_phantom
from napari_sparsedecon.io.axes import ImageAxes
from napari_sparsedecon.io.tiff import read_tiff, write_tiff


def _noisy(seed=3, photons=60, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    ph = make_phantom((160, 160), photons=photons, background_photons=12, read_noise=1.5,
                      seed=seed)
    y = rng.poisson(np.clip(ph.blurred + ph.background, 0, None)) + rng.normal(0, 1.5,
                                                                                ph.blurred.shape)
    return y[: shape[0], : shape[1]].astype(np.float32)


def _meta(path):
    _, info = read_tiff(path)
    return info["metadata"]


def test_run_has_every_method_with_its_schema_flags_and_aliases_expand_to_it():
    from napari_sparsedecon.cli import _expand_alias

    for name in methods():
        ap = build_parser(name)
        sub = next(a for a in ap._actions if a.dest == "command")
        run = sub.choices["run"]
        dests = {a.dest for a in run._actions}
        assert {p.name for p in get_method(name).schema} - {"psf_fwhm_px"} <= dests
        method = next(a for a in run._actions if a.dest == "method")
        assert name in method.choices
        if name != "sparse":  # a method's own command is an alias of run --method
            assert name in sub.choices
            assert _expand_alias([name, "a.tif"]) == ["run", "--method", name, "a.tif"]
    assert _expand_alias(["sparse", "a.tif"]) == ["sparse", "a.tif"]


def test_sparse_psf_command_keeps_pixel_size_and_records_what_it_estimated(tmp_path):
    src = tmp_path / "cell.tif"
    write_tiff(src, _noisy(), image_axes=ImageAxes("YX", (32.0, 32.0), ("nm", "nm")))
    dst = tmp_path / "out.tif"
    assert main(["sparse_psf", str(src), "-o", str(dst), "--psf-fwhm-px", "3.44",
                 "--iterations", "5", "--strength", "0.01"]) == 0
    out, info = read_tiff(dst)
    assert out.shape == (64, 64) and np.isfinite(out).all()
    assert info["image_axes"].units[-1] in ("nm", "um")
    assert info["image_axes"].scale[-1] == pytest.approx(
        32.0 if info["image_axes"].units[-1] == "nm" else 0.032)
    meta = info["metadata"]
    assert meta["method"] == "sparse_psf"
    assert meta["params"]["strength"] == 0.01 and meta["params"]["iterations"] == 5
    assert meta["psf"]["fwhm_px"] == [3.44] and meta["psf"]["model"] == "gaussian"
    est = meta["estimates"]
    assert est["background"] == "estimated smooth map" and "gain" in est["camera"]
    json.dumps(meta)  # plain JSON all the way


def test_channels_are_deconvolved_independently(tmp_path):
    a, b = _noisy(3), _noisy(4) * 3
    src = tmp_path / "two.tif"
    write_tiff(src, np.stack([a, b]), image_axes=ImageAxes("CYX"))
    dst = tmp_path / "two_out.tif"
    assert main(["rl_tv", str(src), "-o", str(dst), "--psf-fwhm-px", "3.44",
                 "--iterations", "5"]) == 0
    out, info = read_tiff(dst)
    assert "C" in info["image_axes"].axes and out.shape == (2, 64, 64)
    alone = nsd.deconvolve(b, "rl_tv", psf_fwhm_px=3.44, iterations=5)
    np.testing.assert_allclose(out[1], alone, rtol=1e-5, atol=1e-5 * alone.max())
    assert len(info["metadata"]["estimates"]) == 2  # one record per channel


def test_rl_command_uses_the_stopping_rule_not_30_biggs_iterations(tmp_path):
    src = tmp_path / "cell.tif"
    write_tiff(src, _noisy(photons=300), image_axes=ImageAxes("YX"))
    dst = tmp_path / "rl.tif"
    assert main(["rl", str(src), "-o", str(dst), "--psf-fwhm-px", "3.44"]) == 0
    meta = _meta(dst)
    assert meta["params"]["stop"] == "split"
    assert meta["estimates"]["iterations_run"] < meta["params"]["iterations"]
    assert meta["estimates"]["stop_choice"]["chosen"] == meta["estimates"]["iterations_run"]


@pytest.mark.parametrize("flags, word", [(["--strength", "-1"], "strength"),
                                         (["--iterations", "0"], "iterations"),
                                         (["--resolution", "3"], "resolution")])
def test_bad_values_exit_2_naming_the_parameter_and_write_nothing(tmp_path, capsys, flags,
                                                                  word):
    src = tmp_path / "cell.tif"
    tifffile.imwrite(src, _noisy())
    dst = tmp_path / "o.tif"
    assert main(["sparse_psf", str(src), "-o", str(dst), "--psf-fwhm-px", "3"] + flags) == 2
    assert word in capsys.readouterr().err
    assert not dst.exists()


def test_aspect_comes_from_the_files_z_step(tmp_path):
    vol = np.random.default_rng(0).poisson(20, (6, 32, 32)).astype(np.float32)
    src = tmp_path / "vol.tif"
    write_tiff(src, vol, image_axes=ImageAxes("ZYX", (300.0, 100.0, 100.0),
                                              ("nm", "nm", "nm")))
    dst = tmp_path / "vol_out.tif"
    assert main(["sparse_psf", str(src), "-o", str(dst), "--psf-fwhm-px", "2.5",
                 "--iterations", "2"]) == 0
    meta = _meta(dst)
    assert meta["params"]["aspect"] == pytest.approx(3.0)
    assert "from the file" in meta["aspect_note"]
    dst2 = tmp_path / "vol_out2.tif"
    assert main(["sparse_psf", str(src), "-o", str(dst2), "--psf-fwhm-px", "2.5",
                 "--iterations", "2", "--aspect", "2"]) == 0
    assert _meta(dst2)["params"]["aspect"] == 2.0  # given: kept


def test_time_lapse_of_volumes_runs_volume_by_volume(tmp_path):
    rng = np.random.default_rng(1)
    vol = rng.poisson(30, (2, 6, 24, 24)).astype(np.float32)
    src = tmp_path / "tz.tif"
    write_tiff(src, vol, image_axes=ImageAxes("TZYX", (2.0, 0.3, 0.1, 0.1),
                                              ("s", "um", "um", "um")))
    dst = tmp_path / "tz_out.tif"
    assert main(["rl_tv", str(src), "-o", str(dst), "--psf-fwhm-px", "3", "2",
                 "--iterations", "3"]) == 0
    out, info = read_tiff(dst)
    assert info["image_axes"].axes == "TZYX" and out.shape == vol.shape
    alone = nsd.deconvolve(vol[1], "rl_tv", psf=nsd.gaussian_psf(None, (3.0, 2.0)),
                           iterations=3, aspect=3.0)
    np.testing.assert_allclose(out[1], alone, rtol=1e-5, atol=1e-5 * alone.max())
    assert len(info["metadata"]["estimates"]) == 2


def test_time_lapse_of_volumes_with_t_continuity_is_one_problem_per_channel(tmp_path):
    """(T, Z, C, Y, X) with --t-continuity: each channel is one (T, Z, Y, X) problem
    coupled in time (the same as the library's call on that channel); channels are never
    mixed."""
    rng = np.random.default_rng(2)
    vol = rng.poisson(30, (3, 16, 2, 24, 24)).astype(np.float32)  # ImageJ order TZCYX
    vol[:, :, 1] *= 4
    src = tmp_path / "tzcyx.tif"
    write_tiff(src, vol, image_axes=ImageAxes("TZCYX", (2.0, 0.3, 1.0, 0.1, 0.1),
                                              ("s", "um", None, "um", "um")))
    dst = tmp_path / "tzcyx_out.tif"
    assert main(["sparse_psf", str(src), "-o", str(dst), "--psf-fwhm-px", "3", "2", "2",
                 "--iterations", "3", "--t-continuity", "1.5"]) == 0
    out, info = read_tiff(dst)
    assert info["image_axes"].axes == "TZCYX" and out.shape == vol.shape
    psf = nsd.gaussian_psf(None, (3.0, 2.0, 2.0))
    for c in range(2):
        alone = nsd.deconvolve(vol[:, :, c], "sparse_psf", psf=psf, iterations=3,
                               aspect=3.0, t_continuity=1.5)
        np.testing.assert_allclose(out[:, :, c], alone, rtol=1e-5, atol=1e-5 * alone.max())
    est = info["metadata"]["estimates"]
    assert len(est) == 2  # one record per channel, not per time point
    assert [e["channel"] for e in est] == [0, 1] and all(e["time"] is None for e in est)
    assert info["metadata"]["params"]["t_continuity"] == 1.5
