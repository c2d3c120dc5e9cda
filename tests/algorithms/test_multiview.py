"""Multi-view RL (issue 27 item 4, first part: the ops-level solver): two views whose
PSFs are elongated along different axes give a result closer to the truth than either
view alone and than their sum deconvolved with the summed PSF."""

import numpy as np
import pytest

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
