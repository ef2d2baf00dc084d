/* Benchmark: entropic OT (issue 5), the peer of bench/ot_numpy.py (run both with bench/run_ot.sh).
 *
 *   bench_ot dense [n [eps [reps [threads [modes]]]]]  defaults 2000 0.25 3 "1,2" "log,plain,default"
 *   bench_ot grid  [reps [nmax [threads [which]]]] defaults 3 512 "1" all
 *   bench_ot line  [n [eps [L [threads [modes [solves]]]]]] defaults 2000 0.05 1 "1"
 *                  "dense-plain,dense-default" 1: issue 15's 1D grid problem (run_line below;
 *                  modes dense-plain, dense-relaxed, dense-default, dense-log, grid), one
 *                  timed solve per mode (solves > 1: repeated on the same workspace, "-warm")
 *
 * dense: n points in 1D against n points, uniform weights, cost |x − y|², u_i = (i + ½)/n,
 *   x_i = (√3/π) log(u_i/(1 − u_i))   (logistic quantiles: mean 0, variance 1),
 *   y_j = −log(1 − u_j) − ½           (exponential quantiles, shifted),
 * the same closed forms as ot_numpy.py (so both solve the same problem to rounding). Two rows
 * per thread count, each the best of `reps` solves (tol 1e-9 on the L1 marginal error):
 *   plain    eps_start = eps (no ε-scaling), omega = 1, check_every = 1: the iteration of the
 *            NumPy peer, f = −ε LSE_j(log b_j + g_j/ε − C_ij/ε), then g likewise, stopping when
 *            ‖π1 − a‖₁ <= tol after the g-step — the apples-to-apples row, with the solver's
 *            default evaluation of the log-sum-exps (FPK_OT_DENSE_AUTO: absorbed products);
 *   log      the same, every log-sum-exp in the log domain (FPK_OT_DENSE_LOG), as NumPy does;
 *   default  fpk_ot_params_init + eps: ε-scaling from the largest cost and automatic
 *            over-relaxation.
 * Thread counts are set with omp_set_num_threads before each workspace is allocated (the dense
 * solver fixes its thread count at alloc).
 *
 * grid: 2D box [0, 1]², n × n cells for n = 64, 128, 256, 512 (<= nmax), a and b two Gaussian
 * bumps (centres (0.35, 0.40) and (0.65, 0.60), σ = 0.12 and 0.10) as cell probabilities.
 * For each back-end, the time of one kernel application (out = log K exp(in), in = log b) through
 * the back-end interface of src/ot/ot_internal.h (accuracy 1e-11 = 1e-2·tol, as the solver asks),
 * and the time of one Sinkhorn iteration of fpk_ot_grid_solve with that back-end requested
 * (eps_start = eps, omega = 1, tol 1e-9 but no error check, so exactly max_iter iterations run;
 * the difference between solves of K and of 1 iteration, divided by K − 1, so the set-up and the
 * final evaluation drop out), at
 *   eps = 0.5   (large: fft, blas and lse all accept; "auto" = kernel NULL picks fft here),
 *   eps = 1e-3  (small: fft and blas refuse, lse accepts; "auto" runs the grid solver's
 *               internal blas-lines product, docs/ot.md),
 *   eps = 1e-3·(64/n)²  (lse at a fixed kernel width in cells, ≈ 12 cells),
 * then a least-squares fit of log time against log N (N = n²) per back-end and ε. Every time is
 * the best of `reps` repetitions, in wall clock and CPU time (the machine is often shared).
 * Kernel widths at eps = 1e-3: √(37ε)/h ≈ 0.19 n cells, so the lse work per cell grows like n
 * there; the third ε keeps the width in cells fixed.
 *
 * Output: one line per measurement, "fpkit <kind> key=value ..." (parsed by run_ot.sh). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/ot.h"
#include "ot/ot_internal.h"

#include "bench_timer.h"

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_ot: %s: %s\n", what, msg);
  exit(1);
}

static int parse_threads(const char *s, int *t, int cap) {
  int k = 0;
  while (*s && k < cap) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1) return 0;
    t[k++] = (int)v;
    s = *end == ',' ? end + 1 : end;
  }
  return k;
}

/* ---- dense ------------------------------------------------------------------------------ */

