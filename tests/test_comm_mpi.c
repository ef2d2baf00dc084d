/* The communicator's collectives and the distributed ensembles (fpkit/parallel.h, fpkit/sde.h
 * params.comm; docs/parallel.md). Run by ctest twice: alone (one process: every collective is a
 * copy, and comm = world must change nothing) and under mpiexec with 2 ranks
 * (test_comm_mpi_2ranks):
 *  - fpk_comm_allgatherv concatenates unequal contributions (rank r gives r + 1 bytes of value
 *    r + 1, rank 0 also an empty one) in rank order; fpk_comm_sum_u64 / min / max; fpk_comm_range
 *    covers [0, n) contiguously in rank order with sizes differing by at most one;
 *  - fpk_comm_agree: all succeed -> 0; rank P-1 fails -> every rank returns its status and
 *    "rank P-1: its message", and a later agreement returns the same at once;
 *  - fpk_mc_run with comm = world is bitwise the one-process run (comm NULL) on every rank:
 *    density, mean, cov, outside, survival (absorbing walls: killing) and kept paths spanning
 *    both ranks' blocks, over several rounds (FPK_MC_ROUND blocks) with a short last one;
 *  - the work is split, not repeated: a drift that counts its points is evaluated on each rank
 *    at its share of the path-steps only, the counts adding up to the one-process count;
 *  - fpk_sde_ladder with comm = world is bitwise the one-process ladder (every mean, variance
 *    and group mean);
 *  - more ranks than blocks: FPK_EINVAL on every rank, the message naming paths, blocks, ranks;
 *    checkpoints with several processes: FPK_EUNSUP.
 * FPK_TEST_QUICK=1: fewer paths. */
#include "fpkit/version.h"

#include <stdint.h>
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/parallel.h"
#include "fpkit/sde.h"
#if FPK_HAVE_MPI
#include <mpi.h>
#endif

static fpk_comm *world;

static int quick(void) {
  const char *q = getenv("FPK_TEST_QUICK");
  return q && *q && strcmp(q, "0") != 0;
}

/* A fresh communicator over the same processes (an agreement's failure is remembered by the
 * handle, so each failing test takes its own). */
static fpk_comm *fresh(void) {
  fpk_comm *c = NULL;
  fpk_error err = {0};
#if FPK_HAVE_MPI
  if (fpk_comm_size(world) > 1) {
    MPI_Comm w = MPI_COMM_WORLD;
    if (fpk_comm_wrap_mpi(&c, &w, &err)) fail_msg("wrap: %s", err.msg);
    return c;
  }
#endif
  if (fpk_comm_self(&c, &err)) fail_msg("self: %s", err.msg);
  return c;
}

static void test_collectives(void **state) {
  (void)state;
  const int P = fpk_comm_size(world), me = fpk_comm_rank(world);
  fpk_error err = {0};
  /* allgatherv: rank r gives r + 1 bytes of value r + 1 */
  size_t *counts = calloc((size_t)P, sizeof *counts), total = 0;
  for (int r = 0; r < P; r++) counts[r] = (size_t)r + 1, total += (size_t)r + 1;
  unsigned char mine[64], all[4096];
  memset(mine, me + 1, sizeof mine);
  memset(all, 0xEE, sizeof all);
  assert_int_equal(fpk_comm_allgatherv(world, mine, all, counts, &err), 0);
  size_t k = 0;
  for (int r = 0; r < P; r++)
    for (int i = 0; i <= r; i++, k++) assert_int_equal(all[k], r + 1);
  assert_int_equal(all[total], 0xEE); /* nothing written beyond */
  /* an empty contribution from rank 0 */
  counts[0] = 0;
  memset(all, 0xEE, sizeof all);
  assert_int_equal(fpk_comm_allgatherv(world, mine, all, counts, &err), 0);
  k = 0;
  for (int r = 1; r < P; r++)
    for (int i = 0; i <= r; i++, k++) assert_int_equal(all[k], r + 1);
  /* gatherv: only the root (the last rank) receives, in rank order; the others' buffers stay */
  for (int r = 0; r < P; r++) counts[r] = (size_t)r + 1;
  memset(all, 0xEE, sizeof all);
  assert_int_equal(fpk_comm_gatherv(world, mine, all, counts, P - 1, &err), 0);
  k = 0;
  for (int r = 0; r < P; r++)
    for (int i = 0; i <= r; i++, k++) assert_int_equal(all[k], me == P - 1 ? r + 1 : 0xEE);
  assert_int_equal(all[total], 0xEE);
  free(counts);
  /* sums, min, max: exact integers */
  uint64_t v[3] = {(uint64_t)me + 1, ((uint64_t)1 << 40) + (uint64_t)me, 7};
  assert_int_equal(fpk_comm_sum_u64(world, v, 3, &err), 0);
  assert_int_equal(v[0], (uint64_t)P * (P + 1) / 2);
  assert_int_equal(v[1], (uint64_t)P * ((uint64_t)1 << 40) + (uint64_t)P * (P - 1) / 2);
  assert_int_equal(v[2], 7 * (uint64_t)P);
  uint64_t lo = 10 + (uint64_t)me, hi = 10 + (uint64_t)me;
  assert_int_equal(fpk_comm_min_u64(world, &lo, 1, &err), 0);
  assert_int_equal(fpk_comm_max_u64(world, &hi, 1, &err), 0);
  assert_int_equal(lo, 10);
  assert_int_equal(hi, 10 + (uint64_t)P - 1);
  /* broadcast from the last rank */
  int x = me == P - 1 ? 4242 : -1;
  assert_int_equal(fpk_comm_bcast(world, &x, sizeof x, P - 1, &err), 0);
  assert_int_equal(x, 4242);
  /* range: contiguous, rank order, sizes within one (pure arithmetic: checked for every rank's
   * share by summing the sizes over ranks) */
  for (size_t n = 0; n < 40; n++) {
    size_t a, b;
    fpk_comm_range(world, n, &a, &b);
    uint64_t sz[2] = {b - a, b - a}, first = a;
    assert_int_equal(fpk_comm_sum_u64(world, sz, 1, &err), 0);
    assert_int_equal(sz[0], n);
    uint64_t mn = b - a, mx = b - a;
    fpk_comm_min_u64(world, &mn, 1, &err);
    fpk_comm_max_u64(world, &mx, 1, &err);
    assert_true(mx - mn <= 1);
    const size_t rem = n % (size_t)P;
    assert_int_equal(first, (size_t)me * (n / (size_t)P) + ((size_t)me < rem ? (size_t)me : rem));
  }
}

