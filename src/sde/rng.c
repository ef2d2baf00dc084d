/* Counter-based random streams: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC'11) from Random123's <Random123/philox.h>, turned into standard normals by a
 * ziggurat (ziggurat.c), three normals per Philox call. Stream layout in sde_internal.h.
 *
 * fpk_rng_block fuses the two: with AVX2, eight paths' Philox words stay in registers and go
 * straight through the ziggurat's fast path (a table gather, a multiply); the rare slow-path
 * draws (3/512) are queued and finished in batches by fpk_zig_slow. fpk_rng_normals does the
 * same per position in scalar code. Both compute every normal with the same operations, so they
 * agree bitwise (tests/test_sde.c). */
#include <Random123/philox.h>

#include "sde/sde_internal.h"

static inline philox4x32_key_t make_key(uint64_t seed) {
  philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  return k;
}

static inline philox4x32_ctr_t main_call(const philox4x32_key_t key, uint64_t path,
                                         uint64_t call) {
  const philox4x32_ctr_t c = {{(uint32_t)call, (uint32_t)(call >> 32), (uint32_t)path,
                               (uint32_t)(path >> 32)}};
  return philox4x32(c, key);
}

/* Slow-path argument for value word w and field b (slot >= FPK_ZIG_RECTS): V | sign << 63. */
static inline uint64_t slow_sel(uint32_t w, uint32_t b) {
  return ((uint64_t)((b & 0x1ffu) - FPK_ZIG_RECTS) << 32 | w) | (uint64_t)(b >> 9 & 1u) << 63;
}

/* Slow-path draws waiting for fpk_zig_slow: fpk_rng_block queues them and flushes when the queue
 * is full and when the block is done. Lives in the caller's scratch. */
enum { QCAP = 64 };
typedef struct {
  size_t n;
  uint64_t k[QCAP], path[QCAP], sel[QCAP];
  double *dst[QCAP];
  double out[QCAP];
} zig_queue;
#define ZIG_QUEUE_BYTES ((sizeof(zig_queue) + 63) / 64 * 64)

static void queue_flush(uint64_t seed, zig_queue *q) {
  fpk_zig_slow(seed, q->n, q->k, q->path, q->sel, q->out);
  for (size_t i = 0; i < q->n; i++) *q->dst[i] = q->out[i];
  q->n = 0;
}

static inline void queue_push(uint64_t seed, zig_queue *q, uint64_t k, uint64_t path, uint32_t w,
                              uint32_t b, double *dst) {
  q->k[q->n] = k;
  q->path[q->n] = path;
  q->sel[q->n] = slow_sel(w, b);
  q->dst[q->n] = dst;
  if (++q->n == QCAP) queue_flush(seed, q);
}

#if defined(__AVX2__)
#include <immintrin.h>

/* Philox4x32-10 on eight counters in two groups of four, one counter per 64-bit lane with its
 * 32-bit words in the low halves: _mm256_mul_epu32 then leaves each full 64-bit product in place
 * (lo in the low half, hi in the high half), so a round is two multiplies, two shifts and four
 * xors per group, with no lane shuffles. The high halves carry garbage that the multiplies
 * ignore and the consumers mask off. Same rounds and constants as philox.h's _philox4x32round and
 * _philox4x32bumpkey; tests/test_sde.c checks the words against philox4x32. */
typedef struct {
  __m256i k0[10], k1[10];
} keys4;

static inline void keys4_init(keys4 *K, uint64_t seed) {
  uint32_t a = (uint32_t)seed, b = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    K->k0[r] = _mm256_set1_epi64x(a);
    K->k1[r] = _mm256_set1_epi64x(b);
    a += PHILOX_W32_0;
    b += PHILOX_W32_1;
  }
}

#define PHILOX_ROUND(x0, x1, x2, x3, r)                                                   \
  do {                                                                                    \
    const __m256i q0_ = _mm256_mul_epu32(x0, m0_), q1_ = _mm256_mul_epu32(x2, m1_);       \
    const __m256i t0_ = _mm256_xor_si256(x1, K->k0[r]);                                   \
    const __m256i t2_ = _mm256_xor_si256(x3, K->k1[r]);                                   \
    x0 = _mm256_xor_si256(_mm256_srli_epi64(q1_, 32), t0_);                               \
    x2 = _mm256_xor_si256(_mm256_srli_epi64(q0_, 32), t2_);                               \
    x1 = q1_;                                                                             \
    x3 = q0_;                                                                             \
  } while (0)