static void dense_points(size_t n, double *x, double *y) {
  const double s = sqrt(3.0) / 3.14159265358979323846; /* √3/π */
  for (size_t i = 0; i < n; i++) {
    const double u = ((double)i + 0.5) / (double)n;
    x[i] = s * log(u / (1 - u));
    y[i] = -log1p(-u) - 0.5;
  }
}

static void run_dense(size_t n, double eps, int reps, const int *threads, int nthr,
                      const char *modes) {
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *a = malloc(n * sizeof *a),
         *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
  if (!x || !y || !a || !f || !g) die("dense", "out of memory");
  dense_points(n, x, y);
  for (size_t i = 0; i < n; i++) a[i] = 1.0 / (double)n;
  double sx = 0, sy = 0;
  for (size_t i = 0; i < n; i++) sx += x[i], sy += y[i];
  printf("fpkit dense-problem n=%zu eps=%g tol=1e-09 sum_x=%.15g sum_y=%.15g x0=%.15g y_last=%.15g\n",
         n, eps, sx, sy, x[0], y[n - 1]);
  fflush(stdout);
  for (int k = 0; k < nthr; k++) {
    omp_set_num_threads(threads[k]);
    fpk_error err = {0};
    fpk_ot_dense *w = fpk_ot_dense_alloc(n, n, &err);
    if (!w) die("dense alloc", err.msg);
    if (fpk_ot_dense_set_points(w, 1, x, y, FPK_OT_COST_SQEUCLID))
      die("set_points", fpk_ot_dense_errmsg(w));
    static const char *const names[3] = {"log", "plain", "default"};
    for (int mode = 0; mode < 3; mode++) {
      if (!strstr(modes, names[mode])) continue;
      if (fpk_ot_dense_set_method(w, mode == 0 ? FPK_OT_DENSE_LOG : FPK_OT_DENSE_AUTO))
        die("set_method", fpk_ot_dense_errmsg(w));
      fpk_ot_params p;
      fpk_ot_params_init(&p);
      p.eps = eps;
      p.tol = 1e-9;
      p.max_iter = 1000000;
      if (mode < 2) {
        p.eps_start = eps;
        p.omega = 1;
        p.check_every = 1;
      }
      double best = 1e300, worst = 0, best_cpu = 1e300;
      fpk_ot_result r = {0};
      for (int rep = 0; rep < reps; rep++) {
        const double t0 = now(), c0 = cpu();
        if (fpk_ot_dense_solve(w, a, a, &p, f, g, &r)) die("dense solve", fpk_ot_dense_errmsg(w));
        const double el = now() - t0, cl = cpu() - c0;
        if (el < best) best = el;
        if (el > worst) worst = el;
        if (cl < best_cpu) best_cpu = cl;
      }
      size_t anchors, absorbed, logdomain;
      fpk_ot_dense_counts(w, &anchors, &absorbed, &logdomain);
      printf("fpkit dense mode=%s threads=%d n=%zu eps=%g iters=%zu stages=%zu wall=%.4f "
             "wall_max=%.4f cpu=%.4f ms_per_iter=%.4f err=%.3e converged=%d dual=%.12g "
             "primal=%.12g cost=%.12g omega=%.3f anchors=%zu absorbed=%zu logdomain=%zu\n",
             names[mode], threads[k], n, eps, r.iterations, r.stages, best, worst, best_cpu,
             1e3 * best / (double)r.iterations, r.err_a + r.err_b, r.converged, r.dual, r.primal,
             r.cost, r.omega, anchors, absorbed, logdomain);
      fflush(stdout);
    }
    fpk_ot_dense_free(w);
  }
  free(x);
  free(y);
  free(a);
  free(f);
  free(g);
}

/* ---- line: the 1D grid problem of issue 15 ------------------------------------------------ */

/* n cells of [0, L], centres x_i = (i + ½) L/n, the same points for source and target, cost
 * |x − y|², a_i ∝ exp(−(x_i − 0.35 L)²/(2 (0.12 L)²)), b_j ∝ exp(−(x_j − 0.65 L)²/(2 (0.10 L)²))
 * (each normalised to sum 1): the 1D section of the grid case below, scaled to the box. The
 * same closed forms as ot_numpy.py's --line problem (both build the same doubles to rounding). */
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

