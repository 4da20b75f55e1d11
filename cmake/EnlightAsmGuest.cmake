# enlight_asm_guests(<target> <source-dir> <out-dir> [DEPENDS files...])
# Assembles every <source-dir>/*.S into a flat image <out-dir>/<name>.bin
# linked at the guest load address (0x100000, protocol.h), so absolute
# addresses in the guest are real GPAs; binutils' as/ld/objcopy are on every
# machine with g++. Creates <target> building them all. Used by the emu
# backend's tests and the benchmarks' tiny guests.
function(enlight_asm_guests target src_dir out_dir)
  cmake_parse_arguments(G "" "" "DEPENDS" ${ARGN})
  set(bins "")
  file(GLOB sources CONFIGURE_DEPENDS ${src_dir}/*.S)
  foreach(src ${sources})
    get_filename_component(gname ${src} NAME_WE)
    set(bin ${out_dir}/${gname}.bin)
    add_custom_command(OUTPUT ${bin}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND as --64 -I ${src_dir} -o ${out_dir}/${gname}.o ${src}
      COMMAND ld -m elf_x86_64 -static -nostdlib -Ttext=0x100000 -e 0x100000 -o ${out_dir}/${gname}.elf ${out_dir}/${gname}.o
      COMMAND objcopy -O binary -j .text ${out_dir}/${gname}.elf ${bin}
      DEPENDS ${src} ${G_DEPENDS}
      COMMENT "Assembling guest ${gname}"
      VERBATIM)
    list(APPEND bins ${bin})
  endforeach()
  add_custom_target(${target} DEPENDS ${bins})
endfunction()
