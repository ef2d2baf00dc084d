/* Escape over a barrier (src/exact/escape.c): Kramers' rate formula in its limits, and the exact
 * 1D mean first-passage time against a closed form and against the Smoluchowski rate, whose
 * relative error must fall like 1/β (the O(1/(βΔU)) correction of HTB 1990, §IV.A). */
#include <stdlib.h>

#include "fpk_test.h"
#include "fpkit/exact.h"

static fpk_model *kramers(double beta, double gamma) {
  fpk_error err = {0};
  const fpk_kramers_params p = {.beta = beta, .gamma = gamma, .amplitude = 1.0, .period = 1.0};
  fpk_model *m = fpk_model_kramers_alloc("double-well", &p, &err);
  assert_non_null(m);
  return m;
}

/* k = (λ_b/ω_b)(ω_0/2π)e^{−βΔU}: at γ = 1 by hand; γ → ∞: ω_0ω_b e^{−βΔU}/(2πγ); γ → 0: the
 * transition-state rate ω_0 e^{−βΔU}/2π. */
static void kramers_formula_limits(void **state) {
  (void)state;
  fpk_error err = {0};
  const double beta = 12.0, arr = exp(-beta * 0.25), w0 = sqrt(2.0);
  double k;
  fpk_model *m = kramers(beta, 1.0);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_SUCCESS);
  assert_close_rel(k, (sqrt(1.25) - 0.5) * w0 / (2 * M_PI) * arr, 1e-15);
  fpk_model_free(m);
  m = kramers(beta, 1e4);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_SUCCESS);
  assert_close_rel(k * 1e4, w0 / (2 * M_PI) * arr, 1e-7);
  fpk_model_free(m);
  m = kramers(beta, 1e-8);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_SUCCESS);
  assert_close_rel(k, w0 / (2 * M_PI) * arr, 1e-7);
  fpk_model_free(m);
  /* refusals */
  const fpk_kramers_params ph = {.beta = 1, .gamma = 1, .amplitude = 1, .period = 1};
  m = fpk_model_kramers_alloc("harmonic", &ph, &err);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_EUNSUP);
  assert_non_null(strstr(err.msg, "no barrier"));
  fpk_model_free(m);
  const fpk_kramers_params pt = {.beta = 1, .gamma = 1, .amplitude = 1, .period = 1, .tilt = 0.1};
  m = fpk_model_kramers_alloc("double-well", &pt, &err);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_EUNSUP);
  fpk_model_free(m);
  const double A[1] = {1}, mu[1] = {0}, sg[1] = {1};
  m = fpk_model_ou_alloc(1, A, mu, sg, &err);
  assert_int_equal(fpk_exact_kramers_rate(m, &k, &err), FPK_EINVAL);
  fpk_model_free(m);
}

/* Free diffusion (tilted-cosine with amplitude 0, no tilt: D = 1/β) with a reflecting wall at 0:
 * T(x0) = (b² − x0²)/(2D). */
static void mfpt_free_diffusion(void **state) {
  (void)state;
  fpk_error err = {0};
  const fpk_langevin_params lp = {.beta = 2.0, .amplitude = 0.0, .period = 1.0};
  fpk_model *m = fpk_model_langevin_alloc("tilted-cosine", 1, &lp, &err);
  assert_non_null(m);
  double T;
  assert_int_equal(fpk_exact_mfpt_1d(m, 0.0, 0.3, 1.7, &T, &err), FPK_SUCCESS);
  assert_close_rel(T, (1.7 * 1.7 - 0.3 * 0.3) / (2.0 / lp.beta), 1e-10);
  assert_int_equal(fpk_exact_mfpt_1d(m, 0.5, 0.3, 1.7, &T, &err), FPK_EINVAL);
  assert_int_equal(fpk_exact_mfpt_1d(m, -INFINITY, 0.3, 1.7, &T, &err), FPK_EINVAL);
  assert_non_null(strstr(err.msg, "confining"));
  fpk_model_free(m);
}

/* The overdamped double well (γ = 1 time scale): 1/T(−1 → +1) against the Smoluchowski rate
 * ω_0ω_b e^{−βΔU}/2π. The relative difference must be O(1/β): fitted exponent −1 ± 0.15 over
 * β = 16..128, and each difference times βΔU between 0.1 and 3. */
static void mfpt_vs_smoluchowski(void **state) {
  (void)state;
  fpk_error err = {0};
  const double betas[4] = {16, 32, 64, 128};
  double dev[4];
  for (size_t i = 0; i < 4; i++) {
    const fpk_langevin_params lp = {.beta = betas[i], .amplitude = 1.0, .period = 1.0};
    fpk_model *m = fpk_model_langevin_alloc("double-well", 1, &lp, &err);
    double T;
    assert_int_equal(fpk_exact_mfpt_1d(m, -INFINITY, -1.0, 1.0, &T, &err), FPK_SUCCESS);
    const double ks = sqrt(2.0) / (2 * M_PI) * exp(-betas[i] * 0.25);
    dev[i] = fabs(1.0 / (T * ks) - 1.0);
    printf("beta %5.0f: MFPT %.6e, 1/(T k_Smoluchowski) - 1 = %.4e, times beta dU = %.3f\n",
           betas[i], T, 1.0 / (T * ks) - 1.0, dev[i] * betas[i] * 0.25);
    assert_in_range_d(dev[i] * betas[i] * 0.25, 0.1, 3.0);
    fpk_model_free(m);
  }
  double h[4];
  for (size_t i = 0; i < 4; i++) h[i] = 1.0 / betas[i];
  const double order = fpk_test_fit_order(4, h, dev);
  printf("fitted order of the finite-barrier correction in 1/beta: %.3f\n", order);
  assert_in_range_d(order, 0.85, 1.15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kramers_formula_limits),
      cmocka_unit_test(mfpt_free_diffusion),
      cmocka_unit_test(mfpt_vs_smoluchowski),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