/* L1 marginal errors of the plan of (f, g) at eps, recomputed here from the plan itself
 * (fpk_ot_dense_plan), independent of the solver's own bookkeeping. */
static void plan_errors(fpk_ot_dense *w, size_t n, const double *a, const double *b,
                        const double *f, const double *g, double eps, double *ea, double *eb) {
  double *P = malloc(n * n * sizeof *P), *col = calloc(n, sizeof *col);
  if (!P || !col) die("line", "out of memory for the plan");
  if (fpk_ot_dense_plan(w, a, b, f, g, eps, P)) die("plan", fpk_ot_dense_errmsg(w));
  *ea = *eb = 0;
  for (size_t i = 0; i < n; i++) {
    double r = 0;
    for (size_t j = 0; j < n; j++) r += P[i * n + j], col[j] += P[i * n + j];
    *ea += fabs(r - a[i]);
  }
  for (size_t j = 0; j < n; j++) *eb += fabs(col[j] - b[j]);
  free(P);
  free(col);
}

/* One timed solve per mode (the script alternates processes for the repetitions):
 *   dense-plain    eps_start = eps, omega = 1: the plain Sinkhorn iteration, POT's;
 *   dense-relaxed  eps_start = eps, automatic over-relaxation;
 *   dense-default  fpk_ot_params_init + eps (the solver's own choice of ε-scaling and ω);
 *   dense-log      dense-plain with every log-sum-exp in the log domain;
 *   grid           fpk_ot_grid_solve on the same 1D grid with the defaults (the grid solver's
 *                  public API; kernel chosen automatically).
 * wall/cpu: the solve alone (the cost matrix is set before, as POT is given C); set_wall adds
 * fpk_ot_dense_set_points. err_plan: ‖π1 − a‖₁ + ‖πᵀ1 − b‖₁ recomputed from the plan. */
static void line_print(const char *name, int warm, int threads, size_t n, double eps, double L,
                       const fpk_ot_result *r, double wall, double cpu_s, double set_wall,
                       double ea, double eb, const size_t counts[3], const char *kernel) {
  printf("fpkit line mode=%s%s threads=%d n=%zu eps=%g L=%g iters=%zu stages=%zu wall=%.5f "
         "cpu=%.5f set_wall=%.5f err=%.3e err_plan=%.3e converged=%d primal=%.15g "
         "dual=%.15g cost=%.15g omega=%.3f anchors=%zu absorbed=%zu logdomain=%zu kernel=%s\n",
         name, warm ? "-warm" : "", threads, n, eps, L, r->iterations, r->stages, wall, cpu_s,
         set_wall, r->err_a + r->err_b, ea + eb, r->converged, r->primal, r->dual, r->cost,
         r->omega, counts[0], counts[1], counts[2], kernel);
  fflush(stdout);
}

/* solves > 1: the same solve again on the same workspace, reported as mode "<name>-warm" (the
 * second of a sequence of solves: no fresh memory to fault in; POT's peer does the same). */