/* Counters (call, paths p .. p+3) -> words a0..a3, (call, p+4 .. p+7) -> b0..b3; the two
 * groups' rounds are interleaved. */
#define PHILOX8(K, call, p, a0, a1, a2, a3, b0, b1, b2, b3)                                 \
  do {                                                                                      \
    const __m256i m0_ = _mm256_set1_epi64x(PHILOX_M4x32_0);                                 \
    const __m256i m1_ = _mm256_set1_epi64x(PHILOX_M4x32_1);                                 \
    const __m256i pa_ = _mm256_add_epi64(_mm256_set1_epi64x((long long)(p)),                \
                                         _mm256_setr_epi64x(0, 1, 2, 3));                   \
    const __m256i pb_ = _mm256_add_epi64(pa_, _mm256_set1_epi64x(4));                       \
    a0 = b0 = _mm256_set1_epi64x((uint32_t)(call));                                         \
    a1 = b1 = _mm256_set1_epi64x((uint32_t)((call) >> 32));                                 \
    a2 = pa_, a3 = _mm256_srli_epi64(pa_, 32);                                              \
    b2 = pb_, b3 = _mm256_srli_epi64(pb_, 32);                                              \
    _Pragma("GCC unroll 10") for (int r_ = 0; r_ < 10; r_++) {                              \
      PHILOX_ROUND(a0, a1, a2, a3, r_);                                                     \
      PHILOX_ROUND(b0, b1, b2, b3, r_);                                                     \
    }                                                                                       \
  } while (0)

/* Low halves of the lanes of a and b -> eight consecutive uint32. */
static inline void store_lo8(uint32_t *dst, __m256i a, __m256i b) {
  const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i v = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(a, perm),
                                              _mm256_permutevar8x32_epi32(b, perm), 0x20);
  _mm256_storeu_si256((__m256i *)dst, v);
}

static size_t philox_soa_avx2(uint64_t seed, uint64_t path0, size_t n, uint64_t call, uint32_t *w,
                              size_t ld) {
  keys4 KK, *K = &KK;
  keys4_init(K, seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i a0, a1, a2, a3, b0, b1, b2, b3;
    PHILOX8(K, call, path0 + i, a0, a1, a2, a3, b0, b1, b2, b3);
    store_lo8(w + i, a0, b0);
    store_lo8(w + ld + i, a1, b1);
    store_lo8(w + 2 * ld + i, a2, b2);
    store_lo8(w + 3 * ld + i, a3, b3);
  }
  return i;
}

/* The fast path of one position for four lanes: value words w, fields f (= w3 >> 10e, bits
 * above 9 ignored): z = (w + 1/2) xs[f & 0x3ff] with w + 1/2 = (2^52 + w) - (2^52 - 1/2), both
 * steps exact, as in fpk_zig_fast. Slow lanes (slot >= FPK_ZIG_RECTS) get ±0, overwritten
 * later. */
static inline void fast4(__m256i w, __m256i f, double *dst) {
  const __m256i b = _mm256_and_si256(f, _mm256_set1_epi64x(0x3ff));
  const __m256d wb = _mm256_castsi256_pd(
      _mm256_blend_epi32(w, _mm256_set1_epi64x(0x4330000000000000ll), 0xAA));
  const __m256d u = _mm256_sub_pd(wb, _mm256_set1_pd(0x1p52 - 0.5));
  _mm256_storeu_pd(dst, _mm256_mul_pd(u, _mm256_i64gather_pd(fpk_zig_xs, b, 8)));
}

/* Lanes of w3 with a slow draw among their three fields: slot + 3 carries into bit 9 of its
 * field exactly when slot >= 509 (the sign bits cleared first). */
static inline __m256i slow3(__m256i w3) {
  const __m256i slots = _mm256_and_si256(w3, _mm256_set1_epi64x(0x1ff | 0x1ff << 10 | 0x1ff << 20));
  const __m256i y = _mm256_add_epi64(slots, _mm256_set1_epi64x(3 | 3 << 10 | 3 << 20));
  return _mm256_and_si256(y, _mm256_set1_epi64x(1 << 9 | 1 << 19 | 1 << 29));
}
_Static_assert(FPK_ZIG_SLOTS - FPK_ZIG_RECTS == 3, "slow3 assumes slots 509 .. 511");

