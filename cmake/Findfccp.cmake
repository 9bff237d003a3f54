# Findfccp: Debian's libfccp-dev, the header-only "Fast C++ CSV Parser" (csv.h).
# Defines fccp::fccp. Ships with tpt because fccp has no CMake package of its own.
find_path(FCCP_INCLUDE_DIR NAMES csv.h PATH_SUFFIXES libfccp fccp)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(fccp REQUIRED_VARS FCCP_INCLUDE_DIR)
if(fccp_FOUND AND NOT TARGET fccp::fccp)
  add_library(fccp::fccp INTERFACE IMPORTED)
  set_target_properties(fccp::fccp PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${FCCP_INCLUDE_DIR}")
  find_package(Threads REQUIRED)   # fccp reads ahead on a worker thread
  set_property(TARGET fccp::fccp PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
mark_as_advanced(FCCP_INCLUDE_DIR)
