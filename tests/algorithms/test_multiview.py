"""Multi-view RL (issue 27 item 4, first part: the ops-level solver): two views whose
PSFs are elongated along different axes give a result closer to the truth than either
view alone and than their sum deconvolved with the summed PSF; then the same through
the library, ``deconvolve(views, psf=[...])``, for rl, rl_tv, sparse_psf and garl (by
the same method at the same parameters)."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

import napari_sparsedecon as nsd
from napari_sparsedecon.ops.multiview import MultiViewRL


def rsnr(x, t):
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2))


def _scene(n=72, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, n))
    for _ in range(25):
        y0, x0 = rng.integers(6, n - 6, 2)
        x[y0, x0] = rng.uniform(0.5, 1.0)
    x[n // 2, 10:-10] += 0.6
    x[10:-10, n // 3] += 0.6
    return x


def _run(views, psfs, bgs, iterations=60):
    plan = MultiViewRL(views[0].shape, psfs)
    plan.set_data(views, bgs)
    for _ in range(iterations):
        plan.step()
    return plan.result()


@pytest.mark.slow
def test_two_orthogonal_views_beat_each_view_and_their_sum():
    from scipy.signal import fftconvolve

    x = _scene()
    p1 = nsd.gaussian_psf((25, 25), (7.0, 2.0))  # long along y
    p2 = nsd.gaussian_psf((25, 25), (2.0, 7.0))  # long along x
    rng = np.random.default_rng(1)
    bg = 5.0
    views = [rng.poisson(np.clip(300 * fftconvolve(x, p, mode="same"), 0, None) + bg)
             .astype(np.float32) for p in (p1, p2)]
    both = rsnr(_run(views, [p1, p2], [bg, bg]), x)
    one = [rsnr(_run([v], [p], [bg]), x) for v, p in zip(views, (p1, p2), strict=True)]
    psum = (p1 + p2) / 2
    summed = rsnr(_run([(views[0] + views[1]) / 2], [psum], [bg]), x)
    print(f"two views {both:.2f} dB, each alone {one[0]:.2f} / {one[1]:.2f}, "
          f"summed {summed:.2f}")
    assert both > max(one) + 1.0, (both, one)
    assert both > summed + 0.5, (both, summed)


def test_one_view_runs_and_the_arguments_are_checked():
    x = _scene(40)
    p = nsd.gaussian_psf(None, 3.0)
    y = (200 * x + 3.0).astype(np.float32)
    mv = MultiViewRL(y.shape, [p])
    mv.set_data([y], [3.0])
    for _ in range(5):
        mv.step()
    assert mv.result().shape == y.shape and mv.result().min() > 0
    with pytest.raises(ValueError, match="2 given for 1"):
        mv.set_data([y, y])
    with pytest.raises(ValueError, match="same dimensions"):
        MultiViewRL((8, 16, 16), [p, nsd.gaussian_psf(None, (3.0, 2.0, 2.0))])


PARAMS = {"rl": {"iterations": 40, "stop": "none"},
          "rl_tv": {"iterations": 30, "resolution": 0.0},
          "sparse_psf": {"iterations": 30, "resolution": 0.0},
          "garl": {"iterations": 30}}


def _views(n=64, photons=300.0, bg=5.0):
    x = _scene(n)
    p1 = nsd.gaussian_psf((25, 25), (7.0, 2.0))  # long along y
    p2 = nsd.gaussian_psf((25, 25), (2.0, 7.0))  # long along x
    rng = np.random.default_rng(1)
    views = [rng.poisson(np.clip(photons * fftconvolve(x, p, mode="same"), 0, None) + bg)
             .astype(np.float32) for p in (p1, p2)]
    return x, views, [p1, p2]


@pytest.mark.parametrize("method", ["rl", "rl_tv", "sparse_psf", "garl"])
def test_each_method_with_two_views_beats_each_view_and_their_sum(method):
    x, views, psfs = _views()
    kw = dict(PARAMS[method], background=5.0) if method != "rl" else dict(
        PARAMS[method], background=5.0)
    both, info = nsd.deconvolve(views, method, psf=psfs, return_info=True, **kw)
    assert both.shape == views[0].shape and np.isfinite(both).all()
    assert info["views"] == 2 and len(info["per_view"]) == 2
    one = [rsnr(nsd.deconvolve(v, method, psf=p, **kw), x)
           for v, p in zip(views, psfs, strict=True)]
    summed = rsnr(nsd.deconvolve((views[0] + views[1]) / 2, method,
                                 psf=(psfs[0] + psfs[1]) / 2, **kw), x)
    r = rsnr(both, x)
    print(f"{method}: two views {r:.2f} dB, each alone {one[0]:.2f} / {one[1]:.2f}, "
          f"summed {summed:.2f}")
    assert r > max(one) + 1.0, (r, one)
    assert r > summed + 0.3, (r, summed)


def test_one_view_equals_the_single_view_run():
    """One view through the multi-view path is the single-view problem: rl_tv (same
    weights from the same estimates, same start) gives the same estimate."""
    x, views, psfs = _views(48)
    kw = {"iterations": 12, "resolution": 0.0, "background": 5.0, "backend": "numpy"}
    a = nsd.deconvolve([views[0]], "rl_tv", psf=[psfs[0]], **kw)
    b = nsd.deconvolve(views[0], "rl_tv", psf=psfs[0], **kw)
    assert np.max(np.abs(a - b)) < 1e-3 * float(b.max())


def test_multiview_arguments_are_checked():
    _, views, psfs = _views(32)
    with pytest.raises(ValueError, match="2 views for 1 PSF"):
        nsd.deconvolve(views, "rl", psf=psfs[:1])
    with pytest.raises(ValueError, match="same shape"):
        nsd.deconvolve([views[0], views[1][:30]], "rl", psf=psfs)
    with pytest.raises(ValueError, match="no multi-view form.*rl"):
        nsd.deconvolve(views, "sparse", psf=psfs)
    with pytest.raises(ValueError, match="NumPy only"):
        nsd.deconvolve(views, "rl", psf=psfs, backend="opencl")
    with pytest.raises(ValueError, match="psf_fwhm_px"):
        nsd.deconvolve(views, "rl", psf=psfs, psf_fwhm_px=3.0)
