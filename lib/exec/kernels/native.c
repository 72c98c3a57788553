/*
 * Native kernels of the wasm execution profiles, compiled to WebAssembly by `deno task kernels`
 * (lib/exec/kernels/build.ts) and run on the tfjs wasm backend's own memory.
 *
 * Every function reads and writes tensors in place on the imported linear memory (pointers are
 * byte offsets into the tfjs heap), never allocates, and keeps no state: the JavaScript side
 * allocates outputs and scratch with the backend, so memory growth and disposal stay tfjs' job.
 *
 * Determinism rule: SIMD only runs *independent* outputs side by side (four output columns, four
 * elements), never splits one sum across lanes. Every reduction runs sequentially in ascending
 * index order in float32 (float64 where a comment says so). So each kernel's result is defined by
 * a scalar program, and the SIMD and scalar builds give the same bits. WebAssembly arithmetic is
 * IEEE 754 with round-to-nearest-even and no fused multiply-add, so those bits are the same on
 * every machine. exp, log and erf are computed here (Cephes-style polynomials), not by a libm.
 */

#include <stdint.h>

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#define SIMD 1
#else
#define SIMD 0
#endif

#define EXPORT(name) __attribute__((export_name(#name)))

typedef float f32;
typedef double f64;
typedef int32_t i32;
typedef uint32_t u32;

/* ---------------------------------------------------------------- elementary functions */

/* exp(x) for float32, Cephes expf: n = round(x log2 e) (by adding and subtracting 1.5 2^23,
 * which rounds to nearest even), r = x - n ln 2 (two-part constant), a degree-5 polynomial for
 * e^r, then scaling by 2^n through the exponent bits in two halves (n is in [-126, 128]). Below
 * -87.33 the result is 0, above 88.72 it is +inf. */
#define EXP_HI 88.72283935546875f
#define EXP_LO -87.33654022216797f
#define LOG2E 1.44269504088896341f
#define ROUNDER 12582912.0f
#define ROUNDER_BITS 0x4b400000u
#define LN2_C1 0.693359375f
#define LN2_C2 -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline u32 f32_to_bits(f32 f) {
  union { u32 u; f32 f; } v;
  v.f = f;
  return v.u;
}

static inline f32 bits_to_f32(u32 b) {
  union { u32 u; f32 f; } v;
  v.u = b;
  return v.f;
}

static inline f32 exp_f32(f32 x) {
  if (x > EXP_HI) return bits_to_f32(0x7f800000u);
  if (x < EXP_LO) return 0.0f;
  f32 t = x * LOG2E + ROUNDER;
  f32 n = t - ROUNDER;
  f32 r = x - n * LN2_C1;
  r = r - n * LN2_C2;
  f32 p = EXP_P0;
  p = p * r + EXP_P1;
  p = p * r + EXP_P2;
  p = p * r + EXP_P3;
  p = p * r + EXP_P4;
  p = p * r + EXP_P5;
  p = p * (r * r) + r;
  p = p + 1.0f;
  i32 k = (i32)(f32_to_bits(t) - ROUNDER_BITS);
  i32 k1 = k >> 1;
  i32 k2 = k - k1;
  return p * bits_to_f32((u32)(k1 + 127) << 23) * bits_to_f32((u32)(k2 + 127) << 23);
}

#if SIMD
static inline v128_t exp_f32x4(v128_t x) {
  v128_t hi = wasm_f32x4_splat(EXP_HI), lo = wasm_f32x4_splat(EXP_LO);
  v128_t over = wasm_f32x4_gt(x, hi), under = wasm_f32x4_lt(x, lo);
  v128_t xc = wasm_f32x4_pmin(wasm_f32x4_pmax(x, lo), hi);
  v128_t rounder = wasm_f32x4_splat(ROUNDER);
  v128_t t = wasm_f32x4_add(wasm_f32x4_mul(xc, wasm_f32x4_splat(LOG2E)), rounder);
  v128_t n = wasm_f32x4_sub(t, rounder);
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(LN2_C1)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(LN2_C2)));
  v128_t p = wasm_f32x4_splat(EXP_P0);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(EXP_P1));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(EXP_P2));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(EXP_P3));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(EXP_P4));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(EXP_P5));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, wasm_f32x4_mul(r, r)), r);
  p = wasm_f32x4_add(p, wasm_f32x4_splat(1.0f));
  v128_t k = wasm_i32x4_sub(t, wasm_i32x4_splat((i32)ROUNDER_BITS));
  v128_t k1 = wasm_i32x4_shr(k, 1);
  v128_t k2 = wasm_i32x4_sub(k, k1);
  v128_t bias = wasm_i32x4_splat(127);
  v128_t s1 = wasm_i32x4_shl(wasm_i32x4_add(k1, bias), 23);
  v128_t s2 = wasm_i32x4_shl(wasm_i32x4_add(k2, bias), 23);
  v128_t y = wasm_f32x4_mul(wasm_f32x4_mul(p, s1), s2);
  y = wasm_v128_bitselect(wasm_f32x4_splat(bits_to_f32(0x7f800000u)), y, over);
  return wasm_v128_andnot(y, under);
}
#endif

/* log(x) for x > 0 in float64, for the per-row log-sum-exp of cross-entropy: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, by its series to s^23
 * (truncation error below 1e-18). */
static f64 log_f64(f64 x) {
  union { f64 f; uint64_t u; } v;
  v.f = x;
  i32 e = (i32)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  f64 m = v.f;
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  f64 s = (m - 1.0) / (m + 1.0);
  f64 s2 = s * s;
  f64 t = 1.0 / 23.0;
  for (i32 k = 21; k >= 1; k -= 2) t = t * s2 + 1.0 / (f64)k;
  return 2.0 * s * t + (f64)e * 0.6931471805599453;
}

/* GELU, exact form 0.5 x (1 + erf(x / sqrt 2)), with erf from erfc's Chebyshev fit (Numerical
 * Recipes' erfcc, fractional error < 1.2e-7). The derivative is 0.5 (1 + erf(x/sqrt2)) +
 * x exp(-x^2/2) / sqrt(2 pi). */
