/* Benchmark: the grid Sinkhorn kernel back-ends (issue 15), the fpkit side of bench/run_ot_grid.sh
 * (whose peer is bench/ot_pot_grid.py, POT's convolutional and kernel-mode Sinkhorn).
 *
 *   bench_ot_grid product N EPS [reps]    2D N×N on [0,1]²: CPU and wall ms per kernel product for
 *                                         every back-end (fft, blas, band, lse, blas-lines) and the
 *                                         automatic choice; lse also in ns per output cell
 *   bench_ot_grid product1d N EPS [reps]  the same on the 1D grid of `onedim`
 *   bench_ot_grid iter N EPS [reps]       2D N×N: ms per Sinkhorn iteration (both half-steps) of
 *                                         fpk_ot_grid_solve with each back-end requested, and auto
 *   bench_ot_grid onedim N EPS [reps]     1D, N cells on [0,1]: solves to L1 tol 1e-9, plain
 *                                         (eps_start = eps, omega = 1) and defaults, kernel auto
 *   bench_ot_grid tts N EPS [reps [omega [eps_start]]]  2D N×N: time to L1 tolerance 1e-9 of
 *                                         fpk_ot_grid_solve (defaults, omega = eps_start = 0:
 *                                         ε-scaling, over-relaxation, kernel auto) on
 *                                         the problem of ot_pot_grid.py conv_tts: grid points
 *                                         i/(N − 1) (POT's linspace), a and b the bumps of conv
 *   bench_ot_grid calibrate [reps]        the automatic choice's cost-model constants (grid.c),
 *                                         fitted to product times at 64²…512², ε = 0.5 and 0.004
 *
 * Problems. 2D: a and b two Gaussian bumps on [0,1]² (centres (0.35, 0.40), (0.65, 0.60), σ 0.12
 * and 0.10, as bench/bench_ot.c), the product input in = log b; a Sinkhorn iteration is measured
 * as the difference of solves of K and of 1 iterations (eps_start = eps, omega = 1, no error
 * check), divided by K − 1. 1D: N cell centres x_i = (i + ½)/N, a ∝ exp(−(x − 0.3)²/(2·0.1²)),
 * b ∝ exp(−(x − 0.65)²/(2·0.15²)) + 0.05 (both normalised), cost (x − y)²: the problem
 * ot_pot_grid.py gives POT's ot.sinkhorn (kernel mode). Times are the best of `reps`; every line
 * "fpkit <kind> key=value ..." is parsed by run_ot_grid.sh. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpkit/ot.h"
#include "ot/ot_internal.h"

#include "bench_timer.h"

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench_ot_grid: %s: %s\n", what, msg);
  exit(1);
}

static fpk_grid make_grid(size_t d, size_t n) {
  fpk_grid G;
  fpk_error err = {0};
  const size_t nn[3] = {n, n, n};
  const double lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1};
  if (fpk_grid_init(&G, d, nn, lo, hi, NULL, &err)) die("grid", err.msg);
  return G;
}

static void bump2(const fpk_grid *G, double cx, double cy, double sd, double *p) {
  double s = 0, xy[FPK_MAX_DIM];
  for (size_t c = 0; c < G->size; c++) {
    fpk_grid_point(G, c, xy);
    const double dx = xy[0] - cx, dy = xy[1] - cy;
    p[c] = exp(-(dx * dx + dy * dy) / (2 * sd * sd));
    s += p[c];
  }
  for (size_t c = 0; c < G->size; c++) p[c] /= s;
}

/* The internal chain of grid.c in fallback order, plus auto. */
static const ot_kernel_impl *const KERNELS[] = {&ot_kernel_fft, &ot_kernel_blas, &ot_kernel_band,
                                                &ot_kernel_lines, &ot_kernel_lse};
#define NK 5

