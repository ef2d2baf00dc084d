/* The density of an Ornstein–Uhlenbeck process by finite volumes, against its exact law.
 *
 *   dX = -θ (X - μ) dt + σ dW,   X_0 ~ N(m0, s0²)
 *
 * has the Gaussian law N(μ + (m0 - μ) e^{-θt}, s0² e^{-2θt} + σ²/(2θ) (1 - e^{-2θt})) at time t.
 * The finite-volume solution (Crank–Nicolson in time) is compared with the exact probabilities of
 * the same cells; the program exits 1 when the L1 distance is above the tolerance.
 *
 * Build against an installed fpkit (examples/README.md):
 *   cc ou_density.c -o ou_density $(pkg-config --cflags --libs fpkit)
 */
#include <fpkit/compare.h>
#include <fpkit/exact.h>
#include <fpkit/fv.h>
#include <fpkit/version.h>

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  const double theta = 1.5, mu = 0.5, sigma = 0.8; /* the model */
  const double m0 = -1.0, s0 = 0.3;                /* the initial law */
  const double t_end = 1.0, dt = 1e-3;
  const size_t n = 800;
  const double lo = -4.0, hi = 4.0;
  const double tolerance = 2e-4; /* L1; the O(h² + dt²) error of this resolution: 7.1e-5 */

  fpk_error err = {0};
  fpk_grid grid;
  const fpk_bc bc = FPK_BC_REFLECTING;
  if (fpk_grid_init(&grid, 1, &n, &lo, &hi, &bc, &err)) {
    fprintf(stderr, "grid: %s\n", err.msg);
    return 1;
  }
  fpk_model *ou = fpk_model_ou_alloc(1, &theta, &mu, &sigma, &err);
  if (!ou) {
    fprintf(stderr, "model: %s\n", err.msg);
    return 1;
  }
  double *p0 = malloc(n * sizeof *p0), *exact = malloc(n * sizeof *exact);
  fpk_fv *fv = fpk_fv_alloc(&grid, ou, fpk_fv_crank_nicolson, dt, &err);
  int status = 1;
  if (!p0 || !exact || !fv) {
    fprintf(stderr, "allocation: %s\n", err.msg[0] ? err.msg : "out of memory");
    goto done;
  }

  /* Initial density: the exact cell probabilities of N(m0, s0²) divided by the cell width. */
  const fpk_gaussian init = {.dim = 1, .mean = {m0}, .cov = {s0 * s0}};
  if (fpk_gaussian_cell_probs(&init, &grid, p0, &err)) goto fail;
  for (size_t i = 0; i < n; i++) p0[i] /= grid.cell_volume;
  if (fpk_fv_set_density(fv, 0.0, p0) || fpk_fv_evolve(fv, t_end)) {
    fprintf(stderr, "finite volumes: %s\n", fpk_fv_errmsg(fv));
    goto done;
  }

  /* The exact law at t_end (Van Loan's formula for any linear SDE), averaged over the cells. */
  fpk_gaussian law;
  if (fpk_exact_linear_law(ou->linear, &init, t_end, &law, &err) ||
      fpk_gaussian_cell_probs(&law, &grid, exact, &err))
    goto fail;
  for (size_t i = 0; i < n; i++) exact[i] /= grid.cell_volume;

  const double l1 = fpk_dist_l1(&grid, fpk_fv_density(fv), exact);
  double mean, var;
  fpk_density_moments(&grid, fpk_fv_density(fv), &mean, &var);
  printf("fpkit %s: OU density at t = %g by finite volumes (%zu cells, %s, dt = %g)\n",
         fpk_version(), t_end, n, fpk_fv_stepper(fv)->name, dt);
  printf("  mean     %.10f   exact %.10f\n", mean, law.mean[0]);
  printf("  variance %.10f   exact %.10f\n", var, law.cov[0]);
  printf("  L1 distance to the exact cell averages: %.3e (tolerance %.0e)\n", l1, tolerance);
  status = l1 <= tolerance ? 0 : 1;
  if (status) fprintf(stderr, "ou_density: FAIL: L1 distance %.3e > %.0e\n", l1, tolerance);
  goto done;

fail:
  fprintf(stderr, "exact law: %s\n", err.msg);
done:
  fpk_fv_free(fv);
  fpk_model_free(ou);
  free(p0);
  free(exact);
  return status;
}
