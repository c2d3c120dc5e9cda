"""The event loop keeps running during a whole-layer run, PSF generation and a sweep's
labels' first paint.

These tests check the mechanism, never a duration (a duration depends on the machine
and its load): the computation runs in a worker thread while the GUI thread goes on
handling events, its result comes back on the GUI thread, and the glyphs of the
labels are cached before the labels are drawn. The longest stall of each action, in
milliseconds, is measured by ``benchmarks/gui_stalls.py``.
"""

import threading

import numpy as np
import pytest

pytest.importorskip("napari")

from _helpers import dock  # noqa: E402

from napari_sparsedecon._widgets._layers import canvas_font, prewarm_imports  # noqa: E402
from napari_sparsedecon._widgets.deconv import SparseDeconWidget  # noqa: E402
from napari_sparsedecon._widgets.psf import PSFWidget  # noqa: E402

pytestmark = pytest.mark.gui
WAIT_MS = 300_000  # generous: the tests wait for events, they time nothing
HANDSHAKE_S = 120.0


class OffThread:
    """Wraps a call that a widget makes in its worker: records the thread it runs in and
    waits there until the GUI thread has handled a timer event (which it cannot do while
    it runs the call itself). ``ticked`` is True when the event loop ran meanwhile."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.threads, self.ticked = [], None
        self._running, self._tick = threading.Event(), threading.Event()
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(lambda: self._running.is_set() and self._tick.set())
        self.timer.start()

    def wrap(self, fn):
        def in_worker(*args, **kwargs):
            self.threads.append(threading.current_thread())
            self._running.set()
            self.ticked = self._tick.wait(HANDSHAKE_S)
            self._running.clear()
            return fn(*args, **kwargs)

        return in_worker

    def stop(self):
        self.timer.stop()


def _on_main_thread(calls, fn):
    """``fn`` wrapped so that the thread of every call is added to ``calls``."""
    def wrapper(*args, **kwargs):
        calls.append(threading.current_thread())
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.slow
def test_whole_layer_run_computes_in_a_worker_while_events_go_on(make_napari_viewer,
                                                                 qtbot):
    viewer = make_napari_viewer(show=True)
    img = np.random.default_rng(0).poisson(50, (256, 256)).astype(np.float32)
    layer = viewer.add_image(img, name="cell", scale=(0.032, 0.032), units=("um", "um"))
    w = dock(viewer, SparseDeconWidget(viewer, method="sparse"), layer)
    probe, results = OffThread(), []
    make_job = w.make_job

    def make_job_off_thread(*args, **kwargs):
        job = make_job(*args, **kwargs)  # (read on the GUI thread)
        job.build = probe.wrap(job.build)
        return job

    w.make_job = make_job_off_thread
    w._on_result = _on_main_thread(results, w._on_result)
    prewarm_imports().join()
    try:
        w.run()
        qtbot.waitUntil(lambda: w._worker is None, timeout=WAIT_MS)
    finally:
        probe.stop()
    main = threading.main_thread()
    assert len(probe.threads) == 1 and probe.threads[0] is not main  # computed in a worker
    assert probe.ticked, "the GUI thread handled no event while the run computed"
    assert results == [main]  # and the result came back to the GUI thread
    assert "cell sparse" in viewer.layers


@pytest.mark.slow
def test_psf_generation_computes_in_a_worker_while_events_go_on(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    w = PSFWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.value = "Gibson-Lanni (index mismatch)"
    w.dims.value = "3-D"
    probe, shown = OffThread(), []
    generator_call = w._generator_call
    w._generator_call = lambda: probe.wrap(generator_call())
    w._show_generated = _on_main_thread(shown, w._show_generated)
    try:
        w.generate()
        qtbot.waitUntil(lambda: w._worker is None, timeout=WAIT_MS)
    finally:
        probe.stop()
    main = threading.main_thread()
    assert len(probe.threads) == 1 and probe.threads[0] is not main
    assert probe.ticked, "the GUI thread handled no event while the PSF was computed"
    assert shown == [main]
    assert viewer.layers[-1].data.ndim == 3


def sweep_labels_text():
    """A montage's labels as the sweep writes them (values and scores, one per line)."""
    from napari_sparsedecon._widgets.sweep import _fmt_scores

    texts = []
    for fid in (50.0, 126.0, 317.0, 800.0):
        for sp in (1.0, 5.0, 10.0, 20.0):
            scores = _fmt_scores({"residual": 0.0123 * sp, "sparsity": 0.0042 * fid / 50})
            texts.append(f"fidelity {fid:g}\nsparsity {sp:g}\n" + scores.replace(", ", "\n"))
    return texts


