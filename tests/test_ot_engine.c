/* The Sinkhorn engine and the dense solver after issue 15: the fused iteration (one pass over
 * the absorbed kernel per iteration), the kernel-based cost, the flush of kernel entries below
 * 1e-294, the thread count chosen during a solve, and the automatic schedule's direct attempt at
 * the target ε (src/ot/sinkhorn.c, src/ot/dense.c).
 *
 * Problem: bench_ot.c's line problem (issue 15's 1D grid problem) at n = 300: cells of [0, L]
 * with centres x_i = (i + ½)L/n for source and target, cost |x − y|², a and b Gaussian bumps
 * (centres 0.35 L and 0.65 L, widths 0.12 L and 0.10 L), normalised. n·m = 90000 is above
 * OT_PARALLEL_MIN, so the threaded paths run. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fpk_test.h"
#include "fpkit/ot.h"

#define N 300

static int quick(void) { /* sanitizer builds: the long log-domain reference is left out */
  const char *q = getenv("FPK_TEST_QUICK");
  return q && atoi(q) > 0;
}

static void line_problem(size_t n, double L, double *x, double *a, double *b) {
  double sa = 0, sb = 0;
  for (size_t i = 0; i < n; i++) {
    x[i] = ((double)i + 0.5) * L / (double)n;
    const double da = (x[i] - 0.35 * L) / (0.12 * L), db = (x[i] - 0.65 * L) / (0.10 * L);
    a[i] = exp(-0.5 * da * da);
    b[i] = exp(-0.5 * db * db);
    sa += a[i];
    sb += b[i];
  }
  for (size_t i = 0; i < n; i++) a[i] /= sa, b[i] /= sb;
}

typedef enum { PLAIN = 0, OMEGA15 = 1, SCHEDULE = 2, LOGDOMAIN = 3, DEFAULTS = 4 } mode;

static void set_mode(fpk_ot_params *p, double eps, mode md) {
  fpk_ot_params_init(p);
  p->eps = eps;
  if (md == PLAIN || md == LOGDOMAIN) {
    p->eps_start = eps;
    p->omega = 1;
  } else if (md == OMEGA15) {
    p->eps_start = eps;
    p->omega = 1.5;
  } else if (md == SCHEDULE) {
    p->eps_start = 1; /* an explicit schedule: 1, 1/2, …, eps */
  }
}

/* Solves on a workspace allocated with `threads` OpenMP threads (the dense solver fixes its
 * thread count at alloc). */
static void solve(double L, double eps, mode md, int threads, double *f, double *g,
                  fpk_ot_result *r, size_t counts[3]) {
  double x[N], a[N], b[N];
  line_problem(N, L, x, a, b);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  fpk_error err = {0};
  fpk_ot_dense *w = fpk_ot_dense_alloc(N, N, &err);
  omp_set_num_threads(before);
  assert_non_null(w);
  assert_int_equal(fpk_ot_dense_set_points(w, 1, x, x, FPK_OT_COST_SQEUCLID), 0);
  if (md == LOGDOMAIN) assert_int_equal(fpk_ot_dense_set_method(w, FPK_OT_DENSE_LOG), 0);
  fpk_ot_params p;
  set_mode(&p, eps, md);
  const int rc = fpk_ot_dense_solve(w, a, b, &p, f, g, r);
  if (rc) fail_msg("solve: %s", fpk_ot_dense_errmsg(w));
  if (counts) fpk_ot_dense_counts(w, &counts[0], &counts[1], &counts[2]);
  fpk_ot_dense_free(w);
}

/* The numbers of the code before issue 15 (commit af5dac5, the same program, 2 threads), for
 * the modes whose iteration is unchanged: plain, fixed ω = 1.5, an explicit schedule, and the
 * log domain. Iterations must match exactly; values and potentials are computed in another
 * order now (one pass per iteration, chunked column sums, the cost through the kernel), so they
 * agree to rounding: 1e-12 relative for the values (the tolerance; measured <= 4e-16),
 * 1e-12 absolute for potentials of size ~0.05 (measured <= 1e-16). The log domain, whose code
 * did not change, gave the same bits in the Release build (-O2 -march=x86-64-v3); other builds
 * contract to FMA differently, so that is not asserted. */
