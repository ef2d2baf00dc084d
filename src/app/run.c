/* `fpkit run`: reads a strict INI configuration, builds the model, runs the requested methods
 * (finite-volume FP, Monte Carlo, closed form) at the same output times on the same grid,
 * compares every pair and writes one HDF5 file (docs/hdf5-layout.md). With checkpoints
 * (--checkpoint-every, --resume; docs/checkpoint.md) the run writes its whole state at safe points
 * (between methods, between time steps, between rounds of Monte Carlo paths) when the interval
 * has passed or a signal came, and a resumed run continues from it to the same bits. */
#include "fpkit/version.h" /* FPK_HAVE_PHDF5 */
#include "app/app.h"
#include "app/keys.h"
#include "app/progress.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include "fpkit/checkpoint.h"
#include "fpkit/compare.h"
#include "fpkit/config.h"
#include "fpkit/exact.h"
#include "fpkit/fv.h"
#include "fpkit/grid.h"
#include "fpkit/guard.h"
#include "fpkit/io.h"
#include "fpkit/model.h"
#include "fpkit/parallel.h"
#include "fpkit/sde.h"
#include "fpkit/spectral.h"

#define MAX_TIMES 1000
/* Largest grid: 1e7 cells of 8 bytes are 80 MB per field and output time. */
#define MAX_CELLS 1e7
/* The smallest standard deviation whose square is a normal double: below it a variance
 * underflows (then a Gaussian start is a point mass: use [init] type = point). */
#define MIN_STD 1.4916681462400413e-154

/* Everything a run needs, resolved from the configuration. */
typedef struct experiment {
  size_t dim;
  fpk_model *model;
  fpk_grid grid;
  fpk_gaussian init;
  /* [init] type = expr or file: the initial density itself (cell averages of unit mass), which
   * every method starts from (Monte Carlo samples it exactly); NULL for the Gaussian starts. */
  size_t init_type;  /* INIT_GAUSSIAN, INIT_POINT, INIT_EXPR, INIT_FILE */
  double *init_p;
  const char *init_expr;    /* expr: the expression as given */
  double init_norm;         /* expr: Z = ∫ f over the grid; file: the stored field's mass */
  const char *init_file, *init_method; /* file: where it was read */
  double init_time;         /* file: the time asked (NaN: last); then the stored time */
  size_t init_index;        /* file: its index in /method/t */
  size_t init_clipped;      /* file: negative values (within the guard) set to 0 */
  size_t nt;
  double t[MAX_TIMES];
  int fv_on, spectral_on, mc_on, exact_on;
  const fpk_fv_stepper_type *fv_scheme;
  fpk_fv_solver fv_solver; /* [fp] fv_solver */
  fpk_fv_transport fv_transport; /* [fp] transport */
  double fv_dt;
  const fpk_spectral_stepper_type *spectral_scheme;
  double spectral_dt;
  fpk_spectral_options spectral_opt;
  int stationary_on, gap_on; /* [stationary] */
  fpk_mc_params mc;
  fpk_density_guard guard; /* [guard] tolerances of the FP solvers' output guards */
  const char *output;
  /* The output written collectively (parallel HDF5, a distributed 3D spectral run): each rank
   * writes the planes [slab_z0, slab_z0 + slab_nz) along z of every 3D density to slab_file. */
  const fpk_h5 *slab_file;
  size_t slab_z0, slab_nz;
} experiment;

/* Results, each [nt][cells] densities and [nt][dim], [nt][dim][dim] moments. */
typedef struct method_out {
  const char *name;
  double *density, *mean, *cov;
} method_out;

/* [stationary]: stationary densities (cell averages) by each FP method and in closed form where
 * one exists, the spectral gap, and the relaxation KL(p_t ‖ π) of each time-dependent run. */
typedef struct stationary_out {
  double *fv, *spectral, *exact;
  double *kl; /* [2][nt]: fv, spectral; KL against exact if known, else the method's own π */
  const char *exact_what;
  double gap;
} stationary_out;

/* Diagnostics of the spectral solver per output time (docs/hdf5-layout.md). */
typedef struct spectral_diag {
  double *mass, *min, *tail, *edge;
  size_t steps;
  char warning[512];
} spectral_diag;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct run_state {
  fpk_config *cfg;
  experiment x;
  fpk_h5 *file;
  method_out fv, spectral, mc, exact;
  double *fv_mass, *fv_min, *chain_mean, *chain_cov;
  spectral_diag sd;
  fpk_mc_result mcr;
  double wall_fv, wall_spectral, wall_mc; /* seconds, for work–precision diagrams */
  stationary_out st;
  size_t fv_steps;
  int failed;        /* a numerical failure under --keep-failed: `failure` says which */
  fpk_error failure;
  /* Checkpoints (docs/checkpoint.md). */
  const fpk_run_options *opt;
  int ck_on;                  /* checkpoints are written (--checkpoint-every or --resume) */
  double ck_every, ck_last;   /* seconds between them (INFINITY: on signals only); the last */
  char *ck_path;              /* where they go */
  int ck_written;             /* this process wrote one there */
  int ck_hold;                /* a checkpoint was just taken inside an evolve (ck_poll) */
  fpk_error ck_err;           /* the outcome of a checkpoint taken inside the Monte Carlo engine */
  char where[256];            /* where the run stands, for the messages */
  /* methods done, and outputs done by the time steppers (what a checkpoint holds) */
  int exact_done, fv_done, spectral_done, stationary_done;
  size_t fv_k, spectral_k;
  /* Resume: the checkpoint (open while the methods read their state), what it stored, and the
   * Monte Carlo state read from it. */
  fpk_h5_reader *resume;
  char *config_text, *config_file, *output, *exact_what;
  char created[64];           /* UTC time the run started (a resumed run keeps the first one) */
  double mc_t0;               /* now_seconds() minus the Monte Carlo seconds spent before */
  fpk_mc_state mc_resume;     /* arrays owned: fpk_h5_mc_state_free */
} run_state;

/* ---------------------------------------------------------------- configuration → experiment */

static int read_grid(fpk_config *c, experiment *x, fpk_error *err) {
  const size_t d = x->dim;
  double lo[FPK_MAX_DIM], hi[FPK_MAX_DIM], nd[FPK_MAX_DIM];
  size_t n[FPK_MAX_DIM];
  fpk_bc bc[FPK_MAX_DIM];
  int rc;
  if ((rc = fpk_config_doubles(c, "grid", "lo", 1, d, 1, lo, err))) return rc;
  if ((rc = fpk_config_doubles(c, "grid", "hi", 1, d, 1, hi, err))) return rc;
  if ((rc = fpk_config_doubles(c, "grid", "n", 1, d, 1, nd, err))) return rc;
  double cells = 1.0;
  for (size_t a = 0; a < d; a++) {
    if (nd[a] != floor(nd[a]) || nd[a] < 3 || nd[a] > MAX_CELLS)
      return fpk_config_invalid(c, "grid", "n", err,
                                "cell counts must be integers in [3, %.0f] (axis %zu: %g)",
                                MAX_CELLS, a, nd[a]);
    cells *= nd[a];
    n[a] = (size_t)nd[a];
    if (!(lo[a] < hi[a]))
      return fpk_config_invalid(c, "grid", lo[a] == hi[a] ? "hi" : "lo", err,
                                "bounds reversed or empty on axis %zu (lo = %g, hi = %g)", a,
                                lo[a], hi[a]);
  }
  if (cells > MAX_CELLS)
    return fpk_config_invalid(c, "grid", "n", err,
                              "the grid has %.3g cells, more than the limit of %.0f (every "
                              "method stores a field per output time)",
                              cells, MAX_CELLS);
  const char *bcs = "reflecting";
  if ((rc = fpk_config_string(c, "grid", "bc", 0, &bcs, err))) return rc;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", bcs);
  size_t k = 0;
  for (char *save, *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
    if (k == d || fpk_bc_parse(tok, &bc[k]))
      return fpk_config_invalid(c, "grid", "bc", err,
                                "expected 1 or %zu of reflecting, periodic, absorbing", d);
    k++;
  }
  if (k == 1)
    for (size_t a = 1; a < d; a++) bc[a] = bc[0];
  else if (k != d)
    return fpk_config_invalid(c, "grid", "bc", err, "expected 1 or %zu boundary conditions", d);
  return fpk_grid_init(&x->grid, d, n, lo, hi, bc, err);
}

enum { INIT_GAUSSIAN = 0, INIT_POINT = 1, INIT_EXPR = 2, INIT_FILE = 3 };

/* [init] type = expr: density; type = file: file, method, time. The density itself is computed
 * or read by load_init, once the guard tolerances are known. */
static int read_init_law(fpk_config *c, experiment *x, fpk_error *err) {
  int rc;
  if (x->init_type == INIT_EXPR)
    return fpk_config_string(c, "init", "density", 1, &x->init_expr, err);
  static const char *const methods[] = {"fv", "spectral", "exact", "mc", NULL};
  size_t m = 0;
  const char *time = "last";
  if ((rc = fpk_config_string(c, "init", "file", 1, &x->init_file, err)) ||
      (rc = fpk_config_choice(c, "init", "method", 0, methods, &m, err)) ||
      (rc = fpk_config_string(c, "init", "time", 0, &time, err)))
    return rc;
  x->init_method = methods[m];
  x->init_time = NAN;
  if (strcmp(time, "last")) {
    char *end;
    errno = 0;
    x->init_time = strtod(time, &end);
    if (end == time || *end || errno || !isfinite(x->init_time))
      return fpk_config_invalid(c, "init", "time", err,
                                "expected a time stored in the file or 'last'");
  }
  return FPK_SUCCESS;
}

static int read_init(fpk_config *c, experiment *x, fpk_error *err) {
  static const char *const types[] = {"gaussian", "point", "expr", "file", NULL};
  const size_t d = x->dim;
  size_t type = 0;
  int rc;
  fpk_gaussian *g = &x->init;
  memset(g, 0, sizeof *g);
  g->dim = d;
  if ((rc = fpk_config_choice(c, "init", "type", 0, types, &type, err))) return rc;
  x->init_type = type;
  if (type >= INIT_EXPR) return read_init_law(c, x, err);
  if (type == 0) {
    if ((rc = fpk_config_doubles(c, "init", "mean", 0, d, 1, g->mean, err))) return rc;
    if (fpk_config_has(c, "init", "cov")) {
      if ((rc = fpk_config_doubles(c, "init", "cov", 1, d * d, 0, g->cov, err))) return rc;
      for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < i; j++)
          if (g->cov[i * d + j] != g->cov[j * d + i])
            return fpk_config_invalid(c, "init", "cov", err, "covariance must be symmetric");
      for (size_t i = 0; i < d; i++)
        if (g->cov[i * d + i] > 0.0 && g->cov[i * d + i] < MIN_STD * MIN_STD)
          return fpk_config_invalid(c, "init", "cov", err,
                                    "variance %g is below the smallest normal double (%.3g): "
                                    "for a point start use [init] type = point",
                                    g->cov[i * d + i], MIN_STD * MIN_STD);
      /* Sylvester's criterion: every leading principal minor > 0 (indices of the d x d matrix) */
      const double *C = g->cov;
      double det = d == 1   ? C[0]
                   : d == 2 ? C[0] * C[3] - C[1] * C[2]
                            : C[0] * (C[4] * C[8] - C[5] * C[7]) -
                                  C[1] * (C[3] * C[8] - C[5] * C[6]) +
                                  C[2] * (C[3] * C[7] - C[4] * C[6]);
      if (d == 3 && !(C[0] * C[4] - C[1] * C[3] > 0.0)) det = -1.0;
      if (!(g->cov[0] > 0.0) || !(det > 0.0))
        return fpk_config_invalid(c, "init", "cov", err, "covariance must be positive definite");
    } else {
      double sd[FPK_MAX_DIM];
      if ((rc = fpk_config_doubles(c, "init", "std", 1, d, 1, sd, err))) return rc;
      for (size_t i = 0; i < d; i++) {
        if (!(sd[i] > 0.0))
          return fpk_config_invalid(c, "init", "std", err, "standard deviations must be > 0");
        if (sd[i] < MIN_STD)
          return fpk_config_invalid(c, "init", "std", err,
                                    "std = %g: its square underflows (std must be >= %.3g); for "
                                    "a point start use [init] type = point",
                                    sd[i], MIN_STD);
        g->cov[i * d + i] = sd[i] * sd[i];
      }
    }
  } else {
    /* A point mass is represented by a narrow Gaussian, the same law for every method, so the
     * comparison stays exact; the default width is two cells of the coarsest axis. */
    double w = 0.0;
    for (size_t a = 0; a < d; a++) w = fmax(w, 2.0 * x->grid.h[a]);
    if ((rc = fpk_config_doubles(c, "init", "x0", 1, d, 1, g->mean, err))) return rc;
    if ((rc = fpk_config_double(c, "init", "width", 0, 0.0, 1, INFINITY, &w, err))) return rc;
    if (w < MIN_STD)
      return fpk_config_invalid(c, "init", "width", err,
                                "width = %g: its square underflows (width must be >= %.3g)", w,
                                MIN_STD);
    for (size_t i = 0; i < d; i++) g->cov[i * d + i] = w * w;
  }
  /* Kramers model: the position law given by mean/std (or x0) times the Maxwellian N(0, 1/β) in
   * the velocity (docs/noise.md, "Initial laws"); the velocity's own entries must not disagree */
  const fpk_kramers_params *kp = fpk_model_kramers_params(x->model);
  int maxwellian = 0;
  if (kp && (rc = fpk_config_bool(c, "init", "maxwellian", 0, &maxwellian, err))) return rc;
  if (maxwellian) {
    if (type == 0 && fpk_config_has(c, "init", "cov"))
      return fpk_config_invalid(c, "init", "cov", err,
                                "with maxwellian = true the velocity law is N(0, 1/beta): give "
                                "the position's std (one number), not cov");
    if (g->mean[0] != g->mean[1] && g->mean[1] != 0.0)
      return fpk_config_invalid(c, "init", type == 0 ? "mean" : "x0", err,
                                "with maxwellian = true the velocity starts at mean 0: give the "
                                "position's %s alone (one number)",
                                type == 0 ? "mean" : "x0");
    if (g->cov[0] != g->cov[3])
      return fpk_config_invalid(c, "init", "std", err,
                                "with maxwellian = true the velocity law is N(0, 1/beta): give "
                                "the position's std alone (one number)");
    g->mean[1] = 0.0;
    g->cov[3] = 1.0 / kp->beta;
  }
  double out = fpk_gaussian_mass_outside(g, &x->grid);
  if (out > 1e-6)
    return fpk_config_invalid(c, "init", type == 0 ? "mean" : "x0", err,
                              "the initial density puts %.3g of its mass outside the grid (at "
                              "most 1e-6 allowed): move it or enlarge [grid] lo/hi",
                              out);
  return FPK_SUCCESS;
}