/* CPU and wall seconds per product (best of reps, each rep >= ~0.2 s of products); 1: refused. */
static int time_product(const ot_kernel_impl *K, const fpk_grid *G, double eps, const double *in,
                        double *out, int reps, double *cpu_s, double *wall_s, char *msg,
                        size_t cap) {
  fpk_error e = {0};
  void *st = K->alloc(G, &e);
  if (!st) die("alloc", e.msg);
  int rc = K->set_eps(st, eps, 1e-11, &e);
  double t1 = 0;
  if (!rc) {
    const double t0 = now();
    rc = K->apply(st, in, out, &e);
    t1 = now() - t0;
  }
  if (rc) {
    snprintf(msg, cap, "%.160s", e.msg);
    for (char *c = msg; *c; c++)
      if (*c == ' ') *c = '_';
    K->free(st);
    return 1;
  }
  size_t it = (size_t)(0.2 / (t1 > 1e-6 ? t1 : 1e-6));
  if (it < 2) it = 2;
  if (it > 100000) it = 100000;
  *cpu_s = *wall_s = 1e300;
  for (int r = 0; r < reps; r++) {
    const double w0 = now(), c0 = cpu();
    for (size_t k = 0; k < it; k++) K->apply(st, in, out, &e);
    const double w = (now() - w0) / (double)it, c = (cpu() - c0) / (double)it;
    if (w < *wall_s) *wall_s = w;
    if (c < *cpu_s) *cpu_s = c;
  }
  K->free(st);
  return 0;
}

static void run_product(size_t d, size_t n, double eps, int reps) {
  fpk_grid G = make_grid(d, n);
  const size_t N = G.size;
  double *b = malloc(N * sizeof *b), *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
  if (!b || !in || !out) die("product", "out of memory");
  if (d == 2) {
    bump2(&G, 0.65, 0.60, 0.10, b);
  } else {
    double sb = 0;
    for (size_t i = 0; i < N; i++) {
      const double x = ((double)i + 0.5) / (double)N;
      sb += b[i] = exp(-(x - 0.65) * (x - 0.65) / (2 * 0.15 * 0.15)) + 0.05;
    }
    for (size_t i = 0; i < N; i++) b[i] /= sb;
  }
  for (size_t i = 0; i < N; i++) in[i] = log(b[i]);
  const char *choice = ot_grid_auto_choice(&G, eps)->name;
  for (int k = 0; k < NK; k++) {
    double c, w;
    char msg[200];
    if (time_product(KERNELS[k], &G, eps, in, out, reps, &c, &w, msg, sizeof msg))
      printf("fpkit product dim=%zu n=%zu eps=%g kernel=%s refused=%s\n", d, n, eps, KERNELS[k]->pub.name,
             msg);
    else
      printf("fpkit product dim=%zu n=%zu eps=%g kernel=%s cpu_ms=%.4g wall_ms=%.4g "
             "ns_per_cell=%.4g threads=%d auto=%s\n",
             d, n, eps, KERNELS[k]->pub.name, 1e3 * c, 1e3 * w, 1e9 * c / (double)N,
             omp_get_max_threads(), choice);
  }
  free(b), free(in), free(out);
}

/* Seconds per Sinkhorn iteration (wall, cpu) with back-end kt (NULL: auto); used: the back-end
 * named first in the solver's log. 1 when no difference could be taken. */
static int time_iter(const fpk_ot_kernel_type *kt, const fpk_grid *G, double eps,
                     const double *a, const double *b, int reps, size_t K, double *wall_s,
                     double *cpu_s, char *used, size_t cap) {
  fpk_error err = {0};
  fpk_ot_grid *w = fpk_ot_grid_alloc(G, kt, &err);
  if (!w) die("grid alloc", err.msg);
  double *f = malloc(G->size * sizeof *f), *g = malloc(G->size * sizeof *g);
  if (!f || !g) die("iter", "out of memory");
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.eps_start = eps;
  p.omega = 1;
  p.check_every = (size_t)1 << 40;
  double bw[2] = {1e300, 1e300}, bc[2] = {1e300, 1e300};
  size_t its[2] = {0, 0};
  for (int r = 0; r < reps; r++)
    for (int s = 0; s < 2; s++) {
      p.max_iter = s ? K : 1;
      fpk_ot_result res;
      const double t0 = now(), c0 = cpu();
      if (fpk_ot_grid_solve(w, a, b, &p, f, g, &res) && res.iterations == 0)
        die("grid solve", fpk_ot_grid_errmsg(w));
      const double el = now() - t0, cl = cpu() - c0;
      if (el < bw[s]) bw[s] = el;
      if (cl < bc[s]) bc[s] = cl;
      its[s] = res.iterations;
    }
  snprintf(used, cap, "?");
  const char *lg = fpk_ot_grid_log(w);
  for (const char *line = lg; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    double e;
    char name[32];
    if (sscanf(line, " eps %lf kernel %31s", &e, name) == 2) {
      snprintf(used, cap, "%s", name);
      break;
    }
  }
  size_t fb = fpk_ot_grid_fallbacks(w);
  if (fb) snprintf(used + strlen(used), cap - strlen(used), "+%zu_fallbacks", fb);
  fpk_ot_grid_free(w);
  free(f), free(g);
  if (its[1] <= its[0]) return 1;
  *wall_s = (bw[1] - bw[0]) / (double)(its[1] - its[0]);
  *cpu_s = (bc[1] - bc[0]) / (double)(its[1] - its[0]);
  return 0;
}

