/* The configuration keys of every command: one table each, which the parser checks every read
 * against (fpk_config_add_schema: a getter asking for a key that is not here, or with another
 * type, default or range, fails with an internal error, so the table cannot drift from the code),
 * and from which `fpkit keys` lists the keys and `fpkit config TEMPLATE` writes a starting
 * configuration (docs/workflow.md).
 *
 * An entry: section, key, type, flags (R: required; V: the default, range or requirement depends
 * on other keys, said in the description, and only the type is checked), default as text, range,
 * choices, an example value for a template (a template writes every key that has one, and
 * comments out the others with their default), `when` (conditions "section.key=v1|v2" joined by
 * ",": when the key is read; NULL: always) and a one-line description. */
#include "app/keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R FPK_KEY_REQUIRED
#define V FPK_KEY_VARIES
#define INF INFINITY

#define KD(s, k, fl, def, mn, mx, om, ex, when, doc) \
  {s, k, FPK_KEY_DOUBLE, fl, def, mn, mx, om, 0, 0, NULL, ex, when, doc}
#define KZ(s, k, fl, def, lo, hi, ex, when, doc) \
  {s, k, FPK_KEY_SIZE, fl, def, 0, 0, 0, lo, hi, NULL, ex, when, doc}
#define KU(s, k, fl, def, ex, when, doc) {s, k, FPK_KEY_U64, fl, def, 0, 0, 0, 0, 0, NULL, ex, when, doc}
#define KB(s, k, fl, def, when, doc) {s, k, FPK_KEY_BOOL, fl, def, 0, 0, 0, 0, 0, NULL, NULL, when, doc}
/* a bool a template writes out (an example on an optional key: written, not commented) */
#define KBX(s, k, fl, def, ex, when, doc) {s, k, FPK_KEY_BOOL, fl, def, 0, 0, 0, 0, 0, NULL, ex, when, doc}
#define KC(s, k, fl, def, ch, ex, when, doc) \
  {s, k, FPK_KEY_CHOICE, fl, def, 0, 0, 0, 0, 0, ch, ex, when, doc}
#define KS(s, k, fl, def, ex, when, doc) {s, k, FPK_KEY_STRING, fl, def, 0, 0, 0, 0, 0, NULL, ex, when, doc}
#define KL(s, k, fl, def, ex, when, doc) {s, k, FPK_KEY_LIST, fl, def, 0, 0, 0, 0, 0, NULL, ex, when, doc}
#define KDL(s, k, fl, def, mx, ex, when, doc) \
  {s, k, FPK_KEY_DOUBLE_LIST, fl, def, 0, 0, 0, 0, mx, NULL, ex, when, doc}
#define KDATA(s, ex, when, doc) {s, "*", FPK_KEY_DATA, 0, NULL, 0, 0, 0, 0, 0, NULL, ex, when, doc}

/* Registries the code builds its choices from (fpk_sde_steppers, fpk_fv_steppers, ...): written
 * out here so that a new entry there fails the check until it is described here. */
static const char *const model_types[] = {"ou", "bm", "langevin", "gbm", "bridge",
                                          "mixture-langevin", "expr", "kramers", NULL};
static const char *const potentials[] = {"double-well", "tilted-cosine", "harmonic", NULL};
static const char *const sde_steppers[] = {"euler-maruyama", "milstein", "sra1", "tamed-euler",
                                           "exact-ou", "baoab", "obabo", NULL};
static const char *const fv_schemes[] = {"explicit-euler", "implicit-euler", "crank-nicolson",
                                         "tr-bdf2", NULL};
static const char *const fv_solvers[] = {"split", "direct", NULL}; /* FPK_FV_SOLVER_* */
static const char *const fv_transports[] = {"limited", "linear", "upwind", NULL}; /* FPK_FV_TRANSPORT_* */
static const char *const spectral_schemes[] = {"etdrk4", "sbdf2", NULL};
static const char *const planners[] = {"estimate", "measure", "patient", NULL};
static const char *const expr_jit_modes[] = {"auto", "on", "off", NULL};
static const char *const run_init_types[] = {"gaussian", "point", "expr", "file", NULL};
static const char *const init_methods[] = {"exact", "fv", "spectral", "mc", NULL};
static const char *const converge_init_types[] = {"point", "gaussian", NULL};
static const char *const references[] = {"auto", "exact", "level", "finest", NULL};
static const char *const fits[] = {"plain", "corrected", NULL};
static const char *const ot_kernels[] = {"auto", "fft", "blas", "lse", "band", NULL};
static const char *const ot_costs[] = {"sqeuclid", "half", NULL};
static const char *const ot_potentials[] = {"none", "last", "all", NULL};
static const char *const marginal_types[] = {"gaussian", "mixture", "hdf5", NULL};
static const char *const marginal_values[] = {"density", "probability", NULL};
static const char *const discretizations[] = {"points", "cells", NULL};

#define OUT_FILE                                                                        \
  KS("output", "file", V, "results/<CONFIG stem>.h5", NULL, NULL,                       \
     "output HDF5 file (-o overrides; default results/<config file stem>.h5)")

/* [model] and [parameters] (src/app/model_config.c): run and converge (MODEL_KEYS), and sb with
 * reference = model (MODEL_KEYS_IF: C is the condition of the entries that have none, CC a
 * prefix of every other condition). */
