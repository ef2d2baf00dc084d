/* The version of the library itself (fpkit/version.h): compiled into the library from the same
 * generated header, so a program comparing fpk_version() with FPK_VERSION_STRING learns whether
 * the shared library it runs with is the one it was compiled against. */
#include "fpkit/version.h"

const char *fpk_version(void) { return FPK_VERSION_STRING; }

int fpk_version_number(void) { return FPK_VERSION_NUMBER; }
