/* Tests for the grid kernel back-ends of grid Sinkhorn (src/ot/kernel_*.c): every back-end in
 * the registry (fft, blas, lse, band) against a brute-force log-sum-exp, on 1D, 2D (non-square, unequal
 * spacings) and 3D grids, random inputs and log-densities with a large dynamic range, ε from
 * large to small. A back-end that accepts must be exact to the accuracy passed; fft and blas must
 * refuse (status > 0, with a reason) where their arithmetic cannot represent ε or an output.
 * Results must be bitwise the same for any thread count. */
#include "fpk_test.h"

#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ot/ot_internal.h"

#define ACC 1e-11 /* what fpk_ot_grid_solve asks at tol = 1e-9 (1e-2 tol) */

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* xorshift64*, uniform in [0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}

static fpk_grid make_grid(size_t d, const size_t *n, const double *lo, const double *hi) {
  return fpk_test_grid(d, n, lo, hi);
}

/* Largest squared per-axis extent between cell centres, L² = max_a ((n_a − 1) h_a)². */
static double extent2(const fpk_grid *g) {
  double m = 0;
  for (size_t a = 0; a < g->dim; a++) {
    double L = (double)(g->n[a] - 1) * g->h[a];
    if (L * L > m) m = L * L;
  }
  return m;
}

/* Brute force: out_i = log Σ_j exp(in_j − |x_i − x_j|²/ε) over all pairs, the maximum term m
 * subtracted per output, exponents and the sum in long double (per-axis tables of
 * (x_a − y_a)²/ε between cell centres, also in long double). exp of the rounded t_j − m costs a
 * relative 2u per term at most (u |t − m| e^{−|t − m|} <= u/e), so the reference is good to a
 * few ulps whatever the dynamic range. */
static void reference(const fpk_grid *g, const double *in, double eps, double *out) {
  const size_t N = g->size, d = g->dim;
  size_t n[3] = {1, 1, 1};
  long double *c[3] = {NULL, NULL, NULL};
  for (size_t a = 0; a < 3; a++) {
    if (a < d) n[a] = g->n[a];
    c[a] = calloc(n[a] * n[a], sizeof **c);
    assert_non_null(c[a]);
    for (size_t i = 0; a < d && i < n[a]; i++)
      for (size_t j = 0; j < n[a]; j++) {
        long double dx = (long double)fpk_grid_center(g, a, i) - fpk_grid_center(g, a, j);
        c[a][i * n[a] + j] = dx * dx / eps;
      }
  }
  int ok = 1;
#pragma omp parallel reduction(&& : ok)
  {
    long double *t = malloc(N * sizeof *t);
    ok = t != NULL;
#pragma omp for schedule(static)
    for (size_t i = 0; i < N; i++) {
      if (!t) continue;
      const size_t i0 = i % n[0], i1 = i / n[0] % n[1], i2 = i / (n[0] * n[1]);
      const long double *c0 = c[0] + i0 * n[0], *c1 = c[1] + i1 * n[1], *c2 = c[2] + i2 * n[2];
      long double m = -INFINITY;
      for (size_t j2 = 0, j = 0; j2 < n[2]; j2++)
        for (size_t j1 = 0; j1 < n[1]; j1++) {
          const long double c12 = c2[j2] + c1[j1];
          for (size_t j0 = 0; j0 < n[0]; j0++, j++) {
            t[j] = in[j] == -INFINITY ? -INFINITY : (long double)in[j] - (c0[j0] + c12);
            if (t[j] > m) m = t[j];
          }
        }
      if (m == -INFINITY) {
        out[i] = -INFINITY;
        continue;
      }
      long double s = 0;
      for (size_t j = 0; j < N; j++) s += exp((double)(t[j] - m));
      out[i] = (double)(m + logl(s));
    }
    free(t);
  }
  assert_true(ok);
  for (size_t a = 0; a < 3; a++) free(c[a]);
}

/* Largest |out − ref| (−∞ must match exactly: otherwise +∞ is returned). */
static double max_err(size_t N, const double *out, const double *ref) {
  double e = 0;
  for (size_t i = 0; i < N; i++) {
    if (ref[i] == -INFINITY || out[i] == -INFINITY) {
      if (out[i] != ref[i]) return INFINITY;
      continue;
    }
    double di = fabs(out[i] - ref[i]);
    if (!(di <= e)) e = isnan(di) ? INFINITY : di;
  }
  return e;
}

static size_t nkernels(void) {
  size_t k = 0;
  while (fpk_ot_kernel_types[k]) k++;
  return k;
}

enum { IN_RANDOM, IN_GAUSS_WIDE, IN_GAUSS_SHARP, IN_HOLES, IN_SPIKE, IN_COUNT };
static const char *in_names[] = {"random", "log-gauss wide", "log-gauss sharp", "with -inf",
                                 "corner spike"};

/* Inputs: random in [−3, 3]; log of a Gaussian density centred off the middle with σ = L/5
 * (range ~10) and σ = L/40 (range ~ 10³: most of exp(in − M) underflows); random with 30% −∞
 * (zero weights); a single finite entry in a corner (the worst case for the FFT). */
