/* Counter-based random streams: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC'11) from Random123's <Random123/philox.h>, turned into standard normals by
 * Box–Muller (normal.c). Stream layout in sde_internal.h. */
#include <Random123/philox.h>

#include <string.h>

#include "sde/sde_internal.h"

static inline philox4x32_key_t make_key(uint64_t seed) {
  philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  return k;
}

#if defined(__AVX2__)
#include <immintrin.h>

/* hi and lo halves of the 32x32 -> 64-bit products a*m in eight 32-bit lanes. */
static inline void mulhilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
  const __m256i pe = _mm256_mul_epu32(a, m);                       /* lanes 0, 2, 4, 6 */
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m); /* lanes 1, 3, 5, 7 */
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* Eight Philox4x32-10 evaluations side by side: the same rounds as philox.h's
 * _philox4x32round / _philox4x32bumpkey (and the same constants), with the counters of eight
 * consecutive paths in the lanes. GCC's auto-vectorisation of the struct code spends most of its
 * time in lane shuffles; this is ~2.5x faster. tests/test_sde.c checks it against philox4x32. */
static size_t philox_soa_avx2(const philox4x32_key_t key, uint64_t path0, size_t n, uint64_t call,
                              uint32_t *w, size_t ld) {
  const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M4x32_0);
  const __m256i m1 = _mm256_set1_epi32((int)PHILOX_M4x32_1);
  __m256i k0[10], k1[10];
  uint32_t a = key.v[0], b = key.v[1];
  for (int r = 0; r < 10; r++) {
    k0[r] = _mm256_set1_epi32((int)a);
    k1[r] = _mm256_set1_epi32((int)b);
    a += PHILOX_W32_0;
    b += PHILOX_W32_1;
  }
  const __m256i c0i = _mm256_set1_epi32((int)(uint32_t)call);
  const __m256i c1i = _mm256_set1_epi32((int)(uint32_t)(call >> 32));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint32_t plo[8], phi[8];
    for (int l = 0; l < 8; l++) {
      const uint64_t p = path0 + i + (uint64_t)l;
      plo[l] = (uint32_t)p;
      phi[l] = (uint32_t)(p >> 32);
    }
    __m256i c0 = c0i, c1 = c1i;
    __m256i c2 = _mm256_loadu_si256((const __m256i *)plo);
    __m256i c3 = _mm256_loadu_si256((const __m256i *)phi);
    for (int r = 0; r < 10; r++) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo8(c0, m0, &hi0, &lo0);
      mulhilo8(c2, m1, &hi1, &lo1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0[r]);
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1[r]);
      c3 = lo0;
    }
    _mm256_storeu_si256((__m256i *)(w + i), c0);
    _mm256_storeu_si256((__m256i *)(w + ld + i), c1);
    _mm256_storeu_si256((__m256i *)(w + 2 * ld + i), c2);
    _mm256_storeu_si256((__m256i *)(w + 3 * ld + i), c3);
  }
  return i;
}
#endif

void fpk_philox_soa(uint64_t seed, uint64_t path0, size_t n, uint64_t call, uint32_t *w,
                    size_t ld) {
  const philox4x32_key_t key = make_key(seed);
  size_t i0 = 0;
#if defined(__AVX2__)
  i0 = philox_soa_avx2(key, path0, n, call, w, ld);
#endif
  uint32_t *restrict w0 = w, *restrict w1 = w + ld, *restrict w2 = w + 2 * ld,
                     *restrict w3 = w + 3 * ld;
  /* Portable path (and the remainder): GCC vectorises this loop across paths too. */
  for (size_t i = i0; i < n; i++) {
    const uint64_t p = path0 + i;
    philox4x32_ctr_t c = {{(uint32_t)call, (uint32_t)(call >> 32), (uint32_t)p,
                           (uint32_t)(p >> 32)}};
    philox4x32_ctr_t r = philox4x32(c, key);
    w0[i] = r.v[0];
    w1[i] = r.v[1];
    w2[i] = r.v[2];
    w3[i] = r.v[3];
  }
}

void fpk_rng_block(uint64_t seed, uint64_t path0, size_t n, uint64_t call0, size_t ncalls,
                   double *z, size_t ld, void *scratch) {
  const size_t np = FPK_RNG_PAD(n);
  uint32_t *w = scratch;
  double *tmp = (double *)(void *)((char *)scratch + np * 4 * sizeof(uint32_t));
  for (size_t j = 0; j < ncalls; j++) {
    double *row = z + 4 * j * ld;
    fpk_philox_soa(seed, path0, np, call0 + j, w, np);
    if (np <= ld) { /* rows are wide enough for the padded kernel output: write in place */
      fpk_bm_pairs(np, w, w + np, row, row + ld);
      fpk_bm_pairs(np, w + 2 * np, w + 3 * np, row + 2 * ld, row + 3 * ld);
    } else {
      fpk_bm_pairs(np, w, w + np, tmp, tmp + np);
      fpk_bm_pairs(np, w + 2 * np, w + 3 * np, tmp + 2 * np, tmp + 3 * np);
      for (size_t e = 0; e < 4; e++) memcpy(row + e * ld, tmp + e * np, n * sizeof(double));
    }
  }
}

void fpk_rng_normals(uint64_t seed, uint64_t path, uint64_t first, size_t n, double *z) {
  /* Calls are processed FPK_BM_CHUNK/2 at a time: each gives two (u1, u2) pairs, laid out as
   * pair 2g = (w0, w1), pair 2g+1 = (w2, w3) of call g, exactly as in fpk_rng_block. */
  enum { G = FPK_BM_CHUNK / 2 };
  const philox4x32_key_t key = make_key(seed);
  uint32_t a[FPK_BM_CHUNK], b[FPK_BM_CHUNK];
  double zc[FPK_BM_CHUNK], zs[FPK_BM_CHUNK];
  uint64_t k = first;
  const uint64_t end = first + n;
  while (k < end) {
    const uint64_t call0 = k / 4;
    for (size_t g = 0; g < G; g++) {
      const uint64_t call = call0 + g;
      philox4x32_ctr_t c = {{(uint32_t)call, (uint32_t)(call >> 32), (uint32_t)path,
                             (uint32_t)(path >> 32)}};
      philox4x32_ctr_t r = philox4x32(c, key);
      a[2 * g] = r.v[0];
      b[2 * g] = r.v[1];
      a[2 * g + 1] = r.v[2];
      b[2 * g + 1] = r.v[3];
    }
    fpk_bm_pairs(FPK_BM_CHUNK, a, b, zc, zs);
    const uint64_t stop = (call0 + G) * 4 < end ? (call0 + G) * 4 : end;
    for (; k < stop; k++) {
      const uint64_t off = k - call0 * 4; /* position within this group of calls */
      const size_t pair = (size_t)(off / 2);
      z[k - first] = (off % 2 == 0) ? zc[pair] : zs[pair];
    }
  }
}