static void run_iter(size_t n, double eps, int reps, const char *which) {
  fpk_grid G = make_grid(2, n);
  const size_t N = G.size;
  double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  if (!a || !b) die("iter", "out of memory");
  bump2(&G, 0.35, 0.40, 0.12, a);
  bump2(&G, 0.65, 0.60, 0.10, b);
  const char *names[] = {"fft", "blas", "band", "lse", "auto"};
  for (int k = 0; k < 5; k++) {
    if (strcmp(which, "all") && !strstr(which, names[k])) continue;
    const fpk_ot_kernel_type *kt = k < 4 ? fpk_ot_kernel_find(names[k]) : NULL;
    const size_t K = k == 3 ? 4 : 21; /* lse is ~100x slower */
    double w, c;
    char used[64];
    if (time_iter(kt, &G, eps, a, b, reps, K, &w, &c, used, sizeof used))
      printf("fpkit iter n=%zu eps=%g kernel=%s failed\n", n, eps, names[k]);
    else
      printf("fpkit iter n=%zu eps=%g kernel=%s ran=%s wall_ms=%.4g cpu_ms=%.4g threads=%d\n", n,
             eps, names[k], used, 1e3 * w, 1e3 * c, omp_get_max_threads());
  }
  free(a), free(b);
}

static void run_onedim(size_t n, double eps, int reps) {
  fpk_grid G = make_grid(1, n);
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  double *f = malloc(n * sizeof *f), *g = malloc(n * sizeof *g);
  if (!a || !b || !f || !g) die("onedim", "out of memory");
  double sa = 0, sb = 0;
  for (size_t i = 0; i < n; i++) {
    const double x = ((double)i + 0.5) / (double)n;
    a[i] = exp(-(x - 0.3) * (x - 0.3) / (2 * 0.1 * 0.1));
    b[i] = exp(-(x - 0.65) * (x - 0.65) / (2 * 0.15 * 0.15)) + 0.05;
    sa += a[i], sb += b[i];
  }
  for (size_t i = 0; i < n; i++) a[i] /= sa, b[i] /= sb;
  fpk_error err = {0};
  fpk_ot_grid *w = fpk_ot_grid_alloc(&G, NULL, &err);
  if (!w) die("grid alloc", err.msg);
  for (int mode = 0; mode < 2; mode++) {
    fpk_ot_params p;
    fpk_ot_params_init(&p);
    p.eps = eps;
    if (mode == 0) p.eps_start = eps, p.omega = 1;
    double bw = 1e300, bc = 1e300;
    fpk_ot_result r;
    for (int k = 0; k < reps; k++) {
      const double t0 = now(), c0 = cpu();
      int rc = fpk_ot_grid_solve(w, a, b, &p, f, g, &r);
      const double el = now() - t0, cl = cpu() - c0;
      if (rc) die("onedim solve", fpk_ot_grid_errmsg(w));
      if (el < bw) bw = el;
      if (cl < bc) bc = cl;
    }
    char used[64] = "?";
    const char *lg = fpk_ot_grid_log(w);
    const char *last = NULL;
    for (const char *q = strstr(lg, " kernel "); q; q = strstr(q + 1, " kernel ")) last = q;
    if (last) sscanf(last, " kernel %63s", used);
    printf("fpkit onedim n=%zu eps=%g mode=%s kernel=%s iters=%zu wall=%.5g cpu=%.5g "
           "err_l1=%.3e cost=%.15g primal=%.15g threads=%d\n",
           n, eps, mode ? "default" : "plain", used, r.iterations, bw, bc, r.err_a + r.err_b,
           r.cost, r.primal, omp_get_max_threads());
  }
  fpk_ot_grid_free(w);
  free(a), free(b), free(f), free(g);
}

/* Time to solution on POT's convolutional problem (ot_pot_grid.py conv_tts): POT's kernel uses
 * the points linspace(0, 1, N) along each axis, so the grid here has N cells of width
 * h = 1/(N − 1) on [−h/2, 1 + h/2] (centres i·h); a, b are POT's bumps2, evaluated at (i + ½)/N
 * whatever the grid, so both solve the same discrete problem (equal cost to the tolerance). */
