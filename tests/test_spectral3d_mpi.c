/* The 3D spectral solver distributed over ranks (fpkit/spectral.h, options.comm; issue 17 part
 * 4): slabs of planes along z with FFTW-MPI transposes between them. Run under mpirun (ctest:
 * mpi_spectral3d, 2 ranks) and also as a plain program (1 process). On every rank the
 * distributed solver's outputs — the density (gathered), the point values, the mass, the tail
 * energy, the minimum and edge density — must be bitwise those of a one-process solver (comm
 * NULL, 1 thread) that every rank also runs, with 1 and with 2 threads per rank: 1×1, 1×2, 2×1,
 * 2×2 ranks × threads between the plain run and the MPI run. Cases: the anisotropic OU (the
 * drift terms only), a variable full D (all nine terms of 𝒩, the model's extremes and terms
 * agreed over ranks) and the same with a time-dependent drift (sampled at every stage); a
 * density set and read back; more ranks than planes (mpi_spectral3d_ranks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/exact.h"
#include "fpkit/parallel.h"
#include "fpkit/spectral.h"

static fpk_comm *world;

static fpk_grid box3(size_t n, double L) {
  fpk_grid g;
  fpk_error err = {0};
  size_t nn[3] = {n, n + 2, n}; /* n_y != n_x: the rows' decoding is checked */
  double lo[3] = {-L, -L, -L}, hi[3] = {L, L, L};
  fpk_bc bc[3] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, 3, nn, lo, hi, bc, &err), FPK_SUCCESS);
  return g;
}

static fpk_spectral *make(const fpk_grid *g, const fpk_model *m, double dt, int nthreads,
                          const fpk_comm *comm) {
  fpk_error err = {0};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  o.nthreads = nthreads;
  o.comm = comm;
  fpk_spectral *s = fpk_spectral_alloc(g, m, fpk_spectral_etdrk4, dt, &o, &err);
  if (!s) fail_msg("fpk_spectral_alloc: %s", err.msg);
  fpk_density_guard gd; /* the coarse grids ripple: identity is the point here */
  fpk_density_guard_init(&gd);
  gd.negative_tol = 1.0;
  assert_int_equal(fpk_spectral_set_guard(s, &gd), FPK_SUCCESS);
  return s;
}

typedef struct outputs {
  double *cells, *values, mass, tail, min, edge;
} outputs;

static outputs run(const fpk_grid *g, const fpk_model *m, const double *p0, double dt, double T,
                   int nthreads, const fpk_comm *comm) {
  fpk_spectral *s = make(g, m, dt, nthreads, comm);
  assert_int_equal(fpk_spectral_set_density(s, 0.0, p0), FPK_SUCCESS);
  if (fpk_spectral_evolve(s, T)) fail_msg("evolve: %s", fpk_spectral_errmsg(s));
  outputs o = {malloc(g->size * sizeof(double)), malloc(g->size * sizeof(double)), 0, 0, 0, 0};
  memcpy(o.cells, fpk_spectral_density(s), g->size * sizeof(double));
  memcpy(o.values, fpk_spectral_values(s), g->size * sizeof(double));
  o.mass = fpk_spectral_mass(s);
  o.tail = fpk_spectral_tail_energy(s);
  o.min = fpk_spectral_min_density(s);
  o.edge = fpk_spectral_edge_density(s);
  fpk_spectral_free(s);
  return o;
}

static void same(const fpk_grid *g, const outputs *a, const outputs *b, const char *what) {
  const int r = fpk_comm_rank(world), P = fpk_comm_size(world);
  size_t diff = 0;
  for (size_t i = 0; i < g->size; i++) diff += memcmp(&a->cells[i], &b->cells[i], 8) != 0;
  printf("  rank %d of %d, %s: %zu of %zu cells differ from one process; mass %.17g, tail "
         "%.3e\n",
         r, P, what, diff, g->size, b->mass, b->tail);
  assert_memory_equal(a->cells, b->cells, g->size * sizeof(double));
  assert_memory_equal(a->values, b->values, g->size * sizeof(double));
  assert_memory_equal(&a->mass, &b->mass, sizeof(double));
  assert_memory_equal(&a->tail, &b->tail, sizeof(double));
  assert_memory_equal(&a->min, &b->min, sizeof(double));
  assert_memory_equal(&a->edge, &b->edge, sizeof(double));
}