#define SQRT1_2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

static inline f32 erfc_pos(f32 z) {
  f32 t = 1.0f / (1.0f + 0.5f * z);
  f32 q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  return t * exp_f32(q - z * z);
}

static inline f32 erf_f32(f32 x) {
  f32 z = x < 0.0f ? -x : x;
  f32 c = erfc_pos(z);
  return x < 0.0f ? c - 1.0f : 1.0f - c;
}

#if SIMD
/* erfc_pos and erf_f32 on four lanes: the same float32 operations in the same order. */
static inline v128_t erfc_pos_x4(v128_t z) {
  v128_t one = wasm_f32x4_splat(1.0f);
  v128_t t = wasm_f32x4_div(one, wasm_f32x4_add(one, wasm_f32x4_mul(wasm_f32x4_splat(0.5f), z)));
  v128_t q = wasm_f32x4_splat(0.17087277f);
  q = wasm_f32x4_sub(wasm_f32x4_mul(q, t), wasm_f32x4_splat(0.82215223f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, t), wasm_f32x4_splat(1.48851587f));
  q = wasm_f32x4_sub(wasm_f32x4_mul(q, t), wasm_f32x4_splat(1.13520398f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, t), wasm_f32x4_splat(0.27886807f));
  q = wasm_f32x4_sub(wasm_f32x4_mul(q, t), wasm_f32x4_splat(0.18628806f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, t), wasm_f32x4_splat(0.09678418f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, t), wasm_f32x4_splat(0.37409196f));
  q = wasm_f32x4_add(wasm_f32x4_mul(q, t), wasm_f32x4_splat(1.00002368f));
  q = wasm_f32x4_sub(wasm_f32x4_mul(q, t), wasm_f32x4_splat(1.26551223f));
  return wasm_f32x4_mul(t, exp_f32x4(wasm_f32x4_sub(q, wasm_f32x4_mul(z, z))));
}

static inline v128_t erf_x4(v128_t x) {
  v128_t neg = wasm_f32x4_lt(x, wasm_f32x4_splat(0.0f));
  v128_t c = erfc_pos_x4(wasm_f32x4_abs(x));
  v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_v128_bitselect(wasm_f32x4_sub(c, one), wasm_f32x4_sub(one, c), neg);
}
#endif

EXPORT(gelu)
void gelu(const f32* x, f32* y, u32 n) {
  u32 i = 0;
#if SIMD
  v128_t half = wasm_f32x4_splat(0.5f), one = wasm_f32x4_splat(1.0f), s = wasm_f32x4_splat(SQRT1_2);
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t e = erf_x4(wasm_f32x4_mul(v, s));
    wasm_v128_store(y + i, wasm_f32x4_mul(wasm_f32x4_mul(half, v), wasm_f32x4_add(one, e)));
  }
#endif
  for (; i < n; i++) {
    f32 v = x[i];
    y[i] = 0.5f * v * (1.0f + erf_f32(v * SQRT1_2));
  }
}

EXPORT(gelu_grad)
void gelu_grad(const f32* dy, const f32* x, f32* dx, u32 n) {
  u32 i = 0;
#if SIMD
  v128_t half = wasm_f32x4_splat(0.5f), one = wasm_f32x4_splat(1.0f), s = wasm_f32x4_splat(SQRT1_2);
  v128_t minus_half = wasm_f32x4_splat(-0.5f), c = wasm_f32x4_splat(INV_SQRT_2PI);
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    v128_t cdf = wasm_f32x4_mul(half, wasm_f32x4_add(one, erf_x4(wasm_f32x4_mul(v, s))));
    v128_t pdf = wasm_f32x4_mul(c, exp_f32x4(wasm_f32x4_mul(wasm_f32x4_mul(minus_half, v), v)));
    wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), wasm_f32x4_add(cdf, wasm_f32x4_mul(v, pdf))));
  }
#endif
  for (; i < n; i++) {
    f32 v = x[i];
    f32 cdf = 0.5f * (1.0f + erf_f32(v * SQRT1_2));
    f32 pdf = INV_SQRT_2PI * exp_f32(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

/* ---------------------------------------------------------------- optimizer */

/* Adam (Kingma & Ba 2015, Algorithm 1), the same float32 expression as the unfused update:
 * m' = m b1 + g (1-b1); v' = v b2 + g^2 (1-b2); w' = w - (m'/c1) lr / (sqrt(v'/c2) + eps), with
 * c1 = 1 - b1^t and c2 = 1 - b2^t rounded to float32 by the caller. */
EXPORT(adam)
void adam(const f32* w, const f32* g, const f32* m, const f32* v, f32* w_out, f32* m_out,
          f32* v_out, u32 n, f32 b1, f32 one_minus_b1, f32 b2, f32 one_minus_b2, f32 lr, f32 c1,
          f32 c2, f32 eps) {
  u32 i = 0;
#if SIMD
  v128_t vb1 = wasm_f32x4_splat(b1), vob1 = wasm_f32x4_splat(one_minus_b1);
  v128_t vb2 = wasm_f32x4_splat(b2), vob2 = wasm_f32x4_splat(one_minus_b2);
  v128_t vlr = wasm_f32x4_splat(lr), vc1 = wasm_f32x4_splat(c1), vc2 = wasm_f32x4_splat(c2);
  v128_t veps = wasm_f32x4_splat(eps);
  for (; i + 4 <= n; i += 4) {
    v128_t gi = wasm_v128_load(g + i);
    v128_t m1 = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), vb1), wasm_f32x4_mul(gi, vob1));
    v128_t v1 = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), vb2),
                               wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), vob2));
    v128_t mh = wasm_f32x4_div(m1, vc1);
    v128_t vh = wasm_f32x4_div(v1, vc2);
    v128_t step = wasm_f32x4_div(wasm_f32x4_mul(mh, vlr), wasm_f32x4_add(wasm_f32x4_sqrt(vh), veps));
    wasm_v128_store(m_out + i, m1);
    wasm_v128_store(v_out + i, v1);
    wasm_v128_store(w_out + i, wasm_f32x4_sub(wasm_v128_load(w + i), step));
  }
