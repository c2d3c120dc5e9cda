// Sparse-Hessian split-Bregman update, one L1 term at a time.
// Arrays are (T, Y, X) row-major; 2-D data has T = 1. Mixed-term arrays use
// the full layout, with their last row/column along both axes kept at 0.
// kind: 0 identity, 1 second difference along axis a (mirror ends),
//       2 mixed forward difference D_q D_a.

inline int coord(int p, int stride, int n) { return (p / stride) % n; }

// v = b + K g; b <- clip(v, -1, 1); t <- w (v - 2 b)
__kernel void term_update(__global const float *g, __global float *b, __global float *t,
                          const int kind, const int sa, const int na, const int sq,
                          const int nq, const float w)
{
    const int p = get_global_id(0);
    float kg;
    if (kind == 0) {
        kg = g[p];
    } else if (kind == 1) {
        const int n = coord(p, sa, na);
        const float gp = g[p];
        const float dplus = (n < na - 1) ? g[p + sa] - gp : 0.0f;
        const float dminus = (n > 0) ? gp - g[p - sa] : 0.0f;
        kg = dplus - dminus;
    } else {
        const int n = coord(p, sa, na);
        const int m = coord(p, sq, nq);
        if (n >= na - 1 || m >= nq - 1) { t[p] = 0.0f; return; }
        kg = g[p + sq + sa] - g[p + sq] - g[p + sa] + g[p];
    }
    const float v = b[p] + kg;
    const float bn = clamp(v, -1.0f, 1.0f);
    b[p] = bn;
    t[p] = w * (v - 2.0f * bn);
}

// rhs += K^T t (t already weighted)
__kernel void term_adjoint(__global const float *t, __global float *rhs,
                           const int kind, const int sa, const int na, const int sq,
                           const int nq)
{
    const int p = get_global_id(0);
    float acc;
    if (kind == 0) {
        acc = t[p];
    } else if (kind == 1) {
        const int n = coord(p, sa, na);
        const float tp = t[p];
        const float tplus = (n < na - 1) ? t[p + sa] - tp : 0.0f;
        const float tminus = (n > 0) ? tp - t[p - sa] : 0.0f;
        acc = tplus - tminus;
    } else {
        const int n = coord(p, sa, na);
        const int m = coord(p, sq, nq);
        acc = t[p];
        if (n > 0) acc -= t[p - sa];
        if (m > 0) acc -= t[p - sq];
        if (n > 0 && m > 0) acc += t[p - sa - sq];
    }
    rhs[p] += acc;
}

__kernel void scaled_copy(__global const float *src, __global float *dst, const float s)
{
    const int p = get_global_id(0);
    dst[p] = s * src[p];
}

// Per-plane DCT-domain division: spec[t, y, x] /= base + (e2d[y, x] + et[t])^2
__kernel void dct_divide(__global float *spec, __global const float *e2d,
                         __global const float *et, const int plane, const float base)
{
    const int p = get_global_id(0);
    const int tt = p / plane;
    const float e = e2d[p - tt * plane] + et[tt];
    spec[p] = spec[p] / (base + e * e);
}