#define MODEL_KEYS MODEL_KEYS_IF(NULL, "")
#define MODEL_KEYS_IF(C, CC)                                                                                 \
  KC("model", "type", R, NULL, model_types, "ou", C,                                          \
     "the diffusion: ou, bm (Brownian motion with drift), langevin, gbm, bridge, "               \
     "mixture-langevin, expr, kramers (underdamped Langevin in phase space (x, v))"),           \
  KZ("model", "dim", R, NULL, 1, 3, "1",                                                       \
     CC "model.type=ou|bm|langevin|gbm|bridge|mixture-langevin|expr", "dimension of the state"), \
  KZ("model", "dim", 0, "2", 1, 3, NULL, CC "model.type=kramers",                                  \
     "kramers: must be 2, the phase space (x, v)"),                                              \
  KL("model", "sigma", R, NULL, "1", CC "model.type=ou|bm|gbm|bridge",                              \
     "noise amplitude per axis (diagonal, > 0; one value for every axis); ou: or the dim x m "   \
     "noise matrix B, one row per line (docs/noise.md)"),                                        \
  KL("model", "diffusion", V, NULL, NULL, CC "model.type=ou",                                       \
     "ou: the diffusion matrix D = B B^T / 2, dim x dim, one row per line (instead of sigma; "   \
     "symmetric positive semi-definite)"),                                                       \
  KD("model", "theta", R, NULL, -INF, INF, 0, "1", CC "model.type=ou",                              \
     "mean reversion rate, A = theta I (required unless A is given)"),                           \
  KL("model", "A", V, NULL, NULL, CC "model.type=ou",                                               \
     "drift matrix, dim x dim row-major, dX = -A (X - mu) dt + sigma dW (instead of theta)"),    \
  KL("model", "mu", 0, "0", NULL, CC "model.type=ou|gbm",                                           \
     "ou: long-run mean per axis; gbm: growth rate per axis (dX = mu X dt + sigma X dW)"),       \
  KL("model", "drift", 0, "0", NULL, CC "model.type=bm", "constant drift per axis"),               \
  KL("model", "a", 0, "0", NULL, CC "model.type=bridge", "start of the bridge per axis"),          \
  KL("model", "b", 0, "0", NULL, CC "model.type=bridge", "end of the bridge per axis, at time T"), \
  KD("model", "T", R, NULL, 0, INF, 1, "2", CC "model.type=bridge",                                 \
     "time the bridge reaches b (> [time] t_end; in fpkit sb > [sb] T)"),                                              \
  KC("model", "potential", R, NULL, potentials, "double-well", CC "model.type=langevin|kramers",   \
     "potential U of dX = (-grad U + tilt) dt + sqrt(2/beta) (1 + modulation cos) dW (kramers: "  \
     "of dV = (-U'(X) + tilt - gamma V) dt + sqrt(2 gamma/beta) dW, dX = V dt)"),                 \
  KD("model", "beta", R, NULL, 0, INF, 1, "4", CC "model.type=langevin|kramers",                    \
     "inverse temperature"),                                                                     \
  KD("model", "gamma", R, NULL, 0, INF, 1, "1", CC "model.type=kramers", "friction"),             \
  KD("model", "amplitude", 0, "1", -INF, INF, 0, NULL,                                           \
     CC "model.type=langevin|kramers,model.potential=tilted-cosine|harmonic",                     \
     "amplitude of the cosine potential; harmonic: the stiffness kappa > 0 of U = kappa x^2/2"),  \
  KD("model", "period", 0, "1", 0, INF, 1, NULL, CC "model.type=langevin|kramers",                  \
     "period of the potential (and of the noise modulation); kramers: tilted-cosine only"),      \
  KL("model", "tilt", 0, "0", NULL, CC "model.type=langevin|kramers",                               \
     "constant force per axis (kramers: one number, the force on the particle)"),                \
  KD("model", "modulation", 0, "0", -INF, INF, 0, NULL, CC "model.type=langevin",                   \
     "noise modulation epsilon, |epsilon| < 1"),                                                 \
  KDL("model", "weights", R, NULL, 16, "0.5 0.5", CC "model.type=mixture-langevin",                 \
      "mixture weights (K of them, > 0); dX = grad log p dt + sqrt(2) dW"),                      \
  KL("model", "means", R, NULL, "-1 1", CC "model.type=mixture-langevin",                           \
     "component means, K x dim numbers"),                                                        \
  KL("model", "stds", V, NULL, "0.5", CC "model.type=mixture-langevin",                             \
     "component standard deviations, K x dim (or one for all); or give covs"),                   \
  KL("model", "covs", V, NULL, NULL, CC "model.type=mixture-langevin",                              \
     "component covariances, K x dim x dim row-major (instead of stds)"),                        \
  KS("model", "drift", R, NULL, "-theta*x", CC "model.type=expr,model.dim=1",                       \
     "drift b(x, t): an expression in x, t and [parameters]"),                                   \
  KS("model", "noise", R, NULL, "s", CC "model.type=expr,model.dim=1",                              \
     "noise sigma(x, t) (the amplitude of dW): an expression; or a 1 x m matrix, entries "        \
     "separated by ','"),                                                                        \
  KS("model", "drift_x", R, NULL, "-theta*x", CC "model.type=expr,model.dim=2",                     \
     "x component of the drift: an expression in x, y, t and [parameters]"),                     \
  KS("model", "drift_y", R, NULL, "-theta*y", CC "model.type=expr,model.dim=2",                     \
     "y component of the drift"),                                                                \
  KS("model", "noise_x", R, NULL, "s", CC "model.type=expr,model.dim=2", "noise on the x axis"),   \
  KS("model", "noise_y", R, NULL, "s", CC "model.type=expr,model.dim=2", "noise on the y axis"),   \
  KS("model", "noise", V, NULL, NULL, CC "model.type=expr,model.dim=2",                             \
     "a 2 x m noise matrix instead of noise_x, noise_y: one row per line, entries separated by "  \
     "','"),                                                                                     \
  KC("model", "jit", 0, "auto", expr_jit_modes, NULL, CC "model.type=expr",                        \
     "auto: compile the expressions with libgccjit when this build has it (same numbers, "        \
     "bit for bit), else interpret; on: compile or fail; off: interpret (libmatheval)"),          \
  KDATA("parameters", "theta=1 s=0.5", CC "model.type=expr",                                        \
        "every key is a parameter name of the expressions, with a finite number")

static const fpk_config_key run_keys[] = {
    MODEL_KEYS,
    KL("grid", "lo", R, NULL, "-4", NULL, "lower edge per axis (one value for every axis)"),
    KL("grid", "hi", R, NULL, "4", NULL, "upper edge per axis"),
    KL("grid", "n", R, NULL, "200", NULL,
       "cells per axis, >= 3, at most 1e7 cells in all (spectral: even, >= 8)"),
    KS("grid", "bc", 0, "reflecting", NULL, NULL,
       "boundary per axis: reflecting, periodic or absorbing (one for every axis)"),
    KC("init", "type", 0, "gaussian", run_init_types, NULL, NULL,
       "initial law: gaussian, point (a narrow Gaussian), expr (a density expression), file "
       "(a field of an fpkit HDF5 file)"),
    KL("init", "mean", 0, "0", NULL, "init.type=gaussian", "mean per axis"),
    KL("init", "std", R, NULL, "0.5", "init.type=gaussian",
       "standard deviation per axis (required unless cov is given)"),
    KL("init", "cov", V, NULL, NULL, "init.type=gaussian",
       "covariance, dim x dim row-major (instead of std)"),
    KL("init", "x0", R, NULL, "0", "init.type=point", "the point per axis"),
    KB("init", "maxwellian", 0, "false", "model.type=kramers,init.type=gaussian|point",
       "kramers: the velocity starts Maxwellian, N(0, 1/beta); mean/std (or x0) are the "
       "position's, one number"),
    KD("init", "width", V, "2 cells", 0, INF, 1, NULL, "init.type=point",
       "standard deviation of the narrow Gaussian standing for the point (default: two cells "
       "of the coarsest axis)"),
    KS("init", "density", V, NULL, "exp(-x^4)", "init.type=expr",
       "initial density: an expression in x, y and [parameters] names, normalised on the grid"),
    KS("init", "file", V, NULL, NULL, "init.type=file", "path of an fpkit HDF5 file"),
    KC("init", "method", 0, "fv", init_methods, NULL, "init.type=file",
       "which method's field of the file to start from"),
    KS("init", "time", 0, "last", NULL, "init.type=file",
       "which output time of the file: a number or last"),
    KDL("time", "times", V, NULL, 1000, NULL, NULL,
        "output times, increasing, >= 0 (instead of t_end and n_out)"),
    KD("time", "t_end", R, NULL, 0, INF, 1, "1", NULL,
       "last output time (required unless times is given)"),
    KZ("time", "n_out", 0, "5", 2, 1000, NULL, NULL, "output times, equally spaced on [0, t_end]"),
    KDL("time", "times", V, NULL, 1024, NULL, "model.type=bridge",
        "(read again to check that the bridge's T lies after the last output time)"),
    KB("fp", "enabled", 0, "true", NULL, "run the Fokker-Planck solvers"),
    KS("fp", "method", 0, "fv", NULL, NULL, "fv, spectral or both (\"fv spectral\")"),
    KC("fp", "scheme", 0, "tr-bdf2", fv_schemes, NULL, NULL, "finite-volume time stepper"),
    KC("fp", "fv_solver", 0, "split", fv_solvers, NULL, NULL,
       "linear solver of the implicit FV steps on 2D/3D grids: split (ADI along the axes, O(N), "
       "threaded) or direct (UMFPACK, exact); 1D grids always solve exactly"),
    KC("fp", "transport", 0, "limited", fv_transports, NULL, NULL,
       "FV flux along an axis without diffusion (Kramers x): limited (van Leer MUSCL, positive, "
       "~2nd order), linear (Beam-Warming, 2nd order, not positive) or upwind (1st order)"),
    KD("fp", "dt", V, NULL, 0, INF, 1, "0.01", NULL,
       "finite-volume time step (required when fv runs)"),
    KC("spectral", "scheme", 0, "etdrk4", spectral_schemes, NULL, NULL, "spectral time stepper"),
    KD("spectral", "dt", V, NULL, 0, INF, 1, NULL, NULL,
       "spectral time step (required when spectral runs)"),
    KC("spectral", "planner", 0, "measure", planners, NULL, NULL,
       "FFTW planner (estimate: bitwise repeatable runs)"),
    KB("spectral", "dealias", 0, "true", NULL, "2/3-rule dealiasing of the products"),
    KZ("spectral", "contour_points", 0, "32", 1, 4096, NULL, NULL,
       "contour points of the ETDRK4 coefficients"),
    KS("spectral", "wisdom", V, NULL, NULL, NULL, "FFTW wisdom file (none by default)"),
    KB("stationary", "enabled", 0, "false", NULL,
       "stationary densities without time stepping (autonomous models)"),
    KB("stationary", "gap", 0, "false", NULL, "the spectral gap of the generator"),
    KB("mc", "enabled", 0, "true", NULL, "run the Monte Carlo ensemble"),
    KC("mc", "stepper", 0, "euler-maruyama", sde_steppers, NULL, NULL, "SDE scheme"),
    KZ("mc", "paths", 0, "100000", 2, (uint64_t)1 << 40, NULL, NULL, "number of paths"),
    KD("mc", "dt", V, NULL, 0, INF, 1, "0.01", NULL, "SDE time step (required when mc runs)"),
    KU("mc", "seed", 0, "1", NULL, NULL, "Philox seed (results do not depend on threads)"),
    KZ("mc", "keep_paths", V, "0", 0, 0, NULL, NULL,
       "store the first K paths at every step (0 .. paths)"),
    KB("mc", "bridge_correction", 0, "true", NULL,
       "absorbing walls: Brownian-bridge crossing test between steps"),
    KB("exact", "enabled", V, "true if a closed form exists", NULL,
       "closed-form reference (linear models)"),
    KD("guard", "mass_tol", 0, "1e-6", 0, 1, 1, NULL, NULL,
       "output guard: largest relative mass change"),
    KD("guard", "negative_tol", 0, "1e-6", 0, 1, 0, NULL, NULL,
       "output guard: most negative density, relative to the maximum"),
    OUT_FILE,
};

