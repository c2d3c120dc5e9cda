"""numba kernels of the regularised RL plan (:class:`.numba_backend.NumbaRegularised`).

Module-level ``@njit(cache=True)`` functions (numba's on-disk cache serves them to every
later process; kernels defined inside functions were recompiled in each one). Arrays are
seen as (T, Z, Y, X): 2-D data as (1, 1, Y, X), 3-D as (1, Z, Y, X); an axis whose
weight is 0 costs one test per voxel. Three threaded passes per iteration, none of
which makes a temporary array:

- :func:`extrapolate`: ``v = max(x + beta (x - x_prev), floor)``;
- :func:`ratio_chi2`: ``r = max(H v + b, floor)``, chi^2 of r, then ``y / r`` (Poisson)
  or ``w r`` (least squares) in place;
- :func:`update_tv` / :func:`update_hessian`: the prior's gradient at v, computed per
  voxel from v's neighbours (each term's smoothed L1 derivative is recomputed at the
  few points its adjoint gathers, rather than stored), its split into positive and
  negative parts, the split-gradient update and the restart test's dot product.
"""

from __future__ import annotations

import math

from numba import njit, prange


@njit(parallel=True, fastmath=False, cache=True)
def extrapolate(x, xp, v, beta, floor):
    """v = max(x + beta (x - xp), floor) on flat arrays."""
    n = x.size
    for i in prange(n):
        a = x[i] + beta * (x[i] - xp[i])
        v[i] = a if a > floor else floor


@njit(parallel=True, fastmath=False, cache=True)
def ratio_chi2(hv, y, b, has_b, b0, w, poisson, floor):
    """In place on flat ``hv``: r = max(hv + b, floor); returns sum((y - r)^2 / r); hv
    becomes y / r (Poisson) or w r (weighted least squares). ``b`` is used when
    ``has_b``, else the scalar ``b0``."""
    n = hv.size
    nblk = 64
    step = (n + nblk - 1) // nblk
    tot = 0.0
    for j in prange(nblk):
        s = 0.0
        for i in range(j * step, min(n, (j + 1) * step)):
            bb = b[i] if has_b else b0
            r = hv[i] + bb
            if r < floor:
                r = floor
            d = y[i] - r
            s += d * d / r
            if poisson:
                hv[i] = y[i] / r
            else:
                hv[i] = w[i] * r
        tot += s
    return tot


@njit(inline="always")
def _c2(v, p, s, c, n, w, e2):
    # w * phi(k) of the second difference along an axis (stride s, coordinate c of n);
    # 0 on its first and last planes
    if c < 1 or c > n - 2:
        return 0.0
    k = v[p + s] - 2.0 * v[p] + v[p - s]
    return w * k / math.sqrt(k * k + e2)


@njit(inline="always")
def _g2(v, p, s, c, n, w, e2):
    # the adjoint of the second difference applied to phi: c(p-1) - 2 c(p) + c(p+1)
    return (_c2(v, p - s, s, c - 1, n, w, e2) - 2.0 * _c2(v, p, s, c, n, w, e2)
            + _c2(v, p + s, s, c + 1, n, w, e2))


@njit(inline="always")
def _cm(v, p, sa, ca, na, sb, cb, nb, w, e2):
    # w * phi(k) of the mixed difference D_a D_b v (forward differences; 0 where either
    # axis is at its last plane)
    if ca < 0 or cb < 0 or ca >= na - 1 or cb >= nb - 1:
        return 0.0
    k = v[p + sa + sb] - v[p + sa] - v[p + sb] + v[p]
    return w * k / math.sqrt(k * k + e2)


@njit(inline="always")
def _gm(v, p, sa, ca, na, sb, cb, nb, w, e2):
    # (D_a D_b)^T phi: c(p) - c(p - a) - c(p - b) + c(p - a - b)
    return (_cm(v, p, sa, ca, na, sb, cb, nb, w, e2)
            - _cm(v, p - sa, sa, ca - 1, na, sb, cb, nb, w, e2)
            - _cm(v, p - sb, sa, ca, na, sb, cb - 1, nb, w, e2)
            + _cm(v, p - sa - sb, sa, ca - 1, na, sb, cb - 1, nb, w, e2))


@njit(inline="always")
def _finish(g, vp, a, nd, poisson, lam, sparsity, floor):
    # the split-gradient update at one voxel: g is the prior's gradient (without lam)
    gg = lam * g
    if poisson:
        num = a
        den = 1.0
    else:
        num = nd
        den = a
    if gg < 0.0:
        num -= gg
    else:
        den += gg
    den += sparsity
    if den < 1e-12:
        den = 1e-12
    if num < 0.0:
        num = 0.0
    new = num * vp / den
    return new if new > floor else floor


