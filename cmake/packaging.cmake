# Install layout and the Debian package (CPack's DEB generator).
#
#   cmake -S . -B build-pkg -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
#     -DSWITCHYARD_TESTS=OFF
#   cmake --build build-pkg --target switchyard
#   (cd build-pkg && cpack)              # switchyard_<version>_<arch>.deb
#   DESTDIR=/tmp/root cmake --install build-pkg     # or just the tree
#
# With the prefix /usr the files land where Debian expects them: /usr/bin/switchyard,
# /usr/lib/systemd/system/switchyard.service, /etc/switchyard/switchyard.yaml (a conffile),
# /usr/share/switchyard/{dashboards,prometheus,alertmanager} and /usr/share/doc/switchyard.
# Another prefix moves all of them but the unit keeps naming the installed binary and config.
include(GNUInstallDirs)

set(SWITCHYARD_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING
  "Where the systemd unit is installed (relative to the prefix unless absolute)")
set(SWITCHYARD_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/switchyard")

install(TARGETS switchyard RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The unit in deploy/systemd names /usr/bin and /etc/switchyard; other prefixes get a copy that
# names where this install puts them.
file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/switchyard.service SWITCHYARD_UNIT)
string(REPLACE "/usr/bin/switchyard" "${CMAKE_INSTALL_FULL_BINDIR}/switchyard" SWITCHYARD_UNIT
  "${SWITCHYARD_UNIT}")
string(REPLACE "/etc/switchyard" "${SWITCHYARD_CONFIG_DIR}" SWITCHYARD_UNIT "${SWITCHYARD_UNIT}")
string(REPLACE "/usr/share/doc/switchyard" "${CMAKE_INSTALL_FULL_DOCDIR}" SWITCHYARD_UNIT
  "${SWITCHYARD_UNIT}")
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/packaging/switchyard.service CONTENT "${SWITCHYARD_UNIT}"
  @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/deploy/systemd/switchyard.service ${CMAKE_SOURCE_DIR}/deploy/debian/changelog)
install(FILES ${CMAKE_BINARY_DIR}/packaging/switchyard.service
  DESTINATION ${SWITCHYARD_SYSTEMD_UNIT_DIR})

install(FILES ${CMAKE_SOURCE_DIR}/deploy/switchyard.yaml DESTINATION ${SWITCHYARD_CONFIG_DIR})

set(SWITCHYARD_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/switchyard)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/dashboards/ DESTINATION ${SWITCHYARD_SHARE_DIR}/dashboards
  FILES_MATCHING PATTERN "*.json")
install(FILES
  ${CMAKE_SOURCE_DIR}/deploy/prometheus/switchyard-rules.yml
  ${CMAKE_SOURCE_DIR}/deploy/prometheus/switchyard-rules.test.yml
  ${CMAKE_SOURCE_DIR}/deploy/prometheus/prometheus.example.yml
  DESTINATION ${SWITCHYARD_SHARE_DIR}/prometheus)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/alertmanager/alertmanager.example.yml
  DESTINATION ${SWITCHYARD_SHARE_DIR}/alertmanager)

# Debian compresses the changelog; -n keeps the file the same from one build to the next.
set(SWITCHYARD_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
execute_process(COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/deploy/debian/changelog
  OUTPUT_FILE ${SWITCHYARD_CHANGELOG_GZ} RESULT_VARIABLE gzip_result)
if(NOT gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip of deploy/debian/changelog failed")
endif()
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/deploy/debian/copyright
  ${SWITCHYARD_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/config/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
  RENAME config.md)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
  RENAME deploy.md)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/prometheus/RUNBOOK.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
  RENAME runbook.md)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME switchyard)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Switchyard maintainers <switchyard@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "observability sidecar and circuit-breaking reverse proxy")
# CPack puts the summary first and indents these lines itself; an empty line separates paragraphs.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"Switchyard runs beside an HTTP service, in front of a legacy API and its
replacement, and passes every request through a chain of filters:
correlation ids, rate limits, a shared response cache, deprecation headers,
retries with jitter and circuit breaking. It routes each request to the
right version, exports Prometheus metrics and traces, and rolls a migration
back by itself when an alert says the new version is failing.

This package holds the proxy, a hardened systemd unit (not enabled on
install), an example configuration in /etc/switchyard, the Grafana dashboard
and the Prometheus alert rules.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# dpkg keeps an administrator's edits of /etc files it knows as conffiles across upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${SWITCHYARD_CONFIG_DIR}/switchyard.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/conffiles)
include(CPack)