static int read_times(fpk_config *c, experiment *x, fpk_error *err) {
  int rc;
  if (fpk_config_has(c, "time", "times")) {
    if (fpk_config_has(c, "time", "t_end") || fpk_config_has(c, "time", "n_out"))
      return fpk_config_invalid(c, "time", "times", err,
                                "give either the list 'times' or 't_end' with 'n_out'");
    if ((rc = fpk_config_double_list(c, "time", "times", 1, MAX_TIMES, x->t, &x->nt, err)))
      return rc;
    for (size_t k = 0; k < x->nt; k++)
      if (x->t[k] < 0.0 || (k > 0 && !(x->t[k] > x->t[k - 1])))
        return fpk_config_invalid(c, "time", "times", err,
                                  "output times must be >= 0 and strictly increasing");
    if (!(x->t[x->nt - 1] > 0.0))
      return fpk_config_invalid(c, "time", "times", err, "the last output time must be > 0");
    return FPK_SUCCESS;
  }
  double t_end = 1.0;
  size_t n_out = 5;
  if ((rc = fpk_config_double(c, "time", "t_end", 1, 0.0, 1, INFINITY, &t_end, err))) return rc;
  if ((rc = fpk_config_size(c, "time", "n_out", 0, 2, MAX_TIMES, &n_out, err))) return rc;
  x->nt = n_out;
  for (size_t k = 0; k < n_out; k++) x->t[k] = t_end * (double)k / (double)(n_out - 1);
  return FPK_SUCCESS;
}

/* A method's time step, `section.dt` > 0. It has no default: it is read (and recorded in the
 * resolved configuration) only when the method runs or the key is given, so a stored
 * configuration never carries an invalid placeholder. */
static int read_step(fpk_config *c, const char *section, int on, double *dt, fpk_error *err) {
  if (!on && !fpk_config_has(c, section, "dt")) return FPK_SUCCESS;
  return fpk_config_double(c, section, "dt", on, 0.0, 1, INFINITY, dt, err);
}

static int read_methods(fpk_config *c, experiment *x, fpk_error *err) {
  int rc, absorbing = 0;
  for (size_t a = 0; a < x->dim; a++) absorbing |= x->grid.bc[a] == FPK_BC_ABSORBING;

  /* A disabled method's keys are still read and checked (so that `--set mc.enabled=false` works
   * on any config), but they are required only when the method runs. */
  int fp_on = 1;
  if ((rc = fpk_config_bool(c, "fp", "enabled", 0, &fp_on, err))) return rc;
  {
    /* method: one or several of fv, spectral (run side by side on the same grid) */
    const char *list = "fv";
    if ((rc = fpk_config_string(c, "fp", "method", 0, &list, err))) return rc;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    size_t k = 0;
    for (char *save, *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save), k++) {
      if (strcmp(tok, "fv") == 0)
        x->fv_on = 1;
      else if (strcmp(tok, "spectral") == 0)
        x->spectral_on = 1;
      else
        return fpk_config_invalid(c, "fp", "method", err,
                                  "unknown method '%s': expected fv, spectral or both", tok);
    }
    if (k == 0)
      return fpk_config_invalid(c, "fp", "method", err, "expected fv, spectral or both");
    x->fv_on &= fp_on;
    x->spectral_on &= fp_on;
  }
  {
    const char *names[16] = {0};
    size_t ns = 0, scheme = 0;
    for (size_t i = 0; fpk_fv_steppers[i] && ns < 15; i++) {
      names[ns] = fpk_fv_steppers[i]->name;
      if (fpk_fv_steppers[i] == fpk_fv_tr_bdf2) scheme = ns;
      ns++;
    }
    if ((rc = fpk_config_choice(c, "fp", "scheme", 0, names, &scheme, err))) return rc;
    x->fv_scheme = fpk_fv_steppers[scheme];
    /* the order of keys.c's fv_solvers: split, direct */
    static const char *const solvers[] = {"split", "direct", NULL};
    size_t solver = 0;
    if ((rc = fpk_config_choice(c, "fp", "fv_solver", 0, solvers, &solver, err))) return rc;
    x->fv_solver = solver == 0 ? FPK_FV_SOLVER_SPLIT : FPK_FV_SOLVER_DIRECT;
    static const char *const transports[] = {"limited", "linear", "upwind", NULL}; /* enum order */
    size_t transport = 0;
    if ((rc = fpk_config_choice(c, "fp", "transport", 0, transports, &transport, err))) return rc;
    x->fv_transport = (fpk_fv_transport)transport;
    if ((rc = read_step(c, "fp", x->fv_on, &x->fv_dt, err))) return rc;
  }
  {
    /* [spectral]: the Fourier solver's own settings */
    const char *names[16] = {0};
    size_t ns = 0, scheme = 0, planner = 1;
    for (size_t i = 0; fpk_spectral_steppers[i] && ns < 15; i++) names[ns++] = fpk_spectral_steppers[i]->name;
    if ((rc = fpk_config_choice(c, "spectral", "scheme", 0, names, &scheme, err))) return rc;
    x->spectral_scheme = fpk_spectral_steppers[scheme];
    if ((rc = read_step(c, "spectral", x->spectral_on, &x->spectral_dt, err))) return rc;
    fpk_spectral_options_default(&x->spectral_opt);
    static const char *const planners[] = {"estimate", "measure", "patient", NULL};
    if ((rc = fpk_config_choice(c, "spectral", "planner", 0, planners, &planner, err))) return rc;
    x->spectral_opt.planner = (fpk_fft_planner)planner;
    if ((rc = fpk_config_bool(c, "spectral", "dealias", 0, &x->spectral_opt.dealias, err)))
      return rc;
    if ((rc = fpk_config_size(c, "spectral", "contour_points", 0, 1, 4096,
                              &x->spectral_opt.contour_points, err)))
      return rc;
    /* wisdom: no default file (FFTW plans afresh each run unless one is named) */
    x->spectral_opt.wisdom = NULL;
    if (fpk_config_has(c, "spectral", "wisdom") &&
        (rc = fpk_config_string(c, "spectral", "wisdom", 1, &x->spectral_opt.wisdom, err)))
      return rc;
    if (x->spectral_on) {
      /* Checked here, with file:line, rather than by the solver */
      for (size_t a = 0; a < x->dim; a++) {
        if (x->grid.bc[a] != FPK_BC_PERIODIC)
          return fpk_config_invalid(c, "grid", "bc", err,
                                    "method spectral needs periodic boundaries on every axis "
                                    "(axis %zu is %s): use method = fv, or a periodic box large "
                                    "enough for the density to decay",
                                    a, fpk_bc_name(x->grid.bc[a]));
        if (x->grid.n[a] % 2 || x->grid.n[a] < 8)
          return fpk_config_invalid(c, "grid", "n", err,
                                    "method spectral needs an even number of points >= 8 on "
                                    "every axis (axis %zu has %zu)",
                                    a, x->grid.n[a]);
      }
    }
  }
  {
    /* [stationary]: stationary densities without time stepping, and the spectral gap */
    x->stationary_on = 0;
    if ((rc = fpk_config_bool(c, "stationary", "enabled", 0, &x->stationary_on, err))) return rc;
    x->gap_on = 0;
    if ((rc = fpk_config_bool(c, "stationary", "gap", 0, &x->gap_on, err))) return rc;
    if ((x->stationary_on || x->gap_on) && !(x->model->flags & FPK_MODEL_AUTONOMOUS))
      return fpk_config_invalid(c, "stationary", "enabled", err,
                                "the model depends on time: no stationary state");
    if (x->gap_on && !x->spectral_on)
      return fpk_config_invalid(c, "stationary", "gap", err,
                                "the gap is computed from the spectral operator: add spectral "
                                "to [fp] method");
    if (x->stationary_on && !x->fv_on && !x->spectral_on)
      return fpk_config_invalid(c, "stationary", "enabled", err,
                                "needs an FP method ([fp] method = fv and/or spectral)");
    if ((x->stationary_on || x->gap_on) && x->spectral_on &&
        x->grid.size > FPK_SPECTRAL_DENSE_MAX)
      return fpk_config_invalid(c, "stationary", x->gap_on ? "gap" : "enabled", err,
                                "the spectral stationary solve and gap are dense, limited to %d "
                                "points (the grid has %zu)",
                                FPK_SPECTRAL_DENSE_MAX, x->grid.size);
  }

  x->mc_on = 1;
  if ((rc = fpk_config_bool(c, "mc", "enabled", 0, &x->mc_on, err))) return rc;
  {
    const char *names[16] = {0};
    size_t ns = 0, stepper = 0;
    for (size_t i = 0; fpk_sde_steppers[i] && ns < 15; i++) names[ns++] = fpk_sde_steppers[i]->name;
    if ((rc = fpk_config_choice(c, "mc", "stepper", 0, names, &stepper, err))) return rc;
    x->mc.stepper = fpk_sde_steppers[stepper];
    /* the stepper's own refusal (a noise matrix, degenerate noise, ...: src/sde says why and
     * what would work), with the configuration's file:line, before anything runs */
    fpk_error refusal = {0};
    if (x->mc_on && fpk_sde_stepper_check(x->mc.stepper, x->model, &refusal))
      return fpk_config_invalid(c, "mc", "stepper", err, "%s", refusal.msg);
    x->mc.npaths = 100000;
    x->mc.seed = 1;
    x->mc.keep_paths = 0;
    if ((rc = fpk_config_size(c, "mc", "paths", 0, 2, (size_t)1 << 40, &x->mc.npaths, err)))
      return rc;
    if ((rc = read_step(c, "mc", x->mc_on, &x->mc.dt, err))) return rc;
    /* an unstable step for a linear model (fpk_sde_step_check), at [mc] dt, before anything runs */
    if (x->mc_on && fpk_sde_step_check(x->mc.stepper, x->model, x->mc.dt, &refusal))
      return fpk_config_invalid(c, "mc", "dt", err, "%s", refusal.msg);
    if ((rc = fpk_config_u64(c, "mc", "seed", 0, &x->mc.seed, err))) return rc;
    if ((rc = fpk_config_size(c, "mc", "keep_paths", 0, 0, x->mc.npaths, &x->mc.keep_paths, err)))
      return rc;
    /* absorbing walls: the Brownian-bridge crossing test (docs/killed-diffusions.md); false
     * leaves the exit test alone, whose survival error is O(sqrt(dt)) */
    int bridge = 1;
    if ((rc = fpk_config_bool(c, "mc", "bridge_correction", 0, &bridge, err))) return rc;
    x->mc.bridge_correction = bridge ? FPK_MC_BRIDGE_ON : FPK_MC_BRIDGE_OFF;
  }

  /* the closed forms propagate Gaussian laws: none from a density given on the grid */
  const int gaussian_start = x->init_type < INIT_EXPR;
  x->exact_on = x->model->linear != NULL && !absorbing && gaussian_start;
  int want = x->exact_on;
  if ((rc = fpk_config_bool(c, "exact", "enabled", 0, &want, err))) return rc;
  if (want && !x->exact_on)
    return fpk_config_invalid(c, "exact", "enabled", err,
                              gaussian_start
                                  ? "no closed form for this model and boundary conditions"
                                  : "no closed form from [init] type = %s: the closed forms "
                                    "propagate Gaussian initial laws only",
                              x->init_type == INIT_EXPR ? "expr" : "file");
  x->exact_on = want;
  if (!x->fv_on && !x->spectral_on && !x->mc_on && !x->exact_on)
    return fpk_config_invalid(c, "fp", "enabled", err, "every method is disabled: nothing to run");
  return FPK_SUCCESS;
}

/* [guard]: tolerances of the FP solvers' output guards (fpkit/guard.h, docs/testing.md). */
static int read_guard(fpk_config *c, experiment *x, fpk_error *err) {
  fpk_density_guard_init(&x->guard);
  int rc = fpk_config_double(c, "guard", "mass_tol", 0, 0.0, 1, 1.0, &x->guard.mass_tol, err);
  if (!rc)
    rc = fpk_config_double(c, "guard", "negative_tol", 0, 0.0, 0, 1.0, &x->guard.negative_tol,
                           err);
  return rc;
}

/* ---- [init] type = expr or file: the initial density on the grid */

/* A density from an expression of x (y) and the parameters of [parameters]: cell averages
 * (3-point Gauss-Legendre per axis, O(h^6)), normalised on the grid; Z is reported. */
static int load_init_expr(fpk_config *c, experiment *x, fpk_error *err) {
  const fpk_grid *g = &x->grid;
  const char *names[2 * FPK_EXPR_MAX_PARAMS];
  double values[FPK_EXPR_MAX_PARAMS];
  int rc;
  const size_t np = fpk_config_section_keys(c, "parameters", names, 2 * FPK_EXPR_MAX_PARAMS);
  if (np > FPK_EXPR_MAX_PARAMS)
    return fpk_config_invalid(c, "parameters", names[FPK_EXPR_MAX_PARAMS], err,
                              "too many parameters (%zu, at most %d)", np, FPK_EXPR_MAX_PARAMS);
  for (size_t i = 0; i < np; i++) {
    fpk_error e = {0};
    if (fpk_expr_check_name(names[i], &e))
      return fpk_config_invalid(c, "parameters", names[i], err, "%s", e.msg);
    if ((rc = fpk_config_double(c, "parameters", names[i], 1, -INFINITY, 0, INFINITY, &values[i],
                                err)))
      return rc;
  }
  fpk_error e = {0};
  rc = fpk_expr_cell_averages(x->init_expr, g, np, names, values, x->init_p, &e);
  if (rc == FPK_ENOMEM) return fpk_error_copy(err, &e);
  if (rc) return fpk_config_invalid(c, "init", "density", err, "%s", e.msg);
  const double Z = fpk_grid_integral(g, x->init_p);
  if (!(Z > 0.0) || !isfinite(Z))
    return fpk_config_invalid(c, "init", "density", err,
                              "the density integrates to %g over the grid: nothing to normalise",
                              Z);
  for (size_t i = 0; i < g->size; i++) x->init_p[i] /= Z;
  x->init_norm = Z;
  size_t axis;
  int side;
  const double wall = fpk_grid_wall_mass(g, x->init_p, &axis, &side);
  if (wall > 1e-6)
    return fpk_config_invalid(c, "init", "density", err,
                              "the density puts %.3g of its mass in the outermost cells at %c = "
                              "%g (at most 1e-6 allowed, as for a Gaussian start): it does not "
                              "decay inside the grid; enlarge [grid] lo/hi",
                              wall, "xyz"[axis], side ? g->hi[axis] : g->lo[axis]);
  return FPK_SUCCESS;
}

