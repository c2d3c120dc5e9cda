// Sparse-Hessian split-Bregman iteration, fused over all L1 terms.
//
// State per term i is v_i = b_i + K_i g (the value before shrinkage); the
// Bregman variable is b_i = clip(v_i, -1, 1) and the right-hand-side term is
// w_i K_i^T (v_i - 2 clip(v_i)), so no d or t arrays are stored.
// Layout (NT, NY, NX) row-major, NDRange (NX, NY, NT); 2-D data has NT = 1.
// Mixed-term arrays use the full layout with their last row/column kept 0.
// Compile-time: HAS_T (t/z terms), HAS_ID (sparsity term).

#define CLIP(v) clamp((v), -1.0f, 1.0f)
#define TV(v) ((v) - 2.0f * CLIP(v))

__kernel void update(__global const float *g,
                     __global float *vyy, __global float *vxx, __global float *vxy,
                     __global float *vtt, __global float *vty, __global float *vtx,
                     __global float *vid, const int NX, const int NY, const int NT)
{
    const int x = get_global_id(0), y = get_global_id(1), t = get_global_id(2);
    const int SY = NX, ST = NX * NY;
    const int p = t * ST + y * SY + x;
    const float gp = g[p];
    const float dxp = (x < NX - 1) ? g[p + 1] - gp : 0.0f;
    const float dxm = (x > 0) ? gp - g[p - 1] : 0.0f;
    const float dyp = (y < NY - 1) ? g[p + SY] - gp : 0.0f;
    const float dym = (y > 0) ? gp - g[p - SY] : 0.0f;
    vxx[p] = CLIP(vxx[p]) + (dxp - dxm);
    vyy[p] = CLIP(vyy[p]) + (dyp - dym);
    vxy[p] = (x < NX - 1 && y < NY - 1)
        ? CLIP(vxy[p]) + (g[p + SY + 1] - g[p + SY] - dxp) : 0.0f;
#if HAS_T
    const float dtp = (t < NT - 1) ? g[p + ST] - gp : 0.0f;
    const float dtm = (t > 0) ? gp - g[p - ST] : 0.0f;
    vtt[p] = CLIP(vtt[p]) + (dtp - dtm);
    vty[p] = (t < NT - 1 && y < NY - 1)
        ? CLIP(vty[p]) + (g[p + ST + SY] - g[p + ST] - dyp) : 0.0f;
    vtx[p] = (t < NT - 1 && x < NX - 1)
        ? CLIP(vtx[p]) + (g[p + ST + 1] - g[p + ST] - dxp) : 0.0f;
#endif
#if HAS_ID
    vid[p] = CLIP(vid[p]) + gp;
#endif
}

// Symmetric second difference with mirror ends of TV(v) along stride s.
inline float second_adj(__global const float *v, int p, int i, int n, int s)
{
    const float tp = TV(v[p]);
    const float plus = (i < n - 1) ? TV(v[p + s]) - tp : 0.0f;
    const float minus = (i > 0) ? tp - TV(v[p - s]) : 0.0f;
    return plus - minus;
}

// Adjoint of the mixed forward difference D_q D_a (zero-extended).
inline float mixed_adj(__global const float *v, int p, int ia, int sa, int iq, int sq)
{
    float acc = TV(v[p]);
    if (ia > 0) acc -= TV(v[p - sa]);
    if (iq > 0) acc -= TV(v[p - sq]);
    if (ia > 0 && iq > 0) acc += TV(v[p - sa - sq]);
    return acc;
}

// rhs = fidelity f + sum_i w_i K_i^T (v_i - 2 clip(v_i))
__kernel void adjoint(__global const float *f, __global float *rhs,
                      __global const float *vyy, __global const float *vxx,
                      __global const float *vxy, __global const float *vtt,
                      __global const float *vty, __global const float *vtx,
                      __global const float *vid, const int NX, const int NY, const int NT,
                      const float fidelity, const float w_xy, const float w_tt,
                      const float w_tmix, const float w_id)
{
    const int x = get_global_id(0), y = get_global_id(1), t = get_global_id(2);
    const int SY = NX, ST = NX * NY;
    const int p = t * ST + y * SY + x;
    float acc = second_adj(vxx, p, x, NX, 1) + second_adj(vyy, p, y, NY, SY)
              + w_xy * mixed_adj(vxy, p, x, 1, y, SY);
#if HAS_T
    acc += w_tt * second_adj(vtt, p, t, NT, ST);
    acc += w_tmix * (mixed_adj(vty, p, y, SY, t, ST) + mixed_adj(vtx, p, x, 1, t, ST));
#endif
#if HAS_ID
    acc += w_id * TV(vid[p]);
#endif
    rhs[p] = fidelity * f[p] + acc;
}

// DCT-domain division: spec /= fidelity + sparsity + (ey[y] + ex[x] + sqrt(c) et[t])^2
__kernel void dct_divide(__global float *spec, __global const float *ey,
                         __global const float *ex, __global const float *et,
                         const int NX, const int NY, const float base)
{
    const int x = get_global_id(0), y = get_global_id(1), t = get_global_id(2);
    const int p = (t * NY + y) * NX + x;
    const float e = ey[y] + ex[x] + et[t];
    spec[p] = spec[p] / (base + e * e);
}
