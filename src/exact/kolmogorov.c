/* The Kolmogorov distribution: the law of sup_{0<=t<=1} |B⁰_t| for the standard Brownian bridge
 * B⁰ (fpkit/exact.h; ../shared/reference/closed-forms.md). Two series represent it:
 *
 *   K(x) = 1 − 2 Σ_{k>=1} (−1)^{k−1} e^{−2k²x²}                       (Kolmogorov 1933)
 *        = (√(2π)/x) Σ_{k>=1} e^{−(2k−1)²π²/(8x²)}                    (Jacobi's theta transform)
 *
 * (A. Kolmogorov, "Sulla determinazione empirica di una legge di distribuzione", Giorn. Ist.
 * Ital. Attuari 4, 1933; the second form by the Poisson summation / theta-function identity, e.g.
 * Marsaglia, Tsang & Wang, "Evaluating Kolmogorov's distribution", J. Stat. Softw. 8(18), 2003.)
 * The first converges like e^{−2k²x²}, fast for large x, and loses absolute accuracy to the
 * cancellation in 1 − 2Σ as x → 0; the second converges like e^{−π²k²/(2x²)}, fast for small x.
 * At FPK_KOLMOGOROV_SWITCH = 1 both need at most 5 terms (the first omitted one is below 1e-18
 * of the first): the theta form is used below it and the alternating form above. Measured
 * against 50-digit mpmath on x = 0.01, 0.02, ..., 10: |error| <= 1.7e-16 for K and <= 1.2e-16
 * for 1 − K; relative error <= 3e-16 for K below the switch and for 1 − K above it, and for the
 * density everywhere, 4.3e-16 (tests/test_kolmogorov.c holds reference values).
 *
 * The survival function is 2Σ directly above the switch, so it keeps its relative accuracy in the
 * upper tail (needed for p-values and for quantiles near 1); the density is the term-by-term
 * derivative of the series in use. Quantiles: safeguarded Newton (Numerical Recipes' rtsafe:
 * a Newton step that leaves the bracket, or does not halve it fast enough, is replaced by
 * bisection) on the logarithm of the lower tail K or upper tail 1 − K, whichever is the smaller
 * of p and 1 − p, so the steps stay well scaled across hundreds of orders of magnitude. */
#include <float.h>
#include <math.h>

#include "fpkit/exact.h"

#define SQRT_2PI 2.50662827463100050241576528481104525
/* π²/8 as an unevaluated sum hi + lo (hi the nearest double; lo from 50-digit arithmetic). */
#define PI2_8_HI 0x1.3bd3cc9be45dep+0
#define PI2_8_LO 0x1.692b71366cc04p-54

/* The series stop once the next term is below TAIL times the first: every later term is smaller
 * still (both series decrease faster than geometrically), so the truncation error is below the
 * rounding of the sum. */
#define TAIL 1e-18
#define MAX_TERMS 200

/* e^{−(ah + al)} for |al| <= 1e-15 |ah|: exp(−ah)(1 − al). The exponents 2k²x² and
 * (2k−1)²π²/(8x²) are carried as such double-double pairs (x² split exactly by an FMA), because
 * a rounding of the exponent a multiplies the term by 1 ± a·2^-53: in the tails, where the first
 * term alone is the answer, that would cost about 2x² ulps of relative accuracy (2e-14 at x = 10)
 * instead of exp's own half ulp or so. */
static inline double exp_dd(double ah, double al) {
  return exp(-ah) * (1.0 - al);
}

/* Σ_{k>=1} (−1)^{k−1} e^{−2k²x²} and Σ (−1)^{k−1} k² e^{−2k²x²}, summed from the smallest term
 * up. */
static void alternating(double x, double *s, double *d) {
  if (x > 30.0) { /* e^{−2x²} underflows (and x² may overflow, making the FMA below a NaN) */
    *s = *d = 0.0;
    return;
  }
  double t[MAX_TERMS];
  size_t n = 0;
  const double sh = x * x, sl = fma(x, x, -sh); /* x² = sh + sl exactly */
  for (size_t k = 1; k <= MAX_TERMS; k++) {
    const double c = 2.0 * (double)(k * k), ah = c * sh, al = fma(c, sh, -ah) + c * sl;
    const double e = exp_dd(ah, al);
    t[n++] = e;
    if (e < TAIL * t[0] || e == 0.0) break;
  }
  double ss = 0.0, dd = 0.0;
  for (size_t i = n; i-- > 0;) {
    const double sign = i % 2 ? -1.0 : 1.0, kk = (double)((i + 1) * (i + 1));
    ss += sign * t[i];
    dd += sign * kk * t[i];
  }
  *s = ss;
  *d = dd;
}

/* Σ_{k>=1} e^{−a_k} and Σ e^{−a_k}(2a_k − 1), a_k = (2k−1)²π²/(8x²). */
static void theta(double x, double *s, double *d) {
  double t[MAX_TERMS], w[MAX_TERMS];
  size_t n = 0;
  const double sh = x * x, sl = fma(x, x, -sh);
  for (size_t k = 1; k <= MAX_TERMS; k++) {
    /* c = (2k−1)² π²/8 = ch + cl, then a = c / x² by one Newton correction of the quotient */
    const double j2 = (double)((2 * k - 1) * (2 * k - 1));
    const double ch = j2 * PI2_8_HI, cl = fma(j2, PI2_8_HI, -ch) + j2 * PI2_8_LO;
    const double ah = ch / sh, al = (fma(-ah, sh, ch) + cl - ah * sl) / sh;
    const double e = exp_dd(ah, al);
    t[n] = e;
    w[n++] = e * (2.0 * ah - 1.0);
    if (e < TAIL * t[0] || e == 0.0) break;
  }
  double ss = 0.0, dd = 0.0;
  for (size_t i = n; i-- > 0;) ss += t[i], dd += w[i];
  *s = ss;
  *d = dd;
}