@njit(parallel=True, fastmath=False, cache=True)
def update_hessian(v, a, nd, x, out, dims, s2, mx, e2, poisson, lam, sparsity, floor):
    """Hessian prior + split-gradient update on flat arrays of shape ``dims`` (T, Z, Y, X).

    ``s2[i]``: weight of the second difference along axis i; ``mx[i, j]`` (i < j): of
    the mixed difference of axes i and j. ``a``: H^T of the Poisson ratio (Poisson) or
    H^T(w H v) (least squares, with ``nd`` = H^T(w y)). The new estimate is written into
    ``out`` (which holds x_prev, read first); returns dot(new - x, x - x_prev).
    """
    nt, nz, ny, nx = dims[0], dims[1], dims[2], dims[3]
    sx = 1
    sy = nx
    sz = ny * nx
    st = nz * ny * nx
    rows = nt * nz * ny
    w0, w1, w2, w3 = s2[0], s2[1], s2[2], s2[3]
    m01, m02, m03 = mx[0, 1], mx[0, 2], mx[0, 3]
    m12, m13, m23 = mx[1, 2], mx[1, 3], mx[2, 3]
    dot = 0.0
    for r in prange(rows):
        t = r // (nz * ny)
        z = (r // ny) % nz
        y = r % ny
        base = r * nx
        d = 0.0
        for xx in range(nx):
            p = base + xx
            g = 0.0
            if w2 != 0.0:
                g += _g2(v, p, sy, y, ny, w2, e2)
            if w3 != 0.0:
                g += _g2(v, p, sx, xx, nx, w3, e2)
            if m23 != 0.0:
                g += _gm(v, p, sy, y, ny, sx, xx, nx, m23, e2)
            if w1 != 0.0:
                g += _g2(v, p, sz, z, nz, w1, e2)
            if m12 != 0.0:
                g += _gm(v, p, sz, z, nz, sy, y, ny, m12, e2)
            if m13 != 0.0:
                g += _gm(v, p, sz, z, nz, sx, xx, nx, m13, e2)
            if w0 != 0.0:
                g += _g2(v, p, st, t, nt, w0, e2)
            if m01 != 0.0:
                g += _gm(v, p, st, t, nt, sz, z, nz, m01, e2)
            if m02 != 0.0:
                g += _gm(v, p, st, t, nt, sy, y, ny, m02, e2)
            if m03 != 0.0:
                g += _gm(v, p, st, t, nt, sx, xx, nx, m03, e2)
            new = _finish(g, v[p], a[p], nd[p] if not poisson else 0.0, poisson, lam,
                          sparsity, floor)
            xv = x[p]
            d += (new - xv) * (xv - out[p])
            out[p] = new
        dot += d
    return dot


@njit(inline="always")
def _tvq(v, p, t, z, y, xx, nt, nz, ny, nx, st, sz, sy, w0, w1, w2, w3, e2):
    # forward differences at p (0 at each axis' last plane) and 1 / the smoothed norm
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    g3 = 0.0
    vp = v[p]
    if w0 != 0.0 and t < nt - 1:
        g0 = v[p + st] - vp
    if w1 != 0.0 and z < nz - 1:
        g1 = v[p + sz] - vp
    if w2 != 0.0 and y < ny - 1:
        g2 = v[p + sy] - vp
    if w3 != 0.0 and xx < nx - 1:
        g3 = v[p + 1] - vp
    n = e2 + w0 * g0 * g0 + w1 * g1 * g1 + w2 * g2 * g2 + w3 * g3 * g3
    return g0, g1, g2, g3, 1.0 / math.sqrt(n)


@njit(parallel=True, fastmath=False, cache=True)
def update_tv(v, a, nd, x, out, dims, wts, e2, poisson, lam, sparsity, floor):
    """TV prior + split-gradient update (as :func:`update_hessian`); ``wts[i]``: the
    weight of axis i's squared difference inside the norm (0: axis off)."""
    nt, nz, ny, nx = dims[0], dims[1], dims[2], dims[3]
    sy = nx
    sz = ny * nx
    st = nz * ny * nx
    rows = nt * nz * ny
    w0, w1, w2, w3 = wts[0], wts[1], wts[2], wts[3]
    dot = 0.0
    for r in prange(rows):
        t = r // (nz * ny)
        z = (r // ny) % nz
        y = r % ny
        base = r * nx
        d = 0.0
        for xx in range(nx):
            p = base + xx
            # q_a = w_a g_a / n; gradient = sum_a q_a(p - e_a) - q_a(p)
            g0, g1, g2, g3, inv = _tvq(v, p, t, z, y, xx, nt, nz, ny, nx, st, sz, sy,
                                        w0, w1, w2, w3, e2)
            g = -(w0 * g0 + w1 * g1 + w2 * g2 + w3 * g3) * inv
            if w3 != 0.0 and xx > 0:
                h0, h1, h2, h3, hinv = _tvq(v, p - 1, t, z, y, xx - 1, nt, nz, ny, nx,
                                            st, sz, sy, w0, w1, w2, w3, e2)
                g += w3 * h3 * hinv
            if w2 != 0.0 and y > 0:
                h0, h1, h2, h3, hinv = _tvq(v, p - sy, t, z, y - 1, xx, nt, nz, ny, nx,
                                            st, sz, sy, w0, w1, w2, w3, e2)
                g += w2 * h2 * hinv
            if w1 != 0.0 and z > 0:
                h0, h1, h2, h3, hinv = _tvq(v, p - sz, t, z - 1, y, xx, nt, nz, ny, nx,
                                            st, sz, sy, w0, w1, w2, w3, e2)
                g += w1 * h1 * hinv
            if w0 != 0.0 and t > 0:
                h0, h1, h2, h3, hinv = _tvq(v, p - st, t - 1, z, y, xx, nt, nz, ny, nx,
                                            st, sz, sy, w0, w1, w2, w3, e2)
                g += w0 * h0 * hinv
            new = _finish(g, v[p], a[p], nd[p] if not poisson else 0.0, poisson, lam,
                          sparsity, floor)
            xv = x[p]
            d += (new - xv) * (xv - out[p])
            out[p] = new
        dot += d
    return dot