static const fpk_config_key converge_keys[] = {
    MODEL_KEYS,
    KC("init", "type", 0, "point", converge_init_types, NULL, NULL, "initial law: point or gaussian"),
    KL("init", "x0", R, NULL, "1", "init.type=point", "the starting point per axis"),
    KL("init", "mean", 0, "0", NULL, "init.type=gaussian", "mean per axis"),
    KL("init", "std", R, NULL, NULL, "init.type=gaussian", "standard deviation per axis"),
    KD("time", "t_end", R, NULL, 0, INF, 1, "1", NULL, "horizon T"),
    KDL("converge", "steps", V, NULL, 16, "8 16 32 64", NULL,
        "the ladder as step counts over [0, T], increasing, each dividing the next (or dt)"),
    KDL("converge", "dt", V, NULL, 16, NULL, NULL, "the ladder as step sizes (instead of steps)"),
    KC("converge", "stepper", 0, "euler-maruyama", sde_steppers, NULL, NULL,
       "scheme of every ladder level"),
    KC("converge", "reference", 0, "auto", references, NULL, NULL,
       "reference: exact (pathwise solution), level (a finer level), finest, auto"),
    KZ("converge", "reference_steps", V, "8 x the finest level", 2, 1000000000000ULL, NULL,
       "converge.reference=level", "steps of the reference level"),
    KC("converge", "reference_stepper", V, "strongest the model accepts", sde_steppers, NULL,
       "converge.reference=level", "scheme of the reference level"),
    KZ("converge", "paths", 0, "10000", 2, 10000000000ULL, NULL, NULL, "number of paths"),
    KU("converge", "seed", 0, "1", NULL, NULL, "Philox seed"),
    KB("converge", "strong", 0, "true", NULL, "strong errors E|X^h_T - X_T|^2"),
    KS("converge", "weak", 0, "", NULL, NULL,
       "weak functionals: comma-separated expressions in x (y), e.g. \"x, x^2\""),
    KD("converge", "level", 0, "0.95", 0.5, 0.9999, 0, NULL, NULL, "confidence level of the intervals"),
    KC("converge", "fit", 0, "corrected", fits, NULL, NULL, "order fit: plain or corrected"),
    KD("converge", "max_halfwidth", 0, "0.15", 0, INF, 1, NULL, NULL,
       "largest confidence half-width of a resolved order"),
    KD("converge", "expect_strong", V, NULL, 0, 10, 1, NULL, NULL,
       "expected strong order: exit 1 when outside the interval"),
    KD("converge", "expect_weak", V, NULL, 0, 10, 1, NULL, NULL,
       "expected weak order: exit 1 when outside the interval"),
    OUT_FILE,
};

static const fpk_config_key bridge_keys[] = {
    KU("random", "seed", 0, "1", NULL, NULL, "Philox seed of every part"),
    KBX("bridge", "enabled", 0, "true", "true", NULL, "Brownian bridge moments against the closed form"),
    KD("bridge", "a", 0, "0", -INF, INF, 0, NULL, NULL, "start"),
    KD("bridge", "b", 0, "0", -INF, INF, 0, NULL, NULL, "end, at time T"),
    KD("bridge", "T", 0, "1", 0, INF, 1, NULL, NULL, "horizon"),
    KD("bridge", "sigma", 0, "1", 0, INF, 1, NULL, NULL, "noise amplitude"),
    KZ("bridge", "steps", 0, "100", 2, 1000, NULL, NULL, "time steps"),
    KZ("bridge", "paths", 0, "100000", 2, (uint64_t)1 << 40, NULL, NULL, "number of paths"),
    KZ("bridge", "keep_paths", V, "0", 0, 100, NULL, NULL, "paths stored (0 .. min(paths, 100))"),
    KB("bridge", "em", 0, "false", NULL, "also the Euler-Maruyama bridge SDE"),
    KBX("kolmogorov", "enabled", 0, "true", "true", NULL, "Kolmogorov's law of sup|bridge|"),
    KZ("kolmogorov", "paths", 0, "100000", 2, (uint64_t)1 << 40, NULL, NULL, "number of paths"),
    KZ("kolmogorov", "steps", 0, "2000", 2, 131072, NULL, NULL, "grid points of the finest path"),
    KDL("kolmogorov", "ladder", V, NULL, 15, NULL, NULL,
        "coarser grids, each dividing steps (default: steps alone)"),
    KDL("kolmogorov", "quantiles", V, "0.9 0.95 0.99", 16, NULL, NULL,
        "probabilities of the reported quantiles"),
    KBX("ks_band", "enabled", 0, "true", "true", NULL, "coverage of the Kolmogorov-Smirnov band"),
    KZ("ks_band", "n", 0, "1000", 1, 1000000, NULL, NULL, "sample size"),
    KZ("ks_band", "repetitions", 0, "4000", 2, (uint64_t)1 << 40, NULL, NULL, "repetitions"),
    KD("ks_band", "alpha", FPK_KEY_OPEN_MAX, "0.05", 0, 1, 1, NULL, NULL, "band level 1 - alpha"),
    KDL("ks_band", "ladder", V, NULL, 15, NULL, NULL, "smaller sample sizes (default: n alone)"),
    KZ("ks_band", "keep_paths", V, "5", 0, 20, NULL, NULL,
       "samples stored (0 .. min(repetitions, 20))"),
    OUT_FILE,
};

