"""backend="auto": the choice logic and its cache, with fake backends and a fake clock
(no timing of the real machine: the probe's arithmetic is what is tested)."""

import json
import logging

import numpy as np
import pytest

from napari_sparsedecon.backends import auto
from napari_sparsedecon.backends.auto import AutoBackend, shape_class
from napari_sparsedecon.backends.base import PlanBase


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class FakePlan(PlanBase):
    def __init__(self, be, shape):
        self.be, self.shape = be, shape

    def set_data(self, data):
        assert data.shape == self.shape

    def step(self):
        self.be.steps += 1
        self.be.clock.t += self.be.seconds_per_step

    def result(self):
        return np.zeros(self.shape, np.float32)


class FakeBackend:
    def __init__(self, name, clock, seconds_per_step):
        self.name, self.device_name = name, f"fake {name}"
        self.clock, self.seconds_per_step = clock, seconds_per_step
        self.steps = 0
        self.plans = 0

    def sparse_hessian_plan(self, shape, **kw):
        self.plans += 1
        return FakePlan(self, tuple(shape))

    def rl_plan(self, shape, psf, **kw):
        self.plans += 1
        return FakePlan(self, tuple(shape))


def make(numpy_s, opencl_s, cache_path=None, opencl_error=None, min_voxels=100):
    clock = Clock()
    np_be = FakeBackend("numpy", clock, numpy_s)
    cl_be = FakeBackend("opencl", clock, opencl_s)

    def make_cl():
        if opencl_error:
            raise RuntimeError(opencl_error)
        return cl_be

    ab = AutoBackend(candidates=[("numpy", lambda: np_be), ("opencl:0", make_cl)],
                     clock=clock, cache_path=cache_path, min_voxels=min_voxels, steps=2)
    return ab, np_be, cl_be


@pytest.fixture(autouse=True)
def _fresh_said(monkeypatch):
    monkeypatch.setattr(auto, "_SAID", set())


SHAPE = (4, 16, 16)
KW = {"fidelity": 150.0, "sparsity": 10.0, "continuity": 0.5}


def test_faster_opencl_is_chosen_and_said_once(caplog):
    ab, np_be, cl_be = make(numpy_s=0.30, opencl_s=0.10)
    with caplog.at_level(logging.WARNING, logger="napari_sparsedecon"):
        plan = ab.sparse_hessian_plan(SHAPE, **KW)
        plan2 = ab.sparse_hessian_plan(SHAPE, **KW)
    assert plan.be is cl_be and plan2.be is cl_be
    assert ab.name == "opencl" and ab.device_name == "fake opencl"
    said = [r.message for r in caplog.records if "backend 'auto'" in r.message]
    assert len(said) == 1
    assert "opencl:0 100.0 ms" in said[0] and "numpy 300.0 ms" in said[0]
    # probed once (2 warm-up + 2 timed steps each), then cached: no further steps
    assert np_be.steps == 4 and cl_be.steps == 4


def test_numpy_kept_unless_opencl_wins_by_the_margin():
    ab, np_be, cl_be = make(numpy_s=0.100, opencl_s=0.095)  # 5% faster: not enough
    assert ab.sparse_hessian_plan(SHAPE, **KW).be is np_be
    ab, np_be, cl_be = make(numpy_s=0.100, opencl_s=0.200)
    assert ab.sparse_hessian_plan(SHAPE, **KW).be is np_be
    assert ab.last_choice["backend"] == "numpy"


def test_small_work_goes_to_numpy_without_a_probe():
    ab, np_be, cl_be = make(numpy_s=1.0, opencl_s=0.01, min_voxels=10_000)
    assert ab.sparse_hessian_plan((8, 8), **KW).be is np_be
    assert cl_be.plans == 0 and np_be.steps == 0


def test_unavailable_opencl_falls_back_with_the_reason(caplog):
    ab, np_be, _ = make(numpy_s=1.0, opencl_s=0.01, opencl_error="no platform found")
    with caplog.at_level(logging.WARNING, logger="napari_sparsedecon"):
        assert ab.sparse_hessian_plan(SHAPE, **KW).be is np_be
    assert any("no platform found" in r.message for r in caplog.records)
    assert np_be.steps == 0  # nothing to compare: no probe


def test_cache_is_per_shape_class_and_kind():
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.1)
    ab.sparse_hessian_plan((4, 16, 16), **KW)
    ab.sparse_hessian_plan((4, 15, 13), **KW)  # same class (rounded up to 4x16x16)
    assert np_be.steps == 4
    ab.sparse_hessian_plan((4, 32, 32), **KW)  # another class: probed
    assert np_be.steps == 8
    ab.rl_plan((4, 16, 16), np.ones((3, 3, 3)) / 27)  # another kind: probed
    assert np_be.steps == 12
    assert shape_class("sparse", (4, 15, 13)) == "sparse:4x16x16"
    assert shape_class("rl", (5, 100, 100), (17, 17, 17)) == "rl:8x128x128/32x32x32"


def test_disk_cache_is_used_by_a_new_process(tmp_path):
    path = tmp_path / "probe.json"
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.1, cache_path=path)
    ab.sparse_hessian_plan(SHAPE, **KW)
    data = json.loads(path.read_text())
    (key,) = data
    assert key.startswith("sparse:4x16x16|threads=") and data[key]["label"] == "opencl:0"
    # a fresh AutoBackend (a new session) reads the choice instead of probing
    ab2, np2, cl2 = make(numpy_s=0.3, opencl_s=0.1, cache_path=path)
    assert ab2.sparse_hessian_plan(SHAPE, **KW).be is cl2
    assert np2.steps == 0 and cl2.steps == 0
    assert "cached probe" in ab2.last_choice["why"]


