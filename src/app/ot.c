/* `fpkit ot`: entropic optimal transport between two densities on one grid (fpkit/ot.h,
 * docs/ot.md; configuration in docs/config.md, output in docs/hdf5-layout.md).
 *
 * The marginals are given by [source] and [target]: a Gaussian, a Gaussian mixture, or a field
 * read from an HDF5 file written by fpkit (any dataset on its /grid, optionally one or every
 * entry of a leading time axis). Specs are discretised on the grid: by default the density at
 * the cell centres times the cell volume, normalised to mass 1 — the trapezoid rule of a smooth
 * density that decays inside the box, so every moment of the discrete measure (and the entropic
 * OT value, an integral functional of it at ε > 0) matches the continuous law to spectral
 * accuracy; `discretize = cells` uses the exact cell probabilities instead (whose variance is
 * σ² + h²/12: an O(h²) error against the closed forms). HDF5 densities become cell
 * probabilities p·cell_volume.
 *
 * For every output time (one, unless `time = all`) and every ε of the sweep, one grid Sinkhorn
 * solve (fpk_ot_grid_solve, ε-scaling from scratch each time) gives the value, the potentials,
 * the marginal error history and the plan's moments; with `divergence` two more solves give
 * S_ε = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b) (self terms of a marginal that does not change
 * with time are solved once per ε). Between two Gaussians the closed forms (Janati et al. 2020;
 * src/exact/gaussian_ot.c) are written beside the numbers with their relative errors.
 *
 * cost = half is the ½|x − y|² convention of GeomLoss and OTT-JAX. It is not a separate solver:
 *   OT^½_ε(a, b) = min ⟨π, ½C⟩ + ε KL = ½ min ⟨π, C⟩ + 2ε KL = ½ OT_{2ε}(a, b),
 * so the same plan as the |x − y|² problem at 2ε, with value, cost and potentials halved (KL
 * unchanged). The command solves at 2ε and halves; every ε in the file and on stdout is the
 * user's ε of the ½ convention.
 *
 * Exit status: 1 on bad input (file:line, key and value named; no output file); 3 on a numerical
 * failure (a solve's output guard, no file unless --keep-failed) and when a solve did not converge
 * (after writing the file, marked converged = 0) unless --allow-unconverged. */
#include "app/app.h"
#include "app/keys.h"
#include "app/marginal.h"
#include "app/progress.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "fpkit/config.h"
#include "fpkit/exact.h"
#include "fpkit/grid.h"
#include "fpkit/io.h"
#include "fpkit/model.h"
#include "fpkit/ot.h"

#define MAX_EPS 64
/* The full plan is N² doubles: at most 2^24 entries (128 MiB, a 4096-cell grid). */
#define PLAN_MAX_ENTRIES ((size_t)1 << 24)
/* Masses within this of 1 are accepted without normalize (the solver's own rule). */
#define MASS_TOL 1e-9

enum { POT_NONE = 0, POT_LAST = 1, POT_ALL = 2 };

/* ------------------------------------------------------------------------- small helpers */

/* Text that grows (the kernel log of every solve): a POSIX memory stream, opened on first use.
 * The log is informative: when the stream cannot be opened, text is dropped rather than the run
 * failed. */
typedef struct text {
  FILE *f;
  char *s;
  size_t len;
} text;

static void text_printf(text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *b, const char *fmt, ...) {
  if (!b->f && !(b->f = open_memstream(&b->s, &b->len))) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(b->f, fmt, ap);
  va_end(ap);
}

/* Ends the text: closing the stream leaves the whole text in b->s (a later text_printf would
 * start another). */
static void text_close(text *b) {
  if (b->f) fclose(b->f);
  b->f = NULL;
}

/* The text of a closed stream. */
static const char *text_str(const text *b) { return b->s ? b->s : ""; }

static void text_free(text *b) {
  text_close(b);
  free(b->s);
  memset(b, 0, sizeof *b);
}

static char *dupstr(const char *s) {
  size_t k = strlen(s) + 1;
  char *d = malloc(k);
  if (d) memcpy(d, s, k);
  return d;
}

/* ------------------------------------------------------------------------- the run */

typedef fpk_app_marginal marginal;

typedef struct ot_run {
  fpk_config *cfg;
  fpk_ot_params par; /* tol, max_iter, ... as read (ε in the user's convention) */
  size_t neps;
  double eps[MAX_EPS];
  size_t kernel; /* 0: auto, else fpk_ot_kernel_types[kernel − 1] */
  int normalize, half, divergence, plan, exact;
  size_t potentials;
  fpk_grid grid;
  int have_grid;
  marginal src, tgt;
  size_t nt;      /* time entries looped over */
  int time_loop;  /* a marginal has time = all: per-solve datasets get a leading [nt] axis */
  const double *t; /* [nt] */
  double max_mass_diff;
  size_t max_mass_k; /* time index of the largest difference */
  const char *output;

  /* results, S = nt·neps solves, index s = k·neps + j */
  double *primal, *dual, *cost, *kl, *err_a, *err_b, *iters, *stages, *conv, *omega, *secs,
      *fallbacks;
  double *mean_x, *mean_y, *cov_x, *cov_y, *cross; /* [S][d], [S][d][d] */
  double *div, *ot_aa, *ot_bb, *conv_aa, *conv_bb, *iters_aa, *iters_bb;
  double **hist;
  size_t *hist_len;
  char **logs;    /* per solve (OT(a, b)) */
  char **kernels; /* kernel at the final stage, per solve */
  double *f, *g;  /* [N] (last) or [S][N] (all) */
  double *planv;  /* [N][N] */
  double *w2_1d;  /* [nt] (1D) */
  /* closed forms [neps] */
  double ex_value[MAX_EPS], ex_cross[MAX_EPS * FPK_MAX_DIM * FPK_MAX_DIM], ex_div[MAX_EPS];
  double ex_w2sq;
  text klog;
  size_t unconverged, total_fallbacks;
  double wall;
} ot_run;

static size_t nsolves(const ot_run *r) { return r->nt * r->neps; }

/* ------------------------------------------------------------------------- configuration */

