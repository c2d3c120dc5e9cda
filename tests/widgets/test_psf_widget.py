import json
import math

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui


def _beads(rng, shape=(200, 200), fwhm=3.0):
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    img = np.full(shape, 100.0)
    for y in range(25, shape[0] - 20, 35):
        for x in range(25, shape[1] - 20, 35):
            y0, x0 = y + rng.uniform(-0.5, 0.5), x + rng.uniform(-0.5, 0.5)
            img += 4000 / (2 * np.pi * sigma**2) * np.exp(-((yy - y0) ** 2 + (xx - x0) ** 2)
                                                           / (2 * sigma**2))
    return rng.poisson(img).astype(np.uint16)


def _generate(w, qtbot):
    """Generate in the widget's worker; the new layer, or None on an error."""
    viewer = w._viewer
    n = len(viewer.layers)
    if w.generate() is None:
        return None
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    return viewer.layers[-1] if len(viewer.layers) > n else None


@pytest.mark.slow
def test_generate_each_model(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = PSFWidget(viewer)
    for model in w.model.choices:
        w.model.value = model
        w.dims.value = "2-D"
        layer = _generate(w, qtbot)
        assert layer is not None, w.status.value
        assert layer.data.ndim == 2 and abs(float(layer.data.sum()) - 1) < 1e-4
        np.testing.assert_allclose(layer.scale, (0.065, 0.065))
    w.model.value = "Born-Wolf (widefield)"
    w.dims.value = "3-D"
    layer = _generate(w, qtbot)
    assert layer.data.ndim == 3
    np.testing.assert_allclose(layer.scale, (0.2, 0.065, 0.065))


@pytest.mark.slow
def test_generate_bad_optics_reports(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = PSFWidget(viewer)
    w.model.value = "Born-Wolf (widefield)"
    w.na.value = 1.6
    w.n_imm.value = 1.33
    n = len(viewer.layers)
    assert _generate(w, qtbot) is None
    assert "below" in w.status.value and len(viewer.layers) == n


@pytest.mark.slow
def test_3d_psf_opens_at_focus_and_saves_with_optics(make_napari_viewer, qtbot, tmp_path):
    from napari_sparsedecon.io.tiff import read_tiff

    viewer = make_napari_viewer()
    w = PSFWidget(viewer)
    w.model.value = "Gaussian (FWHM)"
    w.dims.value = "3-D"
    w.z_step.value = 100.0
    layer = _generate(w, qtbot)
    assert layer.data.ndim == 3
    focus = int(np.argmax(layer.data.max(axis=(1, 2))))
    assert focus > 0
    shown = viewer.dims.point[0]  # the plane on screen is the focus, not the dark edge
    assert int(round(layer.world_to_data([shown, 0, 0])[0])) == focus
    assert w.save_psf_button.enabled
    w.save_psf_in_worker(tmp_path / "gen.tif")  # what the button's dialog calls
    qtbot.waitUntil(lambda: w._save_worker is None, timeout=30000)
    assert "PSF saved to" in w.status.value
    data, info = read_tiff(tmp_path / "gen.tif")
    np.testing.assert_allclose(data, layer.data, rtol=1e-6)
    np.testing.assert_allclose(info["scale"], (0.1, 0.065, 0.065), rtol=1e-6)
    assert info["metadata"]["psf_model"] == layer.metadata["napari_sparsedecon"]["psf_model"]
    assert info["metadata"]["scale_nm"] == [100.0, 65.0, 65.0]


def test_3d_psf_leaves_the_sliders_alone(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((30, 32, 32), np.float32), name="stack", scale=(0.1, 0.065, 0.065),
                     units=("um",) * 3)
    viewer.dims.set_point(0, 2.0)  # the user looks at plane 20
    w = PSFWidget(viewer)
    w.model.value = "Gaussian (FWHM)"
    w.dims.value = "3-D"
    w.z_step.value = 100.0
    layer = _generate(w, qtbot)
    assert viewer.dims.point[0] == pytest.approx(2.0)  # still plane 20 of the stack
    focus = int(np.argmax(layer.data.max(axis=(1, 2))))
    assert int(round(layer.world_to_data([2.0, 0, 0])[0])) == focus  # the PSF's focus shown


@pytest.mark.slow
def test_pixel_size_from_a_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    img = viewer.add_image(np.zeros((4, 16, 16), np.float32), name="stack",
                           scale=(0.25, 0.04, 0.04), units=("um", "um", "um"))
    w = PSFWidget(viewer)
    w.pixel_from.reset_choices()
    w.pixel_from.value = img
    assert w.pixel.value == pytest.approx(40.0) and w.z_step.value == pytest.approx(250.0)
    plain = viewer.add_image(np.zeros((16, 16), np.float32), name="plain")
    w.pixel_from.reset_choices()
    w.pixel_from.value = plain
    assert "no physical pixel size" in w.status.value and w.pixel.value == pytest.approx(40.0)


@pytest.mark.slow
def test_measure_beads_layer_points_and_saving(make_napari_viewer, qtbot, tmp_path, rng):
    viewer = make_napari_viewer()
    layer = viewer.add_image(_beads(rng), name="beads", scale=(0.065, 0.065),
                             units=("um", "um"))
    w = PSFWidget(viewer)
    w.beads.reset_choices()
    w.beads.value = layer
    w.na.value, w.wavelength.value = 1.4, 520.0
    assert w.measure() is not None
    qtbot.waitUntil(lambda: w._worker is None, timeout=30000)
    assert w.report is not None and w.report.n_used >= 10
    psf = viewer.layers["PSF measured"]
    assert abs(float(psf.data.sum()) - 1) < 1e-4
    np.testing.assert_allclose(psf.scale, layer.scale)
    # the bead markers come a turn after the PSF layer (one layer add per turn)
    qtbot.waitUntil(lambda: any(ly.name.startswith("beads (") for ly in viewer.layers),
                    timeout=5000)
    pts = [ly for ly in viewer.layers if ly.name.startswith("beads (")][0]
    assert len(pts.data) == len(w.report.beads)
    assert viewer.layers.selection.active is psf  # the markers never take the controls
    assert w.table.shape == (len(w.report.beads), len(w.report.table()[0]))
    assert w.table.column_headers[:2] == ("bead", "status")
    assert "beads used" in w.status.value and "rejected:" in w.status.value
    w.save_psf(tmp_path / "psf.tif")
    w.save_report(tmp_path / "r.csv")
    w.save_report(tmp_path / "r.json")
    from napari_sparsedecon.io.tiff import read_tiff

    data, info = read_tiff(tmp_path / "psf.tif")
    np.testing.assert_allclose(info["scale"], (0.065, 0.065), rtol=1e-6)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["summary"]["beads_used"] == w.report.n_used
    assert (tmp_path / "r.csv").read_text().startswith("bead,status")


@pytest.mark.slow
def test_measure_without_beads_reports_error(make_napari_viewer, qtbot, rng):
    viewer = make_napari_viewer()
    layer = viewer.add_image(rng.poisson(100, (64, 64)).astype(np.uint16), name="empty")
    w = PSFWidget(viewer)
    w.beads.reset_choices()
    w.beads.value = layer
    assert w.measure() is not None
    # wait on the widget's state: the worker may finish before a signal wait could connect
    qtbot.waitUntil(lambda: w._worker is None, timeout=30000)
    assert "no beads found" in w.status.value