def test_corrupt_disk_cache_is_ignored(tmp_path):
    path = tmp_path / "probe.json"
    path.write_text("{not json")
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.1, cache_path=path)
    assert ab.sparse_hessian_plan(SHAPE, **KW).be is cl_be
    assert json.loads(path.read_text())  # rewritten


def test_cache_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(auto.ENV_PROBE_CACHE, "off")
    assert auto.default_cache_path() is None
    monkeypatch.setenv(auto.ENV_PROBE_CACHE, str(tmp_path / "x.json"))
    assert auto.default_cache_path() == tmp_path / "x.json"
    monkeypatch.delenv(auto.ENV_PROBE_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if auto.sys.platform.startswith("linux"):
        assert auto.default_cache_path() == tmp_path / "napari-sparsedecon" / "backend_probe.json"


def test_a_failing_probe_leaves_that_candidate_out():
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.1)

    def broken(shape, **kw):
        raise MemoryError("out of device memory")

    cl_be.sparse_hessian_plan = broken
    assert ab.sparse_hessian_plan(SHAPE, **KW).be is np_be
    assert "out of device memory" in ab.last_choice["why"]


def test_get_backend_auto_is_an_auto_backend_and_runs(monkeypatch):
    import napari_sparsedecon as nsd
    from napari_sparsedecon.backends import get_backend

    be = get_backend("auto")
    assert isinstance(be, AutoBackend) and get_backend("auto") is be
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    out, info = nsd.deconvolve(img, "rl", psf_fwhm_px=2.0, iterations=3, return_info=True)
    assert out.shape == img.shape
    assert info["backend"] == "numpy"  # small work: NumPy, no probe


@pytest.mark.slow
@pytest.mark.opencl
def test_real_probe_on_this_machine_picks_a_working_backend(tmp_path):
    """The real candidates (NumPy and, where present, PoCL/GPU): whichever wins, the plan
    it makes gives NumPy's result."""
    from napari_sparsedecon.backends import get_backend

    ab = AutoBackend(cache_path=tmp_path / "p.json", min_voxels=1, steps=1)
    img = np.random.default_rng(1).random((2, 32, 32)).astype(np.float32)
    plans = [ab.sparse_hessian_plan(img.shape, **KW),
             get_backend("numpy").sparse_hessian_plan(img.shape, **KW)]
    for p in plans:
        p.set_data(img)
        for _ in range(3):
            p.step()
    from napari_sparsedecon.core.sparse_hessian import _host

    a, b = (np.asarray(_host(p.result())) for p in plans)
    assert np.allclose(a, b, atol=1e-4)
    assert ab.last_choice["key"].startswith("sparse:2x32x32")


def test_the_second_step_is_not_timed():
    """A sparse plan's first step is the g-solve alone: its update kernels are built and
    first run in step two. A candidate slow only there (OpenCL compiling) must not lose."""
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.1)
    real_step = FakePlan.step

    def step(self):
        real_step(self)
        if self.be is cl_be and self.be.steps == 2:
            self.be.clock.t += 5.0  # a kernel build inside the second step

    FakePlan.step = step
    try:
        assert ab.sparse_hessian_plan(SHAPE, **KW).be is cl_be
    finally:
        FakePlan.step = real_step


def test_a_new_candidate_invalidates_the_disk_cache(tmp_path):
    """A choice cached before numba (or a driver) was installed is not reused after."""
    cache = tmp_path / "probe.json"
    ab, np_be, cl_be = make(numpy_s=0.3, opencl_s=0.5, cache_path=cache)
    assert ab.choose("sparse", SHAPE, make=lambda be: be.sparse_hessian_plan(SHAPE, **KW)) \
        is np_be
    clock = ab.clock
    nb_be = FakeBackend("numba", clock, 0.1)
    ab2 = AutoBackend(candidates=[("numpy", lambda: np_be), ("opencl:0", lambda: cl_be),
                                  ("numba", lambda: nb_be)],
                      clock=clock, cache_path=cache, min_voxels=100, steps=2)
    chosen = ab2.choose("sparse", SHAPE, make=lambda be: be.sparse_hessian_plan(SHAPE, **KW))
    assert chosen is nb_be and nb_be.steps > 0  # probed anew, not the cached NumPy


class RegBackend(FakeBackend):
    """A fake backend that also offers the regularised plan."""

    def regularised_plan(self, shape, psf, **kw):
        self.plans += 1
        return FakePlan(self, tuple(shape))


def test_regularised_plans_are_probed_per_prior_among_the_backends_offering_them():
    clock = Clock()
    np_be = RegBackend("numpy", clock, 0.30)
    fast = RegBackend("numba", clock, 0.10)
    no_reg = FakeBackend("opencl", clock, 0.01)  # fastest, but offers no such plan
    ab = AutoBackend(candidates=[("numpy", lambda: np_be), ("numba", lambda: fast),
                                 ("opencl:0", lambda: no_reg)],
                     clock=clock, cache_path=None, min_voxels=100, steps=2)
    psf = np.ones((3, 3, 3), np.float32) / 27
    kw = {"prior": "hessian", "weight": 1e-3}
    ab.regularised_plan(SHAPE, psf, **kw)
    assert ab.last_choice["backend"] == "numba"
    assert ab.last_choice["key"].startswith("reg-hessian:4x16x16/")
    assert "numba 100.0 ms" in ab.last_choice["why"] and "opencl" not in ab.last_choice["why"]
    assert no_reg.plans == 0
    ab.regularised_plan(SHAPE, psf, prior="tv", weight=1e-3)  # another prior: probed anew
    assert ab.last_choice["key"].startswith("reg-tv:")