static int read_ot(fpk_config *c, ot_run *r, fpk_error *err) {
  fpk_ot_params *p = &r->par;
  fpk_ot_params_init(p);
  int rc;
  r->neps = 0;
  if ((rc = fpk_config_double_list(c, "ot", "eps", 1, MAX_EPS, r->eps, &r->neps, err))) return rc;
  for (size_t j = 0; j < r->neps; j++)
    if (!(r->eps[j] > 0))
      return fpk_config_invalid(c, "ot", "eps", err,
                                "every eps must be > 0 (value %zu is %g): the entropic "
                                "regularisation of OT_eps = min <pi, C> + eps KL(pi | a x b)",
                                j + 1, r->eps[j]);
  double omega = 0;
  if ((rc = fpk_config_double(c, "ot", "tol", 0, 0.0, 1, 1.0, &p->tol, err)) ||
      (rc = fpk_config_size(c, "ot", "max_iter", 0, 1, (size_t)1e9, &p->max_iter, err)) ||
      (rc = fpk_config_size(c, "ot", "check_every", 0, 1, (size_t)1e6, &p->check_every, err)) ||
      (rc = fpk_config_double(c, "ot", "eps_start", 0, 0.0, 0, INFINITY, &p->eps_start, err)) ||
      (rc = fpk_config_double(c, "ot", "eps_factor", 0, 0.0, 1, 1.0, &p->eps_factor, err)) ||
      (rc = fpk_config_double(c, "ot", "stage_tol", 0, 0.0, 0, 1.0, &p->stage_tol, err)) ||
      (rc = fpk_config_double(c, "ot", "omega", 0, 0.0, 0, 2.0, &omega, err)))
    return rc;
  if (!(p->eps_factor < 1))
    return fpk_config_invalid(c, "ot", "eps_factor", err,
                              "expected a factor in (0, 1): eps_{k+1} = max(eps, factor eps_k)");
  if (!(omega == 0 || (omega >= 1 && omega < 2)))
    return fpk_config_invalid(c, "ot", "omega", err,
                              "expected 0 (automatic over-relaxation) or a value in [1, 2)");
  p->omega = omega;

  /* kernel: auto or a back-end name, from the library's list */
  const char *names[16] = {"auto"};
  size_t nk = 1;
  for (size_t k = 0; fpk_ot_kernel_types[k] && nk < 15; k++) names[nk++] = fpk_ot_kernel_types[k]->name;
  names[nk] = NULL;
  r->kernel = 0;
  if ((rc = fpk_config_choice(c, "ot", "kernel", 0, names, &r->kernel, err))) return rc;

  r->normalize = 0;
  if ((rc = fpk_config_bool(c, "ot", "normalize", 0, &r->normalize, err))) return rc;
  static const char *const costs[] = {"sqeuclid", "half", NULL};
  size_t cost = 0;
  if ((rc = fpk_config_choice(c, "ot", "cost", 0, costs, &cost, err))) return rc;
  r->half = cost == 1;
  r->divergence = 0;
  r->plan = 0;
  if ((rc = fpk_config_bool(c, "ot", "divergence", 0, &r->divergence, err)) ||
      (rc = fpk_config_bool(c, "ot", "plan", 0, &r->plan, err)))
    return rc;
  static const char *const pots[] = {"none", "last", "all", NULL};
  r->potentials = POT_LAST;
  return fpk_config_choice(c, "ot", "potentials", 0, pots, &r->potentials, err);
}

static int read_config(fpk_config *c, const fpk_run_options *opt, ot_run *r, char *default_out,
                       size_t len, fpk_error *err) {
  int rc;
  if ((rc = read_ot(c, r, err))) return rc;
  r->src.section = "source";
  r->tgt.section = "target";
  marginal *ms[2] = {&r->src, &r->tgt};
  for (int i = 0; i < 2; i++)
    if ((rc = fpk_config_choice(c, ms[i]->section, "type", 1, fpk_app_marginal_types, &ms[i]->type, err)))
      return rc;
  /* The grid: [grid], or the grid of the HDF5 file(s); all must agree. */
  if (fpk_app_grid_given(c)) {
    if ((rc = fpk_app_read_box_grid(c, &r->grid, err))) return rc;
    r->have_grid = 1;
  }
  for (int i = 0; i < 2; i++) {
    marginal *m = ms[i];
    if (m->type != FPK_APP_MARGINAL_HDF5) continue;
    if ((rc = fpk_app_marginal_read_hdf5(c, m, err))) return rc;
    if (!r->have_grid) {
      r->grid = m->fgrid;
      r->have_grid = 1;
    } else if (!fpk_grid_equal(&r->grid, &m->fgrid)) {
      char a[160], b[160];
      fpk_grid_describe(&m->fgrid, 0, a, sizeof a);
      fpk_grid_describe(&r->grid, 0, b, sizeof b);
      return fpk_config_invalid(c, m->section, "file", err,
                                "its grid (%s) differs from the %s grid (%s): source and target "
                                "must live on the same grid",
                                a, i == 1 && r->src.type == FPK_APP_MARGINAL_HDF5 ? "[source] file's" : "[grid]",
                                b);
    }
  }
  if (!r->have_grid)
    return fpk_error_set(err, FPK_EINVAL,
                         "%s: [grid] dim, n, lo, hi are required (neither [source] nor [target] "
                         "is an HDF5 file that would give the grid)",
                         fpk_config_name(c));
  if (r->grid.dim > 2)
    return fpk_error_set(err, FPK_EINVAL, "%s: the grid is %zu-dimensional; fpkit ot handles 1 "
                         "and 2", fpk_config_name(c), r->grid.dim);
  for (int i = 0; i < 2; i++)
    if (ms[i]->type != FPK_APP_MARGINAL_HDF5 && (rc = fpk_app_marginal_read_spec(c, ms[i], &r->grid, err))) return rc;

  /* Time loop: a marginal with time = all; two must have the same times. */
  r->time_loop = r->src.all || r->tgt.all;
  r->nt = r->src.nt > r->tgt.nt ? r->src.nt : r->tgt.nt;
  r->t = r->src.all ? r->src.t : r->tgt.t;
  if (r->src.all && r->tgt.all) {
    if (r->src.nt != r->tgt.nt)
      return fpk_config_invalid(c, "target", "time", err,
                                "the target has %zu times and the source %zu: with time = all "
                                "on both they are paired one to one", r->tgt.nt, r->src.nt);
    for (size_t k = 0; k < r->nt; k++)
      if (!(fabs(r->src.t[k] - r->tgt.t[k]) <= 1e-12 * fmax(1, fabs(r->src.t[k]))) &&
          !(isnan(r->src.t[k]) && isnan(r->tgt.t[k])))
        return fpk_config_invalid(c, "target", "time", err,
                                  "time %zu of the target (%g) differs from the source's (%g)", k,
                                  r->tgt.t[k], r->src.t[k]);
  }
  /* Masses: refused unless normalize (the solver's rule: within 1e-9 of 1). */
  r->max_mass_diff = 0;
  for (size_t k = 0; k < r->nt; k++) {
    const double ma = r->src.mass[r->src.nt > 1 ? k : 0], mb = r->tgt.mass[r->tgt.nt > 1 ? k : 0];
    const double dev = fmax(fabs(ma - mb), fmax(fabs(ma - 1), fabs(mb - 1)));
    if (fabs(ma - mb) > r->max_mass_diff) r->max_mass_diff = fabs(ma - mb), r->max_mass_k = k;
    if (!r->normalize && dev > MASS_TOL) {
      char at[64] = "";
      if (r->time_loop) snprintf(at, sizeof at, " at time index %zu (t = %g)", k, r->t[k]);
      return fpk_config_invalid(c, "ot", "normalize", err,
                                "the marginals have masses %.12g (source) and %.12g (target)%s, "
                                "%s by %.3g; both must be 1 within %g (normalize = true rescales "
                                "them and records the difference)",
                                ma, mb, at, fabs(ma - mb) > MASS_TOL ? "differing" : "off 1",
                                fabs(ma - mb) > MASS_TOL ? fabs(ma - mb) : dev, MASS_TOL);
    }
  }

  const int both_gauss = r->src.type == FPK_APP_MARGINAL_GAUSSIAN && r->tgt.type == FPK_APP_MARGINAL_GAUSSIAN;
  r->exact = both_gauss;
  if ((rc = fpk_config_bool(c, "ot", "exact", 0, &r->exact, err))) return rc;
  if (r->exact && !both_gauss)
    return fpk_config_invalid(c, "ot", "exact", err,
                              "closed forms exist only between two Gaussians (source is %s, "
                              "target %s)", fpk_app_marginal_types[r->src.type],
                              fpk_app_marginal_types[r->tgt.type]);
  if (r->plan) {
    const double entries = (double)r->grid.size * (double)r->grid.size;
    if (entries > (double)PLAN_MAX_ENTRIES)
      return fpk_config_invalid(c, "ot", "plan", err,
                                "the plan of %zu cells has %.3g entries (%.3g bytes); at most "
                                "%zu entries (%zu cells) are written", r->grid.size, entries,
                                8 * entries, PLAN_MAX_ENTRIES, (size_t)4096);
  }
  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(default_out, len, "results/%.*s.h5", (int)strcspn(base, "."), base);
  r->output = default_out;
  if ((rc = fpk_config_string(c, "output", "file", 0, &r->output, err))) return rc;
  if (opt->output) r->output = opt->output;
  return fpk_config_check_unused(c, err);
}

