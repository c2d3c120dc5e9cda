"""The numba kernels of :mod:`.numba_backend` (imported only when that backend is made).

Module-level functions, so that numba's on-disk cache (``cache=True``) serves them to
every later process: kernels defined inside a function were recompiled in each process
(~17 s here).
"""

from __future__ import annotations

from numba import njit, prange


@njit(inline="always")
def tv(wi, v):
    # t = w (d - b_new) = w (v - 2 clip(v)): what K^T spreads into the rhs
    c = min(max(v, -1.0), 1.0)
    return wi * (v - 2.0 * c)


# 2-D has a kernel of its own: running 2-D data through update3d as (1, Y, X) was
# measured 3.4x slower on 512x512 (3.3 vs 1.0 ms per update, 2026-12-02)
@njit(parallel=True, fastmath=False, cache=True)
def update2d(g, f, b, w, fid, rhs):
    # terms: 0 yy, 1 xx, 2 yx (mixed), 3 identity; w[i] == 0 switches a term off
    ny, nx = g.shape
    for y in prange(ny):
        for x in range(nx):
            gc = g[y, x]
            for i in range(4):
                if w[i] == 0.0:
                    continue
                if i == 0:
                    k = 0.0
                    if y + 1 < ny:
                        k += g[y + 1, x] - gc
                    if y > 0:
                        k -= gc - g[y - 1, x]
                elif i == 1:
                    k = 0.0
                    if x + 1 < nx:
                        k += g[y, x + 1] - gc
                    if x > 0:
                        k -= gc - g[y, x - 1]
                elif i == 2:
                    if y + 1 >= ny or x + 1 >= nx:
                        continue
                    k = (g[y + 1, x + 1] - g[y + 1, x]) - (g[y, x + 1] - gc)
                else:
                    k = gc
                vb = b[i, y, x]  # last step's v: its clip is the Bregman variable
                b[i, y, x] = min(max(vb, -1.0), 1.0) + k
    for y in prange(ny):
        for x in range(nx):
            r = fid * f[y, x]
            if w[0] != 0.0:
                tc = tv(w[0], b[0, y, x])
                if y + 1 < ny:
                    r += tv(w[0], b[0, y + 1, x]) - tc
                if y > 0:
                    r += tv(w[0], b[0, y - 1, x]) - tc
            if w[1] != 0.0:
                tc = tv(w[1], b[1, y, x])
                if x + 1 < nx:
                    r += tv(w[1], b[1, y, x + 1]) - tc
                if x > 0:
                    r += tv(w[1], b[1, y, x - 1]) - tc
            if w[2] != 0.0:
                # K^T of D_y D_x: t[y-1,x-1] - t[y-1,x] - t[y,x-1] + t[y,x] (t = 0
                # outside [0, n-1) on both axes)
                if y < ny - 1 and x < nx - 1:
                    r += tv(w[2], b[2, y, x])
                if y > 0 and x < nx - 1:
                    r -= tv(w[2], b[2, y - 1, x])
                if y < ny - 1 and x > 0:
                    r -= tv(w[2], b[2, y, x - 1])
                if y > 0 and x > 0:
                    r += tv(w[2], b[2, y - 1, x - 1])
            if w[3] != 0.0:
                r += tv(w[3], b[3, y, x])
            rhs[y, x] = r


