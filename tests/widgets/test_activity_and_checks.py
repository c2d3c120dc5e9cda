"""A dock's jobs also show in napari's activity panel (a napari.utils.progress bar, closed
however the job ends), the trust checks end in a verdict in words under the run's status
with the numbers behind a "details" toggle, and the sweep montage is fitted to the view
with its labels in a strip along the top of each tile."""

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402
from napari.utils import progress  # noqa: E402

from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.sweep import LABELS_NAME, MONTAGE_NAME  # noqa: E402
from napari_sparsedecon.core.phantom import make_phantom  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture
def phantom_dock(make_napari_viewer):
    viewer = make_napari_viewer()
    ph = make_phantom((160, 160), photons=400, seed=4)
    layer = viewer.add_image(ph.noisy.astype(np.float32), name="ph", scale=(0.032, 0.032),
                             units=("um", "um"))
    viewer.add_shapes([[[40, 40], [40, 120], [120, 120], [120, 40]]], shape_type="rectangle",
                      name="roi", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    w.fwhm.value = 110.0
    w.iterations.value, w.deconv_iterations.value = 10, 5
    return viewer, w, layer


@pytest.mark.slow
def test_a_run_has_a_bar_in_the_activity_panel_closed_when_it_ends(phantom_dock, qtbot):
    _, w, _ = phantom_dock
    worker = w.run()
    bar = worker.activity
    assert bar is not None and bar.bar in progress._all_instances  # the panel lists it
    assert "sparse" in bar.bar.desc and "'ph'" in bar.bar.desc
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    assert bar.closed and bar.bar not in progress._all_instances
    assert bar.bar.n == bar.bar.total  # full: the run returned


@pytest.mark.slow
def test_a_cancelled_sweep_closes_its_activity_bar(phantom_dock, qtbot):
    _, w, _ = phantom_dock
    w.iterations.value = 300
    sw = w.sweep
    worker = sw.run()
    bar = worker.activity
    assert not bar.closed and "sweep" in bar.bar.desc
    sw.cancel()
    qtbot.waitUntil(lambda: sw._worker is None, timeout=60000)
    assert bar.closed and bar.bar not in progress._all_instances


@pytest.mark.slow
def test_trust_checks_end_in_a_verdict_with_the_numbers_behind_a_toggle(phantom_dock, qtbot,
                                                                        monkeypatch):
    from napari_sparsedecon._widgets._layers import pending_steps
    from napari_sparsedecon.dock.checks import verdict

    viewer, w, _ = phantom_dock
    toasts = []
    for kind in ("show_info", "show_warning"):
        monkeypatch.setattr(f"napari_sparsedecon._widgets._run.{kind}", toasts.append)
    w.check_residual.value = w.check_hallucination.value = w.check_convergence.value = True
    w.run()
    qtbot.waitUntil(lambda: w._worker is None, timeout=60000)
    qtbot.waitUntil(lambda: pending_steps() == 0, timeout=5000)
    result = viewer.layers["ph sparse"]
    assert viewer.layers.selection.active is result  # not the checks' helper layers
    text = w.trust_verdict.value
    assert not w.trust_verdict.native.isHidden() and text
    assert "far from convergence" in text and "more iterations" in text  # 10 iterations
    assert "rms" not in text and "sigma" not in text  # words, not the numbers
    assert text.count(". ") <= 2  # at most three sentences
    details = w.details_section
    assert not details.expanded and details.body.native.isHidden()  # behind the toggle
    assert "residual: offset" in w.trust_details.value  # the numbers, there
    assert result.metadata["napari_sparsedecon"]["trust"] == w.trust_details.value
    assert any(text in t for t in toasts)  # the toast is the verdict, not the numbers
    assert w.status.value.startswith("done")
    from napari_sparsedecon.analysis.trust import TrustReport

    assert verdict(TrustReport()) != text


@pytest.mark.slow
def test_the_sweep_montage_is_fitted_to_the_view(phantom_dock, qtbot):
    from napari_sparsedecon._widgets._fit import camera_of, world_box
    from napari_sparsedecon.analysis.sweep import LABEL_SHARE, LINE_H

    viewer, w, layer = phantom_dock
    camera_of(viewer).zoom *= 6  # zoomed in on the image before the sweep
    w.iterations.value, w.deconv_iterations.value = 2, 1
    sw = w.sweep
    sw.param1.value, sw.values1.value = "fidelity", "50, 100, 200, 400"
    sw.param2.value, sw.values2.value = "sparsity", "1, 5, 10, 20"
    sw.run()
    qtbot.waitUntil(lambda: sw._worker is None and LABELS_NAME in viewer.layers,
                    timeout=60000)
    qtbot.wait(50)
    ml = viewer.layers[MONTAGE_NAME]
    cam = camera_of(viewer)
    half = np.asarray(viewer.canvas.size, float)[-2:] / (2 * cam.zoom)
    centre = np.asarray(cam.center)[-2:]
    lo, hi = world_box(ml)
    assert np.all(lo >= centre - half - 1e-9) and np.all(hi <= centre + half + 1e-9)
    assert np.max((hi - lo) / (2 * half)) > 0.8  # and it fills the view
    pl = viewer.layers[LABELS_NAME]
    tile_h = 80 * 0.032 * cam.zoom  # an 80 px tile on screen
    for t in pl.features["label"]:  # each label in a strip along its tile's top
        assert (t.count("\n") + 1) * LINE_H * float(pl.text.size) <= LABEL_SHARE * tile_h
