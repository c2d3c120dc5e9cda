"""The preset combo box of the deconvolution dock: with the paper pipeline it fills every
control and the Airy PSF."""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon import presets  # noqa: E402
from napari_sparsedecon._widgets.deconv import AIRY, SparseDeconWidget  # noqa: E402

pytestmark = pytest.mark.gui


def _widget(viewer, scale=(0.094, 0.094), units=("um", "um")):
    img = np.random.default_rng(0).poisson(50, (48, 40)).astype(np.float32)
    kw = {"scale": scale, "units": units} if scale else {}
    layer = viewer.add_image(img, name="cell", **kw)
    return dock(viewer, SparseDeconWidget(viewer), layer), layer


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sd-sim-tubulin", "tirf-sim-caveolae", "confocal"])
def test_preset_values_land_in_the_controls(make_napari_viewer, name):
    viewer = make_napari_viewer()
    w, layer = _widget(viewer)
    pr = presets.get_preset(name)
    w.method.value = "sparse"
    w.preset.value = name  # as a user choosing it in the combo box
    q = pr.params
    assert w.fidelity.value == pytest.approx(q["fidelity"])
    assert w.sparsity.value == pytest.approx(q["sparsity"])
    assert w.continuity.value == pytest.approx(q["continuity"])
    assert w.iterations.value == q["iterations"]
    assert w.background.value == q["background"]
    assert w.deconv_method.value == q["deconv_method"]
    assert w.deconv_iterations.value == q["deconv_iterations"]
    assert w.psf_source.value == AIRY
    assert not w.eff_na.native.isHidden() and w.fwhm.native.isHidden()  # shown when docked
    assert (w.eff_na.value, w.wavelength.value) == (pr.effective_na, pr.wavelength_nm)
    assert pr.reference in w.preset_info.value and not w.preset_info.native.isHidden()
    # what the widget runs is exactly the API's preset: parameters and PSF at 94 nm
    assert w.method.value == "sparse"
    psf = w.resolved_psf()
    p = w.model.job_params(psf)
    kw = presets.preset_params(name, 94.0, quantitative=p["quantitative"])
    ref_psf = kw.pop("psf")
    np.testing.assert_allclose(psf.array, ref_psf, rtol=1e-5)
    assert p == kw
    assert "Airy" in w.psf_info.value and "94 nm/pixel" in w.psf_info.value


@pytest.mark.slow
def test_preset_on_a_layer_without_pixel_size_says_how_to_set_it(make_napari_viewer):
    viewer = make_napari_viewer()
    w, layer = _widget(viewer, scale=None)
    w.preset.value = "airyscan"
    assert "has no pixel size" in w.preset_info.value
    w.run()
    assert "scale and units" in w.status.value and len(viewer.layers) == 1


@pytest.mark.slow
def test_preset_run_records_the_preset(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w, layer = _widget(viewer)
    w.method.value = "sparse"
    w.preset.value = "sd-sim-actin"
    w.iterations.value, w.deconv_iterations.value = 3, 1  # edits override the preset
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=30000)
    meta = viewer.layers[-1].metadata["napari_sparsedecon"]
    assert meta["preset"] == "sd-sim-actin" and meta["params"]["iterations"] == 3
    assert meta["params"]["fidelity"] == 40.0 and meta["psf"]["model"] == "airy"
    assert meta["psf"]["text"].startswith("Airy")