@njit(parallel=True, fastmath=False, cache=True)
def update3d(g, f, b, w, fid, rhs):
    # terms: 0 yy, 1 xx, 2 yx, 3 tt, 4 ty, 5 tx, 6 identity
    nt, ny, nx = g.shape
    n = nt * ny
    for p in prange(n):
        z = p // ny
        y = p - z * ny
        for x in range(nx):
            gc = g[z, y, x]
            for i in range(7):
                if w[i] == 0.0:
                    continue
                if i == 0:
                    k = 0.0
                    if y + 1 < ny:
                        k += g[z, y + 1, x] - gc
                    if y > 0:
                        k -= gc - g[z, y - 1, x]
                elif i == 1:
                    k = 0.0
                    if x + 1 < nx:
                        k += g[z, y, x + 1] - gc
                    if x > 0:
                        k -= gc - g[z, y, x - 1]
                elif i == 2:
                    if y + 1 >= ny or x + 1 >= nx:
                        continue
                    k = (g[z, y + 1, x + 1] - g[z, y + 1, x]) - (g[z, y, x + 1] - gc)
                elif i == 3:
                    k = 0.0
                    if z + 1 < nt:
                        k += g[z + 1, y, x] - gc
                    if z > 0:
                        k -= gc - g[z - 1, y, x]
                elif i == 4:
                    if z + 1 >= nt or y + 1 >= ny:
                        continue
                    k = (g[z + 1, y + 1, x] - g[z + 1, y, x]) - (g[z, y + 1, x] - gc)
                elif i == 5:
                    if z + 1 >= nt or x + 1 >= nx:
                        continue
                    k = (g[z + 1, y, x + 1] - g[z + 1, y, x]) - (g[z, y, x + 1] - gc)
                else:
                    k = gc
                vb = b[i, z, y, x]
                b[i, z, y, x] = min(max(vb, -1.0), 1.0) + k
    for p in prange(n):
        z = p // ny
        y = p - z * ny
        for x in range(nx):
            r = fid * f[z, y, x]
            if w[0] != 0.0:
                tc = tv(w[0], b[0, z, y, x])
                if y + 1 < ny:
                    r += tv(w[0], b[0, z, y + 1, x]) - tc
                if y > 0:
                    r += tv(w[0], b[0, z, y - 1, x]) - tc
            if w[1] != 0.0:
                tc = tv(w[1], b[1, z, y, x])
                if x + 1 < nx:
                    r += tv(w[1], b[1, z, y, x + 1]) - tc
                if x > 0:
                    r += tv(w[1], b[1, z, y, x - 1]) - tc
            if w[3] != 0.0:
                tc = tv(w[3], b[3, z, y, x])
                if z + 1 < nt:
                    r += tv(w[3], b[3, z + 1, y, x]) - tc
                if z > 0:
                    r += tv(w[3], b[3, z - 1, y, x]) - tc
            if w[2] != 0.0:
                if y < ny - 1 and x < nx - 1:
                    r += tv(w[2], b[2, z, y, x])
                if y > 0 and x < nx - 1:
                    r -= tv(w[2], b[2, z, y - 1, x])
                if y < ny - 1 and x > 0:
                    r -= tv(w[2], b[2, z, y, x - 1])
                if y > 0 and x > 0:
                    r += tv(w[2], b[2, z, y - 1, x - 1])
            if w[4] != 0.0:
                if z < nt - 1 and y < ny - 1:
                    r += tv(w[4], b[4, z, y, x])
                if z > 0 and y < ny - 1:
                    r -= tv(w[4], b[4, z - 1, y, x])
                if z < nt - 1 and y > 0:
                    r -= tv(w[4], b[4, z, y - 1, x])
                if z > 0 and y > 0:
                    r += tv(w[4], b[4, z - 1, y - 1, x])
            if w[5] != 0.0:
                if z < nt - 1 and x < nx - 1:
                    r += tv(w[5], b[5, z, y, x])
                if z > 0 and x < nx - 1:
                    r -= tv(w[5], b[5, z - 1, y, x])
                if z < nt - 1 and x > 0:
                    r -= tv(w[5], b[5, z, y, x - 1])
                if z > 0 and x > 0:
                    r += tv(w[5], b[5, z - 1, y, x - 1])
            if w[6] != 0.0:
                r += tv(w[6], b[6, z, y, x])
            rhs[z, y, x] = r


@njit(parallel=True, fastmath=False, cache=True)
def divide3d(spec, ey, ex, et, base):
    # spec /= base + (e_y + e_x + sqrt(c) e_t)^2, the denominator made on the fly
    nt, ny, nx = spec.shape
    for p in prange(nt * ny):
        z = p // ny
        y = p - z * ny
        a = ey[y] + et[z]
        for x in range(nx):
            e = a + ex[x]
            spec[z, y, x] = spec[z, y, x] / (base + e * e)
