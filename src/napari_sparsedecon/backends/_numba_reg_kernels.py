"""numba kernels of the regularised RL plan (:class:`.numba_backend.NumbaRegularised`).

Module-level ``@njit(cache=True)`` functions (numba's on-disk cache serves them to every
later process; kernels defined inside functions were recompiled in each one), with
``error_model="numpy"`` (no zero-division checks, so the row loops vectorise). Arrays are
seen as (T, Z, Y, X): 2-D data as (1, 1, Y, X), 3-D as (1, Z, Y, X); an axis whose
weight is 0 costs one test per voxel. Three threaded passes per iteration, none of
which makes a temporary array:

- :func:`extrapolate`: ``v = max(x + beta (x - x_prev), floor)``;
- :func:`ratio_chi2`: ``r = max(H v + b, floor)``, chi^2 of r, then ``y / r`` (Poisson)
  or ``w r`` (least squares) in place;
- :func:`update_hessian_planes` (volumes) / :func:`update_hessian_rows` (2-D) /
  :func:`update_tv_rows`: the prior's gradient at v (each term's smoothed L1
  derivative computed into a few plane or row buffers per thread, never an array per
  term), its split into positive and negative parts, the split-gradient update and
  the restart test's dot product. (A first version recomputed every term at each
  voxel its adjoint gathers, as ``opencl/kernels/regularised.cl`` still does on a
  device: 21 evaluations per voxel for the 3-D Hessian; here it was 2-3x slower.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def extrapolate(x, xp, v, beta, floor):
    """v = max(x + beta (x - xp), floor) on flat arrays."""
    n = x.size
    for i in prange(n):
        a = x[i] + beta * (x[i] - xp[i])
        v[i] = a if a > floor else floor


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
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


# -- row kernels ----------------------------------------------------------------------
# The same passes written row by row: each term's smoothed L1 derivative is computed
# for whole rows (straight loops over x that the compiler vectorises, in float32 like
# the reference) into a few scratch rows per thread, then gathered. Per voxel this
# evaluates each term at the rows its adjoint needs (3-D Hessian: 15 row evaluations
# rather than 21 voxel evaluations with branches).


@njit(cache=True, error_model="numpy")
def _row_c2(v, q, s, ok, w, e2, out, nx):
    # w * phi(v[q+s] - 2 v[q] + v[q-s]) for the row starting at q; zeros when not ok
    if not ok:
        for i in range(nx):
            out[i] = 0.0
        return
    for i in range(nx):
        c = v[q + i]
        k = v[q + s + i] - (c + c) + v[q - s + i]
        out[i] = w * k / np.sqrt(k * k + e2)


@njit(cache=True, error_model="numpy")
def _row_cm(v, q, sa, sb, ok, w, e2, out, nx):
    # w * phi(D_a D_b v) for two row axes (strides sa, sb)
    if not ok:
        for i in range(nx):
            out[i] = 0.0
        return
    for i in range(nx):
        k = (v[q + sa + sb + i] - v[q + sa + i]) - (v[q + sb + i] - v[q + i])
        out[i] = w * k / np.sqrt(k * k + e2)


@njit(cache=True, error_model="numpy")
def _row_cmx(v, q, sa, ok, w, e2, out, nx):
    # w * phi(D_a D_x v): a row axis with x (0 at the last x)
    out[nx - 1] = 0.0
    if not ok:
        for i in range(nx - 1):
            out[i] = 0.0
        return
    for i in range(nx - 1):
        k = (v[q + sa + i + 1] - v[q + sa + i]) - (v[q + i + 1] - v[q + i])
        out[i] = w * k / np.sqrt(k * k + e2)


@njit(cache=True, error_model="numpy")
def _row_cxx(v, q, w, e2, out, nx):
    # w * phi(second difference along x), 0 at both ends
    out[0] = 0.0
    out[nx - 1] = 0.0
    for i in range(1, nx - 1):
        c = v[q + i]
        k = v[q + i + 1] - (c + c) + v[q + i - 1]
        out[i] = w * k / np.sqrt(k * k + e2)


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _row_finish(v, a, nd, x, out, q, g, nx, poisson, lam, sparsity, floor):
    # the split-gradient update of one row (g: the prior's gradient without lam), written
    # over x_prev in out; returns the row's (new - x) . (x - x_prev). Branch-free loops,
    # one per data term, so that they vectorise (the dot is summed in any order).
    zero = np.float32(0.0)
    tiny = np.float32(1e-12)
    one = np.float32(1.0)
    d = np.float32(0.0)
    if poisson:
        for i in range(nx):
            p = q + i
            gg = lam * g[i]
            num = max(a[p] - min(gg, zero), zero)
            den = max(one + max(gg, zero) + sparsity, tiny)
            new = max(num * v[p] / den, floor)
            xv = x[p]
            d += (new - xv) * (xv - out[p])
            out[p] = new
    else:
        for i in range(nx):
            p = q + i
            gg = lam * g[i]
            num = max(nd[p] - min(gg, zero), zero)
            den = max(a[p] + max(gg, zero) + sparsity, tiny)
            new = max(num * v[p] / den, floor)
            xv = x[p]
            d += (new - xv) * (xv - out[p])
            out[p] = new
    return np.float64(d)


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def update_hessian_rows(v, a, nd, x, out, dims, s2, mx, e2, poisson, lam, sparsity,
                        floor):
    """Hessian prior + split-gradient update, row by row, on flat float32 arrays of shape
    ``dims`` (T, Z, Y, X).

    ``s2[i]``: weight of the second difference along axis i; ``mx[i, j]`` (i < j): of
    the mixed difference of axes i and j (float32). ``a``: H^T of the Poisson ratio
    (Poisson) or H^T(w H v) (least squares, with ``nd`` = H^T(w y)). The new estimate
    is written into ``out`` (which holds x_prev, read first); returns
    dot(new - x, x - x_prev)."""
    nt, nz, ny, nx = dims[0], dims[1], dims[2], dims[3]
    st = (nz * ny * nx, ny * nx, nx)  # strides of the row axes t, z, y
    n = (nt, nz, ny)
    rows = nt * nz * ny
    nblk = min(rows, 256)
    blk = (rows + nblk - 1) // nblk
    e2 = np.float32(e2)
    lam = np.float32(lam)
    sparsity = np.float32(sparsity)
    floor = np.float32(floor)
    one = np.float32(1.0)
    dot = 0.0
    for b in prange(nblk):
        buf = np.empty((4, nx), np.float32)
        g = np.empty(nx, np.float32)
        d = 0.0
        for r in range(b * blk, min(rows, (b + 1) * blk)):
            c = (r // (nz * ny), (r // ny) % nz, r % ny)
            q = r * nx
            for i in range(nx):
                g[i] = 0.0
            for ax in range(3):  # second differences along t, z, y
                w = s2[ax]
                if w == 0.0:
                    continue
                s, ca, na = st[ax], c[ax], n[ax]
                _row_c2(v, q - s, s, 1 <= ca - 1 <= na - 2, w, e2, buf[0], nx)
                _row_c2(v, q, s, 1 <= ca <= na - 2, w, e2, buf[1], nx)
                _row_c2(v, q + s, s, 1 <= ca + 1 <= na - 2, w, e2, buf[2], nx)
                _acc(g, buf[0], one, nx)
                _acc(g, buf[1], np.float32(-2.0), nx)
                _acc(g, buf[2], one, nx)
            if s2[3] != 0.0 and nx >= 3:  # along x
                _row_cxx(v, q, s2[3], e2, buf[0], nx)
                _acc_xx(g, buf[0], nx)
            for ia in range(3):  # mixed terms of two row axes
                for ib in range(ia + 1, 3):
                    w = mx[ia, ib]
                    if w == 0.0:
                        continue
                    sa, sb, ca, cb = st[ia], st[ib], c[ia], c[ib]
                    la, lb = n[ia] - 1, n[ib] - 1
                    _row_cm(v, q, sa, sb, ca < la and cb < lb, w, e2, buf[0], nx)
                    _row_cm(v, q - sa, sa, sb, 0 <= ca - 1 and cb < lb, w, e2, buf[1], nx)
                    _row_cm(v, q - sb, sa, sb, ca < la and 0 <= cb - 1, w, e2, buf[2], nx)
                    _row_cm(v, q - sa - sb, sa, sb, 0 <= ca - 1 and 0 <= cb - 1, w, e2,
                            buf[3], nx)
                    _acc(g, buf[0], one, nx)
                    _acc(g, buf[1], -one, nx)
                    _acc(g, buf[2], -one, nx)
                    _acc(g, buf[3], one, nx)
            for ia in range(3):  # mixed terms of a row axis with x
                w = mx[ia, 3]
                if w == 0.0 or nx < 2:
                    continue
                sa, ca, la = st[ia], c[ia], n[ia] - 1
                _row_cmx(v, q, sa, ca < la, w, e2, buf[0], nx)
                _row_cmx(v, q - sa, sa, 0 <= ca - 1, w, e2, buf[1], nx)
                _acc_dx(g, buf[0], one, nx)
                _acc_dx(g, buf[1], -one, nx)
            d += _row_finish(v, a, nd, x, out, q, g, nx, poisson, lam, sparsity, floor)
        dot += d
    return dot


@njit(cache=True, error_model="numpy")
def _row_tv(v, q, c, n, st, w, e2, ga, nx):
    # ga[k] (k = t, z, y, x): w_k g_k / n at each x of the row at q (coordinates c)
    for i in range(nx):
        ga[4, i] = e2
    for ax in range(3):
        if w[ax] == 0.0:  # an axis that is off: zeros, not the buffer's old contents
            for i in range(nx):
                ga[ax, i] = 0.0
            continue
        if c[ax] < n[ax] - 1:
            s = st[ax]
            for i in range(nx):
                dd = v[q + s + i] - v[q + i]
                ga[ax, i] = dd
                ga[4, i] += w[ax] * dd * dd
        else:
            for i in range(nx):
                ga[ax, i] = 0.0
    if w[3] != 0.0:
        for i in range(nx - 1):
            dd = v[q + i + 1] - v[q + i]
            ga[3, i] = dd
            ga[4, i] += w[3] * dd * dd
        ga[3, nx - 1] = 0.0
    else:
        for i in range(nx):
            ga[3, i] = 0.0
    for i in range(nx):
        inv = np.float32(1.0) / np.sqrt(ga[4, i])
        for ax in range(4):
            ga[ax, i] = w[ax] * ga[ax, i] * inv


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def update_tv_rows(v, a, nd, x, out, dims, wts, e2, poisson, lam, sparsity, floor):
    """TV prior + split-gradient update (as :func:`update_hessian_rows`); ``wts[i]``:
    the weight of axis i's squared difference inside the norm (0: axis off)."""
    nt, nz, ny, nx = dims[0], dims[1], dims[2], dims[3]
    st = (nz * ny * nx, ny * nx, nx)
    n = (nt, nz, ny)
    rows = nt * nz * ny
    nblk = min(rows, 256)
    blk = (rows + nblk - 1) // nblk
    e2 = np.float32(e2)
    lam = np.float32(lam)
    sparsity = np.float32(sparsity)
    floor = np.float32(floor)
    dot = 0.0
    for b in prange(nblk):
        q0 = np.empty((5, nx), np.float32)
        q1 = np.empty((5, nx), np.float32)
        g = np.empty(nx, np.float32)
        d = 0.0
        for r in range(b * blk, min(rows, (b + 1) * blk)):
            c = (r // (nz * ny), (r // ny) % nz, r % ny)
            q = r * nx
            _row_tv(v, q, c, n, st, wts, e2, q0, nx)
            # gradient = sum_a q_a(p - e_a) - q_a(p)
            for i in range(nx):
                g[i] = -(q0[0, i] + q0[1, i] + q0[2, i] + q0[3, i])
            if wts[3] != 0.0:
                for i in range(1, nx):
                    g[i] += q0[3, i - 1]
            for ax in range(3):
                if wts[ax] == 0.0 or c[ax] < 1:
                    continue
                if ax == 0:
                    cc = (c[0] - 1, c[1], c[2])
                elif ax == 1:
                    cc = (c[0], c[1] - 1, c[2])
                else:
                    cc = (c[0], c[1], c[2] - 1)
                _row_tv(v, q - st[ax], cc, n, st, wts, e2, q1, nx)
                for i in range(nx):
                    g[i] += q1[ax, i]
            d += _row_finish(v, a, nd, x, out, q, g, nx, poisson, lam, sparsity, floor)
        dot += d
    return dot


# -- plane kernels --------------------------------------------------------------------
# The fastest form: (Y, X) planes in order, each term's smoothed L1 derivative computed
# once per voxel into plane buffers (the z terms in a ring of the last two or three
# planes), then gathered row by row in parallel. Per voxel: one evaluation per term (the
# minimum; 3-D Hessian: 6 rather than 15 row or 21 voxel evaluations), and v, the
# buffers and the output stay in cache between the two parallel loops of a plane. The
# t terms of (T, Z, Y, X) data are evaluated row by row (as update_hessian_rows).


@njit(cache=True, error_model="numpy")
def _acc(g, r, sign, nx):
    # g += sign * r
    for i in range(nx):
        g[i] += sign * r[i]


@njit(cache=True, error_model="numpy")
def _acc_dx(g, r, sign, nx):
    # g += sign * (r - r shifted by one along x), r[-1] = 0: the adjoint of D_x
    g[0] += sign * r[0]
    for i in range(1, nx):
        g[i] += sign * (r[i] - r[i - 1])


@njit(cache=True, error_model="numpy")
def _acc_xx(g, c, nx):
    # g += c[i-1] - 2 c[i] + c[i+1] (c = 0 outside the row)
    g[0] += c[1] - (c[0] + c[0])
    for i in range(1, nx - 1):
        g[i] += c[i - 1] - (c[i] + c[i]) + c[i + 1]
    g[nx - 1] += c[nx - 2] - (c[nx - 1] + c[nx - 1])


@njit(parallel=True, fastmath=False, cache=True, error_model="numpy")
def update_hessian_planes(v, a, nd, x, out, dims, s2, mx, e2, poisson, lam, sparsity,
                          floor, nchunks):
    """:func:`update_hessian_rows` plane by plane (same arguments, and ``nchunks``).

    One parallel loop over chunks of consecutive planes (``nchunks`` per time point);
    each chunk runs its planes in order with its own plane buffers (the ring's first
    planes recomputed at the chunk's start), so threads meet once per call, not once
    per plane (on a loaded machine every meeting waits for a descheduled thread)."""
    nt, nz, ny, nx = dims[0], dims[1], dims[2], dims[3]
    P = ny * nx
    S = nz * P
    e2 = np.float32(e2)
    lam = np.float32(lam)
    sparsity = np.float32(sparsity)
    floor = np.float32(floor)
    w0, w1, w2, w3 = s2[0], s2[1], s2[2], s2[3]
    m01, m02, m03 = mx[0, 1], mx[0, 2], mx[0, 3]
    m12, m13, m23 = mx[1, 2], mx[1, 3], mx[2, 3]
    one = np.float32(1.0)
    nc = max(1, min(nchunks, nz))
    zstep = (nz + nc - 1) // nc
    nc = (nz + zstep - 1) // zstep
    dot = 0.0
    for job in prange(nt * nc):
        t = job // nc
        z0 = (job % nc) * zstep
        z1 = min(nz, z0 + zstep)
        cyy = np.zeros(P, np.float32)
        cxx = np.zeros(P, np.float32)
        cyx = np.zeros(P, np.float32)
        czz = np.zeros((3, P), np.float32)  # planes k at slots k % 3 (k >= -1: (k+3) % 3)
        czy = np.zeros((2, P), np.float32)  # planes k at slots (k + 2) % 2
        czx = np.zeros((2, P), np.float32)
        g = np.empty(nx, np.float32)
        d = 0.0
        # the ring's planes before z0: zz at z0 - 1 and z0, zy and zx at z0 - 1
        for k in range(z0 - 1, z0 + 1):
            if w1 != 0.0 and 0 <= k < nz:
                for y in range(ny):
                    q = t * S + k * P + y * nx
                    _row_c2(v, q, P, 1 <= k <= nz - 2, w1, e2,
                            czz[(k + 3) % 3, y * nx:(y + 1) * nx], nx)
        k = z0 - 1
        if k >= 0:
            for y in range(ny):
                q = t * S + k * P + y * nx
                r0, r1 = y * nx, (y + 1) * nx
                if m12 != 0.0:
                    _row_cm(v, q, P, nx, k < nz - 1 and y < ny - 1, m12, e2,
                            czy[(k + 2) % 2, r0:r1], nx)
                if m13 != 0.0 and nx >= 2:
                    _row_cmx(v, q, P, k < nz - 1, m13, e2, czx[(k + 2) % 2, r0:r1], nx)
        for z in range(z0, z1):
            base = t * S + z * P
            snew = (z + 1) % 3
            zc, zm = z % 3, (z + 2) % 3
            yc, ym = z % 2, (z + 1) % 2
            for y in range(ny):
                q = base + y * nx
                r0, r1 = y * nx, (y + 1) * nx
                if w2 != 0.0:
                    _row_c2(v, q, nx, 1 <= y <= ny - 2, w2, e2, cyy[r0:r1], nx)
                if w3 != 0.0 and nx >= 3:
                    _row_cxx(v, q, w3, e2, cxx[r0:r1], nx)
                if m23 != 0.0 and nx >= 2:
                    _row_cmx(v, q, nx, y < ny - 1, m23, e2, cyx[r0:r1], nx)
                if w1 != 0.0:
                    if z + 1 < nz:
                        _row_c2(v, q + P, P, 1 <= z + 1 <= nz - 2, w1, e2,
                                czz[snew, r0:r1], nx)
                    else:
                        czz[snew, r0:r1] = 0.0
                if m12 != 0.0:
                    _row_cm(v, q, P, nx, z < nz - 1 and y < ny - 1, m12, e2,
                            czy[yc, r0:r1], nx)
                if m13 != 0.0 and nx >= 2:
                    _row_cmx(v, q, P, z < nz - 1, m13, e2, czx[yc, r0:r1], nx)
            for y in range(ny):
                q = base + y * nx
                r0, r1 = y * nx, (y + 1) * nx
                rm = r0 - nx  # the row above (valid when y > 0)
                for i in range(nx):
                    g[i] = 0.0
                if w2 != 0.0:
                    _acc(g, cyy[r0:r1], np.float32(-2.0), nx)
                    if y > 0:
                        _acc(g, cyy[rm:r0], one, nx)
                    if y < ny - 1:
                        _acc(g, cyy[r1:r1 + nx], one, nx)
                if w3 != 0.0 and nx >= 3:
                    _acc_xx(g, cxx[r0:r1], nx)
                if m23 != 0.0 and nx >= 2:
                    _acc_dx(g, cyx[r0:r1], one, nx)
                    if y > 0:
                        _acc_dx(g, cyx[rm:r0], -one, nx)
                if w1 != 0.0:
                    _acc(g, czz[zm, r0:r1], one, nx)
                    _acc(g, czz[zc, r0:r1], np.float32(-2.0), nx)
                    _acc(g, czz[snew, r0:r1], one, nx)
                if m12 != 0.0:
                    _acc(g, czy[yc, r0:r1], one, nx)
                    _acc(g, czy[ym, r0:r1], -one, nx)
                    if y > 0:
                        _acc(g, czy[yc, rm:r0], -one, nx)
                        _acc(g, czy[ym, rm:r0], one, nx)
                if m13 != 0.0 and nx >= 2:
                    _acc_dx(g, czx[yc, r0:r1], one, nx)
                    _acc_dx(g, czx[ym, r0:r1], -one, nx)
                if w0 != 0.0 or m01 != 0.0 or m02 != 0.0 or m03 != 0.0:
                    _t_terms(v, q, t, z, y, nt, nz, ny, nx, S, P, w0, m01, m02, m03, e2, g)
                d += _row_finish(v, a, nd, x, out, q, g, nx, poisson, lam, sparsity, floor)
        dot += d
    return dot


@njit(cache=True, error_model="numpy")
def _t_terms(v, q, t, z, y, nt, nz, ny, nx, S, P, w0, m01, m02, m03, e2, g):
    # the t terms of (T, Z, Y, X) data at the row q, evaluated row by row
    buf = np.empty((4, nx), np.float32)
    if w0 != 0.0:
        _row_c2(v, q - S, S, 1 <= t - 1 <= nt - 2, w0, e2, buf[0], nx)
        _row_c2(v, q, S, 1 <= t <= nt - 2, w0, e2, buf[1], nx)
        _row_c2(v, q + S, S, 1 <= t + 1 <= nt - 2, w0, e2, buf[2], nx)
        for i in range(nx):
            g[i] += buf[0, i] - (buf[1, i] + buf[1, i]) + buf[2, i]
    for j in range(2):
        if j == 0:
            sb, cb, nb, w = P, z, nz, m01
        else:
            sb, cb, nb, w = nx, y, ny, m02
        if w == 0.0:
            continue
        lt, lb = nt - 1, nb - 1
        _row_cm(v, q, S, sb, t < lt and cb < lb, w, e2, buf[0], nx)
        _row_cm(v, q - S, S, sb, 0 <= t - 1 and cb < lb, w, e2, buf[1], nx)
        _row_cm(v, q - sb, S, sb, t < lt and 0 <= cb - 1, w, e2, buf[2], nx)
        _row_cm(v, q - S - sb, S, sb, 0 <= t - 1 and 0 <= cb - 1, w, e2, buf[3], nx)
        for i in range(nx):
            g[i] += (buf[0, i] - buf[1, i]) - (buf[2, i] - buf[3, i])
    if m03 != 0.0 and nx >= 2:
        _row_cmx(v, q, S, t < nt - 1, m03, e2, buf[0], nx)
        _row_cmx(v, q - S, S, 0 <= t - 1, m03, e2, buf[1], nx)
        g[0] += buf[0, 0] - buf[1, 0]
        for i in range(1, nx):
            g[i] += (buf[0, i] - buf[0, i - 1]) - (buf[1, i] - buf[1, i - 1])
