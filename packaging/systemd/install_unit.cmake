# install_unit.cmake - run at install time (install(CODE) in
# CMakeLists.txt): writes ferryd@.service for the prefix being installed
# to and installs it. The unit names absolute paths (ferryd, the config),
# so configuring it once for CMAKE_INSTALL_PREFIX would give
# `cmake --install --prefix P` and CPack's package (prefix /usr) the
# configured prefix's paths instead of their own.
#
# In: FERRY_UNIT_TEMPLATE, FERRY_UNIT_WORK (a directory of the build),
# FERRY_UNIT_DIR (relative to the prefix, or absolute), FERRY_BINDIR and
# FERRY_SYSCONFDIR_REL (CMAKE_INSTALL_BINDIR and _SYSCONFDIR as configured).

# GNUInstallDirs' rule for the absolute directories, applied to the
# install-time prefix: prefix / and /usr keep their configuration in /etc,
# /opt/<pkg> in /etc/opt/<pkg>, any other prefix in <prefix>/etc.
set(_prefix "${CMAKE_INSTALL_PREFIX}")
if(IS_ABSOLUTE "${FERRY_BINDIR}")
  set(CMAKE_INSTALL_FULL_BINDIR "${FERRY_BINDIR}")
elseif(_prefix STREQUAL "/")
  set(CMAKE_INSTALL_FULL_BINDIR "/usr/${FERRY_BINDIR}")
else()
  string(REGEX REPLACE "/$" "" _p "${_prefix}")
  set(CMAKE_INSTALL_FULL_BINDIR "${_p}/${FERRY_BINDIR}")
endif()
if(IS_ABSOLUTE "${FERRY_SYSCONFDIR_REL}")
  set(FERRY_SYSCONFDIR "${FERRY_SYSCONFDIR_REL}")
elseif(_prefix MATCHES "^/(usr/?)?$")
  set(FERRY_SYSCONFDIR "/${FERRY_SYSCONFDIR_REL}")
elseif(_prefix MATCHES "^/opt/" AND NOT _prefix MATCHES "^/opt/homebrew/")
  set(FERRY_SYSCONFDIR "/${FERRY_SYSCONFDIR_REL}${_prefix}")
else()
  string(REGEX REPLACE "/$" "" _p "${_prefix}")
  set(FERRY_SYSCONFDIR "${_p}/${FERRY_SYSCONFDIR_REL}")
endif()

# One file per prefix (and DESTDIR), so two installs from one build at
# once do not write each other's unit.
string(MD5 _key "$ENV{DESTDIR}|${_prefix}")
set(_unit "${FERRY_UNIT_WORK}/${_key}/ferryd@.service")
configure_file("${FERRY_UNIT_TEMPLATE}" "${_unit}" @ONLY)

if(IS_ABSOLUTE "${FERRY_UNIT_DIR}")
  set(_dest "${FERRY_UNIT_DIR}")
else()
  set(_dest "${_prefix}/${FERRY_UNIT_DIR}")
endif()
# What install(FILES) would run: honours DESTDIR and records the file in
# install_manifest.txt (and in CPack's package).
file(INSTALL DESTINATION "${_dest}" TYPE FILE FILES "${_unit}")
# This runs in cmake_install.cmake's scope (not a function: file(INSTALL)
# records into that scope's manifest), so nothing of it stays.
unset(CMAKE_INSTALL_FULL_BINDIR)
unset(FERRY_SYSCONFDIR)
unset(_prefix)
unset(_p)
unset(_key)
unset(_unit)
unset(_dest)