static void run_line(size_t n, double eps, double L, const int *threads, int nthr,
                     const char *modes, int solves) {
  double *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b),
         *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
  if (!x || !a || !b || !f || !g) die("line", "out of memory");
  line_problem(n, L, x, a, b);
  static const char *const names[] = {"dense-plain", "dense-relaxed", "dense-default", "dense-log",
                                      "grid"};
  for (int k = 0; k < nthr; k++) {
    omp_set_num_threads(threads[k]);
    for (int mode = 0; mode < 5; mode++) {
      if (!strstr(modes, names[mode])) continue;
      fpk_ot_params p;
      fpk_ot_params_init(&p);
      p.eps = eps;
      p.tol = 1e-9;
      p.max_iter = 1000000;
      if (mode == 0 || mode == 1 || mode == 3) p.eps_start = eps;
      if (mode == 0 || mode == 3) p.omega = 1;
      fpk_ot_result r = {0};
      size_t counts[3] = {0, 0, 0};
      fpk_error err = {0};
      if (mode < 4) {
        const double s0 = now();
        fpk_ot_dense *w = fpk_ot_dense_alloc(n, n, &err);
        if (!w) die("dense alloc", err.msg);
        if (fpk_ot_dense_set_points(w, 1, x, x, FPK_OT_COST_SQEUCLID))
          die("set_points", fpk_ot_dense_errmsg(w));
        if (fpk_ot_dense_set_method(w, mode == 3 ? FPK_OT_DENSE_LOG : FPK_OT_DENSE_AUTO))
          die("set_method", fpk_ot_dense_errmsg(w));
        for (int s = 0; s < solves; s++) {
          const double t0 = now(), c0 = cpu();
          const int rc = fpk_ot_dense_solve(w, a, b, &p, f, g, &r);
          const double wall = now() - t0, cpu_s = cpu() - c0, set_wall = now() - s0;
          if (rc) die("dense solve", fpk_ot_dense_errmsg(w));
          fpk_ot_dense_counts(w, &counts[0], &counts[1], &counts[2]);
          double ea, eb;
          plan_errors(w, n, a, b, f, g, eps, &ea, &eb);
          line_print(names[mode], s > 0, threads[k], n, eps, L, &r, wall, cpu_s,
                     s ? wall : set_wall, ea, eb, counts, "-");
        }
        fpk_ot_dense_free(w);
      } else {
        fpk_grid G;
        const size_t nn[1] = {n};
        const double lo[1] = {0}, hi[1] = {L};
        if (fpk_grid_init(&G, 1, nn, lo, hi, NULL, &err)) die("grid", err.msg);
        const double s0 = now();
        fpk_ot_grid *w = fpk_ot_grid_alloc(&G, NULL, &err);
        if (!w) die("grid alloc", err.msg);
        for (int s = 0; s < solves; s++) {
          const double t0 = now(), c0 = cpu();
          const int rc = fpk_ot_grid_solve(w, a, b, &p, f, g, &r);
          const double wall = now() - t0, cpu_s = cpu() - c0, set_wall = now() - s0;
          if (rc) die("grid solve", fpk_ot_grid_errmsg(w));
          /* the solver's own errors (the plan is not formed for the grid); the back-end that
           * ran, from the log's line "  eps E kernel NAME" */
          char kernel[32] = "?";
          for (const char *ln = fpk_ot_grid_log(w); ln && *ln;
               ln = strchr(ln, '\n') ? strchr(ln, '\n') + 1 : NULL) {
            double e;
            if (sscanf(ln, " eps %lf kernel %31s", &e, kernel) == 2) break;
          }
          line_print(names[mode], s > 0, threads[k], n, eps, L, &r, wall, cpu_s,
                     s ? wall : set_wall, r.err_a, r.err_b, counts, kernel);
        }
        fpk_ot_grid_free(w);
      }
    }
  }
  free(x);
  free(a);
  free(b);
  free(f);
  free(g);
}

/* ---- grid ------------------------------------------------------------------------------- */

#define NSIZES 4
static const size_t SIZES[NSIZES] = {64, 128, 256, 512};

static void bump(const fpk_grid *G, double cx, double cy, double sd, double *p) {
  double s = 0, xy[FPK_MAX_DIM];
  for (size_t c = 0; c < G->size; c++) {
    fpk_grid_point(G, c, xy);
    const double dx = xy[0] - cx, dy = xy[1] - cy;
    p[c] = exp(-(dx * dx + dy * dy) / (2 * sd * sd));
    s += p[c];
  }
  for (size_t c = 0; c < G->size; c++) p[c] /= s;
}

/* Wall-clock and CPU seconds of one operation: best of the repetitions, and the wall-clock
 * spread (slowest / best). */
typedef struct timing {
  double wall, cpu, spread;
} timing;

/* Seconds per kernel application (best of reps, each rep enough applications for ~0.3 s);
 * returns 0, or 1 when the back-end refused (the reason in msg). */
