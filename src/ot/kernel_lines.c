/* Grid kernel back-end "blas-lines", internal to the grid solver's automatic choice (grid.c; not
 * in the public registry fpk_ot_kernel_types, so it cannot be named in a config): the blas
 * back-end's separable dgemm products with one shift per LINE of each axis pass instead of one
 * for the whole field, the product of ot_grid_propagate's step 2 (propagate.c, which has the
 * scheme and its rounding bound).
 *
 * Why. blas shifts the whole field by its maximum, so it must refuse every ε below
 * max_a L_a²/690 (a kernel entry would underflow) and every product whose smallest output falls
 * ~690 below the field's maximum. Small-ε Sinkhorn on a wide box is exactly that: on 256² over
 * [−7.5, 7.5]² (L²/690 = 0.32) the last stages of a σ = 0.3 bridge (ε = 0.218, 0.18) fell to lse,
 * 45 ms per product against about 2 ms here. With a shift per line, an output is lost only when
 * its own line's kernel-weighted sum underflows, not the field's, and every output carries its own
 * certificate: relative error <= γ_n + 6u plus an absolute E = (2n + 2)·DBL_MIN from underflow,
 * accepted when that is <= accuracy/d per pass (the d passes compose to `accuracy`, the
 * relative accuracy the grid solver asks of every product, 1e-2·tol, and hands to the output
 * checks of sinkhorn.c as prod_rel). Outputs that fail the test are summed exactly (a log-sum-exp
 * over their line, O(n) each). Once more than N/LINES_EXACT_DIV of them would be needed the
 * product is refused (status 1: the solver logs the reason and falls back to lse, exact to
 * rounding and then cheaper than many one-by-one sums).
 *
 * set_eps refuses (status 1) when OpenBLAS could not be loaded, or when the accuracy asked is
 * below the rounding bound of a pass (no output could be certified); never for ε itself: kernel
 * entries that underflow are covered by E.
 *
 * Cost per product: d passes of N exps, N logs and one n_a × n_a by n_a × N/n_a dgemm, plus the
 * exact sums. Single-threaded (the dgemm is serialised, kernel_blas.c says why): the result does
 * not depend on the thread count. */
#include <math.h>
#include <stdlib.h>

#include "ot/ot_internal.h"

/* At most N / LINES_EXACT_DIV outputs per product are summed one by one (each O(n)); the same
 * budget as ot_grid_propagate's switch to the lse back-end (propagate.c). */
#define LINES_EXACT_DIV 32

typedef struct lines_state {
  ot_propagator *P;
  size_t N, dim, nmax;
  double eps, acc;
  int ready;
} lines_state;

static void lines_free(void *state) {
  lines_state *s = state;
  if (!s) return;
  ot_propagator_free(s->P);
  free(s);
}

static void *lines_alloc(const fpk_grid *g, fpk_error *err) {
  if (!g || g->dim < 1 || g->dim > 3) {
    fpk_error_set(err, FPK_EINVAL, "blas-lines: grids of dimension 1 to 3 only");
    return NULL;
  }
  lines_state *s = calloc(1, sizeof *s);
  if (!s) {
    fpk_error_set(err, FPK_ENOMEM, "blas-lines: out of memory");
    return NULL;
  }
  if (!(s->P = ot_propagator_alloc_lines(g, err))) {
    free(s);
    return NULL;
  }
  s->N = g->size;
  s->dim = g->dim;
  for (size_t a = 0; a < g->dim; a++)
    if (g->n[a] > s->nmax) s->nmax = g->n[a];
  return s;
}

static int lines_set_eps(void *state, double eps, double accuracy, fpk_error *err) {
  lines_state *s = state;
  s->ready = 0;
  if (!(eps > 0) || !isfinite(eps) || !(accuracy > 0)) {
    fpk_error_set(err, FPK_EINVAL, "blas-lines: eps = %g and accuracy = %g must be positive", eps,
                  accuracy);
    return -FPK_EINVAL;
  }
  if (!ot_blas_available()) {
    fpk_error_set(err, FPK_EUNSUP, "blas-lines: OpenBLAS could not be loaded");
    return 1;
  }
  const double rel = ot_propagate_pass_rel(s->nmax);
  if (!(accuracy / (double)s->dim > rel)) {
    fpk_error_set(err, FPK_EUNSUP,
                  "blas-lines: accuracy %.2g is below the rounding bound %.3g of %zu passes",
                  accuracy, rel * (double)s->dim, s->dim);
    return 1;
  }
  s->eps = eps;
  s->acc = accuracy;
  s->ready = 1;
  return 0;
}

static int lines_apply(void *state, const double *in, double *out, fpk_error *err) {
  lines_state *s = state;
  if (!s->ready) {
    fpk_error_set(err, FPK_EINVAL, "blas-lines: apply before an accepted set_eps");
    return -FPK_EINVAL;
  }
  for (size_t i = 0; i < s->N; i++)
    if (isnan(in[i]) || in[i] == INFINITY) {
      fpk_error_set(err, FPK_ENUMERIC, "blas-lines: input %zu is %g", i, in[i]);
      return -FPK_ENUMERIC;
    }
  const size_t budget = s->N / LINES_EXACT_DIV;
  size_t nexact = 0;
  if (ot_grid_propagate_lines(s->P, s->eps, s->acc, budget, in, out, &nexact)) {
    fpk_error_set(err, FPK_EUNSUP,
                  "blas-lines: at eps = %.4g more than %zu of the %zu outputs (N/%d) fall below "
                  "the underflow floor of their line's shifted sum (bound > accuracy %.2g/%zu "
                  "per pass) and would be summed one by one",
                  s->eps, budget, s->N, LINES_EXACT_DIV, s->acc, s->dim);
    return 1;
  }
  return 0;
}

const ot_kernel_impl ot_kernel_lines = {
    {"blas-lines",
     "per-axis dense kernel matrices applied by dgemm with one shift per line of each axis pass; "
     "outputs below the underflow floor summed exactly, refused beyond N/32 of them"},
    lines_alloc,
    lines_set_eps,
    lines_apply,
    lines_free};