#define MARGINAL(sec, ex_type, ex_mean)                                                        \
  KC(sec, "type", R, NULL, marginal_types, ex_type, NULL, "gaussian, mixture or hdf5 (a field)"), \
  KL(sec, "mean", 0, "0", ex_mean, sec ".type=gaussian", "mean per axis"),                     \
  KL(sec, "std", V, NULL, "0.5", sec ".type=gaussian", "standard deviation per axis (or cov)"), \
  KL(sec, "cov", V, NULL, NULL, sec ".type=gaussian", "covariance, dim x dim (instead of std)"), \
  KDL(sec, "weights", R, NULL, 16, "0.5 0.5", sec ".type=mixture", "mixture weights"),        \
  KL(sec, "means", R, NULL, "-1 1", sec ".type=mixture", "component means, K x dim"),          \
  KL(sec, "stds", V, NULL, "0.5", sec ".type=mixture", "component standard deviations (or covs)"), \
  KL(sec, "covs", V, NULL, NULL, sec ".type=mixture", "component covariances, K x dim x dim"),  \
  KC(sec, "discretize", 0, "points", discretizations, NULL, sec ".type=gaussian|mixture",      \
     "density at cell centres (points) or cell averages (cells)"),                              \
  KS(sec, "file", R, NULL, "results/ou1d.h5", sec ".type=hdf5", "fpkit HDF5 file"),             \
  KS(sec, "dataset", R, NULL, "/fv/density", sec ".type=hdf5", "the field's dataset"),         \
  KC(sec, "values", 0, "density", marginal_values, NULL, sec ".type=hdf5",                      \
     "the dataset holds densities or cell probabilities"),                                      \
  KB(sec, "clip_negative", 0, "false", sec ".type=hdf5", "set small negative values to 0"),    \
  KS(sec, "time", V, NULL, NULL, sec ".type=hdf5",                                              \
     "index on the time axis (0-based), last or all (required with a time axis)")

static const fpk_config_key ot_keys[] = {
    KZ("grid", "dim", R, NULL, 1, 2, "1", NULL,
       "dimension ([grid] is required unless a marginal is hdf5, whose file gives the grid)"),
    KL("grid", "n", R, NULL, "128", NULL, "cells per axis"),
    KL("grid", "lo", R, NULL, "-4", NULL, "lower edge per axis"),
    KL("grid", "hi", R, NULL, "4", NULL, "upper edge per axis"),
    MARGINAL("source", "gaussian", "-1"),
    MARGINAL("target", "gaussian", "1"),
    KDL("ot", "eps", R, NULL, 64, "0.1 0.01", NULL, "entropic regularisations, each > 0"),
    KD("ot", "tol", 0, "1e-9", 0, 1, 1, NULL, NULL, "stop when the L1 marginal error is <= tol at the final eps"),
    KZ("ot", "max_iter", 0, "100000", 1, 1000000000, NULL, NULL, "most iterations of one solve, over all its eps stages"),
    KZ("ot", "check_every", 0, "1", 1, 1000000, NULL, NULL, "iterations between marginal-error checks"),
    KD("ot", "eps_start", 0, "0", 0, INF, 0, NULL, NULL, "first eps of the eps-scaling (0: automatic: eps directly when that is predicted to converge within 20 iterations per stage of the schedule from the largest cost, else that schedule; <= eps: no scaling)"),
    KD("ot", "eps_factor", 0, "0.5", 0, 1, 1, NULL, NULL, "eps-scaling: eps_{k+1} = max(eps, eps_factor eps_k)"),
    KD("ot", "stage_tol", 0, "1e-3", 0, 1, 0, NULL, NULL, "marginal error ending an intermediate eps stage"),
    KD("ot", "omega", 0, "0", 0, 2, 0, NULL, NULL, "over-relaxation: 0 automatic, 1 plain Sinkhorn, else fixed in [1, 2)"),
    KC("ot", "kernel", 0, "auto", ot_kernels, NULL, NULL, "Gibbs-kernel back-end tried first (falls back fft -> blas -> lse; band -> lse)"),
    KB("ot", "normalize", 0, "false", NULL, "rescale both marginals to unit mass"),
    KC("ot", "cost", 0, "sqeuclid", ot_costs, NULL, NULL, "cost |x - y|^2 or |x - y|^2 / 2"),
    KB("ot", "divergence", 0, "false", NULL, "also the Sinkhorn divergence S_eps"),
    KB("ot", "plan", 0, "false", NULL, "write the full plan of the last solve (N x N doubles; N <= 4096)"),
    KC("ot", "potentials", 0, "last", ot_potentials, NULL, NULL, "dual potentials written: of no solve, the last, or all"),
    KB("ot", "exact", V, "true between two Gaussians", NULL, "closed forms between Gaussians"),
    OUT_FILE,
};

static const char *const sb_references[] = {"brownian", "ou", "model", NULL};
static const char *const sb_sample_methods[] = {"exact", "em", "none", NULL};

/* `fpkit sb` (src/app/sb.c; docs/sb.md "The command"). */
static const fpk_config_key sb_keys[] = {
    KZ("grid", "dim", R, NULL, 1, 2, "1", NULL,
       "dimension ([grid] is required unless a marginal is hdf5, whose file gives the grid)"),
    KL("grid", "n", R, NULL, "96", NULL, "cells per axis"),
    KL("grid", "lo", R, NULL, "-5", NULL, "lower edge per axis"),
    KL("grid", "hi", R, NULL, "5", NULL, "upper edge per axis"),
    MARGINAL("mu0", "gaussian", "-1"),
    MARGINAL("muT", "gaussian", "1"),
    KC("sb", "reference", 0, "brownian", sb_references, NULL, NULL,
       "reference process: brownian, dX = sigma dW; ou, dX = -theta X dt + sigma dW; model, "
       "the SDE of [model] (FP-based IPF, docs/sb.md)"),
    KD("sb", "dt", 0, "0.01", 0, INF, 1, NULL, "sb.reference=model",
       "largest step of the finite-volume chain (its levels are where the bridge answers; EM "
       "steps on them)"),
    KD("sb", "theta", R, NULL, -INF, INF, 0, "1", "sb.reference=ou",
       "OU rate theta > 0, theta T <= 100; eps = 2 sigma^2 sinh(theta T)/theta"),
    KD("sb", "sigma", R, NULL, -INF, INF, 0, "1", "sb.reference=brownian|ou",
       "noise level of the reference (> 0)"),
    KD("sb", "T", 0, "1", -INF, INF, 0, NULL, NULL, "horizon (> 0); eps = 2 sigma^2 T (brownian)"),
    MODEL_KEYS_IF("sb.reference=model", "sb.reference=model,"),
    KDL("sb", "times", R, NULL, 1024, "0 0.25 0.5 0.75 1", NULL,
        "output times, increasing, each in [0, T]"),
    KD("sb", "tol", 0, "1e-9", 0, 1, 1, NULL, NULL, "Sinkhorn tolerance on the L1 marginal error"),
    KZ("sb", "max_iter", 0, "100000", 1, 1000000000, NULL, NULL, "most Sinkhorn iterations"),
    KB("sb", "normalize", 0, "false", NULL, "rescale both marginals to unit mass"),
    KC("sample", "method", V, "exact (em for reference = model)", sb_sample_methods, NULL, NULL,
       "exact (plan + reference bridges), em (Euler-Maruyama on the bridge SDE) or none"),
    KZ("sample", "paths", 0, "100000", 1, 1000000000, NULL, "sample.method=exact|em",
       "number of paths"),
    KU("sample", "seed", 0, "1", NULL, "sample.method=exact|em", "Philox seed"),
    KZ("sample", "keep_paths", 0, "10", 0, 1000, NULL, "sample.method=exact|em",
       "paths stored at the output times (at most paths)"),
    KD("sample", "dt", 0, "0.01", 0, INF, 1, NULL, "sample.method=em,sb.reference=brownian|ou",
       "largest EM step (> 0; reference = model steps on the chain's levels, [sb] dt)"),
    KZ("diagnostics", "intervals", 0, "8", 0, 100000, NULL, NULL,
       "Gauss-Legendre subintervals of the KL and kinetic-energy time integrals (0: none)"),
    OUT_FILE,
};

