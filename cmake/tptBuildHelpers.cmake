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
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(TPT_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# One precompiled header holding LibTorch and the other heavy third-party headers, built once and
# reused by every target (REUSE_FROM): parsing <torch/torch.h> is most of a file's compile time.
function(tpt_setup_pch)
  if(NOT TPT_USE_PCH)
    return()
  endif()
  set(src "${PROJECT_BINARY_DIR}/tpt_pch.cpp")
  if(NOT EXISTS "${src}")
    file(WRITE "${src}" "// anchor for tpt's shared precompiled header\n")
  endif()
  add_library(tpt_pch OBJECT "${src}")
  target_link_libraries(tpt_pch PRIVATE tpt::tpt)
  tpt_add_warnings(tpt_pch)
  target_precompile_headers(tpt_pch PRIVATE
    <torch/torch.h>
    <fmt/format.h>
    <fmt/ranges.h>
    <range/v3/all.hpp>
    <nlohmann/json.hpp>
    <filesystem>
    <vector>
    <string>
    <map>
    <random>)
endfunction()

# Give a target tpt, warnings and the shared precompiled header.
function(tpt_configure_target target)
  target_link_libraries(${target} PRIVATE tpt::tpt)
  tpt_add_warnings(${target})
  if(TPT_USE_PCH AND TARGET tpt_pch)
    target_precompile_headers(${target} REUSE_FROM tpt_pch)
  endif()
endfunction()
