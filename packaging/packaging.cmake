# Packaging (issue 7): what the .deb installs beside the executables, and
# CPack's Debian package. Included from the top-level CMakeLists.txt after
# every target exists. `cpack -G DEB` in a build folder makes
# quantlens_<version>_<arch>.deb; the README says how to install it.
#
# Installed layout (prefix /usr):
#   bin/quantlens, bin/quantlens-cli                (their own install rules)
#   share/quantlens/demo-model/                     the demo checkpoint (found beside the executable)
#   share/quantlens/resources/images/               the demo pictures (compare's built-in prompts)
#   share/quantlens/tokenizer.json                  the Qwen tokenizer, when .deps/ has it
#   share/applications/<id>.desktop, share/metainfo/<id>.metainfo.xml,
#   share/icons/hicolor/scalable/apps/<id>.svg
include(GNUInstallDirs)
set(QL_APP_ID "io.github.quantlens.QuantLens")
set(QL_SHARE_DIR "${CMAKE_INSTALL_DATADIR}/quantlens")

install(DIRECTORY "${CMAKE_SOURCE_DIR}/resources/demo-model/" DESTINATION "${QL_SHARE_DIR}/demo-model")
install(DIRECTORY "${CMAKE_SOURCE_DIR}/resources/images/" DESTINATION "${QL_SHARE_DIR}/resources/images")
# The tokenizer is a download (scripts/install-deps.sh), not part of the
# source tree: packaged when present. The app points QUANTLENS_TOKENIZER at
# the installed copy (app/gui/main.cpp).
if(EXISTS "${QL_DEFAULT_TOKENIZER}")
  install(FILES "${QL_DEFAULT_TOKENIZER}" DESTINATION "${QL_SHARE_DIR}" RENAME tokenizer.json)
else()
  message(WARNING "packaging: no tokenizer at ${QL_DEFAULT_TOKENIZER}; the package will lack one "
                  "(models without tokenizer.json then cannot chat). Run scripts/install-deps.sh.")
endif()
if(QL_QT AND QL_BUILD_UI)
  install(FILES "${CMAKE_SOURCE_DIR}/packaging/${QL_APP_ID}.desktop" DESTINATION "${CMAKE_INSTALL_DATADIR}/applications")
  install(FILES "${CMAKE_SOURCE_DIR}/packaging/${QL_APP_ID}.metainfo.xml" DESTINATION "${CMAKE_INSTALL_DATADIR}/metainfo")
  install(FILES "${CMAKE_SOURCE_DIR}/packaging/quantlens.svg"
          DESTINATION "${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps" RENAME "${QL_APP_ID}.svg")
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "quantlens")
set(CPACK_PACKAGE_VENDOR "QuantLens")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Chat about pictures with Qwen3-VL-30B-A3B, quantized while it loads")
set(CPACK_PACKAGE_DESCRIPTION
    "QuantLens runs Qwen3-VL-30B-A3B from its original Hugging Face checkpoint folder, quantized while it
loads (BF16, FP16, INT8, NF4 or a mix), and lets you chat with it about pictures: a Qt 6 desktop app
(quantlens) and its command-line twin (quantlens-cli). Includes a tiny demo model with random weights.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_PACKAGE_CONTACT "QuantLens developers <quantlens@users.noreply.github.com>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Shared-library dependencies (Qt, OpenBLAS, fmt, spdlog, PCRE2, utf8proc, ...)
# come from dpkg-shlibdeps; the plugins Qt loads at run time it cannot see:
# the window system (xcb/wayland), JPEG/WebP decoding, and SVG for the icon.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "qt6-qpa-plugins, qt6-image-formats-plugins, libqt6svg6")
include(CPack)