static const char *const sample_schedules[] = {"ou", "vp-linear", "vp-cosine", "subvp", "ve", NULL};
static const char *const sample_methods[] = {"euler", "heun", "ddim", "dpm-solver-2",
                                             "dpm-solver-3", "dpm-solver++2m", "reverse-em", "pc",
                                             "ancestral", NULL};
static const char *const sample_grids[] = {"time-uniform", "logsnr-uniform", "edm", NULL};
static const char *const sample_families[] = {"pf-ode", "reverse-sde", "langevin", NULL};
static const char *const sample_ladder_metrics[] = {"map_error", "l1_error", "ks", NULL};
static const char *const sample_starts[] = {"exact", "prior", "uniform", NULL};
/* family = langevin and [observation] (src/app/sample.c, the block before release()) */
static const char *const sample_lmc_methods[] = {"ula", "mala", "annealed", NULL};
static const char *const sample_obs_scores[] = {"exact", "dps", NULL};

/* `fpkit sample` (src/app/sample.c; docs/diffusion.md "The command"). */
static const char *const sample_fp_solvers[] = {"none", "fv", "spectral", NULL}; /* h14-ode */
static const char *const sample_score_models[] = {"exact", "dsm", NULL};   /* h14-ode */
static const fpk_config_key sample_keys[] = {
    KZ("data", "dim", R, NULL, 1, 2, "1", NULL, "dimension of the data"),
    KDL("data", "weights", R, NULL, 16, "0.3 0.7", NULL, "mixture weights (sum 1 within 1e-12)"),
    KDL("data", "means", R, NULL, 32, "-2 1.5", NULL, "component means, K x dim"),
    KDL("data", "stds", V, NULL, 32, "0.4 0.6", NULL,
        "component standard deviations, K x dim (or one for all); or give covs"),
    KDL("data", "covs", V, NULL, 64, NULL, NULL,
        "component covariances, K x dim x dim (instead of stds)"),
    KC("schedule", "type", 0, "vp-linear", sample_schedules, NULL, NULL,
       "noising schedule: ou, vp-linear, vp-cosine, subvp, ve (docs/diffusion.md)"),
    KD("schedule", "T", 0, "1", 0, INF, 1, NULL, NULL, "horizon"),
    KD("schedule", "theta", 0, "1", 0, INF, 1, NULL, "schedule.type=ou", "OU rate"),
    KD("schedule", "sigma", 0, "1.4142135623730951", 0, INF, 1, NULL, "schedule.type=ou",
       "OU noise (default sqrt 2: stationary N(0, 1))"),
    KD("schedule", "beta_min", 0, "0.1", -INF, INF, 0, NULL, "schedule.type=vp-linear|subvp",
       "beta at t = 0 (> 0)"),
    KD("schedule", "beta_max", 0, "20", -INF, INF, 0, NULL, "schedule.type=vp-linear|subvp",
       "beta at t = T (> beta_min)"),
    KD("schedule", "s", 0, "0.008", 0, INF, 1, NULL, "schedule.type=vp-cosine", "cosine offset"),
    KD("schedule", "sigma_min", 0, "0.01", -INF, INF, 0, NULL, "schedule.type=ve", "sigma(0) (> 0)"),
    KD("schedule", "sigma_max", 0, "50", -INF, INF, 0, NULL, "schedule.type=ve",
       "sigma(T) (> sigma_min)"),
    KC("sampler", "family", 0, "pf-ode", sample_families, NULL, NULL,
       "pf-ode: probability-flow ODE samplers; reverse-sde: reverse-time SDE samplers; "
       "langevin: Langevin on the data law (no [schedule])"),
    KC("sampler", "method", V, "dpm-solver-2 (pf-ode), reverse-em (reverse-sde)", sample_methods,
       NULL, NULL, "the sampler, of the family (docs/diffusion.md)"),
    KC("sampler", "grid", V, "logsnr-uniform (pf-ode), time-uniform (reverse-sde)", sample_grids,
       NULL, "sampler.family=pf-ode|reverse-sde", "time grid (docs/diffusion.md)"),
    KD("sampler", "snr", 0, "0.16", 0, INF, 1, NULL, "sampler.method=pc",
       "predictor-corrector signal-to-noise ratio r"),
    KZ("sampler", "corrector_steps", 0, "1", 1, 1000, NULL, "sampler.method=pc",
       "Langevin corrector steps per step"),
    KB("sampler", "exact_transitions", 0, "true", "sampler.method=ancestral",
       "sample the exact reverse transitions of the mixture (false: Ho et al.'s Gaussian step)"),
    KDL("sampler", "steps", 0, "20", 32, NULL, NULL,
        "steps from t_max to t_min (1 to 1e6); an increasing list (8 16 32 ...) runs a ladder "
        "from the same start points and writes /convergence"),
    KD("sampler", "target_error", 0, "0.001", 0, INF, 1, NULL, "sampler.family=pf-ode|reverse-sde",
       "ladder only: the error whose NFE /convergence nfe_to_target interpolates"),
    KC("sampler", "ladder_metric", V, "map_error (1D pf-ode), l1_error otherwise",
       sample_ladder_metrics, NULL, "sampler.family=pf-ode|reverse-sde",
       "ladder only: the error fitted against NFE: map_error (1D pf-ode without denoise: the "
       "exact path-by-path map error), l1_error (histogram L1, cells + outside), ks (1D)"),
    KZ("sampler", "fit_min_steps", 0, "1", 1, 1000000, NULL, "sampler.family=pf-ode|reverse-sde",
       "ladder only: rungs with fewer steps are written but left out of the fitted order (the "
       "pre-asymptotic range)"),
    KD("sampler", "t_min", 0, "0.001", -INF, INF, 0, NULL, NULL, "end time, in (0, t_max)"),
    KD("sampler", "t_max", V, "T (vp-cosine: 0.999 T)", -INF, INF, 0, NULL, NULL,
       "start time, <= T"),
    KD("sampler", "rho", 0, "7", 0, INF, 1, NULL,
       "sampler.family=pf-ode|reverse-sde,sampler.grid=edm",
       "EDM rho"),
    KB("sampler", "denoise", 0, "false", NULL,
       "end with the Tweedie denoiser x0-hat = E[x0 | x_tmin] (target: the data law)"),
    /* ---- family = langevin: x <- x + (alpha/2) grad log p + sqrt(alpha) z (Song & Ermon 2019,
     * Alg. 1), on the data law p_0 with its exact score ---- */
    KC("sampler", "method", 0, "ula", sample_lmc_methods, NULL, "sampler.family=langevin",
       "ula (unadjusted), mala (Metropolis-adjusted), annealed (Song & Ermon 2019, Alg. 1)"),
    KD("sampler", "step", 0, "0.01", 0, INF, 1, NULL, "sampler.family=langevin,sampler.method=ula|mala",
       "step alpha: x <- x + (alpha/2) grad log p(x) + sqrt(alpha) z"),
    KZ("sampler", "iterations", 0, "1000", 1, 1000000000, NULL,
       "sampler.family=langevin,sampler.method=ula|mala", "Langevin steps"),
    KZ("sampler", "levels", 0, "10", 1, 100000, NULL, "sampler.family=langevin,sampler.method=annealed",
       "noise levels L, geometric from sigma_max to sigma_min"),
    KD("sampler", "sigma_max", 0, "10", 0, INF, 1, NULL, "sampler.family=langevin,sampler.method=annealed",
       "sigma_1, the first (largest) noise level"),
    KD("sampler", "sigma_min", 0, "0.01", 0, INF, 1, NULL, "sampler.family=langevin,sampler.method=annealed",
       "sigma_L, the last noise level (< sigma_max)"),
    KZ("sampler", "steps_per_level", 0, "100", 1, 1000000000, NULL,
       "sampler.family=langevin,sampler.method=annealed", "Langevin steps T per level"),
    KD("sampler", "eps", 0, "2e-05", 0, INF, 1, NULL, "sampler.family=langevin,sampler.method=annealed",
       "step scale: alpha_i = eps sigma_i^2 / sigma_L^2 at level i, each step with the exact score "
       "of p_0 * N(0, sigma_i^2 I)"),
    KZ("sampler", "record", 0, "10", 0, 100000, NULL, "sampler.family=langevin",
       "snapshots along the iterations in /trace: TV and mode weights (0: none)"),
    /* ---- [observation]: y = H x0 + N(0, noise^2 I); the target becomes the exact posterior ---- */
    KDL("observation", "H", V, NULL, 4, NULL, NULL,
        "observation matrix, m x dim row-major, m <= dim (2D: '1 0' observes x_1); required with "
        "[observation]"),
    KDL("observation", "y", V, NULL, 2, NULL, NULL, "the observation, m values; required with "
        "[observation]"),
    KD("observation", "noise", V, NULL, 0, INF, 1, NULL, NULL,
       "observation noise sigma_y > 0; required with [observation]"),
    KC("observation", "score", 0, "exact", sample_obs_scores, NULL,
       "sampler.family=pf-ode|reverse-sde",
       "exact: the exact noised posterior score; dps: the prior's score + J^T H^T (y - H x0-hat) "
       "/ sigma_y^2 (Chung et al. 2023; exact Tweedie Jacobian)"),
    KZ("sample", "paths", 0, "100000", 100, 1000000000, NULL, NULL,
       "number of points (>= 100: the distances' sampling floors are large-sample formulas)"),
    KU("sample", "seed", 0, "1", NULL, NULL, "Philox seed"),
    KZ("sample", "keep", 0, "10", 0, 1000, NULL, NULL, "points stored (at most paths)"),
    KC("sample", "start", 0, "exact", sample_starts, NULL, NULL,
       "exact: x_tmax = a x0 + b z from the data (only the sampler's error remains; langevin: "
       "draws of the target); prior: N(0, b_tmax^2 I) (not langevin); uniform: over the [grid] "
       "box (langevin only)"),
    /* h14-ode: the reverse-time Fokker-Planck check */
    KC("fp", "solver", 0, "none", sample_fp_solvers, NULL, "sampler.family=pf-ode|reverse-sde",
       "solve the reverse-time FP equation with the exact score on [grid] from the exact p_tmax "
       "to t_min and compare with p_tmin: none, fv (finite volumes, TR-BDF2), spectral "
       "(Fourier ETDRK4 on the box made periodic: even n >= 8)"),
    KD("fp", "eta", 0, "1", 0, INF, 0, NULL, "fp.solver=fv|spectral",
       "1: the reverse SDE's FP equation; 0: the PF-ODE continuity equation (any eta >= 0)"),
    KD("fp", "dt", 0, "0.0005", 0, INF, 1, NULL, "fp.solver=fv|spectral", "FP time step"),
    KC("score", "model", 0, "exact", sample_score_models, NULL, "sampler.family=pf-ode|reverse-sde",
       "exact: the mixture's score; dsm: a score fitted by denoising score matching (random "
       "Fourier features, ridge least squares) at levels log-spaced over [t_min, t_max]"),
    KZ("score", "levels", 0, "12", 2, 1000, NULL, "score.model=dsm",
       "noise levels of the fit, log-spaced from t_min to t_max (the score is interpolated "
       "linearly in t between them: at least 2)"),
    KZ("score", "features", 0, "200", 1, 100000, NULL, "score.model=dsm",
       "random Fourier features M"),
    KD("score", "lengthscale", 0, "0.25", 0, INF, 1, NULL, "score.model=dsm",
       "feature length scale in the standardised variable"),
    KD("score", "ridge", 0, "1e-06", 0, INF, 0, NULL, "score.model=dsm", "ridge lambda >= 0"),
    KZ("score", "samples", 0, "50000", 1, 100000000, NULL, "score.model=dsm",
       "training samples per level (>= 1 + dim + features)"),
    KZ("score", "valid", 0, "20000", 2, 100000000, NULL, "score.model=dsm",
       "held-out samples per level"),
    KU("score", "seed", 0, "1", NULL, "score.model=dsm", "Philox seed of the fit"),
    /* end h14-ode */
    KZ("grid", "dim", R, NULL, 1, 2, "1", NULL, "dimension of the histogram grid"),
    KL("grid", "n", R, NULL, "200", NULL, "cells per axis"),
    KL("grid", "lo", R, NULL, "-5", NULL, "lower edge per axis"),
    KL("grid", "hi", R, NULL, "5", NULL, "upper edge per axis"),
    OUT_FILE,
};

