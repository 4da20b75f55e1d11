# Sanitizer builds (docs/sanitizers.md): ENLIGHT_SANITIZE=address,undefined
# or ENLIGHT_SANITIZE=thread compiles and links everything the project
# builds with the compiler (core, plugins, fixtures, tools, tests) with those
# -fsanitize= flags. The guest programs (freestanding, built by custom
# commands) and the clang fuzz targets (their own ASan+UBSan) are not
# touched. Empty (the default) changes nothing.
#
# tools/sanitize.sh asan|tsan configures build-asan/ or build-tsan/ with this
# option, builds the chosen tests and runs them; CI runs both.
set(ENLIGHT_SANITIZE "" CACHE STRING
    "Sanitizers for the whole build: empty (none), address,undefined (or either alone), or thread")
if(ENLIGHT_SANITIZE STREQUAL "")
  return()
endif()

string(REPLACE "," ";" enlight_sanitizers "${ENLIGHT_SANITIZE}")
foreach(s ${enlight_sanitizers})
  if(NOT s MATCHES "^(address|undefined|thread)$")
    message(FATAL_ERROR "ENLIGHT_SANITIZE names '${s}'\n  fix: use address,undefined or thread")
  endif()
endforeach()
if("thread" IN_LIST enlight_sanitizers AND "address" IN_LIST enlight_sanitizers)
  message(FATAL_ERROR "ENLIGHT_SANITIZE: thread and address cannot be combined\n"
                      "  fix: two build directories, one with address,undefined and one with thread")
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "ENLIGHT_SANITIZE needs g++ or clang++ (found ${CMAKE_CXX_COMPILER_ID})")
endif()
if(ENLIGHT_STATIC_PLUGINS)
  # Not a limitation of the sanitizers; only the shape CI checks (plugins as
  # .so files loaded through the real loader) has been run this way.
  message(WARNING "ENLIGHT_SANITIZE with ENLIGHT_STATIC_PLUGINS=ON is untested")
endif()

string(REPLACE ";" "," enlight_sanitize_list "${enlight_sanitizers}")
# Frame pointers give whole stacks in every report at any -O level.
add_compile_options(-fsanitize=${enlight_sanitize_list} -fno-omit-frame-pointer)
add_link_options(-fsanitize=${enlight_sanitize_list})
if("undefined" IN_LIST enlight_sanitizers)
  # A UBSan finding aborts the process, so it fails its test instead of
  # printing a line nobody reads.
  add_compile_options(-fno-sanitize-recover=undefined)
  add_link_options(-fno-sanitize-recover=undefined)
endif()
if("address" IN_LIST enlight_sanitizers AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # With ASan's instrumentation at -O1 and above, GCC 12's
  # -Wmaybe-uninitialized reports paths inside libstdc++'s <regex> and
  # std::function that the instrumentation itself creates (host_services.cpp
  # gets a page of them); the normal build keeps the warning.
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
endif()
set(ENLIGHT_SANITIZE_ACTIVE ON)