static int time_apply(const ot_kernel_impl *K, const fpk_grid *G, double eps, const double *in,
                      double *out, int reps, timing *tm, char *msg, size_t msgcap) {
  fpk_error e = {0};
  void *st = K->alloc(G, &e);
  if (!st) die("kernel alloc", e.msg);
  int rc = K->set_eps(st, eps, 1e-11, &e);
  if (rc == 0) {
    const double t0 = now();
    rc = K->apply(st, in, out, &e);
    double t1 = now() - t0;
    if (rc == 0) {
      size_t it = (size_t)(0.3 / (t1 > 1e-6 ? t1 : 1e-6));
      if (it < 2) it = 2;
      double worst = 0;
      tm->wall = tm->cpu = 1e300;
      for (int r = 0; r < reps && rc == 0; r++) {
        const double s0 = now(), c0 = cpu();
        for (size_t k = 0; k < it && rc == 0; k++) rc = K->apply(st, in, out, &e);
        const double el = (now() - s0) / (double)it, cl = (cpu() - c0) / (double)it;
        if (el < tm->wall) tm->wall = el;
        if (el > worst) worst = el;
        if (cl < tm->cpu) tm->cpu = cl;
      }
      if (rc == 0) {
        K->free(st);
        tm->spread = worst / tm->wall;
        return 0;
      }
    }
  }
  snprintf(msg, msgcap, "%.200s", e.msg);
  for (char *c = msg; *c; c++)
    if (*c == ' ') *c = '_';
  K->free(st);
  return 1;
}

/* Seconds per Sinkhorn iteration of fpk_ot_grid_solve (kernel NULL: automatic), from solves of
 * K and of 1 iteration, K chosen from t_apply so that a solve takes about 0.6 s. Returns 0, or 1
 * when no difference could be taken. used receives the back-end named by the solver's log. */
static int time_iter(const fpk_ot_kernel_type *kt, const fpk_grid *G, double eps,
                     const double *a, const double *b, double t_apply, int reps, timing *tm,
                     char *used, size_t usedcap, size_t *fallbacks) {
  fpk_error err = {0};
  fpk_ot_grid *w = fpk_ot_grid_alloc(G, kt, &err);
  if (!w) die("grid alloc", err.msg);
  double *f = malloc(G->size * sizeof *f), *g = malloc(G->size * sizeof *g);
  if (!f || !g) die("grid", "out of memory");
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.eps_start = eps;
  p.omega = 1;
  p.check_every = (size_t)1 << 40; /* no error check: exactly max_iter iterations */
  size_t K = t_apply > 0 ? (size_t)(0.6 / (2 * t_apply)) : 5;
  if (K < 4) K = 4;
  if (K > 200) K = 200;
  double bw[2] = {1e300, 1e300}, bc[2] = {1e300, 1e300}, ww[2] = {0, 0};
  size_t its[2] = {0, 0};
  *fallbacks = 0;
  for (int r = 0; r < reps; r++)
    for (int s = 0; s < 2; s++) {
      p.max_iter = s ? K : 1;
      fpk_ot_result res;
      const double t0 = now(), c0 = cpu();
      if (fpk_ot_grid_solve(w, a, b, &p, f, g, &res)) die("grid solve", fpk_ot_grid_errmsg(w));
      const double el = now() - t0, cl = cpu() - c0;
      if (el < bw[s]) bw[s] = el;
      if (el > ww[s]) ww[s] = el;
      if (cl < bc[s]) bc[s] = cl;
      its[s] = res.iterations;
      *fallbacks += fpk_ot_grid_fallbacks(w);
    }
  /* which back-end ran: the line "  eps E kernel NAME" of the log */
  const char *lg = fpk_ot_grid_log(w);
  snprintf(used, usedcap, "?");
  for (const char *line = lg; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    double e;
    char name[32];
    if (sscanf(line, " eps %lf kernel %31s", &e, name) == 2) {
      snprintf(used, usedcap, "%s", name);
      break;
    }
  }
  if (*fallbacks) fprintf(stderr, "bench_ot: fallbacks at eps %g:\n%s", eps, lg);
  fpk_ot_grid_free(w);
  free(f);
  free(g);
  if (its[1] <= its[0] || bw[1] <= bw[0]) return 1;
  const double k = (double)(its[1] - its[0]);
  tm->wall = (bw[1] - bw[0]) / k;
  tm->cpu = (bc[1] - bc[0]) / k;
  tm->spread = ww[1] / bw[1];
  return 0;
}

static double slope(const double *lx, const double *ly, int k) {
  double mx = 0, my = 0, sxx = 0, sxy = 0;
  for (int i = 0; i < k; i++) mx += lx[i], my += ly[i];
  mx /= k;
  my /= k;
  for (int i = 0; i < k; i++) sxx += (lx[i] - mx) * (lx[i] - mx), sxy += (lx[i] - mx) * (ly[i] - my);
  return sxy / sxx;
}