/* `fpkit km` (src/app/km.c; docs/km.md): Kramers-Moyal estimates of drift and diffusion from
 * paths simulated from [model] or read from an HDF5 file (km.input). */
static const char *const km_corrections[] = {"none", "first-order", NULL};
static const fpk_config_key km_keys[] = {
    MODEL_KEYS_IF(NULL, ""),
    KZ("grid", "dim", R, NULL, 1, 2, "1", NULL, "dimension of the state (the bins)"),
    KL("grid", "n", R, NULL, "40", NULL, "bins per axis"),
    KL("grid", "lo", R, NULL, "-2", NULL, "lower edge of the bins per axis"),
    KL("grid", "hi", R, NULL, "2", NULL, "upper edge of the bins per axis"),
    KL("init", "mean", 0, "0", NULL, NULL, "simulation: mean of X_0 per axis"),
    KL("init", "std", R, NULL, "0.7", NULL,
       "simulation: standard deviation of X_0 per axis (> 0); not read with km.input"),
    KS("km", "input", V, NULL, NULL, NULL,
       "HDF5 file of recorded paths (--input); none: simulate [model]"),
    KS("km", "dataset", V, NULL, NULL, NULL,
       "km.input: the dataset, [time], [path][time] or [path][time][component] (--dataset)"),
    KD("km", "dt", V, NULL, 0, INF, 1, "0.01", NULL,
       "sampling interval (--dt; with km.input default: the dataset's attribute dt)"),
    KZ("km", "lag", 0, "1", 1, 1000000, NULL, NULL,
       "lag in samples, tau = lag * dt (a window spans 2 lag samples)"),
    KC("km", "correction", 0, "first-order", km_corrections, NULL, NULL,
       "finite-tau bias: none (O(tau)) or first-order (Richardson over tau and 2 tau: O(tau^2))"),
    KZ("km", "min_count", 0, "100", 2, 1000000000, NULL, NULL,
       "bins with fewer windows get NaN estimates"),
    KZ("km", "paths", 0, "1000", 1, (uint64_t)1 << 40, NULL, NULL, "simulation: number of paths"),
    KZ("km", "steps", 0, "1000", 2, 1000000000, NULL, NULL,
       "simulation: samples per path after X_0"),
    KZ("km", "substeps", 0, "1", 1, 1000000, NULL, NULL,
       "simulation: SDE steps per sampling interval"),
    KC("km", "stepper", 0, "euler-maruyama", sde_steppers, NULL, NULL, "simulation: SDE scheme"),
    KU("km", "seed", 0, "1", NULL, NULL, "simulation: Philox seed (results do not depend on "
       "threads)"),
    OUT_FILE,
};

