// Regularised RL (rl_tv, sparse_psf): the element-wise and stencil passes of one
// iteration (the two FFT pairs run elsewhere). Arrays are flat, seen as (T, Z, Y, X)
// (2-D data as (1, 1, Y, X)); an axis whose weight is 0 costs one test per voxel.
// Reductions (chi^2, the restart test's dot product) leave one partial sum per
// work-group in `part`, summed on the host. Work-groups are of size LOCAL (a -D).

#ifndef LOCAL
#define LOCAL 64
#endif

inline void group_sum(float s, __local float *scratch, __global float *part)
{
    const int l = get_local_id(0);
    scratch[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = LOCAL / 2; k > 0; k >>= 1) {
        if (l < k) scratch[l] += scratch[l + k];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) part[get_group_id(0)] = scratch[0];
}

// v = max(x + beta (x - xp), floor)
__kernel void extrapolate(__global const float *x, __global const float *xp,
                          __global float *v, const float beta, const float fl, const int n)
{
    const int p = get_global_id(0);
    if (p >= n) return;
    v[p] = fmax(x[p] + beta * (x[p] - xp[p]), fl);
}

// r = max(hv + b, floor); chi^2 partial sums of (y - r)^2 / r; hv <- y / r (Poisson)
// or w r (least squares)
__kernel void ratio_chi2(__global float *hv, __global const float *y,
                         __global const float *b, const float b0, const int has_b,
                         __global const float *w, const int poisson, const float fl,
                         const int n, __global float *part)
{
    __local float scratch[LOCAL];
    const int p = get_global_id(0);
    float s = 0.0f;
    if (p < n) {
        const float r = fmax(hv[p] + (has_b ? b[p] : b0), fl);
        const float d = y[p] - r;
        s = d * d / r;
        hv[p] = poisson ? y[p] / r : w[p] * r;
    }
    group_sum(s, scratch, part);
}

// w * phi(second difference along an axis of stride s at coordinate c of n)
inline float c2(__global const float *v, int p, int s, int c, int n, float w, float e2)
{
    if (c < 1 || c > n - 2) return 0.0f;
    const float k = v[p + s] - 2.0f * v[p] + v[p - s];
    return w * k * rsqrt(k * k + e2);
}

inline float g2(__global const float *v, int p, int s, int c, int n, float w, float e2)
{
    return c2(v, p - s, s, c - 1, n, w, e2) - 2.0f * c2(v, p, s, c, n, w, e2)
        + c2(v, p + s, s, c + 1, n, w, e2);
}

// w * phi(D_a D_b v), forward differences, 0 where either axis is at its last plane
inline float cm(__global const float *v, int p, int sa, int ca, int na, int sb, int cb,
                int nb, float w, float e2)
{
    if (ca < 0 || cb < 0 || ca >= na - 1 || cb >= nb - 1) return 0.0f;
    const float k = v[p + sa + sb] - v[p + sa] - v[p + sb] + v[p];
    return w * k * rsqrt(k * k + e2);
}

inline float gm(__global const float *v, int p, int sa, int ca, int na, int sb, int cb,
                int nb, float w, float e2)
{
    return cm(v, p, sa, ca, na, sb, cb, nb, w, e2)
        - cm(v, p - sa, sa, ca - 1, na, sb, cb, nb, w, e2)
        - cm(v, p - sb, sa, ca, na, sb, cb - 1, nb, w, e2)
        + cm(v, p - sa - sb, sa, ca - 1, na, sb, cb - 1, nb, w, e2);
}

// the split-gradient update at one voxel (g: the prior's gradient without lam)
inline float finish(float g, float vp, float a, float nd, int poisson, float lam,
                    float sparsity, float fl)
{
    const float gg = lam * g;
    float num = poisson ? a : nd;
    float den = poisson ? 1.0f : a;
    if (gg < 0.0f) num -= gg; else den += gg;
    den = fmax(den + sparsity, 1e-12f);
    num = fmax(num, 0.0f);
    return fmax(num * vp / den, fl);
}

#define COORDS \
    const int xx = p % nx; \
    const int y = (p / nx) % ny; \
    const int z = (p / (nx * ny)) % nz; \
    const int t = p / (nx * ny * nz); \
    const int sy = nx, sz = nx * ny, st = nx * ny * nz;