#endif
  for (; i < n; i++) {
    f32 gi = g[i];
    f32 m1 = m[i] * b1 + gi * one_minus_b1;
    f32 v1 = v[i] * b2 + (gi * gi) * one_minus_b2;
    f32 mh = m1 / c1;
    f32 vh = v1 / c2;
    m_out[i] = m1;
    v_out[i] = v1;
    w_out[i] = w[i] - (mh * lr) / (__builtin_sqrtf(vh) + eps);
  }
}

/* ---------------------------------------------------------------- layer normalization */

/* Row statistics of layer normalization, shared by the forward and backward kernels so both see
 * the same bits: mean = sum(x)/cols, var = sum((x-mean)^2)/cols (both sums in column order),
 * rstd = 1/sqrt(var + eps). */
static inline f32 row_mean(const f32* xr, u32 cols) {
  f32 s = 0.0f;
  for (u32 c = 0; c < cols; c++) s += xr[c];
  return s * (1.0f / (f32)cols);
}

static inline f32 row_rstd(const f32* xr, u32 cols, f32 mean, f32 eps) {
  f32 q = 0.0f;
  for (u32 c = 0; c < cols; c++) {
    f32 d = xr[c] - mean;
    q += d * d;
  }
  return 1.0f / __builtin_sqrtf(q * (1.0f / (f32)cols) + eps);
}

/* Layer normalization over rows of `cols` values: y = (x - mean) rstd gamma + beta. */
EXPORT(layer_norm)
void layer_norm(const f32* x, const f32* gamma, const f32* beta, f32* y, u32 rows, u32 cols,
                f32 eps) {
  for (u32 r = 0; r < rows; r++) {
    const f32* xr = x + (uint64_t)r * cols;
    f32* yr = y + (uint64_t)r * cols;
    f32 mean = row_mean(xr, cols);
    f32 rstd = row_rstd(xr, cols, mean, eps);
    u32 c = 0;
#if SIMD
    v128_t vm = wasm_f32x4_splat(mean), vr = wasm_f32x4_splat(rstd);
    for (; c + 4 <= cols; c += 4) {
      v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + c), vm), vr);
      h = wasm_f32x4_add(wasm_f32x4_mul(h, wasm_v128_load(gamma + c)), wasm_v128_load(beta + c));
      wasm_v128_store(yr + c, h);
    }
#endif
    for (; c < cols; c++) yr[c] = ((xr[c] - mean) * rstd) * gamma[c] + beta[c];
  }
}

/* Backward of layer_norm (row statistics recomputed). With xhat = (x - mean) rstd, g = dy gamma:
 * dx = rstd ((g - sum(g)/cols) - xhat sum(g xhat)/cols), row sums in column order;
 * dgamma = sum over rows of dy xhat; dbeta = sum over rows of dy (rows ascending). */
EXPORT(layer_norm_grad)
void layer_norm_grad(const f32* dy, const f32* x, const f32* gamma, f32* dx, f32* dgamma,
                     f32* dbeta, u32 rows, u32 cols, f32 eps) {
  f32 inv_cols = 1.0f / (f32)cols;
  for (u32 c = 0; c < cols; c++) {
    dgamma[c] = 0.0f;
    dbeta[c] = 0.0f;
  }
  for (u32 r = 0; r < rows; r++) {
    const f32* xr = x + (uint64_t)r * cols;
    const f32* dyr = dy + (uint64_t)r * cols;
    f32* dxr = dx + (uint64_t)r * cols;
    f32 mu = row_mean(xr, cols);
    f32 rs = row_rstd(xr, cols, mu, eps);
    f32 sg = 0.0f, sgx = 0.0f;
    for (u32 c = 0; c < cols; c++) {
      f32 xh = (xr[c] - mu) * rs;
      f32 gc = dyr[c] * gamma[c];
      sg += gc;
      sgx += gc * xh;
    }
    f32 a = sg * inv_cols, b = sgx * inv_cols;
    u32 c = 0;
#if SIMD
    v128_t vmu = wasm_f32x4_splat(mu), vrs = wasm_f32x4_splat(rs);
    v128_t va = wasm_f32x4_splat(a), vb = wasm_f32x4_splat(b);
    for (; c + 4 <= cols; c += 4) {
      v128_t xh = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + c), vmu), vrs);
      v128_t d = wasm_v128_load(dyr + c);
      v128_t gc = wasm_f32x4_mul(d, wasm_v128_load(gamma + c));
      v128_t o = wasm_f32x4_mul(vrs, wasm_f32x4_sub(wasm_f32x4_sub(gc, va), wasm_f32x4_mul(xh, vb)));
      wasm_v128_store(dxr + c, o);
      wasm_v128_store(dgamma + c, wasm_f32x4_add(wasm_v128_load(dgamma + c), wasm_f32x4_mul(d, xh)));
      wasm_v128_store(dbeta + c, wasm_f32x4_add(wasm_v128_load(dbeta + c), d));
    }
#endif
    for (; c < cols; c++) {
      f32 xh = (xr[c] - mu) * rs;
      f32 d = dyr[c];
      f32 gc = d * gamma[c];
      dxr[c] = rs * ((gc - a) - xh * b);
      dgamma[c] += d * xh;
      dbeta[c] += d;
    }
  }
}

/* ---------------------------------------------------------------- causal self-attention */

/* y[i] += a * x[i] for n values (independent lanes). */
static inline void axpy(f32* y, const f32* x, f32 a, u32 n) {
  u32 i = 0;
#if SIMD
  v128_t va = wasm_f32x4_splat(a);
  for (; i + 4 <= n; i += 4)
    wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_f32x4_mul(va, wasm_v128_load(x + i))));
#endif
  for (; i < n; i++) y[i] += a * x[i];
}

