# cmake -DTPT_SOURCE_DIR=... -DWORK=... -P fmt_target.cmake
# The fmt target follows the LibTorch found where tpt is used: Debian's (prefix /usr) links the
# system libfmt, one with its own fmt headers (a pip wheel's) takes fmt header-only.
include("${TPT_SOURCE_DIR}/cmake/tptFmtTarget.cmake")
set(TORCH_INSTALL_PREFIX "/usr")
tpt_fmt_target(debian)
file(MAKE_DIRECTORY "${WORK}/wheel/include/fmt")
file(WRITE "${WORK}/wheel/include/fmt/core.h" "// a LibTorch wheel's own fmt\n")
set(TORCH_INSTALL_PREFIX "${WORK}/wheel")
tpt_fmt_target(wheel)
file(REMOVE_RECURSE "${WORK}/wheel")
set(TORCH_INSTALL_PREFIX "${WORK}/wheel")
tpt_fmt_target(other)
message(STATUS "fmt targets: /usr ${debian}, wheel ${wheel}, prefix without fmt ${other}")
if(NOT debian STREQUAL "fmt::fmt" OR NOT wheel STREQUAL "fmt::fmt-header-only" OR NOT other STREQUAL "fmt::fmt")
  message(FATAL_ERROR "wrong fmt target")
endif()
# The installed config decides at the consumer's (the exported target carries no fmt link).
file(READ "${PREFIX_TARGETS}" targets)
if(targets MATCHES "fmt::")
  message(FATAL_ERROR "${PREFIX_TARGETS} links an fmt target fixed at install time")
endif()
message(STATUS "fmt target ok")
