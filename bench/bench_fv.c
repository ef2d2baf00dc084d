/* Finite-volume Fokker–Planck benchmark: time per cell and step of the implicit 2D steppers with
 * the split (ADI) and the direct (UMFPACK) solver, through the public API (fpkit/fv.h), on the
 * flagship's 2D non-symmetric OU (experiments/ou/ou2d.ini: A = [1 0.8; -0.6 0.5], σ = (0.8, 0.6),
 * [-4, 4]², reflecting walls, TR-BDF2, dt = 5e-3). One measurement per process, so that the peak
 * resident memory (getrusage ru_maxrss) belongs to that grid and solver alone; bench/run_fv.sh
 * alternates processes and summarises.
 *
 *   bench_fv [-t SEC] [-s split|direct] [-S STEPPER] [-T THREADS] N
 *
 * Prints one line:
 *   fv N SOLVER STEPPER THREADS steps S ns_wall W ns_cpu C setup_s A maxrss_mb M base_mb B
 * ns_wall / ns_cpu: wall-clock / process CPU nanoseconds per cell per step (after a warm-up step;
 * the setup — allocation, assembly, first factorisation — is setup_s), maxrss_mb the peak resident
 * memory of the process, base_mb the resident memory before the solver was allocated. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_timer.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

static double rss_mb(void) { /* current resident set, /proc/self/statm */
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return (double)res * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static int usage(void) {
  fprintf(stderr, "usage: bench_fv [-t SEC] [-s split|direct] [-S STEPPER] [-T THREADS] N\n");
  return 2;
}

int main(int argc, char **argv) {
  double tmin = 1.0;
  const char *solver = "split", *stepper = "tr-bdf2";
  int threads = 1;
  size_t N = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-t") && i + 1 < argc) tmin = atof(argv[++i]);
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) solver = argv[++i];
    else if (!strcmp(argv[i], "-S") && i + 1 < argc) stepper = argv[++i];
    else if (!strcmp(argv[i], "-T") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (argv[i][0] != '-') N = (size_t)atol(argv[i]);
    else return usage();
  }
  const fpk_fv_stepper_type *T = fpk_fv_stepper_lookup(stepper);
  const int split = !strcmp(solver, "split");
  if (!N || !T || !T->implicit || (!split && strcmp(solver, "direct")) || threads < 1)
    return usage();
  omp_set_num_threads(threads);

  fpk_error err = {0};
  const double A[4] = {1.0, 0.8, -0.6, 0.5}, mu[2] = {0.0, 0.0}, sg[2] = {0.8, 0.6};
  fpk_model *m = fpk_model_ou_alloc(2, A, mu, sg, &err);
  fpk_grid g;
  const size_t n[2] = {N, N};
  const double lo[2] = {-4.0, -4.0}, hi[2] = {4.0, 4.0};
  if (!m || fpk_grid_init(&g, 2, n, lo, hi, NULL, &err)) {
    fprintf(stderr, "bench_fv: %s\n", err.msg);
    return 1;
  }
  fpk_gaussian law = {.dim = 2};
  law.mean[0] = 1.5;
  law.mean[1] = -1.0;
  law.cov[0] = law.cov[3] = 0.09;
  double *p0 = malloc(g.size * sizeof *p0);
  if (!p0 || fpk_gaussian_density_grid(&law, &g, p0, &err)) {
    fprintf(stderr, "bench_fv: initial density: %s\n", p0 ? err.msg : "out of memory");
    return 1;
  }
  const double base = rss_mb();
  const double dt = 5e-3;
  const double t0 = now();
  fpk_fv *s = fpk_fv_alloc(&g, m, T, dt, &err);
  if (!s) {
    fprintf(stderr, "bench_fv: %s\n", err.msg);
    return 1;
  }
  int rc = fpk_fv_set_solver(s, split ? FPK_FV_SOLVER_SPLIT : FPK_FV_SOLVER_DIRECT);
  if (!rc) rc = fpk_fv_set_density(s, 0.0, p0);
  if (!rc) rc = fpk_fv_evolve(s, dt); /* the first step factors */
  const double setup = now() - t0;
  size_t steps = 0;
  double w0 = now(), c0 = cpu(), w1 = w0, c1 = c0;
  for (size_t chunk = 1; !rc && w1 - w0 < tmin; chunk *= 2) {
    rc = fpk_fv_evolve(s, fpk_fv_time(s) + (double)chunk * dt);
    steps += chunk;
    w1 = now();
    c1 = cpu();
  }
  if (rc) {
    fprintf(stderr, "bench_fv: %s\n", fpk_fv_errmsg(s));
    return 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double cs = (double)g.size * (double)steps;
  printf("fv %zu %s %s %d steps %zu ns_wall %.2f ns_cpu %.2f setup_s %.3f maxrss_mb %.1f "
         "base_mb %.1f mass_err %.1e\n",
         N, fpk_fv_solver_name(s), T->name, threads, steps, 1e9 * (w1 - w0) / cs,
         1e9 * (c1 - c0) / cs, setup, (double)ru.ru_maxrss / 1024.0, base,
         fabs(fpk_fv_mass(s) - 1.0));
  fpk_fv_free(s);
  fpk_model_free(m);
  free(p0);
  return 0;
}
