"""Bad inputs outside the algorithms give clear errors, not raw crashes (issue 16, item 6)."""

import math

import numpy as np
import pytest

from napari_sparsedecon.analysis.beads import measure_psf
from napari_sparsedecon.psf import models as psf_models
from napari_sparsedecon.psf.basic import gaussian_psf


def _beads(nz=None):
    img = np.full((64, 64), 10.0)
    for y, x in [(16, 16), (16, 46), (46, 16), (46, 46)]:
        img[y - 4:y + 5, x - 4:x + 5] += gaussian_psf((9, 9), 2.5) * 5000
    return img if nz is None else np.repeat(img[None], nz, 0)


@pytest.mark.parametrize("kw", [
    {"shape": None, "fwhm_px": 1e6},            # 84 TiB
    {"shape": None, "fwhm_px": 1e4},            # > 13 GiB
    {"shape": (99_999, 99_999), "fwhm_px": 2.0},
    {"shape": (10_001, 10_001, 10_001), "fwhm_px": 2.0},
])
def test_huge_gaussian_psf_is_refused_before_allocation(kw):
    with pytest.raises(MemoryError, match="would need"):
        gaussian_psf(kw["shape"], kw["fwhm_px"])


def test_gaussian_psf_bad_shape_values():
    with pytest.raises(ValueError, match="odd"):
        gaussian_psf((0, 5), 2.0)
    with pytest.raises(ValueError, match="fwhm_px"):
        gaussian_psf(None, math.nan)


@pytest.mark.parametrize("na", [0, -1.0, math.nan, 1.6])
def test_theoretical_fwhm_refuses_bad_na(na):
    with pytest.raises(ValueError, match="na|NA"):
        psf_models.theoretical_fwhm_nm(na, 520)


def test_theoretical_fwhm_refuses_bad_wavelength():
    with pytest.raises(ValueError, match="wavelength"):
        psf_models.theoretical_fwhm_nm(1.4, 0)


@pytest.mark.parametrize("name", ["coverslip_um", "coverslip_design_um",
                                  "immersion_design_um"])
@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf])
def test_gibson_lanni_refuses_nan_and_negative_thicknesses(name, value):
    with pytest.raises(ValueError, match=name):
        psf_models.gibson_lanni_psf(na=1.4, wavelength_nm=520, pixel_nm=65, three_d=False,
                                    **{name: value})


def test_bead_measurement_needs_enough_planes():
    with pytest.raises(ValueError, match="planes|at least"):
        measure_psf(_beads(nz=3))


@pytest.mark.parametrize("pos", [[(100, 100)], [(20,)], [(-20, 20)], [(20, 20, 20)],
                                 [(math.nan, 20)]])
def test_bead_positions_out_of_range_are_refused(pos):
    with pytest.raises(ValueError, match="position"):
        measure_psf(_beads(), positions=pos)


@pytest.mark.parametrize("d", [-100.0, math.nan])
def test_bead_diameter_must_be_non_negative(d):
    with pytest.raises(ValueError, match="bead_diameter_nm"):
        measure_psf(_beads(), bead_diameter_nm=d, scale_nm=(65, 65))


# -- found by tests/api/test_properties.py ----------------------------------------------
@pytest.mark.parametrize("method", ["rl", "rl_tv", "sparse_psf"])
@pytest.mark.parametrize("scale", [1e20, 1e36])
def test_photon_methods_work_at_any_data_scale(method, scale):
    """Images of huge values overflowed float32 squares in the noise fit and the
    likelihoods (RuntimeWarnings, non-finite results); they are now fitted at a
    power-of-two scale and the result comes back in the input's units."""
    import napari_sparsedecon as nsd

    img = np.random.default_rng(0).poisson(20, (16, 16)).astype(np.float32)
    ref = nsd.deconvolve(img, method, psf_fwhm_px=1.5, iterations=3)
    out = nsd.deconvolve(img * np.float32(scale), method, psf_fwhm_px=1.5, iterations=3)
    assert np.isfinite(out).all()
    # in the input's units (the noise fit of a 16x16 image falls back to gain 1, so the
    # photon level and with it the weights differ: compare orders of magnitude only)
    level = float(np.mean(out, dtype=np.float64)) / scale
    assert 0.1 * float(ref.mean()) < level < 10 * float(img.mean())


def test_photon_methods_refuse_counts_beyond_float32():
    import napari_sparsedecon as nsd

    img = np.random.default_rng(0).poisson(20, (16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="photo-electrons.*gain"):
        nsd.deconvolve(img * 1e8, "rl", psf_fwhm_px=1.5, iterations=2, gain=1e-6)


@pytest.mark.parametrize("kw, word", [
    ({"shape": False}, "shape"), ({"shape": 7}, "shape"), ({"shape": (7.5, 7)}, "shape"),
    ({"shape": ("7", 7)}, "shape"), ({"shape": None, "ndim": ""}, "ndim"),
    ({"shape": None, "ndim": 4}, "ndim"), ({"shape": None, "ndim": True}, "ndim"),
])
def test_gaussian_psf_bad_shape_and_ndim_name_them(kw, word):
    """Found by the property tests: raw TypeErrors from inside ("'bool' object is not
    iterable", "can't multiply sequence by non-int of type 'str'")."""
    with pytest.raises((TypeError, ValueError), match=word):
        gaussian_psf(fwhm_px=2.0, **kw)


@pytest.mark.parametrize("fn", ["richardson_lucy", "sparse_hessian"])
@pytest.mark.parametrize("n", [10**9, 10_001])
def test_core_functions_refuse_unbounded_iterations(fn, n):
    """Issue 16 item 9: richardson_lucy(iterations=10**9) started a run that could not end
    (the registered methods already stopped at 10 000)."""
    import napari_sparsedecon as nsd

    img = np.random.default_rng(0).poisson(20, (16, 16)).astype(np.float32)
    args = (img, gaussian_psf((5, 5), 2.0)) if fn == "richardson_lucy" else (img,)
    with pytest.raises(ValueError, match="iterations must be <= 10000"):
        getattr(nsd, fn)(*args, iterations=n)


def test_values_beyond_float32_are_refused_cleanly():
    """Found by the property tests: float64 data above the float32 range warned
    ("overflow encountered in cast") before the NaN/Inf refusal."""
    from napari_sparsedecon.core.richardson_lucy import richardson_lucy

    img = np.full((8, 8), 1e39)
    with pytest.raises(ValueError, match="image"):
        richardson_lucy(img, gaussian_psf((3, 3), 1.0), iterations=1)


@pytest.mark.parametrize("bg", ["", "abc", [1, 2], None])
def test_richardson_lucy_bad_background_names_it(bg):
    from napari_sparsedecon.core.richardson_lucy import richardson_lucy

    img = np.ones((8, 8))
    with pytest.raises((TypeError, ValueError), match="background"):
        richardson_lucy(img, gaussian_psf((3, 3), 1.0), iterations=1, background=bg)