static void run_tts(size_t n, double eps, int reps, double omega, double eps_start) {
  fpk_grid G;
  fpk_error err = {0};
  const double h = 1.0 / (double)(n - 1);
  const size_t nn[2] = {n, n};
  const double lo[2] = {-h / 2, -h / 2}, hi[2] = {1 + h / 2, 1 + h / 2};
  if (fpk_grid_init(&G, 2, nn, lo, hi, NULL, &err)) die("grid", err.msg);
  const size_t N = G.size;
  double *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  double *f = malloc(N * sizeof *f), *g = malloc(N * sizeof *g);
  if (!a || !b || !f || !g) die("tts", "out of memory");
  const double cx[2] = {0.35, 0.65}, cy[2] = {0.40, 0.60}, sd[2] = {0.12, 0.10};
  for (int k = 0; k < 2; k++) {
    double *p = k ? b : a, s = 0;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < n; j++) {
        const double dx = ((double)i + 0.5) / (double)n - cx[k];
        const double dy = ((double)j + 0.5) / (double)n - cy[k];
        s += p[i * n + j] = exp(-(dx * dx + dy * dy) / (2 * sd[k] * sd[k]));
      }
    for (size_t c = 0; c < N; c++) p[c] /= s;
  }
  fpk_ot_grid *w = fpk_ot_grid_alloc(&G, NULL, &err);
  if (!w) die("grid alloc", err.msg);
  fpk_ot_params p;
  fpk_ot_params_init(&p);
  p.eps = eps;
  p.tol = 1e-9;
  p.omega = omega;
  p.eps_start = eps_start;
  double bw = 1e300, bc = 1e300;
  fpk_ot_result r;
  for (int k = 0; k < reps; k++) {
    const double t0 = now(), c0 = cpu();
    const int rc = fpk_ot_grid_solve(w, a, b, &p, f, g, &r);
    const double el = now() - t0, cl = cpu() - c0;
    if (rc) die("tts solve", fpk_ot_grid_errmsg(w));
    if (el < bw) bw = el;
    if (cl < bc) bc = cl;
  }
  char used[64] = "?";
  const char *lg = fpk_ot_grid_log(w);
  const char *last = NULL;
  for (const char *q = strstr(lg, " kernel "); q; q = strstr(q + 1, " kernel ")) last = q;
  if (last) sscanf(last, " kernel %63s", used);
  if (getenv("FPK_BENCH_LOG")) fputs(lg, stderr);
  printf("fpkit tts n=%zu eps=%g kernel=%s iters=%zu wall=%.5g cpu=%.5g err_l1=%.3e "
         "cost=%.15g primal=%.15g omega=%.4g fallbacks=%zu threads=%d\n",
         n, eps, used, r.iterations, bw, bc, r.err_a + r.err_b, r.cost, r.primal, r.omega,
         fpk_ot_grid_fallbacks(w), omp_get_max_threads());
  fpk_ot_grid_free(w);
  free(a), free(b), free(f), free(g);
}

/* Least squares (relative residuals) for the model's constants from single-thread product
 * times: blas = c_gemm·N·Σ_a n_a [c_gemv on axes whose passes are matrix-vector products,
 * N/n_a < 8] + c_elem·N, band = N·(c_band0·m_0 + c_bands·Σ_{a>=1} m_a) + c_elem·N (c_elem shared: the O(N) exp, log
 * and check), fft = c_fft·N·log2 N. 2D at 64²…512² and 1D at 500…4000 cells, ε = 0.5 and 0.004
 * (2D), 0.05 and 0.005 (1D). Prints the #defines of grid.c. */
