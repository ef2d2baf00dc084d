/* Benchmark: one ETDRK4 step of the 3D Fourier spectral solver (fpkit/spectral.h, issue 17)
 * against its FFT floor, and, under mpirun, its strong scaling over ranks.
 *   bench_spectral3d [N] [steps] [reps]        (defaults 128, 4, 3; OMP_NUM_THREADS: threads)
 *   mpirun -np P bench_spectral3d ...          (the solver distributed in slabs along z)
 *
 * Problem: the 3D anisotropic OU of tests/test_spectral3d.c (A = diag(1, 1.5, 2), additive
 * noise) on the periodic box [−5, 5]³ at N³, dt = 1/300. Additive noise: 𝒩 is the three drift
 * terms, so each evaluation of 𝒩 is one c2r and three r2c, and an ETDRK4 step (4 evaluations)
 * is 16 3D transforms.
 * The floor: those 16 transforms alone — fpk_spectral_op_c2r once and fpk_spectral_op_r2c three
 * times, four times over — on an operator made like the solver's (same grid, same plans: plane
 * and line plans, FFTW_ESTIMATE; over ranks the same slabs and FFTW-MPI transposes), on arrays of
 * the same sizes. It includes the transposes (over ranks: the communication), which the step
 * cannot avoid. c2r destroys its input: restored from a copy outside the timed region.
 * Each repetition times `steps` steps of the solver and `steps` floors, alternately; printed:
 * the medians of the wall time per step (over ranks: the slowest rank's, after a barrier) and of
 * the per-repetition ratio step/floor. Strong scaling: bench/run_spectral3d.sh runs P = 1 and 2
 * and prints T1 / (P T_P). */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "fp/spectral_internal.h"
#include "fpkit/exact.h"
#include "fpkit/parallel.h"
#include "fpkit/spectral.h"

#include "bench_timer.h"

static fpk_comm *world;

/* the slowest rank's seconds since t0 (after a barrier) */
static double slowest(double t0) {
  fpk_error e = {0};
  uint64_t ns = (uint64_t)((now() - t0) * 1e9);
  fpk_comm_max_u64(world, &ns, 1, &e);
  return 1e-9 * (double)ns;
}

