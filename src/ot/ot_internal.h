/* Internals of the entropic OT solvers (fpkit/ot.h): the Sinkhorn engine shared by the dense and
 * grid solvers, and the interface of the grid kernel back-ends. Not installed. */
#ifndef FPK_OT_INTERNAL_H
#define FPK_OT_INTERNAL_H

#include <stddef.h>
#include "fpkit/ot.h"

/* ---- Kernel back-ends (src/ot/kernel_*.c) ----------------------------------------------------
 * Each file exports one const fpk_ot_kernel_type * whose object is an ot_kernel_impl (pub first).
 * Every function returns 0 on success, > 0 when the back-end cannot represent the request (a
 * recoverable condition: the grid solver falls back to the next back-end and logs err->msg), < 0
 * or an FPK_E* status through fpk_error_set on a fatal error. The grid is the same for source
 * and target; boundary conditions are ignored. */
typedef struct ot_kernel_impl {
  fpk_ot_kernel_type pub;
  /* State for grid g (plans, stencils, buffers for up to omp_get_max_threads() threads). */
  void *(*alloc)(const fpk_grid *g, fpk_error *err);
  /* Prepares products at ε. accuracy: the largest relative error of an output the caller
   * accepts (about 1e-2·tol). > 0: ε cannot be represented (say why in err). */
  int (*set_eps)(void *state, double eps, double accuracy, fpk_error *err);
  /* out_i = log Σ_j exp(in_j − |x_i − x_j|²/ε) over the g->size cell centres; in_j may be −∞
   * (every in_j = −∞ gives out_i = −∞). in and out do not alias. > 0: rounding could exceed the
   * accuracy for this input (the caller falls back). Deterministic whatever the thread count. */
  int (*apply)(void *state, const double *in, double *out, fpk_error *err);
  void (*free)(void *state);
} ot_kernel_impl;

#define OT_KERNEL_IMPL(type) ((const ot_kernel_impl *)(const void *)(type))

/* The three back-ends (kernel_fft.c, kernel_blas.c, kernel_lse.c); each file also defines the
 * public pointer, e.g. const fpk_ot_kernel_type *fpk_ot_kernel_fft = &ot_kernel_fft.pub. */
extern const ot_kernel_impl ot_kernel_fft, ot_kernel_blas, ot_kernel_lse;

/* Tolerance of 1-ulp-level terms: e^{-37} < 1e-16, so terms this far below the running maximum
 * of a log-sum-exp change it by less than rounding. */
#define OT_LSE_NEGLIGIBLE 37.0

/* Products smaller than this many cells (or matrix entries) run on one thread: below it a
 * parallel region's start and barrier cost more than the work, and on a loaded machine GOMP's
 * spinning barriers dominate (measured: 84% of a 64² solve spent in libgomp under load). */
#define OT_PARALLEL_MIN 16384

/* ---- The Sinkhorn engine (src/ot/sinkhorn.c) ------------------------------------------------ */

typedef struct ot_problem {
  size_t n, m;
  const double *a, *b;       /* normalised weights */
  const double *loga, *logb; /* their logs (−∞ where zero) */
  double cmax;               /* largest cost between supported atoms (default ε_0) */
  void *ctx;
  /* Called once per ε stage before any lse at that ε; > 0: recoverable (not used by dense). */
  int (*set_eps)(void *ctx, double eps, fpk_error *err);
  /* dir 0: out_i = log Σ_j exp(in_j − C_ij/ε), i < n, in of length m.
   * dir 1: out_j = log Σ_i exp(in_i − C_ij/ε), j < m, in of length n. */
  int (*lse)(void *ctx, int dir, double eps, const double *in, double *out, fpk_error *err);
  /* ⟨π, C⟩ for the plan of (f, g) at ε; row/col: its marginals (computed by the engine). */
  int (*cost)(void *ctx, double eps, const double *f, const double *g, const double *row,
              const double *col, double *cost, fpk_error *err);
} ot_problem;

/* Work space of the engine: 2(n + m) doubles, and history of capacity hcap. */
typedef struct ot_engine_work {
  double *fh, *gh, *in_a, *in_b; /* f̂ (n), ĝ (m), lse inputs (m, n) */
  double *fs, *gs;               /* (f, g) saved when the relaxation changes (n, m) */
  double *history;
  size_t hcap, hlen;
} ot_engine_work;

/* The buffers of W for n × m problems (history excluded: sized per solve); 0 or FPK_ENOMEM.
 * _free releases everything, history included, and leaves W zeroed. */
int ot_engine_work_alloc(ot_engine_work *W, size_t n, size_t m);
void ot_engine_work_free(ot_engine_work *W);

/* Checks and (with p->normalize) rescales a and b into an and bn, filling loga/logb and the
 * masses in r. FPK_EINVAL with a message naming the first bad entry. */
int ot_prepare_marginals(size_t n, const double *a, size_t m, const double *b,
                         const fpk_ot_params *p, double *an, double *bn, double *loga,
                         double *logb, fpk_ot_result *r, fpk_error *err);
/* Validates p (ε > 0 and finite, factors in range). */
int ot_check_params(const fpk_ot_params *p, fpk_error *err);
/* Runs ε-scaling Sinkhorn from (f, g) (zeros unless p->warm_start) and fills r. A stage log
 * line is appended to log (may be NULL, capacity logcap) per stage. */
int ot_engine_solve(const ot_problem *P, const fpk_ot_params *p, double *f, double *g,
                    ot_engine_work *w, fpk_ot_result *r, char *log, size_t logcap,
                    fpk_error *err);

#endif