#define NC 5
static void run_calibrate(int reps) {
  double A[NC][NC] = {{0}}, rhs[NC] = {0}, ff = 0, fy = 0;
  for (int d = 1; d <= 2; d++) {
    const size_t sizes2[] = {64, 128, 256, 512}, sizes1[] = {500, 1000, 2000, 4000};
    const double eps2[] = {0.5, 0.004}, eps1[] = {0.05, 0.005};
    for (size_t si = 0; si < 4; si++)
      for (size_t e = 0; e < 2; e++) {
        const size_t n = d == 2 ? sizes2[si] : sizes1[si];
        const double eps = d == 2 ? eps2[e] : eps1[e];
        fpk_grid G = make_grid((size_t)d, n);
        const size_t N = G.size;
        double *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
        if (!in || !out) die("calibrate", "out of memory");
        for (size_t i = 0; i < N; i++) in[i] = -0.001 * (double)(i % 1000);
        const ot_kernel_impl *ks[3] = {&ot_kernel_blas, &ot_kernel_band, &ot_kernel_fft};
        for (int k = 0; k < 3; k++) {
          double c, w;
          char msg[200];
          if (time_product(ks[k], &G, eps, in, out, reps, &c, &w, msg, sizeof msg)) continue;
          const double ns = 1e9 * c;
          printf("fpkit calibrate dim=%d n=%zu eps=%g kernel=%s cpu_ns_per_cell=%.4g\n", d, n,
                 eps, ks[k]->pub.name, ns / (double)N);
          if (k == 2) {
            const double z = (double)N * log2((double)N);
            ff += z * z / (ns * ns), fy += z * ns / (ns * ns);
            continue;
          }
          double x[NC] = {0, 0, 0, 0, (double)N};
          for (size_t a = 0; a < G.dim; a++) {
            const size_t r = ot_band_radius(G.n[a], G.h[a], eps);
            if (k == 1)
              x[a ? 3 : 2] += (double)N * (double)(2 * r + 1 < G.n[a] ? 2 * r + 1 : G.n[a]);
            else
              x[N / G.n[a] < 8 ? 1 : 0] += (double)N * (double)G.n[a];
          }
          const double wt = 1 / (ns * ns);
          for (int i = 0; i < NC; i++) {
            rhs[i] += wt * x[i] * ns;
            for (int j = 0; j < NC; j++) A[i][j] += wt * x[i] * x[j];
          }
        }
        free(in), free(out);
      }
  }
  /* Gaussian elimination with partial pivoting */
  for (int c = 0; c < NC; c++) {
    int p = c;
    for (int i = c + 1; i < NC; i++)
      if (fabs(A[i][c]) > fabs(A[p][c])) p = i;
    for (int j = 0; j < NC; j++) {
      double t = A[c][j];
      A[c][j] = A[p][j], A[p][j] = t;
    }
    double t = rhs[c];
    rhs[c] = rhs[p], rhs[p] = t;
    for (int i = c + 1; i < NC; i++) {
      const double m = A[i][c] / A[c][c];
      for (int j = c; j < NC; j++) A[i][j] -= m * A[c][j];
      rhs[i] -= m * rhs[c];
    }
  }
  double x[NC];
  for (int i = NC - 1; i >= 0; i--) {
    double t = rhs[i];
    for (int j = i + 1; j < NC; j++) t -= A[i][j] * x[j];
    x[i] = t / A[i][i];
  }
  printf("#define GRID_COST_FFT %.3g\n#define GRID_COST_GEMM %.3g\n#define GRID_COST_GEMV %.3g\n"
         "#define GRID_COST_BAND0 %.3g\n#define GRID_COST_BANDS %.3g\n#define GRID_COST_ELEM %.3g\n",
         fy / ff, x[0], x[1], x[2], x[3], x[4]);
}

int main(int argc, char **argv) {
  const char *usage = "usage: bench_ot_grid product|iter N EPS [reps [which]]\n"
                      "       bench_ot_grid onedim|tts N EPS [reps]\n"
                      "       bench_ot_grid calibrate [reps]\n";
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  if (!strcmp(argv[1], "calibrate")) {
    run_calibrate(argc > 2 ? atoi(argv[2]) : 3);
    return 0;
  }
  if (argc < 4) {
    fputs(usage, stderr);
    return 2;
  }
  const size_t n = (size_t)strtoul(argv[2], NULL, 10);
  const double eps = strtod(argv[3], NULL);
  const int reps = argc > 4 ? atoi(argv[4]) : 3;
  if (n < 3 || !(eps > 0) || reps < 1) {
    fputs(usage, stderr);
    return 2;
  }
  if (!strcmp(argv[1], "product"))
    run_product(2, n, eps, reps);
  else if (!strcmp(argv[1], "product1d"))
    run_product(1, n, eps, reps);
  else if (!strcmp(argv[1], "iter"))
    run_iter(n, eps, reps, argc > 5 ? argv[5] : "all");
  else if (!strcmp(argv[1], "onedim"))
    run_onedim(n, eps, reps);
  else if (!strcmp(argv[1], "tts"))
    run_tts(n, eps, reps, argc > 5 ? strtod(argv[5], NULL) : 0, argc > 6 ? strtod(argv[6], NULL) : 0);
  else {
    fputs(usage, stderr);
    return 2;
  }
  return 0;
}