static const struct {
  double eps;
  int mode;
  size_t iterations;
  double primal, dual, cost, f100, f150, g150;
} PINNED[] = {
    {0.05, 0, 13, 0.1085233035201293, 0.1085233035384138, 0.10417802950566964,
     0.030407592299807797, -0.054365236399315391, -0.0042317725091665986},
    {0.05, 1, 34, 0.10852330355924521, 0.10852330353841384, 0.10417802954475525,
     0.053716234775055147, -0.031056593968417354, -0.027540415000424725},
    {0.05, 2, 18, 0.10852330351455404, 0.10852330353841377, 0.1041780295000819,
     0.002822335273469053, -0.081950493419071027, 0.023353484519316983},
    {0.05, 3, 13, 0.10852330352012934, 0.10852330353841383, 0.10417802950566964,
     0.030407592299807763, -0.054365236399315453, -0.0042317725091665535},
    {0.005, 0, 103, 0.096437555371782502, 0.096437555456501886, 0.092280080484320501,
     0.052796862404754549, -0.041461324911459901, -0.040168436136373213},
    {0.005, 1, 36, 0.096437555446644646, 0.096437555456501886, 0.092280080559258654,
     0.053853706058640219, -0.040404481296939354, -0.041225279823623479},
    {0.005, 2, 75, 0.096437555446210493, 0.096437555456501831, 0.092280080558812719,
     0.0091000113163109443, -0.085158176038968983, 0.0035284149187814239},
    {0.005, 3, 103, 0.09643755537178253, 0.096437555456501886, 0.092280080484320515,
     0.052796862404754598, -0.041461324911459853, -0.040168436136373255},
};

static void test_pinned_pre_change(void **state) {
  (void)state;
  double f[N], g[N];
  for (size_t k = 0; k < sizeof PINNED / sizeof PINNED[0]; k++) {
    fpk_ot_result r;
    size_t counts[3];
    solve(1, PINNED[k].eps, (mode)PINNED[k].mode, 2, f, g, &r, counts);
    print_message("eps %g mode %d: %zu iterations (pinned %zu), primal %.17g (pinned %.17g), "
                  "%zu anchors, %zu absorbed, %zu log\n", PINNED[k].eps, PINNED[k].mode,
                  r.iterations, PINNED[k].iterations, r.primal, PINNED[k].primal, counts[0],
                  counts[1], counts[2]);
    assert_int_equal(r.iterations, PINNED[k].iterations);
    assert_true(r.converged);
    assert_close_rel(r.primal, PINNED[k].primal, 1e-12);
    assert_close_rel(r.dual, PINNED[k].dual, 1e-12);
    assert_close_rel(r.cost, PINNED[k].cost, 1e-12);
    assert_close_abs(f[100], PINNED[k].f100, 1e-12);
    assert_close_abs(f[150], PINNED[k].f150, 1e-12);
    assert_close_abs(g[150], PINNED[k].g150, 1e-12);
    if (PINNED[k].mode != LOGDOMAIN) /* absorbed products: fused iterations after the anchor */
      assert_true(counts[1] >= r.iterations);
  }
}

/* The same numbers, to the last bit, on 1 and on 2 threads (the fused pass sums in fixed chunks;
 * the thread count chosen during the solve cannot change them). */
static void test_threads_bitwise(void **state) {
  (void)state;
  const mode modes[] = {PLAIN, OMEGA15, DEFAULTS, SCHEDULE};
  const double epss[] = {0.05, 0.005};
  for (size_t e = 0; e < 2; e++)
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
      double f1[N], g1[N], f2[N], g2[N];
      fpk_ot_result r1, r2;
      solve(1, epss[e], modes[k], 1, f1, g1, &r1, NULL);
      solve(1, epss[e], modes[k], 2, f2, g2, &r2, NULL);
      assert_int_equal(r1.iterations, r2.iterations);
      assert_memory_equal(f1, f2, sizeof f1);
      assert_memory_equal(g1, g2, sizeof g1);
      assert_true(r1.primal == r2.primal && r1.dual == r2.dual && r1.cost == r2.cost);
    }
}

/* The automatic schedule's decision. Where plain (relaxed) Sinkhorn at the target ε converges
 * within the budget, the defaults run exactly that: one stage, the same iterations and numbers
 * as eps_start = eps with automatic ω (bitwise: the same arithmetic), fewer iterations than the
 * schedule. Where it would not (ε = 1e-4, predicted ~2000 relaxed iterations against a budget
 * of 20 per stage of the 15-stage schedule), the attempt is abandoned and the schedule runs from
 * the start: converged, at most the budget more iterations than the schedule alone, and the
 * schedule's value. */