/* ------------------------------------------------------------------------- solving */

/* The back-end at the final stage: the last "kernel NAME" line of a solve's log, then any later
 * "NAME refused a product" moves on to the next back-end in fallback order. */
static void final_kernel(const char *log, char *out, size_t len) {
  snprintf(out, len, "?");
  int active = -1;
  for (const char *line = log; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 511 ? n : 511), line);
    const char *k = strstr(buf, " kernel ");
    if (strstr(buf, "centred large-eps products")) {
      snprintf(out, len, "centred");
      active = -2;
    } else if (k) {
      int known = 0;
      for (int i = 0; fpk_ot_kernel_types[i]; i++)
        if (!strcmp(k + 8, fpk_ot_kernel_types[i]->name)) active = i, known = 1;
      if (!known && !strstr(buf, "refused") && !strchr(k + 8, ' ')) {
        /* "  eps E kernel NAME" for the solver's internal blas-lines product (docs/ot.md) */
        snprintf(out, len, "%s", k + 8);
        active = -2;
      }
    } else if (active >= 0 && strstr(buf, "refused a product")) {
      for (int i = active + 1; fpk_ot_kernel_types[i]; i++)
        if (strstr(buf, fpk_ot_kernel_types[i - 1]->name)) {
          active = i;
          break;
        }
    }
    line = nl ? nl + 1 : NULL;
  }
  if (active >= 0) snprintf(out, len, "%s", fpk_ot_kernel_types[active]->name);
}


static void print_fallbacks(const ot_run *r, const fpk_run_options *opt, const char *label,
                            const char *log) {
  if (opt->quiet) return;
  for (const char *line = log; line && *line;) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < 511 ? n : 511), line);
    if (strstr(buf, "refused")) printf("fallback %s:%s\n", label, buf);
    line = nl ? nl + 1 : NULL;
  }
  (void)r;
}

/* The solver's parameters for user ε (cost = half: solve at 2ε). */
static fpk_ot_params solve_params(const ot_run *r, double eps) {
  fpk_ot_params q = r->par;
  const double s = r->half ? 2.0 : 1.0;
  q.eps = s * eps;
  q.eps_start = s * r->par.eps_start;
  q.normalize = 1; /* the masses were checked against [ot] normalize when reading */
  q.warm_start = 0;
  return q;
}

static int alloc_results(ot_run *r, fpk_error *err) {
  const size_t S = nsolves(r), d = r->grid.dim, N = r->grid.size;
  double **one[] = {&r->primal, &r->dual,  &r->cost,  &r->kl,    &r->err_a,   &r->err_b,
                    &r->iters,  &r->stages, &r->conv, &r->omega, &r->secs,    &r->fallbacks,
                    &r->div,    &r->ot_aa, &r->ot_bb, &r->conv_aa, &r->conv_bb, &r->iters_aa,
                    &r->iters_bb};
  int bad = 0;
  for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
    *one[i] = malloc(S * sizeof(double));
    bad |= !*one[i];
    for (size_t s = 0; *one[i] && s < S; s++) (*one[i])[s] = NAN;
  }
  r->mean_x = calloc(S * d, sizeof(double));
  r->mean_y = calloc(S * d, sizeof(double));
  r->cov_x = calloc(S * d * d, sizeof(double));
  r->cov_y = calloc(S * d * d, sizeof(double));
  r->cross = calloc(S * d * d, sizeof(double));
  r->hist = calloc(S, sizeof *r->hist);
  r->hist_len = calloc(S, sizeof *r->hist_len);
  r->logs = calloc(S, sizeof *r->logs);
  r->kernels = calloc(S, sizeof *r->kernels);
  const size_t npot = r->potentials == POT_ALL ? S * N : N;
  r->f = calloc(npot, sizeof(double));
  r->g = calloc(npot, sizeof(double));
  if (r->plan) r->planv = malloc(N * N * sizeof(double));
  if (d == 1) r->w2_1d = malloc(r->nt * sizeof(double));
  bad |= !r->mean_x || !r->mean_y || !r->cov_x || !r->cov_y || !r->cross || !r->hist ||
         !r->hist_len || !r->logs || !r->kernels || !r->f || !r->g || (r->plan && !r->planv) ||
         (d == 1 && !r->w2_1d);
  return bad ? fpk_error_set(err, FPK_ENOMEM, "out of memory for the results") : FPK_SUCCESS;
}

static const double *field(const marginal *m, size_t k, size_t N) {
  return m->p + (m->nt > 1 ? k : 0) * N;
}

static void solve_label(const ot_run *r, size_t k, size_t j, char *buf, size_t len) {
  if (r->time_loop)
    snprintf(buf, len, "t = %g (time %zu), eps = %g", r->t[k], k, r->eps[j]);
  else
    snprintf(buf, len, "eps = %g", r->eps[j]);
}

/* Self term OT_ε(m, m) at time k, ε index j (user's convention), solved once per field. */
typedef struct self_cache {
  double *val, *conv, *iters; /* [nt_m][neps] */
  double *excess;             /* dual − ⟨p⊗p, C⟩ without cancellation (fpk_ot_result.excess) */
} self_cache;

static int self_term(ot_run *r, fpk_ot_grid *w, const fpk_run_options *opt, const marginal *m,
                     self_cache *cache, size_t k, size_t j, double *f, double *g,
                     fpk_error *err) {
  const size_t km = m->nt > 1 ? k : 0, idx = km * r->neps + j, N = r->grid.size;
  if (!isnan(cache->val[idx])) return FPK_SUCCESS;
  const double *p = field(m, k, N);
  fpk_ot_params q = solve_params(r, r->eps[j]);
  fpk_ot_result res;
  const int st = fpk_ot_grid_solve(w, p, p, &q, f, g, &res);
  if (st)
    return fpk_error_set(err, st, "ot: OT(%s, %s) at eps = %g: %s", m->section, m->section,
                         r->eps[j], fpk_ot_grid_errmsg(w));
  cache->val[idx] = (r->half ? 0.5 : 1.0) * res.dual;
  cache->excess[idx] = res.excess;
  cache->conv[idx] = res.converged;
  cache->iters[idx] = (double)res.iterations;
  char label[160];
  solve_label(r, k, j, label, sizeof label);
  text_printf(&r->klog, "%s: OT(%s, %s)\n%s", label, m->section, m->section,
            fpk_ot_grid_log(w));
  char lab2[200];
  snprintf(lab2, sizeof lab2, " [%s, OT(%s, %s)]", label, m->section, m->section);
  print_fallbacks(r, opt, lab2, fpk_ot_grid_log(w));
  r->total_fallbacks += fpk_ot_grid_fallbacks(w);
  return FPK_SUCCESS;
}