static void test_agree(void **state) {
  (void)state;
  const int P = fpk_comm_size(world), me = fpk_comm_rank(world);
  fpk_comm *c = fresh();
  fpk_error err = {0};
  assert_int_equal(fpk_comm_agree(c, 0, &err), 0);
  if (P > 1) {
    /* the last rank fails: every rank gets its status and message */
    int st = 0;
    if (me == P - 1) st = fpk_error_set(&err, FPK_ENUMERIC, "block %d blew up", 17);
    assert_int_equal(fpk_comm_agree(c, st, &err), FPK_ENUMERIC);
    char want[64];
    snprintf(want, sizeof want, "rank %d: block 17 blew up", P - 1);
    assert_string_equal(err.msg, want);
    /* remembered: a later agreement fails at once with the same, even from a success */
    fpk_error e2 = {0};
    assert_int_equal(fpk_comm_agree(c, 0, &e2), FPK_ENUMERIC);
    assert_string_equal(e2.msg, want);
  }
  fpk_comm_free(c);
}

static void same_bits(const char *what, const double *a, const double *b, size_t n) {
  if (n && memcmp(a, b, n * sizeof(double)))
    for (size_t i = 0; i < n; i++)
      if (memcmp(&a[i], &b[i], sizeof(double)))
        fail_msg("%s[%zu]: %.17g (distributed) != %.17g (one process)", what, i, a[i], b[i]);
}

