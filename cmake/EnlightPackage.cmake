# Debian packages through CPack (docs/packaging.md):
#   enlight      bin/enlight and the plugins (.so + .yaml): what a user runs
#   enlight-dev  the SDK: headers, the CMake config, the static libraries,
#                the pkg-config file, the guest library, enlight-manifest-header
#                and enlight-plugin-check
# Build them with `cpack -G DEB` in the build directory (or
# `cmake --build <build> --target package`); they install under /usr.
#
# The split is by installed path, not by install() component: most install()
# rules are in files that name no component (tools/, sdk/, core/guests,
# cmake/EnlightPlugin.cmake), so every component is staged into one of two
# CPack component groups (`runtime` -> enlight, `sdk` -> enlight-dev), and
# this same file, run by cpack as a CPACK_PRE_BUILD_SCRIPTS script, moves each
# staged file to the group its path belongs to. A path that matches neither
# list below stops the packaging, so a new install() rule is classified on
# purpose, never by accident.
#
# This file has two modes: included by the top CMakeLists.txt (configure
# time), and run by cpack before it builds the packages (the split).

if(CPACK_TEMPORARY_DIRECTORY AND NOT PROJECT_SOURCE_DIR)
  # ---- cpack mode: the staged tree, per group, under CPACK_TEMPORARY_DIRECTORY.
  set(prefix "${CPACK_PACKAGING_INSTALL_PREFIX}")
  set(bindir "${CPACK_ENLIGHT_BINDIR}")
  set(libdir "${CPACK_ENLIGHT_LIBDIR}")
  set(incdir "${CPACK_ENLIGHT_INCLUDEDIR}")
  foreach(d BINDIR LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CPACK_ENLIGHT_${d}}")
      message(FATAL_ERROR "enlight packaging: CMAKE_INSTALL_${d} is absolute (${CPACK_ENLIGHT_${d}}); "
                          "a package installs under ${prefix}, so it must be relative to the prefix")
    endif()
  endforeach()
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" bin_re "${bindir}")
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" lib_re "${libdir}")
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" inc_re "${incdir}")
  # Paths relative to the install prefix. Runtime: what `enlight` runs with.
  set(runtime_patterns
    "^${bin_re}/enlight$"
    "^${lib_re}/enlight/plugins/[^/]+$")
  # SDK: what a vendor's build uses through find_package(enlight) or pkg-config.
  set(sdk_patterns
    "^${inc_re}/"
    "^${lib_re}/cmake/enlight/"
    "^${lib_re}/pkgconfig/enlight-sdk\\.pc$"
    "^${lib_re}/enlight/[^/]+\\.a$"
    "^${lib_re}/enlight/guest/"
    "^${bin_re}/enlight-manifest-header$"
    "^${bin_re}/enlight-plugin-check$")

  set(root "${CPACK_TEMPORARY_DIRECTORY}")
  set(groups runtime sdk)
  foreach(g ${groups})
    file(MAKE_DIRECTORY "${root}/${g}${prefix}")
  endforeach()
  set(unclassified "")
  foreach(from ${groups})
    file(GLOB_RECURSE staged LIST_DIRECTORIES false RELATIVE "${root}/${from}${prefix}" "${root}/${from}${prefix}/*")
    foreach(f ${staged})
      set(to "")
      foreach(g ${groups})
        foreach(re ${${g}_patterns})
          if(f MATCHES "${re}")
            set(to ${g})
          endif()
        endforeach()
      endforeach()
      if(NOT to)
        list(APPEND unclassified "${f}")
      elseif(NOT to STREQUAL from)
        get_filename_component(dir "${root}/${to}${prefix}/${f}" DIRECTORY)
        file(MAKE_DIRECTORY "${dir}")
        file(RENAME "${root}/${from}${prefix}/${f}" "${root}/${to}${prefix}/${f}")
      endif()
    endforeach()
  endforeach()
  if(unclassified)
    list(JOIN unclassified "\n    " unclassified)
    message(FATAL_ERROR "enlight packaging: installed files in neither package:\n    ${unclassified}\n"
                        "  fix: add their path to runtime_patterns or sdk_patterns in cmake/EnlightPackage.cmake")
  endif()
  # Directories the moves left empty would be packaged as empty directories.
  foreach(g ${groups})
    file(GLOB_RECURSE dirs LIST_DIRECTORIES true "${root}/${g}/*")
    list(SORT dirs ORDER DESCENDING)  # children before their parents
    foreach(d ${dirs})
      if(IS_DIRECTORY "${d}")
        file(GLOB children "${d}/*")
        if(NOT children)
          file(REMOVE_RECURSE "${d}")
        endif()
      endif()
    endforeach()
  endforeach()

  set(rt "${root}/runtime${prefix}")
  set(sdk "${root}/sdk${prefix}")
  # The installed enlight finds its plugins at bin/<ENLIGHT_RELATIVE_PLUGIN_DIR>
  # (compiled in from the GNUInstallDirs paths): that must be where they are.
  if(NOT EXISTS "${rt}/${bindir}/enlight")
    message(FATAL_ERROR "enlight packaging: no ${prefix}/${bindir}/enlight staged")
  endif()
  if(NOT CPACK_ENLIGHT_STATIC_PLUGINS)
    file(GLOB plugins "${rt}/${bindir}/${CPACK_ENLIGHT_PLUGIN_RELATIVE_DIR}/*.so")
    if(NOT plugins)
      message(FATAL_ERROR "enlight packaging: enlight looks for its plugins in "
                          "${prefix}/${bindir}/${CPACK_ENLIGHT_PLUGIN_RELATIVE_DIR}, and no plugin is staged there")
    endif()
  endif()
  # Nothing of the build machine's trees in the SDK's text files.
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" src_re "${CPACK_ENLIGHT_SOURCE_DIR}")
  string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" build_re "${CPACK_ENLIGHT_BINARY_DIR}")
  file(GLOB_RECURSE texts "${sdk}/${libdir}/cmake/*" "${sdk}/${libdir}/pkgconfig/*" "${sdk}/${incdir}/*")
  foreach(t ${texts})
    file(STRINGS "${t}" hits REGEX "${src_re}/|${build_re}/")
    if(hits)
      message(FATAL_ERROR "enlight packaging: ${t} names the build machine's source or build tree:\n${hits}")
    endif()
  endforeach()
  # Static libraries keep their symbols but not their debug information
  # (as dh_strip does); CPACK_STRIP_FILES strips only executables and plugins.
  if(CPACK_STRIP_FILES AND CPACK_ENLIGHT_STRIP)
    file(GLOB_RECURSE archives "${sdk}/*.a")
    foreach(a ${archives})
      execute_process(COMMAND "${CPACK_ENLIGHT_STRIP}" --strip-debug "${a}" RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "enlight packaging: strip --strip-debug ${a} failed")
      endif()
    endforeach()
  endif()
  return()