/* out[j] = sum_d q[d] * mT[d * stride + j] for j < n: the dot products of q with n rows of a
 * matrix stored transposed; sums run over d in ascending order, lanes over j. */
static inline void dots_t(f32* out, const f32* q, const f32* mT, u32 stride, u32 D, u32 n) {
  u32 j = 0;
#if SIMD
  for (; j + 8 <= n; j += 8) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = wasm_f32x4_splat(0.0f);
    for (u32 d = 0; d < D; d++) {
      v128_t qd = wasm_f32x4_splat(q[d]);
      const f32* row = mT + (uint64_t)d * stride + j;
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(qd, wasm_v128_load(row)));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(qd, wasm_v128_load(row + 4)));
    }
    wasm_v128_store(out + j, a0);
    wasm_v128_store(out + j + 4, a1);
  }
  for (; j + 4 <= n; j += 4) {
    v128_t a0 = wasm_f32x4_splat(0.0f);
    for (u32 d = 0; d < D; d++)
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_f32x4_splat(q[d]), wasm_v128_load(mT + (uint64_t)d * stride + j)));
    wasm_v128_store(out + j, a0);
  }
#endif
  for (; j < n; j++) {
    f32 s = 0.0f;
    for (u32 d = 0; d < D; d++) s += q[d] * mT[(uint64_t)d * stride + j];
    out[j] = s;
  }
}

/* Copies the D columns at `col` of a [T, width] slab into dst [D, T] (transposed). */
static void gather_t(f32* dst, const f32* src, u32 width, u32 col, u32 T, u32 D) {
  for (u32 t = 0; t < T; t++) {
    const f32* s = src + (uint64_t)t * width + col;
    for (u32 d = 0; d < D; d++) dst[(uint64_t)d * T + t] = s[d];
  }
}

/* Row i of the attention probabilities of one (batch, head): s_j = (q_i . k_j) scale for j <= i,
 * p = softmax(s) (max subtracted, exp, sum over j ascending, division). kT is the head's keys
 * transposed ([D, T]); writes p_0 .. p_i into prow. */
static inline void attention_row(f32* prow, const f32* q, const f32* kT, u32 T, u32 D, u32 i,
                                 f32 scale) {
  dots_t(prow, q, kT, T, D, i + 1);
  f32 mx = prow[0] * scale;
  for (u32 j = 0; j <= i; j++) {
    prow[j] = prow[j] * scale;
    if (prow[j] > mx) mx = prow[j];
  }
  u32 j = 0;
#if SIMD
  v128_t vmx = wasm_f32x4_splat(mx);
  for (; j + 4 <= i + 1; j += 4)
    wasm_v128_store(prow + j, exp_f32x4(wasm_f32x4_sub(wasm_v128_load(prow + j), vmx)));
#endif
  for (; j <= i; j++) prow[j] = exp_f32(prow[j] - mx);
  f32 sum = 0.0f;
  for (j = 0; j <= i; j++) sum += prow[j];
  for (j = 0; j <= i; j++) prow[j] = prow[j] / sum;
}

/* Multi-head causal self-attention over packed projections. qkv is [B, T, 3C] with C = H D:
 * queries, keys and values side by side, head h at columns h D .. h D + D of each. For every
 * batch b, head h and position i: p = attention_row(i); y_i = sum_j p_j v_j (j ascending).
 * Writes y [B, T, C] (heads side by side). scratch: D*T + T floats. */
EXPORT(causal_attention)
void causal_attention(const f32* qkv, f32* y, f32* scratch, u32 B, u32 T, u32 H, u32 D,
                      f32 scale) {
  u32 C = H * D, W = 3 * C;
  f32* kT = scratch;
  f32* prow = scratch + (uint64_t)D * T;
  for (u32 b = 0; b < B; b++) {
    const f32* slab = qkv + (uint64_t)b * T * W;
    for (u32 h = 0; h < H; h++) {
      gather_t(kT, slab, W, C + h * D, T, D);
      for (u32 i = 0; i < T; i++) {
        attention_row(prow, slab + (uint64_t)i * W + h * D, kT, T, D, i, scale);
        f32* yi = y + ((uint64_t)b * T + i) * C + h * D;
        for (u32 d = 0; d < D; d++) yi[d] = 0.0f;
        for (u32 j = 0; j <= i; j++) axpy(yi, slab + (uint64_t)j * W + 2 * C + h * D, prow[j], D);
      }
    }
  }
}

/* Backward of causal_attention (probabilities recomputed), given dy [B, T, C] and qkv. Per
 * (b, h, i): dp_j = dy_i . v_j; r = sum_j p_j dp_j; ds_j = p_j (dp_j - r) scale;
 * dq_i = sum_j ds_j k_j; dk_j += ds_j q_i; dv_j += p_j dy_i (i ascending, then j ascending).
 * Writes dqkv [B, T, 3C]. scratch: 2*D*T + 2*T floats. */
EXPORT(causal_attention_grad)
void causal_attention_grad(const f32* dy, const f32* qkv, f32* dqkv, f32* scratch, u32 B, u32 T,
                           u32 H, u32 D, f32 scale) {
  u32 C = H * D, W = 3 * C;
  f32* kT = scratch;
  f32* vT = scratch + (uint64_t)D * T;
  f32* prow = scratch + 2 * (uint64_t)D * T;
  f32* ds = prow + T;
  for (uint64_t k = 0; k < (uint64_t)B * T * W; k++) dqkv[k] = 0.0f;
  for (u32 b = 0; b < B; b++) {
    const f32* slab = qkv + (uint64_t)b * T * W;
    f32* dslab = dqkv + (uint64_t)b * T * W;
    for (u32 h = 0; h < H; h++) {
      gather_t(kT, slab, W, C + h * D, T, D);
      gather_t(vT, slab, W, 2 * C + h * D, T, D);
      for (u32 i = 0; i < T; i++) {
        const f32* qi = slab + (uint64_t)i * W + h * D;
        const f32* dyi = dy + ((uint64_t)b * T + i) * C + h * D;
        attention_row(prow, qi, kT, T, D, i, scale);
        dots_t(ds, dyi, vT, T, D, i + 1);
        f32 r = 0.0f;
        for (u32 j = 0; j <= i; j++) r += prow[j] * ds[j];
        for (u32 j = 0; j <= i; j++) ds[j] = prow[j] * (ds[j] - r) * scale;
        f32* dqi = dslab + (uint64_t)i * W + h * D;
        for (u32 j = 0; j <= i; j++) {
          axpy(dqi, slab + (uint64_t)j * W + C + h * D, ds[j], D);
          axpy(dslab + (uint64_t)j * W + C + h * D, qi, ds[j], D);
          axpy(dslab + (uint64_t)j * W + 2 * C + h * D, dyi, prow[j], D);
        }
      }
    }
  }
}