/* The words of eight paths' call whose 24 positions include slow draws, kept for the queue:
 * the kernel stores every iteration's words at the next free record and moves on only if one
 * of them is slow, so the (rare, unpredictable) slow case costs no branch in the loop. */
enum { RCAP = 8 };
typedef struct {
  __m256i w[RCAP][8]; /* words 0..3 of paths p .. p+3, then of p+4 .. p+7 */
  uint64_t p[RCAP], call[RCAP];
  double *d[RCAP]; /* position 3 call, path p */
  size_t n;
} zig_records;

/* Queues the slow draws of the records. */
static void queue_records(uint64_t seed, zig_queue *q, zig_records *rec, size_t ld) {
  const __m256i last = _mm256_set1_epi64x(FPK_ZIG_RECTS - 1), m9 = _mm256_set1_epi64x(0x1ff);
  for (size_t r = 0; r < rec->n; r++) {
    const __m256i *w = rec->w[r];
    unsigned mask = 0; /* bit 12g + 4e + l: group g, position e, lane l */
    for (unsigned g = 0; g < 2; g++)
      for (unsigned e = 0; e < 3; e++) {
        const __m256i s = _mm256_and_si256(_mm256_srli_epi64(w[4 * g + 3], (int)(10 * e)), m9);
        mask |= (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(s, last)))
                << (12 * g + 4 * e);
      }
    const uint64_t(*W)[4] = (const uint64_t(*)[4])(const void *)w;
    while (mask) {
      const unsigned bit = (unsigned)__builtin_ctz(mask), g = bit / 12, e = bit % 12 / 4,
                     l = bit % 4;
      mask &= mask - 1;
      queue_push(seed, q, 3 * rec->call[r] + e, rec->p[r] + 4 * g + l, (uint32_t)W[4 * g + e][l],
                 (uint32_t)W[4 * g + 3][l] >> (10 * e), rec->d[r] + e * ld + 4 * g + l);
    }
  }
  rec->n = 0;
}

/* Paths path0 .. path0 + nv - 1 of all calls, nv = n rounded down to a multiple of 8. */
static size_t block_avx2(uint64_t seed, uint64_t path0, size_t n, uint64_t call0, size_t ncalls,
                         double *z, size_t ld, zig_queue *q, zig_records *rec) {
  keys4 KK, *K = &KK;
  keys4_init(K, seed);
  const size_t nv = n / 8 * 8;
  rec->n = 0;
  for (size_t j = 0; j < ncalls; j++) {
    const uint64_t call = call0 + j;
    double *row = z + 3 * j * ld;
    for (size_t i = 0; i < nv; i += 8) {
      __m256i a0, a1, a2, a3, b0, b1, b2, b3;
      PHILOX8(K, call, path0 + i, a0, a1, a2, a3, b0, b1, b2, b3);
      double *d = row + i;
      /* record the words; keep the record if a draw is slow */
      const size_t r = rec->n;
      __m256i *w = rec->w[r];
      _mm256_store_si256(w + 0, a0), _mm256_store_si256(w + 1, a1);
      _mm256_store_si256(w + 2, a2), _mm256_store_si256(w + 3, a3);
      _mm256_store_si256(w + 4, b0), _mm256_store_si256(w + 5, b1);
      _mm256_store_si256(w + 6, b2), _mm256_store_si256(w + 7, b3);
      rec->p[r] = path0 + i, rec->call[r] = call, rec->d[r] = d;
      const __m256i slow = _mm256_or_si256(slow3(a3), slow3(b3));
      rec->n = r + !_mm256_testz_si256(slow, slow);
      fast4(a0, a3, d);
      fast4(a1, _mm256_srli_epi64(a3, 10), d + ld);
      fast4(a2, _mm256_srli_epi64(a3, 20), d + 2 * ld);
      fast4(b0, b3, d + 4);
      fast4(b1, _mm256_srli_epi64(b3, 10), d + ld + 4);
      fast4(b2, _mm256_srli_epi64(b3, 20), d + 2 * ld + 4);
      /* only after the fast path's stores: a flush writes the slow results over them */
      if (rec->n == RCAP) queue_records(seed, q, rec, ld);
    }
  }
  queue_records(seed, q, rec, ld);
  return nv;
}
_Static_assert(ZIG_QUEUE_BYTES + sizeof(zig_records) <= FPK_RNG_SCRATCH(1),
               "FPK_RNG_SCRATCH is too small");
