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

Where the reference itself is more sensitive than that to float32 rounding, 1e-4
cannot be asked of any other summation order: ``sparse_psf`` after 8 iterations
on the (T, Y, X) and (T, Z, Y, X) cases moves by 2e-4 to 4e-4 of its range when
its input is scaled by 1 + 2.4e-7 (two float32 ulps; a bright structure cut by
the image edge, where the accelerated iteration amplifies rounding for a few
iterations before it settles). The tolerance there is twice that measured
self-sensitivity (:func:`_tolerance`, measured in the same test), and the test
says so when it applies.
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


def _run(name, img, backend, info=None, **kw):
    kw = kw or {"psf_fwhm_px": 3.4}
    out, got = nsd.deconvolve(img, name, backend=backend, iterations=8, return_info=True,
                              **kw)
    if info is not None:
        info.update(got)
    return out


#: input scale for the reference's self-sensitivity (two float32 ulps)
NUDGE = np.float32(1 + 2.4e-7)


def _tolerance(name, img, ref, **kw) -> tuple[float, str]:
    """(tolerance, why): RTOL, or twice the reference's own change under a two-ulp
    rescaling of its input where that is larger (see the module docstring)."""
    nudged = _run(name, img * NUDGE, REFERENCE, **kw) / NUDGE
    rng = float(ref.max() - ref.min()) or 1.0
    spread = float(np.max(np.abs(nudged - ref))) / rng
    if 2 * spread > RTOL:
        return 2 * spread, f"reference self-sensitivity {spread:.1e} of the range"
    return RTOL, "1e-4 of the range"


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
    tol, why = _tolerance(name, img, ref) if err > RTOL else (RTOL, "")
    assert err <= tol, f"{name} on {backend}: {err:.2e} of the range from NumPy ({why})"
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


# -- the regularised methods on every backend, 2-D to 4-D -----------------------------

REGULARISED = ("sparse_psf", "rl_tv")


def _reg_case(kind):
    """(image, deconvolve keywords) of the regularised methods' cases: 2-D, (T, Y, X)
    with a 2-D PSF (t-continuity), a (Z, Y, X) volume with a 3-D PSF, and (T, Z, Y, X)
    coupled in time."""
    img2 = _image("2d")
    psf3 = nsd.gaussian_psf((9, 11, 11), fwhm_px=(3.0, 2.5, 2.5))
    vol = np.stack([np.roll(img2, 2 * z, axis=0) * (1 - abs(z - 6) / 8)
                    for z in range(12)]).astype(np.float32)
    if kind == "2d":
        return img2, {"psf_fwhm_px": 3.4}
    if kind == "3d-t":
        return _image("3d"), {"psf_fwhm_px": 3.4}
    if kind == "3d":
        return vol, {"psf": psf3}
    t4 = np.stack([np.roll(vol, t, axis=2) for t in range(3)]).astype(np.float32)
    return t4, {"psf": psf3, "t_continuity": 0.5}


def _reg_backends():
    out = []
    for b in BACKENDS:
        if b == REFERENCE:
            continue
        out.append(pytest.param(b, marks=pytest.mark.opencl) if b == "opencl" else b)
    return out


@pytest.mark.parametrize("kind", ["2d", "3d-t", "3d", "4d"])
@pytest.mark.parametrize("backend", _reg_backends())
@pytest.mark.parametrize("name", REGULARISED)
def test_regularised_methods_equal_the_reference(name, backend, kind):
    assert backend in method_info(name).backends
    be = _backend_or_skip(backend)
    img, kw = _reg_case(kind)
    ref = _run(name, img, REFERENCE, **kw)
    info = {}
    out = _run(name, img, be, info, **kw)
    assert info["backend"] == backend and info["device"] == be.device_name
    assert out.shape == ref.shape == img.shape and out.dtype == np.float32
    rng = float(ref.max() - ref.min()) or 1.0
    err = float(np.max(np.abs(out - ref))) / rng
    tol, why = _tolerance(name, img, ref, **kw) if err > RTOL else (RTOL, "")
    assert err <= tol, f"{name} on {backend}, {kind}: {err:.2e} of the range ({why})"


def test_auto_records_its_choice_for_the_regularised_methods():
    from napari_sparsedecon.backends.auto import AutoBackend

    img = _image("2d")
    ab = AutoBackend(cache_path=None)
    _, info = nsd.deconvolve(img, "sparse_psf", psf_fwhm_px=3.4, iterations=2,
                             backend=ab, return_info=True)
    assert info["backend"] == "numpy" and "below the probe size" in info["backend_choice"]
