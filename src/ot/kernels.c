/* Registry of the grid kernel back-ends (fpkit/ot.h), in fallback order: a back-end that cannot
 * represent ε hands over to the next one, and lse represents every ε. band (issue 15) comes last:
 * a solve that names it falls back to lse, and the named fft and blas fall back as before. */
#include <string.h>

#include "ot/ot_internal.h"

const fpk_ot_kernel_type *const fpk_ot_kernel_types[] = {
    &ot_kernel_fft.pub, &ot_kernel_blas.pub, &ot_kernel_lse.pub, &ot_kernel_band.pub, NULL};

const fpk_ot_kernel_type *fpk_ot_kernel_find(const char *name) {
  for (size_t i = 0; name && fpk_ot_kernel_types[i]; i++)
    if (!strcmp(name, fpk_ot_kernel_types[i]->name)) return fpk_ot_kernel_types[i];
  return NULL;
}