static void drop(outputs *o) { free(o->cells), free(o->values); }

/* No step: the density set and read back (forward and inverse transforms, the gather). */
static void test_roundtrip(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[9] = {1.0, 0, 0, 0, 1.5, 0, 0, 0, 2.0}, mu[3] = {0, 0, 0}, sig[3] = {1, 1, 1};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sig, &err);
  fpk_grid g = box3(8, 5.0);
  double *p0 = malloc(g.size * sizeof *p0);
  for (size_t c = 0; c < g.size; c++) p0[c] = 1.0 + 0.1 * sin((double)c);
  outputs ref = run(&g, m, p0, 0.01, 0.0, 1, NULL), o = run(&g, m, p0, 0.01, 0.0, 1, world);
  double d = 0.0, d1 = 0.0;
  for (size_t c = 0; c < g.size; c++)
    d = fmax(d, fabs(o.cells[c] - p0[c])), d1 = fmax(d1, fabs(ref.cells[c] - p0[c]));
  printf("  rank %d: set and read back: max |diff| %.3e over ranks, %.3e on one process\n",
         fpk_comm_rank(world), d, d1);
  assert_true(d1 < 1e-14 && d < 1e-14);
  same(&g, &ref, &o, "8x10x8 set/read");
  drop(&ref), drop(&o);
  free(p0);
  fpk_model_free(m);
}

static void test_ou(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A[9] = {1.0, 0, 0, 0, 1.5, 0, 0, 0, 2.0}, mu[3] = {0, 0, 0};
  const double sig[3] = {0.6 * sqrt(2.0), 0.6 * sqrt(3.0), 1.2};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sig, &err);
  assert_non_null(m);
  const double m0[3] = {0.4, -0.3, 0.2}, S0[9] = {0.25, 0, 0, 0, 0.25, 0, 0, 0, 0.25};
  fpk_gaussian g0 = fpk_test_gaussian(3, m0, S0);
  fpk_grid g = box3(32, 5.0);
  double *p0 = malloc(g.size * sizeof *p0);
  assert_int_equal(fpk_gaussian_cell_probs(&g0, &g, p0, &err), FPK_SUCCESS);
  for (size_t c = 0; c < g.size; c++) p0[c] /= g.cell_volume;
  outputs ref = run(&g, m, p0, 0.01, 0.2, 1, NULL);
  for (int nt = 1; nt <= 2; nt++) {
    outputs o = run(&g, m, p0, 0.01, 0.2, nt, world);
    same(&g, &ref, &o, nt == 1 ? "OU 32x34x32, 1 thread" : "OU 32x34x32, 2 threads");
    drop(&o);
  }
  drop(&ref);
  free(p0);
  fpk_model_free(m);
}

/* A variable full D on the torus (as tests/test_spectral3d.c (c)): σ = √2 chol(D). */
static void varD3(const double *x, double *D) {
  D[0] = 1.0 + 0.3 * cos(x[0]), D[1] = 0.8 + 0.2 * sin(x[1]), D[2] = 0.9 + 0.2 * cos(x[2]);
  D[3] = 0.2 + 0.1 * cos(x[0] + x[1]), D[4] = 0.1 + 0.05 * sin(x[0] - x[2]);
  D[5] = 0.15 + 0.05 * cos(x[1] + x[2]);
}

static int var3_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    out[i] = -sin(x[i]) + 0.1 * cos(x[n + i]);
    out[n + i] = 0.5 * cos(x[n + i]) - 0.2 * sin(x[2 * n + i]);
    out[2 * n + i] = -0.4 * sin(x[2 * n + i]) + 0.1 * sin(x[i]);
  }
  return 0;
}

/* The same drift modulated in time (1 + 0.3 sin 2t): a model sampled at every stage, each
 * sampling agreed over ranks. */
static int var3_drift_t(double t, size_t n, const double *x, double *out, void *params) {
  var3_drift(t, n, x, out, params);
  for (size_t i = 0; i < 3 * n; i++) out[i] *= 1.0 + 0.3 * sin(2.0 * t);
  return 0;
}

