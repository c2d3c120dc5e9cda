"""`napari-sparsedecon presets` and `run --preset NAME`."""

import json

import numpy as np
import pytest
import tifffile

from napari_sparsedecon.cli import main


def _tiff(path, pixel_nm=38.23):
    img = (np.random.default_rng(0).poisson(50, size=(40, 40)) + 100).astype(np.uint16)
    if pixel_nm is None:
        tifffile.imwrite(path, img)
    else:
        tifffile.imwrite(path, img, imagej=True, resolution=(1 / pixel_nm, 1 / pixel_nm),
                         metadata={"unit": "nm"})
    return path


def _meta(path):
    with tifffile.TiffFile(path) as tf:
        return json.loads(tf.imagej_metadata["Info"])["napari_sparsedecon"]


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("2d-sim-actin", "tirf-sim-caveolae", "sd-sim-lysosome", "widefield",
                 "confocal", "airyscan"):
        assert name in out
    assert out.count("project (not published)") == 3
    assert main(["presets", "sd-sim-ccp"]) == 0
    one = capsys.readouterr().out
    assert "column 5" in one and "effective NA 2.5, emission 561 nm" in one


def test_unknown_preset_is_a_usage_error(tmp_path, capsys):
    assert main(["presets", "nope"]) == 2
    assert "known presets" in capsys.readouterr().err
    src = _tiff(tmp_path / "a.tif")
    assert main(["run", "--method", "sparse",
                 str(src), "--preset", "nope", "-o", str(tmp_path / "o.tif")]) == 2


def test_run_preset_fills_parameters_and_airy_psf_flags_override(tmp_path):
    src = _tiff(tmp_path / "a.tif")
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse", str(src), "--preset", "sd-sim-actin", "-o", str(out),
                 "--iterations", "6", "--deconv-iterations", "2"]) == 0
    m = _meta(out)
    p = m["params"]
    assert (p["fidelity"], p["sparsity"], p["continuity"]) == (40.0, 2.0, 0.4)
    assert p["background"] == "high/2.5" and p["deconv_method"] == "biggs"
    assert (p["iterations"], p["deconv_iterations"]) == (6, 2)  # explicit flags win
    assert m["psf"]["model"] == "airy" and m["psf"]["preset"] == "sd-sim-actin"
    assert m["psf"]["pixel_size_nm"] == pytest.approx(38.23, rel=1e-3)
    assert (m["psf"]["effective_na"], m["psf"]["wavelength_nm"]) == (2.5, 488.0)


def test_run_preset_with_explicit_psf_fwhm_uses_it(tmp_path):
    src = _tiff(tmp_path / "a.tif", pixel_nm=None)  # no pixel size: fine with a PSF in px
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "--preset", "confocal", "--psf-fwhm-px", "2", "-o",
                 str(out), "--iterations", "4", "--deconv-iterations", "1"]) == 0
    m = _meta(out)
    p = m["params"]
    assert m["psf"]["model"] == "gaussian" and p["fidelity"] == 50.0


def test_run_preset_without_pixel_size_says_how_to_set_it(tmp_path, capsys):
    src = _tiff(tmp_path / "a.tif", pixel_nm=None)
    assert main(["run", "--method", "sparse",
                 str(src), "--preset", "airyscan", "-o", str(tmp_path / "o.tif"),
                 "--iterations", "2"]) == 1
    err = capsys.readouterr().err
    assert "Airy PSF is made at the file's pixel size" in err and "--psf-fwhm-px" in err


def test_preset_and_a_partial_params_file_merge_key_by_key(tmp_path):
    """Issue 25 item 3: `--preset NAME --params partial.json` dropped the preset (the file
    replaced its values wholesale). The file's keys override only those keys; explicit
    flags override both."""
    src = _tiff(tmp_path / "a.tif")
    pfile = tmp_path / "partial.json"
    pfile.write_text(json.dumps({"iterations": 6, "sparsity": 3.0}))
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "--preset", "sd-sim-actin", "--params", str(pfile),
                 "--deconv-iterations", "2", "-o", str(out)]) == 0
    m = _meta(out)
    p = m["params"]
    assert (p["iterations"], p["sparsity"]) == (6, 3.0)  # from the file
    assert (p["fidelity"], p["continuity"]) == (40.0, 0.4)  # the preset's, kept
    assert p["background"] == "high/2.5" and p["deconv_method"] == "biggs"
    assert p["deconv_iterations"] == 2  # the flag
    assert m["psf"]["preset"] == "sd-sim-actin"


def test_a_params_file_without_a_preset_still_fills_the_defaults(tmp_path):
    src = _tiff(tmp_path / "a.tif")
    pfile = tmp_path / "partial.json"
    pfile.write_text(json.dumps({"fidelity": 90.0, "iterations": 4, "deconv_iterations": 1,
                                 "psf_fwhm_px": 2.0}))
    out = tmp_path / "o.tif"
    assert main(["run", "--method", "sparse",
                 str(src), "--params", str(pfile), "-o", str(out)]) == 0
    m = _meta(out)
    p = m["params"]
    assert (p["fidelity"], p["iterations"], p["sparsity"]) == (90.0, 4, 10.0)


@pytest.mark.parametrize("method", ["rl", "sparse_psf"])
def test_run_preset_gives_any_method_the_airy_psf_and_keeps_its_parameters(tmp_path,
                                                                          method):
    src = _tiff(tmp_path / "a.tif")
    out = tmp_path / "o.tif"
    assert main(["run", "--method", method, str(src), "--preset", "sd-sim-actin", "-o",
                 str(out), "--iterations", "3"]) == 0
    m = _meta(out)
    assert m["method"] == method and m["params"]["iterations"] == 3
    assert "fidelity" not in m["params"]  # the paper pipeline's values do not leak in
    assert m["psf"]["model"] == "airy" and m["psf"]["preset"] == "sd-sim-actin"
    assert m["psf"]["pixel_size_nm"] == pytest.approx(38.23, rel=1e-3)
    assert (m["psf"]["effective_na"], m["psf"]["wavelength_nm"]) == (2.5, 488.0)
    # an explicit PSF wins; without a pixel size the error says what to give
    out2 = tmp_path / "o2.tif"
    assert main(["run", "--method", method, str(src), "--preset", "sd-sim-actin",
                 "--psf-fwhm-px", "2", "-o", str(out2), "--iterations", "2"]) == 0
    assert _meta(out2)["psf"]["model"] == "gaussian"


def test_run_preset_on_another_method_without_pixel_size_says_how(tmp_path, capsys):
    src = _tiff(tmp_path / "a.tif", pixel_nm=None)
    assert main(["run", "--method", "rl", str(src), "--preset", "airyscan", "-o",
                 str(tmp_path / "o.tif"), "--iterations", "2"]) == 1
    err = capsys.readouterr().err
    assert "Airy PSF is made at the file's pixel size" in err and "--psf" in err
    assert not (tmp_path / "o.tif").exists()
