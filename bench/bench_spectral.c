/* Benchmark: one ETDRK4 step of the Fourier spectral Fokker–Planck solver (fpkit/spectral.h)
 * against the bare cost of the FFTs the step must do (its floor), on 2D periodic grids, and the
 * step on 2 threads against the step on 1 (issue 15).
 *   bench_spectral [-t min_seconds] [-r reps] [-m ou|vard|both] [N ...]   (default N: 256 400 512 1024)
 *
 * Models:
 *   ou    2D OU dX = −A X dt + diag(σ) dW, A = [[1, 0.6], [−0.4, 0.8]] (non-symmetric), σ = (1, 0.8),
 *         on the periodic box [−8, 8]²; additive noise, so each evaluation of 𝒩 is one c2r and
 *         2 r2c (the ∂_a(b_a p) terms);
 *   vard  on the torus [0, 2π)²: b_a = −sin x_a + 0.5 cos x_{1−a} + 0.3, σ_a = 1 + 0.3 cos x_a;
 *         D varies, so each evaluation is one c2r and 4 r2c (∂_a(b_a p) and ∂_a²((D_a − D̄_a) p)).
 * ETDRK4 evaluates 𝒩 4 times per step.
 *
 * The floor: the transforms of one evaluation — c2r, then the r2c's — executed with plans of the
 * same type as the solver's (same sizes and flags, FFTW_MEASURE, serial, made after the solver's
 * so the planner's in-process wisdom gives the same algorithm; out-of-place new-array execute on
 * buffers from fftw_alloc_*, like spectral_op.c). c2r destroys its input, so the input is restored
 * from a pristine copy before each evaluation, outside the timed region. Floor per ETDRK4 step =
 * 4 × floor per evaluation. The floor's three or five arrays stay in cache between its
 * transforms; the solver's transforms read arrays the passes between them have just written.
 * The pruned floor: the same, with each forward transform done as the step's row pipeline does
 * it under the 2/3 rule — r2c of every row, then DFTs along y of only the kept columns (about
 * 0.79 of a full 2D r2c): the FFT work the step cannot avoid, for an honest comparison.
 *
 * Per size, each repetition runs, in this order, the floor, the step with nthreads = 1, the step
 * with nthreads = 2 (the solver's own choice of threads, fpk_spectral_threads), and the floor
 * with FFTW's 2-thread FFTW_MEASURE plans (for reference: whether FFTW's own threads would pay at
 * that size; the solver's pipeline splits its transforms itself), each for >= min_seconds (default 1), reps
 * (default 3) times: load on the shared machine hits all alike. Printed: medians, and per ratio
 * the median of the per-repetition ratios with their [min-max]. The step/floor ratio is in CPU
 * time (process CPU time, CLOCK_PROCESS_CPUTIME_ID: less sensitive to other jobs) and wall
 * clock; the 2-thread/1-thread ratios are wall clock (what threads are for). */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpkit/spectral.h"

#include "bench_timer.h"

static const double TWO_PI = 6.283185307179586476925;


/* ---------------------------------------------------------------- variable-D torus model */

static int vard_drift(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t a = 0; a < 2; a++)
    for (size_t i = 0; i < n; i++)
      out[a * n + i] = -sin(x[a * n + i]) + 0.5 * cos(x[(1 - a) * n + i]) + 0.3;
  return 0;
}

static int vard_noise(double t, size_t n, const double *x, double *out, void *params) {
  (void)t, (void)params;
  for (size_t a = 0; a < 2; a++)
    for (size_t i = 0; i < n; i++) out[a * n + i] = 1.0 + 0.3 * cos(x[a * n + i]);
  return 0;
}

/* ---------------------------------------------------------------- measurements */

typedef struct meas {
  double wall, cpu; /* seconds per unit (step or evaluation) */
} meas;

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void range(const double *v, int n, double *lo, double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (int k = 0; k < n; k++) *lo = fmin(*lo, v[k]), *hi = fmax(*hi, v[k]);
}

/* K steps of the solver, K >= 1. */
static int run_steps(fpk_spectral *s, double dt, size_t K, meas *m) {
  const double t0 = now(), c0 = cpu();
  const int rc = fpk_spectral_evolve(s, fpk_spectral_time(s) + (double)K * dt);
  m->wall = (now() - t0) / (double)K, m->cpu = (cpu() - c0) / (double)K;
  if (rc) fprintf(stderr, "bench_spectral: %s\n", fpk_spectral_errmsg(s));
  return rc;
}

/* Steps so that one measurement takes >= tmin, from a timing of 2 steps after 2 warm-up steps
 * (first touch of the work arrays). */