typedef struct grid_case {
  const char *label; /* back-end name, or "auto" (kernel NULL) */
  int eps_kind;                   /* 0: 0.5, 1: 1e-3, 2: 1e-3 (64/n)² */
} grid_case;

static void run_grid(int reps, size_t nmax, const int *threads, int nthr, const char *which) {
  const grid_case cases[] = {
      {"fft", 0}, {"blas", 0}, {"lse", 0}, {"auto", 0}, {"fft", 1},
      {"blas", 1}, {"lse", 1}, {"auto", 1}, {"lse", 2},
  };
  const int ncases = (int)(sizeof cases / sizeof cases[0]);
  for (int t = 0; t < nthr; t++) {
    omp_set_num_threads(threads[t]);
    for (int c = 0; c < ncases; c++) {
      const grid_case *C = &cases[c];
      if (strcmp(which, "all") && !strstr(which, C->label)) continue;
      const fpk_ot_kernel_type *kt = strcmp(C->label, "auto") ? fpk_ot_kernel_find(C->label) : NULL;
      double lN[NSIZES], la[NSIZES], lac[NSIZES], lNi[NSIZES], li[NSIZES], lic[NSIZES];
      int na = 0, ni = 0;
      for (int s = 0; s < NSIZES; s++) {
        const size_t n = SIZES[s];
        if (n > nmax) continue;
        fpk_error err = {0};
        fpk_grid G;
        const size_t nn[2] = {n, n};
        const double lo[2] = {0, 0}, hi[2] = {1, 1};
        if (fpk_grid_init(&G, 2, nn, lo, hi, NULL, &err)) die("grid", err.msg);
        const double eps = C->eps_kind == 0 ? 0.5
                           : C->eps_kind == 1 ? 1e-3
                                              : 1e-3 * (64.0 / (double)n) * (64.0 / (double)n);
        const char *ecase = C->eps_kind == 0 ? "0.5" : C->eps_kind == 1 ? "1e-3" : "1e-3*(64/n)^2";
        double *a = malloc(G.size * sizeof *a), *b = malloc(G.size * sizeof *b),
               *in = malloc(G.size * sizeof *in), *out = malloc(G.size * sizeof *out);
        if (!a || !b || !in || !out) die("grid", "out of memory");
        bump(&G, 0.35, 0.40, 0.12, a);
        bump(&G, 0.65, 0.60, 0.10, b);
        for (size_t i = 0; i < G.size; i++) in[i] = log(b[i]);
        char used[32] = "", msg[256] = "";
        timing ta = {0}, ti = {0};
        size_t fb = 0;
        int refused, no_iter = 1;
        if (!kt) { /* a short solve says which back-end the automatic rule runs */
          timing probe;
          time_iter(NULL, &G, eps, a, b, 1e9, 1, &probe, used, sizeof used, &fb);
          /* a public back-end, or the solver's internal blas-lines product (docs/ot.md) */
          const fpk_ot_kernel_type *u = fpk_ot_kernel_find(used);
          const ot_kernel_impl *U = u ? OT_KERNEL_IMPL(u)
                                    : !strcmp(used, ot_kernel_lines.pub.name) ? &ot_kernel_lines
                                                                               : NULL;
          refused = U ? time_apply(U, &G, eps, in, out, reps, &ta, msg, sizeof msg) : 1;
          if (!refused)
            no_iter = time_iter(NULL, &G, eps, a, b, ta.wall, reps, &ti, used, sizeof used, &fb);
        } else {
          refused = time_apply(OT_KERNEL_IMPL(kt), &G, eps, in, out, reps, &ta, msg, sizeof msg);
          if (!refused)
            no_iter = time_iter(kt, &G, eps, a, b, ta.wall, reps, &ti, used, sizeof used, &fb);
        }
        if (!refused) {
          printf("fpkit kernel backend=%s used=%s threads=%d n=%zu N=%zu eps_case=%s eps=%.6g "
                 "apply_ms=%.4f apply_cpu_ms=%.4f apply_spread=%.2f iter_ms=%.4f "
                 "iter_cpu_ms=%.4f ns_per_cell_apply_cpu=%.2f fallbacks=%zu\n",
                 C->label, used, threads[t], n, G.size, ecase, eps, 1e3 * ta.wall, 1e3 * ta.cpu,
                 ta.spread, no_iter ? -1.0 : 1e3 * ti.wall, no_iter ? -1.0 : 1e3 * ti.cpu,
                 1e9 * ta.cpu / (double)G.size, fb);
          lN[na] = log((double)G.size);
          la[na] = log(ta.wall);
          lac[na++] = log(ta.cpu);
          if (!no_iter && ti.cpu > 0) {
            lNi[ni] = log((double)G.size);
            li[ni] = log(ti.wall);
            lic[ni++] = log(ti.cpu);
          }
        } else {
          printf("fpkit kernel backend=%s threads=%d n=%zu N=%zu eps_case=%s eps=%.6g refused=%s\n",
                 C->label, threads[t], n, G.size, ecase, eps, msg);
        }
        fflush(stdout);
        free(a);
        free(b);
        free(in);
        free(out);
      }
      if (na >= 2)
        printf("fpkit fit backend=%s threads=%d eps_case=%s sizes=%d exponent_apply=%.3f "
               "exponent_apply_cpu=%.3f exponent_iter=%.3f exponent_iter_cpu=%.3f\n",
               C->label, threads[t],
               C->eps_kind == 0 ? "0.5" : C->eps_kind == 1 ? "1e-3" : "1e-3*(64/n)^2", na,
               slope(lN, la, na), slope(lN, lac, na), ni >= 2 ? slope(lNi, li, ni) : NAN,
               ni >= 2 ? slope(lNi, lic, ni) : NAN);
      fflush(stdout);
    }
  }
}

