# enlight_add_plugin(<name> SOURCES <files...> [MANIFEST <path>] [FIXTURE])
#
# Builds one plugin from the same sources either as <name>.so (the default,
# loaded with Boost.DLL) or, with ENLIGHT_STATIC_PLUGINS, as objects linked
# into the enlight binary with its manifest embedded. The .so and a copy of
# the manifest land side by side in ${ENLIGHT_PLUGIN_BUILD_DIR}, which is on
# the default plugin search path of the build tree.
#
# FIXTURE: a test fixture; always a .so, written to <build>/tests/fixtures,
# never installed or linked statically.
set_property(GLOBAL PROPERTY ENLIGHT_STATIC_PLUGIN_TARGETS "")
set_property(GLOBAL PROPERTY ENLIGHT_PLUGIN_NAMES "")

function(enlight_add_plugin name)
  cmake_parse_arguments(P "FIXTURE" "MANIFEST;OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT P_MANIFEST)
    set(P_MANIFEST ${PROJECT_SOURCE_DIR}/manifests/${name}.yaml)
  endif()
  set(target enlight-plugin-${name})
  if(P_FIXTURE)
    set(outdir ${CMAKE_BINARY_DIR}/tests/fixtures)
    if(P_OUTPUT_DIR)
      set(outdir ${P_OUTPUT_DIR})
    endif()
  else()
    set(outdir ${ENLIGHT_PLUGIN_BUILD_DIR})
  endif()

  if(ENLIGHT_STATIC_PLUGINS AND NOT P_FIXTURE)
    string(MAKE_C_IDENTIFIER ${name} ident)
    set(gen ${CMAKE_CURRENT_BINARY_DIR}/${name}_manifest.cpp)
    enlight_embed_text(${gen}.text enlight_manifest_text_${ident} ${P_MANIFEST})
    file(CONFIGURE OUTPUT ${gen} CONTENT
"#include \"${gen}.text\"
extern \"C\" void enlight_static_manifest_register(const char* name, const char* text);
namespace { [[maybe_unused]] const int registered = (enlight_static_manifest_register(\"${name}\", enlight_manifest_text_${ident}), 0); }
" @ONLY)
    add_library(${target} OBJECT ${P_SOURCES} ${gen})
    target_compile_definitions(${target} PRIVATE ENLIGHT_PLUGIN_STATIC=1)
    set_property(GLOBAL APPEND PROPERTY ENLIGHT_STATIC_PLUGIN_TARGETS ${target})
  else()
    add_library(${target} MODULE ${P_SOURCES})
    set_target_properties(${target} PROPERTIES
      PREFIX "" OUTPUT_NAME ${name}
      LIBRARY_OUTPUT_DIRECTORY ${outdir})
    file(MAKE_DIRECTORY ${outdir})
    configure_file(${P_MANIFEST} ${outdir}/${name}.yaml COPYONLY)
    if(NOT P_FIXTURE)
      install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/enlight/plugins)
      install(FILES ${P_MANIFEST} DESTINATION ${CMAKE_INSTALL_LIBDIR}/enlight/plugins RENAME ${name}.yaml)
      # The manifest and the binary's claims are two forms of one fact: a
      # difference fails the build here, not the first VM (docs/sdk.md).
      # Fixtures are exempt: some differ on purpose (tests/fixtures/misfit).
      # Rerun when either form changes: the binary or the manifest.
      set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${name}.claims-checked)
      add_custom_command(OUTPUT ${stamp}
        COMMAND $<TARGET_FILE:enlight-plugin-check> ${outdir}/${name}.yaml
        COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
        DEPENDS $<TARGET_FILE:${target}> ${P_MANIFEST} enlight-plugin-check
        COMMENT "Checking ${name}.so against its manifest"
        VERBATIM)
      add_custom_target(${target}-check ALL DEPENDS ${stamp})
    endif()
  endif()
  target_link_libraries(${target} PRIVATE enlight::sdk)
  if(NOT P_FIXTURE)
    set_property(GLOBAL APPEND PROPERTY ENLIGHT_PLUGIN_NAMES ${name})
  endif()
endfunction()

# Links every statically built plugin's objects into <target>. Called
# deferred, once all plugins are declared.
function(enlight_link_static_plugins target)
  get_property(targets GLOBAL PROPERTY ENLIGHT_STATIC_PLUGIN_TARGETS)
  foreach(t ${targets})
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${t}>)
  endforeach()
endfunction()
