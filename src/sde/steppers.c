/* The registry of SDE steppers (fpkit/sde.h), GSL-style: each algorithm lives in its own file
 * and exports only its type table; this file names them and checks models against them. */
#include <string.h>

#include "sde/sde_internal.h"

const fpk_sde_stepper_type *fpk_sde_euler_maruyama = &fpk_sde_em_type;
const fpk_sde_stepper_type *fpk_sde_milstein = &fpk_sde_milstein_type;
const fpk_sde_stepper_type *fpk_sde_sra1 = &fpk_sde_sra1_type;
const fpk_sde_stepper_type *fpk_sde_tamed_euler = &fpk_sde_tamed_euler_type;
const fpk_sde_stepper_type *fpk_sde_exact_ou = &fpk_sde_exact_ou_type;
const fpk_sde_stepper_type *fpk_sde_baoab = &fpk_sde_baoab_type;
const fpk_sde_stepper_type *fpk_sde_obabo = &fpk_sde_obabo_type;

const fpk_sde_stepper_type *const fpk_sde_steppers[] = {
    &fpk_sde_em_type, &fpk_sde_milstein_type, &fpk_sde_sra1_type, &fpk_sde_tamed_euler_type,
    &fpk_sde_exact_ou_type, &fpk_sde_baoab_type, &fpk_sde_obabo_type, NULL};

const fpk_sde_stepper_type *fpk_sde_stepper_lookup(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; fpk_sde_steppers[i]; i++)
    if (strcmp(fpk_sde_steppers[i]->name, name) == 0) return fpk_sde_steppers[i];
  if (strcmp(name, "em") == 0) return fpk_sde_euler_maruyama;
  return NULL;
}

int fpk_sde_stepper_check(const fpk_sde_stepper_type *st, const fpk_model *m, fpk_error *err) {
  if (!st || !m)
    return fpk_error_set(err, FPK_EINVAL, "stepper check: %s is NULL", !st ? "stepper" : "model");
  if (!st->step || st->normals_per_dim < 1 || st->normals_per_dim > 2)
    return fpk_error_set(err, FPK_EINVAL, "stepper %s is incomplete", st->name ? st->name : "?");
  if (!st->check) return FPK_SUCCESS;
  int rc = st->check(m, err);
  if (rc)
    fpk_error_prefix(err, "stepper %s cannot integrate model %s: ", st->name,
                     m->name ? m->name : "?");
  return rc;
}

size_t fpk_sde_normals_per_step(const fpk_sde_stepper_type *st, const fpk_model *m) {
  if (!st || !m) return 0;
  return st->normals_per_step ? st->normals_per_step(m)
                              : st->normals_per_dim * fpk_model_noise_dim(m);
}

size_t fpk_sde_work_size(const fpk_sde_stepper_type *st, const fpk_model *m, size_t n) {
  if (!st || !m) return 0;
  const size_t d = m->dim, per = st->work_per_point ? st->work_per_point : 1;
  return st->work_fixed + per * d * n + (fpk_model_noise_is_diagonal(m) ? 0 : d * m->noise_dim * n);
}
