/* Solver states in HDF5 (fpkit/checkpoint.h): every state written and read back is bitwise the
 * state written (finite volumes on a 2D grid, spectral with and without SBDF2's history, Monte
 * Carlo with and without kept paths), and every malformed input is refused with a message naming
 * the file, the object, what was found and what was expected: a dataset of another shape, a
 * missing dataset or attribute, a non-finite or fractional or out-of-range number, a count that
 * is not a whole number, SBDF2's history announced but absent. Damaged files are made by editing
 * a valid one with HDF5's high-level API. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "fpk_test.h"
#include "fpkit/checkpoint.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/fpk_ckpt_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

static const char *in_dir(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

#define assert_msg_has(msg, text)                                                    \
  do {                                                                               \
    if (!strstr((msg), (text))) fail_msg("message lacks \"%s\": %s", (text), (msg)); \
  } while (0)

/* Bitwise equality of n doubles (memcmp: -0.0 and NaN payloads count). */
#define assert_same_bits(a, b, n) assert_memory_equal((a), (b), (n) * sizeof(double))

/* Values with all their bits in use: not round numbers that a lossy path would keep. */
static void fill(double *v, size_t n, double seed) {
  for (size_t i = 0; i < n; i++) v[i] = sin(seed + 0.7 * (double)i) / 3.0 + 1e-300 * (double)i;
}

/* ---- finite volumes */

static fpk_grid grid2(size_t nx, size_t ny) {
  return fpk_test_grid(2, (size_t[]){nx, ny}, (double[]){-1.0, 0.0}, (double[]){1.0, 3.0});
}

static fpk_fv_state fv_sample(double *p, size_t cells) {
  fpk_fv_state st = {.t = 0.3 + 1.0 / 3.0, .steps = 12345, .t0 = 0.25, .t1 = 0.5, .h = 1.0 / 48.0,
                     .n = 12, .i = 5, .mass0 = 1.0 - 1e-15, .mass_prev = 0.9999999999999998,
                     .p = p};
  fill(p, cells, 1.0);
  fill(st.cache, FPK_FV_STATE_CACHE, 2.0);
  return st;
}

/* Writes a committed file through write(f), returns its path. */
typedef int (*writer_fn)(fpk_h5 *f, void *arg);
static const char *write_file(const char *name, writer_fn write, void *arg) {
  const char *path = in_dir(name);
  fpk_error err = {0};
  fpk_h5 *f = fpk_h5_create(path, &(fpk_h5_create_options){.force = 1}, &err);
  if (!f) fail_msg("%s", err.msg);
  if (write(f, arg)) fail_msg("%s", fpk_h5_errmsg(f));
  assert_int_equal(fpk_h5_commit(f), FPK_SUCCESS);
  fpk_h5_close(f);
  return path;
}

static int write_fv(fpk_h5 *f, void *arg) {
  const fpk_fv_state *st = arg;
  const fpk_grid g = grid2(5, 4);
  return fpk_h5_group(f, "/fv", NULL) || fpk_h5_write_fv_state(f, "/fv/state", &g, st);
}

static void test_fv_roundtrip(void **state) {
  (void)state;
  const fpk_grid g = grid2(5, 4);
  double p[20];
  const fpk_fv_state st = fv_sample(p, g.size);
  const char *path = write_file("fv.h5", write_fv, (void *)&st);
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  /* stored as the outputs store fields: [ny][nx] */
  size_t rank, dims[FPK_H5_MAX_RANK];
  assert_int_equal(fpk_h5_dataset_shape(r, "/fv/state/p", &rank, dims), FPK_SUCCESS);
  assert_int_equal(rank, 2);
  assert_int_equal(dims[0], 4);
  assert_int_equal(dims[1], 5);
  fpk_fv_state back;
  if (fpk_h5_read_fv_state(r, "/fv/state", &g, &back, &err)) fail_msg("%s", err.msg);
  assert_same_bits(back.p, st.p, g.size);
  assert_same_bits(back.cache, st.cache, FPK_FV_STATE_CACHE);
  const double a[] = {st.t, st.t0, st.t1, st.h, st.mass0, st.mass_prev};
  const double b[] = {back.t, back.t0, back.t1, back.h, back.mass0, back.mass_prev};
  assert_same_bits(a, b, 6);
  assert_int_equal(back.steps, st.steps);
  assert_int_equal(back.n, st.n);
  assert_int_equal(back.i, st.i);
  fpk_h5_fv_state_free(&back);
  assert_null(back.p);

  /* a solver on another grid: the shape found and the shape needed */
  const fpk_grid other = grid2(6, 4);
  assert_int_equal(fpk_h5_read_fv_state(r, "/fv/state", &other, &back, &err), FPK_EINVAL);
  assert_msg_has(err.msg, path);
  assert_msg_has(err.msg, "dataset '/fv/state/p' has shape [4][5], this run's configuration needs "
                          "[4][6] (a damaged checkpoint)");
  fpk_h5_fv_state_free(&back);
  /* no such group */
  assert_int_not_equal(fpk_h5_read_fv_state(r, "/nothing", &g, &back, &err), FPK_SUCCESS);
  assert_msg_has(err.msg, "/nothing/p");
  assert_msg_has(err.msg, "(a damaged checkpoint, or not one of this run)");
  fpk_h5_fv_state_free(&back);
  fpk_h5_reader_close(r);
}

