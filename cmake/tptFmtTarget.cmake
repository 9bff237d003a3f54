# Which fmt target goes with the LibTorch that find_package(Torch) found: decided where tpt is
# built (tptDependencies.cmake) and again where an installed tpt is used (tptConfig.cmake), since
# the LibTorch there may not be the one tpt was installed with.
#
# A pip-installed LibTorch 2.x ships its own fmt headers inside its include folder, and they come
# first on the include path. Linking the system's libfmt then mixes two fmt versions (undefined
# fmt::v12 symbols against libfmt.so.9); fmt header-only takes declarations and definitions from
# the same headers. Debian's LibTorch (prefix /usr) has no copy of its own.
function(tpt_fmt_target out)
  set(target fmt::fmt)
  if(DEFINED TORCH_INSTALL_PREFIX AND NOT TORCH_INSTALL_PREFIX STREQUAL "/usr"
     AND EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/core.h")
    set(target fmt::fmt-header-only)
  endif()
  set(${out} ${target} PARENT_SCOPE)
endfunction()
