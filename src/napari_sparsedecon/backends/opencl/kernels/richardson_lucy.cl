// Richardson-Lucy element-wise steps (the convolutions are FFTs elsewhere).

// hx <- y / max(hx + b, eps)   (b scalar when has_bg_image == 0)
__kernel void rl_ratio(__global float *hx, __global const float *y, __global const float *bimg,
                       const float b, const int has_bg_image, const float eps)
{
    const int p = get_global_id(0);
    const float bb = has_bg_image ? bimg[p] : b;
    hx[p] = y[p] / fmax(hx[p] + bb, eps);
}

// x_new <- max(x * corr, 0)
__kernel void rl_update(__global const float *x, __global const float *corr,
                        __global float *out)
{
    const int p = get_global_id(0);
    out[p] = fmax(x[p] * corr[p], 0.0f);
}

// y <- max(x + alpha (x - x_prev), 0)
__kernel void extrapolate(__global const float *x, __global const float *x_prev,
                          __global float *yk, const float alpha)
{
    const int p = get_global_id(0);
    yk[p] = fmax(x[p] + alpha * (x[p] - x_prev[p]), 0.0f);
}

// g <- new - yk
__kernel void difference(__global const float *a, __global const float *b, __global float *out)
{
    const int p = get_global_id(0);
    out[p] = a[p] - b[p];
}

// Complex spectrum times OTF (both interleaved re, im), OTF broadcast over batches.
__kernel void cmul(__global float2 *spec, __global const float2 *otf, const int otf_size,
                   const int conj)
{
    const int p = get_global_id(0);
    const float2 a = spec[p];
    float2 b = otf[p % otf_size];
    if (conj) b.y = -b.y;
    spec[p] = (float2)(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