static void make_input(const fpk_grid *g, int kind, double *in) {
  const size_t N = g->size, d = g->dim;
  double L = sqrt(extent2(g));
  for (size_t i = 0; i < N; i++) {
    double x[FPK_MAX_DIM], r2 = 0;
    fpk_grid_point(g, i, x);
    for (size_t a = 0; a < d; a++) {
      double c = g->lo[a] + 0.37 * (g->hi[a] - g->lo[a]);
      r2 += (x[a] - c) * (x[a] - c);
    }
    switch (kind) {
      case IN_RANDOM: in[i] = 6 * urand() - 3; break;
      case IN_GAUSS_WIDE: in[i] = -r2 / (2 * 0.04 * L * L) + 1.5; break;
      case IN_GAUSS_SHARP: in[i] = -r2 / (2 * L * L / 1600) - 7.0; break;
      case IN_HOLES: in[i] = urand() < 0.3 ? -INFINITY : 4 * urand() - 2; break;
      default: in[i] = i == 0 ? 0.25 : -INFINITY; break;
    }
  }
}

typedef struct kstats {
  double err[IN_COUNT];      /* worst error where accepted */
  int accepted, refused_eps, refused_apply;
} kstats;

/* Every back-end × input × ε on grid g. fracs: ε = frac · L². Checks the contract; the
 * arguments accept_min_fft / accept_min_blas: the smallest frac at which the
 * random input must be accepted; refuse_fft / refuse_blas: a frac at which set_eps must refuse.
 * Prints per-back-end counts and worst errors. */
static void check_grid(const char *label, const fpk_grid *g, const double *fracs, size_t nf,
                       double accept_min_fft, double accept_min_blas, double refuse_fft,
                       double refuse_blas) {
  const size_t N = g->size, K = nkernels();
  const double L2 = extent2(g);
  double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  double *ref = malloc(N * sizeof *ref);
  void **st = calloc(K, sizeof *st);
  kstats *S = calloc(K, sizeof *S);
  assert_true(in && out && ref && st && S);
  fpk_error err = {0};
  for (size_t k = 0; k < K; k++) {
    st[k] = OT_KERNEL_IMPL(fpk_ot_kernel_types[k])->alloc(g, &err);
    assert_non_null(st[k]);
  }
  for (int kind = 0; kind < IN_COUNT; kind++) {
    make_input(g, kind, in);
    for (size_t f = 0; f < nf; f++) {
      const double eps = fracs[f] * L2;
      reference(g, in, eps, ref);
      for (size_t k = 0; k < K; k++) {
        const ot_kernel_impl *T = OT_KERNEL_IMPL(fpk_ot_kernel_types[k]);
        const char *name = T->pub.name;
        fpk_error e = {0};
        int rc = T->set_eps(st[k], eps, ACC, &e);
        assert_true(rc >= 0);
        if (rc > 0) {
          assert_true(strlen(e.msg) > 0);
          S[k].refused_eps++;
        } else {
          for (size_t i = 0; i < N; i++) out[i] = NAN;
          rc = T->apply(st[k], in, out, &e);
          assert_true(rc >= 0);
          if (rc > 0) {
            assert_true(strlen(e.msg) > 0);
            S[k].refused_apply++;
          } else {
            double er = max_err(N, out, ref);
            S[k].accepted++;
            if (er > S[k].err[kind]) S[k].err[kind] = er;
            /* fft: to its accuracy; blas and lse: exact to rounding (1e-12 on log values of
             * size up to ~|M| + 10: allow a few ulps of the largest |ref|). */
            double scale = 0;
            for (size_t i = 0; i < N; i++)
              if (isfinite(ref[i]) && fabs(ref[i]) > scale) scale = fabs(ref[i]);
            double tol = (strcmp(name, "fft") ? 1e-12 : ACC) + 8 * DBL_EPSILON * scale;
            if (!(er <= tol))
              fail_msg("%s %s, %s input, eps = %g L^2: max |out - ref| = %.3g > %.3g", label,
                       name, in_names[kind], fracs[f], er, tol);
          }
        }
        /* The contract at both ends of the ε range. */
        if (!strcmp(name, "lse") && rc != 0)
          fail_msg("%s lse refused eps = %g L^2 (%s): %s", label, fracs[f], in_names[kind], e.msg);
        if (kind == IN_RANDOM && !strcmp(name, "fft") && fracs[f] >= accept_min_fft && rc != 0)
          fail_msg("%s fft refused eps = %g L^2 on random input: %s", label, fracs[f], e.msg);
        if (kind == IN_RANDOM && !strcmp(name, "blas") && fracs[f] >= accept_min_blas && rc != 0)
          fail_msg("%s blas refused eps = %g L^2 on random input: %s", label, fracs[f], e.msg);
      }
    }
  }
  /* Too small an ε: refused by set_eps whatever the input. */
  for (size_t k = 0; k < K; k++) {
    const ot_kernel_impl *T = OT_KERNEL_IMPL(fpk_ot_kernel_types[k]);
    double frac = !strcmp(T->pub.name, "fft") ? refuse_fft
                  : !strcmp(T->pub.name, "blas") ? refuse_blas : 0;
    if (frac > 0) {
      fpk_error e = {0};
      assert_true(T->set_eps(st[k], frac * L2, ACC, &e) > 0);
      assert_true(strlen(e.msg) > 0);
      print_message("%s %s at eps = L^2/%g refuses: %s\n", label, T->pub.name, 1 / frac, e.msg);
    }
  }
  for (size_t k = 0; k < K; k++) {
    print_message("%s %-4s accepted %2d, refused by set_eps %2d, by apply %2d; max err:", label,
                  fpk_ot_kernel_types[k]->name, S[k].accepted, S[k].refused_eps,
                  S[k].refused_apply);
    for (int kind = 0; kind < IN_COUNT; kind++) print_message(" %.1e", S[k].err[kind]);
    print_message("\n");
    OT_KERNEL_IMPL(fpk_ot_kernel_types[k])->free(st[k]);
  }
  free(in), free(out), free(ref), free(st), free(S);
}

