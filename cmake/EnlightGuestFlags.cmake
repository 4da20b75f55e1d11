# The exact freestanding flags of a guest program's objects and link
# (docs/guests.md): shared by the project's own guests (core/guests) and
# the installed SDK's enlight_add_guest_program (cmake/enlightGuest.cmake),
# so a vendor's guest is built as enlight's are. Include paths and the
# linker script are the caller's: they differ between the source tree and
# an installed prefix.
set(ENLIGHT_GUEST_CFLAGS
  -std=c11 -O2 -Wall -Wextra
  -ffreestanding -fno-pic -fno-pie -mno-red-zone -mcmodel=small
  -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables
  -fno-strict-aliasing -fcf-protection=none)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  # Keeps GCC from turning memset's own loop into a call to memset.
  list(APPEND ENLIGHT_GUEST_CFLAGS -fno-tree-loop-distribute-patterns)
endif()
set(ENLIGHT_GUEST_LDFLAGS -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack
    -Wl,-z,max-page-size=4096)
include(CheckLinkerFlag)
check_linker_flag(C "-Wl,--no-warn-rwx-segments" ENLIGHT_GUEST_LD_NO_RWX_WARNING)
if(ENLIGHT_GUEST_LD_NO_RWX_WARNING)
  # One RWX load segment is what a flat image is; binutils >= 2.39 warns.
  list(APPEND ENLIGHT_GUEST_LDFLAGS -Wl,--no-warn-rwx-segments)
endif()