/* |m_a − m_b|² between the means of the (normalised) cell probabilities a and b. */
static double mean_gap_sq(const fpk_grid *g, const double *a, const double *b) {
  double ma[FPK_MAX_DIM] = {0}, mb[FPK_MAX_DIM] = {0}, sa = 0.0, sb = 0.0, x[FPK_MAX_DIM];
  for (size_t i = 0; i < g->size; i++) {
    fpk_grid_point(g, i, x);
    sa += a[i], sb += b[i];
    for (size_t k = 0; k < g->dim; k++) ma[k] += a[i] * x[k], mb[k] += b[i] * x[k];
  }
  double gap = 0.0;
  for (size_t k = 0; k < g->dim; k++) gap += (ma[k] / sa - mb[k] / sb) * (ma[k] / sa - mb[k] / sb);
  return gap;
}

static int run_solves(ot_run *r, const fpk_run_options *opt, fpk_error *err) {
  const size_t N = r->grid.size, d = r->grid.dim, neps = r->neps;
  const fpk_ot_kernel_type *kt = r->kernel ? fpk_ot_kernel_types[r->kernel - 1] : NULL;
  fpk_ot_grid *w = fpk_ot_grid_alloc(&r->grid, kt, err);
  if (!w) return err->status;
  double *f = malloc(N * sizeof *f), *g = malloc(N * sizeof *g);
  double *f2 = malloc(N * sizeof *f2), *g2 = malloc(N * sizeof *g2);
  double *an = malloc(N * sizeof *an), *bn = malloc(N * sizeof *bn);
  self_cache ca = {0}, cb = {0};
  int rc = FPK_SUCCESS;
  if (r->divergence) {
    const size_t na = r->src.nt * neps, nb = r->tgt.nt * neps;
    ca.val = malloc(na * sizeof(double)), ca.conv = malloc(na * sizeof(double));
    ca.iters = malloc(na * sizeof(double)), ca.excess = malloc(na * sizeof(double));
    cb.val = malloc(nb * sizeof(double)), cb.conv = malloc(nb * sizeof(double));
    cb.iters = malloc(nb * sizeof(double)), cb.excess = malloc(nb * sizeof(double));
    if (ca.val && cb.val) {
      for (size_t i = 0; i < na; i++) ca.val[i] = NAN;
      for (size_t i = 0; i < nb; i++) cb.val[i] = NAN;
    }
    if (!ca.val || !ca.conv || !ca.iters || !ca.excess || !cb.val || !cb.conv || !cb.iters ||
        !cb.excess)
      rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  }
  if (!f || !g || !f2 || !g2 || !an || !bn) rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  const double half = r->half ? 0.5 : 1.0;
  const double t_all = omp_get_wtime();
  fpk_app_progress bar;
  fpk_app_progress_start(&bar, opt->progress, "ot", "solves", nsolves(r), 0);
  for (size_t k = 0; !rc && k < r->nt; k++) {
    const double *a = field(&r->src, k, N), *b = field(&r->tgt, k, N);
    if (d == 1) {
      /* exact W2² between the piecewise-uniform cell densities (no ε) */
      double sa = 0, sb = 0, w2 = NAN;
      for (size_t i = 0; i < N; i++) sa += a[i], sb += b[i];
      for (size_t i = 0; i < N; i++) an[i] = a[i] / sa, bn[i] = b[i] / sb;
      if ((rc = fpk_ot_1d_cells(&r->grid, an, &r->grid, bn, 2, &w2, err))) break;
      r->w2_1d[k] = half * w2;
    }
    for (size_t j = 0; !rc && j < neps; j++) {
      const size_t s = k * neps + j;
      char label[160];
      solve_label(r, k, j, label, sizeof label);
      snprintf(bar.phase, sizeof bar.phase, "ot %s", label);
      fpk_app_progress_update(&bar, s);
      fpk_ot_params q = solve_params(r, r->eps[j]);
      /* on a terminal, the iterations of this solve (a long one can take minutes); plain
       * output and the log keep one line per solve */
      fpk_app_progress iters;
      char phase[sizeof iters.phase];
      snprintf(phase, sizeof phase, "ot %s (%zu/%zu)", label, s + 1, nsolves(r));
      const int bar_on = opt->progress == FPK_PROGRESS_BAR;
      if (bar_on) {
        fpk_app_progress_start(&iters, FPK_PROGRESS_BAR, phase, "iterations", 0, 0);
        q.progress = fpk_app_progress_cb;
        q.progress_user = &iters;
      }
      fpk_ot_result res;
      const double t0 = omp_get_wtime();
      const int st = fpk_ot_grid_solve(w, a, b, &q, f, g, &res);
      if (bar_on) fpk_app_progress_end(&iters);
      if (st) { /* FPK_ENUMERIC: the solve's output guard (docs/ot.md) */
        rc = fpk_error_set(err, st, "ot: %s: %s", label, fpk_ot_grid_errmsg(w));
        break;
      }
      r->secs[s] = omp_get_wtime() - t0;
      const char *log = fpk_ot_grid_log(w);
      r->logs[s] = dupstr(log);
      char kname[32];
      final_kernel(log, kname, sizeof kname);
      r->kernels[s] = dupstr(kname);
      text_printf(&r->klog, "%s: OT(source, target)\n%s", label, log);
      char lab2[200];
      snprintf(lab2, sizeof lab2, " [%s]", label);
      print_fallbacks(r, opt, lab2, log);
      r->fallbacks[s] = (double)fpk_ot_grid_fallbacks(w);
      r->total_fallbacks += fpk_ot_grid_fallbacks(w);
      size_t hn = 0;
      const double *h = fpk_ot_grid_history(w, &hn);
      r->hist[s] = malloc((hn ? hn : 1) * sizeof(double));
      if (!r->logs[s] || !r->kernels[s] || !r->hist[s]) {
        rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
        break;
      }
      memcpy(r->hist[s], h, hn * sizeof(double));
      r->hist_len[s] = hn;
      r->primal[s] = half * res.primal;
      r->dual[s] = half * res.dual;
      r->cost[s] = half * res.cost;
      r->kl[s] = res.kl;
      r->err_a[s] = res.err_a;
      r->err_b[s] = res.err_b;
      r->iters[s] = (double)res.iterations;
      r->stages[s] = (double)res.stages;
      r->conv[s] = res.converged;
      r->omega[s] = res.omega;
      if (!res.converged) r->unconverged++;
      fpk_ot_moments mo;
      if (fpk_ot_grid_moments(w, a, b, f, g, q.eps, &mo)) {
        rc = fpk_error_set(err, FPK_ENUMERIC, "ot: %s: plan moments: %s", label,
                           fpk_ot_grid_errmsg(w));
        break;
      }
      memcpy(r->mean_x + s * d, mo.mean_x, d * sizeof(double));
      memcpy(r->mean_y + s * d, mo.mean_y, d * sizeof(double));
      memcpy(r->cov_x + s * d * d, mo.cov_x, d * d * sizeof(double));
      memcpy(r->cov_y + s * d * d, mo.cov_y, d * d * sizeof(double));
      memcpy(r->cross + s * d * d, mo.cross, d * d * sizeof(double));
      const int last = s + 1 == nsolves(r);
      if (r->potentials == POT_ALL || (r->potentials == POT_LAST && last)) {
        double *fo = r->f + (r->potentials == POT_ALL ? s * N : 0);
        double *go = r->g + (r->potentials == POT_ALL ? s * N : 0);
        for (size_t i = 0; i < N; i++) fo[i] = half * f[i], go[i] = half * g[i];
      }
      if (r->plan && last && fpk_ot_grid_plan(w, a, b, f, g, q.eps, r->planv)) {
        rc = fpk_error_set(err, FPK_ENUMERIC, "ot: %s: plan: %s", label, fpk_ot_grid_errmsg(w));
        break;
      }
      if (r->divergence) {
        if ((rc = self_term(r, w, opt, &r->src, &ca, k, j, f2, g2, err)) ||
            (rc = self_term(r, w, opt, &r->tgt, &cb, k, j, f2, g2, err)))
          break;
        const size_t ia = (r->src.nt > 1 ? k : 0) * neps + j, ib = (r->tgt.nt > 1 ? k : 0) * neps + j;
        r->ot_aa[s] = ca.val[ia];
        r->ot_bb[s] = cb.val[ib];
        r->conv_aa[s] = ca.conv[ia];
        r->conv_bb[s] = cb.conv[ib];
        r->iters_aa[s] = ca.iters[ia];
        r->iters_bb[s] = cb.iters[ib];
        /* S_ε = |m_a − m_b|² + excess_ab − ½(excess_aa + excess_bb): the bases ⟨a⊗b, C⟩
         * cancel to the squared mean difference, so S_ε keeps its relative accuracy at any ε,
         * where dual − ½(OT_aa + OT_bb) would lose it to the cancellation of the bases. */
        r->div[s] = half * (mean_gap_sq(&r->grid, a, b) + res.excess -
                            0.5 * (ca.excess[ia] + cb.excess[ib]));
      }
    }
  }
  snprintf(bar.phase, sizeof bar.phase, "ot");
  if (!rc) bar.done = nsolves(r);
  fpk_app_progress_end(&bar);
  r->wall = omp_get_wtime() - t_all;
  if (!rc && r->divergence) { /* unconverged self terms, each counted once */
    for (size_t i = 0; i < r->src.nt * neps; i++) r->unconverged += ca.conv[i] == 0;
    for (size_t i = 0; i < r->tgt.nt * neps; i++) r->unconverged += cb.conv[i] == 0;
  }
  free(ca.val), free(ca.conv), free(ca.iters), free(ca.excess);
  free(cb.val), free(cb.conv), free(cb.iters), free(cb.excess);
  free(f), free(g), free(f2), free(g2), free(an), free(bn);
  fpk_ot_grid_free(w);
  return rc;
}

