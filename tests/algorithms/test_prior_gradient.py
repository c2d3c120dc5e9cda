"""The priors' gradients (ops.regularised.PriorGradient) against finite differences of the
smoothed energies they descend, written here from the mathematics."""

import numpy as np
import pytest

from napari_sparsedecon.ops.regularised import PriorGradient


def _fd(x, ax):
    d = np.zeros_like(x)
    sl = [slice(None)] * x.ndim
    lo, hi = list(sl), list(sl)
    lo[ax], hi[ax] = slice(None, -1), slice(1, None)
    d[tuple(lo)] = x[tuple(hi)] - x[tuple(lo)]
    return d


def _d2(x, ax):
    d = np.zeros_like(x)
    n = x.shape[ax]
    c = np.take(x, range(1, n - 1), axis=ax)
    p = np.take(x, range(2, n), axis=ax)
    m = np.take(x, range(0, n - 2), axis=ax)
    idx = [slice(None)] * x.ndim
    idx[ax] = slice(1, -1)
    d[tuple(idx)] = p - 2 * c + m
    return d


def energy(kind, x, eps, cont, aspect):
    y, xx = x.ndim - 2, x.ndim - 1
    if kind == "tv":
        w = [(y, 1.0), (xx, 1.0)] + ([(0, (cont / aspect) ** 2)] if x.ndim == 3 and cont else [])
        return np.sum(np.sqrt(eps**2 + sum(wa * _fd(x, a) ** 2 for a, wa in w)))
    terms = [(_d2(x, y), 1.0), (_d2(x, xx), 1.0), (_fd(_fd(x, xx), y), 2.0)]
    if x.ndim == 3 and cont:
        terms += [(_d2(x, 0), cont / aspect**2),
                  (_fd(_fd(x, y), 0), 2 * np.sqrt(cont) / aspect),
                  (_fd(_fd(x, xx), 0), 2 * np.sqrt(cont) / aspect)]
    return sum(w * np.sum(np.sqrt(k**2 + eps**2)) for k, w in terms)


def _numeric_gradient(energy_of, x, h=1e-5):
    """Central finite differences of ``energy_of`` at ``x``, one voxel at a time."""
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (energy_of(x + e) - energy_of(x - e)) / (2 * h)
    return num


@pytest.mark.parametrize("kind", ["tv", "hessian"])
@pytest.mark.parametrize("shape, cont, aspect", [((9, 11), 0.0, 1.0),
                                                  ((5, 8, 7), 1.0, 1.0),
                                                  ((5, 8, 7), 0.5, 2.5)])
def test_prior_gradient_matches_finite_differences(kind, shape, cont, aspect):
    rng = np.random.default_rng(0)
    x = rng.random(shape)
    eps = 0.3
    g = PriorGradient(kind, len(shape), eps=eps, continuity=cont, aspect=aspect)(
        x.astype(np.float32)).astype(np.float64)
    num = _numeric_gradient(lambda v: energy(kind, v, eps, cont, aspect), x)
    np.testing.assert_allclose(g, num, rtol=2e-3, atol=2e-3 * np.abs(num).max())


def energy_4d(kind, x, eps, ct, cz, aspect):
    """(T, Z, Y, X): per axis a scale s_a (s_y = s_x = 1, s_z = sqrt(cz) / aspect,
    s_t = sqrt(ct)); Hessian: s_a^2 |d_aa| on the diagonal, 2 s_a s_b |d_ab| off it."""
    s = {0: np.sqrt(ct), 1: np.sqrt(cz) / aspect, 2: 1.0, 3: 1.0}
    on = [a for a in range(4) if s[a] > 0]
    if kind == "tv":
        w = {0: ct**2, 1: (cz / aspect) ** 2, 2: 1.0, 3: 1.0}
        return np.sum(np.sqrt(eps**2 + sum(w[a] * _fd(x, a) ** 2 for a in on)))
    e = 0.0
    for i, a in enumerate(on):
        e += s[a] ** 2 * np.sum(np.sqrt(_d2(x, a) ** 2 + eps**2))
        for b in on[i + 1:]:
            e += 2 * s[a] * s[b] * np.sum(np.sqrt(_fd(_fd(x, b), a) ** 2 + eps**2))
    return e


@pytest.mark.parametrize("kind", ["tv", "hessian"])
@pytest.mark.parametrize("ct, cz, aspect", [(0.7, 0.0, 1.0), (0.0, 1.0, 2.0),
                                            (0.7, 1.0, 2.0)])
def test_prior_gradient_4d_matches_finite_differences(kind, ct, cz, aspect):
    """(T, Z, Y, X): continuity in t (axis 0) and z (axis 1, scaled by the aspect)."""
    shape = (3, 4, 5, 5)
    x = np.random.default_rng(1).random(shape)
    eps = 0.3
    g = PriorGradient(kind, 4, eps=eps, continuity=cz, aspect=aspect, t_continuity=ct)(
        x.astype(np.float32)).astype(np.float64)
    num = _numeric_gradient(lambda v: energy_4d(kind, v, eps, ct, cz, aspect), x)
    np.testing.assert_allclose(g, num, rtol=2e-3, atol=2e-3 * np.abs(num).max())


def test_prior_gradient_4d_without_t_is_volume_by_volume():
    """t_continuity 0: each time point's gradient is the 3-D one of that volume."""
    x = np.random.default_rng(2).random((3, 4, 6, 6)).astype(np.float32)
    g4 = PriorGradient("hessian", 4, eps=0.3, continuity=1.0, aspect=2.0)(x).copy()
    p3 = PriorGradient("hessian", 3, eps=0.3, continuity=1.0, aspect=2.0)
    for t in range(3):
        np.testing.assert_allclose(g4[t], p3(x[t]), rtol=1e-6, atol=1e-6)


def test_prior_gradient_rejects_5d():
    with pytest.raises(ValueError, match="ndim"):
        PriorGradient("tv", 5, eps=1.0)
