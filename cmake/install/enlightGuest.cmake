# enlight_add_guest_program(<name> SOURCES <files.c/.S...> [OUTPUT_DIR <dir>])
#
# A guest program built with the installed guest library, as enlight builds
# its own (the same freestanding flags, linked at 1 MiB by guest.ld, made a
# flat image by objcopy): ${OUTPUT_DIR}/<name>.bin (default
# ${CMAKE_BINARY_DIR}/guests), for `enlight run --guest <path>`. Target
# enlight-guest-<name>. Needs an x86-64 GCC or Clang as the C compiler.
include(${CMAKE_CURRENT_LIST_DIR}/EnlightGuestFlags.cmake)

function(enlight_add_guest_program name)
  cmake_parse_arguments(G "" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT CMAKE_C_COMPILER OR NOT CMAKE_OBJCOPY)
    message(FATAL_ERROR "enlight_add_guest_program(${name}): needs the C language enabled and objcopy\n"
                        "  fix: project(... LANGUAGES C CXX)")
  endif()
  set(outdir ${CMAKE_BINARY_DIR}/guests)
  if(G_OUTPUT_DIR)
    set(outdir ${G_OUTPUT_DIR})
  endif()
  set(objdir ${CMAKE_CURRENT_BINARY_DIR}/enlight-guest-${name})
  file(MAKE_DIRECTORY ${outdir} ${objdir})
  set(objs "")
  foreach(src ${G_SOURCES})
    get_filename_component(abs ${src} ABSOLUTE)
    get_filename_component(base ${src} NAME)
    set(obj ${objdir}/${base}.o)
    set(flags ${ENLIGHT_GUEST_CFLAGS} -I${ENLIGHT_GUEST_INCLUDE_DIR})
    # No compiler-made XMM use: the library's interrupt entry does not save it.
    if(NOT abs MATCHES "\\.S$")
      list(APPEND flags -mgeneral-regs-only)
    endif()
    add_custom_command(OUTPUT ${obj}
      COMMAND ${CMAKE_C_COMPILER} ${flags} -MD -MF ${obj}.d -c ${abs} -o ${obj}
      DEPENDS ${abs} DEPFILE ${obj}.d
      COMMENT "Guest CC ${base}" VERBATIM)
    list(APPEND objs ${obj})
  endforeach()
  set(elf ${objdir}/${name}.elf)
  set(bin ${outdir}/${name}.bin)
  add_custom_command(OUTPUT ${elf}
    COMMAND ${CMAKE_C_COMPILER} ${ENLIGHT_GUEST_LDFLAGS} -Wl,-T,${ENLIGHT_GUEST_DIR}/guest.ld -o ${elf}
            -Wl,--whole-archive ${ENLIGHT_GUEST_DIR}/libenlight-guest.a -Wl,--no-whole-archive ${objs}
    DEPENDS ${objs} ${ENLIGHT_GUEST_DIR}/libenlight-guest.a ${ENLIGHT_GUEST_DIR}/guest.ld
    COMMENT "Guest LD ${name}.elf" VERBATIM)
  add_custom_command(OUTPUT ${bin}
    COMMAND ${CMAKE_OBJCOPY} -O binary ${elf} ${bin}
    DEPENDS ${elf}
    COMMENT "Guest image ${name}.bin" VERBATIM)
  add_custom_target(enlight-guest-${name} ALL DEPENDS ${bin})
endfunction()
