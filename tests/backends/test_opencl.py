"""OpenCL backend against the NumPy reference (runs on PoCL on a CPU).

Tolerance: 1e-4 of the dynamic range. Both paths compute in float32 with the
same transforms; the kernels differ from NumPy only in the order of float32
additions (a few ulp per iteration), which stays far below 1e-4 over the
iteration counts used here (measured: about 5e-7).
"""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.backends.numpy_backend import NumpySparseHessian

pytestmark = pytest.mark.opencl

RTOL = 1e-4


@pytest.fixture(scope="module", params=["host", "device"])
def backend(request):
    """The OpenCL backend with FFTs on the host (CPU default) and on the device (the GPU
    path, pyvkfft), both run here on whatever device exists (PoCL on a CPU)."""
    from napari_sparsedecon.backends.opencl import OpenCLBackend, OpenCLUnavailable
    from napari_sparsedecon.backends.opencl.device import _all_devices

    try:
        _all_devices()
    except OpenCLUnavailable as err:
        pytest.skip(f"no OpenCL device can be made: {err}")
    if request.param == "device":
        pytest.importorskip("pyvkfft.opencl", reason="pyvkfft not installed: device FFTs")
    return OpenCLBackend(None, transforms=request.param)


@pytest.fixture(scope="module")
def opencl_device():
    """Skip unless an OpenCL device can be made; for tests about device selection
    that do not run a backend (so they run once, not once per FFT mode)."""
    from napari_sparsedecon.backends.opencl import OpenCLUnavailable
    from napari_sparsedecon.backends.opencl.device import _all_devices

    try:
        _all_devices()
    except OpenCLUnavailable as err:
        pytest.skip(f"no OpenCL device can be made: {err}")


def _close(a, b):
    rng = float(np.max(a) - np.min(a)) or 1.0
    assert np.max(np.abs(np.asarray(a) - np.asarray(b))) <= RTOL * rng


def test_devices_are_listed_with_memory(opencl_device):
    from napari_sparsedecon.backends.opencl import list_devices

    rows = list_devices()
    assert rows and all(r["memory_mib"] > 0 for r in rows)
    assert any(r["usable"] for r in rows)


@pytest.fixture(scope="module")
def host_backend():
    from napari_sparsedecon.backends.opencl import OpenCLBackend, OpenCLUnavailable

    try:
        return OpenCLBackend(None, transforms="host")
    except OpenCLUnavailable as err:
        pytest.skip(f"no OpenCL device can be made: {err}")


@pytest.mark.parametrize("shape", [(16, 21), (4, 11, 14), (5, 12, 12)])
def test_each_term_kernel_matches_numpy_update(host_backend, shape, rng):
    """Bregman updates (both fused kernels) equal the reference's, term by term."""
    from napari_sparsedecon.backends.opencl.plans import OpenCLSparseHessian

    backend = host_backend

    f = rng.random(shape).astype(np.float32)
    ref = NumpySparseHessian(shape, fidelity=7.0, sparsity=0.5, continuity=0.8)
    ocl = OpenCLSparseHessian(backend, shape, fidelity=7.0, sparsity=0.5, continuity=0.8)
    ref.set_data(f)
    ocl.set_data(f)
    g = (rng.random(shape) * 3).astype(np.float32)
    ref._g = g.copy()
    ocl._g = g.copy()
    for _ in range(3):  # three updates, so the Bregman state carries over
        ref._update()
        ocl._update()
        g = (rng.random(shape) * 3).astype(np.float32)
        ref._g = g.copy()
        ocl._g = g.copy()
    ref._update()
    ocl._update()
    _close(ref._g, ocl._g)  # next right-hand side: every term's K, shrink, K^T
    for i, full in enumerate(ocl.bregman_variables()):
        want = ref._b(i)
        got = full[tuple(slice(0, n) for n in want.shape)]
        _close(want, got)


@pytest.mark.parametrize(("shape", "c"), [((40, 50), 0.0), ((41, 37), 0.0),
                                          ((6, 33, 40), 0.7), ((7, 32, 31), 1.0)])
@pytest.mark.slow
def test_sparse_step_parity(backend, shape, c, rng):
    f = rng.random(shape).astype(np.float32)
    a = nsd.sparse_hessian(f, iterations=40, continuity=c)
    b = nsd.sparse_hessian(f, iterations=40, continuity=c, backend=backend)
    _close(a, b)