/* ---- damaged copies: a valid file edited through HDF5's high-level API */

typedef enum { DEL_ATTR, SET_ATTR, SET_STRING_ATTR, DEL_DATASET, REPLACE_DATASET } edit_kind;

typedef struct edit {
  edit_kind kind;
  const char *object, *name; /* attribute: object and name; dataset: object */
  double value;              /* SET_ATTR */
  size_t rank, dims[3];      /* REPLACE_DATASET: the new shape, filled with value */
} edit;

#define del_attr(o, n) (&(edit){.kind = DEL_ATTR, .object = (o), .name = (n)})
#define set_attr(o, n, v) (&(edit){.kind = SET_ATTR, .object = (o), .name = (n), .value = (v)})
#define set_string_attr(o, n) (&(edit){.kind = SET_STRING_ATTR, .object = (o), .name = (n)})
#define del_dataset(o) (&(edit){.kind = DEL_DATASET, .object = (o)})
#define replace_dataset(o, v, r, ...) \
  (&(edit){.kind = REPLACE_DATASET, .object = (o), .value = (v), .rank = (r), .dims = {__VA_ARGS__}})

static void apply(const char *path, const edit *e) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  herr_t rc = 0;
  switch (e->kind) {
  case DEL_ATTR: rc = H5Adelete_by_name(f, e->object, e->name, H5P_DEFAULT); break;
  case SET_ATTR: rc = H5LTset_attribute_double(f, e->object, e->name, &e->value, 1); break;
  case SET_STRING_ATTR: rc = H5LTset_attribute_string(f, e->object, e->name, "twelve"); break;
  case DEL_DATASET: rc = H5Ldelete(f, e->object, H5P_DEFAULT); break;
  case REPLACE_DATASET: {
    hsize_t d[3], n = 1;
    for (size_t a = 0; a < e->rank; a++) d[a] = e->dims[a], n *= e->dims[a];
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (hsize_t i = 0; i < n; i++) v[i] = e->value;
    rc = H5Ldelete(f, e->object, H5P_DEFAULT);
    if (rc >= 0) rc = H5LTmake_dataset_double(f, e->object, (int)e->rank, d, v);
    free(v);
    break;
  }
  }
  assert_true(rc >= 0);
  H5Fclose(f);
}

typedef int (*reader_fn)(fpk_h5_reader *r, fpk_error *err);

/* Copies the valid file, applies e, reads with read: refused (FPK_EINVAL unless the reader's own
 * error, FPK_EIO or another) with a message naming the file and holding `want`. */
static void refused(const char *valid, const edit *e, reader_fn read, const char *want) {
  const char *path = in_dir("damaged.h5");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", valid, path);
  assert_int_equal(system(cmd), 0);
  apply(path, e);
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  const int rc = read(r, &err);
  fpk_h5_reader_close(r);
  if (rc == FPK_SUCCESS) fail_msg("accepted a damaged file (expected \"%s\")", want);
  assert_msg_has(err.msg, path);
  assert_msg_has(err.msg, want);
  assert_msg_has(err.msg, "(a damaged checkpoint");
}

static int read_fv(fpk_h5_reader *r, fpk_error *err) {
  const fpk_grid g = grid2(5, 4);
  fpk_fv_state st;
  const int rc = fpk_h5_read_fv_state(r, "/fv/state", &g, &st, err);
  fpk_h5_fv_state_free(&st);
  return rc;
}