/* ε / L² from large to small. */
static const double FRACS[] = {10, 1, 0.3, 0.1, 1.0 / 30, 1e-2, 1.0 / 300, 1.0 / 600, 1e-3};
#define NFRACS (sizeof FRACS / sizeof FRACS[0])

/* ---- accuracy against brute force ---------------------------------------------------------- */

static void test_registry(void **state) {
  (void)state;
  assert_int_equal(nkernels(), 4);
  assert_ptr_equal(fpk_ot_kernel_types[0], fpk_ot_kernel_fft);
  assert_ptr_equal(fpk_ot_kernel_types[1], fpk_ot_kernel_blas);
  assert_ptr_equal(fpk_ot_kernel_types[2], fpk_ot_kernel_lse);
  assert_ptr_equal(fpk_ot_kernel_types[3], fpk_ot_kernel_band);
  assert_ptr_equal(fpk_ot_kernel_find("blas"), fpk_ot_kernel_blas);
  assert_ptr_equal(fpk_ot_kernel_find("band"), fpk_ot_kernel_band);
  for (size_t k = 0; k < 4; k++) {
    const ot_kernel_impl *T = OT_KERNEL_IMPL(fpk_ot_kernel_types[k]);
    assert_non_null(T->alloc);
    assert_non_null(T->set_eps);
    assert_non_null(T->apply);
    assert_non_null(T->free);
  }
}

static void test_accuracy_1d(void **state) {
  (void)state;
  size_t n[] = {200};
  double lo[] = {-1}, hi[] = {2};
  fpk_grid g = make_grid(1, n, lo, hi);
  check_grid("1D n=200", &g, FRACS, NFRACS, 1, 0.01, 0.01, 1.0 / 2000);
  size_t n2[] = {3};
  fpk_grid g3 = make_grid(1, n2, lo, hi); /* the smallest grid */
  check_grid("1D n=3", &g3, FRACS, NFRACS, 1, 0.01, 0.01, 1.0 / 2000);
}

static void test_accuracy_2d(void **state) {
  (void)state;
  size_t n[] = {37, 23};
  double lo[] = {0, -0.5}, hi[] = {1, 1.5}; /* h = 0.027 and 0.087 */
  fpk_grid g = make_grid(2, n, lo, hi);
  check_grid("2D 37x23", &g, FRACS, NFRACS, 1, 0.01, 0.01, 1.0 / 2000);
}

static void test_accuracy_3d(void **state) {
  (void)state;
  size_t n[] = {9, 8, 7};
  double lo[] = {0, 0, -1}, hi[] = {1, 2, 0.5};
  fpk_grid g = make_grid(3, n, lo, hi);
  check_grid("3D 9x8x7", &g, FRACS, NFRACS, 1, 0.01, 0.01, 1.0 / 2000);
}

/* A larger 2D grid where the FFT has many lines and blas several blocks per axis; fewer ε. */
static void test_accuracy_2d_large(void **state) {
  (void)state;
  size_t n[] = {70, 90};
  double lo[] = {-2, 0}, hi[] = {2, 3};
  fpk_grid g = make_grid(2, n, lo, hi);
  const double fr[] = {1, 0.1, 1.0 / 300};
  check_grid("2D 70x90", &g, fr, 3, 1, 0.01, 0.01, 1.0 / 2000);
}

/* ---- zero weights, refusals ------------------------------------------------------------------ */

/* Every input −∞: every output −∞, status 0. */
static void test_all_neg_inf(void **state) {
  (void)state;
  size_t n[] = {12, 10};
  double lo[] = {0, 0}, hi[] = {1, 1};
  fpk_grid g = make_grid(2, n, lo, hi);
  const size_t N = g.size;
  double in[120], out[120];
  for (size_t i = 0; i < N; i++) in[i] = -INFINITY;
  for (size_t k = 0; fpk_ot_kernel_types[k]; k++) {
    const ot_kernel_impl *T = OT_KERNEL_IMPL(fpk_ot_kernel_types[k]);
    fpk_error e = {0};
    void *s = T->alloc(&g, &e);
    assert_non_null(s);
    assert_int_equal(T->set_eps(s, 0.5, ACC, &e), 0);
    for (size_t i = 0; i < N; i++) out[i] = 0;
    assert_int_equal(T->apply(s, in, out, &e), 0);
    for (size_t i = 0; i < N; i++) assert_true(out[i] == -INFINITY);
    T->free(s);
  }
}