/* fpk_mc_run with comm = world against comm = NULL, on every rank. */
static void mc_case(size_t dim, int absorbing, size_t npaths, size_t keep, int nthreads) {
  /* by hand with more ranks (mpiexec -n 40): the cases with fewer blocks than ranks are refused
   * (test_refusals), not compared */
  if ((npaths + 255) / 256 < (size_t)fpk_comm_size(world)) return;
  const double A[4] = {1.0, 0.8, -0.6, 0.5}, mu[2] = {0, 0}, sig[2] = {0.8, 0.6};
  const double A1 = 1.0;
  fpk_error err = {0};
  fpk_model *m = fpk_model_ou_alloc(dim, dim == 2 ? A : &A1, mu, sig, &err);
  assert_non_null(m);
  fpk_grid g;
  const size_t n[2] = {16, 12};
  const double lo[2] = {-1.0, -3.0}, hi[2] = {1.2, 3.0};
  const fpk_bc bc[2] = {absorbing ? FPK_BC_ABSORBING : FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  assert_int_equal(fpk_grid_init(&g, dim, n, lo, hi, bc, &err), 0);
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = dim;
  init.mean[0] = 0.3;
  init.mean[1] = -0.5;
  for (size_t a = 0; a < dim; a++) init.cov[a * dim + a] = 0.04;
  const double t[3] = {0.25, 0.5, 1.0};
  fpk_mc_params p = {.npaths = npaths, .dt = 0.02, .seed = 99, .keep_paths = keep,
                     .nthreads = nthreads};
  fpk_mc_result one, dist;
  if (fpk_mc_run(m, &init, &g, t, 3, &p, &one, &err)) fail_msg("one process: %s", err.msg);
  p.comm = world;
  p.nthreads = 3 - nthreads; /* the other thread count too */
  if (fpk_mc_run(m, &init, &g, t, 3, &p, &dist, &err)) fail_msg("distributed: %s", err.msg);
  same_bits("density", dist.density, one.density, 3 * g.size);
  same_bits("mean", dist.mean, one.mean, 3 * dim);
  same_bits("cov", dist.cov, one.cov, 3 * dim * dim);
  same_bits("outside", dist.outside, one.outside, 3);
  same_bits("survival", dist.survival, one.survival, 3);
  same_bits("paths", dist.paths, one.paths, keep * (one.nsteps + 1) * dim);
  if (absorbing) assert_true(one.survival[2] < 0.95 && one.survival[2] > 0.3); /* killing ran */
  fpk_mc_result_free(&one);
  fpk_mc_result_free(&dist);
  fpk_model_free(m);
}

static void test_mc(void **state) {
  (void)state;
  const size_t big = quick() ? 70000 : 140000; /* rounds of 256 blocks: 2 (or 3), the last short */
  mc_case(2, 0, big, 66000, 1);   /* kept rows span ranks and rounds */
  mc_case(1, 1, 5000, 700, 2);    /* absorbing walls: survival and killing */
  mc_case(1, 0, 513, 513, 1);     /* 3 blocks, the last of one path */
}

/* A 1D OU model written here, dX = -X dt + dW, whose drift counts the points it is evaluated at
 * (the generic stepper, not a fused kernel, so every step calls it): with several ranks each
 * rank must evaluate only its share of the paths. */
static uint64_t drift_points;
static int counting_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
#pragma omp atomic
  drift_points += n;
  for (size_t i = 0; i < n; i++) out[i] = -x[i];
  return 0;
}
static int unit_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)x, (void)params;
  for (size_t i = 0; i < n; i++) out[i] = 1.0;
  return 0;
}

/* The work is split, not repeated: each rank evaluates the drift at its share of the path-steps
 * (the ranks' counts add up to the one-process count, and no rank does more than its blocks'
 * share plus one block per round), and the results are bitwise the one-process ones. */
static void test_work_split(void **state) {
  (void)state;
  const size_t P = (size_t)fpk_comm_size(world);
  fpk_model m;
  memset(&m, 0, sizeof m);
  m.name = "counting-ou";
  m.dim = 1;
  m.drift = counting_drift;
  m.noise = unit_noise;
  fpk_grid g;
  const size_t n = 20;
  const double lo = -4, hi = 4;
  fpk_error err = {0};
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, NULL, &err), 0);
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = 1;
  init.cov[0] = 0.25;
  const double t[2] = {0.5, 1.0};
  const size_t npaths = 256 * 37 + 11; /* 38 blocks, the last of 11 paths */
  fpk_mc_params p = {.npaths = npaths, .dt = 0.05, .seed = 3, .nthreads = 2};
  fpk_mc_result one, dist;
  drift_points = 0;
  if (fpk_mc_run(&m, &init, &g, t, 2, &p, &one, &err)) fail_msg("one process: %s", err.msg);
  const uint64_t all = drift_points;
  assert_int_equal(all, (uint64_t)npaths * 20); /* 20 steps of every path */
  drift_points = 0;
  p.comm = world;
  if (fpk_mc_run(&m, &init, &g, t, 2, &p, &dist, &err)) fail_msg("distributed: %s", err.msg);
  uint64_t mine = drift_points, sum = mine;
  assert_int_equal(fpk_comm_sum_u64(world, &sum, 1, &err), 0);
  assert_int_equal(sum, all);
  /* one round of 38 blocks: this rank's range of ceil(38 / P) blocks at most */
  const uint64_t most = (uint64_t)((38 + P - 1) / P) * 256 * 20;
  if (mine > most) fail_msg("rank %d evaluated %llu drift points, its share is at most %llu",
                            fpk_comm_rank(world), (unsigned long long)mine,
                            (unsigned long long)most);
  same_bits("density", dist.density, one.density, 2 * g.size);
  same_bits("mean", dist.mean, one.mean, 2);
  same_bits("cov", dist.cov, one.cov, 2);
  fpk_mc_result_free(&one);
  fpk_mc_result_free(&dist);
}