static void test_fv_malformed(void **state) {
  (void)state;
  const fpk_grid g = grid2(5, 4);
  double p[20];
  const fpk_fv_state st = fv_sample(p, g.size);
  char valid[256];
  snprintf(valid, sizeof valid, "%s", write_file("fv_valid.h5", write_fv, (void *)&st));
  const char *o = "/fv/state";
  refused(valid, del_attr(o, "mass0"), read_fv, "has no attribute 'mass0'");
  refused(valid, set_attr(o, "t", INFINITY), read_fv,
          "attribute 't' of '/fv/state' is inf");
  refused(valid, set_attr(o, "mass_prev", NAN), read_fv,
          "attribute 'mass_prev' of '/fv/state' is nan");
  refused(valid, set_attr(o, "n", 2.5), read_fv,
          "attribute 'n' of '/fv/state' is 2.5, expected a whole number in [0, 1e+12]");
  refused(valid, set_attr(o, "i", -1.0), read_fv,
          "attribute 'i' of '/fv/state' is -1, expected a whole number");
  refused(valid, set_attr(o, "steps", 2e18), read_fv,
          "attribute 'steps' of '/fv/state' is 2e+18, expected a whole number in [0, 1e+18]");
  refused(valid, set_string_attr(o, "h"), read_fv, "'h'");
  refused(valid, del_dataset("/fv/state/cache"), read_fv, "/fv/state/cache");
  refused(valid, replace_dataset("/fv/state/cache", 0.0, 1, FPK_FV_STATE_CACHE + 1),
          read_fv, "dataset '/fv/state/cache' has shape [");
  refused(valid, replace_dataset("/fv/state/p", 0.1, 1, 20), read_fv,
          "dataset '/fv/state/p' has shape [20], this run's configuration needs [4][5]");
  refused(valid, replace_dataset("/fv/state/p", 0.1, 0, 0), read_fv,
          "has shape a scalar, this run's configuration needs [4][5]");
}

/* ---- spectral */

typedef struct spectral_sample {
  fpk_spectral_state st;
  double v[6 * 9];
} spectral_sample;

static void spectral_fill(spectral_sample *s, int history) {
  const size_t nc = 9;
  fill(s->v, 6 * nc, 3.0);
  s->st = (fpk_spectral_state){.t = 0.125, .steps = 77, .t0 = 0.1, .t1 = 0.2, .h = 0.1 / 64.0,
                               .n = 64, .i = 16, .mass = 1.0 + 1e-14, .hc = history ? 0.0 : 0.01,
                               .hist_h = history ? 0.1 / 64.0 : 0.0, .nc = nc, .uh = s->v};
  if (history) s->st.uprev = s->v + 2 * nc, s->st.nprev = s->v + 4 * nc;
}

static int write_spectral(fpk_h5 *f, void *arg) {
  const fpk_spectral_state *st = arg;
  return fpk_h5_group(f, "/spectral", NULL) ||
         fpk_h5_write_spectral_state(f, "/spectral/state", st);
}

static void check_spectral(const char *path, const fpk_spectral_state *st) {
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  fpk_spectral_state back;
  if (fpk_h5_read_spectral_state(r, "/spectral/state", st->nc, &back, &err))
    fail_msg("%s", err.msg);
  assert_int_equal(back.nc, st->nc);
  assert_same_bits(back.uh, st->uh, 2 * st->nc);
  if (st->hist_h != 0.0) {
    assert_same_bits(back.uprev, st->uprev, 2 * st->nc);
    assert_same_bits(back.nprev, st->nprev, 2 * st->nc);
  } else {
    assert_null(back.uprev);
    assert_null(back.nprev);
  }
  const double a[] = {st->t, st->t0, st->t1, st->h, st->mass, st->hc, st->hist_h};
  const double b[] = {back.t, back.t0, back.t1, back.h, back.mass, back.hc, back.hist_h};
  assert_same_bits(a, b, 7);
  assert_int_equal(back.steps, st->steps);
  assert_int_equal(back.n, st->n);
  assert_int_equal(back.i, st->i);
  fpk_h5_spectral_state_free(&back);
  /* a solver of another size */
  assert_int_equal(fpk_h5_read_spectral_state(r, "/spectral/state", st->nc + 1, &back, &err),
                   FPK_EINVAL);
  assert_msg_has(err.msg, "dataset '/spectral/state/uh' has shape [9][2], this run's "
                          "configuration needs [10][2]");
  fpk_h5_spectral_state_free(&back);
  fpk_h5_reader_close(r);
}