// Hessian prior + update; s2: weights of the second differences (t, z, y, x); mx: of
// the mixed ones (tz, ty, tx, zy, zx, yx). The new estimate goes into `out` (holding
// x_prev, read first); partial sums of (new - x) (x - x_prev) into `part`.
__kernel void update_hessian(__global const float *v, __global const float *a,
                             __global const float *nd, __global const float *x,
                             __global float *out, const int nt, const int nz,
                             const int ny, const int nx, const float4 s2,
                             const float8 mx, const float e2, const int poisson,
                             const float lam, const float sparsity, const float fl,
                             __global float *part)
{
    __local float scratch[LOCAL];
    const int p = get_global_id(0);
    const int n = nt * nz * ny * nx;
    float d = 0.0f;
    if (p < n) {
        COORDS
        float g = 0.0f;
        if (s2.z != 0.0f) g += g2(v, p, sy, y, ny, s2.z, e2);
        if (s2.w != 0.0f) g += g2(v, p, 1, xx, nx, s2.w, e2);
        if (mx.s5 != 0.0f) g += gm(v, p, sy, y, ny, 1, xx, nx, mx.s5, e2);
        if (s2.y != 0.0f) g += g2(v, p, sz, z, nz, s2.y, e2);
        if (mx.s3 != 0.0f) g += gm(v, p, sz, z, nz, sy, y, ny, mx.s3, e2);
        if (mx.s4 != 0.0f) g += gm(v, p, sz, z, nz, 1, xx, nx, mx.s4, e2);
        if (s2.x != 0.0f) g += g2(v, p, st, t, nt, s2.x, e2);
        if (mx.s0 != 0.0f) g += gm(v, p, st, t, nt, sz, z, nz, mx.s0, e2);
        if (mx.s1 != 0.0f) g += gm(v, p, st, t, nt, sy, y, ny, mx.s1, e2);
        if (mx.s2 != 0.0f) g += gm(v, p, st, t, nt, 1, xx, nx, mx.s2, e2);
        const float nw = finish(g, v[p], a[p], poisson ? 0.0f : nd[p], poisson, lam,
                                sparsity, fl);
        const float xv = x[p];
        d = (nw - xv) * (xv - out[p]);
        out[p] = nw;
    }
    group_sum(d, scratch, part);
}

// forward differences at p (0 at each axis' last plane) and 1 / the smoothed norm
inline float4 tvq(__global const float *v, int p, int t, int z, int y, int xx, int nt,
                  int nz, int ny, int nx, int st, int sz, int sy, float4 w, float e2,
                  float *inv)
{
    const float vp = v[p];
    float4 g = (float4)(0.0f);
    if (w.x != 0.0f && t < nt - 1) g.x = v[p + st] - vp;
    if (w.y != 0.0f && z < nz - 1) g.y = v[p + sz] - vp;
    if (w.z != 0.0f && y < ny - 1) g.z = v[p + sy] - vp;
    if (w.w != 0.0f && xx < nx - 1) g.w = v[p + 1] - vp;
    *inv = rsqrt(e2 + dot(w, g * g));
    return g;
}

// TV prior + update (as update_hessian); w: each axis' weight inside the norm
__kernel void update_tv(__global const float *v, __global const float *a,
                        __global const float *nd, __global const float *x,
                        __global float *out, const int nt, const int nz, const int ny,
                        const int nx, const float4 w, const float e2, const int poisson,
                        const float lam, const float sparsity, const float fl,
                        __global float *part)
{
    __local float scratch[LOCAL];
    const int p = get_global_id(0);
    const int n = nt * nz * ny * nx;
    float d = 0.0f;
    if (p < n) {
        COORDS
        float inv, hinv;
        float4 q = tvq(v, p, t, z, y, xx, nt, nz, ny, nx, st, sz, sy, w, e2, &inv);
        float g = -dot(w, q) * inv;
        if (w.w != 0.0f && xx > 0) {
            q = tvq(v, p - 1, t, z, y, xx - 1, nt, nz, ny, nx, st, sz, sy, w, e2, &hinv);
            g += w.w * q.w * hinv;
        }
        if (w.z != 0.0f && y > 0) {
            q = tvq(v, p - sy, t, z, y - 1, xx, nt, nz, ny, nx, st, sz, sy, w, e2, &hinv);
            g += w.z * q.z * hinv;
        }
        if (w.y != 0.0f && z > 0) {
            q = tvq(v, p - sz, t, z - 1, y, xx, nt, nz, ny, nx, st, sz, sy, w, e2, &hinv);
            g += w.y * q.y * hinv;
        }
        if (w.x != 0.0f && t > 0) {
            q = tvq(v, p - st, t - 1, z, y, xx, nt, nz, ny, nx, st, sz, sy, w, e2, &hinv);
            g += w.x * q.x * hinv;
        }
        const float nw = finish(g, v[p], a[p], poisson ? 0.0f : nd[p], poisson, lam,
                                sparsity, fl);
        const float xv = x[p];
        d = (nw - xv) * (xv - out[p]);
        out[p] = nw;
    }
    group_sum(d, scratch, part);
}