static size_t calibrate(fpk_spectral *s, double dt, double tmin) {
  meas m;
  if (run_steps(s, dt, 2, &m) || run_steps(s, dt, 2, &m)) exit(1);
  const double k = ceil(tmin / fmax(m.wall, 1e-9));
  return k < 3 ? 3 : (size_t)k;
}

typedef struct floor_bufs {
  fftw_plan r2c, c2r;
  fftw_plan rows, kept; /* the pruned forward transform: row r2c's, then the kept columns */
  fftw_complex *cin, *cpristine, *cout;
  double *r;
  size_t nc, nr2c;
} floor_bufs;

/* K evaluations' worth of transforms: per evaluation, restore the c2r input (untimed), then time
 * c2r + nr2c r2c's. */
static void run_floor_(floor_bufs *f, size_t K, meas *m, int pruned) {
  double wall = 0.0, cp = 0.0;
  for (size_t k = 0; k < K; k++) {
    memcpy(f->cin, f->cpristine, f->nc * sizeof(fftw_complex));
    const double t0 = now(), c0 = cpu();
    fftw_execute_dft_c2r(f->c2r, f->cin, f->r);
    for (size_t a = 0; a < f->nr2c; a++)
      if (pruned) {
        fftw_execute_dft_r2c(f->rows, f->r, f->cout);
        fftw_execute_dft(f->kept, f->cout, f->cout);
      } else {
        fftw_execute_dft_r2c(f->r2c, f->r, f->cout);
      }
    const double c1 = cpu(), t1 = now();
    wall += t1 - t0, cp += c1 - c0;
  }
  m->wall = wall / (double)K, m->cpu = cp / (double)K;
}

static void run_floor(floor_bufs *f, size_t K, meas *m) { run_floor_(f, K, m, 0); }

typedef struct problem {
  const char *name;
  fpk_model *owned; /* freed at the end (NULL for the static model) */
  const fpk_model *model;
  double lo, hi;
  double bmax;    /* bound on |b| over the box, for dt */
  int variable_d; /* 1 + 4 instead of 1 + 2 transforms per evaluation */
} problem;

static void init_density(const problem *P, const fpk_grid *g, double *p) {
  for (size_t m = 0; m < g->size; m++) {
    double x[2];
    fpk_grid_point(g, m, x);
    if (P->variable_d)
      p[m] = (1.0 + 0.5 * cos(x[0] - 1.0) * cos(x[1])) / (TWO_PI * TWO_PI);
    else
      p[m] = exp(-((x[0] - 1.0) * (x[0] - 1.0) + (x[1] + 0.5) * (x[1] + 0.5))) / M_PI;
  }
}

static fpk_spectral *make_solver(const problem *P, const fpk_grid *g, double dt, int nthreads,
                                 const double *p) {
  fpk_error err = {0};
  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_MEASURE;
  o.nthreads = nthreads;
  fpk_spectral *s = fpk_spectral_alloc(g, P->model, fpk_spectral_etdrk4, dt, &o, &err);
  if (!s || fpk_spectral_set_density(s, 0.0, p)) {
    fprintf(stderr, "bench_spectral: %s\n", s ? fpk_spectral_errmsg(s) : err.msg);
    exit(1);
  }
  return s;
}

static void make_floor(floor_bufs *f, size_t N, int nthreads, const double *p) {
  const size_t ncx = N / 2 + 1;
  f->nc = ncx * N;
  f->cin = fftw_alloc_complex(f->nc), f->cpristine = fftw_alloc_complex(f->nc);
  f->cout = fftw_alloc_complex(f->nc);
  f->r = fftw_alloc_real(N * N);
  const int shape[2] = {(int)N, (int)N};
  fftw_plan_with_nthreads(nthreads);
  f->r2c = fftw_plan_dft_r2c(2, shape, f->r, f->cout, FFTW_MEASURE);
  f->c2r = fftw_plan_dft_c2r(2, shape, f->cin, f->r, FFTW_MEASURE);
  /* the pruned floor (serial): the forward transform as the step does it with the 2/3 rule —
   * r2c along x of every row, then the DFTs along y of only the columns the rule keeps */
  const int n = (int)N, nh = (int)ncx, nkx = (int)(N / 3 + 1);
  f->rows = fftw_plan_many_dft_r2c(1, &n, n, f->r, NULL, 1, n, f->cout, NULL, 1, nh, FFTW_MEASURE);
  f->kept = fftw_plan_many_dft(1, &n, nkx, f->cout, NULL, nh, 1, f->cout, NULL, nh, 1,
                               FFTW_FORWARD, FFTW_MEASURE);
  fftw_plan_with_nthreads(1);
  if (!f->r2c || !f->c2r || !f->rows || !f->kept) {
    fprintf(stderr, "bench_spectral: FFTW could not plan\n");
    exit(1);
  }
  /* Pristine c2r input: the r2c of the initial density (what the solver's first c2r sees). */
  memcpy(f->r, p, N * N * sizeof(double));
  fftw_execute_dft_r2c(f->r2c, f->r, f->cpristine);
}