/* ---------------------------------------------------------------- cross-entropy */

/* Sparse softmax cross-entropy over rows of V logits with int32 labels: loss = mean over rows of
 * (log sum_j exp(x_j - max) + max - x_label), the per-row terms in float64 and summed in row order.
 * A label outside [0, V) makes the loss NaN (the trainer rejects non-finite losses). */
EXPORT(softmax_xent)
void softmax_xent(const f32* logits, const i32* labels, f32* out, u32 rows, u32 V) {
  f64 total = 0.0;
  for (u32 r = 0; r < rows; r++) {
    const f32* x = logits + (uint64_t)r * V;
    f32 mx = x[0];
    for (u32 j = 1; j < V; j++)
      if (x[j] > mx) mx = x[j];
    f64 s = 0.0;
    for (u32 j = 0; j < V; j++) s += (f64)exp_f32(x[j] - mx);
    i32 label = labels[r];
    if (label < 0 || (u32)label >= V) {
      out[0] = __builtin_nanf("");
      return;
    }
    total += log_f64(s) + (f64)mx - (f64)x[label];
  }
  out[0] = (f32)(total / (f64)rows);
}

/* Gradient of softmax_xent: dx_j = (softmax_j - [j == label]) (g / rows), softmax in float32 with
 * its sum over j ascending; g is the loss's upstream gradient (one float). */
EXPORT(softmax_xent_grad)
void softmax_xent_grad(const f32* logits, const i32* labels, const f32* g, f32* dx, u32 rows,
                       u32 V) {
  f32 scale = g[0] / (f32)rows;
  for (u32 r = 0; r < rows; r++) {
    const f32* x = logits + (uint64_t)r * V;
    f32* d = dx + (uint64_t)r * V;
    f32 mx = x[0];
    for (u32 j = 1; j < V; j++)
      if (x[j] > mx) mx = x[j];
    u32 j = 0;
#if SIMD
    v128_t vmx = wasm_f32x4_splat(mx);
    for (; j + 4 <= V; j += 4) wasm_v128_store(d + j, exp_f32x4(wasm_f32x4_sub(wasm_v128_load(x + j), vmx)));
#endif
    for (; j < V; j++) d[j] = exp_f32(x[j] - mx);
    f32 s = 0.0f;
    for (j = 0; j < V; j++) s += d[j];
    for (j = 0; j < V; j++) d[j] = (d[j] / s) * scale;
    i32 label = labels[r];
    if (label >= 0 && (u32)label < V) d[label] = d[label] - scale;
  }
}

/* ---------------------------------------------------------------- matrix multiply */

/* out[b] = op(a[b]) op(b[b]) for a batch of small matrices, op = optional transpose, with the
 * batch broadcast when one side has batch 1. Each output element is sum_k a_ik b_kj over k in
 * ascending order; lanes run over output columns j. */
EXPORT(batch_matmul)
void batch_matmul(const f32* a, const f32* bm, f32* out, u32 batch, u32 batch_a, u32 batch_b, u32 M,
                  u32 K, u32 N, u32 ta, u32 tb, f32* scratch) {
  for (u32 z = 0; z < batch; z++) {
    const f32* A = a + (uint64_t)(batch_a == 1 ? 0 : z) * M * K;
    const f32* Bz = bm + (uint64_t)(batch_b == 1 ? 0 : z) * K * N;
    f32* O = out + (uint64_t)z * M * N;
    /* With b transposed ([N, K]), copy it to [K, N] (once when it is broadcast) so every output
     * row is a sweep over b's rows. */
    const f32* Bk = Bz;
    if (tb) {
      if (z == 0 || batch_b != 1)
        for (u32 n = 0; n < N; n++)
          for (u32 k = 0; k < K; k++) scratch[(uint64_t)k * N + n] = Bz[(uint64_t)n * K + k];
      Bk = scratch;
    }
    for (u32 i = 0; i < M; i++) {
      f32* o = O + (uint64_t)i * N;
      u32 j = 0;
#if SIMD
      for (; j + 16 <= N; j += 16) {
        v128_t c0 = wasm_f32x4_splat(0.0f), c1 = c0, c2 = c0, c3 = c0;
        for (u32 k = 0; k < K; k++) {
          v128_t av = wasm_f32x4_splat(ta ? A[(uint64_t)k * M + i] : A[(uint64_t)i * K + k]);
          const f32* br = Bk + (uint64_t)k * N + j;
          c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(av, wasm_v128_load(br)));
          c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(av, wasm_v128_load(br + 4)));
          c2 = wasm_f32x4_add(c2, wasm_f32x4_mul(av, wasm_v128_load(br + 8)));
          c3 = wasm_f32x4_add(c3, wasm_f32x4_mul(av, wasm_v128_load(br + 12)));
        }
        wasm_v128_store(o + j, c0);
        wasm_v128_store(o + j + 4, c1);
        wasm_v128_store(o + j + 8, c2);
        wasm_v128_store(o + j + 12, c3);
      }
      for (; j + 4 <= N; j += 4) {
        v128_t c0 = wasm_f32x4_splat(0.0f);
        for (u32 k = 0; k < K; k++) {
          v128_t av = wasm_f32x4_splat(ta ? A[(uint64_t)k * M + i] : A[(uint64_t)i * K + k]);
          c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(av, wasm_v128_load(Bk + (uint64_t)k * N + j)));
        }
        wasm_v128_store(o + j, c0);
      }