static int run_exact(ot_run *r, fpk_error *err) {
  const size_t d = r->grid.dim;
  const double s = r->half ? 2.0 : 1.0, half = r->half ? 0.5 : 1.0;
  int rc;
  for (size_t j = 0; j < r->neps; j++) {
    double v, sd;
    if ((rc = fpk_gaussian_entropic_ot(&r->src.gauss, &r->tgt.gauss, s * r->eps[j], &v,
                                       r->ex_cross + j * d * d, err)) ||
        (rc = fpk_gaussian_sinkhorn_divergence(&r->src.gauss, &r->tgt.gauss, s * r->eps[j], &sd,
                                               err)))
      return rc;
    r->ex_value[j] = half * v;
    r->ex_div[j] = half * sd;
  }
  double w2;
  if ((rc = fpk_gaussian_w2sq(&r->src.gauss, &r->tgt.gauss, &w2, err))) return rc;
  r->ex_w2sq = half * w2;
  return FPK_SUCCESS;
}

static double rel(double x, double ref) { return fabs(x - ref) / fabs(ref); }

static double rel_matrix(size_t d, const double *x, const double *ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < d * d; i++) {
    num += (x[i] - ref[i]) * (x[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return sqrt(num / den);
}

/* ------------------------------------------------------------------------- output */

/* A per-solve dataset: [nt][neps][inner...] with a time loop, else [neps][inner...]. */
static int write_solves(fpk_h5 *f, const ot_run *r, const char *name, size_t ninner,
                        const size_t *inner, const double *data, const char *units,
                        const char *desc) {
  size_t dims[8], k = 0;
  if (r->time_loop) dims[k++] = r->nt;
  dims[k++] = r->neps;
  for (size_t i = 0; i < ninner; i++) dims[k++] = inner[i];
  int rc = fpk_h5_write(f, name, k, dims, data, units, desc);
  /* dimension scales: [t] eps [component [component2]] */
  char names[64];
  snprintf(names, sizeof names, "%s%s%s", r->time_loop ? "t eps" : "eps",
           ninner >= 1 ? " component" : "", ninner >= 2 ? " component2" : "");
  return rc ? rc : fpk_h5_attach_scales(f, name, names);
}

/* A field on the grid: [ny][nx] (prefix dims first, their dimension scales named by
 * pre_dims: "t eps", "t", ""). */
static int write_field(fpk_h5 *f, const ot_run *r, const char *name, size_t npre,
                       const size_t *pre, const char *pre_dims, const double *data,
                       const char *units, const char *desc) {
  size_t dims[8], k = 0;
  for (size_t i = 0; i < npre; i++) dims[k++] = pre[i];
  for (size_t a = r->grid.dim; a-- > 0;) dims[k++] = r->grid.n[a];
  int rc = fpk_h5_write(f, name, k, dims, data, units, desc);
  char names[64];
  snprintf(names, sizeof names, "%s%s%s", pre_dims, pre_dims[0] ? " " : "",
           r->grid.dim == 1 ? "x" : r->grid.dim == 2 ? "y x" : "z y x");
  return rc ? rc : fpk_h5_attach_scales(f, name, names);
}

static int write_grid(fpk_h5 *f, const fpk_grid *g) {
  static const char *axis[] = {"x", "y", "z"};
  int rc = fpk_h5_group(f, "/grid", "uniform cell-centred grid; fields are indexed [y][x]");
  for (size_t a = 0; a < g->dim && !rc; a++) {
    double *c = malloc(g->n[a] * sizeof *c);
    if (!c) return FPK_ENOMEM;
    for (size_t i = 0; i < g->n[a]; i++) c[i] = fpk_grid_center(g, a, i);
    char name[32], desc[128];
    snprintf(name, sizeof name, "/grid/%s", axis[a]);
    snprintf(desc, sizeof desc, "cell centres along %s; cells [lo + i h, lo + (i+1) h]", axis[a]);
    rc = fpk_h5_write_scale(f, name, g->n[a], c, "length", desc);
    free(c);
    if (!rc) rc = fpk_h5_attr_double(f, name, "lo", g->lo[a]);
    if (!rc) rc = fpk_h5_attr_double(f, name, "hi", g->hi[a]);
  }
  /* the index axes of the moments, seen by every group (netCDF-4 dimensions of the root) */
  if (!rc) rc = fpk_h5_index_dim(f, "/component", g->dim);
  if (!rc) rc = fpk_h5_index_dim(f, "/component2", g->dim);
  return rc;
}

static int write_marginal(fpk_h5 *f, const ot_run *r, const marginal *m, const char *name,
                          const char *mass_name) {
  const size_t pre = m->nt;
  char desc[768];
  snprintf(desc, sizeof desc, "%s marginal: cell probabilities as given (%s)%s", m->section,
           m->what, m->all ? ", [t][...]" : "");
  int rc = write_field(f, r, name, m->all ? 1 : 0, &pre, m->all ? "t" : "", m->p, NULL, desc);
  if (!rc) rc = fpk_h5_write(f, mass_name, 1, &pre, m->mass, NULL,
                             "sum of the cell probabilities (per time with time = all)");
  if (!rc) rc = fpk_h5_attach_scales(f, mass_name, m->all ? "t" : "one");
  if (!rc) rc = fpk_h5_attr_string(f, name, "source", m->what);
  if (!rc && m->type == FPK_APP_MARGINAL_HDF5) {
    rc = fpk_h5_attr_string(f, name, "file", m->file);
    if (!rc) rc = fpk_h5_attr_string(f, name, "dataset", m->dataset);
    if (!rc && m->clip) rc = fpk_h5_attr_double(f, name, "clipped_mass", m->clipped);
  }
  return rc;
}


static int write_results(fpk_h5 *f, const ot_run *r) {
  const size_t d = r->grid.dim, dv[1] = {d}, dd[2] = {d, d}, N = r->grid.size, S = nsolves(r);
  const char *grp = "/ot";
  int rc = fpk_h5_group(f, grp, r->half ? "entropic OT, cost |x - y|^2 / 2 (solved as |x - y|^2 "
                                          "at 2 eps, value, cost and potentials halved)"
                                        : "entropic OT, cost |x - y|^2");
  if (!rc) rc = fpk_h5_write_scale(f, "/ot/eps", r->neps, r->eps, "length^2",
                             "regularisation eps of each solve (the cost convention of [ot] cost)");
  if (!rc && r->time_loop)
    rc = fpk_h5_write_undefined(f, "/ot/t", 1, &r->nt, r->t, "time",
                                "times of the marginals (NaN where the file has no t beside the "
                                "dataset)",
                                "the file has no times beside the dataset");
  if (!rc && r->time_loop) rc = fpk_h5_make_scale(f, "/ot/t");
  /* a length-1 axis (a marginal without a time loop, w2sq) */
  if (!rc) rc = fpk_h5_index_dim(f, "/ot/one", 1);
  double *spi = malloc(S * sizeof *spi);
  if (!spi) return FPK_ENOMEM;
  for (size_t s = 0; s < S; s++) spi[s] = r->secs[s] / fmax(1.0, r->iters[s]);
  const struct {
    const char *name;
    const double *v;
    const char *units, *desc;
  } sc[] = {
      {"primal", r->primal, "length^2", "OT_eps = <pi, C> + eps KL(pi | a x b) of the plan returned"},
      {"dual", r->dual, "length^2", "<f, a> + <g, b> - eps (sum a_i b_j e^{(f_i + g_j - C_ij)/eps} - 1)"},
      {"cost", r->cost, "length^2", "<pi, C>: the transport cost of the plan"},
      {"kl", r->kl, NULL, "KL(pi | a x b)"},
      {"err_a", r->err_a, NULL, "||pi 1 - a||_1 at return"},
      {"err_b", r->err_b, NULL, "||pi^T 1 - b||_1 at return"},
      {"iterations", r->iters, NULL, "Sinkhorn iterations over all eps-scaling stages"},
      {"stages", r->stages, NULL, "eps-scaling stages"},
      {"converged", r->conv, NULL, "1 when err_a + err_b <= tol at the final eps, else 0"},
      {"omega", r->omega, NULL, "over-relaxation in use at return"},
      {"seconds", r->secs, "s", "wall time of the solve (without moments, divergence, plan)"},
      {"seconds_per_iteration", spi, "s", "seconds / iterations"},
      {"fallbacks", r->fallbacks, NULL, "stages that fell back from the requested kernel back-end"},
  };
  for (size_t i = 0; !rc && i < sizeof sc / sizeof *sc; i++) {
    char name[64];
    snprintf(name, sizeof name, "/ot/%s", sc[i].name);
    rc = write_solves(f, r, name, 0, NULL, sc[i].v, sc[i].units, sc[i].desc);
  }
  free(spi);
  if (!rc) rc = write_solves(f, r, "/ot/mean_x", 1, dv, r->mean_x, "length", "mean of the plan's x (source) marginal");
  if (!rc) rc = write_solves(f, r, "/ot/mean_y", 1, dv, r->mean_y, "length", "mean of the plan's y (target) marginal");
  if (!rc) rc = write_solves(f, r, "/ot/cov_x", 2, dd, r->cov_x, "length^2", "covariance of the plan's x marginal");
  if (!rc) rc = write_solves(f, r, "/ot/cov_y", 2, dd, r->cov_y, "length^2", "covariance of the plan's y marginal");
  if (!rc) rc = write_solves(f, r, "/ot/cross", 2, dd, r->cross, "length^2",
                             "cross-covariance E[(x - mean_x)(y - mean_y)^T] of the plan, [a][b]");
  if (!rc && r->divergence) {
    rc = write_solves(f, r, "/ot/divergence", 0, NULL, r->div, "length^2",
                      "Sinkhorn divergence S_eps = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2, "
                      "from dual values");
    if (!rc) rc = write_solves(f, r, "/ot/ot_aa", 0, NULL, r->ot_aa, "length^2", "OT_eps(a, a) (dual)");
    if (!rc) rc = write_solves(f, r, "/ot/ot_bb", 0, NULL, r->ot_bb, "length^2", "OT_eps(b, b) (dual)");
    if (!rc) rc = write_solves(f, r, "/ot/converged_aa", 0, NULL, r->conv_aa, NULL, "OT(a, a) converged");
    if (!rc) rc = write_solves(f, r, "/ot/converged_bb", 0, NULL, r->conv_bb, NULL, "OT(b, b) converged");
    if (!rc) rc = write_solves(f, r, "/ot/iterations_aa", 0, NULL, r->iters_aa, NULL, "iterations of OT(a, a)");
    if (!rc) rc = write_solves(f, r, "/ot/iterations_bb", 0, NULL, r->iters_bb, NULL, "iterations of OT(b, b)");
  }
  if (!rc && r->potentials == POT_LAST) {
    rc = write_field(f, r, "/ot/f", 0, NULL, "", r->f, "length^2",
                     "dual potential f on the source cells, last solve (last time, last eps)");
    if (!rc) rc = write_field(f, r, "/ot/g", 0, NULL, "", r->g, "length^2",
                              "dual potential g on the target cells, last solve");
  } else if (!rc && r->potentials == POT_ALL) {
    size_t pre[2], np = 0;
    if (r->time_loop) pre[np++] = r->nt;
    pre[np++] = r->neps;
    const char *pd = r->time_loop ? "t eps" : "eps";
    rc = write_field(f, r, "/ot/f", np, pre, pd, r->f, "length^2", "dual potential f of every solve");
    if (!rc) rc = write_field(f, r, "/ot/g", np, pre, pd, r->g, "length^2", "dual potential g of every solve");
  }
  if (!rc) rc = fpk_h5_group(f, "/ot/history", "marginal error err_a + err_b at every check of each "
                                               "solve; attributes eps, time_index, kernel, log");
  text kernels = {0};
  for (size_t s = 0; !rc && s < S; s++) {
    if (!r->kernels[s]) continue; /* not solved: a run kept with --keep-failed */
    const size_t k = s / r->neps, j = s % r->neps;
    char name[64];
    if (r->time_loop) snprintf(name, sizeof name, "/ot/history/%zu_%zu", k, j);
    else snprintf(name, sizeof name, "/ot/history/%zu", j);
    rc = fpk_h5_write(f, name, 1, &r->hist_len[s], r->hist[s], NULL, NULL);
    /* each solve made its own number of checks: an index axis per history */
    char dim[80];
    snprintf(dim, sizeof dim, "/ot/history/checks_%s", name + strlen("/ot/history/"));
    if (!rc) rc = fpk_h5_index_dim(f, dim, r->hist_len[s]);
    if (!rc) rc = fpk_h5_attach_scales(f, name, strrchr(dim, '/') + 1);
    if (!rc) rc = fpk_h5_attr_double(f, name, "eps", r->eps[j]);
    if (!rc) rc = fpk_h5_attr_u64(f, name, "time_index", k);
    if (!rc) rc = fpk_h5_attr_string(f, name, "kernel", r->kernels[s]);
    if (!rc) rc = fpk_h5_attr_string(f, name, "log", r->logs[s]);
    text_printf(&kernels, "%s%s", s ? " " : "", r->kernels[s]);
  }
  text_close(&kernels);
  if (!rc) rc = write_marginal(f, r, &r->src, "/ot/a", "/ot/mass_a");
  if (!rc) rc = write_marginal(f, r, &r->tgt, "/ot/b", "/ot/mass_b");
  if (!rc && d == 1)
    rc = fpk_h5_write(f, "/ot/w2sq_1d_cells", 1, &r->nt, r->w2_1d, "length^2",
                      "exact W2^2 between the marginals as piecewise-uniform cell densities "
                      "(fpk_ot_1d_cells, no eps; halved for cost = half), per time");
  if (!rc && d == 1)
    rc = fpk_h5_attach_scales(f, "/ot/w2sq_1d_cells", r->time_loop ? "t" : "one");
  if (!rc && r->plan) {
    const size_t pd[2] = {N, N};
    rc = fpk_h5_write(f, "/ot/plan", 2, pd, r->planv, NULL,
                      "plan pi[i][j] of the last solve, i = source cell, j = target cell (flat "
                      "indices, x fastest)");
    if (!rc) rc = fpk_h5_index_dim(f, "/ot/source_cell", N);
    if (!rc) rc = fpk_h5_index_dim(f, "/ot/target_cell", N);
    if (!rc) rc = fpk_h5_attach_scales(f, "/ot/plan", "source_cell target_cell");
  }
  if (!rc && r->exact) {
    const size_t ne = r->neps, one = 1;
    double re_p[MAX_EPS], re_d[MAX_EPS], re_c[MAX_EPS], re_s[MAX_EPS];
    for (size_t j = 0; j < ne; j++) {
      re_p[j] = rel(r->primal[j], r->ex_value[j]);
      re_d[j] = rel(r->dual[j], r->ex_value[j]);
      re_c[j] = rel_matrix(d, r->cross + j * d * d, r->ex_cross + j * d * d);
      re_s[j] = r->divergence ? rel(r->div[j], r->ex_div[j]) : NAN;
    }
    const size_t ed[3] = {ne, d, d};
    rc = fpk_h5_group(f, "/ot/exact", "closed forms between the two Gaussians (continuous laws "
                                      "on R^d; Janati et al. 2020), fpk_gaussian_* of fpkit/ot.h");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/value", 1, &ne, r->ex_value, "length^2", "OT_eps");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/cross", 3, ed, r->ex_cross, "length^2",
                               "cross-covariance of the entropic plan");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/divergence", 1, &ne, r->ex_div, "length^2", "S_eps");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/w2sq", 1, &one, &r->ex_w2sq, "length^2",
                               "W2^2 (Bures; halved for cost = half)");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/rel_error_primal", 1, &ne, re_p, NULL, "|primal - value| / |value|");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/rel_error_dual", 1, &ne, re_d, NULL, "|dual - value| / |value|");
    if (!rc) rc = fpk_h5_write(f, "/ot/exact/rel_error_cross", 1, &ne, re_c, NULL,
                               "||cross - exact cross||_F / ||exact cross||_F");
    if (!rc && r->divergence)
      rc = fpk_h5_write(f, "/ot/exact/rel_error_divergence", 1, &ne, re_s, NULL,
                        "|divergence - exact| / |exact|");
    /* dimension scales: eps (copied from /ot/eps into this group), the moments' components */
    static const char *const dims[][2] = {
        {"value", "eps"}, {"cross", "eps component component2"}, {"divergence", "eps"},
        {"w2sq", "one"},  {"rel_error_primal", "eps"},           {"rel_error_dual", "eps"},
        {"rel_error_cross", "eps"}, {"rel_error_divergence", "eps"}};
    for (size_t i = 0; !rc && i < sizeof dims / sizeof *dims; i++) {
      if (!r->divergence && !strcmp(dims[i][0], "rel_error_divergence")) continue;
      char name[64];
      snprintf(name, sizeof name, "/ot/exact/%s", dims[i][0]);
      rc = fpk_h5_attach_scales(f, name, dims[i][1]);
    }
    if (!rc) rc = fpk_h5_attr_double(f, "/ot/exact", "w2sq", r->ex_w2sq);
  }
  const char *kname = r->kernel ? fpk_ot_kernel_types[r->kernel - 1]->name : "auto";
  if (!rc) rc = fpk_h5_attr_string(f, grp, "cost", r->half ? "half" : "sqeuclid");
  if (!rc) rc = fpk_h5_attr_string(f, grp, "kernel", kname);
  if (!rc) rc = fpk_h5_attr_string(f, grp, "kernels_used", text_str(&kernels));
  if (!rc) rc = fpk_h5_attr_string(f, grp, "kernel_log", text_str(&r->klog));
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "fallbacks", r->total_fallbacks);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "converged", r->unconverged == 0);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "unconverged", r->unconverged);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "normalize", (uint64_t)r->normalize);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "mass_difference", r->max_mass_diff);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "tol", r->par.tol);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "max_iter", r->par.max_iter);
  if (!rc) rc = fpk_h5_attr_string(f, grp, "source", r->src.what);
  if (!rc) rc = fpk_h5_attr_string(f, grp, "target", r->tgt.what);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "dim", d);
  if (!rc) rc = fpk_h5_attr_u64(f, grp, "cells", N);
  if (!rc) rc = fpk_h5_attr_double(f, grp, "wall_seconds", r->wall);
  text_free(&kernels);
  return rc;
}