/* The a posteriori checks: a point mass in a corner at an ε fft accepts in set_eps must make
 * its apply refuse at some ε (the far corner drowns in the FFT's rounding), and a point mass at
 * ε = L²/600 in 2D makes the far outputs underflow (e^{−1200}) in blas, which must refuse. */
static void test_apply_refusals(void **state) {
  (void)state;
  size_t n[] = {40, 40};
  double lo[] = {0, 0}, hi[] = {1, 1};
  fpk_grid g = make_grid(2, n, lo, hi);
  const size_t N = g.size;
  const double L2 = extent2(&g);
  double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  assert_true(in && out);
  make_input(&g, IN_SPIKE, in);
  fpk_error e = {0};

  const ot_kernel_impl *F = OT_KERNEL_IMPL(fpk_ot_kernel_fft);
  void *s = F->alloc(&g, &e);
  assert_non_null(s);
  int seen = 0;
  double frac_seen = 0;
  for (double frac = 2; frac > 1e-3 && !seen; frac *= 0.8) {
    if (F->set_eps(s, frac * L2, ACC, &e) != 0) break;
    int rc = F->apply(s, in, out, &e);
    assert_true(rc >= 0);
    if (rc > 0) seen = 1, frac_seen = frac;
  }
  assert_true(seen);
  print_message("fft, corner spike at eps = %.3g L^2: %s\n", frac_seen, e.msg);
  F->free(s);

  const ot_kernel_impl *B = OT_KERNEL_IMPL(fpk_ot_kernel_blas);
  s = B->alloc(&g, &e);
  assert_non_null(s);
  assert_int_equal(B->set_eps(s, L2 / 600, ACC, &e), 0);
  assert_true(B->apply(s, in, out, &e) > 0);
  assert_true(strlen(e.msg) > 0);
  print_message("blas, corner spike at eps = L^2/600: %s\n", e.msg);
  /* At ε = L²/100 the far corner is e^{−200}: representable, so blas accepts and is exact. */
  double *ref = malloc(N * sizeof *ref);
  assert_non_null(ref);
  assert_int_equal(B->set_eps(s, L2 / 100, ACC, &e), 0);
  assert_int_equal(B->apply(s, in, out, &e), 0);
  reference(&g, in, L2 / 100, ref);
  assert_true(max_err(N, out, ref) <= 1e-12);
  B->free(s);
  free(in), free(out), free(ref);
}

/* fft with a looser accuracy accepts smaller ε, and is then exact to that accuracy. */
static void test_fft_loose_accuracy(void **state) {
  (void)state;
  size_t n[] = {37, 23};
  double lo[] = {0, -0.5}, hi[] = {1, 1.5};
  fpk_grid g = make_grid(2, n, lo, hi);
  const size_t N = g.size;
  const double L2 = extent2(&g);
  double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  double *ref = malloc(N * sizeof *ref);
  assert_true(in && out && ref);
  const ot_kernel_impl *F = OT_KERNEL_IMPL(fpk_ot_kernel_fft);
  fpk_error e = {0};
  void *s = F->alloc(&g, &e);
  assert_non_null(s);
  const double accs[] = {1e-6, 1e-9, 1e-11, 1e-13};
  for (size_t a = 0; a < 4; a++) {
    double smallest = 0, worst = 0;
    for (int kind = IN_RANDOM; kind <= IN_GAUSS_WIDE; kind++) {
      make_input(&g, kind, in);
      for (double frac = 4; frac > 1e-3; frac *= 0.7) {
        if (F->set_eps(s, frac * L2, accs[a], &e) != 0) break;
        if (F->apply(s, in, out, &e) != 0) break;
        reference(&g, in, frac * L2, ref);
        double er = max_err(N, out, ref);
        if (!(er <= accs[a])) fail_msg("fft at accuracy %g: error %.3g", accs[a], er);
        if (er > worst) worst = er;
        if (kind == IN_RANDOM) smallest = frac;
      }
    }
    print_message("fft at accuracy %.0e: random input accepted down to eps = %.3g L^2, "
                  "worst error %.2e\n", accs[a], smallest, worst);
  }
  F->free(s);
  free(in), free(out), free(ref);
}

/* ---- determinism ---------------------------------------------------------------------------- */