static int var3_noise_matrix(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t i = 0; i < n; i++) {
    const double p[3] = {x[i], x[n + i], x[2 * n + i]};
    double D[6];
    varD3(p, D);
    const double l00 = sqrt(D[0]), l10 = D[3] / l00, l20 = D[4] / l00;
    const double l11 = sqrt(D[1] - l10 * l10), l21 = (D[5] - l20 * l10) / l11;
    const double l22 = sqrt(D[2] - l20 * l20 - l21 * l21);
    const double L[9] = {l00, 0, 0, l10, l11, 0, l20, l21, l22};
    for (size_t k = 0; k < 9; k++) out[k * n + i] = M_SQRT2 * L[k];
  }
  return 0;
}

static void test_variable_d(void **state) {
  (void)state;
  fpk_model m = {.name = "torus3-full-D", .dim = 3, .drift = var3_drift,
                 .noise_matrix = var3_noise_matrix, .noise_dim = 3,
                 .flags = FPK_MODEL_AUTONOMOUS};
  fpk_grid g = box3(16, M_PI);
  double *p0 = malloc(g.size * sizeof *p0);
  for (size_t c = 0; c < g.size; c++) {
    double x[3];
    fpk_grid_point(&g, c, x);
    p0[c] = exp(cos(x[0]) + 0.5 * sin(x[1] + x[2]));
  }
  outputs ref = run(&g, &m, p0, 0.05, 0.5, 1, NULL);
  for (int nt = 1; nt <= 2; nt++) {
    outputs o = run(&g, &m, p0, 0.05, 0.5, nt, world);
    same(&g, &ref, &o, nt == 1 ? "variable D 16x18x16, 1 thread" : "variable D, 2 threads");
    drop(&o);
  }
  drop(&ref);
  fpk_model mt = m;
  mt.name = "torus3-full-D-t", mt.drift = var3_drift_t, mt.flags = 0;
  ref = run(&g, &mt, p0, 0.05, 0.5, 1, NULL);
  outputs o = run(&g, &mt, p0, 0.05, 0.5, 2, world);
  same(&g, &ref, &o, "time-dependent drift, 2 threads");
  drop(&o), drop(&ref);
  free(p0);
}

/* More ranks than the slabs allow (ctest mpi_spectral3d_ranks: 5 ranks, n_z = 8: blocks of
 * ceil(8/5) = 2 planes leave the fifth rank none): every rank fails at alloc, naming both
 * numbers, and none hangs. */
static void test_too_many_ranks(void **state) {
  (void)state;
  const size_t P = (size_t)fpk_comm_size(world);
  fpk_error err = {0};
  const double A[9] = {1.0, 0, 0, 0, 1.5, 0, 0, 0, 2.0}, mu[3] = {0, 0, 0}, sig[3] = {1, 1, 1};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sig, &err);
  fpk_grid g;
  size_t nn[3] = {8, 8, 8};
  double lo[3] = {-5, -5, -5}, hi[3] = {5, 5, 5};
  fpk_bc bc[3] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  assert_int_equal(fpk_grid_init(&g, 3, nn, lo, hi, bc, &err), FPK_SUCCESS);
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  o.comm = world;
  fpk_spectral *s = fpk_spectral_alloc(&g, m, fpk_spectral_etdrk4, 0.01, &o, &err);
  if (P * 2 > 8) {
    assert_null(s);
    printf("  rank %d of %zu: %s\n", fpk_comm_rank(world), P, err.msg);
    assert_int_equal(err.status, FPK_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "%zu ranks", P);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "8 planes along axis 2"));
  } else {
    assert_non_null(s);
  }
  fpk_spectral_free(s);
  fpk_model_free(m);
}

int main(int argc, char **argv) {
  fpk_error err = {0};
  if (fpk_parallel_init(&argc, &argv, &world, &err)) {
    fprintf(stderr, "fpk_parallel_init: %s\n", err.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_ou),
      cmocka_unit_test(test_variable_d),
  };
  const struct CMUnitTest ranks[] = {cmocka_unit_test(test_too_many_ranks)};
  if (getenv("FPK_SPEC3D_RANKS")) { /* mpi_spectral3d_ranks */
    const int rc = cmocka_run_group_tests(ranks, NULL, NULL);
    fpk_parallel_finalize(world);
    return rc;
  }
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  fpk_parallel_finalize(world);
  return rc;
}