static int f_moments(size_t n, const double *x, double *out, void *params) {
  (void)params;
  for (size_t i = 0; i < n; i++) out[i] = x[i], out[n + i] = x[i] * x[i];
  return 0;
}

static void test_ladder(void **state) {
  (void)state;
  fpk_error err = {0};
  const double A = 1.0, mu = 0.0, sig = 1.0;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  assert_non_null(m);
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = 1;
  init.mean[0] = 1.0;
  const size_t steps[3] = {4, 8, 16};
  fpk_ladder_params p = {.nlevels = 3, .steps = steps, .reference = FPK_LADDER_REF_LEVEL,
                         .ref_steps = 64, .ref_stepper = fpk_sde_sra1, .T = 1.0,
                         .npaths = quick() ? 3000 : 9000, .seed = 5, .nthreads = 1, .nfun = 2,
                         .functional = f_moments};
  if ((p.npaths + 255) / 256 < (size_t)fpk_comm_size(world)) skip(); /* more ranks than blocks */
  fpk_ladder_result one, dist;
  if (fpk_sde_ladder(m, &init, &p, &one, &err)) fail_msg("one process: %s", err.msg);
  p.comm = world;
  p.nthreads = 2;
  if (fpk_sde_ladder(m, &init, &p, &dist, &err)) fail_msg("distributed: %s", err.msg);
  assert_int_equal(dist.npaths, one.npaths);
  assert_int_equal(dist.ngroups, one.ngroups);
  /* every number of the result: the struct has no padding-dependent content beyond doubles and
   * sizes, all set by the engine from a zeroed struct */
  assert_memory_equal(&dist, &one, sizeof one);
  fpk_model_free(m);
}

static int never_polled(void *user) {
  (void)user;
  fail_msg("the poll of a refused run was called");
  return 0;
}

static void test_refusals(void **state) {
  (void)state;
  const int P = fpk_comm_size(world);
  if (P < 2) skip();
  fpk_error err = {0};
  const double A = 1.0, mu = 0.0, sig = 1.0;
  fpk_model *m = fpk_model_ou_alloc(1, &A, &mu, &sig, &err);
  fpk_grid g;
  const size_t n = 10;
  const double lo = -3, hi = 3;
  assert_int_equal(fpk_grid_init(&g, 1, &n, &lo, &hi, NULL, &err), 0);
  fpk_gaussian init;
  memset(&init, 0, sizeof init);
  init.dim = 1;
  init.cov[0] = 0.1;
  const double t = 1.0;
  /* fewer blocks than ranks: (P - 1) blocks */
  const size_t np = 256 * (size_t)(P - 1);
  fpk_mc_params p = {.npaths = np, .dt = 0.1, .seed = 1, .comm = world};
  fpk_mc_result r;
  assert_int_equal(fpk_mc_run(m, &init, &g, &t, 1, &p, &r, &err), FPK_EINVAL);
  char want[160];
  snprintf(want, sizeof want,
           "Monte Carlo: %zu paths make %d block%s of 256 paths: at most %d rank%s (%d given)", np,
           P - 1, P - 1 == 1 ? "" : "s", P - 1, P - 1 == 1 ? "" : "s", P);
  assert_string_equal(err.msg, want);
  const size_t steps[1] = {4};
  fpk_ladder_params lp = {.nlevels = 1, .steps = steps, .T = 1.0, .npaths = np, .seed = 1,
                          .comm = world};
  fpk_ladder_result lr;
  fpk_gaussian pt = init;
  pt.cov[0] = 0.0;
  assert_int_equal(fpk_sde_ladder(m, &pt, &lp, &lr, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "at most"));
  /* checkpoints are one process's */
  p.npaths = 256 * (size_t)P;
  p.poll = never_polled; /* refused before any work */
  assert_int_equal(fpk_mc_run(m, &init, &g, &t, 1, &p, &r, &err), FPK_EUNSUP);
  assert_non_null(strstr(err.msg, "checkpoints and resume with"));
  fpk_model_free(m);
}

int main(int argc, char **argv) {
  fpk_error err = {0};
  if (fpk_parallel_init(&argc, &argv, &world, &err)) {
    fprintf(stderr, "test_comm_mpi: %s\n", err.msg);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collectives), cmocka_unit_test(test_agree),
      cmocka_unit_test(test_mc),          cmocka_unit_test(test_work_split),
      cmocka_unit_test(test_ladder),
      cmocka_unit_test(test_refusals),
  };
  const int rc = cmocka_run_group_tests(tests, NULL, NULL);
  /* every rank ends together: a rank whose test failed still reaches here, and the exit status
   * is every rank's own (mpiexec reports the first non-zero) */
  fpk_parallel_finalize(world);
  return rc;
}