/* The density of another run (its file, method and time) on the same grid: finite, negative
 * values only within the guard (set to 0), renormalised to mass 1 when its mass is not 1 to
 * rounding (reported). A field of mass 1 is taken bit for bit. */
static int load_init_file(fpk_config *c, experiment *x, fpk_error *err) {
  const fpk_grid *g = &x->grid;
  fpk_error e = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(x->init_file, &e);
  if (!r) return fpk_config_invalid(c, "init", "file", err, "%s", e.msg);
  fpk_grid fg;
  char group[32];
  snprintf(group, sizeof group, "/%s", x->init_method);
  const double asked = x->init_time;
  size_t index = 0;
  int rc = fpk_h5_read_grid(r, MAX_CELLS, &fg, &e);
  if (rc) {
    rc = fpk_config_invalid(c, "init", "file", err, "%s", e.msg);
  } else if (!fpk_grid_equal(&fg, g)) {
    char a[256], b[256];
    fpk_grid_describe(&fg, 1, a, sizeof a);
    fpk_grid_describe(g, 1, b, sizeof b);
    rc = fpk_config_invalid(c, "init", "file", err,
                            "its grid (%s) differs from this run's [grid] (%s): a density "
                            "continues on the grid it was computed on",
                            a, b);
  } else if (!fpk_h5_exists(r, group)) {
    rc = fpk_config_invalid(c, "init", "method", err,
                            "%s has no %s group: the method did not run there", x->init_file,
                            group);
  } else if ((rc = fpk_h5_read_density(r, g, x->init_method, asked, x->init_p, &x->init_time,
                                       &index, &e))) {
    rc = fpk_config_invalid(c, "init", index == SIZE_MAX ? "time" : "file", err, "%s", e.msg);
  }
  fpk_h5_reader_close(r);
  if (rc) return rc;
  x->init_index = index;
  double top = 0.0;
  for (size_t i = 0; i < g->size; i++) {
    if (!isfinite(x->init_p[i]))
      return fpk_config_invalid(c, "init", "file", err, "%s/density[%zu] cell %zu = %g: not finite",
                                group, index, i, x->init_p[i]);
    top = fmax(top, x->init_p[i]);
  }
  for (size_t i = 0; i < g->size; i++)
    if (x->init_p[i] < 0.0) {
      if (x->init_p[i] < -x->guard.negative_tol * top)
        return fpk_config_invalid(c, "init", "file", err,
                                  "%s/density[%zu] cell %zu = %g: below -negative_tol x max "
                                  "= %g ([guard] negative_tol = %g); a density must be >= 0",
                                  group, index, i, x->init_p[i], -x->guard.negative_tol * top,
                                  x->guard.negative_tol);
      x->init_p[i] = 0.0;
      x->init_clipped++;
    }
  const double mass = fpk_grid_integral(g, x->init_p);
  if (!(mass > 0.0))
    return fpk_config_invalid(c, "init", "file", err, "%s/density at t = %g has zero mass", group,
                              x->init_time);
  x->init_norm = mass;
  if (fabs(mass - 1.0) > 1e-12)
    for (size_t i = 0; i < g->size; i++) x->init_p[i] /= mass;
  return FPK_SUCCESS;
}

static int load_init(fpk_config *c, experiment *x, fpk_error *err) {
  if (x->init_type < INIT_EXPR) return FPK_SUCCESS;
  if (!(x->init_p = malloc(x->grid.size * sizeof(double))))
    return fpk_error_set(err, FPK_ENOMEM, "out of memory for the initial density");
  int rc = x->init_type == INIT_EXPR ? load_init_expr(c, x, err) : load_init_file(c, x, err);
  /* Monte Carlo samples the same law exactly (piecewise constant on the cells) */
  if (!rc) x->mc.init_cells = x->init_p;
  return rc;
}

/* Every method's step count over every output interval, checked here so that a tiny dt is an
 * error with file:line rather than a run that cannot end (a count beyond 2^64 once became 0
 * steps and the initial density was written at every time); and the memory of kept paths. */
static int check_steps(fpk_config *c, const experiment *x, fpk_error *err) {
  const struct {
    int on;
    const char *section;
    double dt;
  } m[3] = {{x->fv_on, "fp", x->fv_dt},
            {x->spectral_on, "spectral", x->spectral_dt},
            {x->mc_on, "mc", x->mc.dt}};
  double mc_steps = 0.0;
  for (size_t i = 0; i < 3; i++) {
    if (!m[i].on) continue;
    double total = 0.0;
    for (size_t k = 0; k < x->nt; k++) {
      size_t n;
      double h;
      fpk_error e = {0};
      if (fpk_time_steps(k ? x->t[k - 1] : 0.0, x->t[k], m[i].dt, &n, &h, &e))
        return fpk_config_invalid(c, m[i].section, "dt", err, "%s", e.msg);
      total += (double)n;
    }
    if (total > FPK_MAX_STEPS)
      return fpk_config_invalid(c, m[i].section, "dt", err,
                                "%.3g steps in all, more than the limit of %.0e", total,
                                FPK_MAX_STEPS);
    if (i == 2) mc_steps = total;
  }
  if (x->mc_on && x->mc.keep_paths) {
    const double bytes =
        (double)x->mc.keep_paths * (mc_steps + 1.0) * (double)x->dim * sizeof(double);
    const double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (ram > 0.0 && bytes > 0.5 * ram)
      return fpk_config_invalid(c, "mc", "keep_paths", err,
                                "storing %zu paths x %.0f steps x %zu components takes %.3g GB, "
                                "more than half of this machine's %.3g GB: keep fewer paths",
                                x->mc.keep_paths, mc_steps + 1.0, x->dim, bytes / 1e9,
                                ram / 1e9);
  }
  return FPK_SUCCESS;
}

/* The fields the run holds at once, [nt][cells] doubles each: one per method (Monte Carlo also
 * holds one histogram of 8-byte counts per thread while it runs). A 3D grid makes this large
 * (128^3 cells at 5 output times are 84 MB per field), so a run that cannot fit in memory is
 * refused before anything is computed, naming [grid] n, rather than failing to allocate late. */
static int check_fields(fpk_config *c, const fpk_run_options *opt, const experiment *x,
                        fpk_error *err) {
  const double threads = opt->threads > 0 ? (double)opt->threads : (double)omp_get_max_threads();
  const double fields = (double)(x->exact_on + x->fv_on + x->spectral_on) +
                        (x->mc_on ? 1.0 + threads : 0.0);
  /* under mpirun every rank holds every field: the ranks sharing this node's memory count */
  const double ranks = (double)fpk_comm_node_size(opt->comm);
  const double bytes = 8.0 * (double)x->grid.size * (double)x->nt * fields * ranks;
  const double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
  if (ram > 0.0 && bytes > 0.5 * ram)
    return fpk_config_invalid(c, "grid", "n", err,
                              "the run holds %.0f fields of %zu cells at %zu output times "
                              "(one per method; Monte Carlo one more per thread)%s: %.3g GB, "
                              "more than half of this machine's %.3g GB: use fewer cells or "
                              "fewer output times ([time] n_out or times)%s",
                              fields, x->grid.size, x->nt,
                              ranks > 1 ? " in each of the MPI ranks on this node" : "",
                              bytes / 1e9, ram / 1e9, ranks > 1 ? ", or fewer ranks per node" : "");
  return FPK_SUCCESS;
}

/* Periodic walls are a statement about the model: a drift that is not periodic on the box (a
 * linear drift that depends on the periodic coordinate) turns the problem on the torus (finite
 * volumes, spectral: the drift cut at the walls) into another one than the SDE on R^d (Monte
 * Carlo, whose positions are only wrapped for the histogram) and the exact law on R^d, once the
 * density reaches the walls; /errors would then compare three problems as one (exit 0, O(1)
 * differences: tests/defects/mpi/10). For a linear model from a Gaussian start the exact law
 * says when that happens: its marginal mass beyond the walls of every periodic axis whose drift
 * row is not zero must stay below 1e-6 at every output time, as for the start (read_init). */
static int check_periodic_walls(fpk_config *c, const experiment *x, fpk_error *err) {
  const fpk_linear_sde *L = x->model->linear;
  if (!L || x->init_p) return FPK_SUCCESS;
  const size_t d = x->dim;
  for (size_t a = 0; a < d; a++) {
    if (x->grid.bc[a] != FPK_BC_PERIODIC) continue;
    int depends = 0;
    for (size_t b = 0; b < d; b++) depends |= L->A[a * d + b] != 0.0;
    if (!depends) continue; /* a constant drift along a: periodic */
    for (size_t k = 0; k < x->nt; k++) {
      fpk_gaussian g;
      int rc = fpk_exact_linear_law(L, &x->init, x->t[k], &g, err);
      if (rc) return rc;
      const double m = g.mean[a], sd = sqrt(g.cov[a * d + a]);
      const double out = sd > 0.0 ? 0.5 * erfc((m - x->grid.lo[a]) / (sd * M_SQRT2)) +
                                        0.5 * erfc((x->grid.hi[a] - m) / (sd * M_SQRT2))
                                  : (m < x->grid.lo[a] || m > x->grid.hi[a] ? 1.0 : 0.0);
      if (out > 1e-6)
        return fpk_config_invalid(
            c, "grid", "bc", err,
            "axis %zu is periodic but the drift of this linear model depends on it (not periodic "
            "on the box), and at t = %g the exact law puts %.3g of its mass beyond that axis's "
            "walls [%g, %g] (at most 1e-6): the finite-volume and spectral solvers (the torus), "
            "Monte Carlo and the exact law (the whole space) would solve different problems; "
            "enlarge [grid] lo/hi or use reflecting walls",
            a, x->t[k], out, x->grid.lo[a], x->grid.hi[a]);
    }
  }
  return FPK_SUCCESS;
}

static int read_experiment(fpk_config *c, const fpk_run_options *opt, experiment *x,
                           char *default_out, size_t len, fpk_error *err) {
  int rc;
  if ((rc = fpk_app_read_model_dims(c, 3, &x->dim, &x->model, err)) ||
      (rc = read_grid(c, x, err)) ||
      (rc = fpk_app_check_kramers_grid(c, x->model, &x->grid, err)) || (rc = read_init(c, x, err)) ||
      (rc = read_times(c, x, err)) || (rc = check_periodic_walls(c, x, err)) ||
      (rc = read_methods(c, x, err)) || (rc = check_fields(c, opt, x, err)) || (rc = read_guard(c, x, err)) ||
      (rc = load_init(c, x, err)) || (rc = check_steps(c, x, err)))
    return rc;
  /* Default output: results/<config stem>.h5 */
  const char *base = strrchr(opt->config_path, '/');
  base = base ? base + 1 : opt->config_path;
  snprintf(default_out, len, "results/%.*s.h5", (int)strcspn(base, "."), base);
  x->output = default_out;
  if ((rc = fpk_config_string(c, "output", "file", 0, &x->output, err))) return rc;
  if (opt->output) x->output = opt->output;
  return fpk_config_check_unused(c, err);
}

/* ------------------------------------------------------------------------------- methods */

static int alloc_out(method_out *m, const char *name, const experiment *x) {
  m->name = name;
  const size_t d = x->dim;
  m->density = calloc(x->nt * x->grid.size, sizeof(double));
  m->mean = calloc(x->nt * d, sizeof(double));
  m->cov = calloc(x->nt * d * d, sizeof(double));
  return m->density && m->mean && m->cov ? FPK_SUCCESS : FPK_ENOMEM;
}

static void free_out(method_out *m) {
  free(m->density), free(m->mean), free(m->cov);
}

static void progress(const fpk_run_options *opt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const fpk_run_options *opt, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fpk_app_status(opt->progress, "%s", line); /* src/app/progress.c: bar, plain line, log */
}

/* Time steps of a stepping method before output k (0 .. nt), from t = 0: the split
 * fpk_time_steps makes, as the solvers do; for the progress of fv and spectral. */
static size_t steps_before(const experiment *x, double dt, size_t k) {
  size_t n = 0;
  double t = 0.0;
  for (size_t j = 0; j < k; j++) {
    size_t m = 0;
    double h;
    if (x->t[j] > t && !fpk_time_steps(t, x->t[j], dt, &m, &h, NULL)) n += m;
    t = x->t[j];
  }
  return n;
}

/* The initial density on the grid: exact cell averages, renormalised to unit discrete mass (the
 * mass outside the box was checked to be below 1e-6). */
static int initial_density(const experiment *x, double *p, fpk_error *err) {
  if (x->init_p) { /* [init] type = expr or file: computed and checked by load_init */
    memcpy(p, x->init_p, x->grid.size * sizeof *p);
    return FPK_SUCCESS;
  }
  int rc = fpk_gaussian_cell_probs(&x->init, &x->grid, p, err);
  if (rc) return rc;
  double s = 0.0;
  for (size_t i = 0; i < x->grid.size; i++) s += p[i];
  for (size_t i = 0; i < x->grid.size; i++) p[i] /= s * x->grid.cell_volume;
  return FPK_SUCCESS;
}

/* After a method failed at output k - 1: NaN for everything from output k on ("not computed"),
 * which only a file kept with --keep-failed shows. */
static void not_computed(const experiment *x, method_out *m, size_t k, double *const *series,
                         size_t nseries) {
  const size_t cells = x->grid.size, d = x->dim;
  for (size_t j = k; j < x->nt; j++) {
    for (size_t i = 0; i < cells; i++) m->density[j * cells + i] = NAN;
    for (size_t i = 0; i < d; i++) m->mean[j * d + i] = NAN;
    for (size_t i = 0; i < d * d; i++) m->cov[j * d * d + i] = NAN;
    for (size_t q = 0; q < nseries; q++) series[q][j] = NAN;
  }
}