#endif
      if (j < N) {
        /* The remaining columns, k outer: each output gains its products in ascending k. */
        for (u32 c = j; c < N; c++) o[c] = 0.0f;
        for (u32 k = 0; k < K; k++) {
          f32 a = ta ? A[(uint64_t)k * M + i] : A[(uint64_t)i * K + k];
          const f32* b = Bk + (uint64_t)k * N;
          for (u32 c = j; c < N; c++) o[c] += a * b[c];
        }
      }
    }
  }
}

/* ---------------------------------------------------------------- convolution gradients (NHWC) */

/* C[M, N] += A^T B for A [K, M] (row stride lda) and B [K, N] (row stride ldb): every output is
 * its old value plus a_ki b_kj for k ascending, one product at a time, so accumulating a long sum
 * in several calls (blocks of k) gives the same bits as one call. Register tiles of 4 x 8. */
static void gemm_tn_acc(const f32* A, const f32* Bm, f32* C, u32 K, u32 M, u32 N, u32 lda,
                        u32 ldb) {
  u32 i = 0;
#if SIMD
  for (; i + 4 <= M; i += 4) {
    u32 j = 0;
    for (; j + 8 <= N; j += 8) {
      f32* c0 = C + (uint64_t)i * N + j;
      v128_t a00 = wasm_v128_load(c0), a01 = wasm_v128_load(c0 + 4);
      v128_t a10 = wasm_v128_load(c0 + N), a11 = wasm_v128_load(c0 + N + 4);
      v128_t a20 = wasm_v128_load(c0 + 2 * N), a21 = wasm_v128_load(c0 + 2 * N + 4);
      v128_t a30 = wasm_v128_load(c0 + 3 * N), a31 = wasm_v128_load(c0 + 3 * N + 4);
      for (u32 k = 0; k < K; k++) {
        const f32* ar = A + (uint64_t)k * lda + i;
        const f32* br = Bm + (uint64_t)k * ldb + j;
        v128_t b0 = wasm_v128_load(br), b1 = wasm_v128_load(br + 4);
        v128_t x0 = wasm_f32x4_splat(ar[0]), x1 = wasm_f32x4_splat(ar[1]);
        v128_t x2 = wasm_f32x4_splat(ar[2]), x3 = wasm_f32x4_splat(ar[3]);
        a00 = wasm_f32x4_add(a00, wasm_f32x4_mul(x0, b0));
        a01 = wasm_f32x4_add(a01, wasm_f32x4_mul(x0, b1));
        a10 = wasm_f32x4_add(a10, wasm_f32x4_mul(x1, b0));
        a11 = wasm_f32x4_add(a11, wasm_f32x4_mul(x1, b1));
        a20 = wasm_f32x4_add(a20, wasm_f32x4_mul(x2, b0));
        a21 = wasm_f32x4_add(a21, wasm_f32x4_mul(x2, b1));
        a30 = wasm_f32x4_add(a30, wasm_f32x4_mul(x3, b0));
        a31 = wasm_f32x4_add(a31, wasm_f32x4_mul(x3, b1));
      }
      wasm_v128_store(c0, a00);
      wasm_v128_store(c0 + 4, a01);
      wasm_v128_store(c0 + N, a10);
      wasm_v128_store(c0 + N + 4, a11);
      wasm_v128_store(c0 + 2 * N, a20);
      wasm_v128_store(c0 + 2 * N + 4, a21);
      wasm_v128_store(c0 + 3 * N, a30);
      wasm_v128_store(c0 + 3 * N + 4, a31);
    }
    for (; j + 4 <= N; j += 4) {
      f32* c0 = C + (uint64_t)i * N + j;
      v128_t a0 = wasm_v128_load(c0), a1 = wasm_v128_load(c0 + N);
      v128_t a2 = wasm_v128_load(c0 + 2 * N), a3 = wasm_v128_load(c0 + 3 * N);
      for (u32 k = 0; k < K; k++) {
        const f32* ar = A + (uint64_t)k * lda + i;
        v128_t b0 = wasm_v128_load(Bm + (uint64_t)k * ldb + j);
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_f32x4_splat(ar[0]), b0));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_f32x4_splat(ar[1]), b0));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(wasm_f32x4_splat(ar[2]), b0));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(wasm_f32x4_splat(ar[3]), b0));
      }
      wasm_v128_store(c0, a0);
      wasm_v128_store(c0 + N, a1);
      wasm_v128_store(c0 + 2 * N, a2);
      wasm_v128_store(c0 + 3 * N, a3);
    }
    for (; j < N; j++)
      for (u32 r = i; r < i + 4; r++) {
        f32 acc = C[(uint64_t)r * N + j];
        for (u32 k = 0; k < K; k++) acc += A[(uint64_t)k * lda + r] * Bm[(uint64_t)k * ldb + j];
        C[(uint64_t)r * N + j] = acc;
      }
  }
  for (; i < M; i++) {
    u32 j = 0;
#if SIMD
    for (; j + 4 <= N; j += 4) {
      f32* c0 = C + (uint64_t)i * N + j;
      v128_t a0 = wasm_v128_load(c0);
      for (u32 k = 0; k < K; k++)
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_f32x4_splat(A[(uint64_t)k * lda + i]),
                                               wasm_v128_load(Bm + (uint64_t)k * ldb + j)));
      wasm_v128_store(c0, a0);
    }
#endif
    for (; j < N; j++) {
      f32 acc = C[(uint64_t)i * N + j];
      for (u32 k = 0; k < K; k++) acc += A[(uint64_t)k * lda + i] * Bm[(uint64_t)k * ldb + j];
      C[(uint64_t)i * N + j] = acc;
    }
  }