static void threads_case(const fpk_grid *g, double frac) {
  const size_t N = g->size;
  const double eps = frac * extent2(g);
  double *in = malloc(N * sizeof *in), *o1 = malloc(N * sizeof *o1), *o2 = malloc(N * sizeof *o2);
  assert_true(in && o1 && o2);
  make_input(g, IN_GAUSS_WIDE, in);
  for (size_t i = 0; i < N; i += 7) in[i] += 0.5 * urand();
  const int saved = omp_get_max_threads();
  for (size_t k = 0; fpk_ot_kernel_types[k]; k++) {
    const ot_kernel_impl *T = OT_KERNEL_IMPL(fpk_ot_kernel_types[k]);
    fpk_error e = {0};
    omp_set_num_threads(4); /* scratch for up to 4 threads */
    void *s = T->alloc(g, &e);
    assert_non_null(s);
    if (T->set_eps(s, eps, ACC, &e) != 0) fail_msg("%s refused: %s", T->pub.name, e.msg);
    omp_set_num_threads(1);
    assert_int_equal(T->apply(s, in, o1, &e), 0);
    for (int nt = 2; nt <= 4; nt++) {
      omp_set_num_threads(nt);
      memset(o2, 0, N * sizeof *o2);
      assert_int_equal(T->apply(s, in, o2, &e), 0);
      if (memcmp(o1, o2, N * sizeof *o1))
        fail_msg("%s on %zuD, %zu cells: 1 and %d threads differ", T->pub.name, g->dim, N, nt);
    }
    T->free(s);
  }
  omp_set_num_threads(saved);
  free(in), free(o1), free(o2);
}

static void test_threads_bitwise(void **state) {
  (void)state;
  size_t n1[] = {300}, n2[] = {150, 130}, n3[] = {24, 20, 18};
  double lo[] = {0, 0, 0}, hi[] = {1, 1.3, 0.8};
  fpk_grid g1 = make_grid(1, n1, lo, hi), g2 = make_grid(2, n2, lo, hi);
  fpk_grid g3 = make_grid(3, n3, lo, hi);
  threads_case(&g1, 0.5);
  threads_case(&g2, 0.5);
  threads_case(&g3, 0.5);
}

/* ---- the automatic choice (kernel = NULL) ----------------------------------------------------
 * Among the back-ends valid at ε (fft by its rule, blas where its set_eps accepts, band always)
 * the one with the smallest predicted cost (grid.c's model, constants calibrated by
 * bench_ot_grid calibrate); blas-lines and lse only when none is valid or all refused; a back-end
 * that refused once in a solve is not picked again at that ε or a smaller one. The held-out 2D
 * case of issue 15 (256² on [0, 1]² at ε = 0.5, where an earlier rule ran lse, 4x slower than
 * blas) must pick a fast valid back-end. */
static size_t count(const char *hay, const char *needle) {
  size_t k = 0;
  for (const char *q = strstr(hay, needle); q; q = strstr(q + 1, needle)) k++;
  return k;
}

static void solve_auto(const fpk_grid *g, const double *a, const double *b, double eps,
                       double eps_start, fpk_ot_grid **wout) {
  fpk_error err = {0};
  fpk_ot_grid *w = fpk_ot_grid_alloc(g, NULL, &err);
  assert_non_null(w);
  double *f = malloc(g->size * sizeof *f), *h = malloc(g->size * sizeof *h);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.eps_start = eps_start;
  p.normalize = 1;
  fpk_ot_result r;
  if (fpk_ot_grid_solve(w, a, b, &p, f, h, &r)) fail_msg("%s", fpk_ot_grid_errmsg(w));
  assert_true(r.converged);
  free(f), free(h);
  *wout = w;
}

static void test_auto_choice_model(void **state) {
  (void)state;
  size_t n256[] = {256, 256}, n64[] = {64, 64}, n512[] = {512, 512}, n2000[] = {2000};
  double lo[] = {0, 0}, hi[] = {1, 1};
  fpk_grid g256 = make_grid(2, n256, lo, hi), g64 = make_grid(2, n64, lo, hi);
  fpk_grid g512 = make_grid(2, n512, lo, hi), g1 = make_grid(1, n2000, lo, hi);
  /* the held-out case: blas or fft (both valid; measured 1.5 and 1.7 ms per product), not lse */
  const fpk_ot_kernel_type *c = ot_grid_auto_choice(&g256, 0.5);
  assert_true(c == fpk_ot_kernel_blas || c == fpk_ot_kernel_fft);
  /* measured (bench_ot_grid calibrate, one thread, ns per cell): 64², ε = 0.5: blas 11.5, band
   * 11.8, fft 24.8 (the rule before the model took fft); 512², ε = 0.5: fft 28.6, blas 40.3;
   * 256², ε = 0.004: blas 23.5, band 46.1 (fft refuses); 1D n = 2000, ε = 0.005: band 111, blas
   * 918 (a matrix-vector product bound by memory) */
  assert_ptr_equal(ot_grid_auto_choice(&g64, 0.5), fpk_ot_kernel_blas);
  assert_ptr_equal(ot_grid_auto_choice(&g512, 0.5), fpk_ot_kernel_fft);
  assert_ptr_equal(ot_grid_auto_choice(&g256, 0.004), fpk_ot_kernel_blas);
  assert_ptr_equal(ot_grid_auto_choice(&g1, 0.005), fpk_ot_kernel_band);
  assert_ptr_equal(ot_grid_auto_choice(&g1, 0.05), fpk_ot_kernel_band);
  /* below blas's limit on 256² (1/690 = 0.00145): blas-lines (dgemm with a shift per line, 27.5
   * ns per cell at ε = 0.004) before band (46.1), not lse; at ε = 1e-5 the band is 2·54 + 1
   * cells wide and cheaper */
  assert_string_equal(ot_grid_auto_choice(&g256, 1e-3)->name, "blas-lines");
  assert_ptr_equal(ot_grid_auto_choice(&g256, 1e-5), fpk_ot_kernel_band);
  /* the choice is a function of the problem only: the same on 1 and 2 threads */
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const fpk_ot_kernel_type *c1 = ot_grid_auto_choice(&g256, 0.02);
  omp_set_num_threads(2);
  assert_ptr_equal(ot_grid_auto_choice(&g256, 0.02), c1);
  omp_set_num_threads(saved);
}