static void free_floor(floor_bufs *f) {
  fftw_destroy_plan(f->r2c), fftw_destroy_plan(f->c2r);
  fftw_destroy_plan(f->rows), fftw_destroy_plan(f->kept);
  fftw_free(f->cin), fftw_free(f->cpristine), fftw_free(f->cout), fftw_free(f->r);
}

static void bench_one(const problem *P, size_t N, double tmin, int reps) {
  fpk_error err = {0};
  fpk_grid g;
  const size_t n[2] = {N, N};
  const double lo[2] = {P->lo, P->lo}, hi[2] = {P->hi, P->hi};
  const fpk_bc bc[2] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  if (fpk_grid_init(&g, 2, n, lo, hi, bc, &err)) {
    fprintf(stderr, "bench_spectral: %s\n", err.msg);
    exit(1);
  }
  /* An explicit step well inside RK4's stability for the advective term |b| k_max dt, rounded
   * down to a power of 2 so that every evolve() below steps by exactly dt. */
  const double kmax = TWO_PI / (P->hi - P->lo) * (double)(N / 3);
  const double dt = exp2(floor(log2(0.1 / (P->bmax * kmax))));
  double *p = malloc(g.size * sizeof *p);
  init_density(P, &g, p);

  fpk_spectral *s1 = make_solver(P, &g, dt, 1, p), *s2 = make_solver(P, &g, dt, 2, p);
  int r2c, c2r, passes, timed;
  fpk_spectral_threads(s2, &r2c, &c2r, &passes, &timed);
  floor_bufs f1 = {0}, f2 = {0};
  f1.nr2c = f2.nr2c = P->variable_d ? 4 : 2;
  make_floor(&f1, N, 1, p);
  make_floor(&f2, N, 2, p);

  /* Warm up (page faults, caches), then calibrate the repetition counts. */
  meas w;
  run_floor(&f1, 4, &w);
  const size_t Kf = (size_t)fmax(4.0, ceil(tmin / fmax(w.wall, 1e-9)));
  run_floor(&f2, 4, &w);
  const size_t Kf2 = (size_t)fmax(4.0, ceil(tmin / fmax(w.wall, 1e-9)));
  const size_t K1 = calibrate(s1, dt, tmin), K2 = calibrate(s2, dt, tmin);

  enum { R = 64 };
  double fw[R], fc[R], ew[R], ec[R], tw[R], rw[R], rc[R], rt[R], rf[R], pc[R], rp[R];
  if (reps > R) reps = R;
  for (int r = 0; r < reps; r++) {
    meas mf, m1, m2, mf2, mp;
    run_floor(&f1, Kf, &mf);
    run_floor_(&f1, Kf, &mp, 1);
    if (run_steps(s1, dt, K1, &m1) || run_steps(s2, dt, K2, &m2)) exit(1);
    run_floor(&f2, Kf2, &mf2);
    fw[r] = 4.0 * mf.wall, fc[r] = 4.0 * mf.cpu; /* per ETDRK4 step */
    ew[r] = m1.wall, ec[r] = m1.cpu, tw[r] = m2.wall;
    rw[r] = ew[r] / fw[r], rc[r] = ec[r] / fc[r];
    rt[r] = tw[r] / ew[r];     /* step: 2 threads / 1 thread, wall */
    rf[r] = mf2.wall / mf.wall; /* transforms: threaded / serial plans, wall */
    pc[r] = 4.0 * mp.cpu, rp[r] = ec[r] / pc[r]; /* step / pruned floor, CPU */
  }
  char grid[32];
  snprintf(grid, sizeof grid, "%zu^2", N);
  double lw, hw, lc, hc, lt, ht, lf, hf, lp, hp;
  range(rw, reps, &lw, &hw), range(rc, reps, &lc, &hc), range(rt, reps, &lt, &ht);
  range(rf, reps, &lf, &hf), range(rp, reps, &lp, &hp);
  const double mrw = median(rw, reps), mrc = median(rc, reps), mrt = median(rt, reps),
               mrf = median(rf, reps);
  printf("%-5s %-7s %4d %9.3f %9.3f %5.2f [%.2f-%.2f] %9.3f %9.3f %5.2f [%.2f-%.2f] %9.3f "
         "%5.2f [%.2f-%.2f] %d,%d,%d%s %5.2f [%.2f-%.2f] %9.3f %5.2f [%.2f-%.2f]\n",
         P->name, grid, (int)(4 * (1 + f1.nr2c)), 1e3 * median(fc, reps), 1e3 * median(ec, reps),
         mrc, lc, hc, 1e3 * median(fw, reps), 1e3 * median(ew, reps), mrw, lw, hw,
         1e3 * median(tw, reps), mrt, lt, ht, r2c, c2r, passes, timed ? "t" : "s", mrf, lf, hf,
         1e3 * median(pc, reps), median(rp, reps), lp, hp);
  if (fabs(fpk_spectral_mass(s1) - 1.0) > 1e-9 || fabs(fpk_spectral_mass(s2) - 1.0) > 1e-9)
    fprintf(stderr, "bench_spectral: mass drifted (%.12f, %.12f)\n", fpk_spectral_mass(s1),
            fpk_spectral_mass(s2));
  fflush(stdout);
  free_floor(&f1), free_floor(&f2);
  free(p);
  fpk_spectral_free(s1), fpk_spectral_free(s2);
}