#else
  /* Row by row, k outer: each output still gains its products in ascending k, one at a time. */
  for (; i < M; i++) {
    f32* c = C + (uint64_t)i * N;
    for (u32 k = 0; k < K; k++) {
      f32 a = A[(uint64_t)k * lda + i];
      const f32* b = Bm + (uint64_t)k * ldb;
      for (u32 j = 0; j < N; j++) c[j] += a * b[j];
    }
  }
#endif
}

/* Gradient of a 2-D convolution with respect to its filter [KH, KW, CI, CO]:
 * dw[kh, kw, ci, co] = sum over positions (n, oh, ow) in ascending order of
 * x[n, oh sh + kh dh - pt, ow sw + kw dw - pl, ci] dy[n, oh, ow, co] (out-of-range taps are 0).
 * Positions are taken in blocks: the block's input patches are copied to scratch (im2col, rows
 * of KH KW CI values) and multiplied into dw with gemm_tn_acc. scratch: block * KH KW CI floats. */
EXPORT(conv2d_grad_filter)
void conv2d_grad_filter(const f32* x, const f32* dy, f32* dw, f32* scratch, u32 block, u32 N, u32 H,
                        u32 W, u32 CI, u32 OH, u32 OW, u32 CO, u32 KH, u32 KW, u32 sh, u32 sw,
                        u32 dh, u32 dwl, i32 pt, i32 pl) {
  u32 R = KH * KW * CI;
  uint64_t size = (uint64_t)R * CO;
  for (uint64_t k = 0; k < size; k++) dw[k] = 0.0f;
  uint64_t positions = (uint64_t)N * OH * OW;
  for (uint64_t p0 = 0; p0 < positions; p0 += block) {
    u32 kb = (u32)(positions - p0 < block ? positions - p0 : block);
    for (u32 q = 0; q < kb; q++) {
      uint64_t p = p0 + q;
      u32 ow = (u32)(p % OW), oh = (u32)((p / OW) % OH), n = (u32)(p / ((uint64_t)OW * OH));
      f32* row = scratch + (uint64_t)q * R;
      for (u32 kh = 0; kh < KH; kh++) {
        i32 ih = (i32)(oh * sh + kh * dh) - pt;
        for (u32 kw = 0; kw < KW; kw++) {
          i32 iw = (i32)(ow * sw + kw * dwl) - pl;
          f32* dst = row + ((uint64_t)kh * KW + kw) * CI;
          if (ih < 0 || ih >= (i32)H || iw < 0 || iw >= (i32)W) {
            for (u32 ci = 0; ci < CI; ci++) dst[ci] = 0.0f;
          } else {
            const f32* src = x + (((uint64_t)n * H + (u32)ih) * W + (u32)iw) * CI;
            for (u32 ci = 0; ci < CI; ci++) dst[ci] = src[ci];
          }
        }
      }
    }
    gemm_tn_acc(scratch, dy + p0 * CO, dw, kb, R, CO, R, CO);
  }
}

/* Runs `body` at every in-range tap of every output position of a 2-D window operation (NHWC),
 * in ascending (n, oh, ow, kh, kw) order, with `pos` the output position's index and `pix` the
 * input pixel's index (both counted in pixels). */
#define FOR_EACH_TAP(body)                                                      \
  for (u32 n = 0; n < N; n++)                                                   \
    for (u32 oh = 0; oh < OH; oh++)                                             \
      for (u32 ow = 0; ow < OW; ow++) {                                         \
        uint64_t pos = ((uint64_t)n * OH + oh) * OW + ow;                       \
        for (u32 kh = 0; kh < KH; kh++) {                                       \
          i32 ih = (i32)(oh * sh + kh * dh) - pt;                               \
          if (ih < 0 || ih >= (i32)H) continue;                                 \
          for (u32 kw = 0; kw < KW; kw++) {                                     \
            i32 iw = (i32)(ow * sw + kw * dwl) - pl;                            \
            if (iw < 0 || iw >= (i32)W) continue;                               \
            uint64_t pix = ((uint64_t)n * H + (u32)ih) * W + (u32)iw;          \
            body                                                                \
          }                                                                     \
        }                                                                       \
      }

/* Gradient of a depthwise convolution (filter [KH, KW, CI, M], output channel ci M + m) with
 * respect to its filter: dw[kh, kw, ci, m] = sum over (n, oh, ow) ascending of
 * x[n, ih, iw, ci] dy[n, oh, ow, ci M + m]. */
EXPORT(depthwise_grad_filter)
void depthwise_grad_filter(const f32* x, const f32* dy, f32* dw, u32 N, u32 H, u32 W, u32 CI,
                           u32 OH, u32 OW, u32 MUL, u32 KH, u32 KW, u32 sh, u32 sw, u32 dh, u32 dwl,
                           i32 pt, i32 pl) {
  u32 CO = CI * MUL;
  uint64_t size = (uint64_t)KH * KW * CO;
  for (uint64_t k = 0; k < size; k++) dw[k] = 0.0f;
  FOR_EACH_TAP({
    const f32* g = dy + pos * CO;
    const f32* xs = x + pix * CI;
    f32* d = dw + ((uint64_t)kh * KW + kw) * CO;
    for (u32 ci = 0; ci < CI; ci++)
      for (u32 m = 0; m < MUL; m++) d[ci * MUL + m] += xs[ci] * g[ci * MUL + m];
  })
}

/* Gradient of a depthwise convolution with respect to its input: every dy[n, oh, ow, ci M + m]
 * scattered back through the filter, dx[n, ih, iw, ci] += dy w[kh, kw, ci, m], visiting
 * (n, oh, ow, kh, kw, ci, m) in ascending order. */
