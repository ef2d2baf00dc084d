/* Box–Muller: two uint32 -> two standard normals (G. Box, M. Muller, Ann. Math. Stat. 29, 1958).
 *
 * Why 32-bit uniforms (4 normals per Philox call) rather than 64-bit (2 per call): half the
 * Philox work per normal. u = (a + ½) 2^-32 lies in [2^-33, 1 - 2^-33], so |z| <= sqrt(66 ln 2)
 * = 6.77: the tail beyond has probability 1.3e-11, ~3e-3 expected draws in a whole 2e8-normal
 * run; the radius is quantised finely (relative step 2^-32/(u |ln u|)) and the angle to
 * 2π 2^-32 = 1.5e-9. Both are far below what a histogram or a moment of 1e6..1e8 paths can see.
 *
 * Everything is inline and branch-free so that GCC vectorises the one loop below (AVX2: 4 pairs
 * per iteration; SSE2: 2):
 *  - ln u: t = a + ½ (exact) is split in integers into 2^k m with m in [√½, √2), and ln m comes
 *    from fdlibm's e_log.c (Sun Microsystems 1993: s = f/(2+f) and its degree-14 polynomial
 *    Lg1..Lg7), error < 5e-16 relative (tests/test_sde.c checks against libm);
 *  - the angle φ = 2π (b + ½) 2^-32 is split exactly, in integers, into the nearest quarter turn
 *    q and |θ| <= π/4; cos θ, sin θ come from their Taylor polynomials (truncation < 7e-17) and
 *    are rotated by q.
 * glibc's vector log/sin/cos (libmvec) were the first choice, but (a) glibc only declares them
 * when __FAST_MATH__ is defined, which -fno-finite-math-only turns off, (b) GCC fuses sin and
 * cos of one argument into a scalar sincos that does not vectorise, and (c) the calls clobber
 * every vector register; the inline version is ~10% faster than libmvec's log plus the
 * polynomial angle, and 1.7x faster than libmvec log + sin + cos.
 * The file is built with -ffast-math (CMakeLists.txt): it lets GCC vectorise the sqrt and makes
 * the loop ~20% faster; every draw takes the same vector path, so threads do not change results.
 *
 * Determinism: every pair goes through the same loop, with restrict pointers so GCC adds no
 * aliasing fallback; a scalar remainder (n not a multiple of the vector width) would evaluate
 * the same operations, and the callers only pass multiples of FPK_BM_CHUNK anyway. */
#include <math.h>
#include <string.h>

#include "sde/sde_internal.h"

void fpk_bm_pairs(size_t n, const uint32_t *restrict a, const uint32_t *restrict b,
                  double *restrict zc, double *restrict zs) {
  /* Taylor coefficients of sin θ/θ and cos θ in θ². */
  const double S1 = -1.0 / 6, S2 = 1.0 / 120, S3 = -1.0 / 5040, S4 = 1.0 / 362880,
               S5 = -1.0 / 39916800, S6 = 1.0 / 6227020800.0, S7 = -1.0 / 1307674368000.0;
  const double C1 = -1.0 / 2, C2 = 1.0 / 24, C3 = -1.0 / 720, C4 = 1.0 / 40320,
               C5 = -1.0 / 3628800, C6 = 1.0 / 479001600, C7 = -1.0 / 87178291200.0,
               C8 = 1.0 / 20922789888000.0;
  /* fdlibm e_log.c coefficients; ln 2 split into a high part with trailing zeros and a low
   * part, so k ln2_hi is exact. */
  const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
               Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
               Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
               Lg7 = 1.479819860511658591e-01;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  for (size_t i = 0; i < n; i++) {
    /* log u, u = (a + ½) 2^-32 = t 2^-32 with t in [½, 2^32) (fdlibm's e_log.c, branch-free) */
    const double t = (double)(int32_t)(a[i] ^ 0x80000000u) + 2147483648.5;
    uint64_t bits;
    memcpy(&bits, &t, 8);
    uint64_t hx = (bits >> 32) + (0x3ff00000u - 0x3fe6a09eu);
    const uint64_t kb = hx >> 20; /* k + 1023 */
    hx = (hx & 0x000fffffu) + 0x3fe6a09eu;
    const uint64_t mb = (hx << 32) | (bits & 0xffffffffu);
    double m;
    memcpy(&m, &mb, 8);
    const uint64_t kmagic = kb + 0x4330000000000000ull;
    double kd;
    memcpy(&kd, &kmagic, 8);
    kd -= 4503599627370496.0 + 1023.0 + 32.0; /* k - 32: log u = log t - 32 ln 2 */
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
    const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
    const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
    const double R = t2 + t1, hfsq = 0.5 * f * f;
    const double lg = kd * ln2_hi - ((hfsq - (s * (hfsq + R) + kd * ln2_lo)) - f);
    const double r = sqrt(-2.0 * lg);

    const uint32_t bb = b[i];
    const uint32_t q = ((bb + 0x20000000u) >> 30) & 3u;
    const int32_t rem = (int32_t)(bb - (q << 30));
    const double th = ((double)rem + 0.5) * (0x1p-32 * 6.28318530717958647692);
    const double zz = th * th;
    const double sn = th + th * zz * (S1 + zz * (S2 + zz * (S3 + zz * (S4 + zz * (S5 + zz * (S6 + zz * S7))))));
    const double cs = 1.0 + zz * (C1 + zz * (C2 + zz * (C3 + zz * (C4 + zz * (C5 + zz * (C6 + zz * (C7 + zz * C8)))))));
    const double cq = (q & 1u) ? sn : cs, sq = (q & 1u) ? cs : sn;
    const double co = (q == 1u || q == 2u) ? -cq : cq;
    const double si = (q >= 2u) ? -sq : sq;
    zc[i] = r * co;
    zs[i] = r * si;
  }
}