int main(int argc, char **argv) {
  double tmin = 1.0;
  int reps = 3;
  const char *which = "both";
  size_t sizes[16], nsizes = 0;
  for (int k = 1; k < argc; k++) {
    if (!strcmp(argv[k], "-t") && k + 1 < argc) tmin = atof(argv[++k]);
    else if (!strcmp(argv[k], "-r") && k + 1 < argc) reps = atoi(argv[++k]);
    else if (!strcmp(argv[k], "-m") && k + 1 < argc) which = argv[++k];
    else if (nsizes < 16 && strtoul(argv[k], NULL, 10) >= 8) sizes[nsizes++] = strtoul(argv[k], NULL, 10);
    else {
      fprintf(stderr, "usage: bench_spectral [-t min_seconds] [-r reps] [-m ou|vard|both] [N ...]\n");
      return 2;
    }
  }
  if (!nsizes) sizes[0] = 256, sizes[1] = 400, sizes[2] = 512, sizes[3] = 1024, nsizes = 4;
  if (reps < 1) reps = 1;

  fpk_error err = {0};
  const double A[4] = {1.0, 0.6, -0.4, 0.8}, mu[2] = {0.0, 0.0}, sigma[2] = {1.0, 0.8};
  fpk_model *ou = fpk_model_ou_alloc(2, A, mu, sigma, &err);
  if (!ou) {
    fprintf(stderr, "bench_spectral: %s\n", err.msg);
    return 1;
  }
  static const fpk_model vard = {.name = "vard", .dim = 2, .drift = vard_drift,
                                 .noise = vard_noise, .params = NULL,
                                 .flags = FPK_MODEL_AUTONOMOUS, .linear = NULL};
  /* |b| <= ‖A‖_∞ · 8 on [−8, 8]² for OU; <= 1.8 for vard. */
  const problem probs[2] = {{"ou", ou, ou, -8.0, 8.0, 1.6 * 8.0, 0},
                            {"vard", NULL, &vard, 0.0, TWO_PI, 1.8, 1}};

  fftw_init_threads();
  printf("bench_spectral: %s, planner FFTW_MEASURE; %d reps of >= %.1f s each; medians, [min-max] "
         "of the per-rep ratios\n",
         fftw_version, reps, tmin);
  printf("columns: FFTs per step; CPU: floor and 1-thread step ms/step, ratio; wall: the same; "
         "2 threads: step ms, ratio to 1 thread (wall); threads chosen: full r2c, full c2r, "
         "pipeline and passes (t: full plans bitwise equal and timed, s: serial kept); FFTW's "
         "threaded/serial plans (wall, reference); pruned floor: CPU ms and step/pruned floor\n");
  printf("%-5s %-7s %4s %9s %9s %17s %9s %9s %17s %9s %17s %6s %17s %9s %17s\n", "model", "grid",
         "FFTs",
         "cpu floor", "cpu step", "ratio [range]", "wal floor", "wal step", "ratio [range]",
         "2thr step", "2thr/1thr", "thr", "fft 2/1 [range]", "pruned", "ratio [range]");
  for (size_t k = 0; k < nsizes; k++)
    for (int q = 0; q < 2; q++) {
      if (strcmp(which, "both") && strcmp(which, probs[q].name)) continue;
      bench_one(&probs[q], sizes[k], tmin, reps);
    }
  fpk_model_free(ou);
  return 0;
}