#else
_Static_assert(sizeof(zig_queue) <= FPK_RNG_SCRATCH(1), "FPK_RNG_SCRATCH is too small");
#endif

void fpk_philox_soa(uint64_t seed, uint64_t path0, size_t n, uint64_t call, uint32_t *w,
                    size_t ld) {
  size_t i0 = 0;
#if defined(__AVX2__)
  i0 = philox_soa_avx2(seed, path0, n, call, w, ld);
#endif
  const philox4x32_key_t key = make_key(seed);
  for (size_t i = i0; i < n; i++) {
    const philox4x32_ctr_t r = main_call(key, path0 + i, call);
    for (size_t e = 0; e < 4; e++) w[e * ld + i] = r.v[e];
  }
}

void fpk_rng_block(uint64_t seed, uint64_t path0, size_t n, uint64_t call0, size_t ncalls,
                   double *z, size_t ld, void *scratch) {
  zig_queue *q = scratch;
  q->n = 0;
  size_t i0 = 0;
#if defined(__AVX2__)
  zig_records *rec = (zig_records *)(void *)((char *)scratch + ZIG_QUEUE_BYTES);
  i0 = block_avx2(seed, path0, n, call0, ncalls, z, ld, q, rec);
#endif
  /* Portable path, and the paths the vector kernel leaves over. */
  const philox4x32_key_t key = make_key(seed);
  for (size_t j = 0; j < ncalls; j++) {
    const uint64_t call = call0 + j;
    for (size_t i = i0; i < n; i++) {
      const philox4x32_ctr_t r = main_call(key, path0 + i, call);
      double *d = z + 3 * j * ld + i;
      for (unsigned e = 0; e < 3; e++) {
        const uint32_t b = r.v[3] >> (10 * e), s = b & 0x1ffu;
        if (s < FPK_ZIG_RECTS)
          d[e * ld] = fpk_zig_fast(r.v[e], b);
        else
          queue_push(seed, q, 3 * call + e, path0 + i, r.v[e], b, d + e * ld);
      }
    }
  }
  queue_flush(seed, q);
}

void fpk_rng_normals(uint64_t seed, uint64_t path, uint64_t first, size_t n, double *z) {
  const philox4x32_key_t key = make_key(seed);
  for (size_t q = 0; q < n;) {
    const uint64_t k0 = first + q, call = k0 / 3;
    const philox4x32_ctr_t r = main_call(key, path, call);
    for (unsigned e = (unsigned)(k0 - 3 * call); e < 3 && q < n; e++, q++) {
      const uint32_t b = r.v[3] >> (10 * e), s = b & 0x1ffu;
      if (s < FPK_ZIG_RECTS) {
        z[q] = fpk_zig_fast(r.v[e], b);
      } else {
        const uint64_t k = 3 * call + e, sel = slow_sel(r.v[e], b);
        fpk_zig_slow(seed, 1, &k, &path, &sel, &z[q]);
      }
    }
  }
}

void fpk_philox_kill(uint64_t seed, uint64_t path, uint64_t j, uint32_t w[4]) {
  const philox4x32_ctr_t c = {{(uint32_t)j, (uint32_t)(j >> 32) | 0x40000000u, (uint32_t)path,
                               (uint32_t)(path >> 32)}};
  const philox4x32_ctr_t r = philox4x32(c, make_key(seed));
  for (int e = 0; e < 4; e++) w[e] = r.v[e];
}

double fpk_rng_kill_uniform(uint64_t seed, uint64_t path, uint64_t step, size_t axis, int wall) {
  const uint64_t q = 2 * (uint64_t)axis + (wall ? 1u : 0u);
  uint32_t w[4];
  fpk_philox_kill(seed, path, 2 * step + q / 4, w);
  return ((double)w[q % 4] + 0.5) * 0x1p-32;
}
