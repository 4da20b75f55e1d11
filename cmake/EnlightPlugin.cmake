# enlight_add_plugin(<name> SOURCES <files...> [MANIFEST <path>] [FIXTURE])
#
# Builds one plugin from the same sources either as <name>.so (the default,
# loaded with Boost.DLL) or, with ENLIGHT_STATIC_PLUGINS, as objects linked
# into the enlight binary with its manifest embedded. The .so and a copy of
# the manifest land side by side in ${ENLIGHT_PLUGIN_BUILD_DIR}, which is on
# the default plugin search path of the build tree.
#
# FIXTURE: a test fixture; always a .so, written to <build>/tests/fixtures,
# never installed or linked statically, and given no manifest header (some
# differ from their manifest on purpose: ENLIGHT_PLUGIN_EXPLICIT).
#
# Every other plugin gets enlight/this_plugin.hpp, generated from its
# manifest by enlight-manifest-header before it compiles: the manifest is the
# one source of its name, version, claims, CPUID bits and options.
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
    if(ENLIGHT_YAML)
      # The manifest's text, parsed at start-up like a file would be.
      enlight_embed_text(${gen}.text enlight_manifest_text_${ident} ${P_MANIFEST})
      file(CONFIGURE OUTPUT ${gen} CONTENT
"#include \"${gen}.text\"
extern \"C\" void enlight_static_manifest_register(const char* name, const char* text);
namespace { [[maybe_unused]] const int registered = (enlight_static_manifest_register(\"${name}\", enlight_manifest_text_${ident}), 0); }
" @ONLY)
    else()
      # YAML-free: the manifest parsed now, at build time, into C++ that
      # builds the same enlight::Manifest (tools/manifest-header).
      add_custom_command(OUTPUT ${gen}
        COMMAND enlight-manifest-header --manifest-cpp ${P_MANIFEST} ${gen}
        DEPENDS ${P_MANIFEST} enlight-manifest-header
        COMMENT "Compiling ${name}'s manifest to C++"
        VERBATIM)
    endif()
    add_library(${target} OBJECT ${P_SOURCES} ${gen})
    target_compile_definitions(${target} PRIVATE ENLIGHT_PLUGIN_STATIC=1)
    if(NOT ENLIGHT_YAML)
      # The generated manifest builder uses the core's Manifest type.
      target_link_libraries(${target} PRIVATE enlight-manifest-model)
    endif()
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
    enlight_plugin_manifest_header(${target} ${P_MANIFEST})
    set_property(GLOBAL APPEND PROPERTY ENLIGHT_PLUGIN_NAMES ${name})
  endif()
endfunction()

# Generates <target>'s enlight/this_plugin.hpp from <manifest> and puts it on
# the target's include path. Also for a test that compiles a plugin's
# sources into another target.
function(enlight_plugin_manifest_header target manifest)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/${target}-manifest)
  set(out ${dir}/enlight/this_plugin.hpp)
  file(MAKE_DIRECTORY ${dir}/enlight)
  add_custom_command(OUTPUT ${out}
    COMMAND $<TARGET_FILE:enlight-manifest-header> ${manifest} ${out}
    DEPENDS ${manifest} enlight-manifest-header
    COMMENT "Generating ${target}'s manifest header from ${manifest}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
  target_include_directories(${target} PRIVATE ${dir})
endfunction()

# Links every statically built plugin's objects into <target>. Called
# deferred, once all plugins are declared.
function(enlight_link_static_plugins target)
  get_property(targets GLOBAL PROPERTY ENLIGHT_STATIC_PLUGIN_TARGETS)
  foreach(t ${targets})
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${t}>)
  endforeach()
endfunction()
