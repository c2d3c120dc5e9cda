"""GARL: the learned ridge regulariser (gradient, potential, shapes), the shipped
weights (checksum, shapes, the constants stored with them) and the ``garl`` method."""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import napari_sparsedecon as nsd
from napari_sparsedecon.algorithms import garl
from napari_sparsedecon.ops import ridge


def _weights(nd, seed=0, channels=4):
    rng = np.random.default_rng(seed)
    k = (5, 5) if nd == 2 else (3, 5, 5)
    f = rng.normal(size=(channels,) + k)
    f -= f.mean(axis=tuple(range(1, nd + 1)), keepdims=True)
    f /= np.sqrt(ridge.spectral_norm2(f))
    slopes = rng.uniform(-0.8, 1.0, 12)  # weakly convex: negative slopes too
    vals = np.concatenate(([0.0], np.cumsum(slopes) * 0.25))
    knots = np.linspace(np.log(0.01), np.log(0.5), 5)
    return ridge.RidgeWeights(f, vals, 0.25, knots, rng.normal(0, 0.3, (channels, 5)),
                              1.5, 1e-3, 1.0, 0.8)


def rsnr(x, t):
    x, t = np.ravel(x).astype(float), np.ravel(t).astype(float)
    a = np.vstack([x, np.ones_like(x)]).T
    fit = a @ np.linalg.lstsq(a, t, rcond=None)[0]
    return 10 * np.log10(np.sum((t - t.mean()) ** 2) / np.sum((t - fit) ** 2))


def test_psi_prime_is_the_derivative_of_psi_odd_and_bounded():
    w = _weights(2)
    t = np.linspace(-5, 5, 2001)
    d = ridge.psi_prime(t, w.psi_values, w.psi_step)
    num = np.gradient(ridge.psi(t, w.psi_values, w.psi_step), t)
    assert np.abs(num - d)[1:-1].max() < 5e-3  # exact but at the knots (np.gradient)
    assert np.median(np.abs(num - d)) < 1e-9
    np.testing.assert_allclose(ridge.psi_prime(-t, w.psi_values, w.psi_step), -d)
    slope = np.diff(d) / np.diff(t)
    assert slope.max() <= 1 + 1e-9 and slope.min() >= -0.8 - 1e-9
    assert ridge.psi(np.array([0.0]), w.psi_values, w.psi_step)[0] == 0


@pytest.mark.parametrize("nd,shape", [(2, (24, 20)), (3, (8, 16, 14))])
def test_gradient_matches_finite_differences(nd, shape):
    w = _weights(nd)
    rng = np.random.default_rng(1)
    x = gaussian_filter(rng.random(shape), 1.0).astype(np.float32)
    reg = ridge.RidgeRegulariser(w, shape, 0.05)
    g = reg.grad(x)
    assert g.shape == x.shape and g.dtype == np.float32
    g = g.astype(np.float64)
    for s in range(3):
        d = np.random.default_rng(10 + s).normal(size=shape).astype(np.float32)
        h = 1e-3
        fd = (reg.energy(x + h * d) - reg.energy(x - h * d)) / (2 * h)
        an = float(np.sum(g * d))
        assert fd == pytest.approx(an, rel=2e-3, abs=1e-3 * np.abs(g).sum() * 1e-3)


def test_gradient_of_a_constant_is_zero_and_2d_filters_act_per_plane():
    w = _weights(2)
    reg = ridge.RidgeRegulariser(w, (3, 16, 16), 0.1)
    assert np.abs(reg.grad(np.full((3, 16, 16), 4.0, np.float32))).max() < 1e-5
    x = np.random.default_rng(2).random((3, 16, 16)).astype(np.float32)
    g = reg.grad(x)
    one = ridge.RidgeRegulariser(w, (16, 16), 0.1).grad(x[1])
    np.testing.assert_allclose(g[1], one, atol=1e-5)