typedef struct command_keys {
  const char *name;
  const fpk_config_key *keys;
  size_t n;
  const char *what;
} command_keys;

#define COMMAND(name, table, what) {name, table, sizeof table / sizeof table[0], what}
static const command_keys commands[] = {
    COMMAND("run", run_keys, "fpkit run: Fokker-Planck, Monte Carlo and closed forms"),
    COMMAND("converge", converge_keys, "fpkit converge: refinement ladders in dt"),
    COMMAND("bridge", bridge_keys, "fpkit bridge: Brownian bridge, Kolmogorov, KS band"),
    COMMAND("ot", ot_keys, "fpkit ot: entropic optimal transport"),
    COMMAND("sb", sb_keys, "fpkit sb: Schroedinger bridge, Brownian, OU or model reference"),
    COMMAND("sample", sample_keys, "fpkit sample: diffusion samplers with exact mixture scores"),
    COMMAND("km", km_keys, "fpkit km: Kramers-Moyal drift and diffusion from paths"),
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command_keys *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return &commands[i];
  return NULL;
}

int fpk_app_set_keys(fpk_config *c, const char *command, fpk_error *err) {
  const command_keys *k = find_command(command);
  if (!k) return fpk_error_set(err, FPK_EINVAL, "internal error: no key table for '%s'", command);
  return fpk_config_add_schema(c, k->keys, k->n, err);
}

const fpk_config_key *fpk_app_key_find(const char *command, const char *section,
                                       const char *key) {
  const command_keys *k = find_command(command);
  for (size_t i = 0; k && i < k->n; i++)
    if (!strcmp(k->keys[i].section, section) &&
        (k->keys[i].type == FPK_KEY_DATA || !strcmp(k->keys[i].key, key)))
      return &k->keys[i];
  return NULL;
}

/* ---- conditions ("section.key=v1|v2,section.key=v") */

/* The value a template gives section.key: the value written, else the default. NULL: none. */
typedef struct assignment {
  const char *section, *key, *value;
} assignment;

#define MAX_ASSIGN 256

static const char *value_of(const assignment *a, size_t n, const char *section, size_t slen,
                            const char *key, size_t klen) {
  for (size_t i = 0; i < n; i++)
    if (strlen(a[i].section) == slen && !strncmp(a[i].section, section, slen) &&
        strlen(a[i].key) == klen && !strncmp(a[i].key, key, klen))
      return a[i].value;
  return NULL;
}

/* Whether every condition of `when` holds under the assignments. */
static int holds(const char *when, const assignment *a, size_t n) {
  if (!when) return 1;
  for (const char *p = when; *p;) {
    const size_t len = strcspn(p, ",");
    const char *dot = memchr(p, '.', len), *eq = memchr(p, '=', len);
    if (!dot || !eq || eq < dot) return 0;
    const char *v = value_of(a, n, p, (size_t)(dot - p), dot + 1, (size_t)(eq - dot - 1));
    int ok = 0;
    for (const char *q = eq + 1, *end = p + len; v && q < end;) {
      size_t vl = strcspn(q, "|,");
      if (q + vl > end) vl = (size_t)(end - q);
      if (strlen(v) == vl && !strncmp(v, q, vl)) ok = 1;
      q += vl + 1;
    }
    if (!ok) return 0;
    p += len + (p[len] == ',');
  }
  return 1;
}

/* ---- listing */

static void range_text(const fpk_config_key *e, char *buf, size_t len) {
  buf[0] = '\0';
  switch (e->type) {
    case FPK_KEY_DOUBLE:
      if (e->min == -INF && e->max == INF)
        snprintf(buf, len, "finite");
      else
        /* values are finite doubles: an infinite bound is never reached, so it is open */
        snprintf(buf, len, "%s%g, %g%s", e->open_min || e->min == -INF ? "(" : "[", e->min,
                 e->max, e->max == INF || (e->flags & FPK_KEY_OPEN_MAX) ? ")" : "]");
      break;
    case FPK_KEY_SIZE:
      if (e->flags & V && !e->imax)
        snprintf(buf, len, "see description");
      else
        snprintf(buf, len, "[%llu, %llu]", (unsigned long long)e->imin,
                 (unsigned long long)e->imax);
      break;
    case FPK_KEY_DOUBLE_LIST: snprintf(buf, len, "1..%llu numbers", (unsigned long long)e->imax); break;
    case FPK_KEY_LIST: snprintf(buf, len, "numbers"); break;
    case FPK_KEY_U64: snprintf(buf, len, "[0, 2^64)"); break;
    case FPK_KEY_CHOICE: {
      size_t k = 0;
      for (size_t i = 0; e->choices[i] && k + 1 < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? "|" : "", e->choices[i]);
      break;
    }
    default: break;
  }
}

static void default_text(const fpk_config_key *e, char *buf, size_t len) {
  if (e->type == FPK_KEY_DATA)
    snprintf(buf, len, "-");
  else if (e->flags & R)
    snprintf(buf, len, "required");
  else if (e->def)
    snprintf(buf, len, "%s", e->def[0] ? e->def : "\"\"");
  else
    snprintf(buf, len, "(none)");
}

static const char *type_text(const fpk_config_key *e) {
  return e->type == FPK_KEY_DOUBLE_LIST ? "list" : fpk_config_type_name(e->type);
}

/* Entries of one command, filtered by model (NULL: all). */
static void list_keys(const command_keys *k, const char *model) {
  assignment a = {"model", "type", model};
  size_t w[4] = {strlen("KEY"), strlen("TYPE"), strlen("DEFAULT"), strlen("RANGE")};
  char buf[4][256];
  for (int pass = 0; pass < 2; pass++) {
    if (pass) {
      printf("# %s\n%-*s  %-*s  %-*s  %-*s  %s\n", k->what, (int)w[0], "KEY", (int)w[1], "TYPE",
             (int)w[2], "DEFAULT", (int)w[3], "RANGE", "DESCRIPTION [WHEN]");
    }
    for (size_t i = 0; i < k->n; i++) {
      const fpk_config_key *e = &k->keys[i];
      const char *mt = model && e->when ? strstr(e->when, "model.type=") : NULL;
      if (mt) { /* only the condition on model.type is evaluated here */
        char cond[128];
        snprintf(cond, sizeof cond, "%.*s", (int)strcspn(mt, ","), mt);
        if (!holds(cond, &a, 1)) continue;
      }
      snprintf(buf[0], sizeof buf[0], "%s.%s", e->section, e->key);
      snprintf(buf[1], sizeof buf[1], "%s", type_text(e));
      default_text(e, buf[2], sizeof buf[2]);
      range_text(e, buf[3], sizeof buf[3]);
      if (!pass) {
        for (int c = 0; c < 4; c++)
          if (strlen(buf[c]) > w[c]) w[c] = strlen(buf[c]);
        continue;
      }
      printf("%-*s  %-*s  %-*s  %-*s  %s", (int)w[0], buf[0], (int)w[1], buf[1], (int)w[2],
             buf[2], (int)w[3], buf[3], e->doc);
      if (e->when) printf(" [when %s]", e->when);
      if (e->flags & V) printf(" [varies]");
      putchar('\n');
    }
  }
}