int main(int argc, char **argv) {
  const char *usage = "usage: bench_ot dense [n [eps [reps [threads [modes]]]]]\n"
                      "       bench_ot grid [reps [nmax [threads [which]]]]\n"
                      "       bench_ot line [n [eps [L [threads [modes [solves]]]]]]\n"
                      "threads: a comma-separated list, e.g. 1,2; modes: log,plain,default;\n"
                      "line modes: dense-plain,dense-relaxed,dense-default,dense-log,grid;\n"
                      "which: all or back-end names (fft, blas, lse, auto)\n";
  if (argc < 2) {
    fputs(usage, stderr);
    return 1;
  }
  int threads[8], nthr;
  if (!strcmp(argv[1], "dense")) {
    const size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    const double eps = argc > 3 ? atof(argv[3]) : 0.25;
    const int reps = argc > 4 ? atoi(argv[4]) : 3;
    nthr = parse_threads(argc > 5 ? argv[5] : "1,2", threads, 8);
    const char *modes = argc > 6 ? argv[6] : "log,plain,default";
    if (n < 2 || !(eps > 0) || reps < 1 || !nthr) {
      fputs(usage, stderr);
      return 1;
    }
    run_dense(n, eps, reps, threads, nthr, modes);
  } else if (!strcmp(argv[1], "line")) {
    const size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    const double eps = argc > 3 ? atof(argv[3]) : 0.05;
    const double L = argc > 4 ? atof(argv[4]) : 1;
    nthr = parse_threads(argc > 5 ? argv[5] : "1", threads, 8);
    const char *modes = argc > 6 ? argv[6] : "dense-plain,dense-default";
    const int solves = argc > 7 ? atoi(argv[7]) : 1;
    if (n < 2 || !(eps > 0) || !(L > 0) || !nthr || solves < 1) {
      fputs(usage, stderr);
      return 1;
    }
    run_line(n, eps, L, threads, nthr, modes, solves);
  } else if (!strcmp(argv[1], "grid")) {
    const int reps = argc > 2 ? atoi(argv[2]) : 3;
    const size_t nmax = argc > 3 ? strtoull(argv[3], NULL, 10) : 512;
    nthr = parse_threads(argc > 4 ? argv[4] : "1", threads, 8);
    const char *which = argc > 5 ? argv[5] : "all";
    if (reps < 1 || !nthr) {
      fputs(usage, stderr);
      return 1;
    }
    run_grid(reps, nmax, threads, nthr, which);
  } else {
    fputs(usage, stderr);
    return 1;
  }
  return 0;
}