@pytest.mark.parametrize("acceleration", [None, "biggs"])
@pytest.mark.parametrize(("shape", "psf_shape"), [((48, 53), (9, 9)), ((5, 40, 48), (9, 9)),
                                                  ((12, 30, 33), (5, 7, 7))])
@pytest.mark.slow
def test_rl_parity(backend, shape, psf_shape, acceleration, rng):
    y = (rng.random(shape) * 100 + 1).astype(np.float32)
    fwhm = (2.0,) * len(psf_shape)
    psf = nsd.gaussian_psf(psf_shape, fwhm)
    a = nsd.richardson_lucy(y, psf, iterations=12, acceleration=acceleration, background=2.0)
    b = nsd.richardson_lucy(y, psf, iterations=12, acceleration=acceleration, background=2.0,
                            backend=backend)
    _close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("acceleration", [None, "biggs"])
def test_rl_steps_allocate_no_device_arrays(backend, acceleration, rng, monkeypatch):
    """Issue 14: buffers are made in set_data and reused by every iteration (the dot
    products' few-element reduction results aside)."""
    import pyopencl.array as cla

    shape = (6, 30, 33)
    plan = backend.rl_plan(shape, nsd.gaussian_psf((5, 7, 7), 2.0), background=2.0,
                           acceleration=acceleration)
    plan.set_data((rng.random(shape) * 100 + 1).astype(np.float32))
    made = []
    init = cla.Array.__init__

    def counting(self, *a, **kw):
        init(self, *a, **kw)
        if self.size >= min(shape[-2:]):
            made.append(self.shape)

    monkeypatch.setattr(cla.Array, "__init__", counting)
    for _ in range(6):
        plan.step()
    plan.finish()
    assert made == []


def test_rl_background_image_parity(backend, rng):
    y = (rng.random((40, 44)) * 100 + 20).astype(np.float32)
    bg = np.full_like(y, 10.0)
    bg[:, :20] = 15.0
    psf = nsd.gaussian_psf((7, 7), 2.0)
    _close(nsd.richardson_lucy(y, psf, iterations=8, background=bg),
           nsd.richardson_lucy(y, psf, iterations=8, background=bg, backend=backend))


@pytest.mark.slow
def test_full_pipeline_parity_on_celegans(backend):
    img = nsd.datasets.celegans()
    kw = {"psf_fwhm_px": nsd.datasets.CELEGANS_PSF_FWHM_PX, "background": "low/2",
          "iterations": 60, "deconv_iterations": 10}
    _close(nsd.sparse_deconvolve(img, **kw), nsd.sparse_deconvolve(img, backend=backend, **kw))


@pytest.mark.slow
def test_full_pipeline_parity_timelapse_upsampled(backend, rng):
    img = (rng.poisson(30, (4, 40, 36))).astype(np.float32)
    kw = {"psf_fwhm_px": 2.5, "iterations": 20, "deconv_iterations": 5, "upsample": 2,
          "deconv_method": "biggs"}
    _close(nsd.sparse_deconvolve(img, **kw), nsd.sparse_deconvolve(img, backend=backend, **kw))


@pytest.mark.slow
def test_programs_are_compiled_once(backend):
    """Kernels are built once per context: new plans of other shapes (sparse and
    RL, 2-D and 3-D) on the same backend reuse them."""
    from napari_sparsedecon.backends.opencl import device

    psf = nsd.gaussian_psf((7, 7), 2.0)

    def run(shape):
        f = np.ones(shape, np.float32)
        nsd.sparse_hessian(f, iterations=2, continuity=0.5, backend=backend)
        nsd.richardson_lucy(f, psf, iterations=2, acceleration="biggs", backend=backend)

    run((16, 16))
    run((3, 16, 16))
    n = len(device._PROGRAMS)
    assert n > 0  # the cache is what the kernels are built through
    run((16, 16))
    run((20, 24))
    run((4, 20, 18))
    assert len(device._PROGRAMS) == n


