# The installed SDK (docs/sdk.md): `cmake --install` puts, under the
# GNUInstallDirs paths of the prefix,
#   include/enlight/...            the plugin SDK, the core's and machine's headers
#   include/enlight_guest/...      the guest library's headers
#   lib/enlight/libenlight-*.a     the core (with the direct backend: the test harness)
#   lib/enlight/guest/             libenlight-guest.a and guest.ld
#   lib/enlight/plugins/           the plugins and their manifests
#   lib/cmake/enlight/             enlightConfig.cmake: enlight::sdk, enlight::core,
#                                  enlight_add_plugin(), enlight_add_guest_program()
#   lib/pkgconfig/enlight-sdk.pc   the plugin SDK for non-CMake builds
#   bin/enlight                    which finds lib/enlight/plugins from where it is
include(CMakePackageConfigHelpers)

set_target_properties(enlight-sdk PROPERTIES EXPORT_NAME sdk)
set_target_properties(enlight-core PROPERTIES EXPORT_NAME core OUTPUT_NAME enlight-core)
set_target_properties(enlight-machine PROPERTIES EXPORT_NAME machine)
set_target_properties(enlight-guest-images PROPERTIES EXPORT_NAME guest-images)
set_target_properties(enlight-manifest PROPERTIES EXPORT_NAME manifest)
set_target_properties(enlight-manifest-model PROPERTIES EXPORT_NAME manifest-model)
install(TARGETS enlight-sdk enlight-core enlight-manifest enlight-manifest-model enlight-machine enlight-guest-images
  EXPORT enlightTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/enlight COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/enlight/core DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/enlight COMPONENT dev)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/machine/include/enlight/machine
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/enlight COMPONENT dev)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/enlight)
install(EXPORT enlightTargets NAMESPACE enlight:: DESTINATION ${config_dir} COMPONENT dev)
# Paths the config turns into absolute ones from its own location, so the
# prefix can move.
set(ENLIGHT_INSTALL_PLUGIN_SUBDIR ${CMAKE_INSTALL_LIBDIR}/enlight/plugins)
set(ENLIGHT_INSTALL_GUEST_SUBDIR ${CMAKE_INSTALL_LIBDIR}/enlight/guest)
set(ENLIGHT_INSTALL_INCLUDE_SUBDIR ${CMAKE_INSTALL_INCLUDEDIR})
set(ENLIGHT_INSTALL_BIN_SUBDIR ${CMAKE_INSTALL_BINDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/install/enlightConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/enlightConfig.cmake
  INSTALL_DESTINATION ${config_dir}
  PATH_VARS ENLIGHT_INSTALL_PLUGIN_SUBDIR ENLIGHT_INSTALL_GUEST_SUBDIR ENLIGHT_INSTALL_INCLUDE_SUBDIR
            ENLIGHT_INSTALL_BIN_SUBDIR)
# The plugin ABI's major is the package's compatibility line: a 1.x SDK
# builds plugins every 1.y core loads (docs/abi-policy.md).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/enlightConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/enlightConfig.cmake ${CMAKE_BINARY_DIR}/cmake/enlightConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/install/enlightPlugin.cmake
              ${PROJECT_SOURCE_DIR}/cmake/install/enlightGuest.cmake
              ${PROJECT_SOURCE_DIR}/cmake/EnlightGuestFlags.cmake
        DESTINATION ${config_dir} COMPONENT dev)

file(RELATIVE_PATH ENLIGHT_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" ENLIGHT_PC_TO_PREFIX "${ENLIGHT_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/install/enlight-sdk.pc.in ${CMAKE_BINARY_DIR}/cmake/enlight-sdk.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/enlight-sdk.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