static int run_exact(const experiment *x, method_out *m, fpk_error *err) {
  const size_t d = x->dim, cells = x->grid.size;
  for (size_t k = 0; k < x->nt; k++) {
    fpk_gaussian g;
    int rc = fpk_exact_linear_law(x->model->linear, &x->init, x->t[k], &g, err);
    if (!rc) rc = fpk_gaussian_cell_probs(&g, &x->grid, m->density + k * cells, err);
    if (rc) return rc;
    for (size_t i = 0; i < cells; i++) m->density[k * cells + i] /= x->grid.cell_volume;
    /* the guard: the law's mass in the box is at most 1 */
    fpk_density_guard spec = x->guard;
    spec.mass = NAN;
    spec.mass_max = 1.0;
    if ((rc = fpk_guard_density(&x->grid, m->density + k * cells, &spec, "exact (closed form)",
                                x->t[k], err)) ||
        (rc = fpk_guard_finite(g.cov, d * d, "exact (closed form)", "covariance", x->t[k], err)))
      return rc;
    memcpy(m->mean + k * d, g.mean, d * sizeof(double));
    memcpy(m->cov + k * d * d, g.cov, d * d * sizeof(double));
  }
  return FPK_SUCCESS;
}

/* The exact law of the chain the Monte Carlo run simulates, when it has a closed form: the
 * Gaussian law of the Euler–Maruyama chain (closed-forms.md), which is also Milstein's (the noise of
 * a linear model is constant, so Milstein's correction vanishes), or, for exact-ou, the law of the
 * diffusion itself, which its transitions sample exactly. NULL: no closed form (sra1, tamed Euler,
 * non-linear models). The law reported beside the ensemble must be that of the stepper that ran:
 * the Euler–Maruyama law of a stiff model overflows where exact-ou is exact. */
static const char *chain_law(const experiment *x) {
  if (!x->mc_on || !x->exact_on) return NULL;
  if (x->mc.stepper == fpk_sde_euler_maruyama || x->mc.stepper == fpk_sde_milstein)
    return "euler-maruyama";
  if (x->mc.stepper == fpk_sde_exact_ou) return "exact-ou";
  return NULL;
}

/* That law's mean and covariance at each output time. */
static int run_chain_law(const experiment *x, const method_out *exact, double *mean, double *cov,
                         fpk_error *err) {
  const size_t d = x->dim;
  if (x->mc.stepper == fpk_sde_exact_ou) {
    memcpy(mean, exact->mean, x->nt * d * sizeof(double));
    memcpy(cov, exact->cov, x->nt * d * d * sizeof(double));
    return FPK_SUCCESS;
  }
  size_t nsteps[MAX_TIMES];
  double h[MAX_TIMES];
  for (size_t k = 0; k < x->nt; k++) {
    int rc = fpk_time_steps(k ? x->t[k - 1] : 0.0, x->t[k], x->mc.dt, &nsteps[k], &h[k], err);
    fpk_gaussian g;
    if (!rc) rc = fpk_exact_em_law(x->model->linear, &x->init, k + 1, nsteps, h, &g, err);
    if (rc) return fpk_error_prefix(err, "law of the %s chain: ", x->mc.stepper->name);
    memcpy(mean + k * d, g.mean, d * sizeof(double));
    memcpy(cov + k * d * d, g.cov, d * d * sizeof(double));
  }
  return FPK_SUCCESS;
}

/* ------------------------------------------------------------------------------- checkpoints */
/* docs/checkpoint.md. Safe points: every time step of fv and spectral (their interrupt poll),
 * every round of Monte Carlo paths (the engine's poll and checkpoint callback), and the points
 * between methods. At each, ck_poll decides (a signal came, or the interval has passed) and
 * ck_take writes the whole state of the run to the checkpoint file. */

/* What runs when a checkpoint is taken: the solver state of the method in progress (none between
 * methods) and the seconds spent in it so far, earlier processes included. */
typedef struct ck_progress {
  const char *method;
  const fpk_fv_state *fv;
  const fpk_spectral_state *spectral;
  const fpk_mc_state *mc;
  double wall;
} ck_progress;

static int write_checkpoint(run_state *s, const ck_progress *ip, fpk_error *err);

/* The signal that asked the run to stop at its next safe point, or 0. */
static int ck_signal(const run_state *s) {
  return s->opt->interrupted ? (int)*s->opt->interrupted : 0;
}

/* The poll of every safe point: a signal came, or the interval has passed since the last
 * checkpoint. The poll that follows a checkpoint taken inside an evolve is at the same step
 * boundary (the evolve is called again): it lets one step pass, so that even a tiny interval
 * makes progress. */
static int ck_poll(void *user) {
  run_state *s = user;
  if (ck_signal(s)) return 1;
  if (s->ck_hold) {
    s->ck_hold = 0;
    return 0;
  }
  return now_seconds() - s->ck_last >= s->ck_every;
}

/* At a safe point whose poll fired: writes the checkpoint (s->where says where the run stands).
 * FPK_EINTR when a signal asked to stop (err: where, the file, how to resume), FPK_SUCCESS to go
 * on. A checkpoint that cannot be written is a warning when it was only due (the run goes on and
 * tries again after the interval), an error when a signal asked for it. */
static int ck_take(run_state *s, const ck_progress *ip, fpk_error *err) {
  fpk_error e = {0};
  const int sig = ck_signal(s);
  const int rc = write_checkpoint(s, ip, &e);
  s->ck_last = now_seconds();
  if (rc) {
    if (sig)
      return fpk_error_set(err, rc, "interrupted %s, but the checkpoint could not be written: %s",
                           s->where, e.msg);
    fprintf(stderr, "fpkit: warning: checkpoint %s not written: %s\n", s->where, e.msg);
    return FPK_SUCCESS;
  }
  s->ck_written = 1;
  if (!sig) return FPK_SUCCESS;
  return fpk_error_set(err, FPK_EINTR,
                       "interrupted %s, checkpoint written to %s: resume with fpkit run --resume %s",
                       s->where, s->ck_path, s->ck_path);
}

/* The safe point before a method. */
static int ck_between(run_state *s, const char *next, fpk_error *err) {
  if (!s->ck_on || !ck_poll(s)) return FPK_SUCCESS;
  snprintf(s->where, sizeof s->where, "before %s", next);
  return ck_take(s, NULL, err);
}

/* ---- reading a checkpoint back (every shape checked: fpkit/checkpoint.h) */

static int ck_read_failed(run_state *s, int rc, fpk_error *err) {
  return fpk_error_set(err, rc ? rc : FPK_EIO, "%s (a damaged checkpoint, or not one of this run)",
                       fpk_h5_reader_errmsg(s->resume));
}

/* [nt][ny][nx] or [nt][nx] (rank 1 + dim), as the output writes densities; *rank on return. */
static size_t field_dims(const experiment *x, size_t lead, size_t *dims) {
  size_t r = 0;
  if (lead) dims[r++] = lead;
  for (size_t a = 0; a < x->dim; a++) dims[r++] = x->grid.n[x->dim - 1 - a];
  return r;
}

/* The outputs of a method as write_method wrote them: density, mean, cov. */
static int ck_read_method(run_state *s, method_out *m, fpk_error *err) {
  const experiment *x = &s->x;
  char name[64];
  size_t dims[4], rank = field_dims(x, x->nt, dims), md[3] = {x->nt, x->dim, x->dim};
  int rc;
  snprintf(name, sizeof name, "/%s/density", m->name);
  if ((rc = fpk_ckpt_read_array(s->resume, name, rank, dims, m->density, err))) return rc;
  snprintf(name, sizeof name, "/%s/mean", m->name);
  if ((rc = fpk_ckpt_read_array(s->resume, name, 2, md, m->mean, err))) return rc;
  snprintf(name, sizeof name, "/%s/cov", m->name);
  return fpk_ckpt_read_array(s->resume, name, 3, md, m->cov, err);
}

/* /fv of a checkpoint: outputs done (all of them when *done), steps, seconds, and the solver state
 * put into fv. */
