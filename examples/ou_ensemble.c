/* A Monte Carlo ensemble of a two-dimensional Ornstein–Uhlenbeck process, against the exact law
 * of the scheme it runs.
 *
 *   dX = -A (X - μ) dt + diag(σ) dW,   A non-symmetric (a rotating, anisotropic drift)
 *
 * integrated by Euler–Maruyama. The chain X_{k+1} = X_k + h(-A X_k + A μ) + √h diag(σ) Z_k is
 * itself Gaussian, with a mean and covariance fpkit computes exactly (fpk_exact_em_law), so the
 * ensemble mean may differ from it by sampling error only: the program exits 1 when a component
 * is more than 5 standard errors away (a false alarm about once in 10⁶ runs; the seed is fixed,
 * so a run either always passes or always fails).
 *
 *   cc ou_ensemble.c -o ou_ensemble $(pkg-config --cflags --libs fpkit)
 */
#include <fpkit/exact.h>
#include <fpkit/sde.h>
#include <fpkit/version.h>

#include <math.h>
#include <stdio.h>

int main(void) {
  const double A[4] = {1.0, -2.0, 0.5, 0.7}; /* row-major; eigenvalues with positive real part */
  const double mu[2] = {1.0, -0.5}, sigma[2] = {0.6, 0.9};
  const fpk_gaussian init = {.dim = 2, .mean = {0.0, 0.0}, .cov = {0.04, 0.0, 0.0, 0.04}};
  const double t_out[2] = {0.5, 2.0};
  const size_t nt = 2;

  fpk_error err = {0};
  fpk_model *ou = fpk_model_ou_alloc(2, A, mu, sigma, &err);
  if (!ou) {
    fprintf(stderr, "model: %s\n", err.msg);
    return 1;
  }
  /* The histogram grid (the mean is computed from the paths themselves, inside the box or not). */
  fpk_grid grid;
  const size_t n[2] = {64, 64};
  const double lo[2] = {-4.0, -4.0}, hi[2] = {4.0, 4.0};
  const fpk_bc bc[2] = {FPK_BC_REFLECTING, FPK_BC_REFLECTING};
  if (fpk_grid_init(&grid, 2, n, lo, hi, bc, &err)) {
    fprintf(stderr, "grid: %s\n", err.msg);
    fpk_model_free(ou);
    return 1;
  }
  const fpk_mc_params params = {.stepper = fpk_sde_euler_maruyama, .npaths = 40000,
                                .dt = 0.01, .seed = 2024};
  fpk_mc_result res = {0};
  if (fpk_mc_run(ou, &init, &grid, t_out, nt, &params, &res, &err)) {
    fprintf(stderr, "Monte Carlo: %s\n", err.msg);
    fpk_model_free(ou);
    return 1;
  }

  printf("fpkit %s: %zu Euler-Maruyama paths of a 2D OU process, dt = %g\n", fpk_version(),
         params.npaths, params.dt);
  int status = 0;
  /* The exact law of the chain after the same steps: the intervals [0, t_out[0]], [t_out[0],
   * t_out[1]], ... split as fpk_mc_run splits them (fpk_time_steps). */
  size_t nsteps[2];
  double h[2];
  for (size_t k = 0; k < nt && !status; k++) {
    const double t0 = k ? t_out[k - 1] : 0.0;
    if (fpk_time_steps(t0, t_out[k], params.dt, &nsteps[k], &h[k], &err)) {
      fprintf(stderr, "steps: %s\n", err.msg);
      status = 1;
      break;
    }
    fpk_gaussian law;
    if (fpk_exact_em_law(ou->linear, &init, k + 1, nsteps, h, &law, &err)) {
      fprintf(stderr, "exact law: %s\n", err.msg);
      status = 1;
      break;
    }
    for (size_t c = 0; c < 2; c++) {
      const double mc = res.mean[k * 2 + c];
      const double se = sqrt(law.cov[c * 2 + c] / (double)params.npaths);
      const double z = (mc - law.mean[c]) / se;
      printf("  t = %-4g mean[%zu] = %+.6f   exact (Euler-Maruyama chain) %+.6f   %+.2f s.e.\n",
             t_out[k], c, mc, law.mean[c], z);
      if (!(fabs(z) <= 5.0)) {
        fprintf(stderr, "ou_ensemble: FAIL: t = %g, mean[%zu] is %.2f standard errors off\n",
                t_out[k], c, z);
        status = 1;
      }
    }
  }
  fpk_mc_result_free(&res);
  fpk_model_free(ou);
  return status;
}
