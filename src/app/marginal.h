/* The end marginals of `fpkit ot` and `fpkit sb` (src/app/marginal.c): a Gaussian, a Gaussian
 * mixture, or a field of an fpkit HDF5 file, read from a config section and discretised on one
 * grid (docs/ot.md "Marginals"; docs/sb.md "The command"). Shared so that both commands read,
 * check and discretise the same way, with the same messages. */
#ifndef FPK_APP_MARGINAL_H
#define FPK_APP_MARGINAL_H

#include <stddef.h>
#include "fpkit/config.h"
#include "fpkit/error.h"
#include "fpkit/exact.h"
#include "fpkit/grid.h"
#include "fpkit/model.h"

enum { FPK_APP_MARGINAL_GAUSSIAN = 0, FPK_APP_MARGINAL_MIXTURE = 1, FPK_APP_MARGINAL_HDF5 = 2 };
/* The choices of [section] type, in the enum's order. */
extern const char *const fpk_app_marginal_types[];

typedef struct fpk_app_marginal {
  const char *section; /* the config section: "source", "target", "mu0", "muT" */
  size_t type;
  fpk_gaussian gauss;
  fpk_mixture mix;
  size_t discretize; /* 0: density at centres × volume, normalised; 1: exact cell probabilities */
  /* HDF5 */
  const char *file, *dataset;
  size_t values;     /* 0: density (× cell volume), 1: probability */
  int clip;          /* clip_negative */
  double clipped;    /* largest mass set to zero by clip_negative at one time */
  int time_axis;     /* the dataset has a leading time axis */
  int all;           /* time = all */
  size_t time_index; /* the entry used when not all */
  fpk_grid fgrid;    /* the file's grid */
  /* the fields */
  size_t nt;   /* fields held: 1 unless all */
  double *t;   /* [nt] times of the fields (NaN: unknown) */
  double *p;   /* [nt][N] cell probabilities as read / discretised */
  double *mass; /* [nt] Σ p */
  char what[512]; /* one line for the summary and the file */
} fpk_app_marginal;

/* 1 when [grid] gives any of dim, n, lo, hi. */
int fpk_app_grid_given(const fpk_config *c);
/* [grid] dim (1 or 2), n, lo, hi: a box with reflecting walls (the walls are not used). */
int fpk_app_read_box_grid(fpk_config *c, fpk_grid *g, fpk_error *err);
/* [m->section] type = hdf5: reads file, dataset, values, clip_negative, time; fills m->fgrid
 * (the file's grid) and the fields as cell probabilities, each value checked (finite, >= 0). */
int fpk_app_marginal_read_hdf5(fpk_config *c, fpk_app_marginal *m, fpk_error *err);
/* [m->section] type = gaussian or mixture: reads the law and discretises it on g (mass 1). */
int fpk_app_marginal_read_spec(fpk_config *c, fpk_app_marginal *m, const fpk_grid *g,
                               fpk_error *err);

#endif