static void test_schedule_decision(void **state) {
  (void)state;
  double f[N], g[N], fd[N], gd[N];
  const double epss[] = {0.05, 0.005};
  for (size_t e = 0; e < 2; e++) {
    fpk_ot_result rd, rr, rs;
    solve(1, epss[e], DEFAULTS, 2, fd, gd, &rd, NULL);
    double x[N], a[N], b[N];
    line_problem(N, 1, x, a, b);
    fpk_error err = {0};
    fpk_ot_dense *w = fpk_ot_dense_alloc(N, N, &err);
    assert_int_equal(fpk_ot_dense_set_points(w, 1, x, x, FPK_OT_COST_SQEUCLID), 0);
    fpk_ot_params p;
    fpk_ot_params_init(&p);
    p.eps = epss[e];
    p.eps_start = epss[e]; /* the direct relaxed iteration */
    assert_int_equal(fpk_ot_dense_solve(w, a, b, &p, f, g, &rr), 0);
    p.eps_start = 0.99; /* the schedule of the old defaults (largest cost 0.993) */
    assert_int_equal(fpk_ot_dense_solve(w, a, b, &p, f, g, &rs), 0);
    fpk_ot_dense_free(w);
    print_message("eps %g: defaults %zu iterations in %zu stages, direct %zu, schedule %zu in "
                  "%zu stages\n", epss[e], rd.iterations, rd.stages, rr.iterations,
                  rs.iterations, rs.stages);
    assert_int_equal(rd.stages, 1);
    assert_int_equal(rd.iterations, rr.iterations);
    assert_true(rd.primal == rr.primal && rd.dual == rr.dual);
    assert_true(rd.iterations < rs.iterations);
  }
  /* small ε: the schedule is kept */
  const double eps = 1e-4;
  fpk_ot_result rd, rs;
  solve(1, eps, DEFAULTS, 2, fd, gd, &rd, NULL);
  double x[N], a[N], b[N];
  line_problem(N, 1, x, a, b);
  fpk_error err = {0};
  fpk_ot_dense *w = fpk_ot_dense_alloc(N, N, &err);
  assert_int_equal(fpk_ot_dense_set_points(w, 1, x, x, FPK_OT_COST_SQEUCLID), 0);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  const double cmax = (x[N - 1] - x[0]) * (x[N - 1] - x[0]);
  p.eps_start = cmax; /* the schedule alone, as the defaults ran it before */
  assert_int_equal(fpk_ot_dense_solve(w, a, b, &p, f, g, &rs), 0);
  fpk_ot_dense_free(w);
  const size_t budget = 20 * (size_t)(ceil(log(cmax / eps) / log(2)) + 1);
  print_message("eps %g: defaults %zu iterations in %zu stages, schedule %zu in %zu stages, "
                "budget %zu\n", eps, rd.iterations, rd.stages, rs.iterations, rs.stages, budget);
  assert_true(rd.converged && rs.converged);
  assert_int_equal(rd.stages, rs.stages + 1); /* the abandoned attempt, then the schedule */
  assert_true(rd.iterations <= rs.iterations + budget);
  assert_true(rd.iterations > rs.iterations);
  /* the schedule restarted from zero potentials: its own numbers */
  assert_true(rd.primal == rs.primal && rd.dual == rs.dual);
  assert_memory_equal(fd, f, sizeof f);
}

/* ε = 0.005 on the wider box [0, 4] (largest cost 16, e^{−16/ε} far below the smallest double:
 * POT's kernel-mode sinkhorn overflows here, bench/run_ot.sh): the defaults converge, the
 * marginal error at tol, the value between the dual and ⟨a⊗b, C⟩, and the plan equal to the
 * log-domain solve's to 1e-9 relative. */
static void test_wide_box(void **state) {
  (void)state;
  double f[N], g[N], fl[N], gl[N];
  fpk_ot_result r, rl;
  solve(4, 0.005, DEFAULTS, 2, f, g, &r, NULL);
  assert_true(r.converged && r.err_a + r.err_b <= 1e-9);
  assert_true(isfinite(r.primal) && r.primal <= r.base);
  if (quick()) return;
  solve(4, 0.005, LOGDOMAIN, 2, fl, gl, &rl, NULL);
  print_message("box [0, 4], eps 0.005: defaults %zu iterations in %zu stages, error %.3g, "
                "primal %.15g; log-domain plain %zu iterations, primal %.15g\n", r.iterations,
                r.stages, r.err_a + r.err_b, r.primal, rl.iterations, rl.primal);
  assert_close_rel(r.primal, rl.primal, 1e-9);
  assert_close_rel(r.dual, rl.dual, 1e-9);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pinned_pre_change),
      cmocka_unit_test(test_threads_bitwise),
      cmocka_unit_test(test_schedule_decision),
      cmocka_unit_test(test_wide_box),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