static void test_spectral_roundtrip(void **state) {
  (void)state;
  spectral_sample s;
  spectral_fill(&s, 0);
  check_spectral(write_file("spectral.h5", write_spectral, &s.st), &s.st);
  spectral_fill(&s, 1);
  check_spectral(write_file("sbdf2.h5", write_spectral, &s.st), &s.st);
}

static int read_spectral(fpk_h5_reader *r, fpk_error *err) {
  fpk_spectral_state st;
  const int rc = fpk_h5_read_spectral_state(r, "/spectral/state", 9, &st, err);
  fpk_h5_spectral_state_free(&st);
  return rc;
}

static void test_spectral_malformed(void **state) {
  (void)state;
  spectral_sample s;
  spectral_fill(&s, 1);
  char valid[256];
  snprintf(valid, sizeof valid, "%s", write_file("sbdf2_valid.h5", write_spectral, &s.st));
  const char *o = "/spectral/state";
  refused(valid, del_dataset("/spectral/state/nprev"), read_spectral,
          "/spectral/state/nprev");
  refused(valid, replace_dataset("/spectral/state/uprev", 0.0, 2, 9, 3),
          read_spectral, "dataset '/spectral/state/uprev' has shape [9][3], this run's "
                         "configuration needs [9][2]");
  refused(valid, set_attr(o, "hist_h", -INFINITY), read_spectral,
          "attribute 'hist_h' of '/spectral/state' is -inf");
  refused(valid, del_attr(o, "hc"), read_spectral, "has no attribute 'hc'");
  refused(valid, set_attr(o, "n", 1e13), read_spectral,
          "attribute 'n' of '/spectral/state' is 1e+13, expected a whole number in [0, 1e+12]");
  /* without a history, a stored one is not asked for; announcing one that is not there is
   * refused */
  spectral_fill(&s, 0);
  snprintf(valid, sizeof valid, "%s", write_file("spectral_valid.h5", write_spectral, &s.st));
  refused(valid, set_attr(o, "hist_h", 0.5), read_spectral, "/spectral/state/uprev");
}

/* ---- Monte Carlo */

enum { MC_NT = 3, MC_CELLS = 7, MC_DIM = 2, MC_STEPS = 5, MC_KEEP = 4 };
#define MC_NSTAT FPK_MC_NSTAT(MC_DIM)

typedef struct mc_sample {
  fpk_mc_state st;
  uint64_t counts[MC_NT * MC_CELLS], outside[MC_NT], alive[MC_NT];
  double moments[MC_NT * MC_NSTAT], paths[MC_KEEP * (MC_STEPS + 1) * MC_DIM];
} mc_sample;

static fpk_mc_state mc_expect(void) {
  return (fpk_mc_state){.npaths = 1000, .nt = MC_NT, .cells = MC_CELLS, .dim = MC_DIM,
                        .nsteps = MC_STEPS, .keep_paths = MC_KEEP, .seed = 42};
}

static void mc_fill(mc_sample *s, size_t kept) {
  for (size_t i = 0; i < MC_NT * MC_CELLS; i++) s->counts[i] = (i * 37) % 101;
  for (size_t k = 0; k < MC_NT; k++) s->outside[k] = k, s->alive[k] = 512 - k;
  fill(s->moments, MC_NT * MC_NSTAT, 4.0);
  fill(s->paths, MC_KEEP * (MC_STEPS + 1) * MC_DIM, 5.0);
  s->st = mc_expect();
  s->st.next_block = 2, s->st.paths_done = 512, s->st.kept_rows = kept;
  s->st.counts = s->counts, s->st.outside = s->outside, s->st.alive = s->alive;
  s->st.moments = s->moments, s->st.paths = kept ? s->paths : NULL;
}

static int write_mc(fpk_h5 *f, void *arg) {
  return fpk_h5_write_mc_state(f, "/mc", (const fpk_mc_state *)arg);
}

