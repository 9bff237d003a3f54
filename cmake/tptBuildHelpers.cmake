# Build helpers for tpt's own targets (tests, examples, benchmarks). Not installed.

# ccache: most rebuilds on a 2-core machine are of unchanged torch-heavy files. GCC's PCH and
# ccache only get along with these sloppiness settings.
if(TPT_USE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(TPT_CCACHE ccache)
  if(TPT_CCACHE)
    set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${TPT_CCACHE})
  endif()
endif()

# Warnings for tpt's own targets only; the INTERFACE target never pushes flags onto users.
function(tpt_add_warnings target)
  # -Wno-stringop-truncation: fccp's bounded strncpy of file names, reported inside our inlined
  # callers. tpt/io/csv.hpp silences it with a pragma, which GCC ignores once the header comes
  # from a precompiled header.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-stringop-truncation)
  if(TPT_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Precompiled headers, each built once and reused (REUSE_FROM) by many targets. Parsing is most
# of a file's compile time here: <torch/torch.h> takes 15-25 s, and tpt's own headers (simdjson's
# 1.8 MB single header among them) another 25 s. Three of them:
#   tpt_pch        third-party headers only: for the header self-containment check, which must
#                  still parse every tpt header on its own;
#   tpt_pch_full   the same plus <tpt/tpt.hpp>: for examples and benchmarks;
#   tpt_pch_tests  the same plus Catch2: for the test suites (made in tests/CMakeLists.txt).
set(TPT_PCH_THIRD_PARTY
  <torch/torch.h>
  <fmt/format.h>
  <fmt/ranges.h>
  <range/v3/all.hpp>
  <nlohmann/json.hpp>
  <simdjson.h>
  <csv.h>
  <turbojpeg.h>
  <png.h>
  <filesystem>
  <vector>
  <string>
  <map>
  <random>)

# tpt_add_pch(<name> [headers...]): an object library whose precompiled header holds the
# third-party headers and the given ones.
function(tpt_add_pch name)
  if(NOT TPT_USE_PCH)
    return()
  endif()
  set(src "${PROJECT_BINARY_DIR}/${name}.cpp")
  if(NOT EXISTS "${src}")
    file(WRITE "${src}" "// anchor for the precompiled header ${name}\n")
  endif()
  add_library(${name} OBJECT "${src}")
  target_link_libraries(${name} PRIVATE tpt::tpt)
  tpt_add_warnings(${name})
  target_precompile_headers(${name} PRIVATE ${TPT_PCH_THIRD_PARTY} ${ARGN})
endfunction()

function(tpt_setup_pch)
  tpt_add_pch(tpt_pch)
  tpt_add_pch(tpt_pch_full <tpt/tpt.hpp>)
endfunction()

# tpt_configure_target(<target> [PCH <name>|NONE]): tpt, warnings and a shared precompiled
# header (tpt_pch_full unless named). NONE is for sources that never include LibTorch: loading
# a PCH that holds <torch/torch.h> costs them about 10 s each, more than parsing what they use.
function(tpt_configure_target target)
  cmake_parse_arguments(arg "" "PCH" "" ${ARGN})
  if(NOT arg_PCH)
    set(arg_PCH tpt_pch_full)
  endif()
  target_link_libraries(${target} PRIVATE tpt::tpt)
  tpt_add_warnings(${target})
  if(TPT_USE_PCH AND NOT arg_PCH STREQUAL "NONE" AND TARGET ${arg_PCH})
    target_precompile_headers(${target} REUSE_FROM ${arg_PCH})
  endif()
endfunction()

# tpt_add_program(<name> [NO_PCH] <sources>...): an executable configured as above (the example
# programs and the benchmarks). NO_PCH for programs whose sources never include LibTorch.
function(tpt_add_program name)
  cmake_parse_arguments(arg "NO_PCH" "" "" ${ARGN})
  add_executable(${name} ${arg_UNPARSED_ARGUMENTS})
  if(arg_NO_PCH)
    tpt_configure_target(${name} PCH NONE)
  else()
    tpt_configure_target(${name})
  endif()
endfunction()