static void test_auto_kernel_rule(void **state) {
  (void)state;
  /* 1D, 200 cells on [−9, 9]: blas accepts down to (199 h)²/690 = 0.4649; on one line blas is a
   * matrix-vector product and band is cheaper, so auto runs band, without refusals, at ε above
   * and below blas's limit */
  size_t n1[] = {200};
  double lo1[] = {-9}, hi1[] = {9};
  fpk_grid g = make_grid(1, n1, lo1, hi1);
  const double lim = ot_blas_min_eps(&g);
  assert_true(lim < 0.5 && 0.5 < 18.0 * 18.0 / 600);
  assert_true(ot_blas_accepts_eps(&g, lim * (1 + 1e-12)));
  assert_false(ot_blas_accepts_eps(&g, lim * (1 - 1e-12)));
  double *a = malloc(200 * sizeof *a), *b = malloc(200 * sizeof *b);
  for (size_t i = 0; i < 200; i++) {
    const double x = fpk_grid_center(&g, 0, i);
    a[i] = exp(-0.5 * x * x), b[i] = exp(-(x - 0.5) * (x - 0.5));
  }
  fpk_ot_grid *w;
  const double cases[][2] = {{0.5, 0.5}, {1.001 * lim, 1.001 * lim}, {0.5, 0}, {0.999 * lim,
                                                                             0.999 * lim}};
  for (size_t k = 0; k < 4; k++) {
    solve_auto(&g, a, b, cases[k][0], cases[k][1], &w);
    const char *log = fpk_ot_grid_log(w);
    if (!strstr(log, "kernel band") || strstr(log, "kernel lse") || strstr(log, "refused"))
      fail_msg("eps = %g (blas accepts down to %g):\n%s", cases[k][0], lim, log);
    assert_int_equal(fpk_ot_grid_fallbacks(w), 0);
    fpk_ot_grid_free(w);
  }
  free(a), free(b);

  /* 2D, 40² on [0, 1]², a point mass in a corner: at ε = 0.0025 blas (the cheaper) accepts the ε
   * but refuses the product whose far outputs fall to e^{−760}; band, next in line, refuses it
   * for the same reason; lse takes it (two fallbacks, one per back-end that refused). The next
   * stage, ε = 0.0015, is still above blas's limit (0.00138), but the solve tries neither again:
   * no further fallback, not one per stage. */
  size_t n2[] = {40, 40};
  double lo2[] = {0, 0}, hi2[] = {1, 1};
  fpk_grid g2 = make_grid(2, n2, lo2, hi2);
  assert_true(ot_blas_accepts_eps(&g2, 0.0015) && !ot_blas_accepts_eps(&g2, 0.00125));
  double *a2 = calloc(g2.size, sizeof *a2), *b2 = malloc(g2.size * sizeof *b2);
  a2[0] = 1;
  for (size_t i = 0; i < g2.size; i++) b2[i] = 1.0 / (double)g2.size;
  fpk_error err = {0};
  w = fpk_ot_grid_alloc(&g2, NULL, &err);
  double *f = malloc(g2.size * sizeof *f), *h = malloc(g2.size * sizeof *h);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = 0.0015;
  p.eps_start = 0.01; /* stages 0.01, 0.005, 0.0025, 0.0015 */
  fpk_ot_result r;
  if (fpk_ot_grid_solve(w, a2, b2, &p, f, h, &r)) fail_msg("%s", fpk_ot_grid_errmsg(w));
  const char *log = fpk_ot_grid_log(w);
  print_message("point mass, stages 0.01 .. 0.0015:\n%s", log);
  assert_true(r.converged);
  assert_int_equal(count(log, "blas refused"), 1);
  assert_int_equal(count(log, "band refused"), 1);
  assert_int_equal(fpk_ot_grid_fallbacks(w), 2);
  assert_non_null(strstr(log, "eps 0.0015     kernel lse"));
  fpk_ot_grid_free(w);
  free(f), free(h);

  /* The band's certificate refusing in a solve that asked for band by name: the product is
   * handed to lse, and the log (the result's kernel report) says so. */
  w = fpk_ot_grid_alloc(&g2, fpk_ot_kernel_band, &err);
  f = malloc(g2.size * sizeof *f), h = malloc(g2.size * sizeof *h);
  p.eps = 0.0025;
  p.eps_start = 0.0025;
  if (fpk_ot_grid_solve(w, a2, b2, &p, f, h, &r)) fail_msg("%s", fpk_ot_grid_errmsg(w));
  log = fpk_ot_grid_log(w);
  assert_true(r.converged);
  assert_non_null(strstr(log, "band refused a product: band: at eps = 0.0025"));
  assert_non_null(strstr(log, "below the underflow floor"));
  assert_non_null(strstr(log, "kernel lse"));
  assert_int_equal(fpk_ot_grid_fallbacks(w), 1);
  fpk_ot_grid_free(w);
  free(a2), free(b2), free(f), free(h);
}