endif()

# ---- configure mode ----
include_guard(GLOBAL)

set(ENLIGHT_PACKAGE_MAINTAINER "enlight <dev@enlight.invalid>" CACHE STRING
    "Maintainer field of the Debian packages (default: the project's commit identity)")

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR TXZ)
# (CPack writes these regexes into CPackSourceConfig.cmake unescaped: no backslashes.)
set(CPACK_SOURCE_IGNORE_FILES "/[.]git/" "/build[^/]*/")
set(CPACK_PACKAGE_NAME enlight)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${ENLIGHT_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Runtime Depends from the binaries' ELF NEEDED entries (dpkg-shlibdeps,
# from dpkg-dev; CPackDeb also needs `file`).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_FILE})

# What the split (cpack mode above) needs from this configuration.
set(CPACK_ENLIGHT_BINDIR ${CMAKE_INSTALL_BINDIR})
set(CPACK_ENLIGHT_LIBDIR ${CMAKE_INSTALL_LIBDIR})
set(CPACK_ENLIGHT_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
set(CPACK_ENLIGHT_PLUGIN_RELATIVE_DIR ${ENLIGHT_PLUGIN_RELATIVE_DIR})
set(CPACK_ENLIGHT_STATIC_PLUGINS ${ENLIGHT_STATIC_PLUGINS})
set(CPACK_ENLIGHT_SOURCE_DIR ${PROJECT_SOURCE_DIR})
set(CPACK_ENLIGHT_BINARY_DIR ${PROJECT_BINARY_DIR})
set(CPACK_ENLIGHT_STRIP ${CMAKE_STRIP})
foreach(d BINDIR LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    message(WARNING "CMAKE_INSTALL_${d} is absolute (${CMAKE_INSTALL_${d}}): the Debian packages "
                    "(cpack -G DEB) need it relative to the prefix")
  endif()
endforeach()

# enlight: the program and its plugins.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME enlight)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION otherosfs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "enlight-dev, gnuplot-nox")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"Hyper-V enlightenments for KVM virtual machines, as plugins
enlight is a small VMM core whose Microsoft Hyper-V enlightenments (the
behaviour of QEMU+KVM's hv-* features) are plugins: shared libraries that
claim CPUID leaves, MSRs, hypercalls and I/O ports on a dispatch bus, each
described by a YAML manifest.

This package holds the enlight program (run, check, cpuid, plugins, guests,
ab, new-plugin) and its plugins. It runs guests on KVM when /dev/kvm is
usable and on a software CPU (Unicorn) otherwise.")

# enlight-dev: the SDK. Depends: the exact enlight, and the -dev packages
# find_package(enlight) needs (cmake/install/enlightConfig.cmake.in: Threads,
# Boost >= 1.74, yaml-cpp, prometheus-cpp when metrics are on, unicorn
# through pkg-config), at least the versions this build used. GTest is the
# vendor's choice; `enlight new-plugin`'s template uses it, so Recommends.
set(enlight_dev_depends "enlight (= ${CPACK_DEBIAN_PACKAGE_VERSION})" "libc6-dev | libc-dev")
if(Boost_VERSION_STRING)
  list(APPEND enlight_dev_depends "libboost-dev (>= ${Boost_VERSION_MAJOR}.${Boost_VERSION_MINOR})")
else()
  list(APPEND enlight_dev_depends "libboost-dev (>= 1.74)")
endif()
if(yaml-cpp_VERSION)
  list(APPEND enlight_dev_depends "libyaml-cpp-dev (>= ${yaml-cpp_VERSION})")
else()
  list(APPEND enlight_dev_depends "libyaml-cpp-dev")
endif()
if(ENLIGHT_METRICS)
  if(prometheus-cpp_VERSION)
    list(APPEND enlight_dev_depends "prometheus-cpp-dev (>= ${prometheus-cpp_VERSION})")
  else()
    list(APPEND enlight_dev_depends "prometheus-cpp-dev")
  endif()
endif()
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --modversion unicorn
                  OUTPUT_VARIABLE enlight_unicorn_version OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(enlight_unicorn_version)
  list(APPEND enlight_dev_depends "libunicorn-dev (>= ${enlight_unicorn_version})")
else()
  list(APPEND enlight_dev_depends "libunicorn-dev")
endif()
list(APPEND enlight_dev_depends pkg-config)
list(JOIN enlight_dev_depends ", " CPACK_DEBIAN_SDK_PACKAGE_DEPENDS)
set(CPACK_DEBIAN_SDK_PACKAGE_NAME enlight-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_RECOMMENDS "cmake (>= 3.25), g++, libgtest-dev")
set(CPACK_DEBIAN_SDK_PACKAGE_SUGGESTS "ninja-build")
set(CPACK_DEBIAN_SDK_DESCRIPTION
"SDK for enlight plugins (Hyper-V enlightenments for KVM)
The headers, CMake package and pkg-config file to build enlight plugins out
of tree: find_package(enlight) gives enlight::sdk, enlight_add_plugin(), the
core with its direct backend (static libraries) as a unit-test harness, and
enlight_add_guest_program() with the guest library. Also the build-time
tools enlight-manifest-header and enlight-plugin-check.")

# After every directory is configured: every install component goes to one
# of the two groups (the split above then moves files by path), and CPack
# writes CPackConfig.cmake.
function(enlight_package_finish)
  get_cmake_property(components COMPONENTS)
  if(NOT "dev" IN_LIST components)
    message(FATAL_ERROR "enlight packaging: no install rule has COMPONENT dev (cmake/EnlightInstall.cmake); "
                        "without one CPack makes no enlight-dev package")
  endif()
  foreach(c ${components})
    string(TOUPPER "${c}" up)
    if(c STREQUAL "dev")
      set(CPACK_COMPONENT_${up}_GROUP sdk)
    else()
      set(CPACK_COMPONENT_${up}_GROUP runtime)
    endif()
  endforeach()
  set(CPACK_COMPONENTS_ALL ${components})
  include(CPack)
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL enlight_package_finish)