/* ------------------------------------------------------------------------- summary */

static void print_summary(const ot_run *r) {
  char gd[160];
  fpk_grid_describe(&r->grid, 0, gd, sizeof gd);
  printf("ot          source: %s\n", r->src.what);
  printf("            target: %s\n", r->tgt.what);
  printf("            %s, cost %s, kernel %s, tol %g (%.2f s)\n", gd,
         r->half ? "|x - y|^2 / 2" : "|x - y|^2",
         r->kernel ? fpk_ot_kernel_types[r->kernel - 1]->name : "auto", r->par.tol, r->wall);
  if (r->time_loop) printf("%10s ", "t");
  printf("%10s %14s %10s %10s %8s %9s %9s %6s %3s %4s", "eps", "OT_eps", "dual-primal",
         "err", "iter", "seconds", "ms/iter", "kernel", "fb", "conv");
  if (r->exact) printf(" %11s %11s", "relerr OT", "relerr C");
  if (r->divergence) printf(" %13s", "S_eps");
  if (r->exact && r->divergence) printf(" %11s", "relerr S");
  printf("\n");
  for (size_t s = 0; s < nsolves(r); s++) {
    const size_t k = s / r->neps, j = s % r->neps, d = r->grid.dim;
    if (r->time_loop) printf("%10.4g ", r->t[k]);
    printf("%10.4g %14.8g %10.2e %10.2e %8.0f %9.3f %9.4f %6s %3.0f %4s", r->eps[j], r->primal[s],
           r->dual[s] - r->primal[s], r->err_a[s] + r->err_b[s], r->iters[s], r->secs[s],
           1e3 * r->secs[s] / fmax(1, r->iters[s]), r->kernels[s], r->fallbacks[s],
           r->conv[s] ? "yes" : "NO");
    if (r->exact)
      printf(" %11.2e %11.2e", rel(r->primal[s], r->ex_value[j]),
             rel_matrix(d, r->cross + s * d * d, r->ex_cross + j * d * d));
    if (r->divergence) printf(" %13.6e", r->div[s]);
    if (r->exact && r->divergence) printf(" %11.2e", rel(r->div[s], r->ex_div[j]));
    printf("\n");
  }
  if (r->exact) printf("exact       W2^2 = %.10g (Bures); OT_eps, cross-covariance, S_eps in closed "
                       "form (/ot/exact)\n", r->ex_w2sq);
  if (r->grid.dim == 1) {
    printf("1D          W2^2 between the cell densities (fpk_ot_1d_cells):");
    for (size_t k = 0; k < r->nt && k < 8; k++) printf(" %.10g", r->w2_1d[k]);
    printf("%s\n", r->nt > 8 ? " ..." : "");
  }
}

