# enlight_add_plugin(<name> SOURCES <files...> [MANIFEST <file>] [OUTPUT_DIR <dir>])
#
# A plugin built against the installed SDK: <name>.so with its manifest
# (default: <name>.yaml beside the CMakeLists.txt) copied next to it in
# OUTPUT_DIR (default: ${CMAKE_BINARY_DIR}/plugins), which is what
# `enlight --plugin-path DIR` and the harness's search path take. The
# manifest's `name:` must be <name> (the loader checks the binary against
# it). `cmake --install` of the vendor's project puts both in
# ${CMAKE_INSTALL_LIBDIR}/enlight/plugins of its own prefix; add that
# directory to ENLIGHT_PLUGIN_PATH or --plugin-path.
function(enlight_add_plugin name)
  cmake_parse_arguments(P "" "MANIFEST;OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "enlight_add_plugin(${name}): no SOURCES")
  endif()
  if(NOT P_MANIFEST)
    set(P_MANIFEST ${CMAKE_CURRENT_SOURCE_DIR}/${name}.yaml)
  endif()
  if(NOT EXISTS ${P_MANIFEST})
    message(FATAL_ERROR "enlight_add_plugin(${name}): no manifest at ${P_MANIFEST}\n"
                        "  fix: write ${name}.yaml (docs/manifest-format.md) or pass MANIFEST <file>")
  endif()
  set(outdir ${CMAKE_BINARY_DIR}/plugins)
  if(P_OUTPUT_DIR)
    set(outdir ${P_OUTPUT_DIR})
  endif()
  set(target enlight-plugin-${name})
  add_library(${target} MODULE ${P_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${outdir}
    # Only the entry point is exported (ENLIGHT_PLUGIN marks it visible).
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE enlight::sdk)
  # The manifest is the one source of the plugin's name, version, claims,
  # CPUID bits and options: enlight/this_plugin.hpp is generated from it
  # before the plugin compiles, and ENLIGHT_PLUGIN checks the handler tables
  # against it (a difference does not compile).
  set(header_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}-manifest)
  file(MAKE_DIRECTORY ${header_dir}/enlight)
  add_custom_command(OUTPUT ${header_dir}/enlight/this_plugin.hpp
    COMMAND ${ENLIGHT_MANIFEST_HEADER} ${P_MANIFEST} ${header_dir}/enlight/this_plugin.hpp
    DEPENDS ${P_MANIFEST}
    COMMENT "Generating ${name}'s manifest header"
    VERBATIM)
  target_sources(${target} PRIVATE ${header_dir}/enlight/this_plugin.hpp)
  target_include_directories(${target} PRIVATE ${header_dir})
  file(MAKE_DIRECTORY ${outdir})
  configure_file(${P_MANIFEST} ${outdir}/${name}.yaml COPYONLY)
  # And after linking, the installed checker loads the binary as enlight
  # would and compares it with the manifest once more (name, version, ABI,
  # every claim): what the compiler cannot see, such as a hand-written
  # descriptor, fails here.
  # Rerun when either form changes: the binary or the manifest.
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${name}.claims-checked)
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${ENLIGHT_PLUGIN_CHECK} ${outdir}/${name}.yaml
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS $<TARGET_FILE:${target}> ${P_MANIFEST}
    COMMENT "Checking ${name}.so against its manifest"
    VERBATIM)
  add_custom_target(${target}-check ALL DEPENDS ${stamp})
  include(GNUInstallDirs)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/enlight/plugins)
  install(FILES ${P_MANIFEST} DESTINATION ${CMAKE_INSTALL_LIBDIR}/enlight/plugins RENAME ${name}.yaml)
endfunction()