@pytest.mark.slow
def test_sweep_labels_glyphs_are_cached_before_their_first_paint(make_napari_viewer, qtbot,
                                                                  monkeypatch):
    """The first paint of a sweep's labels used to rasterise ~30 glyphs on the GUI thread
    (vispy's signed-distance fields: 1-2 s with napari's layer add). The sweep panel now
    loads them a glyph per event-loop turn while it sits idle: by the time the labels
    are drawn, the paint reads every glyph from the font's cache and renders none."""
    viewer = make_napari_viewer(show=True)
    img = np.random.default_rng(0).poisson(50, (128, 128)).astype(np.float32)
    layer = viewer.add_image(img, name="cell")
    w = dock(viewer, SparseDeconWidget(viewer), layer)
    pts = viewer.add_points(np.array([[2.0, 2.0]]), features={"label": [""]},
                            text={"string": "{label}", "color": "white", "size": 10},
                            size=0.1, face_color="transparent", border_color="transparent")
    warmer = getattr(w.sweep, "_glyphs", None)  # (the code before the fix had none)
    qtbot.waitUntil(lambda: warmer is None or warmer.pending == 0, timeout=WAIT_MS)
    font = canvas_font(viewer)
    assert font is not None, "no napari canvas font to check"
    texts = sweep_labels_text()
    chars = set("".join(texts)) - set("\n")
    assert chars <= set(font._glyphs), sorted(chars - set(font._glyphs))  # cache is warm
    reads, renders = [], []
    cls = type(font)
    get = cls.__getitem__
    monkeypatch.setattr(cls, "__getitem__", lambda self, c: reads.append(c) or get(self, c))
    load = font._load_char
    monkeypatch.setattr(font, "_load_char", lambda c: renders.append(c) or load(c))
    grid = np.array([[8.0 + 32 * (i // 4), 2.0 + 32 * (i % 4)] for i in range(16)])
    pts.data = grid
    pts.features = {"label": texts}
    qtbot.waitUntil(lambda: set(reads) >= chars, timeout=WAIT_MS)  # the labels' first draw
    assert renders == [], f"glyphs rendered during the labels' paint: {renders}"


def test_extra_layers_come_one_per_event_loop_turn(qtbot):
    from qtpy.QtCore import QTimer

    from napari_sparsedecon._widgets._layers import one_per_turn, pending_steps

    turns = {"n": 0}  # a zero-interval timer: fires once per pass of the event loop
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: turns.__setitem__("n", turns["n"] + 1))
    ticker.start()
    seen = []
    one_per_turn(lambda: seen.append(("residual", turns["n"])),
                 lambda: seen.append(("labels", turns["n"])))
    assert seen == [] and pending_steps() == 2  # nothing runs inside the queuing callback
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=WAIT_MS)
    ticker.stop()
    assert [name for name, _ in seen] == ["residual", "labels"] and pending_steps() == 0
    # other events ran between the two adds (both in one callback: the window stalled
    # for both)
    assert seen[1][1] > seen[0][1], seen


@pytest.mark.slow
def test_progress_ticks_redraw_only_the_bar(make_napari_viewer):
    from types import SimpleNamespace

    from napari_sparsedecon._widgets._layers import Tick

    viewer = make_napari_viewer()
    w = SparseDeconWidget(viewer)
    w.status.value = "running"
    p = SimpleNamespace(stage="sparse", iteration=20, total=100)
    w._on_progress(Tick(0.4, "sparse 20/100", p))
    # the label is left alone (a new text re-laid out the whole dock at every tick)
    assert w.status.value == "running"
    assert w.progress.value == 400
    assert w.progress.native.text() == "sparse 20/100 \u00b7 40% overall"
