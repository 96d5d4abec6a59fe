# install.cmake — what `cmake --install build --prefix P` puts under P, and the .deb
# that `cpack` makes of it (docs/install.md):
#   P/bin/minicope
#   P/include/minicope/FOLDER/*.h          every layer's headers but the command line's
#   P/lib/libminicope_FOLDER.a             every layer's library
#   P/lib/cmake/minicope/                  the CMake package (minicope::FOLDER targets)
#   P/lib/pkgconfig/minicope.pc            the same for pkg-config (all layers, one entry)
include(CMakePackageConfigHelpers)
set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/minicope)
install(EXPORT minicopeTargets NAMESPACE minicope:: DESTINATION ${cmake_dir})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/minicopeConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/minicopeConfig.cmake INSTALL_DESTINATION ${cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/minicopeConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/minicopeConfig.cmake ${CMAKE_BINARY_DIR}/minicopeConfigVersion.cmake
        DESTINATION ${cmake_dir})

# pkg-config: static libraries, so every layer is listed, the highest first (a linker
# reads a static library once, left to right).
set(MINICOPE_PC_LIBS "")
foreach(lib IN LISTS MINICOPE_INSTALLED_LIBRARIES)
  get_target_property(folder ${lib} EXPORT_NAME)
  string(PREPEND MINICOPE_PC_LIBS "-lminicope_${folder} ")
endforeach()
set(MINICOPE_PC_REQUIRES "openblas tbb nlohmann_json sentencepiece")
if(MINICOPE_WITH_MPI)
  string(APPEND MINICOPE_PC_REQUIRES " mpi-cxx")  # dist was built with MPI
endif()
# The prefix relative to the file itself (pkg-config's ${pcfiledir}), so that an install
# with `cmake --install --prefix P` (or a .deb) finds P, not the configured prefix.
set(MINICOPE_PC_PREFIX "\${pcfiledir}")
string(REPLACE "/" ";" pc_dirs "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
foreach(unused IN LISTS pc_dirs)
  string(APPEND MINICOPE_PC_PREFIX "/..")
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/cmake/minicope.pc.in ${CMAKE_BINARY_DIR}/minicope.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/minicope.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The .deb: `cpack -G DEB` in a build configured with -DMINICOPE_ARCH=x86-64-v2 (a
# package for other machines must not be built for this one's processor).
set(CPACK_PACKAGE_NAME minicope)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "tensors, reverse-mode autograd and a CoPE transformer (library, headers, CMake package, program)")
set(CPACK_PACKAGE_CONTACT "minicope engineers <minicope@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The program's shared libraries (dpkg-shlibdeps), and what a user's build links against.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(deb_depends "libopenblas-dev, libtbb-dev, nlohmann-json3-dev, libsentencepiece-dev")
if(MINICOPE_WITH_MPI)
  string(APPEND deb_depends ", libopenmpi-dev")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS ${deb_depends})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
