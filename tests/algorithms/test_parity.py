"""Parity harness: every registered method on every backend.

For each (method, backend) pair: if the method declares the backend
(``method_info(name).backends``), its result on a small phantom equals the
NumPy result within ``RTOL`` of the NumPy result's range, with the method's
own defaults (fewer iterations); if it does not, the backend is refused with
a ValueError that names the method, the backends it runs on and what to use.

Tolerance: 1e-4 of the range. Both backends compute in float32 with the same
transforms; they differ only in the order of float32 additions (measured
about 1e-6 here), far below 1e-4 and far below any algorithmic difference
(a wrong sign, term or boundary moves results by > 1e-2).
"""

import numpy as np
import pytest

import napari_sparsedecon as nsd
from napari_sparsedecon.api import method_info
from napari_sparsedecon.backends import backends
from napari_sparsedecon.core.phantom import make_phantom

RTOL = 1e-4
#: Every concrete registered backend ("auto" only picks one of these).
BACKENDS = tuple(b for b in backends() if b != "auto")
#: The reference every other backend is compared with.
REFERENCE = "numpy"
SHAPES = {"2d": (44, 52), "3d": (4, 36, 40)}


def _image(kind):
    shape = SHAPES[kind]
    ny, nx = shape[-2:]
    img = make_phantom((160, 160), seed=11).noisy[60:60 + ny, 50:50 + nx]  # pairs, a ring
    if len(shape) == 3:  # a short time series: the same field, moving by a pixel per frame
        img = np.stack([np.roll(img, t, axis=1) for t in range(shape[0])])
    return np.ascontiguousarray(img, dtype=np.float32)


def _run(name, img, backend, info=None):
    out, got = nsd.deconvolve(img, name, psf_fwhm_px=3.4, backend=backend, iterations=8,
                              return_info=True)
    if info is not None:
        info.update(got)
    return out


def _backend_or_skip(name):
    from napari_sparsedecon.backends import get_backend
    from napari_sparsedecon.backends.numba_backend import NumbaUnavailable
    from napari_sparsedecon.backends.opencl import OpenCLUnavailable

    try:
        return get_backend(name)
    except (OpenCLUnavailable, NumbaUnavailable, ImportError) as err:
        pytest.skip(f"backend {name!r} cannot be made here: {err}")


@pytest.mark.slow
def test_every_method_runs_on_the_reference_backend():
    assert nsd.methods()
    for name in nsd.methods():
        assert REFERENCE in method_info(name).backends, name
        assert set(method_info(name).backends) <= set(BACKENDS), name


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != REFERENCE])
@pytest.mark.parametrize("name", nsd.methods())
def test_method_backend_parity(name, backend, kind):
    img = _image(kind)
    if backend not in method_info(name).backends:
        with pytest.raises(ValueError) as err:
            _run(name, img, backend)
        msg = str(err.value)
        assert repr(name) in msg and repr(backend) in msg, msg
        assert str(list(method_info(name).backends)) in msg and "backend='numpy'" in msg, msg
        # a backend object is refused the same way as its name
        with pytest.raises(ValueError, match=f"method {name!r} runs on"):
            _run(name, img, _backend_or_skip(backend))
        return
    be = _backend_or_skip(backend)
    ref_info, info = {}, {}
    ref = _run(name, img, REFERENCE, ref_info)
    out = _run(name, img, be, info)
    assert out.shape == ref.shape == img.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    rng = float(ref.max() - ref.min()) or 1.0
    err = float(np.max(np.abs(out - ref))) / rng
    assert err <= RTOL, f"{name} on {backend}: {err:.2e} of the range from NumPy"
    # what was run and estimated (stopping point, camera model) agrees too
    for key in ("iterations_run", "gain", "read_noise"):
        if key in ref_info:
            assert info.get(key) == pytest.approx(ref_info[key], rel=1e-4), key


@pytest.mark.slow
def test_auto_runs_numpy_only_methods_on_numpy():
    img = _image("2d")
    for name in nsd.methods():
        if method_info(name).backends == (REFERENCE,):
            np.testing.assert_array_equal(_run(name, img, "auto"), _run(name, img, REFERENCE))