def test_alpha_follows_the_noise_level():
    w = _weights(2)
    a1, a2 = w.alphas(0.02), w.alphas(0.2)
    assert a1.shape == (w.channels,) and np.all(a1 > a2)


def test_small_axes_wrap_the_filters():
    """An axis shorter than the filter (a 2-plane volume) still gives a gradient."""
    w = _weights(3)
    x = np.random.default_rng(3).random((2, 4, 4)).astype(np.float32)
    g = ridge.RidgeRegulariser(w, x.shape, 0.1).grad(x)
    assert g.shape == x.shape and np.isfinite(g).all()


@pytest.mark.parametrize("nd,k", [(2, (8, 5, 5)), (3, (8, 3, 5, 5))])
def test_shipped_weights_checksum_shapes_and_constants(nd, k):
    w, prov = garl.load_weights(nd)
    assert w.filters.shape == k and w.s_values.shape == (8, w.log_sigma_knots.size)
    assert w.checksum() == prov["checksum_sha256"]
    with np.load(garl.DATA_DIR / f"garl_{nd}d.npz") as z:
        assert ridge.weights_checksum(dict(z)) == prov["checksum_sha256"]
    assert np.abs(w.filters.sum(axis=tuple(range(1, nd + 1)))).max() < 1e-5  # zero mean
    curve = prov["loss_curve"]
    assert curve[-1]["val"] < curve[0]["val"] and prov["steps"] == curve[-1]["step"]
    for key in ("generator", "seed", "code_version", "steps"):
        assert prov[key] not in (None, "")
    json.dumps(prov)


@pytest.mark.slow
@pytest.mark.parametrize("nd", [2, 3])
def test_shipped_lipschitz_bound_is_the_weights_own(nd):
    """||W|| <= 1 and the stored bound is ||W||^2 max psi'' (computed at training)."""
    w, _ = garl.load_weights(nd)
    slopes = np.diff(w.psi_values) / w.psi_step
    assert w.lipschitz == pytest.approx(ridge.spectral_norm2(w.filters, 64) * slopes.max(),
                                        rel=1e-6)
    assert w.lipschitz <= 1.05 and w.mu == pytest.approx(max(-slopes.min(), 0), abs=1e-6)


def test_shipped_weights_reject_a_changed_file(tmp_path, monkeypatch):
    for nd in (2, 3):
        for ext in ("npz", "json"):
            (tmp_path / f"garl_{nd}d.{ext}").write_bytes(
                (garl.DATA_DIR / f"garl_{nd}d.{ext}").read_bytes())
    with np.load(tmp_path / "garl_2d.npz") as z:
        a = dict(z)
    a["lam"] = a["lam"] * 1.01
    np.savez(tmp_path / "garl_2d.npz", **a)
    monkeypatch.setattr(garl, "DATA_DIR", tmp_path)
    garl.load_weights.cache_clear()
    try:
        with pytest.raises(ValueError, match="checksum"):
            garl.load_weights(2)
    finally:
        garl.load_weights.cache_clear()