static int is_model(const char *m) {
  for (size_t i = 0; model_types[i]; i++)
    if (!strcmp(model_types[i], m)) return 1;
  return 0;
}

/* Templates that would not run: the command cannot do anything with the model. */
static const struct {
  const char *command, *model, *why;
} no_template[] = {
    {"converge", "bm", "Euler-Maruyama is exact for Brownian motion with constant drift and noise: "
                       "every level's error is round-off, there is no order to measure"},
};

static const char *template_refused(const char *command, const char *model) {
  for (size_t i = 0; i < sizeof no_template / sizeof no_template[0]; i++)
    if (model && !strcmp(no_template[i].command, command) && !strcmp(no_template[i].model, model))
      return no_template[i].why;
  return NULL;
}

/* "run" or "run/ou": the command and the model (NULL). Returns 0, or prints why not. */
static int split_name(const char *arg, const command_keys **k, char *model, size_t len) {
  const char *slash = strchr(arg, '/');
  char cmd[64];
  snprintf(cmd, sizeof cmd, "%.*s", (int)(slash ? (size_t)(slash - arg) : strlen(arg)), arg);
  model[0] = '\0';
  if (slash) snprintf(model, len, "%s", slash + 1);
  *k = find_command(cmd);
  if (!*k) {
    fprintf(stderr, "fpkit: unknown command '%s' (expected run, converge, bridge or ot)\n", cmd);
    return 2;
  }
  if (model[0] && (strcmp(cmd, "run") && strcmp(cmd, "converge"))) {
    fprintf(stderr, "fpkit: '%s' has no [model] section: use '%s'\n", arg, cmd);
    return 2;
  }
  if (model[0] && !is_model(model)) {
    fprintf(stderr, "fpkit: unknown model '%s' (expected one of:", model);
    for (size_t i = 0; model_types[i]; i++) fprintf(stderr, " %s", model_types[i]);
    fprintf(stderr, ")\n");
    return 2;
  }
  return 0;
}

int fpk_app_keys(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))) {
    fputs("usage: fpkit keys [COMMAND[/MODEL]]\n"
          "Lists every configuration key of COMMAND (run, converge, bridge, ot; all without "
          "one):\nsection.key, type, default, range and description; MODEL (run/ou, "
          "converge/gbm, ...)\nkeeps the [model] keys of that model type. The parser checks "
          "every key it reads\nagainst this same table (docs/workflow.md).\n",
          argc > 2 ? stderr : stdout);
    return argc > 2 ? 2 : 0;
  }
  if (argc == 1) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
      if (i) putchar('\n');
      list_keys(&commands[i], NULL);
    }
    return 0;
  }
  const command_keys *k;
  char model[64];
  int rc = split_name(argv[1], &k, model, sizeof model);
  if (rc) return rc;
  list_keys(k, model[0] ? model : NULL);
  return 0;
}

/* ---- templates */

static void print_comment(const char *text) {
  printf("# %s\n", text);
}

static int write_template(const command_keys *k, const char *model) {
  assignment a[MAX_ASSIGN];
  size_t na = 0;
  /* the value of every key: the model asked for, examples of the keys to fill, defaults */
  const char **val = calloc(k->n, sizeof *val);
  int *fill = calloc(k->n, sizeof *fill);
  if (!val || !fill) {
    free(val), free(fill);
    return 1;
  }
  for (size_t i = 0; i < k->n && na < MAX_ASSIGN; i++) {
    const fpk_config_key *e = &k->keys[i];
    if (e->type == FPK_KEY_DATA) continue;
    fill[i] = e->example != NULL; /* required keys, and optional ones worth writing out */
    val[i] = fill[i] ? e->example : e->def;
    if (model && !strcmp(e->section, "model") && !strcmp(e->key, "type")) {
      val[i] = model;
      fill[i] = 1;
    }
    if (!value_of(a, na, e->section, strlen(e->section), e->key, strlen(e->key)))
      a[na++] = (assignment){e->section, e->key, val[i]};
  }
  printf("# fpkit %s configuration%s%s, generated by `fpkit config` from the key table the\n"
         "# parser checks against (src/app/keys.c): required keys carry an example value, the\n"
         "# others show their default, commented out. `fpkit keys %s` lists every key.\n",
         k->name, model ? " for model " : "", model ? model : "", k->name);
  /* sections in order of first appearance */
  const char *done_sections[64];
  size_t nsec = 0;
  for (size_t i = 0; i < k->n; i++) {
    const char *sec = k->keys[i].section;
    int seen = 0;
    for (size_t s = 0; s < nsec; s++) seen |= !strcmp(done_sections[s], sec);
    if (seen || nsec == 64) continue;
    done_sections[nsec++] = sec;
    int header = 0;
    for (size_t j = i; j < k->n; j++) {
      const fpk_config_key *e = &k->keys[j];
      if (strcmp(e->section, sec) || !holds(e->when, a, na)) continue;
      int dup = 0; /* a key listed twice (read in two places): once */
      for (size_t q = i; q < j; q++)
        dup |= !strcmp(k->keys[q].section, sec) && !strcmp(k->keys[q].key, e->key) &&
               holds(k->keys[q].when, a, na);
      if (dup) continue;
      if (!header) printf("\n[%s]\n", sec), header = 1;
      char range[256], line[512];
      range_text(e, range, sizeof range);
      snprintf(line, sizeof line, "%s (%s%s%s)", e->doc, type_text(e), range[0] ? " " : "",
               range);
      print_comment(line);
      if (e->type == FPK_KEY_DATA) {
        /* "theta=1 s=0.5": one key per name */
        char ex[256];
        snprintf(ex, sizeof ex, "%s", e->example ? e->example : "");
        for (char *save, *tok = strtok_r(ex, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
          char *eq = strchr(tok, '=');
          if (eq) *eq = '\0', printf("%s = %s\n", tok, eq + 1);
        }
      } else if (fill[j]) {
        printf("%s = %s\n", e->key, val[j]);
      } else {
        printf("# %s = %s\n", e->key,
               e->flags & R ? "(required)" : e->def ? e->def : "(no default)");
      }
    }
  }
  free(val), free(fill);
  return 0;
}

int fpk_app_config_template(int argc, char **argv) {
  if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs("usage: fpkit config TEMPLATE | --list\n"
          "Prints a commented starting configuration for TEMPLATE (run, run/MODEL, converge,\n"
          "converge/MODEL, bridge, ot; --list shows them), generated from the key table the\n"
          "parser checks against: fpkit config run/langevin > my.ini\n",
          argc == 2 ? stdout : stderr);
    return argc == 2 ? 0 : 2;
  }
  if (!strcmp(argv[1], "--list")) {
    for (size_t i = 0; i < NCOMMANDS; i++) {
      printf("%-28s %s\n", commands[i].name, commands[i].what);
      if (strcmp(commands[i].name, "run") && strcmp(commands[i].name, "converge")) continue;
      for (size_t m = 0; model_types[m]; m++) {
        if (template_refused(commands[i].name, model_types[m])) continue;
        char name[64];
        snprintf(name, sizeof name, "%s/%s", commands[i].name, model_types[m]);
        printf("%-28s %s with [model] type = %s\n", name, commands[i].name, model_types[m]);
      }
    }
    return 0;
  }
  const command_keys *k;
  char model[64];
  int rc = split_name(argv[1], &k, model, sizeof model);
  if (rc) return rc;
  const char *why = template_refused(k->name, model);
  if (why) {
    fprintf(stderr, "fpkit: no template %s: %s\n", argv[1], why);
    return 2;
  }
  return write_template(k, model[0] ? model : NULL);
}