/* ---- the band back-end's truncation ---------------------------------------------------------
 * At small ε the band leaves out the kernel entries below DBL_MIN (r_a < n_a − 1): with a wide
 * input it accepts and matches the brute force to rounding; with a spike the far outputs are
 * below the certificate's floor and it refuses, naming one. */
static void test_band_truncation(void **state) {
  (void)state;
  size_t n1[] = {400}, n2[] = {90, 70};
  double lo[] = {0, 0}, hi[] = {1, 1};
  for (int d = 1; d <= 2; d++) {
    fpk_grid g = d == 1 ? make_grid(1, n1, lo, hi) : make_grid(2, n2, lo, hi);
    const size_t N = g.size;
    double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    double *ref = malloc(N * sizeof *ref);
    assert_true(in && out && ref);
    const ot_kernel_impl *B = OT_KERNEL_IMPL(fpk_ot_kernel_band);
    fpk_error e = {0};
    void *s = B->alloc(&g, &e);
    assert_non_null(s);
    const double eps = 2e-4; /* r = √(708 ε)/h ≈ 0.376 n cells */
    assert_int_equal(B->set_eps(s, eps, ACC, &e), 0);
    for (size_t a = 0; a < g.dim; a++) {
      assert_true(ot_band_width(s, a) + 1 < g.n[a]);
      assert_true(ot_band_width(s, a) == ot_band_radius(g.n[a], g.h[a], eps));
    }
    /* smooth, slowly varying input (a wide Gaussian in log): every output certified */
    for (size_t i = 0; i < N; i++) {
      double x[FPK_MAX_DIM], r2 = 0;
      fpk_grid_point(&g, i, x);
      for (size_t a = 0; a < g.dim; a++) r2 += (x[a] - 0.4) * (x[a] - 0.4);
      in[i] = -r2 + 0.3 * urand();
    }
    assert_int_equal(B->apply(s, in, out, &e), 0);
    reference(&g, in, eps, ref);
    const double er = max_err(N, out, ref);
    print_message("band %dD, eps = %g, half-widths %zu/%zu: max err %.2e\n", d, eps,
                  ot_band_width(s, 0), g.n[0], er);
    assert_true(er <= 1e-12);
    /* a spike: outputs far from it are e^{-|x|²/ε} ~ e^{-5000}, outside the certificate */
    for (size_t i = 0; i < N; i++) in[i] = i == 0 ? 0 : -INFINITY;
    assert_int_equal(B->apply(s, in, out, &e), 1);
    assert_non_null(strstr(e.msg, "below the underflow floor"));
    B->free(s);
    free(in), free(out), free(ref);
  }
}

/* ---- the lse back-end's two paths ------------------------------------------------------------
 * Per line, the scaled SIMD product where its bound certifies 1e-12 (split over the passes) and
 * the exact block sums elsewhere: on an input whose lines span more than the exp range (a steep
 * ramp plus a spike) both paths run, and every output matches the brute force to the fast path's
 * bound plus rounding. */
static void test_lse_paths(void **state) {
  (void)state;
  size_t n[] = {120, 90};
  double lo[] = {0, 0}, hi[] = {1, 1.5};
  fpk_grid g = make_grid(2, n, lo, hi);
  const size_t N = g.size;
  double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  double *ref = malloc(N * sizeof *ref);
  assert_true(in && out && ref);
  const ot_kernel_impl *L = OT_KERNEL_IMPL(fpk_ot_kernel_lse);
  fpk_error e = {0};
  void *s = L->alloc(&g, &e);
  assert_non_null(s);
  const double epss[] = {0.5, 0.01, 1e-3};
  for (size_t k = 0; k < 3; k++) {
    for (size_t i = 0; i < N; i++) {
      double x[FPK_MAX_DIM];
      fpk_grid_point(&g, i, x);
      in[i] = -5000 * x[0] * x[0] + 3 * urand(); /* line span ~5000 along axis 0 */
    }
    in[N / 2] = 50;
    size_t f0, x0, f1, x1;
    ot_lse_stats(s, &f0, &x0);
    assert_int_equal(L->set_eps(s, epss[k], ACC, &e), 0);
    assert_int_equal(L->apply(s, in, out, &e), 0);
    ot_lse_stats(s, &f1, &x1);
    reference(&g, in, epss[k], ref);
    double scale = 0;
    for (size_t i = 0; i < N; i++)
      if (isfinite(ref[i]) && fabs(ref[i]) > scale) scale = fabs(ref[i]);
    const double er = max_err(N, out, ref);
    print_message("lse, eps = %g: %zu outputs by the fast path, %zu exact; max err %.2e "
                  "(|log| up to %.0f)\n", epss[k], f1 - f0, x1 - x0, er, scale);
    assert_true(f1 - f0 > 0);
    if (k == 2) assert_true(x1 > 0); /* the exact path ran (at the small ε at least) */
    assert_true(er <= 1e-12 + 8 * DBL_EPSILON * scale);
  }
  L->free(s);
  free(in), free(out), free(ref);
}