EXPORT(depthwise_grad_input)
void depthwise_grad_input(const f32* dy, const f32* w, f32* dx, u32 N, u32 H, u32 W, u32 CI,
                          u32 OH, u32 OW, u32 MUL, u32 KH, u32 KW, u32 sh, u32 sw, u32 dh, u32 dwl,
                          i32 pt, i32 pl) {
  u32 CO = CI * MUL;
  uint64_t size = (uint64_t)N * H * W * CI;
  for (uint64_t k = 0; k < size; k++) dx[k] = 0.0f;
  FOR_EACH_TAP({
    const f32* g = dy + pos * CO;
    f32* xs = dx + pix * CI;
    const f32* f = w + ((uint64_t)kh * KW + kw) * CO;
    for (u32 ci = 0; ci < CI; ci++) {
      f32 s = xs[ci];
      for (u32 m = 0; m < MUL; m++) s += g[ci * MUL + m] * f[ci * MUL + m];
      xs[ci] = s;
    }
  })
}

/* ---------------------------------------------------------------- pooling and segments */

/* Gradient of 2-D max pooling (NHWC): each dy[n, oh, ow, c] goes to the first position (scan
 * order kh, kw) holding the window's maximum; outputs are visited in ascending order. Windows of
 * padding only (no valid tap) pass nothing back. scratch: 2 C floats (running maxima, positions). */
EXPORT(max_pool_grad)
void max_pool_grad(const f32* x, const f32* dy, f32* dx, f32* scratch, u32 N, u32 H, u32 W, u32 C,
                   u32 OH, u32 OW, u32 sh, u32 sw, u32 dh, u32 dwl, u32 KH, u32 KW, i32 pt,
                   i32 pl) {
  f32* best = scratch;
  u32* at = (u32*)(scratch + C);
  uint64_t size = (uint64_t)N * H * W * C;
  for (uint64_t k = 0; k < size; k++) dx[k] = 0.0f;
  for (u32 n = 0; n < N; n++)
    for (u32 oh = 0; oh < OH; oh++)
      for (u32 ow = 0; ow < OW; ow++) {
        u32 found = 0;
        for (u32 kh = 0; kh < KH; kh++) {
          i32 ih = (i32)(oh * sh + kh * dh) - pt;
          if (ih < 0 || ih >= (i32)H) continue;
          for (u32 kw = 0; kw < KW; kw++) {
            i32 iw = (i32)(ow * sw + kw * dwl) - pl;
            if (iw < 0 || iw >= (i32)W) continue;
            u32 base = (u32)((((uint64_t)n * H + (u32)ih) * W + (u32)iw) * C);
            const f32* xs = x + base;
            if (!found) {
              for (u32 c = 0; c < C; c++) {
                best[c] = xs[c];
                at[c] = base + c;
              }
              found = 1;
            } else {
              for (u32 c = 0; c < C; c++)
                if (xs[c] > best[c]) {
                  best[c] = xs[c];
                  at[c] = base + c;
                }
            }
          }
        }
        if (!found) continue;
        const f32* g = dy + (((uint64_t)n * OH + oh) * OW + ow) * C;
        for (u32 c = 0; c < C; c++) dx[at[c]] += g[c];
      }
}

/* out[s] = sum of the rows x[i] (each `inner` values) with ids[i] == s, i ascending; rows whose id
 * is outside [0, segments) are dropped (TensorFlow's semantics). */
EXPORT(unsorted_segment_sum)
void unsorted_segment_sum(const f32* x, const i32* ids, f32* out, u32 rows, u32 inner, u32 segments) {
  for (uint64_t k = 0; k < (uint64_t)segments * inner; k++) out[k] = 0.0f;
  for (u32 i = 0; i < rows; i++) {
    i32 s = ids[i];
    if (s < 0 || (u32)s >= segments) continue;
    axpy(out + (uint64_t)s * inner, x + (uint64_t)i * inner, 1.0f, inner);
  }
}

/* ---------------------------------------------------------------- broadcasts and reductions */

/* out[r, c] = a[r, c] + b[c]: an elementwise add with b broadcast over rows (a bias add). */
EXPORT(add_rows)
void add_rows(const f32* a, const f32* b, f32* out, u32 rows, u32 cols) {
  for (u32 r = 0; r < rows; r++) {
    const f32* ar = a + (uint64_t)r * cols;
    f32* o = out + (uint64_t)r * cols;
    u32 c = 0;
#if SIMD
    for (; c + 4 <= cols; c += 4)
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_v128_load(ar + c), wasm_v128_load(b + c)));
#endif
    for (; c < cols; c++) o[c] = ar[c] + b[c];
  }
}

/* out[c] = sum over rows r ascending of x[r, c]: a sum over the leading axes. */
EXPORT(sum_rows)
void sum_rows(const f32* x, f32* out, u32 rows, u32 cols) {
  for (u32 c = 0; c < cols; c++) out[c] = 0.0f;
  for (u32 r = 0; r < rows; r++) axpy(out, x + (uint64_t)r * cols, 1.0f, cols);
}

/* out[M, N] = A^T B for A [K, M] and B [K, N] (a matrix multiply with the first operand
 * transposed, as in every dense layer's weight gradient): sums over k in ascending order. */
EXPORT(matmul_tn)
void matmul_tn(const f32* a, const f32* bm, f32* out, u32 K, u32 M, u32 N) {
  for (uint64_t k = 0; k < (uint64_t)M * N; k++) out[k] = 0.0f;
  gemm_tn_acc(a, bm, out, K, M, N, M, N);
}

/* out[i] = x[ids[i]] for rows of `inner` values (a gather along axis 0). Returns the number of
 * ids outside [0, rows); their output rows are zeros. */
EXPORT(gather_rows)
u32 gather_rows(const f32* x, const i32* ids, f32* out, u32 n, u32 inner, u32 rows) {
  u32 bad = 0;
  for (u32 i = 0; i < n; i++) {
    i32 id = ids[i];
    f32* o = out + (uint64_t)i * inner;
    if (id < 0 || (u32)id >= rows) {
      bad++;
      for (u32 c = 0; c < inner; c++) o[c] = 0.0f;
      continue;
    }
    const f32* src = x + (uint64_t)id * inner;
    for (u32 c = 0; c < inner; c++) o[c] = src[c];
  }
  return bad;
}