static int ck_read_fv(run_state *s, fpk_fv *fv, size_t *k, int *done, double *wall,
                      fpk_error *err) {
  const experiment *x = &s->x;
  const size_t nt = x->nt;
  size_t flag;
  int rc;
  if ((rc = ck_read_method(s, &s->fv, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/fv/mass", 1, &nt, s->fv_mass, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/fv/min_density", 1, &nt, s->fv_min, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/fv", "done", 1, &flag, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/fv", "outputs_done", (double)nt, k, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/fv", "steps", 1e18, &s->fv_steps, err)) ||
      (rc = fpk_ckpt_read_finite(s->resume, "/fv", "wall_seconds", wall, err)))
    return rc;
  *done = (int)flag;
  if (*done) return *k == nt ? FPK_SUCCESS : fpk_error_set(err, FPK_EINVAL,
                                                           "%s: /fv done with %zu of %zu outputs",
                                                           fpk_h5_reader_path(s->resume), *k, nt);
  if (!fv)
    return fpk_error_set(err, FPK_EINVAL, "%s: /fv is not done", fpk_h5_reader_path(s->resume));
  fpk_fv_state st;
  rc = fpk_h5_read_fv_state(s->resume, "/fv/state", &x->grid, &st, err);
  if (!rc && fpk_fv_restore(fv, &st))
    rc = fpk_error_set(err, FPK_EINVAL, "%s: %s", fpk_h5_reader_path(s->resume),
                       fpk_fv_errmsg(fv));
  fpk_h5_fv_state_free(&st);
  return rc;
}

/* The linear solver the FV run uses, as fpk_fv_solver_name names it (checked against it in
 * run_fv): also known to a resumed run that has nothing left to step. */
static const char *fv_solver_used(const experiment *x) {
  if (!x->fv_scheme->implicit) return "none";
  if (x->grid.dim == 1 || x->fv_solver == FPK_FV_SOLVER_DIRECT) return "direct";
  return "split";
}

static int run_fv(run_state *s, fpk_error *err) {
  const experiment *x = &s->x;
  const fpk_run_options *opt = s->opt;
  method_out *m = &s->fv;
  double *mass = s->fv_mass, *pmin = s->fv_min;
  const size_t cells = x->grid.size, d = x->dim;
  size_t k = 0, flag = 0;
  int rc, done = 0;
  double wall = 0.0; /* seconds spent before this process */
  const int resumed = s->resume && fpk_h5_exists(s->resume, "/fv");
  if (resumed && ((rc = fpk_ckpt_read_count(s->resume, "/fv", "done", 1, &flag, err)) || flag)) {
    /* done before the checkpoint: its outputs only */
    if (!rc) rc = ck_read_fv(s, NULL, &k, &done, &s->wall_fv, err);
    return rc;
  }
  fpk_fv *fv = fpk_fv_alloc(&x->grid, x->model, x->fv_scheme, x->fv_dt, err);
  if (!fv) return fpk_error_prefix(err, "[fp]: ");
  if (fpk_fv_set_transport(fv, x->fv_transport)) {
    rc = fpk_error_set(err, FPK_EINVAL, "[fp] transport: %s", fpk_fv_errmsg(fv));
    fpk_fv_free(fv);
    return rc;
  }
  if (fpk_fv_set_solver(fv, x->fv_solver)) {
    rc = fpk_error_set(err, FPK_EINVAL, "[fp] fv_solver: %s", fpk_fv_errmsg(fv));
    fpk_fv_free(fv);
    return rc;
  }
  if (strcmp(fpk_fv_solver_name(fv), fv_solver_used(x)) != 0) { /* the two must agree */
    rc = fpk_error_set(err, FPK_EINVAL, "[fp] fv_solver: the solver in use is %s, not %s",
                       fpk_fv_solver_name(fv), fv_solver_used(x));
    fpk_fv_free(fv);
    return rc;
  }
  if (resumed) {
    if ((rc = ck_read_fv(s, fv, &k, &done, &wall, err))) {
      fpk_fv_free(fv);
      return rc;
    }
  } else if ((rc = initial_density(x, m->density, err))) {
    fpk_fv_free(fv);
    return rc;
  } else {
    rc = fpk_fv_set_density(fv, 0.0, m->density);
  }
  if (!rc) rc = fpk_fv_set_guard(fv, &x->guard);
  if (!rc && s->ck_on) rc = fpk_fv_set_interrupt(fv, ck_poll, s);
  fpk_app_progress bar;
  fpk_app_progress_start(&bar, opt->progress, "fv", "steps", steps_before(x, x->fv_dt, x->nt),
                         steps_before(x, x->fv_dt, k));
  if (!rc && fpk_app_progress_on(&bar)) rc = fpk_fv_set_progress(fv, fpk_app_progress_cb, &bar);
  const double t0 = now_seconds() - wall;
  while (!rc && k < x->nt) {
    bar.base = steps_before(x, x->fv_dt, k);
    rc = fpk_fv_evolve(fv, x->t[k]);
    if (rc == FPK_EINTR) {
      /* a safe point inside the interval: checkpoint, then go on with the same evolve */
      fpk_fv_state st;
      fpk_fv_get_state(fv, &st);
      s->fv_k = k;
      snprintf(s->where, sizeof s->where, "at t = %g (fv, output %zu of %zu)", st.t, k + 1,
               x->nt);
      const ck_progress ip = {.method = "fv", .fv = &st, .wall = now_seconds() - t0};
      if ((rc = ck_take(s, &ip, err))) {
        fpk_fv_free(fv);
        return rc;
      }
      s->ck_hold = 1;
      continue;
    }
    if (rc && rc != FPK_ENUMERIC) break;
    /* a density that failed its guard is kept as computed, for --keep-failed */
    memcpy(m->density + k * cells, fpk_fv_density(fv), cells * sizeof(double));
    fpk_density_moments(&x->grid, m->density + k * cells, m->mean + k * d, m->cov + k * d * d);
    mass[k] = fpk_fv_mass(fv);
    pmin[k] = fpk_fv_min_density(fv);
    if (rc) break;
    k++;
  }
  s->wall_fv = now_seconds() - t0;
  fpk_app_progress_end(&bar);
  if (rc) not_computed(x, m, k + 1, (double *[]){mass, pmin}, 2);
  /* The solver keeps its own last error (nlopt style); carry it into the run's error. */
  if (rc) fpk_error_set(err, rc, "[fp]: %s", fpk_fv_errmsg(fv));
  s->fv_steps = fpk_fv_steps_taken(fv);
  s->fv_k = k;
  fpk_fv_free(fv);
  return rc;
}

static int run_stationary(const experiment *x, const double *fv_t, const double *spectral_t,
                          stationary_out *st, fpk_error *err) {
  const size_t cells = x->grid.size, nt = x->nt;
  if (!(st->kl = calloc(2 * nt, sizeof(double))) || !(st->exact = calloc(cells, sizeof(double))))
    return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  int rc;
  if (x->stationary_on && x->fv_on) {
    if (!(st->fv = calloc(cells, sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    if ((rc = fpk_fv_stationary(&x->grid, x->model, st->fv, err)))
      return fpk_error_prefix(err, "[stationary] fv: ");
  }
  if (x->stationary_on && x->spectral_on) {
    if (!(st->spectral = calloc(cells, sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    if ((rc = fpk_spectral_stationary(&x->grid, x->model, st->spectral, err)))
      return fpk_error_prefix(err, "[stationary] spectral: ");
  }
  if (x->gap_on && (rc = fpk_spectral_gap(&x->grid, x->model, &st->gap, err)))
    return fpk_error_prefix(err, "[stationary] gap: ");
  /* the closed form when there is one (fpkit/exact.h); none is not an error */
  fpk_error e = {0};
  rc = fpk_exact_stationary_cells(x->model, &x->grid, st->exact, &st->exact_what, &e);
  if (rc == FPK_EUNSUP) {
    free(st->exact);
    st->exact = NULL;
  } else if (rc) {
    *err = e;
    return rc;
  }
  const double *series[2] = {x->fv_on ? fv_t : NULL, x->spectral_on ? spectral_t : NULL};
  const double *own[2] = {st->fv, st->spectral};
  double *clipped = NULL;
  for (size_t m = 0; m < 2; m++) {
    const double *pi = st->exact ? st->exact : own[m];
    if (!st->exact && pi) {
      /* A computed π can be zero or slightly negative (~1e-15, spectral) where the density has
       * decayed, which would make every KL infinite; floor it at the smallest normal double,
       * which changes KL by p·log(p/DBL_MIN) ~ 1e-12 in such cells. */
      if (!clipped && !(clipped = malloc(cells * sizeof *clipped)))
        return fpk_error_set(err, FPK_ENOMEM, "out of memory");
      for (size_t i = 0; i < cells; i++) clipped[i] = fmax(pi[i], DBL_MIN);
      pi = clipped;
    }
    for (size_t k = 0; k < nt; k++)
      st->kl[m * nt + k] = series[m] && pi ? fpk_dist_kl(&x->grid, series[m] + k * cells, pi) : NAN;
  }
  free(clipped);
  return FPK_SUCCESS;
}

static int write_stationary(fpk_h5 *f, const experiment *x, const stationary_out *st) {
  const size_t d = x->dim, nt = x->nt;
  size_t dims[3];
  for (size_t a = 0; a < d; a++) dims[a] = x->grid.n[d - 1 - a]; /* [ny][nx] */
  int rc = fpk_h5_group(f, "/stationary",
                        "stationary densities (cell averages on /grid) computed without time "
                        "stepping, and relaxation towards them");
  if (!rc) rc = fpk_h5_write_scale(f, "/stationary/t", nt, x->t, "time", "output times");
  const char *names[3] = {"fv", "spectral", "exact"};
  const double *fields[3] = {st->fv, st->spectral, st->exact};
  const char *what[3] = {"finite volumes: unit-mass null vector of the FV operator (sparse LU)",
                         "Fourier collocation: unit-mass null vector of the dense operator (LU)",
                         st->exact_what};
  for (size_t m = 0; m < 3 && !rc; m++) {
    if (!fields[m]) continue;
    char name[64];
    snprintf(name, sizeof name, "/stationary/%s", names[m]);
    rc = fpk_h5_write(f, name, d, dims, fields[m], "1/length^dim", what[m]);
    if (!rc) rc = fpk_h5_attach_scales(f, name, d == 1 ? "x" : d == 2 ? "y x" : "z y x");
    if (!rc && m < 2 && st->exact)
      rc = fpk_h5_attr_double(f, name, "l1_vs_exact", fpk_dist_l1(&x->grid, fields[m], st->exact));
  }
  const int on[2] = {x->fv_on, x->spectral_on};
  for (size_t m = 0; m < 2 && !rc; m++) {
    if (!on[m] || isnan(st->kl[m * nt])) continue;
    char name[64], desc[160];
    snprintf(name, sizeof name, "/stationary/kl_%s", names[m]);
    snprintf(desc, sizeof desc, "KL(p_t || pi) of the %s run at each output time, pi = %s", names[m],
             st->exact ? "/stationary/exact" : "its own stationary density");
    rc = fpk_h5_write(f, name, 1, &nt, st->kl + m * nt, NULL, desc);
    if (!rc) rc = fpk_h5_attach_scales(f, name, "t");
  }
  if (!rc && x->gap_on) {
    size_t one = 1;
    rc = fpk_h5_write(f, "/stationary/gap", 1, &one, &st->gap, "1/time",
                      "spectral gap of the Fourier collocation operator: smallest |Re lambda| "
                      "over its non-zero eigenvalues");
    if (!rc) rc = fpk_h5_index_dim(f, "/stationary/one", 1);
    if (!rc) rc = fpk_h5_attach_scales(f, "/stationary/gap", "one");
  }
  return rc;
}



/* /spectral of a checkpoint, as ck_read_fv: outputs, diagnostics, and the solver state (û, the
 * step position, SBDF2's history) put into sp. */
static int ck_read_spectral(run_state *s, fpk_spectral *sp, size_t *k, int *done, double *wall,
                            fpk_error *err) {
  const experiment *x = &s->x;
  const size_t nt = x->nt;
  spectral_diag *dg = &s->sd;
  size_t flag;
  int rc;
  if ((rc = ck_read_method(s, &s->spectral, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/spectral/mass", 1, &nt, dg->mass, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/spectral/min_density", 1, &nt, dg->min, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/spectral/tail_energy", 1, &nt, dg->tail, err)) ||
      (rc = fpk_ckpt_read_array(s->resume, "/spectral/edge_density", 1, &nt, dg->edge, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/spectral", "done", 1, &flag, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/spectral", "outputs_done", (double)nt, k, err)) ||
      (rc = fpk_ckpt_read_count(s->resume, "/spectral", "steps", 1e18, &dg->steps, err)) ||
      (rc = fpk_ckpt_read_finite(s->resume, "/spectral", "wall_seconds", wall, err)))
    return rc;
  *done = (int)flag;
  if (*done) return *k == nt ? FPK_SUCCESS : fpk_error_set(err, FPK_EINVAL,
                                                           "%s: /spectral done with %zu of %zu "
                                                           "outputs",
                                                           fpk_h5_reader_path(s->resume), *k, nt);
  if (!sp)
    return fpk_error_set(err, FPK_EINVAL, "%s: /spectral is not done",
                         fpk_h5_reader_path(s->resume));
  fpk_spectral_state st, cur;
  fpk_spectral_get_state(sp, &cur);
  rc = fpk_h5_read_spectral_state(s->resume, "/spectral/state", cur.nc, &st, err);
  if (!rc && fpk_spectral_restore(sp, &st))
    rc = fpk_error_set(err, FPK_EINVAL, "%s: %s", fpk_h5_reader_path(s->resume),
                       fpk_spectral_errmsg(sp));
  fpk_h5_spectral_state_free(&st);
  return rc;
}

static int run_spectral(run_state *s, fpk_error *err) {
  const experiment *x = &s->x;
  const fpk_run_options *opt = s->opt;
  method_out *m = &s->spectral;
  spectral_diag *dg = &s->sd;
  const size_t cells = x->grid.size, d = x->dim;
  fpk_spectral_options so = x->spectral_opt;
  /* FFTW threads pay off only on large 2D grids; small transforms run on one thread. */
  so.nthreads = cells >= 65536 ? omp_get_max_threads() : 1;
  /* A 3D grid under mpirun is distributed over the ranks (slabs along z, bitwise the
   * one-process result: docs/spectral-scheme.md); the density comes back whole on every rank,
   * so the output code below is unchanged (rank 0 writes). Checkpoints of a distributed solver
   * are not supported: no interrupt is polled then. */
  const int spread = x->grid.dim == 3 && fpk_comm_size(opt->comm) > 1;
  if (spread) so.comm = opt->comm;
  size_t k = 0, flag = 0;
  int rc, done = 0;
  double wall = 0.0; /* seconds spent before this process */
  const int resumed = s->resume && fpk_h5_exists(s->resume, "/spectral");
  if (resumed &&
      ((rc = fpk_ckpt_read_count(s->resume, "/spectral", "done", 1, &flag, err)) || flag)) {
    if (!rc) rc = ck_read_spectral(s, NULL, &k, &done, &s->wall_spectral, err);
    return rc;
  }
  fpk_spectral *sp = fpk_spectral_alloc(&x->grid, x->model, x->spectral_scheme, x->spectral_dt,
                                        &so, err);
  if (!sp) return fpk_error_prefix(err, "[spectral]: ");
  snprintf(dg->warning, sizeof dg->warning, "%s", fpk_spectral_warning(sp));
  if (resumed) {
    if ((rc = ck_read_spectral(s, sp, &k, &done, &wall, err))) {
      fpk_spectral_free(sp);
      return rc;
    }
  } else if ((rc = initial_density(x, m->density, err))) {
    fpk_spectral_free(sp);
    return rc;
  } else {
    rc = fpk_spectral_set_density(sp, 0.0, m->density);
  }
  if (!rc) rc = fpk_spectral_set_guard(sp, &x->guard);
  if (!rc && s->ck_on && !spread) rc = fpk_spectral_set_interrupt(sp, ck_poll, s);
  fpk_app_progress bar;
  fpk_app_progress_start(&bar, opt->progress, "spectral", "steps",
                         steps_before(x, x->spectral_dt, x->nt),
                         steps_before(x, x->spectral_dt, k));
  if (!rc && fpk_app_progress_on(&bar)) rc = fpk_spectral_set_progress(sp, fpk_app_progress_cb, &bar);
  const double t0 = now_seconds() - wall;
  while (!rc && k < x->nt) {
    bar.base = steps_before(x, x->spectral_dt, k);
    rc = fpk_spectral_evolve(sp, x->t[k]);
    if (rc == FPK_EINTR) {
      fpk_spectral_state st;
      fpk_spectral_get_state(sp, &st);
      s->spectral_k = k;
      snprintf(s->where, sizeof s->where, "at t = %g (spectral, output %zu of %zu)", st.t, k + 1,
               x->nt);
      const ck_progress ip = {.method = "spectral", .spectral = &st, .wall = now_seconds() - t0};
      if ((rc = ck_take(s, &ip, err))) {
        fpk_spectral_free(sp);
        return rc;
      }
      s->ck_hold = 1;
      continue;
    }
    if (rc && rc != FPK_ENUMERIC) break;
    memcpy(m->density + k * cells, fpk_spectral_density(sp), cells * sizeof(double));
    fpk_density_moments(&x->grid, m->density + k * cells, m->mean + k * d, m->cov + k * d * d);
    dg->mass[k] = fpk_spectral_mass(sp);
    dg->min[k] = fpk_spectral_min_density(sp);
    dg->tail[k] = fpk_spectral_tail_energy(sp);
    dg->edge[k] = fpk_spectral_edge_density(sp);
    if (rc) break;
    k++;
  }
  s->wall_spectral = now_seconds() - t0;
  fpk_app_progress_end(&bar);
  if (rc) not_computed(x, m, k + 1, (double *[]){dg->mass, dg->min, dg->tail, dg->edge}, 4);
  if (rc) fpk_error_set(err, rc, "[spectral]: %s", fpk_spectral_errmsg(sp));
  dg->steps = fpk_spectral_steps_taken(sp);
  s->spectral_k = k;
  fpk_spectral_free(sp);
  return rc;
}

/* ------------------------------------------------------------------------------- output */

/* nan_means: NULL when every value must be finite, else what NaN means in mean and cov (the
 * moments of an ensemble with no survivor). */
static int write_method(fpk_h5 *f, const experiment *x, const method_out *m, const char *desc,
                        const char *nan_means) {
  const size_t d = x->dim, nt = x->nt;
  char name[64];
  size_t dims[4] = {nt, 0, 0, 0}, rank = 1 + d;
  for (size_t a = 0; a < d; a++) dims[1 + a] = x->grid.n[d - 1 - a]; /* [nt][ny][nx] */
  int rc;
  snprintf(name, sizeof name, "/%s", m->name);
  if ((rc = fpk_h5_group(f, name, desc))) return rc;
  snprintf(name, sizeof name, "/%s/t", m->name);
  if ((rc = fpk_h5_write_scale(f, name, nt, x->t, "time", "output times"))) return rc;
  snprintf(name, sizeof name, "/%s/density", m->name);
  const char *what = d == 3 ? "probability density: cell averages on /grid, indexed [t][z][y][x]"
                            : "probability density: cell averages on /grid, indexed [t][y][x]";
  if (d == 3 && f == x->slab_file) {
    /* this rank's planes of every time (the densities are whole on every rank) */
    const size_t plane = dims[2] * dims[3], z0 = x->slab_z0, nzl = x->slab_nz;
    double *slab = malloc((nt * nzl * plane + 1) * sizeof *slab);
    if (!slab) return FPK_ENOMEM; /* alone: the file's next agreement takes every rank out */
    for (size_t k = 0; k < nt; k++)
      memcpy(slab + k * nzl * plane, m->density + (k * dims[1] + z0) * plane,
             nzl * plane * sizeof *slab);
    rc = fpk_h5_write_slab(f, name, rank, dims, 1, z0, nzl, slab, "1/length^dim", what);
    free(slab);
    if (rc) return rc;
  } else if ((rc = fpk_h5_write(f, name, rank, dims, m->density, "1/length^dim", what))) {
    return rc;
  }
  if (
      (rc = fpk_h5_attach_scales(f, name, d == 1 ? "t x" : d == 2 ? "t y x" : "t z y x")) ||
      (d >= 2 && (rc = fpk_h5_xdmf_field(f, name))))
    return rc;
  size_t md[3] = {nt, d, d};
  snprintf(name, sizeof name, "/%s/mean", m->name);
  if ((rc = nan_means ? fpk_h5_write_undefined(f, name, 2, md, m->mean, "length",
                                               "mean at each output time", nan_means)
                      : fpk_h5_write(f, name, 2, md, m->mean, "length", "mean at each output time")) ||
      (rc = fpk_h5_attach_scales(f, name, "t component")))
    return rc;
  snprintf(name, sizeof name, "/%s/cov", m->name);
  rc = nan_means ? fpk_h5_write_undefined(f, name, 3, md, m->cov, "length^2",
                                          "covariance at each output time", nan_means)
                 : fpk_h5_write(f, name, 3, md, m->cov, "length^2",
                                "covariance at each output time");
  return rc ? rc : fpk_h5_attach_scales(f, name, "t component component2");
}

/* Every metric between two methods at every output time: /errors/<metric>_<a>_<b>. */
static int write_errors(fpk_h5 *f, const experiment *x, const method_out *a, const method_out *b,
                        double *last) {
  const size_t nt = x->nt, cells = x->grid.size, d = x->dim;
  double *v = malloc(6 * nt * sizeof *v);
  if (!v) return FPK_ENOMEM;
  for (size_t k = 0; k < nt; k++) {
    const double *p = a->density + k * cells, *q = b->density + k * cells;
    v[0 * nt + k] = fpk_dist_l1(&x->grid, p, q);
    v[1 * nt + k] = fpk_dist_l2(&x->grid, p, q);
    v[2 * nt + k] = fpk_dist_linf(&x->grid, p, q);
    v[3 * nt + k] = fpk_dist_kl(&x->grid, p, q);
    v[4 * nt + k] = fpk_dist_euclid(d, a->mean + k * d, b->mean + k * d);
    v[5 * nt + k] = fpk_dist_euclid(d * d, a->cov + k * d * d, b->cov + k * d * d);
  }
  static const char *metric[] = {"l1", "l2", "linf", "kl", "mean", "cov"};
  static const char *what[] = {
      "L1 distance of densities, sum |p - q| h^d", "L2 distance of densities",
      "max-norm distance of densities", "Kullback-Leibler divergence KL(p || q) on the grid",
      "Euclidean norm of the difference of means", "Frobenius norm of the difference of covariances"};
  int rc = FPK_SUCCESS;
  for (size_t m = 0; m < 6 && !rc; m++) {
    char name[96], desc[256];
    snprintf(name, sizeof name, "/errors/%s_%s_%s", metric[m], a->name, b->name);
    snprintf(desc, sizeof desc, "%s, p = %s, q = %s, at each output time", what[m], a->name, b->name);
    last[m] = v[m * nt + nt - 1];
    if (m == 3) {
      /* KL(p || q) is +inf where q = 0 in a cell with p > 0 (a start from a field whose
       * negatives were cleared, an empty histogram cell): a true value, not a failure, but the
       * writer takes no infinity: stored as NaN with its meaning */
      for (size_t k = 0; k < nt; k++)
        if (isinf(v[m * nt + k]) && v[m * nt + k] > 0.0) v[m * nt + k] = NAN;
      rc = fpk_h5_write_undefined(f, name, 1, &nt, v + m * nt, NULL, desc,
                                  "+infinity: q = 0 in a cell where p > 0 (in a file "
                                  "marked failed, also: a non-finite density)");
    } else {
      rc = fpk_h5_write(f, name, 1, &nt, v + m * nt, NULL, desc);
    }
    if (!rc) rc = fpk_h5_attach_scales(f, name, "t");
  }
  free(v);
  return rc;
}

static int write_grid(fpk_h5 *f, const experiment *x) {
  static const char *axis[] = {"x", "y", "z"};
  int rc = fpk_h5_group(f, "/grid", x->dim == 3 ? "uniform cell-centred grid; densities are "
                                                  "indexed [t][z][y][x]"
                                                : "uniform cell-centred grid; densities are "
                                                  "indexed [t][y][x]");
  for (size_t a = 0; a < x->dim && !rc; a++) {
    double *c = malloc(x->grid.n[a] * sizeof *c);
    if (!c) return FPK_ENOMEM;
    for (size_t i = 0; i < x->grid.n[a]; i++) c[i] = fpk_grid_center(&x->grid, a, i);
    char name[32], desc[128];
    snprintf(name, sizeof name, "/grid/%s", axis[a]);
    snprintf(desc, sizeof desc, "cell centres along %s; cells [lo + i h, lo + (i+1) h]", axis[a]);
    rc = fpk_h5_write_scale(f, name, x->grid.n[a], c, "length", desc);
    free(c);
    if (!rc) rc = fpk_h5_attr_double(f, name, "lo", x->grid.lo[a]);
    if (!rc) rc = fpk_h5_attr_double(f, name, "hi", x->grid.hi[a]);
    if (!rc) rc = fpk_h5_attr_string(f, name, "bc", fpk_bc_name(x->grid.bc[a]));
  }
  /* the index axes of the moments, seen by every group (netCDF-4 dimensions of the root) */
  if (!rc) rc = fpk_h5_index_dim(f, "/component", x->dim);
  if (!rc) rc = fpk_h5_index_dim(f, "/component2", x->dim);
  return rc;
}

/* /init: what the run started from, for [init] type = expr or file (docs/hdf5-layout.md). */
static int write_init(fpk_h5 *f, const experiment *x) {
  if (x->init_type == INIT_EXPR)
    return fpk_h5_group(f, "/init",
                        "initial density from an expression: cell averages (3-point "
                        "Gauss-Legendre per axis) of density / normaliser") ||
           fpk_h5_attr_string(f, "/init", "type", "expr") ||
           fpk_h5_attr_string(f, "/init", "density", x->init_expr) ||
           fpk_h5_attr_double(f, "/init", "normaliser", x->init_norm);
  if (x->init_type == INIT_FILE)
    return fpk_h5_group(f, "/init", "initial density from another run's output") ||
           fpk_h5_attr_string(f, "/init", "type", "file") ||
           fpk_h5_attr_string(f, "/init", "file", x->init_file) ||
           fpk_h5_attr_string(f, "/init", "method", x->init_method) ||
           fpk_h5_attr_double(f, "/init", "time", x->init_time) ||
           fpk_h5_attr_u64(f, "/init", "time_index", x->init_index) ||
           fpk_h5_attr_double(f, "/init", "mass", x->init_norm) ||
           fpk_h5_attr_u64(f, "/init", "clipped", x->init_clipped);
  return FPK_SUCCESS;
}

static void print_init(const experiment *x) {
  if (x->init_type == INIT_EXPR)
    printf("init      density = %s, normalised on the grid: Z = %.17g\n", x->init_expr,
           x->init_norm);
  else if (x->init_type == INIT_FILE)
    printf("init      %s /%s/density at t = %.17g (index %zu): mass %.17g%s%s\n", x->init_file,
           x->init_method, x->init_time, x->init_index, x->init_norm,
           fabs(x->init_norm - 1.0) > 1e-12 ? ", renormalised to 1" : "",
           x->init_clipped ? ", negative values set to 0" : "");
}

/* ------------------------------------------------------------------------------- driver */


static void release(run_state *s) {
  fpk_h5_close(s->file);
  fpk_h5_reader_close(s->resume);
  free_out(&s->fv), free_out(&s->spectral), free_out(&s->exact);
  free(s->sd.mass), free(s->sd.min), free(s->sd.tail), free(s->sd.edge);
  free(s->st.fv), free(s->st.spectral), free(s->st.exact), free(s->st.kl);
  free(s->fv_mass), free(s->fv_min), free(s->chain_mean), free(s->chain_cov);
  fpk_mc_result_free(&s->mcr);
  fpk_model_free(s->x.model);
  free(s->x.init_p);
  fpk_config_free(s->cfg);
  free(s->ck_path);
  free(s->config_text), free(s->config_file), free(s->output), free(s->exact_what);
  fpk_h5_mc_state_free(&s->mc_resume);
}

/* The writer's error (its status: FPK_EIO, or FPK_ENUMERIC for a non-finite value); a failure
 * outside the writer (memory for the distances) has none of its own. */
static int h5_failed(fpk_h5 *f, fpk_error *err) {
  const int st = fpk_h5_status(f);
  if (!st) return fpk_error_set(err, FPK_ENOMEM, "out of memory while writing the output");
  return fpk_error_set(err, st, "%s", fpk_h5_errmsg(f));
}

/* ---- writing a checkpoint (layout: docs/checkpoint.md) */

/* The configuration the output stores: the checkpoint's own text when resuming (the run's
 * configuration, verbatim), else the resolved one. */
static const char *config_text(run_state *s) {
  return s->config_text ? s->config_text : fpk_config_resolved(s->cfg);
}

/* /fv: every output array (rows from outputs_done on are not results yet), and the solver state
 * unless fv is done (st NULL). Non-zero on a failure (the error is on f). */
static int ck_write_fv(fpk_h5 *f, run_state *s, const fpk_fv_state *st, double wall) {
  const experiment *x = &s->x;
  const size_t nt = x->nt;
  const int done = st == NULL;
  if (write_method(f, x, &s->fv, "finite volumes: outputs done so far (outputs_done)", NULL) ||
      fpk_h5_write(f, "/fv/mass", 1, &nt, s->fv_mass, NULL, NULL) ||
      fpk_h5_write(f, "/fv/min_density", 1, &nt, s->fv_min, NULL, NULL) ||
      fpk_h5_attr_u64(f, "/fv", "done", (uint64_t)done) ||
      fpk_h5_attr_u64(f, "/fv", "outputs_done", done ? nt : s->fv_k) ||
      fpk_h5_attr_u64(f, "/fv", "steps", done ? s->fv_steps : st->steps) ||
      fpk_h5_attr_double(f, "/fv", "wall_seconds", done ? s->wall_fv : wall))
    return 1;
  if (done) return 0;
  return fpk_h5_write_fv_state(f, "/fv/state", &x->grid, st) != FPK_SUCCESS;
}

/* /spectral: the same, with the diagnostics, and the Fourier state (û, SBDF2's history). */
static int ck_write_spectral(fpk_h5 *f, run_state *s, const fpk_spectral_state *st,
                             double wall) {
  const experiment *x = &s->x;
  const spectral_diag *dg = &s->sd;
  const size_t nt = x->nt;
  const int done = st == NULL;
  if (write_method(f, x, &s->spectral, "spectral: outputs done so far (outputs_done)", NULL) ||
      fpk_h5_write(f, "/spectral/mass", 1, &nt, dg->mass, NULL, NULL) ||
      fpk_h5_write(f, "/spectral/min_density", 1, &nt, dg->min, NULL, NULL) ||
      fpk_h5_write(f, "/spectral/tail_energy", 1, &nt, dg->tail, NULL, NULL) ||
      fpk_h5_write(f, "/spectral/edge_density", 1, &nt, dg->edge, NULL, NULL) ||
      fpk_h5_attr_u64(f, "/spectral", "done", (uint64_t)done) ||
      fpk_h5_attr_u64(f, "/spectral", "outputs_done", done ? nt : s->spectral_k) ||
      fpk_h5_attr_u64(f, "/spectral", "steps", done ? dg->steps : st->steps) ||
      fpk_h5_attr_double(f, "/spectral", "wall_seconds", done ? s->wall_spectral : wall))
    return 1;
  if (done) return 0;
  return fpk_h5_write_spectral_state(f, "/spectral/state", st) != FPK_SUCCESS;
}

/* /stationary, once done: the fields, the relaxation KL (NaN for a method that did not run), the
 * gap and the description of the closed form. */
static int ck_write_stationary(fpk_h5 *f, run_state *s) {
  const experiment *x = &s->x;
  const stationary_out *st = &s->st;
  size_t dims[3], rank = field_dims(x, 0, dims), kd[2] = {2, x->nt};
  if (fpk_h5_group(f, "/stationary", "stationary densities: done") ||
      (st->fv && fpk_h5_write(f, "/stationary/fv", rank, dims, st->fv, NULL, NULL)) ||
      (st->spectral &&
       fpk_h5_write(f, "/stationary/spectral", rank, dims, st->spectral, NULL, NULL)) ||
      (st->exact && fpk_h5_write(f, "/stationary/exact", rank, dims, st->exact, NULL, NULL)) ||
      (st->exact && fpk_h5_attr_string(f, "/stationary/exact", "what", st->exact_what)) ||
      fpk_h5_write_undefined(f, "/stationary/kl", 2, kd, st->kl, NULL, "[fv, spectral][t]",
                             "the method did not run") ||
      fpk_h5_attr_double(f, "/stationary", "gap", st->gap))
    return 1;
  return 0;
}

/* /mc while the ensemble runs: the engine's state after a round (fpkit/checkpoint.h), and the
 * seconds spent. */
static int ck_write_mc(fpk_h5 *f, const fpk_mc_state *st, double wall) {
  return fpk_h5_write_mc_state(f, "/mc", st) ||
         fpk_h5_attr_double(f, "/mc", "wall_seconds", wall);
}

/* The whole state of the run at a safe point, written through the output writer (a temporary
 * renamed onto the checkpoint: the previous checkpoint stays whole until the new one is). */
static int write_checkpoint(run_state *s, const ck_progress *ip, fpk_error *err) {
  const experiment *x = &s->x;
  const fpk_run_options *opt = s->opt;
  const char *inputs[2] = {opt->config_path, x->output};
  const fpk_h5_create_options co = {.inputs = inputs, .ninputs = 2, .no_sidecar = 1};
  fpk_h5 *f = fpk_h5_create(s->ck_path, &co, err);
  if (!f) return err->status;
  if (opt->on_checkpoint_temp) opt->on_checkpoint_temp(fpk_h5_temp_path(f));
  const char *method = ip ? ip->method : "none";
  const double wall = ip ? ip->wall : 0.0;
  /* the FFT plans of this process, so that a resumed one makes the same (fpkit/spectral.h) */
  char *wisdom =
      x->spectral_on || x->gap_on || x->stationary_on ? fpk_spectral_export_wisdom() : NULL;
  int bad = fpk_ckpt_mark(f) || fpk_h5_attr_string(f, "/", "config", config_text(s)) ||
            fpk_h5_attr_string(f, "/", "config_file", opt->config_path) ||
            fpk_h5_attr_string(f, "/", "output", x->output) ||
            fpk_h5_attr_string(f, "/", "created", s->created) ||
            fpk_h5_attr_double(f, "/", "checkpoint_every",
                               isfinite(s->ck_every) ? s->ck_every : 0.0) ||
            fpk_h5_attr_string(f, "/", "in_progress", method) ||
            fpk_h5_attr_string(f, "/", "where", s->where) ||
            (wisdom && fpk_h5_attr_string(f, "/", "fftw_wisdom", wisdom)) || write_grid(f, x);
  free(wisdom);
  if (!bad && s->exact_done)
    bad = write_method(f, x, &s->exact, "closed form: done", NULL) ||
          fpk_h5_attr_u64(f, "/exact", "done", 1);
  if (!bad && x->fv_on && (s->fv_done || (ip && ip->fv)))
    bad = ck_write_fv(f, s, s->fv_done ? NULL : ip->fv, wall);
  if (!bad && x->spectral_on && (s->spectral_done || (ip && ip->spectral)))
    bad = ck_write_spectral(f, s, s->spectral_done ? NULL : ip->spectral, wall);
  if (!bad && s->stationary_done) bad = ck_write_stationary(f, s);
  if (!bad && ip && ip->mc) bad = ck_write_mc(f, ip->mc, wall);
  if (!bad) bad = fpk_h5_commit(f);
  const int rc = bad ? h5_failed(f, err) : FPK_SUCCESS;
  fpk_h5_close(f);
  if (opt->on_checkpoint_temp) opt->on_checkpoint_temp(NULL);
  return rc;
}

/* The Monte Carlo engine's checkpoint callback (fpk_mc_params.checkpoint). */
static int mc_checkpoint(const fpk_mc_state *st, void *user) {
  run_state *s = user;
  snprintf(s->where, sizeof s->where, "in mc after %zu of %zu paths", st->paths_done,
           st->npaths);
  const ck_progress ip = {.method = "mc", .mc = st, .wall = now_seconds() - s->mc_t0};
  fpk_error_clear(&s->ck_err);
  return ck_take(s, &ip, &s->ck_err);
}

/* ---- reading the other parts of a checkpoint back */

/* /mc: the engine's state, into st (arrays owned by s). */
static int ck_read_mc(run_state *s, fpk_mc_state *st, double *wall, fpk_error *err) {
  const experiment *x = &s->x;
  size_t total = 0;
  for (size_t k = 0; k < x->nt; k++) {
    size_t n;
    double h;
    int rc = fpk_time_steps(k ? x->t[k - 1] : 0.0, x->t[k], x->mc.dt, &n, &h, err);
    if (rc) return rc;
    total += n;
  }
  const fpk_mc_state expect = {.npaths = x->mc.npaths, .nt = x->nt, .cells = x->grid.size,
                               .dim = x->dim, .nsteps = total, .keep_paths = x->mc.keep_paths,
                               .seed = x->mc.seed};
  int rc = fpk_h5_read_mc_state(s->resume, "/mc", &expect, st, err);
  return rc ? rc : fpk_ckpt_read_finite(s->resume, "/mc", "wall_seconds", wall, err);
}

/* /stationary, done before the checkpoint. */
static int ck_read_stationary(run_state *s, fpk_error *err) {
  const experiment *x = &s->x;
  stationary_out *st = &s->st;
  const size_t cells = x->grid.size;
  size_t dims[3], rank = field_dims(x, 0, dims), kd[2] = {2, x->nt};
  if (!(st->kl = calloc(2 * x->nt, sizeof(double))))
    return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  int rc = fpk_ckpt_read_array(s->resume, "/stationary/kl", 2, kd, st->kl, err);
  if (!rc) rc = fpk_ckpt_read_finite(s->resume, "/stationary", "gap", &st->gap, err);
  const char *names[3] = {"/stationary/fv", "/stationary/spectral", "/stationary/exact"};
  double **fields[3] = {&st->fv, &st->spectral, &st->exact};
  const int want[3] = {x->stationary_on && x->fv_on, x->stationary_on && x->spectral_on, -1};
  for (size_t m = 0; m < 3 && !rc; m++) {
    const int is = fpk_h5_is_dataset(s->resume, names[m]);
    if (is < 0) return ck_read_failed(s, FPK_EIO, err);
    if (want[m] >= 0 && is != want[m])
      return fpk_error_set(err, FPK_EINVAL, "%s: %s '%s' (a damaged checkpoint)",
                           fpk_h5_reader_path(s->resume), is ? "unexpected" : "no", names[m]);
    if (!is) continue;
    if (!(*fields[m] = calloc(cells, sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    rc = fpk_ckpt_read_array(s->resume, names[m], rank, dims, *fields[m], err);
  }
  if (!rc && st->exact) {
    if ((rc = fpk_h5_read_attr_string(s->resume, "/stationary/exact", "what", &s->exact_what)))
      return ck_read_failed(s, rc, err);
    st->exact_what = s->exact_what;
  }
  return rc;
}

/* A string attribute of the checkpoint's root, into *out (malloc'd). */
static int ck_string(run_state *s, const char *name, char **out, fpk_error *err) {
  int rc = fpk_h5_read_attr_string(s->resume, "/", name, out);
  return rc ? ck_read_failed(s, rc, err) : FPK_SUCCESS;
}

/* The configuration stored in the checkpoint, parsed by the configuration layer (which reads
 * files): through a temporary file, removed at once. */
static fpk_config *load_stored_config(const char *text, const char *ckpt, fpk_error *err) {
  char name[4200];
  snprintf(name, sizeof name, "%s (stored config)", ckpt);
  fpk_config *c = fpk_config_parse(name, text, strlen(text), err);
  if (!c)
    fpk_error_prefix(err, "checkpoint %s: its stored configuration does not parse: ", ckpt);
  return c;
}

/* --resume: opens the checkpoint (fpk_ckpt_open checks what it is and which version wrote it)
 * and takes the run's configuration, configuration path, output, start time and checkpoint
 * interval from it (the command line's -o, --checkpoint and --checkpoint-every still apply). */
static int open_resume(run_state *s, fpk_run_options *o, fpk_error *err) {
  const char *path = o->resume_path;
  if (!(s->resume = fpk_ckpt_open(path, err))) return err->status;
  fpk_h5_reader *r = s->resume;
  double every;
  int rc;
  char *created = NULL;
  if ((rc = ck_string(s, "config", &s->config_text, err)) ||
      (rc = ck_string(s, "config_file", &s->config_file, err)) ||
      (rc = ck_string(s, "output", &s->output, err)) ||
      (rc = ck_string(s, "created", &created, err)) ||
      (rc = fpk_ckpt_read_finite(s->resume, "/", "checkpoint_every", &every, err)))
    return rc;
  snprintf(s->created, sizeof s->created, "%s", created);
  free(created);
  if (fpk_h5_has_attr(r, "/", "fftw_wisdom")) {
    char *wisdom = NULL;
    if ((rc = ck_string(s, "fftw_wisdom", &wisdom, err))) return rc;
    rc = fpk_spectral_import_wisdom(wisdom);
    free(wisdom);
    if (rc)
      return fpk_error_set(err, FPK_EINVAL, "checkpoint '%s': FFTW rejects its stored wisdom",
                           path);
  }
  if (!(s->cfg = load_stored_config(s->config_text, path, err))) return err->status;
  o->config_path = s->config_file;
  if (!o->output) o->output = s->output;
  if (!(o->checkpoint_every > 0.0)) o->checkpoint_every = every > 0.0 ? every : INFINITY;
  if (!o->checkpoint_path) o->checkpoint_path = path;
  return FPK_SUCCESS;
}

/* Runs every method that is on. A method that fails stops the run; a numerical failure (an
 * output guard) under --keep-failed instead turns off the methods not yet run and returns
 * FPK_ENUMERIC, so that what was computed can be written with the failure recorded. With
 * checkpoints, FPK_EINTR: a signal stopped the run at a safe point, whose checkpoint is written.
 * A resumed run takes the methods done from the checkpoint and continues the one in progress. */
static int compute(run_state *s, const fpk_run_options *opt, fpk_error *err) {
  experiment *x = &s->x;
  const size_t nt = x->nt, d = x->dim;
  int rc;
  int *later[] = {&x->spectral_on, &x->stationary_on, &x->gap_on, &x->mc_on};
  if (x->exact_on) {
    if ((rc = ck_between(s, "exact", err))) return rc;
    progress(opt, "exact");
    if (alloc_out(&s->exact, "exact", x)) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    if (s->resume && fpk_h5_exists(s->resume, "/exact"))
      rc = ck_read_method(s, &s->exact, err);
    else
      rc = run_exact(x, &s->exact, err);
    if (rc) return rc;
    s->exact_done = 1;
  }
  if (x->fv_on) {
    if ((rc = ck_between(s, "fv", err))) return rc;
    if (alloc_out(&s->fv, "fv", x) || !(s->fv_mass = calloc(nt, sizeof(double))) ||
        !(s->fv_min = calloc(nt, sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    if ((rc = run_fv(s, err))) {
      if (rc == FPK_EINTR) return rc;
      for (size_t i = 0; i < 4; i++) *later[i] = 0;
      return rc;
    }
    s->fv_done = 1;
  }
  if (x->spectral_on) {
    if ((rc = ck_between(s, "spectral", err))) return rc;
    spectral_diag *dg = &s->sd;
    if (alloc_out(&s->spectral, "spectral", x) || !(dg->mass = calloc(nt, sizeof(double))) ||
        !(dg->min = calloc(nt, sizeof(double))) || !(dg->tail = calloc(nt, sizeof(double))) ||
        !(dg->edge = calloc(nt, sizeof(double))))
      return fpk_error_set(err, FPK_ENOMEM, "out of memory");
    rc = run_spectral(s, err);
    if (dg->warning[0]) {
      fpk_app_progress_clear(opt->progress);
      fprintf(stderr, "fpkit: warning: [spectral] %s\n", dg->warning);
      fpk_app_log(FPK_LOG_WARN, "[spectral] %s", dg->warning);
    }
    if (rc) {
      if (rc == FPK_EINTR) return rc;
      for (size_t i = 1; i < 4; i++) *later[i] = 0;
      return rc;
    }
    s->spectral_done = 1;
  }
  if (x->stationary_on || x->gap_on) {
    if ((rc = ck_between(s, "stationary", err))) return rc;
    progress(opt, "stationary");
    if (s->resume && fpk_h5_exists(s->resume, "/stationary"))
      rc = ck_read_stationary(s, err);
    else
      rc = run_stationary(x, s->fv.density, s->spectral.density, &s->st, err);
    if (rc) {
      x->stationary_on = x->gap_on = x->mc_on = 0;
      return rc;
    }
    s->stationary_done = 1;
  }
  if (x->mc_on) {
    if ((rc = ck_between(s, "mc", err))) return rc;
    x->mc.nthreads = opt->threads;
    x->mc.comm = opt->comm; /* several processes split the path blocks (docs/parallel.md) */
    double wall = 0.0;
    if (s->resume && fpk_h5_exists(s->resume, "/mc")) {
      if ((rc = ck_read_mc(s, &s->mc_resume, &wall, err))) return rc;
      x->mc.resume = &s->mc_resume;
    }
    if (s->ck_on) {
      x->mc.poll = ck_poll;
      x->mc.checkpoint = mc_checkpoint;
      x->mc.user = s;
    }
    s->mc_t0 = now_seconds() - wall;
    fpk_app_progress bar;
    fpk_app_progress_start(&bar, opt->progress, "mc", "paths", x->mc.npaths,
                           x->mc.resume ? x->mc.resume->paths_done : 0);
    if (fpk_app_progress_on(&bar)) {
      x->mc.progress = fpk_app_progress_cb;
      x->mc.progress_user = &bar;
    }
    rc = fpk_mc_run(x->model, &x->init, &x->grid, x->t, nt, &x->mc, &s->mcr, err);
    x->mc.progress = NULL;
    x->mc.progress_user = NULL;
    fpk_app_progress_end(&bar);
    x->mc.resume = NULL;
    if (rc) {
      x->mc_on = 0; /* the engine keeps nothing of a failed ensemble */
      /* stopped by its checkpoint (a signal), or the checkpoint failed: that is the error */
      if (s->ck_err.status) return fpk_error_copy(err, &s->ck_err);
      return fpk_error_prefix(err, "[mc]: ");
    }
    s->wall_mc = now_seconds() - s->mc_t0;
    s->mc = (method_out){"mc", s->mcr.density, s->mcr.mean, s->mcr.cov};
    if (chain_law(x)) {
      if (!(s->chain_mean = calloc(nt * d, sizeof(double))) ||
          !(s->chain_cov = calloc(nt * d * d, sizeof(double))))
        return fpk_error_set(err, FPK_ENOMEM, "out of memory");
      if ((rc = run_chain_law(x, &s->exact, s->chain_mean, s->chain_cov, err))) return rc;
    }
  }
  return FPK_SUCCESS;
}

/* Where checkpoints go and whether that destination is usable, before anything is computed:
 * --checkpoint FILE, the checkpoint resumed from, or OUT.ckpt beside the output. */
static int ck_prepare(run_state *s, const fpk_run_options *opt, fpk_error *err) {
  const experiment *x = &s->x;
  s->ck_on = opt->checkpoint_every > 0.0 || opt->resume_path;
  if (!s->ck_on) return FPK_SUCCESS;
  s->ck_every = opt->checkpoint_every > 0.0 ? opt->checkpoint_every : INFINITY;
  s->ck_last = now_seconds();
  const size_t k = opt->checkpoint_path ? strlen(opt->checkpoint_path) : strlen(x->output) + 5;
  if (!(s->ck_path = malloc(k + 1))) return fpk_error_set(err, FPK_ENOMEM, "out of memory");
  if (opt->checkpoint_path)
    memcpy(s->ck_path, opt->checkpoint_path, k + 1);
  else
    snprintf(s->ck_path, k + 1, "%s.ckpt", x->output);
  if (!strcmp(s->ck_path, x->output))
    return fpk_error_set(err, FPK_EINVAL,
                         "the checkpoint file '%s' is the output: give another --checkpoint path",
                         s->ck_path);
  /* Create and drop a temporary: the destination checks of the output writer, and the removal
   * of temporaries a killed checkpoint left. */
  const char *inputs[2] = {opt->config_path, x->output};
  const fpk_h5_create_options co = {.inputs = inputs, .ninputs = 2, .no_sidecar = 1};
  fpk_h5 *f = fpk_h5_create(s->ck_path, &co, err);
  if (!f) return fpk_error_prefix(err, "checkpoint: ");
  const size_t stale = fpk_h5_stale_removed(f);
  if (stale && !opt->quiet)
    fprintf(stderr, "fpkit: removed %zu stale temporary file%s of %s left by an interrupted run\n",
            stale, stale == 1 ? "" : "s", s->ck_path);
  fpk_h5_close(f);
  return FPK_SUCCESS;
}

static int execute(run_state *s, const fpk_run_options *opt, fpk_error *err) {
  experiment *x = &s->x;
  const size_t nt = x->nt, d = x->dim;
  if (!s->created[0]) {
    time_t now = time(NULL);
    strftime(s->created, sizeof s->created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  }

  /* Create the output first: a bad or unwritable path fails before any computation. A resumed
   * run's checkpoint is one of its inputs. */
  const char *inputs[2];
  size_t ninputs = 0;
  if (opt->resume_path) inputs[ninputs++] = opt->resume_path;
  if (x->init_file) inputs[ninputs++] = x->init_file; /* [init] type = file */
  /* A 3D spectral run distributed over ranks writes its file collectively (docs/parallel.md,
   * "Parallel HDF5"): each rank its slab of the densities, along z as the solver's slabs are
   * (FFTW-MPI's blocks: b = ceil(nz / P) planes, the last rank the rest). Without parallel HDF5,
   * rank 0 writes the whole file. */
  const int P = fpk_comm_size(opt->comm);
  const int collective = FPK_HAVE_PHDF5 && x->spectral_on && x->grid.dim == 3 && P > 1;
  s->file = fpk_app_create_output_collective(opt, x->output, inputs, ninputs, collective, err);
  if (!s->file) return err->status;
  if (collective) {
    const size_t nz = x->grid.n[2], b = (nz + (size_t)P - 1) / (size_t)P;
    const size_t z0 = (size_t)fpk_comm_rank(opt->comm) * b;
    x->slab_file = s->file;
    x->slab_z0 = z0 < nz ? z0 : nz;
    x->slab_nz = z0 >= nz ? 0 : nz - z0 < b ? nz - z0 : b;
  }
  int rc = ck_prepare(s, opt, err);
  if (rc) return rc;
  if (s->resume && !opt->quiet) {
    char *where = NULL;
    fpk_h5_read_attr_string(s->resume, "/", "where", &where);
    fprintf(stderr, "fpkit: resuming %s from %s%s%s\n", opt->config_path, opt->resume_path,
            where && where[0] ? ", interrupted " : "", where ? where : "");
    free(where);
  }

  rc = compute(s, opt, err);
  if (rc == FPK_EINTR) return rc;
  if (rc) {
    if (rc != FPK_ENUMERIC || !opt->keep_failed) return rc;
    s->failed = 1;
    s->failure = *err;
    if ((rc = fpk_app_mark_failed(s->file, &s->failure, err))) return rc;
  }
  progress(opt, "writing %s", x->output);
  fpk_app_progress_clear(opt->progress);

  fpk_h5 *f = s->file;
  if (fpk_app_write_root(f, opt, config_text(s), "run", s->created) ||
      fpk_h5_attr_u64(f, "/", "seed", x->mc_on ? x->mc.seed : 0) ||
      fpk_h5_attr_string(f, "/", "model", x->model->name) || write_grid(f, x) ||
      write_init(f, x))
    return h5_failed(f, err);
  if (!opt->quiet) print_init(x);
  if (x->exact_on && write_method(f, x, &s->exact, "closed form (Van Loan); densities are exact cell averages", NULL))
    return h5_failed(f, err);
  if (x->fv_on) {
    if (write_method(f, x, &s->fv, "finite-volume Fokker-Planck (Scharfetter-Gummel fluxes)", NULL) ||
        fpk_h5_write(f, "/fv/mass", 1, &nt, s->fv_mass, NULL,
                     "integral of the density (survival probability with absorbing walls)") ||
        fpk_h5_write(f, "/fv/min_density", 1, &nt, s->fv_min, "1/length^dim", "minimum of the density") ||
        fpk_h5_attach_scales(f, "/fv/mass", "t") || fpk_h5_attach_scales(f, "/fv/min_density", "t") ||
        fpk_h5_attr_string(f, "/fv", "scheme", x->fv_scheme->name) ||
        fpk_h5_attr_string(f, "/fv", "solver", fv_solver_used(x)) ||
        fpk_h5_attr_string(f, "/fv", "transport", fpk_fv_transport_name(x->fv_transport)) ||
        fpk_h5_attr_double(f, "/fv", "dt", x->fv_dt) ||
        fpk_h5_attr_u64(f, "/fv", "steps", s->fv_steps) ||
        fpk_h5_attr_double(f, "/fv", "wall_seconds", s->wall_fv))
      return h5_failed(f, err);
  }
  if (x->spectral_on) {
    const spectral_diag *dg = &s->sd;
    if (write_method(f, x, &s->spectral,
                     "Fourier pseudo-spectral Fokker-Planck on the periodic box; density is the "
                     "cell average of the trigonometric interpolant", NULL) ||
        fpk_h5_write(f, "/spectral/mass", 1, &nt, dg->mass, NULL, "integral of the density") ||
        fpk_h5_write(f, "/spectral/min_density", 1, &nt, dg->min, "1/length^dim",
                     "minimum point value of the density (spectral schemes do not preserve "
                     "positivity: negative values are reported, not clipped)") ||
        fpk_h5_write(f, "/spectral/tail_energy", 1, &nt, dg->tail, NULL,
                     "energy in the last 10% of the retained Fourier modes over the total: "
                     "resolution indicator") ||
        fpk_h5_write(f, "/spectral/edge_density", 1, &nt, dg->edge, NULL,
                     "max |p| on the box faces over max |p|: truncation indicator of the box") ||
        fpk_h5_attach_scales(f, "/spectral/mass", "t") ||
        fpk_h5_attach_scales(f, "/spectral/min_density", "t") ||
        fpk_h5_attach_scales(f, "/spectral/tail_energy", "t") ||
        fpk_h5_attach_scales(f, "/spectral/edge_density", "t") ||
        fpk_h5_attr_string(f, "/spectral", "scheme", x->spectral_scheme->name) ||
        fpk_h5_attr_double(f, "/spectral", "dt", x->spectral_dt) ||
        fpk_h5_attr_u64(f, "/spectral", "steps", dg->steps) ||
        fpk_h5_attr_u64(f, "/spectral", "dealias", (uint64_t)x->spectral_opt.dealias) ||
        fpk_h5_attr_double(f, "/spectral", "wall_seconds", s->wall_spectral))
      return h5_failed(f, err);
  }
  if ((x->stationary_on || x->gap_on) && write_stationary(f, x, &s->st)) return h5_failed(f, err);
  if (x->mc_on) {
    if (write_method(f, x, &s->mc, "Monte Carlo ensemble; density is the normalised histogram",
                     "no surviving path (mean), fewer than 2 (cov)") ||
        fpk_h5_write(f, "/mc/outside", 1, &nt, s->mcr.outside, NULL,
                     "fraction of paths outside the grid (not in the histogram)") ||
        fpk_h5_write(f, "/mc/survival", 1, &nt, s->mcr.survival, NULL,
                     "fraction of paths not killed at an absorbing wall (1 without one)") ||
        fpk_h5_attach_scales(f, "/mc/outside", "t") || fpk_h5_attach_scales(f, "/mc/survival", "t") ||
        fpk_h5_attr_u64(f, "/mc", "bridge_correction",
                        x->mc.bridge_correction == FPK_MC_BRIDGE_ON) ||
        fpk_h5_attr_string(f, "/mc", "stepper", x->mc.stepper->name) ||
        fpk_h5_attr_u64(f, "/mc", "paths", x->mc.npaths) ||
        fpk_h5_attr_double(f, "/mc", "dt", x->mc.dt) || fpk_h5_attr_u64(f, "/mc", "seed", x->mc.seed) ||
        fpk_h5_attr_double(f, "/mc", "wall_seconds", s->wall_mc))
      return h5_failed(f, err);
    if (s->mcr.paths) {
      size_t pd[3] = {s->mcr.keep_paths, s->mcr.nsteps + 1, d}, np = s->mcr.nsteps + 1;
      if (fpk_h5_write_scale(f, "/mc/path_t", np, s->mcr.path_t, "time", "times of recorded path points") ||
          fpk_h5_write(f, "/mc/paths", 3, pd, s->mcr.paths, "length", "first paths, [path][step][component]") ||
          fpk_h5_index_dim(f, "/mc/path", s->mcr.keep_paths) ||
          fpk_h5_attach_scales(f, "/mc/paths", "path path_t component"))
        return h5_failed(f, err);
    }
    const char *law = chain_law(x);
    char what[160];
    snprintf(what, sizeof what, "%s (/exact/chain_mean, /exact/chain_cov)",
             law && !strcmp(law, "exact-ou") ? "the exact transition, the law of the diffusion"
                                             : "the exact law of the Euler-Maruyama chain");
    if (fpk_h5_attr_string(f, "/mc", "chain_law", law ? what : "none")) return h5_failed(f, err);
    if (s->chain_mean) {
      size_t md[3] = {nt, d, d};
      if (fpk_h5_write(f, "/exact/chain_mean", 2, md, s->chain_mean, "length",
                       "exact mean of the chain the Monte Carlo run simulates (its stepper, its "
                       "steps): the noise-free reference for /mc/mean") ||
          fpk_h5_write(f, "/exact/chain_cov", 3, md, s->chain_cov, "length^2",
                       "exact covariance of the chain the Monte Carlo run simulates") ||
          fpk_h5_attach_scales(f, "/exact/chain_mean", "t component") ||
          fpk_h5_attach_scales(f, "/exact/chain_cov", "t component component2") ||
          fpk_h5_attr_string(f, "/exact/chain_mean", "stepper", x->mc.stepper->name) ||
          fpk_h5_attr_string(f, "/exact/chain_cov", "stepper", x->mc.stepper->name))
        return h5_failed(f, err);
    }
  }
  if (fpk_h5_group(f, "/errors", "distances between methods at each output time") ||
      fpk_h5_write_scale(f, "/errors/t", nt, x->t, "time", "output times"))
    return h5_failed(f, err);
  /* every pair of methods that ran, named <later>_<earlier> in the order exact, fv, spectral, mc */
  const method_out *pairs[6][2] = {{&s->fv, &s->exact},      {&s->spectral, &s->exact},
                                   {&s->spectral, &s->fv},   {&s->mc, &s->exact},
                                   {&s->mc, &s->fv},         {&s->mc, &s->spectral}};
  const int on[6] = {x->fv_on && x->exact_on, x->spectral_on && x->exact_on,
                     x->spectral_on && x->fv_on, x->mc_on && x->exact_on,
                     x->mc_on && x->fv_on, x->mc_on && x->spectral_on};
  if (!opt->quiet)
    printf("%-20s %12s %12s %12s %12s %12s   (at t = %g)\n", "pair", "L1", "L2", "Linf", "KL",
           "|dmean|", x->t[nt - 1]);
  for (size_t p = 0; p < 6; p++) {
    if (!on[p]) continue;
    double last[6];
    if (write_errors(f, x, pairs[p][0], pairs[p][1], last)) return h5_failed(f, err);
    if (!opt->quiet)
      printf("%-8s vs %-8s %12.4e %12.4e %12.4e %12.4e %12.4e\n", pairs[p][0]->name,
             pairs[p][1]->name, last[0], last[1], last[2], last[3], last[4]);
  }
  if (fpk_app_commit_output(f, opt)) return h5_failed(f, err);
  /* The output is whole: the checkpoints of the run are of no more use. */
  if (s->ck_on && (s->ck_written || opt->resume_path)) unlink(s->ck_path);
  if (opt->resume_path && strcmp(opt->resume_path, s->ck_path)) unlink(opt->resume_path);
  if (s->failed)
    return fpk_error_set(err, s->failure.status, "%s (kept: %s written with failed = 1)",
                         s->failure.msg, x->output);
  if (!opt->quiet) printf("wrote %s\n", x->output);
  return FPK_SUCCESS;
}

/* Several processes (mpirun; docs/parallel.md): the ensemble's blocks must go round, and
 * checkpoints are one process's (refused before any work, on every rank alike). */
static int check_processes(const run_state *s, const fpk_run_options *opt, fpk_error *err) {
  const int P = fpk_comm_size(opt->comm);
  if (P <= 1) return FPK_SUCCESS;
  if (opt->checkpoint_every > 0.0 || opt->resume_path)
    return fpk_error_set(err, FPK_EUNSUP,
                         "run: --checkpoint-every and --resume are not supported with %d MPI "
                         "processes: run a checkpointed job in one process (its threads give "
                         "the same numbers) or drop the checkpoint options",
                         P);
  if (s->x.mc_on && fpk_mc_check_ranks(s->x.mc.npaths, opt->comm, err))
    return fpk_error_prefix(err, "[mc] paths: ");
  return FPK_SUCCESS;
}

int fpk_app_run(const fpk_run_options *opt, fpk_error *err) {
  run_state s;
  memset(&s, 0, sizeof s);
  char default_out[1024];
  /* a resumed run takes its configuration, output and interval from the checkpoint */
  fpk_run_options o = *opt;
  s.opt = &o;
  if (opt->threads > 0) omp_set_num_threads(opt->threads);
  int rc;
  if (opt->resume_path) {
    rc = open_resume(&s, &o, err);
  } else {
    s.cfg = fpk_app_load_config(opt, NULL, err); /* keys below: a resume loads its own */
    rc = s.cfg ? FPK_SUCCESS : err->status;
  }
  if (!rc) rc = fpk_app_set_keys(s.cfg, "run", err); /* src/app/keys.c */
  if (!rc) rc = read_experiment(s.cfg, &o, &s.x, default_out, sizeof default_out, err);
  if (!rc) fpk_app_log_text(FPK_LOG_DEBUG, "config", config_text(&s));
  if (!rc) rc = check_processes(&s, &o, err);
  if (!rc) rc = execute(&s, &o, err);
  /* A collective output file is closed by every rank together (H5Fclose is collective): a rank
   * that failed alone first meets the others here or at their next write's agreement
   * (fpkit/parallel.h), so all of them close it after the same agreement, with its message. */
  if (s.file && s.x.slab_file && fpk_comm_agree(o.comm, rc, err)) rc = err->status;
  release(&s);
  return rc;
}

/* fpkit sweep (src/app/sweep.c): the configuration `fpkit run` would store for these options,
 * read and checked exactly as the run reads it (every key, its range, the unused ones), without
 * computing anything. *resolved is malloc'd. */
int fpk_app_run_resolve(const fpk_run_options *opt, char **resolved, fpk_error *err) {
  run_state s;
  memset(&s, 0, sizeof s);
  char default_out[1024];
  fpk_run_options o = *opt;
  s.opt = &o;
  *resolved = NULL;
  s.cfg = fpk_app_load_config(opt, NULL, err);
  int rc = s.cfg ? FPK_SUCCESS : err->status;
  if (!rc) rc = fpk_app_set_keys(s.cfg, "run", err);
  if (!rc) rc = read_experiment(s.cfg, &o, &s.x, default_out, sizeof default_out, err);
  if (!rc && !(*resolved = strdup(fpk_config_resolved(s.cfg))))
    rc = fpk_error_set(err, FPK_ENOMEM, "out of memory");
  release(&s);
  return rc;
}