/* ---- solves with band -------------------------------------------------------------------------
 * The same problem solved with blas, band and lse named, and auto (band in 1D) on 1 and 2
 * threads: values within 1e-10 relative (the products are certified to 1e-2 tol = 1e-11; the
 * issue's equal-value criterion is 1e-9), and auto's potentials bitwise the same on 1 and 2
 * threads (band splits outputs, never a sum, over threads). */
static void test_band_solve(void **state) {
  (void)state;
  const size_t n1[] = {600}, n2[] = {48, 40};
  const double lo[] = {0, 0}, hi[] = {1, 1};
  const double epss[] = {0.005, 0.01};
  const int saved = omp_get_max_threads();
  for (int d = 1; d <= 2; d++) {
    fpk_grid g = d == 1 ? make_grid(1, n1, lo, hi) : make_grid(2, n2, lo, hi);
    const size_t N = g.size;
    double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    double *f[4], *h[4];
    for (int k = 0; k < 4; k++) f[k] = malloc(N * sizeof **f), h[k] = malloc(N * sizeof **h);
    for (size_t i = 0; i < N; i++) {
      double x[FPK_MAX_DIM], ra = 0, rb = 0;
      fpk_grid_point(&g, i, x);
      for (size_t ax = 0; ax < g.dim; ax++)
        ra += (x[ax] - 0.3) * (x[ax] - 0.3), rb += (x[ax] - 0.65) * (x[ax] - 0.65);
      a[i] = exp(-ra / (2 * 0.01)), b[i] = exp(-rb / (2 * 0.0225)) + 0.05;
    }
    const fpk_ot_kernel_type *named[4] = {fpk_ot_kernel_blas, fpk_ot_kernel_band,
                                          fpk_ot_kernel_lse, NULL};
    fpk_ot_result r[4];
    for (int k = 0; k < 4; k++) {
      fpk_error err = {0};
      omp_set_num_threads(k == 3 ? 2 : 1);
      fpk_ot_grid *w = fpk_ot_grid_alloc(&g, named[k], &err);
      assert_non_null(w);
      fpk_ot_params p;
      fpk_ot_params_init(&p);
      p.eps = epss[d - 1];
      p.normalize = 1;
      if (fpk_ot_grid_solve(w, a, b, &p, f[k], h[k], &r[k])) fail_msg("%s", fpk_ot_grid_errmsg(w));
      assert_true(r[k].converged);
      if (k == 1 || (k == 3 && d == 1))
        if (!strstr(fpk_ot_grid_log(w), "kernel band") || strstr(fpk_ot_grid_log(w), "refused"))
          fail_msg("%dD, solve %d:\n%s", d, k, fpk_ot_grid_log(w));
      fpk_ot_grid_free(w);
    }
    omp_set_num_threads(saved);
    print_message("%dD eps %g: dual blas %.15g band %.15g lse %.15g\n", d, epss[d - 1], r[0].dual,
                  r[1].dual, r[2].dual);
    for (int k = 1; k < 3; k++) {
      assert_close_rel(r[k].dual, r[0].dual, 1e-10);
      assert_close_rel(r[k].primal, r[0].primal, 1e-10);
      assert_close_rel(r[k].cost, r[0].cost, 1e-10);
    }
    /* auto on 2 threads against band named on 1: the same back-end (1D) gives the same bits */
    if (d == 1) {
      assert_memory_equal(f[1], f[3], N * sizeof **f);
      assert_memory_equal(h[1], h[3], N * sizeof **h);
    }
    for (int k = 0; k < 4; k++) free(f[k]), free(h[k]);
    free(a), free(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry),
      cmocka_unit_test(test_accuracy_1d),
      cmocka_unit_test(test_accuracy_2d),
      cmocka_unit_test(test_accuracy_3d),
      cmocka_unit_test(test_accuracy_2d_large),
      cmocka_unit_test(test_all_neg_inf),
      cmocka_unit_test(test_apply_refusals),
      cmocka_unit_test(test_fft_loose_accuracy),
      cmocka_unit_test(test_threads_bitwise),
      cmocka_unit_test(test_auto_choice_model),
      cmocka_unit_test(test_auto_kernel_rule),
      cmocka_unit_test(test_band_truncation),
      cmocka_unit_test(test_lse_paths),
      cmocka_unit_test(test_band_solve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