static int cmp_d(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
  fpk_error err = {0};
  if (fpk_parallel_init(&argc, &argv, &world, &err)) {
    fprintf(stderr, "bench_spectral3d: %s\n", err.msg);
    return 1;
  }
  const size_t N = argc > 1 ? (size_t)atoi(argv[1]) : 128;
  const int steps = argc > 2 ? atoi(argv[2]) : 4, reps = argc > 3 ? atoi(argv[3]) : 3;
  const int nthreads = omp_get_max_threads(), rank = fpk_comm_rank(world),
            P = fpk_comm_size(world);
  const double A[9] = {1.0, 0, 0, 0, 1.5, 0, 0, 0, 2.0}, mu[3] = {0, 0, 0},
               sig[3] = {0.6 * sqrt(2.0), 0.6 * sqrt(3.0), 1.2};
  fpk_model *m = fpk_model_ou_alloc(3, A, mu, sig, &err);
  fpk_grid g;
  size_t nn[3] = {N, N, N};
  double lo[3] = {-5, -5, -5}, hi[3] = {5, 5, 5};
  fpk_bc bc[3] = {FPK_BC_PERIODIC, FPK_BC_PERIODIC, FPK_BC_PERIODIC};
  if (!m || fpk_grid_init(&g, 3, nn, lo, hi, bc, &err)) {
    fprintf(stderr, "bench_spectral3d: %s\n", err.msg);
    return 1;
  }
  const double m0[3] = {0.4, -0.3, 0.2}, S0[9] = {0.25, 0, 0, 0, 0.25, 0, 0, 0, 0.25};
  fpk_gaussian g0 = {.dim = 3};
  memcpy(g0.mean, m0, sizeof m0), memcpy(g0.cov, S0, sizeof S0);
  double *p0 = malloc(g.size * sizeof *p0);
  fpk_gaussian_cell_probs(&g0, &g, p0, &err);
  for (size_t c = 0; c < g.size; c++) p0[c] /= g.cell_volume;

  fpk_spectral_options o;
  fpk_spectral_options_default(&o);
  o.planner = FPK_FFT_ESTIMATE;
  o.nthreads = nthreads;
  o.comm = world;
  const double dt = 1.0 / 300.0;
  fpk_spectral *s = fpk_spectral_alloc(&g, m, fpk_spectral_etdrk4, dt, &o, &err);
  int rc = s ? fpk_spectral_set_density(s, 0.0, p0) : FPK_ENOMEM;
  /* the floor's operator: the solver's plans and slabs */
  fpk_spectral_op op;
  if (!rc) rc = fpk_spectral_op_init_comm(&op, &g, m, FFTW_ESTIMATE, nthreads, 1, world, &err);
  if (rc) {
    fprintf(stderr, "bench_spectral3d: %s\n", s ? fpk_spectral_errmsg(s) : err.msg);
    return 1;
  }
  int passes;
  fpk_spectral_threads(s, NULL, NULL, &passes, NULL);
  op.pass_threads = passes; /* the solver's split of the planes and lines */
  fftw_complex *save = fftw_alloc_complex(op.nc), *in = fftw_alloc_complex(op.nc),
               *F[3] = {fftw_alloc_complex(op.nc), fftw_alloc_complex(op.nc),
                        fftw_alloc_complex(op.nc)};
  double *r = fftw_alloc_real(op.M);
  memcpy(r, p0 + op.z0 * op.n[1] * op.nx, op.M * sizeof(double));
  fpk_spectral_op_r2c(&op, r, save);

  double tstep[16], tfloor[16], ratio[16];
  const int R = reps < 16 ? reps : 16;
  double t = 0.0;
  for (int k = 0; k < R; k++) {
    fpk_comm_barrier(world, &err);
    double t0 = now();
    t += steps * dt;
    if (fpk_spectral_evolve(s, t)) {
      fprintf(stderr, "bench_spectral3d: %s\n", fpk_spectral_errmsg(s));
      return 1;
    }
    tstep[k] = slowest(t0) / steps;
    double fl = 0.0;
    for (int q = 0; q < 4 * steps; q++) {
      memcpy(in, save, op.nc * sizeof *in);
      fpk_comm_barrier(world, &err);
      t0 = now();
      fpk_spectral_op_c2r(&op, in, r);
      for (int j = 0; j < 3; j++) fpk_spectral_op_r2c(&op, r, F[j]);
      fl += slowest(t0);
    }
    tfloor[k] = fl / steps;
    ratio[k] = tstep[k] / tfloor[k];
  }
  /* For reference (one process): the same 16 transforms by FFTW's own serial 3D plans
   * (FFTW_MEASURE), which the solver does not use (their algorithm depends on the sizes and
   * threads: docs/spectral-scheme.md) — the price of bitwise reproducibility. */
  double ffms = NAN;
  if (P == 1) {
    const int n3[3] = {(int)N, (int)N, (int)N};
    fftw_plan pf = fftw_plan_dft_r2c(3, n3, r, F[0], FFTW_MEASURE);
    fftw_plan pb = fftw_plan_dft_c2r(3, n3, in, r, FFTW_MEASURE);
    double tf[16];
    for (int k = 0; k < R; k++) {
      double fl = 0.0;
      for (int q = 0; q < 4 * steps; q++) {
        memcpy(in, save, op.nc * sizeof *in);
        const double t0 = now();
        fftw_execute_dft_c2r(pb, in, r);
        for (int j = 0; j < 3; j++) fftw_execute_dft_r2c(pf, r, F[j]);
        fl += now() - t0;
      }
      tf[k] = fl / steps;
    }
    ffms = 1e3 * median(tf, R);
    fftw_destroy_plan(pf), fftw_destroy_plan(pb);
  }
  const double ms = 1e3 * median(tstep, R), fms = 1e3 * median(tfloor, R), rt = median(ratio, R);
  if (rank == 0)
    printf("3D ETDRK4 step, OU %zu^3, %d rank(s) x %d thread(s) (passes %d): step %.1f ms, FFT "
           "floor (16 transforms) %.1f ms, step/floor %.2f  [median of %d x %d steps]\n",
           N, P, nthreads, passes, ms, fms, rt, R, steps);
  if (rank == 0 && P == 1)
    printf("  reference: the 16 transforms by FFTW's serial 3D plans (FFTW_MEASURE) %.1f ms; "
           "step / that %.2f\n",
           ffms, ms / ffms);
  fftw_free(save), fftw_free(in), fftw_free(F[0]), fftw_free(F[1]), fftw_free(F[2]), fftw_free(r);
  fpk_spectral_op_free(&op);
  fpk_spectral_free(s);
  fpk_model_free(m);
  free(p0);
  fpk_parallel_finalize(world);
  return 0;
}