/* ------------------------------------------------------------------------- driver */

static void release(ot_run *r) {
  marginal *ms[2] = {&r->src, &r->tgt};
  for (int i = 0; i < 2; i++) free(ms[i]->p), free(ms[i]->t), free(ms[i]->mass);
  double *one[] = {r->primal, r->dual,  r->cost,  r->kl,    r->err_a,   r->err_b,   r->iters,
                   r->stages, r->conv,  r->omega, r->secs,  r->fallbacks, r->div,  r->ot_aa,
                   r->ot_bb,  r->conv_aa, r->conv_bb, r->iters_aa, r->iters_bb, r->mean_x,
                   r->mean_y, r->cov_x, r->cov_y, r->cross, r->f, r->g, r->planv, r->w2_1d};
  for (size_t i = 0; i < sizeof one / sizeof *one; i++) free(one[i]);
  const size_t S = nsolves(r);
  for (size_t s = 0; s < S; s++) {
    if (r->hist) free(r->hist[s]);
    if (r->logs) free(r->logs[s]);
    if (r->kernels) free(r->kernels[s]);
  }
  free(r->hist), free(r->hist_len), free(r->logs), free(r->kernels);
  text_free(&r->klog);
  fpk_config_free(r->cfg);
}

static int execute(ot_run *r, const fpk_run_options *opt, fpk_error *err) {
  char created[64];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  /* Create the output first: an unwritable path fails before any computation. */
  const char *inputs[2];
  size_t ninputs = 0;
  if (r->src.type == FPK_APP_MARGINAL_HDF5) inputs[ninputs++] = r->src.file;
  if (r->tgt.type == FPK_APP_MARGINAL_HDF5) inputs[ninputs++] = r->tgt.file;
  fpk_h5 *f = fpk_app_create_output(opt, r->output, inputs, ninputs, err);
  if (!f) return err->status;
  if (!opt->quiet && r->normalize) {
    const size_t k = r->max_mass_k;
    char at[64] = "";
    if (r->time_loop) snprintf(at, sizeof at, " at t = %g (time index %zu)", r->t[k], k);
    printf("normalize   masses rescaled to 1: source %.12g, target %.12g%s; largest "
           "difference %.3g\n",
           r->src.mass[r->src.nt > 1 ? k : 0], r->tgt.mass[r->tgt.nt > 1 ? k : 0], at,
           r->max_mass_diff);
  }
  if (!opt->quiet && r->plan) {
    const size_t N = r->grid.size;
    printf("plan        %zu x %zu doubles = %zu bytes (/ot/plan, last solve)\n", N, N,
           N * N * sizeof(double));
  }
  fflush(stdout);
  int rc = alloc_results(r, err);
  if (!rc && r->exact) rc = run_exact(r, err);
  if (!rc) rc = run_solves(r, opt, err);
  /* A numerical failure (a solve's output guard) under --keep-failed: the solves done so far are
   * written, the others are NaN, and the file says why (the command still fails). */
  fpk_error failure = {0};
  if (rc == FPK_ENUMERIC && opt->keep_failed) {
    failure = *err;
    rc = fpk_app_mark_failed(f, &failure, err);
  }
  text_close(&r->klog); /* the solves are done: the log is whole */
  if (!rc) {
    if (fpk_app_write_root(f, opt, fpk_config_resolved(r->cfg), "ot", created) ||
        write_grid(f, &r->grid) ||
        write_results(f, r) || fpk_app_commit_output(f, opt))
      rc = fpk_error_set(err, FPK_EIO, "%s", fpk_h5_errmsg(f));
  }
  fpk_h5_close(f); /* removes the temporary file unless committed */
  if (!rc && failure.status)
    return fpk_error_set(err, failure.status, "%s (kept: %s written with failed = 1)",
                         failure.msg, r->output);
  if (!rc && !opt->quiet) {
    print_summary(r);
    printf("wrote %s\n", r->output);
  }
  if (!rc && r->unconverged) {
    char what[512];
    snprintf(what, sizeof what,
             "%zu solve%s did not converge (err_a + err_b > tol = %g within max_iter = %zu "
             "iterations); %s is written with converged = 0",
             r->unconverged, r->unconverged == 1 ? "" : "s", r->par.tol, r->par.max_iter,
             r->output);
    if (opt->allow_unconverged) {
      fprintf(stderr, "fpkit: warning: %s (accepted: --allow-unconverged)\n", what);
    } else {
      rc = fpk_error_set(err, FPK_ENUMERIC, "%s; raise [ot] max_iter or loosen tol, or pass "
                         "--allow-unconverged to accept it", what);
    }
  }
  return rc;
}

int fpk_app_ot(const fpk_run_options *opt, fpk_error *err) {
  ot_run r;
  memset(&r, 0, sizeof r);
  char default_out[1024];
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  r.cfg = fpk_app_load_config(opt, "ot", err);
  int rc = r.cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = read_config(r.cfg, opt, &r, default_out, sizeof default_out, err);
  if (!rc) fpk_app_log_text(FPK_LOG_DEBUG, "config", fpk_config_resolved(r.cfg));
  if (!rc) rc = execute(&r, opt, err);
  release(&r);
  return rc;
}