static void check_mc(const char *path, const fpk_mc_state *st) {
  fpk_error err = {0};
  fpk_h5_reader *r = fpk_h5_reader_open(path, &err);
  assert_non_null(r);
  const fpk_mc_state expect = mc_expect();
  fpk_mc_state back;
  if (fpk_h5_read_mc_state(r, "/mc", &expect, &back, &err)) fail_msg("%s", err.msg);
  assert_int_equal(back.npaths, st->npaths);
  assert_int_equal(back.nt, st->nt);
  assert_int_equal(back.cells, st->cells);
  assert_int_equal(back.dim, st->dim);
  assert_int_equal(back.nsteps, st->nsteps);
  assert_int_equal(back.keep_paths, st->keep_paths);
  assert_int_equal(back.seed, st->seed);
  assert_int_equal(back.next_block, st->next_block);
  assert_int_equal(back.paths_done, st->paths_done);
  assert_int_equal(back.kept_rows, st->kept_rows);
  assert_memory_equal(back.counts, st->counts, MC_NT * MC_CELLS * sizeof(uint64_t));
  assert_memory_equal(back.outside, st->outside, MC_NT * sizeof(uint64_t));
  assert_memory_equal(back.alive, st->alive, MC_NT * sizeof(uint64_t));
  assert_same_bits(back.moments, st->moments, MC_NT * MC_NSTAT);
  if (st->kept_rows)
    assert_same_bits(back.paths, st->paths, st->kept_rows * (MC_STEPS + 1) * MC_DIM);
  else
    assert_null(back.paths);
  fpk_h5_mc_state_free(&back);
  assert_null(back.counts);
  fpk_h5_reader_close(r);
}

static void test_mc_roundtrip(void **state) {
  (void)state;
  mc_sample s;
  mc_fill(&s, 0);
  check_mc(write_file("mc.h5", write_mc, &s.st), &s.st);
  mc_fill(&s, 3);
  check_mc(write_file("mc_paths.h5", write_mc, &s.st), &s.st);
}

static int read_mc(fpk_h5_reader *r, fpk_error *err) {
  const fpk_mc_state expect = mc_expect();
  fpk_mc_state st;
  const int rc = fpk_h5_read_mc_state(r, "/mc", &expect, &st, err);
  fpk_h5_mc_state_free(&st);
  return rc;
}

static void test_mc_malformed(void **state) {
  (void)state;
  mc_sample s;
  mc_fill(&s, 3);
  char valid[256];
  snprintf(valid, sizeof valid, "%s", write_file("mc_valid.h5", write_mc, &s.st));
  /* 1000 paths are 4 blocks of 256 */
  refused(valid, set_attr("/mc", "next_block", 5.0), read_mc,
          "attribute 'next_block' of '/mc' is 5, expected a whole number in [0, 4]");
  refused(valid, set_attr("/mc", "paths_done", 1001.0), read_mc,
          "attribute 'paths_done' of '/mc' is 1001, expected a whole number in [0, 1000]");
  refused(valid, set_attr("/mc", "kept_rows", 5.0), read_mc,
          "attribute 'kept_rows' of '/mc' is 5, expected a whole number in [0, 4]");
  refused(valid, del_attr("/mc", "paths_done"), read_mc,
          "has no attribute 'paths_done'");
  refused(valid, replace_dataset("/mc/counts", 0.5, 2, MC_NT, MC_CELLS), read_mc,
          "'/mc/counts'[0] = 0.5 is not a count in [0, 1000]");
  refused(valid, replace_dataset("/mc/alive", 1001.0, 1, MC_NT), read_mc,
          "'/mc/alive'[0] = 1001 is not a count in [0, 1000]");
  refused(valid, replace_dataset("/mc/outside", -1.0, 1, MC_NT), read_mc,
          "'/mc/outside'[0] = -1 is not a count");
  refused(valid, replace_dataset("/mc/counts", 1.0, 2, MC_NT, MC_CELLS + 1),
          read_mc, "dataset '/mc/counts' has shape [3][8], this run's configuration needs [3][7]");
  refused(valid, replace_dataset("/mc/moments", 1.0, 2, MC_NT, MC_NSTAT - 1),
          read_mc, "dataset '/mc/moments' has shape [3][5], this run's configuration needs [3][6]");
  /* the paths of a run with another number of steps */
  refused(valid, replace_dataset("/mc/paths", 1.0, 3, 3, MC_STEPS, MC_DIM),
          read_mc, "dataset '/mc/paths' has shape [3][5][2], this run's configuration needs "
                   "[3][6][2]");
  refused(valid, del_dataset("/mc/paths"), read_mc, "/mc/paths");
}