def _scene2d(photons, seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, n))
    yy, xx = np.mgrid[:n, :n]
    for _ in range(4):  # rings and lines
        cy, cx, r = rng.uniform(12, n - 12, 2).tolist() + [rng.uniform(4, 9)]
        x += np.exp(-0.5 * ((np.hypot(yy - cy, xx - cx) - r) / 0.8) ** 2)
    x[n // 3, 8:-8] += 1.0
    x[8:-8, n // 2] += 0.7
    x /= x.max()
    psf = nsd.gaussian_psf(None, 3.0)
    from napari_sparsedecon.ops.padding import fft_convolve, mirror_pad, rl_geometry
    axes, widths, pshape, otf, crop = rl_geometry(x.shape, psf)
    b = fft_convolve(mirror_pad(x, widths).astype(np.float32), otf, axes, pshape)[crop]
    lam = np.maximum(photons * b + 10.0, 0)
    y = (rng.poisson(lam) + rng.normal(0, 1.0, lam.shape)).astype(np.float32)
    return x, y, psf


@pytest.mark.slow
@pytest.mark.parametrize("photons", [30, 1000])
def test_garl_keeps_improving_and_beats_the_raw_data_2d(photons):
    x, y, psf = _scene2d(photons)
    ref = x  # against the object itself (as benchmarks/garl.py)
    r = {}
    info = {}
    for it in (20, 100):
        out, info = nsd.deconvolve(y, "garl", psf=psf, iterations=it, return_info=True)
        assert out.shape == y.shape and out.dtype == np.float32 and out.min() >= 0
        r[it] = rsnr(out, ref)
    assert r[100] >= r[20] - 0.05, r
    assert r[100] > rsnr(y, ref) + 1.0, (r, rsnr(y, ref))
    e = info["estimates"] if "estimates" in info else info
    assert e["weights"] == "garl_2d.npz" and len(e["weights_sha256"]) == 64
    assert e["prior_sigma"] == pytest.approx(garl.NOISE_SCALE / np.sqrt(e["signal_photons"]),
                                             rel=1e-6)


@pytest.mark.slow
def test_garl_3d_uses_the_3d_filters_and_improves():
    rng = np.random.default_rng(4)
    x = np.zeros((16, 40, 40))
    zz, yy, xx = np.mgrid[:16, :40, :40]
    for _ in range(3):
        c = rng.uniform([4, 8, 8], [12, 32, 32])
        x += np.exp(-0.5 * ((np.sqrt(((zz - c[0]) * 2) ** 2 + (yy - c[1]) ** 2
                                     + (xx - c[2]) ** 2) - 5) / 1.0) ** 2)
    x /= x.max()
    psf = nsd.gaussian_psf((15, 11, 11), (5.0, 2.5, 2.5))
    from napari_sparsedecon.ops.padding import fft_convolve, mirror_pad, rl_geometry
    axes, widths, pshape, otf, crop = rl_geometry(x.shape, psf)
    b = fft_convolve(mirror_pad(x, widths).astype(np.float32), otf, axes, pshape)[crop]
    y = rng.poisson(100 * np.maximum(b, 0) + 5.0).astype(np.float32)
    ref = x
    out20, info = nsd.deconvolve(y, "garl", psf=psf, iterations=20, return_info=True)
    out60 = nsd.deconvolve(y, "garl", psf=psf, iterations=60)
    e = info.get("estimates", info)
    assert e["filters"].startswith("3-D") and e["weights"] == "garl_3d.npz"
    assert rsnr(out60, ref) >= rsnr(out20, ref) - 0.05
    assert rsnr(out60, ref) > rsnr(y, ref) + 1.0


def test_garl_is_registered_and_tileable():
    m = nsd.method_info("garl") if hasattr(nsd, "method_info") else None
    from napari_sparsedecon.algorithms.registry import get_method
    g = get_method("garl")
    assert g.tileable and g.validate({})["iterations"] == 100
    assert m is None or m.name == "garl"
    assert garl.halo(g.defaults(), nsd.gaussian_psf(None, 3.0)) > 12


@pytest.mark.slow
def test_garl_tiles_with_the_whole_image_estimates():
    """What registration gives for free: a tiled run (largedata.blocks, the whole
    image's camera/background/levels) matches the whole-image run inside the image."""
    from napari_sparsedecon.core.sparse_hessian import run
    from napari_sparsedecon.largedata.blocks import iter_method_tiled

    _, y, psf = _scene2d(200, seed=5, n=128)
    p = nsd.method_info("garl").validate({"iterations": 30})
    whole = run(iter_method_tiled(y, "garl", p, psf=psf))
    np.testing.assert_array_equal(whole, nsd.deconvolve(y, "garl", psf=psf, iterations=30,
                                                        backend="numpy"))
    info: dict = {}
    tiled = run(iter_method_tiled(y, "garl", p, psf=psf, tile=64, info=info))
    assert info["blocks"] == 4
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(tiled - whole)[inner].max() < 2e-3 * float(np.ptp(whole))