@pytest.mark.slow
def test_explicit_opencl_raises_with_reason_and_auto_falls_back(monkeypatch):
    from napari_sparsedecon.backends import get_backend, opencl, registry

    monkeypatch.setattr(registry, "_INSTANCES", {})
    with pytest.raises(opencl.OpenCLUnavailable, match="no OpenCL device matching"):
        get_backend("opencl", "no-such-device-xyz")
    be = get_backend("auto", "no-such-device-xyz")
    chosen = be.choose("sparse", (4, 512, 512))  # big enough to probe: no device, a CPU
    assert chosen.name in ("numpy", "numba") and be.name == chosen.name
    assert "no-such-device-xyz" in be.last_choice["why"]


def test_auto_may_choose_a_cpu_device(opencl_device, monkeypatch, caplog, tmp_path):
    """A CPU OpenCL device (PoCL) is a candidate like any other: the probe measures it
    next to NumPy and says once what it chose, with the times."""
    from napari_sparsedecon.backends import auto

    monkeypatch.setattr(auto, "_SAID", set())
    ab = auto.AutoBackend(cache_path=tmp_path / "p.json", min_voxels=1, steps=1)
    with caplog.at_level("WARNING", logger="napari_sparsedecon"):
        ab.choose("sparse", (2, 64, 64), make=lambda be: be.sparse_hessian_plan(
            (2, 64, 64), fidelity=150.0, sparsity=10.0, continuity=0.5))
        ab.choose("sparse", (2, 64, 64))  # cached: said once
    said = [r.message for r in caplog.records if "backend 'auto'" in r.message]
    assert len(said) == 1 and "numpy" in said[0] and "opencl:" in said[0]


def test_device_from_environment(opencl_device, monkeypatch):
    from napari_sparsedecon.backends import get_backend, opencl, registry

    monkeypatch.setattr(registry, "_INSTANCES", {})
    monkeypatch.setenv("NAPARI_SPARSEDECON_DEVICE", "no-such-device-xyz")
    with pytest.raises(opencl.OpenCLUnavailable):
        get_backend("opencl", None)


@pytest.mark.parametrize("shape, psf_nd, kw", [
    ((40, 48), 2, {"prior": "tv"}),
    ((40, 47), 2, {"prior": "hessian", "sparsity": 0.02}),
    ((6, 30, 34), 3, {"prior": "hessian", "sparsity": 0.02, "continuity": 1.0,
                      "aspect": 2.0}),
    ((6, 30, 34), 2, {"prior": "hessian", "continuity": 0.5, "data_term": "lsq"}),
    ((3, 5, 20, 22), 3, {"prior": "hessian", "sparsity": 0.01, "continuity": 1.0,
                         "t_continuity": 0.5, "aspect": 2.0}),
    ((3, 5, 20, 22), 3, {"prior": "tv", "continuity": 1.0, "t_continuity": 0.5}),
])
def test_regularised_plan_matches_numpy(backend, shape, psf_nd, kw):
    """The regularised RL plan (rl_tv, sparse_psf) against the reference, both FFT paths."""
    rng = np.random.default_rng(0)
    psf = nsd.gaussian_psf(ndim=psf_nd, fwhm_px=2.5)
    y = rng.poisson(30 * rng.random(shape) + 5).astype(np.float32)
    bg = np.full(shape, 4.0, np.float32) if len(shape) == 3 else 4.0
    kw = {"weight": 1e-3, "eps": 0.25, **kw}
    ref = nsd.get_backend("numpy").regularised_plan(shape, psf, **kw)
    with backend.regularised_plan(shape, psf, **kw) as plan:
        for p in (ref, plan):
            p.set_data(y, bg)
            for _ in range(5):
                p.step()
        _close(ref.result(), plan.result())
        assert plan.chi2 == pytest.approx(ref.chi2, rel=1e-5)
    assert plan.closed


@pytest.mark.parametrize("acceleration", ["none", "biggs"])
def test_rl_method_flat_start_parity(backend, acceleration, rng):
    """`rl` starts flat by default (issue 26): the OpenCL plan starts alike."""
    y = (rng.poisson(30, (5, 40, 48)) + 0.0).astype(np.float32)
    kw = {"psf_fwhm_px": 2.0, "iterations": 8, "stop": "none", "acceleration": acceleration}
    a = nsd.deconvolve(y, "rl", backend="numpy", **kw)
    b = nsd.deconvolve(y, "rl", backend=backend, **kw)
    _close(a, b)