double fpk_kolmogorov_cdf_alternating(double x) {
  if (isnan(x)) return x;
  if (!(x > 0.0)) return 0.0;
  double s, d;
  alternating(x, &s, &d);
  return 1.0 - 2.0 * s;
}

double fpk_kolmogorov_cdf_theta(double x) {
  if (isnan(x)) return x;
  if (!(x > 0.0)) return 0.0;
  if (isinf(x)) return 1.0;
  double s, d;
  theta(x, &s, &d);
  return SQRT_2PI / x * s;
}

double fpk_kolmogorov_cdf(double x) {
  return x < FPK_KOLMOGOROV_SWITCH ? fpk_kolmogorov_cdf_theta(x)
                                   : fpk_kolmogorov_cdf_alternating(x);
}

double fpk_kolmogorov_sf(double x) {
  if (isnan(x)) return x;
  if (x < FPK_KOLMOGOROV_SWITCH) return 1.0 - fpk_kolmogorov_cdf_theta(x);
  double s, d;
  alternating(x, &s, &d);
  return 2.0 * s;
}

double fpk_kolmogorov_pdf(double x) {
  if (isnan(x)) return x;
  if (!(x > 0.0) || isinf(x)) return 0.0;
  double s, d;
  if (x < FPK_KOLMOGOROV_SWITCH) {
    /* d/dx [x⁻¹ e^{−a/x²}] = x⁻² e^{−a/x²} (2a/x² − 1) */
    theta(x, &s, &d);
    return SQRT_2PI / (x * x) * d;
  }
  alternating(x, &s, &d);
  return 8.0 * x * d;
}

/* x with F(x) = target, F = K (upper = 0) or 1 − K (upper = 1), target in (0, 1/2]: rtsafe on
 * g(x) = log F(x) − log target, g' = ±pdf/F. The root lies below the median ≈ 0.8276 for the
 * lower tail and above it for the upper tail; the bracket is widened by halving/doubling until
 * it holds the root (K(x) underflows to 0 below x ≈ 0.04 and 1 − K above x ≈ 19.4, so this
 * stops for any target > 0). */
static double solve(double target, int upper) {
  const double lt = log(target);
#define G(x) (log(upper ? fpk_kolmogorov_sf(x) : fpk_kolmogorov_cdf(x)) - lt)
  double lo = 0.8, hi = 0.9;
  if (upper) {
    while (G(hi) > 0.0) lo = hi, hi *= 2.0;
  } else {
    while (G(lo) > 0.0) hi = lo, lo *= 0.5;
  }
  /* Now g(lo) and g(hi) bracket 0: g increases for the lower tail and decreases for the upper. */
  double x = 0.5 * (lo + hi), dx_old = hi - lo, dx = dx_old;
  for (int it = 0; it < 200; it++) {
    const double F = upper ? fpk_kolmogorov_sf(x) : fpk_kolmogorov_cdf(x);
    const double g = log(F) - lt;
    const double dg = (upper ? -1.0 : 1.0) * fpk_kolmogorov_pdf(x) / F;
    if (g == 0.0) return x;
    /* keep the bracket: g < 0 on the lo side for the lower tail, on the hi side for the upper */
    if ((g < 0.0) != (upper != 0))
      lo = x;
    else
      hi = x;
    const double newton = x - g / dg;
    if (!isfinite(newton) || newton <= lo || newton >= hi || fabs(2.0 * g) > fabs(dx_old * dg)) {
      dx_old = dx;
      dx = 0.5 * (hi - lo);
      x = lo + dx;
    } else {
      dx_old = dx;
      dx = newton - x;
      x = newton;
    }
    if (fabs(dx) <= 2.0 * DBL_EPSILON * x || hi - lo <= 4.0 * DBL_EPSILON * x) return x;
  }
  return x;
#undef G
}

double fpk_kolmogorov_quantile(double p) {
  if (isnan(p)) return p;
  if (p <= 0.0) return 0.0;
  if (p >= 1.0) return INFINITY;
  /* 1 − p is exact for p in [1/2, 1] (Sterbenz) */
  return p <= 0.5 ? solve(p, 0) : solve(1.0 - p, 1);
}

double fpk_kolmogorov_isf(double q) {
  if (isnan(q)) return q;
  if (q <= 0.0) return INFINITY;
  if (q >= 1.0) return 0.0;
  return q <= 0.5 ? solve(q, 1) : solve(1.0 - q, 0);
}

double fpk_kolmogorov_ks_distance(const double *x, size_t n, double scale, double shift) {
  double d = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double k = fpk_kolmogorov_cdf(scale * x[i] + shift);
    d = fmax(d, fmax((double)(i + 1) / (double)n - k, k - (double)i / (double)n));
  }
  return d;
}
