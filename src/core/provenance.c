/* Build and run-time provenance (fpkit/provenance.h, docs/reproducibility.md). */
#include "fpkit/provenance.h"

#include <dlfcn.h>
#include <fftw3.h>
#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Written by cmake/BuildInfo.cmake into the build tree (fpk_build_info.c), at every build. */
extern const char fpk_build_git_commit[], fpk_build_git_dirty[], fpk_build_compiler[],
    fpk_build_cflags[], fpk_build_type[], fpk_build_arch[], fpk_build_matheval[],
    fpk_build_inih[], fpk_build_system[];

#ifndef FPK_VERSION
#define FPK_VERSION "unknown"
#endif
#ifndef FPK_OPENBLAS_LIBRARY
#define FPK_OPENBLAS_LIBRARY "libopenblas.so.0"
#endif

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src)[0] ? (src) : "unknown")

/* The highest x86-64 micro-architecture level (psABI) whose defining features this CPU has: the
 * level a build with -march=x86-64-vN needs to run. */
static const char *cpu_level(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const int v2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt") &&
                 __builtin_cpu_supports("ssse3");
  /* clang 14 does not know "f16c" here; every CPU with AVX2, FMA and BMI2 has it */
  const int v3 = v2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                 __builtin_cpu_supports("bmi2");
  const int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl");
  return v4 ? "x86-64-v4" : v3 ? "x86-64-v3" : v2 ? "x86-64-v2" : "x86-64";
#else
  return "unknown";
#endif
}

/* OpenBLAS is loaded privately by src/ot/kernel_blas.c only when an OT solve uses the blas
 * kernel; RTLD_NOLOAD finds it only if that happened, and never loads it here. */
static void openblas_info(char *out, size_t len) {
  snprintf(out, len, "not loaded");
  void *lib = dlopen(FPK_OPENBLAS_LIBRARY, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
  if (!lib) return;
  typedef char *config_fn(void);
  config_fn *get_config = NULL;
  void *sym = dlsym(lib, "openblas_get_config");
  memcpy(&get_config, &sym, sizeof sym); /* ISO C has no void* to function pointer cast */
  snprintf(out, len, "%s", get_config ? get_config() : "loaded (no openblas_get_config)");
  dlclose(lib);
}

void fpk_provenance_collect(fpk_provenance *p) {
  memset(p, 0, sizeof *p);
  COPY(p->fpkit_version, FPK_VERSION);
  COPY(p->git_commit, fpk_build_git_commit);
  COPY(p->git_dirty, fpk_build_git_dirty);
  COPY(p->compiler, fpk_build_compiler);
  COPY(p->c_flags, fpk_build_cflags);
  COPY(p->build_type, fpk_build_type);
  COPY(p->arch, fpk_build_arch);
  COPY(p->cpu_supports, cpu_level());
  COPY(p->build_system, fpk_build_system);
  COPY(p->gsl_version, gsl_version);
  COPY(p->fftw_version, fftw_version);
  unsigned maj = 0, min = 0, rel = 0;
  if (H5get_libversion(&maj, &min, &rel) >= 0)
    snprintf(p->hdf5_version, sizeof p->hdf5_version, "%u.%u.%u", maj, min, rel);
  else
    COPY(p->hdf5_version, "");
  openblas_info(p->openblas, sizeof p->openblas);
  COPY(p->libmatheval, fpk_build_matheval);
  COPY(p->inih, fpk_build_inih);
  if (gethostname(p->host, sizeof p->host - 1)) COPY(p->host, "");
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(p->os, sizeof p->os, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
  else
    COPY(p->os, "");
  p->threads = omp_get_max_threads();
}

size_t fpk_provenance_fields(const fpk_provenance *p, fpk_provenance_field *out, size_t max) {
  const fpk_provenance_field all[FPK_PROVENANCE_NFIELDS] = {
      {"fpkit_version", p->fpkit_version}, {"git_commit", p->git_commit},
      {"git_dirty", p->git_dirty},         {"compiler", p->compiler},
      {"c_flags", p->c_flags},             {"build_type", p->build_type},
      {"arch", p->arch},                   {"cpu_supports", p->cpu_supports},
      {"build_system", p->build_system},   {"gsl_version", p->gsl_version},
      {"fftw_version", p->fftw_version},   {"hdf5_version", p->hdf5_version},
      {"openblas", p->openblas},           {"libmatheval", p->libmatheval},
      {"inih", p->inih},                   {"host", p->host},
      {"os", p->os}};
  for (size_t i = 0; i < max && i < FPK_PROVENANCE_NFIELDS; i++) out[i] = all[i];
  return FPK_PROVENANCE_NFIELDS;
}

/* Characters that never need quoting in a POSIX shell word. */
static int shell_safe(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%", *s))
      return 0;
  return 1;
}

char *fpk_shell_join(int argc, const char *const *argv) {
  size_t len = 1;
  for (int i = 0; i < argc; i++) len += 4 * strlen(argv[i]) + 3; /* each ' becomes '\'' */
  char *out = malloc(len), *w = out;
  if (!out) return NULL;
  *w = '\0';
  for (int i = 0; i < argc; i++) {
    if (i) *w++ = ' ';
    const char *a = argv[i];
    if (shell_safe(a)) {
      w += sprintf(w, "%s", a);
      continue;
    }
    *w++ = '\'';
    for (; *a; a++) {
      if (*a == '\'') {
        memcpy(w, "'\\''", 4);
        w += 4;
      } else {
        *w++ = *a;
      }
    }
    *w++ = '\'';
    *w = '\0';
  }
  return out;
}

void fpk_utc_now(char out[32]) {
  time_t now = time(NULL);
  struct tm tm;
  if (!gmtime_r(&now, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "unknown");
}
