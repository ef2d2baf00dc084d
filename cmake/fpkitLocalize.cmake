# Rewrites libfpkit.a (the installed static library) as one relocatable object in which every
# global symbol but the fpk_ API is local (docs/install.md "Exported symbols"): the static
# library then binds a program to the same symbols libfpkit.so exports, and the library's
# internal helpers (ot_*, OpenMP's named critical sections) can neither collide with a program's
# own names nor be called by it. Run after the archive is made (CMakeLists.txt, POST_BUILD):
#   cmake -DARCHIVE=libfpkit.a -DLD=ld -DOBJCOPY=objcopy -DAR=ar -P fpkitLocalize.cmake
# The build tree's own programs link fpkit_lib (libfpkit_internal.a), which keeps the internals
# visible for the tests.
foreach(var ARCHIVE LD OBJCOPY AR)
  if(NOT ${var})
    message(FATAL_ERROR "fpkitLocalize.cmake: -D${var}= is required")
  endif()
endforeach()
get_filename_component(dir ${ARCHIVE} DIRECTORY)
set(object ${dir}/fpkit_localized.o)
# One object from all the archive's members (-r: relocatable, keeps the undefined references
# to GSL, HDF5, ... for the final link; -d: common symbols, the mutexes of named OpenMP critical
# sections, get their space here, as defined symbols that can be made local).
execute_process(COMMAND ${LD} -r -d -o ${object} --whole-archive ${ARCHIVE} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "fpkitLocalize.cmake: ${LD} -r failed (${rc})")
endif()
# Every defined global symbol local except fpk_* (-w: patterns; "!" excepts).
execute_process(COMMAND ${OBJCOPY} -w "--localize-symbol=!fpk_*" "--localize-symbol=*" ${object}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "fpkitLocalize.cmake: ${OBJCOPY} failed (${rc})")
endif()
file(REMOVE ${ARCHIVE})
execute_process(COMMAND ${AR} rcs ${ARCHIVE} ${object} RESULT_VARIABLE rc)
file(REMOVE ${object})
if(rc)
  message(FATAL_ERROR "fpkitLocalize.cmake: ${AR} failed (${rc})")
endif()
