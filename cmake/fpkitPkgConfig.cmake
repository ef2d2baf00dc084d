# Writes ${CMAKE_CURRENT_BINARY_DIR}/fpkit.pc (installed to <libdir>/pkgconfig; docs/install.md).
#
#   cc prog.c $(pkg-config --cflags --libs fpkit)            links libfpkit.so
#   pkg-config --libs --static fpkit                         adds what libfpkit.a needs
#
# prefix is computed from the file's own place (${pcfiledir}), so the file stays right under any
# `cmake --install --prefix`. Requires.private names the dependencies whose Debian pkg-config
# files link as they are (gsl, fftw3, inih). The others go into Libs.private as the very files
# the build linked: HDF5 (hdf5.pc names neither the high-level library nor, being an
# alternatives link, necessarily the HDF5 CMake found), libmatheval (its Libs.private asks for
# flex's -ll, which Debian does not ship), UMFPACK, libfftw3_omp and libgccjit (no .pc), OpenMP (the
# compiler's flag), libm and libdl. Libs has -lm as well: fpkit/sde.h has an inline function that
# calls exp() (as gsl.pc lists -lm).

# -L<dir> -l<name> for a library file; the -L only where the linker would not look anyway.
function(fpk_pc_link_flags out)
  set(flags "")
  foreach(lib ${ARGN})
    get_filename_component(dir ${lib} DIRECTORY)
    get_filename_component(name ${lib} NAME_WE)
    string(REGEX REPLACE "^lib" "" name ${name})
    list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES ${dir} implicit)
    if(implicit EQUAL -1 AND NOT "-L${dir}" IN_LIST flags)
      list(APPEND flags "-L${dir}")
    endif()
    list(APPEND flags "-l${name}")
  endforeach()
  list(JOIN flags " " flags)
  set(${out} ${flags} PARENT_SCOPE)
endfunction()

set(fpk_pc_private_libs ${UMFPACK_LIBRARY})
if(FFTW3_OMP_LIBRARY)
  list(APPEND fpk_pc_private_libs ${FFTW3_OMP_LIBRARY})
endif()
list(APPEND fpk_pc_private_libs ${HDF5_C_LIBRARY_hdf5_hl} ${HDF5_C_LIBRARY_hdf5})
find_library(FPK_MATHEVAL_LIBRARY matheval HINTS ${MATHEVAL_LIBRARY_DIRS} REQUIRED)
list(APPEND fpk_pc_private_libs ${FPK_MATHEVAL_LIBRARY})
if(FPK_JIT)
  list(APPEND fpk_pc_private_libs ${FPK_LIBGCCJIT_LIBRARY})   # no .pc; GCC's private directory
endif()
if(FPK_HAVE_FFTW_MPI)
  list(APPEND fpk_pc_private_libs ${FFTW3_MPI_LIBRARY})       # no .pc
endif()
if(FPK_HAVE_MPI)
  list(APPEND fpk_pc_private_libs ${MPI_C_LIBRARIES})         # the very MPI the build linked
endif()
fpk_pc_link_flags(FPK_PC_LIBS_PRIVATE ${fpk_pc_private_libs})
string(APPEND FPK_PC_LIBS_PRIVATE " ${OpenMP_C_FLAGS} -lm")
if(CMAKE_DL_LIBS)
  string(APPEND FPK_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
endif()

# ${pcfiledir}/<as many .. as libdir/pkgconfig has components>
file(RELATIVE_PATH FPK_PC_TO_PREFIX /fpk_prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /fpk_prefix)
string(REGEX REPLACE "/$" "" FPK_PC_TO_PREFIX "${FPK_PC_TO_PREFIX}")
set(FPK_PC_REQUIRES_PRIVATE "gsl fftw3 inih")
configure_file(${CMAKE_CURRENT_LIST_DIR}/fpkit.pc.in ${CMAKE_CURRENT_BINARY_DIR}/fpkit.pc @ONLY)