/* Group names that do not fit are refused, not cut. */
static void test_long_group(void **state) {
  (void)state;
  char group[700];
  memset(group, 'a', sizeof group - 1);
  group[0] = '/';
  group[sizeof group - 1] = '\0';
  const fpk_grid g = grid2(5, 4);
  double p[20];
  const fpk_fv_state st = fv_sample(p, g.size);
  fpk_error err = {0};
  fpk_h5 *f = fpk_h5_create(in_dir("long.h5"), &(fpk_h5_create_options){.force = 1}, &err);
  assert_non_null(f);
  assert_int_equal(fpk_h5_write_fv_state(f, group, &g, &st), FPK_EINVAL);
  fpk_h5_close(f);
  fpk_h5_reader *r = fpk_h5_reader_open(write_file("fv_long.h5", write_fv, (void *)&st), &err);
  assert_non_null(r);
  fpk_fv_state back;
  assert_int_equal(fpk_h5_read_fv_state(r, group, &g, &back, &err), FPK_EINVAL);
  assert_msg_has(err.msg, "is too long");
  fpk_h5_fv_state_free(&back);
  fpk_h5_reader_close(r);
}

/* ---- the file: the marker, the version, the layout */

static int write_marked(fpk_h5 *f, void *arg) {
  (void)arg;
  return fpk_ckpt_mark(f);
}

static int write_unmarked(fpk_h5 *f, void *arg) {
  (void)arg;
  return fpk_h5_attr_string(f, "/", "fpkit_version", FPK_VERSION);
}

/* fpk_ckpt_open after e (NULL: none): the reader, or NULL with the message in err. */
static fpk_h5_reader *open_edited(const char *valid, const edit *e, fpk_error *err) {
  const char *path = in_dir("edited.h5");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", valid, path);
  assert_int_equal(system(cmd), 0);
  if (e) apply(path, e);
  return fpk_ckpt_open(path, err);
}

static void test_open(void **state) {
  (void)state;
  char valid[256];
  snprintf(valid, sizeof valid, "%s", write_file("marked.h5", write_marked, NULL));
  fpk_error err = {0};
  fpk_h5_reader *r = open_edited(valid, NULL, &err);
  if (!r) fail_msg("%s", err.msg);
  double format;
  assert_int_equal(fpk_h5_read_attr_double(r, "/", "checkpoint_format", &format), FPK_SUCCESS);
  assert_true(format == FPK_CKPT_FORMAT);
  fpk_h5_reader_close(r);

  assert_null(fpk_ckpt_open(write_file("unmarked.h5", write_unmarked, NULL), &err));
  assert_int_equal(err.status, FPK_EINVAL);
  assert_msg_has(err.msg, "is not an fpkit checkpoint (no root attribute fpkit_checkpoint)");
  hid_t f = H5Fopen(valid, H5F_ACC_RDWR, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5LTset_attribute_string(f, "/", "fpkit_version", "0.0.0-other") >= 0);
  H5Fclose(f);
  assert_null(open_edited(valid, NULL, &err));
  assert_msg_has(err.msg, "was written by fpkit 0.0.0-other; this is fpkit " FPK_VERSION);
  snprintf(valid, sizeof valid, "%s", write_file("marked.h5", write_marked, NULL));
  assert_null(open_edited(valid, set_attr("/", "checkpoint_format", 2.0), &err));
  assert_msg_has(err.msg, "has layout 2, this fpkit reads 1");
  assert_null(open_edited(valid, del_attr("/", "checkpoint_format"), &err));
  assert_msg_has(err.msg, "has no attribute 'checkpoint_format'");
  /* not HDF5 at all */
  FILE *t = fopen(in_dir("text.ckpt"), "w");
  assert_non_null(t);
  fputs("not a checkpoint\n", t);
  fclose(t);
  assert_null(fpk_ckpt_open(in_dir("text.ckpt"), &err));
  assert_int_equal(err.status, FPK_EIO);
}

int main(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the damaged files make HDF5 complain on stderr */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fv_roundtrip),       cmocka_unit_test(test_fv_malformed),
      cmocka_unit_test(test_spectral_roundtrip), cmocka_unit_test(test_spectral_malformed),
      cmocka_unit_test(test_mc_roundtrip),       cmocka_unit_test(test_mc_malformed),
      cmocka_unit_test(test_long_group),         cmocka_unit_test(test_open),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
