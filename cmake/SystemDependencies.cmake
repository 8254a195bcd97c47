# Finds the system libraries of the core. Each one that is missing stops the
# configuration with the name of the Debian package that provides it.
find_package(PkgConfig QUIET)

function(dnsscience_missing what package)
  message(FATAL_ERROR
    "${what} was not found. Install it with: apt-get install ${package} "
    "(or run ./dev setup, which installs every system package the build needs).")
endfunction()

# c-ares: Debian 12 ships 1.18, Debian 13 ships 1.34. Both are supported.
if(PkgConfig_FOUND)
  pkg_check_modules(CARES QUIET IMPORTED_TARGET libcares)
endif()
if(NOT CARES_FOUND)
  dnsscience_missing("c-ares (libcares)" libc-ares-dev)
endif()

# libpqxx: Debian 12 ships 6.4, Debian 13 ships 7.10. Both are supported.
if(PkgConfig_FOUND)
  pkg_check_modules(PQXX QUIET IMPORTED_TARGET libpqxx)
endif()
if(NOT PQXX_FOUND)
  dnsscience_missing("libpqxx" libpqxx-dev)
endif()

find_package(OpenSSL 1.1.1 QUIET)
if(NOT OpenSSL_FOUND)
  dnsscience_missing("OpenSSL" libssl-dev)
endif()

find_package(nlohmann_json 3.9 QUIET)
if(NOT nlohmann_json_FOUND)
  dnsscience_missing("nlohmann_json" nlohmann-json3-dev)
endif()

if(PkgConfig_FOUND)
  pkg_check_modules(IDN2 QUIET IMPORTED_TARGET libidn2)
endif()
if(NOT IDN2_FOUND)
  dnsscience_missing("libidn2" libidn2-dev)
endif()

find_package(Threads REQUIRED)

if(DNSSCIENCE_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    dnsscience_missing("GoogleTest" libgtest-dev)
  endif()
endif()
